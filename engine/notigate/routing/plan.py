"""After routing: what each route becomes — sent now, held for quiet hours, folded into a
digest, or muted by a switched-off channel, a silence or an inhibition.

Rules say who hears about an event; a rule's ``group_by``, ``quiet_hours`` and ``inhibit``
say *when* and *whether*. These are decided here, once per event, from rules compiled at
start (or reload). Nothing is dropped: a muted route is stored as a ``cancelled``
delivery with a note saying why, a held one as ``pending`` until its window ends.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import datetime

import msgspec

from notigate.config.durations import seconds
from notigate.config.settings import Rule
from notigate.events import Notification
from notigate.plugin.route import Route
from notigate.routing.globs import glob_matcher
from notigate.routing.quiet_hours import QuietWindow, window_end
from notigate.routing.silences import Silence, event_labels, route_labels
from notigate.storage.plans import Grouping, Plan


def _digest_key(rule: str, route: Route, values: dict[str, str]) -> str:
    raw = msgspec.json.encode([rule, route.channel, route.recipient, sorted(values.items())])
    return hashlib.sha256(raw).hexdigest()[:40]


def _field(n: Notification, name: str) -> str:
    return str(getattr(n, name) or "")


class _Timing:
    """A rule's quiet hours and digest windows, parsed once."""

    __slots__ = ("group_by", "name", "quiet", "repeat", "window")

    def __init__(self, rule: Rule) -> None:
        self.name = rule.name
        self.quiet = [QuietWindow(w) for w in rule.quiet_hours]
        self.group_by = rule.group_by
        self.window = seconds(rule.group_window) if rule.group_window is not None else None
        self.repeat = seconds(rule.repeat_interval) if rule.repeat_interval else None

    def for_event(self, n: Notification, now: datetime) -> tuple[datetime, str | None, dict[str, str] | None]:
        """What every route of this rule shares for ``n``: when it is due, why it waits, its group values."""
        held = window_end(self.quiet, n.severity, now)
        note = f"quiet hours of rule {self.name!r} until {held.isoformat()}" if held else None
        values: dict[str, str] | None = {f: _field(n, f) for f in self.group_by} if self.window is not None else None
        return held or now, note, values


class _Inhibitor:
    """A rule's ``inhibit``, parsed once: the codes it mutes, its ``equal`` fields, its duration."""

    __slots__ = ("codes", "duration", "equal", "name")

    def __init__(self, rule: Rule) -> None:
        assert rule.inhibit is not None
        self.name = rule.name
        self.codes: Callable[[str], bool] = glob_matcher(rule.inhibit.codes) or (lambda code: False)  # never empty
        self.equal = rule.inhibit.equal
        self.duration = seconds(rule.inhibit.duration)

    def key(self, n: Notification) -> str:
        """The rule's name and the values of its ``equal`` fields."""
        values = [(f, _field(n, f)) for f in self.equal]
        return hashlib.sha256(msgspec.json.encode([self.name, values])).hexdigest()[:40]


class Policies:
    """The timing and muting parts of ``[[rules]]``, compiled by rule name, and the channels
    ``[plugins] disabled`` switched off (channel name → plugin name)."""

    def __init__(self, rules: list[Rule], switched_off: Mapping[str, str] | None = None) -> None:
        self._switched_off = dict(switched_off or {})
        self._timing = {r.name: _Timing(r) for r in rules if r.quiet_hours or r.group_window is not None}
        self._inhibitors = {r.name: _Inhibitor(r) for r in rules if r.inhibit is not None}

    def inhibition_keys(self, n: Notification) -> dict[str, str]:
        """Keys of the inhibitions that would mute ``n``, with their rule's name.

        A key names a rule and the values of its ``inhibit.equal`` fields, so an outage
        of one platform mutes only that platform's follow-up errors.
        """
        return {i.key(n): i.name for i in self._inhibitors.values() if i.codes(n.code)}

    def sources(self, n: Notification, matched: list[str]) -> dict[str, tuple[str, float]]:
        """Inhibitions ``n`` starts: every matched rule with ``inhibit``, keyed like ``inhibition_keys``."""
        out: dict[str, tuple[str, float]] = {}
        for name in matched:
            if (inhibitor := self._inhibitors.get(name)) is not None:
                out[inhibitor.key(n)] = (inhibitor.name, inhibitor.duration)
        return out

    def plan(
        self, n: Notification, routes: list[Route], now: datetime, silences: list[Silence], inhibited_by: str | None
    ) -> list[Plan]:
        """One plan per route, in order: switched off, silenced, inhibited, held for quiet hours, or folded."""
        plans: list[Plan] = []
        labels = event_labels(n)
        candidates = [s for s in silences if s.mutes_event(labels, now)]  # most silences stop here
        shared: dict[str, tuple[datetime, str | None, dict[str, str] | None]] = {}  # per rule, for this event
        for route in routes:
            if (plugin := self._switched_off.get(route.channel)) is not None:
                plans.append(
                    Plan(
                        route=route,
                        status="cancelled",
                        due=now,
                        note=f"channel {route.channel!r} is switched off ([plugins] disabled: {plugin})",
                    )
                )
                continue
            silence = None
            if candidates:
                here = route_labels(route)
                silence = next((s for s in candidates if s.mutes_route(here)), None)
            if silence is not None:
                plans.append(
                    Plan(
                        route=route,
                        status="cancelled",
                        due=now,
                        note=f"silenced by {silence.id} until {silence.ends_at.isoformat()}"
                        + (f": {silence.comment}" if silence.comment else ""),
                    )
                )
                continue
            if inhibited_by is not None:
                plans.append(Plan(route=route, status="cancelled", due=now, note=f"inhibited: {inhibited_by}"))
                continue
            timing = self._timing.get(route.rule)
            if timing is None:  # a rule without quiet hours or digests, or a plugin's route (no such rule)
                plans.append(Plan(route=route, due=now))
                continue
            if (decided := shared.get(timing.name)) is None:
                decided = shared[timing.name] = timing.for_event(n, now)
            due, note, values = decided
            digest = None
            if values is not None and timing.window is not None:
                digest = Grouping(
                    key=_digest_key(timing.name, route, values),
                    values=values,
                    window=timing.window,
                    repeat=timing.repeat,
                )
            plans.append(Plan(route=route, due=due, note=note, digest=digest))
        return plans
