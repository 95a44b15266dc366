"""One delivery attempt: claim, render, send (or capture in sandbox), record, schedule.

``Deliveries.deliver`` runs in arq workers and in the in-process queue alike. It takes
delivery ids and loads everything else, so a job that runs twice or late is harmless: the
claim in the database lets exactly one run send each attempt.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Mapping
from datetime import datetime, timedelta
from typing import TypeVar

import msgspec

from notigate import blips, logs
from notigate.clock import utcnow
from notigate.config.durations import seconds
from notigate.config.settings import DeliveryConfig
from notigate.delivery.backoff import next_attempt_at
from notigate.delivery.breakers import DISABLED_WAIT, Breakers, breaker_key
from notigate.delivery.heartbeat import Heartbeat
from notigate.delivery.limits import Budget, Slots, SlotsUnavailable
from notigate.delivery.queue import Queue
from notigate.errors import TemplateError
from notigate.events import Digest, Notification
from notigate.masking import mask_text
from notigate.messages.templates import RenderedText, Templates
from notigate.plugin.channel import (
    Channel,
    Delivered,
    Message,
    Outcome,
    PermanentFailure,
    TransientFailure,
)
from notigate.storage import digests
from notigate.storage.database import Database
from notigate.storage.repository import Claimed, DeliveryView, Repository
from notigate.webhooks.disabling import GONE, answered_gone, disable_after, failing_too_long
from notigate.webhooks.endpoints import CHANNEL as WEBHOOK
from notigate.webhooks.endpoints import Endpoint, Endpoints
from notigate.webhooks.subscriptions import RULE as SUBSCRIPTION

log = logging.getLogger(__name__)
T = TypeVar("T")


class EndpointDisabled(TransientFailure, frozen=True, kw_only=True, tag="disabled"):
    """A transient failure after which the endpoint is disabled: the delivery waits for it, never fails."""


class Cancelled(PermanentFailure, frozen=True, kw_only=True, tag="cancelled"):
    """The delivery is no longer wanted (its API-created endpoint was deleted)."""


async def _bookkeeping(step: Awaitable[T], what: str) -> T | None:
    """After a send, a failing side step (Redis blip, database hiccup) must not change its outcome:
    a delivered message recorded as failed would be sent again."""
    try:
        return await asyncio.shield(step)
    except Exception as exc:
        log.warning("could not %s: %s: %s", what, type(exc).__name__, exc)
        return None


class BreakerOpen(Exception):
    """The destination's breaker is open: the delivery waits, no attempt is spent."""

    reason = "circuit breaker open"

    def __init__(self, destination: str, until: datetime) -> None:
        self.destination, self.until = destination, until


class DestinationBusy(BreakerOpen):
    """Every send slot of the destination is in use: wait a moment, no attempt is spent."""

    reason = "all send slots in use"


class SlotsDown(BreakerOpen):
    """The shared send slots cannot be reached (Redis down): wait a moment, no attempt is spent."""

    def __init__(self, destination: str, until: datetime, reason: str) -> None:
        super().__init__(destination, until)
        self.reason = reason


def destination_of(channel: Channel, message: Message) -> str:
    """The breaker's key: the channel's ``destination(message)`` (an SMTP host, an SMS account,
    by default the channel and address: a webhook endpoint's URL), fitted to the column."""
    return breaker_key(channel.destination(message))


EARLY = 5.0
"""Seconds ahead a delivery a job found not yet due may be: more, and it has a job of its own."""


class Deliveries:
    """Delivery attempts, built once by the gateway with what they use.

    ``deliver`` is what the queues run (the in-process queue's consumer, the arq job); a reload
    hands in new channels, templates and delivery settings with ``reconfigure``, and an attempt
    already running finishes with the ones it started with.
    """

    def __init__(
        self,
        *,
        repo: Repository,
        db: Database,
        queue: Queue,
        breakers: Breakers,
        slots: Slots,
        claims: Budget,
        heartbeat: Heartbeat,
        endpoints: Endpoints,
        lease: float,
        channels: Mapping[str, Channel],
        templates: Templates,
        config: DeliveryConfig,
        sandbox: bool,
    ) -> None:
        self.repo, self.db, self.queue, self.breakers, self.slots = repo, db, queue, breakers, slots
        self.claims, self.heartbeat, self.endpoints, self.lease = claims, heartbeat, endpoints, lease
        self.reconfigure(channels=channels, templates=templates, config=config, sandbox=sandbox)

    def reconfigure(
        self, *, channels: Mapping[str, Channel], templates: Templates, config: DeliveryConfig, sandbox: bool
    ) -> None:
        """What a reload may change."""
        self.channels, self.templates, self.config, self.sandbox = channels, templates, config, sandbox

    def build_message(
        self, delivery: DeliveryView, n: Notification, digest: Digest | None = None, endpoint: Endpoint | None = None
    ) -> Message:
        """Render the channel's localized templates into a Message addressed to the recipient (or,
        for webhooks, to ``endpoint``'s URL with its secret); raise TemplateError if they fail."""
        address, secret = (endpoint.url, endpoint.secret) if endpoint is not None else (delivery.recipient, None)
        words = RenderedText(subject="", text="", html=None)
        channel = self.channels.get(delivery.channel)
        if channel is None or channel.uses_templates:  # webhooks send the event itself
            context: dict[str, object] = {"event": n, "rule": delivery.rule, "recipient": delivery.recipient}
            if digest is not None:
                context["digest"] = digest
            words = self.templates.render(
                delivery.channel,
                "digest" if digest else "event",
                context,
                locale=delivery.locale,
                timezone=delivery.timezone,
            )
        return Message(
            id=delivery.id,
            channel=delivery.channel,
            recipient=delivery.recipient,
            address=address,
            secret=secret,
            notification=n,
            locale=delivery.locale,
            timezone=delivery.timezone,
            subject=words.subject,
            text=words.text,
            html=words.html,
            digest=digest,
        )

    async def _attempt(self, claimed: Claimed) -> tuple[Outcome, str | None]:
        """Run one attempt; return its outcome and the rendered message (JSON), when it got that far."""
        d = claimed.delivery
        channel = self.channels.get(d.channel)
        if channel is None:
            return TransientFailure(error=f"channel {d.channel!r} is not enabled"), None
        digest = None
        notification = claimed.notification  # read with the claim on PostgreSQL
        notification_id = d.notification_id
        if d.group_key is not None:  # a digest speaks of its latest member
            folded = await digests.load(self.db, d.id, d.group_key, d.rule)
            if folded is None:
                return PermanentFailure(error="digest has no notifications"), None
            digest, notification_id = folded
            notification = None
        if notification is None:
            notification = await self.repo.notification(notification_id)
        if notification is None:
            return PermanentFailure(error=f"notification {notification_id} does not exist"), None
        endpoint = None
        if d.channel == WEBHOOK and (endpoint := await self.endpoints.find(d.recipient)) is None:
            if d.rule == SUBSCRIPTION:  # a subscription ends with its endpoint (deleted, or removed from the file)
                return Cancelled(error=f"webhook endpoint {d.recipient!r} no longer exists"), None
            # a rule names the endpoint: it may come back with a reload
            return TransientFailure(error=f"webhook endpoint {d.recipient!r} is no longer configured"), None
        try:
            message = self.build_message(d, notification, digest, endpoint)
        except TemplateError as exc:  # deterministic: rendering again would fail the same way
            log.warning("delivery %s: the %s templates failed: %s", d.id, d.channel, exc)
            return PermanentFailure(error=f"template error: {exc}"), None
        try:
            rendered = channel.render(message)
        except Exception as exc:  # deterministic: rendering again would fail the same way
            log.warning("delivery %s: %s could not render the message: %s", d.id, d.channel, type(exc).__name__)
            return PermanentFailure(error=f"could not render the message: {type(exc).__name__}: {exc}"), None
        copy = msgspec.json.encode(rendered).decode()
        if self.sandbox:
            return Delivered(detail="captured (sandbox)"), copy
        destination = destination_of(channel, message)
        gate, until, clean = await self.breakers.gate(destination, utcnow())
        if gate == "open":
            raise BreakerOpen(destination, until or utcnow())
        try:
            token = await self.slots.acquire(destination, wait=seconds(self.config.send_timeout))
        except SlotsUnavailable as exc:
            raise SlotsDown(destination, utcnow() + timedelta(seconds=random.uniform(0.5, 2.0)), str(exc)) from exc
        if token is None:
            raise DestinationBusy(destination, utcnow() + timedelta(seconds=random.uniform(0.2, 1.0)))
        timeout = seconds(self.config.send_timeout)
        try:
            outcome: Outcome = await asyncio.wait_for(channel.send(message, rendered), timeout)
        except TimeoutError:
            outcome = TransientFailure(error=f"no answer within {timeout:g}s")
        finally:
            try:
                self.slots.release(destination, token)
            except Exception as exc:  # see _bookkeeping: never changes the send's outcome
                log.warning("could not release a send slot: %s: %s", type(exc).__name__, exc)
        if answered_gone(d.channel, outcome) and not isinstance(outcome, Delivered):
            # Gone: the endpoint is switched off; its deliveries wait (nothing is dropped) until it is enabled.
            await _bookkeeping(self.breakers.disable(destination, utcnow(), reason=GONE), "disable the endpoint")
            log.warning("webhook endpoint %s answered 410 Gone: disabled until an admin enables it", d.recipient)
            return TransientFailure(
                error=f"{outcome.error}; endpoint disabled until enabled again", status_code=410
            ), copy
        after = self.config.endpoint_disable_after
        recorded = await _bookkeeping(
            self.breakers.record(
                destination,
                reachable=not isinstance(outcome, TransientFailure),
                now=utcnow(),
                clean=clean,
                disable_after=disable_after(d.channel, self.config),
                reason=failing_too_long(self.config),
            ),
            "update the circuit breaker",
        )
        if isinstance(outcome, TransientFailure) and recorded in ("disabled", "disabled_now"):
            if recorded == "disabled_now":
                log.warning(
                    "webhook endpoint %s has failed for longer than %s: disabled until an admin enables it",
                    d.recipient,
                    after,
                )
            return EndpointDisabled(
                error=f"{outcome.error}; endpoint disabled until enabled again", status_code=outcome.status_code
            ), copy
        return outcome, copy

    async def deliver(self, delivery_ids: str | list[str]) -> None:
        """Make one attempt at each of ``delivery_ids`` that is due; schedule the next ones if needed.

        The batch is claimed in one statement and its sends run concurrently, each recorded as
        soon as it ends (attempts ending together are stored together).
        """
        ids = [delivery_ids] if isinstance(delivery_ids, str) else delivery_ids
        async with self.claims.take(len(ids)):
            # State changes are shielded: a shutdown may interrupt a send, never a transaction half-way.
            claiming = asyncio.ensure_future(self.repo.claim_many(ids, lease=self.lease))
            try:
                claimed = await asyncio.shield(claiming)
            except asyncio.CancelledError:
                for c in await claiming:
                    await self.repo.release(c)
                raise
            started: set[str] = set()
            steps = [self._deliver_claimed(c, started) for c in claimed]
            if len(claimed) < len(ids):
                steps.append(self._run_when_due(set(ids) - {c.delivery.id for c in claimed}))
            with self.heartbeat.holding({c.delivery.id: c.attempt for c in claimed}):
                try:
                    results = await asyncio.gather(*steps, return_exceptions=True)
                except asyncio.CancelledError:  # a step cancelled before it began gives its attempt back here
                    await asyncio.shield(
                        asyncio.gather(
                            *(self.repo.release(c) for c in claimed if c.delivery.id not in started),
                            return_exceptions=True,
                        )
                    )
                    raise
            for failed in results:
                if isinstance(failed, Exception):  # recorded by nobody: its lease runs out and the sweep retries it
                    log.error("delivery step failed: %s: %s", type(failed).__name__, failed)

    async def _run_when_due(self, unclaimed: set[str]) -> None:
        """A job that ran before its deliveries were due by this process's clock (one behind the API's, or
        the queue's) schedules them again for when they are, rather than leave them to the next sweep."""
        horizon = utcnow() + timedelta(seconds=EARLY)
        for delivery_id, attempts, due in await self.repo.not_yet_due(sorted(unclaimed)):
            if due <= horizon:
                await self.queue.enqueue(delivery_id, attempts, due, tag=f"e{int(due.timestamp() * 1000)}")

    async def _deliver_claimed(self, claimed: Claimed, started: set[str]) -> None:
        started.add(claimed.delivery.id)
        with logs.delivering(claimed.delivery.id, claimed.delivery.notification_id):
            await self._attempt_and_record(claimed)

    async def _attempt_and_record(self, claimed: Claimed) -> None:
        delivery_id = claimed.delivery.id
        started = utcnow()
        try:
            outcome, captured = await self._attempt(claimed)
        except BreakerOpen as wait:  # also DestinationBusy and SlotsDown
            await self._put_back(claimed, wait.until, f"{wait.reason} for {wait.destination}")
            return
        except asyncio.CancelledError:
            # Shutting down (SIGTERM during a deploy): give the attempt back, unburnt.
            await asyncio.shield(self.repo.release(claimed))
            raise
        except Exception as exc:
            if blips.database_blip(exc):  # before anything was sent: wait a moment, spend no attempt
                await self._put_back(
                    claimed, utcnow() + timedelta(seconds=1), f"database unavailable ({type(exc).__name__})"
                )
                return
            log.exception("delivery %s: unexpected error in attempt %s", delivery_id, claimed.attempt)
            outcome, captured = TransientFailure(error=f"internal error: {type(exc).__name__}: {exc}"), None
        await asyncio.shield(self._record(claimed, outcome, captured, started))

    async def _put_back(self, claimed: Claimed, until: datetime, reason: str) -> None:
        """Give the attempt back unspent and have the delivery run again at ``until`` (spread a little)."""
        until += timedelta(seconds=random.uniform(0, 0.5))
        if await self.repo.defer(claimed, until=until, reason=reason):
            try:
                await self.queue.enqueue(
                    claimed.delivery.id, claimed.attempt - 1, until, tag=f"w{int(until.timestamp() * 1000)}"
                )
            except Exception as exc:  # stored as due at `until`: the sweep enqueues it then
                log.warning("enqueue of deferred %s failed (%s)", claimed.delivery.id, type(exc).__name__)

    async def _record(self, claimed: Claimed, outcome: Outcome, rendered: str | None, started: datetime) -> None:
        """Store the attempt. The rendered message is kept for sandbox captures and for dead
        letters (a failed delivery keeps what it tried to send, for inspection and replay)."""
        d = claimed.delivery
        now = utcnow()
        if not isinstance(outcome, Delivered):  # a receiver's answer may echo personal data back
            outcome = msgspec.structs.replace(outcome, error=mask_text(outcome.error))
        sandbox = self.sandbox
        if isinstance(outcome, Delivered):
            await self.repo.finish(
                claimed,
                outcome="captured" if sandbox else "delivered",
                status="delivered",
                started_at=started,
                status_code=outcome.status_code,
                captured=rendered if sandbox else None,
            )
            return
        if isinstance(outcome, Cancelled):
            await self.repo.finish(
                claimed, outcome="cancelled", status="cancelled", started_at=started, error=outcome.error
            )
            return
        if isinstance(outcome, PermanentFailure):
            await self.repo.finish(
                claimed,
                outcome="permanent",
                status="failed",
                started_at=started,
                error=outcome.error,
                status_code=outcome.status_code,
                captured=rendered,
            )
            return
        # a switched-off endpoint's delivery waits for it, whatever its budget
        if answered_gone(d.channel, outcome) or isinstance(outcome, EndpointDisabled):
            await self.repo.finish(
                claimed,
                outcome="transient",
                status="retrying",
                started_at=started,
                error=outcome.error,
                status_code=outcome.status_code,
                next_attempt_at=now + DISABLED_WAIT,
            )
            return
        budget = claimed.attempt - d.budget_from
        at = next_attempt_at(budget, d.budget_since or d.created_at, now, self.config, outcome.retry_after)
        if at is None:
            error = f"gave up after {budget} attempts: {outcome.error}"
            await self.repo.finish(
                claimed,
                outcome="transient",
                status="failed",
                started_at=started,
                error=error,
                status_code=outcome.status_code,
                captured=rendered,
            )
            return
        if await self.repo.finish(
            claimed,
            outcome="transient",
            status="retrying",
            started_at=started,
            error=outcome.error,
            status_code=outcome.status_code,
            next_attempt_at=at,
        ):
            try:
                await self.queue.enqueue(d.id, claimed.attempt, at)
            except Exception as exc:  # stored already: the sweep re-enqueues it when due
                log.warning("enqueue of retry %s failed (%s); the sweep will pick it up", d.id, type(exc).__name__)
