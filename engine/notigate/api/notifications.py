"""``GET /api/v1/notifications`` and ``GET /api/v1/notifications/{id}``."""

from __future__ import annotations

import re
from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath, FromQuery, QueryParameter

from notigate.api.auth import SECURITY, require_api_key
from notigate.api.deps import GatewayDep
from notigate.events import Notification, NotificationStatus, Severity, UtcDatetime, utc
from notigate.masking import mask_text
from notigate.storage.repository import DeliveryView

ID = re.compile(r"ntf_[0-9A-Z]{26}")


class NotificationDetail(msgspec.Struct, frozen=True, kw_only=True):
    """A notification with its deliveries (its own, and the digests it was folded into).

    ``matched_rules`` names the rules (or plugins) that routed it; ``routing`` says in
    words why it went where it did, or why nowhere (``no_route``).
    """

    notification: Notification
    deliveries: list[DeliveryView]
    matched_rules: list[str]
    routing: str


class NotificationPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page, newest first; pass ``next_cursor`` as ``cursor`` for the next page."""

    items: list[Notification]
    next_cursor: str | None


class NotificationsController(Controller):
    path = "/api/v1/notifications"
    tags = ["notifications"]
    guards = [require_api_key]
    security = SECURITY

    @get("/", summary="List notifications, newest first")
    async def list_notifications(
        self,
        gateway: GatewayDep,
        platform: FromQuery[str | None] = None,
        code: FromQuery[str | None] = None,
        severity: FromQuery[Severity | None] = None,
        status: FromQuery[NotificationStatus | None] = None,
        since: Annotated[
            UtcDatetime | None, QueryParameter(description="received at or after (RFC 3339, with offset)")
        ] = None,
        until: Annotated[
            UtcDatetime | None, QueryParameter(description="received before (RFC 3339, with offset)")
        ] = None,
        reference: Annotated[
            str | None,
            QueryParameter(
                min_length=1,
                max_length=128,
                pattern=r"^[^\x00]*$",
                description="the merchant's order, invoice or bill number, exactly",
            ),
        ] = None,
        cursor: Annotated[str | None, QueryParameter(pattern=f"^{ID.pattern}$")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
    ) -> NotificationPage:
        for name, value in (("platform", platform), ("code", code)):
            if value is not None and ("\x00" in value or len(value) > 64):
                raise ValidationException(f"{name}: must be at most 64 characters, without NUL")
        try:
            since, until = utc(since, "since"), utc(until, "until")
        except ValueError as exc:
            raise ValidationException(str(exc)) from None
        items = await gateway.repo.list_notifications(
            limit=limit + 1,
            before=cursor,
            platform=platform.lower() if platform else None,
            code=code,
            severity=severity,
            status=status,
            since=since,
            until=until,
            reference=mask_text(reference) if reference is not None else None,  # as it was stored
        )
        more = len(items) > limit
        items = items[:limit]
        return NotificationPage(items=items, next_cursor=items[-1].id if more else None)

    @get("/{notification_id:str}", summary="One notification with its deliveries")
    async def get_notification(self, gateway: GatewayDep, notification_id: FromPath[str]) -> NotificationDetail:
        found = await gateway.repo.notification_routed(notification_id) if ID.fullmatch(notification_id) else None
        if found is None:
            raise NotFoundException(f"no notification {notification_id!r}")
        notification, matched = found
        return NotificationDetail(
            notification=notification,
            deliveries=await gateway.repo.deliveries_of(notification_id),
            matched_rules=matched,
            routing=_routing(notification.status, matched),
        )


def _routing(status: str, matched: list[str]) -> str:
    names = ", ".join(repr(m) for m in matched)
    if status == "no_route":
        if not matched:
            return "no rule matched"
        return (
            f"rules {names} matched, but their webhook endpoints are disabled or unknown, "
            "or a routing plugin removed the routes"
        )
    return f"routed by {names}"
