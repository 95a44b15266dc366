"""The gateway's clock: UTC now, which tests may move forward.

Windows (grouping, quiet hours, silences, inhibition) and schedules are all decided
against this clock, so a test can step over a 60 s window without sleeping, like
``stamina.set_testing``. Production code never moves it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

_offset = timedelta(0)


def utcnow() -> datetime:
    """Timezone-aware UTC now (plus the test offset, normally zero)."""
    return datetime.now(UTC) + _offset


def advance(seconds: float) -> None:
    """Tests only: move this process's clock forward by ``seconds``."""
    global _offset
    _offset += timedelta(seconds=seconds)


def reset() -> None:
    """Tests only: back to real time."""
    global _offset
    _offset = timedelta(0)


def as_utc(value: Any) -> datetime | None:
    """A stored timestamp as an aware UTC datetime (asyncpg gives datetimes, SQLite text)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(str(value)).astimezone(UTC)


def stored_utc(value: Any) -> datetime:
    """``as_utc`` of a column that is never NULL."""
    when = as_utc(value)
    if when is None:
        raise ValueError("a NOT NULL timestamp was NULL")
    return when
