"""Ingest: native callback → verified events → stored notifications + deliveries → queue.

Nothing is acknowledged before it is committed, and nothing committed depends on the
queue: if the enqueue fails, the outbox sweep finds the delivery later.
"""

from __future__ import annotations

import logging

import msgspec

from notigate.errors import PlatformInputError
from notigate.events import Event, Notification
from notigate.gateway import Gateway
from notigate.ids import new_id
from notigate.masking import mask_metadata
from notigate.platform import CallbackAnswer, CallbackRequest, CallbackResult, Platform, json_answer
from notigate.repository import utcnow
from notigate.routing import Route

log = logging.getLogger(__name__)


def _clip(value: str | None, size: int) -> str | None:
    return value[:size] if value is not None else None


def normalize(event: Event) -> Notification:
    """The stored form of an event: an id, the time of acceptance, masked metadata.

    Free-text identifiers are clipped to their column sizes (tables.py): an authentic
    callback with an over-long reference is stored, not refused by the database forever.
    """
    return Notification(
        id=new_id("ntf"), platform=event.platform, code=event.code, severity=event.resolved_severity(),
        message=event.message, platform_code=_clip(event.platform_code, 128) or "", occurred_at=event.occurred_at,
        received_at=utcnow(), amount=event.amount, currency=_clip(event.currency, 3), reference=_clip(event.reference, 128),
        merchant_id=_clip(event.merchant_id, 128), metadata=mask_metadata(event.metadata),
    )


async def accept_event(gw: Gateway, event: Event) -> tuple[str, bool]:
    """Store one event with its routes and enqueue its deliveries; return (id, created)."""
    notification = normalize(event)
    routes: list[Route] = []
    gw.route_event(notification=notification, routes=routes)
    notification = msgspec.structs.replace(notification, status="delivering" if routes else "no_route")
    matched = list(dict.fromkeys(r.rule for r in routes))
    notification_id, delivery_ids, created = await gw.repo.store_event(event, notification, routes, matched)
    if delivery_ids:
        try:
            await gw.queue.enqueue_new(delivery_ids)
        except Exception as exc:  # committed already: the sweep will enqueue them
            log.warning("enqueue of %s failed (%s); the outbox sweep will retry", delivery_ids, type(exc).__name__)
    return notification_id, created


def platform_answer(platform: Platform, result: CallbackResult, request: CallbackRequest) -> CallbackAnswer:
    """The platform's answer; a plugin whose ``answer`` raises still yields an HTTP answer."""
    try:
        return platform.answer(result, request)
    except Exception:
        log.exception("%s plugin failed to shape its answer", platform.name)
        return json_answer(result)


async def handle_callback(gw: Gateway, platform: Platform, request: CallbackRequest) -> tuple[CallbackAnswer, list[str]]:
    """Run one callback through the platform plugin and the engine; shape the platform's answer."""
    try:
        events = await platform.parse(request)
    except PlatformInputError as exc:
        log.info("%s callback rejected (%s): %s", platform.name, exc.status_code, exc.detail)
        return platform_answer(platform, CallbackResult(status_code=exc.status_code, detail=exc.detail), request), []
    except Exception:
        log.exception("%s plugin failed to parse a callback", platform.name)
        return platform_answer(platform, CallbackResult(status_code=500, detail="internal error; the gateway logged it"),
                               request), []
    ids: list[str] = []
    duplicates = 0
    try:
        for event in events:
            notification_id, created = await accept_event(gw, event)
            ids.append(notification_id)
            duplicates += not created
    except Exception as exc:
        log.error("%s callback could not be stored: %s: %s", platform.name, type(exc).__name__, exc)
        result = CallbackResult(status_code=503, detail="the gateway could not store the notification; retry later")
        return platform_answer(platform, result, request), []
    detail = "accepted" if not duplicates else f"accepted ({duplicates} already known)"
    return platform_answer(platform, CallbackResult(status_code=200, detail=detail, notification_ids=ids,
                                          duplicates=duplicates), request), ids
