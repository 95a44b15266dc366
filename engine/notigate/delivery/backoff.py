"""The durable retry schedule shared by every channel.

Exponential backoff with full jitter: attempt n waits a random time between
``backoff_initial`` and ``min(backoff_max, backoff_initial * 2**(n-1))``. A
destination's own ``Retry-After`` wins, clamped to ``backoff_max``. The next attempt
time is stored on the delivery, so the schedule survives restarts.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from notigate.config.durations import seconds
from notigate.config.settings import DeliveryConfig


def next_delay(attempt: int, config: DeliveryConfig, retry_after: float | None = None) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
    initial, ceiling = seconds(config.backoff_initial), seconds(config.backoff_max)
    if retry_after is not None:
        return min(max(retry_after, 0.0), ceiling)
    cap = min(ceiling, initial * 2 ** min(attempt - 1, 64))
    return random.uniform(initial, max(initial, cap))


def next_attempt_at(
    attempt: int, created_at: datetime, now: datetime, config: DeliveryConfig, retry_after: float | None = None
) -> datetime | None:
    """When to try again, or None when attempts or the maximum age are exhausted."""
    if attempt >= config.max_attempts:
        return None
    at = now + timedelta(seconds=next_delay(attempt, config, retry_after))
    if at > created_at + timedelta(seconds=seconds(config.max_age)):
        return None
    return at
