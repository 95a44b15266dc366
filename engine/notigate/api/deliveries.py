"""Deliveries: listing them, one delivery with its attempts, and re-driving dead letters (like Svix's recover)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, get, post
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from notigate.api.auth import SECURITY, require_api_key
from notigate.api.deps import GatewayDep
from notigate.api.notifications import ID as NOTIFICATION_ID
from notigate.clock import utcnow
from notigate.delivery.queue import enqueue_due
from notigate.events import UtcDatetime, utc
from notigate.storage.repository import DeliveryView

DeliveryStatus = Literal["pending", "sending", "retrying", "delivered", "failed", "cancelled"]


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


class DeliveryPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page, newest first; pass ``next_cursor`` as ``cursor`` for the next page.

    Items leave ``captured`` out (null) so that a page stays light: a rendered email runs to
    kilobytes. ``GET /api/v1/deliveries/{id}`` shows it.
    """

    items: list[DeliveryView]
    next_cursor: str | None


class DeliveriesController(Controller):
    path = "/api/v1/deliveries"
    tags = ["deliveries"]
    guards = [require_api_key]
    security = SECURITY

    @get("/", summary="List deliveries, newest first")
    async def list_deliveries(
        self,
        gateway: GatewayDep,
        status: FromQuery[DeliveryStatus | None] = None,
        channel: Annotated[str | None, QueryParameter(min_length=1, max_length=64, pattern=r"^[^\x00]*$")] = None,
        recipient: Annotated[str | None, QueryParameter(min_length=1, max_length=320, pattern=r"^[^\x00]*$")] = None,
        notification_id: Annotated[
            str | None,
            QueryParameter(
                pattern=f"^{NOTIFICATION_ID.pattern}$", description="its own deliveries and the digests it joined"
            ),
        ] = None,
        since: Annotated[
            UtcDatetime | None, QueryParameter(description="created at or after (RFC 3339, with offset)")
        ] = None,
        until: Annotated[
            UtcDatetime | None, QueryParameter(description="created before (RFC 3339, with offset)")
        ] = None,
        overdue: Annotated[
            bool,
            QueryParameter(
                description="true: only those due but unsent (pending or retrying, next attempt at or before now)"
            ),
        ] = False,
        cursor: Annotated[str | None, QueryParameter(pattern=f"^{ID.pattern}$")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
    ) -> DeliveryPage:
        try:
            since, until = utc(since, "since"), utc(until, "until")
        except ValueError as exc:
            raise ValidationException(str(exc)) from None
        items = await gateway.repo.list_deliveries(
            limit=limit + 1,
            before=cursor,
            status=status,
            channel=channel,
            recipient=recipient,
            notification_id=notification_id,
            since=since,
            until=until,
            overdue_at=utcnow() if overdue else None,
        )
        more = len(items) > limit
        items = items[:limit]
        return DeliveryPage(items=items, next_cursor=items[-1].id if more else None)

    @get("/{delivery_id:str}", summary="One delivery with its rendered message and attempts")
    async def get_delivery(self, gateway: GatewayDep, delivery_id: FromPath[str]) -> DeliveryDetail:
        delivery = await gateway.repo.delivery(delivery_id) if ID.fullmatch(delivery_id) else None
        if delivery is None:
            raise NotFoundException(f"no delivery {delivery_id!r}")
        rows = await gateway.repo.attempts_of(delivery_id)
        return DeliveryDetail(
            delivery=delivery,
            attempts=[
                msgspec.convert(
                    {k: r[k] for k in ("number", "outcome", "status_code", "error", "started_at", "duration_ms")},
                    Attempt,
                )
                for r in rows
            ],
        )

    @post(
        "/{delivery_id:str}/retry",
        status_code=202,
        opt={"scope": "admin"},
        summary="Re-drive one failed delivery with a fresh attempt budget",
    )
    async def retry_one(self, gateway: GatewayDep, delivery_id: FromPath[str]) -> Redriven:
        delivery = await gateway.repo.delivery(delivery_id) if ID.fullmatch(delivery_id) else None
        if delivery is None:
            raise NotFoundException(f"no delivery {delivery_id!r}")
        if delivery.status != "failed":
            raise ValidationException(
                f"delivery {delivery_id} is {delivery.status}; only failed deliveries are re-driven"
            )
        return await _redrive(gateway, await gateway.repo.replay(delivery_id=delivery_id))

    @post(
        "/retry", status_code=202, opt={"scope": "admin"}, summary="Re-drive every failed delivery matching the filters"
    )
    async def retry_many(self, gateway: GatewayDep, data: JSONBody[RetryFilter]) -> Redriven:
        try:
            since, until = utc(data.since, "since"), utc(data.until, "until")
        except ValueError as exc:
            raise ValidationException(str(exc)) from None
        return await _redrive(
            gateway, await gateway.repo.replay(channel=data.channel, recipient=data.recipient, since=since, until=until)
        )


async def _redrive(gateway: Any, replayed: list[tuple[str, int]]) -> Redriven:
    await enqueue_due(gateway.queue, replayed)
    return Redriven(ids=[d for d, _ in replayed], count=len(replayed))
