"""Silences: mute matching routes for a while (Alertmanager's silences, kept small).

A muted route is still stored, as a ``cancelled`` delivery whose note names the silence,
so an operator can always see what was not sent and why.
"""

from __future__ import annotations

import re

import msgspec
from litestar import Controller, delete, get, post
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath, JSONBody

from notigate.api.auth import SECURITY, require_api_key
from notigate.api.deps import GatewayDep
from notigate.clock import utcnow
from notigate.silences import Matcher, Silence, SilenceIn

ID = re.compile(r"sil_[0-9A-Z]{26}")


class SilenceOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    state: str
    matchers: list[Matcher]
    starts_at: str
    ends_at: str
    created_by: str
    comment: str
    created_at: str


def _out(s: Silence) -> SilenceOut:
    return SilenceOut(id=s.id, state=s.state(utcnow()), matchers=s.matchers, starts_at=s.starts_at.isoformat(),
                      ends_at=s.ends_at.isoformat(), created_by=s.created_by, comment=s.comment,
                      created_at=s.created_at.isoformat())


class SilencesController(Controller):
    path = "/api/v1/silences"
    tags = ["silences"]
    guards = [require_api_key]
    security = SECURITY

    @post("/", status_code=201, opt={"scope": "admin"}, summary="Mute matching routes from starts_at to ends_at")
    async def create_silence(self, gateway: GatewayDep, data: JSONBody[SilenceIn]) -> SilenceOut:
        starts = data.starts_at or utcnow()
        if data.ends_at <= starts:
            raise ValidationException("ends_at: must be later than starts_at (or now)")
        if data.ends_at <= utcnow():
            raise ValidationException("ends_at: must be in the future")
        return _out(await gateway.silences.create(data))

    @get("/", summary="Silences not yet ended (all=true: expired ones too)")
    async def list_silences(self, gateway: GatewayDep, all: bool = False) -> list[SilenceOut]:
        return [_out(s) for s in await gateway.silences.list(include_expired=all)]

    @delete("/{silence_id:str}", status_code=200, opt={"scope": "admin"},
            summary="Expire a silence now (it stays listed with all=true)")
    async def expire_silence(self, gateway: GatewayDep, silence_id: FromPath[str]) -> SilenceOut:
        silence = await gateway.silences.expire(silence_id) if ID.fullmatch(silence_id) else None
        if silence is None:
            raise NotFoundException(f"no silence {silence_id!r}")
        return _out(silence)
