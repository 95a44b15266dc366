"""Circuit breakers per destination, kept in the database so every worker shares them.

closed → (``breaker_threshold`` consecutive transient failures) → open: deliveries to
that destination wait, unattempted, until ``breaker_cooldown`` has passed → half-open:
exactly one worker wins the right to probe → success closes it, failure opens it again.
A destination that answers at all (even with a permanent 4xx) counts as reachable.

``disabled`` is set by an admin-visible event (a webhook endpoint answering 410 Gone, or
failing since ``failing_since`` for longer than ``endpoint_disable_after``): deliveries
wait until someone enables the destination again; no probe, no cool-down.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import msgspec

from notigate.storage.breakers import BreakerRows
from notigate.storage.database import Database

Gate = Literal["closed", "probe", "open"]
Recorded = Literal["ok", "disabled", "disabled_now"]
DISABLED_WAIT = timedelta(hours=1)
"""How long a delivery to a disabled destination sleeps before looking again (enabling wakes it at once)."""
CLEAN_CACHE_SECONDS = 1.0
"""How long a process trusts that a destination's breaker is closed with no failures counted
(so a healthy destination costs no database read per send). Its own failures, disabling and
enabling forget that at once; another process's are seen within this time."""


def destination_key(channel: str, address: str) -> str:
    """The default destination of a delivery: one breaker per channel and address (a webhook URL)."""
    return breaker_key(f"{channel}:{address}")


def breaker_key(destination: str) -> str:
    """The stored key: long destinations (a URL with a long query) are shortened with a hash,
    so every key fits the column on PostgreSQL and stays unique."""
    if len(destination) <= 200:
        return destination
    return f"{destination[:150]}#{hashlib.sha256(destination.encode()).hexdigest()[:40]}"


class BreakerView(msgspec.Struct, frozen=True, kw_only=True):
    destination: str
    state: str
    failures: int
    opened_until: datetime | None
    failing_since: datetime | None = None
    """First transient failure of the current run of failures (None after a success)."""
    reason: str | None = None
    """Why the destination is disabled."""


def _dt(value: Any) -> datetime | None:
    if value is None:
        return None
    moment: datetime = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Breakers:
    def __init__(self, db: Database, *, threshold: int, cooldown: float) -> None:
        self.rows = BreakerRows(db)
        self.threshold = threshold
        self.cooldown = timedelta(seconds=cooldown)
        self._clean: dict[str, float] = {}  # destination -> monotonic time until which it is known clean
        self._changes: dict[str, int] = {}
        """Per destination, how many failures (and disables) this process began recording: a read that
        began before one may not mark the destination clean after it."""
        self._writing: collections.Counter[str] = collections.Counter()
        """Per destination, such writes under way: meanwhile nothing is known clean, so an answer
        resets the failures they are counting."""
        self._reading: dict[str, tuple[asyncio.Future[list[dict[str, Any]]], int]] = {}

    async def gate(self, destination: str, now: datetime) -> tuple[Gate, datetime | None, int | None]:
        """May a delivery go to ``destination`` now? ("open", until) means wait until then.

        A destination this process knows clean (closed, no failures counted) costs no read. The
        third value, passed back to ``record``, says the destination was clean as of this
        process's change count then (None: it was not): an answer needs no reset unless a failure
        was recorded here since.
        """
        if self._clean.get(destination, 0.0) > time.monotonic():
            return "closed", None, self._changes.get(destination, 0)
        rows, seen = await self._read(destination)
        if not rows or (rows[0]["state"] == "closed" and rows[0]["failures"] == 0):
            self._remember_clean(destination, seen)
            return "closed", None, seen
        if rows[0]["state"] == "closed":
            return "closed", None, None
        if rows[0]["state"] == "disabled":
            return "open", now + DISABLED_WAIT, None
        until = _dt(rows[0]["opened_until"])
        if until is not None and until > now:
            return "open", until, None
        # the cool-down is over: one caller becomes the probe
        won = await self.rows.take_probe(destination, now=now, until=now + self.cooldown)
        return ("probe", None, None) if won else ("open", now + self.cooldown, None)

    async def _read(self, destination: str) -> tuple[list[dict[str, Any]], int]:
        """The destination's row, and how many changes this process had recorded when it was read.

        One query at a time: a burst of sends to a destination not yet known clean (at start,
        after a failure) shares one read instead of opening a connection each; a change
        recorded meanwhile starts a fresh read for the callers after it.
        """
        seen = self._changes.get(destination, 0)
        pending = self._reading.get(destination)
        if pending is None or pending[1] != seen:
            future = asyncio.ensure_future(self.rows.read(destination))
            pending = self._reading[destination] = (future, seen)
            future.add_done_callback(
                lambda done: (
                    self._reading.pop(destination, None) if self._reading.get(destination, (None,))[0] is done else None
                )
            )
        return await asyncio.shield(pending[0]), pending[1]

    async def record(
        self,
        destination: str,
        *,
        reachable: bool,
        now: datetime,
        clean: int | None = None,
        disable_after: timedelta | None = None,
        reason: str = "",
    ) -> Recorded:
        """Count a transient failure (maybe opening the breaker), or reset after any answer.

        Failures count only while consecutive: an answer resets the count unless the gate found
        the destination clean (``clean``) and this process recorded no failure since (sends run
        concurrently: one that began before a failure must still reset it).

        With ``disable_after`` (webhook endpoints), a failure that ends a run of at least
        ``threshold`` failures begun longer ago than that disables the destination
        ("disabled_now"); "disabled" means it already was (another worker's failure or a 410).
        The threshold keeps two blips weeks apart on a quiet endpoint from counting as days of failure.
        """
        if reachable:
            seen = self._changes.get(destination, 0)
            if clean is None or clean != seen or self._writing[destination]:
                reset = await self.rows.reset(destination, now)
                if reset:
                    self._remember_clean(destination, seen)
            return "ok"
        with self._changing(destination):
            return await self.rows.count_failure(
                destination,
                now=now,
                threshold=self.threshold,
                open_until=now + self.cooldown,
                failing_before=now - disable_after if disable_after is not None else None,
                reason=reason,
            )

    async def disable(self, destination: str, now: datetime, reason: str | None = None) -> None:
        """Hold every delivery to ``destination`` until :meth:`enable` (e.g. after 410 Gone)."""
        with self._changing(destination):
            await self.rows.disable(destination, now, reason)

    async def enable(self, destination: str, now: datetime) -> None:
        with self._changing(destination):
            await self.rows.enable(destination, now)

    @contextlib.contextmanager
    def _changing(self, destination: str) -> Iterator[None]:
        """Around a write that may make the destination unclean: what was known clean, or read before
        the write committed, is not trusted afterwards."""
        self._forget_clean(destination)
        self._writing[destination] += 1
        try:
            yield
        finally:
            self._writing[destination] -= 1
            if not self._writing[destination]:
                del self._writing[destination]
            self._forget_clean(destination)

    def _forget_clean(self, destination: str) -> None:
        self._clean.pop(destination, None)
        self._changes[destination] = self._changes.get(destination, 0) + 1

    def _remember_clean(self, destination: str, seen: int) -> None:
        """Known clean for a moment, if nothing was recorded here since the evidence was read (``seen``)."""
        if self._changes.get(destination, 0) != seen or self._writing[destination]:
            return
        now = time.monotonic()
        if len(self._clean) >= 10_000:  # many destinations: keep only the entries still valid
            self._clean = {d: until for d, until in self._clean.items() if until > now}
        self._clean[destination] = now + CLEAN_CACHE_SECONDS

    async def all(self) -> list[BreakerView]:
        rows = await self.rows.all()
        return [
            BreakerView(
                destination=r["destination"],
                state=r["state"],
                failures=r["failures"],
                opened_until=_dt(r["opened_until"]),
                failing_since=_dt(r.get("failing_since")),
                reason=r.get("reason"),
            )
            for r in rows
        ]
