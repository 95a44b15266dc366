"""Silences: mute matching routes for a while (Alertmanager's silences, kept small).

A muted route is still stored, as a ``cancelled`` delivery whose note names the silence,
so an operator can always see what was not sent and why.
"""

from __future__ import annotations

import re
from datetime import datetime

import msgspec
from litestar import Controller, delete, get, post
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath, FromQuery, JSONBody

from notigate.api.auth import SECURITY, require_api_key
from notigate.api.deps import GatewayDep
from notigate.clock import utcnow
from notigate.routing.silences import Silence, SilenceIn

ID = re.compile(r"sil_[0-9A-Z]{26}")


class SilenceOut(Silence, frozen=True, kw_only=True):
    state: str
    """pending, active or expired, as of the answer."""


def _out(s: Silence, now: datetime) -> SilenceOut:
    return SilenceOut(**msgspec.structs.asdict(s), state=s.state_at(now))


class SilencesController(Controller):
    path = "/api/v1/silences"
    tags = ["silences"]
    guards = [require_api_key]
    security = SECURITY

    @post("/", status_code=201, opt={"scope": "admin"}, summary="Mute matching routes from starts_at to ends_at")
    async def create_silence(self, gateway: GatewayDep, data: JSONBody[SilenceIn]) -> SilenceOut:
        now = utcnow()
        if data.ends_at <= max(now, data.starts_at or now):
            raise ValidationException("ends_at: must be in the future and later than starts_at")
        return _out(await gateway.silences.create(data), utcnow())

    @get("/", summary="Silences not yet ended (all=true: expired ones too)")
    async def list_silences(self, gateway: GatewayDep, all: FromQuery[bool] = False) -> list[SilenceOut]:
        now = utcnow()
        return [_out(s, now) for s in await gateway.silences.list(include_expired=all)]

    @delete(
        "/{silence_id:str}",
        status_code=200,
        opt={"scope": "admin"},
        summary="Expire a silence now (it stays listed with all=true)",
    )
    async def expire_silence(self, gateway: GatewayDep, silence_id: FromPath[str]) -> SilenceOut:
        silence = await gateway.silences.expire(silence_id) if ID.fullmatch(silence_id) else None
        if silence is None:
            raise NotFoundException(f"no silence {silence_id!r}")
        return _out(silence, utcnow())
