"""Deliveries: one delivery with its attempts, and re-driving dead letters (like Svix's recover)."""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec
from litestar import Controller, get, post
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath, JSONBody

from notigate.api.auth import SECURITY, require_api_key
from notigate.api.deps import GatewayDep
from notigate.events import UtcDatetime, utc
from notigate.queue import enqueue_due
from notigate.repository import DeliveryView


class Attempt(msgspec.Struct, frozen=True, kw_only=True):
    number: int
    outcome: str
    status_code: int | None
    error: str | None
    started_at: Any
    duration_ms: float


class DeliveryDetail(msgspec.Struct, frozen=True, kw_only=True):
    """A delivery, the message it rendered (``captured``) and every attempt."""

    delivery: DeliveryView
    attempts: list[Attempt]


Name = Annotated[str, msgspec.Meta(min_length=1, max_length=320, pattern=r"^[^\x00]*$")]
ID = re.compile(r"dlv_[0-9A-Z]{26}")


class RetryFilter(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Which failed deliveries to re-drive; every field present must match."""

    channel: Name | None = None
    recipient: Name | None = None
    since: UtcDatetime | None = None
    until: UtcDatetime | None = None


class Redriven(msgspec.Struct, frozen=True):
    ids: list[str]
    count: int


class DeliveriesController(Controller):
    path = "/api/v1/deliveries"
    tags = ["deliveries"]
    guards = [require_api_key]
    security = SECURITY

    @get("/{delivery_id:str}", summary="One delivery with its rendered message and attempts")
    async def get_delivery(self, gateway: GatewayDep, delivery_id: FromPath[str]) -> DeliveryDetail:
        delivery = await gateway.repo.delivery(delivery_id) if ID.fullmatch(delivery_id) else None
        if delivery is None:
            raise NotFoundException(f"no delivery {delivery_id!r}")
        rows = await gateway.repo.attempts_of(delivery_id)
        return DeliveryDetail(delivery=delivery, attempts=[msgspec.convert(
            {k: r[k] for k in ("number", "outcome", "status_code", "error", "started_at", "duration_ms")}, Attempt)
            for r in rows])

    @post("/{delivery_id:str}/retry", status_code=202, opt={"scope": "admin"},
          summary="Re-drive one failed delivery with a fresh attempt budget")
    async def retry_one(self, gateway: GatewayDep, delivery_id: FromPath[str]) -> Redriven:
        delivery = await gateway.repo.delivery(delivery_id) if ID.fullmatch(delivery_id) else None
        if delivery is None:
            raise NotFoundException(f"no delivery {delivery_id!r}")
        if delivery.status != "failed":
            raise ValidationException(f"delivery {delivery_id} is {delivery.status}; only failed deliveries are re-driven")
        return await _redrive(gateway, await gateway.repo.replay(delivery_id=delivery_id))

    @post("/retry", status_code=202, opt={"scope": "admin"},
          summary="Re-drive every failed delivery matching the filters")
    async def retry_many(self, gateway: GatewayDep, data: JSONBody[RetryFilter]) -> Redriven:
        try:
            since, until = utc(data.since, "since"), utc(data.until, "until")
        except ValueError as exc:
            raise ValidationException(str(exc)) from None
        return await _redrive(gateway, await gateway.repo.replay(channel=data.channel, recipient=data.recipient,
                                                                 since=since, until=until))


async def _redrive(gateway: Any, replayed: list[tuple[str, int]]) -> Redriven:
    await enqueue_due(gateway.queue, replayed)
    return Redriven(ids=[d for d, _ in replayed], count=len(replayed))
