"""Silences: operator-made mutes with matchers and a time range (Alertmanager's idea).

Stored in the database, so every API process and worker mutes the same routes. Ingest
reads them from a per-process cache refreshed every ``REFRESH`` seconds (and at once in
the process that changed them), so a silence made in one process takes effect in the
others within that time. Matchers compare labels of a route with ``*`` globs.
"""

from __future__ import annotations

import time
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Annotated, Literal

import msgspec

from notigate.clock import stored_utc, utcnow
from notigate.events import Notification, UtcDatetime
from notigate.ids import new_id
from notigate.plugin.route import Route
from notigate.storage.silences import SilenceRows

REFRESH = 2.0
Label = Literal["platform", "code", "severity", "merchant_id", "reference", "rule", "channel", "recipient"]


class Matcher(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``name`` equals (or, with ``equal = false``, differs from) ``value``; ``*`` and ``?`` glob."""

    name: Label
    value: Annotated[str, msgspec.Meta(max_length=200)]
    equal: bool = True

    def holds(self, labels: dict[str, str]) -> bool:
        return fnmatchcase(labels.get(self.name, ""), self.value) is self.equal


class SilenceIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What ``POST /api/v1/silences`` takes."""

    matchers: Annotated[list[Matcher], msgspec.Meta(min_length=1, max_length=20)]
    ends_at: UtcDatetime
    created_by: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    comment: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    starts_at: UtcDatetime | None = None


class Silence(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    matchers: list[Matcher]
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    created_by: str
    comment: str
    created_at: UtcDatetime

    def mutes_event(self, labels: dict[str, str], now: datetime) -> bool:
        """Active, and every matcher about the event itself holds (route matchers are checked per route)."""
        return self.starts_at <= now < self.ends_at and all(
            m.holds(labels) for m in self.matchers if m.name not in ROUTE_LABELS
        )

    def mutes_route(self, labels: dict[str, str]) -> bool:
        return all(m.holds(labels) for m in self.matchers if m.name in ROUTE_LABELS)

    def state_at(self, now: datetime) -> Literal["pending", "active", "expired"]:
        return "pending" if now < self.starts_at else "active" if now < self.ends_at else "expired"


ROUTE_LABELS = frozenset({"rule", "channel", "recipient"})


def event_labels(n: Notification) -> dict[str, str]:
    """What a silence can match on in the event."""
    return {
        "platform": n.platform,
        "code": n.code,
        "severity": n.severity,
        "merchant_id": n.merchant_id or "",
        "reference": n.reference or "",
    }


def route_labels(route: Route) -> dict[str, str]:
    """What a silence can match on in a route: its rule, channel and recipient."""
    return {"rule": route.rule, "channel": route.channel, "recipient": route.recipient}


def _row(row: dict[str, object]) -> Silence:
    return Silence(
        id=str(row["id"]),
        matchers=msgspec.json.decode(str(row["matchers"]), type=list[Matcher]),
        starts_at=stored_utc(row["starts_at"]),
        ends_at=stored_utc(row["ends_at"]),
        created_by=str(row["created_by"]),
        comment=str(row["comment"]),
        created_at=stored_utc(row["created_at"]),
    )


class Silences:
    """Silences as ingest and the API use them: made, listed, ended, and read from a cache."""

    def __init__(self, rows: SilenceRows) -> None:
        self.rows = rows
        self._cache: list[Silence] = []
        self._read_at = float("-inf")

    async def current(self) -> list[Silence]:
        """Silences not yet ended, at most ``REFRESH`` seconds old."""
        if time.monotonic() - self._read_at > REFRESH:
            self._cache, self._read_at = [_row(r) for r in await self.rows.active(utcnow())], time.monotonic()
        return self._cache

    async def create(self, data: SilenceIn) -> Silence:
        now = utcnow()
        silence = Silence(
            id=new_id("sil"),
            matchers=data.matchers,
            starts_at=data.starts_at or now,
            ends_at=data.ends_at,
            created_by=data.created_by,
            comment=data.comment,
            created_at=now,
        )
        await self.rows.insert(
            id=silence.id,
            matchers=msgspec.json.encode(silence.matchers).decode(),
            starts_at=silence.starts_at,
            ends_at=silence.ends_at,
            created_by=silence.created_by,
            comment=silence.comment,
            created_at=silence.created_at,
        )
        self._read_at = float("-inf")
        return silence

    async def list(self, *, include_expired: bool = False) -> list[Silence]:
        return [_row(r) for r in await self.rows.newest(now=None if include_expired else utcnow())]

    async def expire(self, silence_id: str) -> Silence | None:
        """End a silence now (kept for the record, like Alertmanager's expire); None if unknown."""
        row = await self.rows.end(silence_id, utcnow())
        self._read_at = float("-inf")
        return _row(row) if row is not None else None
