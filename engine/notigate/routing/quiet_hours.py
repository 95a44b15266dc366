"""Quiet hours: windows of local time (per rule, in its zone) when deliveries wait instead of going out.

A window may cross midnight (22:00–07:00 opens on one day and closes on the next) and may
let critical events through. An event that falls in several windows waits for the latest end.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from notigate.config.settings import WEEKDAYS, QuietHours


class QuietWindow:
    """One quiet-hours window, parsed once: its zone, times and weekdays (``date.weekday()`` numbers)."""

    __slots__ = ("days", "end", "include_critical", "start", "tz")

    def __init__(self, w: QuietHours) -> None:
        self.tz = ZoneInfo(w.timezone)
        self.start, self.end = time.fromisoformat(w.start), time.fromisoformat(w.end)
        self.days = frozenset(WEEKDAYS.index(d) for d in w.days)
        self.include_critical = w.include_critical


def window_end(windows: list[QuietWindow], severity: str, now: datetime) -> datetime | None:
    end: datetime | None = None
    for w in windows:
        if severity == "critical" and not w.include_critical:
            continue
        local = now.astimezone(w.tz)
        for back in (0, 1):  # a window that crosses midnight started yesterday
            day = local.date() - timedelta(days=back)
            if day.weekday() not in w.days:
                continue
            opens = datetime.combine(day, w.start, w.tz)
            closes = datetime.combine(day if w.end > w.start else day + timedelta(days=1), w.end, w.tz)
            if opens <= local < closes and (end is None or closes > end):
                end = closes
    return end.astimezone(now.tzinfo) if end is not None else None


def quiet_until(windows: list[QuietHours], severity: str, now: datetime) -> datetime | None:
    """The end of the quiet window ``now`` falls in (latest if several), or None."""
    return window_end([QuietWindow(w) for w in windows], severity, now)
