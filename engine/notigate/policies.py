"""After routing: what each route becomes — sent now, held for quiet hours, folded into a
digest, or muted by a silence or an inhibition.

Rules say who hears about an event; a rule's ``group_by``, ``quiet_hours`` and ``inhibit``
say *when* and *whether*. These are decided here, once per event, from rules compiled at
start (or reload). Nothing is dropped: a muted route is stored as a ``cancelled``
delivery with a note saying why, a held one as ``pending`` until its window ends.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, time, timedelta
from fnmatch import fnmatchcase
from typing import Literal
from zoneinfo import ZoneInfo

import msgspec

from notigate.config import WEEKDAYS, QuietHours, Rule, seconds
from notigate.events import Notification
from notigate.routing import Route
from notigate.silences import Silence, event_labels, route_labels


class Grouping(msgspec.Struct, frozen=True, kw_only=True):
    """How a route joins a digest group: its key, its values, and the rule's windows (seconds)."""

    key: str
    values: dict[str, str]
    window: float
    repeat: float | None


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    """What to store for one route."""

    route: Route
    status: Literal["pending", "cancelled"] = "pending"
    due: datetime
    note: str | None = None
    digest: Grouping | None = None


def _digest_key(rule: str, route: Route, values: dict[str, str]) -> str:
    raw = msgspec.json.encode([rule, route.channel, route.recipient, sorted(values.items())])
    return hashlib.sha256(raw).hexdigest()[:40]


def _field(n: Notification, name: str) -> str:
    return str(getattr(n, name) or "")


def quiet_until(windows: list[QuietHours], severity: str, now: datetime) -> datetime | None:
    """The end of the quiet window ``now`` falls in (latest if several), or None."""
    end: datetime | None = None
    for w in windows:
        if severity == "critical" and not w.include_critical:
            continue
        tz = ZoneInfo(w.timezone)
        local = now.astimezone(tz)
        start_t, end_t = (time.fromisoformat(t) for t in (w.start, w.end))
        for back in (0, 1):  # a window that crosses midnight started yesterday
            day = local.date() - timedelta(days=back)
            if WEEKDAYS[day.weekday()] not in w.days:
                continue
            opens = datetime.combine(day, start_t, tz)
            closes = datetime.combine(day if end_t > start_t else day + timedelta(days=1), end_t, tz)
            if opens <= local < closes and (end is None or closes > end):
                end = closes
    return end.astimezone(now.tzinfo) if end is not None else None


class Policies:
    """The timing and muting parts of ``[[rules]]``, compiled by rule name."""

    def __init__(self, rules: list[Rule]) -> None:
        self._rules = {r.name: r for r in rules}
        self._inhibitors = [r for r in rules if r.inhibit is not None]
        self._windows = {r.name: (seconds(r.group_window), seconds(r.repeat_interval) if r.repeat_interval else None)
                         for r in rules if r.group_window is not None}

    def inhibition_keys(self, n: Notification) -> dict[str, str]:
        """Keys of the inhibitions that would mute ``n``, with their rule's name.

        A key names a rule and the values of its ``inhibit.equal`` fields, so an outage
        of one platform mutes only that platform's follow-up errors.
        """
        checks: dict[str, str] = {}
        for rule in self._inhibitors:
            assert rule.inhibit is not None
            if any(fnmatchcase(n.code, c) for c in rule.inhibit.codes):
                checks[self._inhibition_key(rule, n)] = rule.name
        return checks

    def sources(self, n: Notification, matched: list[str]) -> dict[str, tuple[str, float]]:
        """Inhibitions ``n`` starts: every matched rule with ``inhibit``, keyed like ``inhibition_keys``."""
        out: dict[str, tuple[str, float]] = {}
        for name in matched:
            rule = self._rules.get(name)
            if rule is not None and rule.inhibit is not None:
                out[self._inhibition_key(rule, n)] = (rule.name, seconds(rule.inhibit.duration))
        return out

    @staticmethod
    def _inhibition_key(rule: Rule, n: Notification) -> str:
        assert rule.inhibit is not None
        values = [(f, _field(n, f)) for f in rule.inhibit.equal]
        return hashlib.sha256(msgspec.json.encode([rule.name, values])).hexdigest()[:40]

    def plan(self, n: Notification, routes: list[Route], now: datetime, silences: list[Silence],
             inhibited_by: str | None) -> list[Plan]:
        """One plan per route, in order: silenced, inhibited, held for quiet hours, or folded."""
        plans: list[Plan] = []
        labels = event_labels(n)
        candidates = [s for s in silences if s.mutes_event(labels, now)]  # most silences stop here
        for route in routes:
            rule = self._rules.get(route.rule)
            silence = None
            if candidates:
                here = route_labels(route)
                silence = next((s for s in candidates if s.mutes_route(here)), None)
            if silence is not None:
                plans.append(Plan(route=route, status="cancelled", due=now,
                                  note=f"silenced by {silence.id} until {silence.ends_at.isoformat()}"
                                       + (f": {silence.comment}" if silence.comment else "")))
                continue
            if inhibited_by is not None:
                plans.append(Plan(route=route, status="cancelled", due=now, note=f"inhibited: {inhibited_by}"))
                continue
            held = quiet_until(rule.quiet_hours, n.severity, now) if rule is not None else None
            note = f"quiet hours of rule {rule.name!r} until {held.isoformat()}" if rule and held else None
            digest = None
            if rule is not None and rule.name in self._windows:
                values: dict[str, str] = {f: _field(n, f) for f in rule.group_by}
                window, repeat = self._windows[rule.name]
                digest = Grouping(key=_digest_key(rule.name, route, values), values=values, window=window, repeat=repeat)
            plans.append(Plan(route=route, due=held or now, note=note, digest=digest))
        return plans
