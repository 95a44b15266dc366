"""Ingest: native callback → verified events → stored notifications + deliveries → queue.

Nothing is acknowledged before it is committed, and nothing committed depends on the
queue: if the enqueue fails, the outbox sweep finds the delivery later.
"""

from __future__ import annotations

import asyncio
import logging

import msgspec
from pluggy import HookCaller

from notigate import blips, logs
from notigate.clock import utcnow
from notigate.delivery.queue import Queue
from notigate.errors import IdempotencyConflict, PlatformInputError
from notigate.events import Event, Notification
from notigate.ids import new_id
from notigate.masking import mask_metadata, mask_text
from notigate.money import in_currency_decimals
from notigate.plugin.platform import (
    CallbackAnswer,
    CallbackRequest,
    CallbackResult,
    Platform,
    json_answer,
)
from notigate.plugin.route import Route
from notigate.routing.plan import Policies
from notigate.routing.rules import RuleEvaluator
from notigate.routing.silences import Silences
from notigate.storage.inhibitions import Inhibitions
from notigate.storage.repository import Repository, Stored
from notigate.storage.status import initial_status

log = logging.getLogger(__name__)


def _clip(value: str | None, size: int) -> str | None:
    """Fit a column, drop NUL (PostgreSQL text cannot hold it), mask what free text may carry."""
    return mask_text(value.replace("\x00", ""))[:size] if value is not None else None


def normalize(event: Event) -> Notification:
    """The stored form of an event: an id, the time of acceptance, masked metadata.

    Text is clipped to its column size (tables.py) and freed of NUL characters, so an
    authentic callback is stored rather than refused by the database on every retry; the
    message and identifiers are masked like metadata (platforms put card numbers anywhere).
    The amount gets its currency's ISO 4217 decimals, whatever form the platform sent.
    """
    currency = _clip(event.currency, 3)
    return Notification(
        id=new_id("ntf"),
        platform=event.platform,
        code=event.code,
        severity=event.resolved_severity(),
        message=_clip(event.message, 4000) or "",
        platform_code=_clip(event.platform_code, 128) or "",
        occurred_at=event.occurred_at,
        received_at=utcnow(),
        amount=in_currency_decimals(event.amount, currency),
        currency=currency,
        reference=_clip(event.reference, 128),
        merchant_id=_clip(event.merchant_id, 128),
        metadata=mask_metadata(event.metadata),
    )


def distinct(routes: list[Route]) -> list[Route]:
    """One route per (channel, recipient), the first kept: an event reaches each recipient once,
    however many rules, subscriptions and plugins name it (docs/rules.md says why every channel)."""
    seen: set[tuple[str, str]] = set()
    kept: list[Route] = []
    for r in routes:
        if (r.channel, r.recipient) not in seen:
            seen.add((r.channel, r.recipient))
            kept.append(r)
    return kept


def platform_answer(platform: Platform, result: CallbackResult, request: CallbackRequest) -> CallbackAnswer:
    """The platform's answer; a plugin whose ``answer`` raises still yields an HTTP answer."""
    try:
        return platform.answer(result, request)
    except Exception:
        log.exception("%s plugin failed to shape its answer", platform.name)
        return json_answer(result)


class Ingest:
    """Events in, notifications and their deliveries stored, the deliveries queued: built once by the
    gateway with what it uses; a reload hands in the new rules' policies with ``reconfigure``."""

    def __init__(
        self,
        *,
        repo: Repository,
        queue: Queue,
        route_event: HookCaller,
        evaluator: RuleEvaluator,
        silences: Silences,
        inhibitions: Inhibitions,
        policies: Policies,
    ) -> None:
        self.repo, self.queue, self.route_event, self.evaluator = repo, queue, route_event, evaluator
        self.silences, self.inhibitions = silences, inhibitions
        self.reconfigure(policies)

    def reconfigure(self, policies: Policies) -> None:
        """What a reload may change."""
        self.policies = policies

    def route(self, notification: Notification) -> list[Route]:
        """Every enabled routing implementation in pluggy's order, each isolated: a plugin
        that raises is logged and skipped, and the notification is still stored."""
        routes: list[Route] = []
        for impl in reversed(self.route_event.get_hookimpls()):
            trial = [msgspec.structs.replace(r) for r in routes]
            try:
                impl.function(notification=notification, routes=trial)
                routes = trial
            except Exception:
                log.exception(
                    "routing plugin %s failed on %s; its changes are skipped", impl.plugin_name, notification.id
                )
        return routes

    async def accept_event(self, event: Event, fingerprint: str | None = None) -> Stored:
        """Store one event with its routes and enqueue its deliveries; say what was stored (its id, whether
        it is new, its status).

        ``fingerprint`` identifies the request the event came from (the error API's): a repeat of
        the event's key with another fingerprint raises IdempotencyConflict instead of answering
        the first id. The database's unique key decides which of two concurrent requests came first.
        """
        notification = normalize(event)
        with logs.ingesting(notification.id):
            routes = self.route(notification)
            # A connection blip is retried: storing is keyed by the platform's own key, so a repeat stores nothing twice.
            stored = await blips.DATABASE(self._store, event, notification, routes, fingerprint)
            # one stored before fingerprints were (migration 6) has none: its repeats answer its id, as they did
            if not stored.created and fingerprint is not None and stored.fingerprint not in (None, fingerprint):
                raise IdempotencyConflict(stored.id)
            if stored.due or stored.later:
                try:  # bounded: a Redis that hangs must not hold the platform's callback
                    await asyncio.wait_for(self._enqueue(stored), 2)
                except Exception as exc:  # committed already: the sweep will enqueue them
                    log.warning("enqueue of %s failed (%s); the outbox sweep will retry", stored.id, type(exc).__name__)
            return stored

    async def _store(
        self, event: Event, notification: Notification, routes: list[Route], fingerprint: str | None
    ) -> Stored:
        """Decide what each route becomes (silences and inhibitions are read now) and store it all at once."""
        # who routed it, a rule whose routes were all duplicates included; for a notification left without
        # routes, the rules that matched anyway (their endpoints are disabled or a plugin dropped the routes),
        # so `no_route` can say why
        matched = list(dict.fromkeys(r.rule for r in routes)) if routes else self.evaluator.matching(notification)
        routes = distinct(routes)
        now = notification.received_at
        inhibited_by = (
            await self.inhibitions.active(self.policies.inhibition_keys(notification), now) if routes else None
        )
        plans = self.policies.plan(
            notification, routes, now, await self.silences.current() if routes else [], inhibited_by
        )
        notification = msgspec.structs.replace(notification, status=initial_status(plans))
        # the inhibitions it starts are stored with it: a retry of a failed callback is a duplicate, stored no more
        return await self.repo.store_event(
            event,
            notification,
            plans,
            matched,
            inhibits=self.policies.sources(notification, matched),
            fingerprint=fingerprint,
        )

    async def _enqueue(self, stored: Stored) -> None:
        if stored.due:
            await self.queue.enqueue_new(stored.due)
        for delivery_id, at in stored.later:
            await self.queue.enqueue(delivery_id, 0, at)

    async def handle_callback(self, platform: Platform, request: CallbackRequest) -> tuple[CallbackAnswer, list[str]]:
        """Run one callback through the platform plugin and the engine; shape the platform's answer."""
        try:
            events = await platform.parse(request)
        except PlatformInputError as exc:
            log.info("%s callback rejected (%s): %s", platform.name, exc.status_code, exc.detail)
            return platform_answer(
                platform, CallbackResult(status_code=exc.status_code, detail=exc.detail), request
            ), []
        except Exception:
            log.exception("%s plugin failed to parse a callback", platform.name)
            return platform_answer(
                platform, CallbackResult(status_code=500, detail="internal error; the gateway logged it"), request
            ), []
        ids: list[str] = []
        duplicates = 0
        try:
            for event in events:
                stored = await self.accept_event(event)
                ids.append(stored.id)
                duplicates += not stored.created
        except Exception as exc:
            log.error("%s callback could not be stored: %s: %s", platform.name, type(exc).__name__, exc)
            result = CallbackResult(status_code=503, detail="the gateway could not store the notification; retry later")
            return platform_answer(platform, result, request), []
        detail = "accepted" if not duplicates else f"accepted ({duplicates} already known)"
        return platform_answer(
            platform,
            CallbackResult(status_code=200, detail=detail, notification_ids=ids, duplicates=duplicates),
            request,
        ), ids
