"""``notigate.delivery.backoff``: exponential backoff with full jitter, Retry-After, attempt and age limits."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

import pytest

from notigate.config.settings import DeliveryConfig
from notigate.delivery.backoff import next_attempt_at, next_delay

CONFIG = DeliveryConfig(max_attempts=8, backoff_initial="2s", backoff_max="30s", max_age="1h")
T0 = datetime(2024, 8, 1, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize("attempt", range(1, 12))
def test_delay_stays_within_the_jitter_window(attempt: int) -> None:
    """Attempt n waits between ``backoff_initial`` and ``min(backoff_max, initial * 2**(n-1))``."""
    upper = min(30.0, 2.0 * 2 ** (attempt - 1))
    delays = [next_delay(attempt, CONFIG) for _ in range(2000)]
    assert all(2.0 <= d <= upper for d in delays)


def test_first_retry_waits_exactly_the_initial_delay() -> None:
    """After the first attempt the window is a single point: ``backoff_initial``."""
    assert {next_delay(1, CONFIG) for _ in range(100)} == {2.0}


def test_delays_are_jittered() -> None:
    """Delays for the same attempt vary (full jitter), spreading retries of many deliveries."""
    delays = [next_delay(4, CONFIG) for _ in range(500)]
    assert len(set(delays)) > 450
    assert max(delays) - min(delays) > 10


def test_delays_grow_with_the_attempt_number() -> None:
    """The average delay grows with each attempt until the ceiling is reached."""
    means = [statistics.fmean(next_delay(n, CONFIG) for _ in range(3000)) for n in range(1, 6)]
    assert means == sorted(means)
    assert means[-1] > 3 * means[0]


def test_delays_stop_growing_at_backoff_max() -> None:
    """Far past the ceiling, delays stay within ``[initial, backoff_max]`` and use the whole window."""
    delays = [next_delay(20, CONFIG) for _ in range(3000)]
    assert all(2.0 <= d <= 30.0 for d in delays)
    assert max(delays) > 28.0


@pytest.mark.parametrize(
    ("retry_after", "expected"), [(5.0, 5.0), (0.0, 0.0), (29.5, 29.5), (3600.0, 30.0), (-10.0, 0.0)]
)
def test_retry_after_is_honoured_and_clamped(retry_after: float, expected: float) -> None:
    """A destination's Retry-After replaces the backoff, clamped to ``[0, backoff_max]``."""
    assert next_delay(1, CONFIG, retry_after) == expected
    assert next_delay(7, CONFIG, retry_after) == expected


@pytest.mark.parametrize("attempt", range(1, 8))
def test_next_attempt_is_scheduled_before_the_limit(attempt: int) -> None:
    """Below ``max_attempts`` and within ``max_age``, the next attempt is ``now + delay``."""
    at = next_attempt_at(attempt, T0, T0, CONFIG)
    assert at is not None
    assert T0 + timedelta(seconds=2) <= at <= T0 + timedelta(seconds=30)


@pytest.mark.parametrize("attempt", [8, 9, 100])
def test_no_next_attempt_after_max_attempts(attempt: int) -> None:
    """Once ``max_attempts`` attempts have failed there is no next attempt."""
    assert next_attempt_at(attempt, T0, T0, CONFIG) is None


def test_no_next_attempt_past_max_age() -> None:
    """A retry that would fall after ``created_at + max_age`` is not scheduled."""
    late = T0 + timedelta(minutes=59, seconds=59)
    assert next_attempt_at(2, T0, late, CONFIG) is None
    assert next_attempt_at(2, T0, T0 + timedelta(hours=2), CONFIG) is None


def test_retry_after_also_respects_max_age() -> None:
    """Retry-After cannot push a delivery past its maximum age."""
    now = T0 + timedelta(minutes=59, seconds=50)
    assert next_attempt_at(1, T0, now, CONFIG, retry_after=5) is not None
    assert next_attempt_at(1, T0, now, CONFIG, retry_after=20) is None


def test_next_attempt_uses_retry_after() -> None:
    """The next attempt time is exactly ``now + Retry-After`` when the destination sent one."""
    assert next_attempt_at(3, T0, T0, CONFIG, retry_after=12) == T0 + timedelta(seconds=12)


def test_very_high_attempt_numbers_stay_at_the_ceiling() -> None:
    """With a large ``max_attempts``, late attempts wait at most ``backoff_max`` instead of crashing."""
    config = DeliveryConfig(max_attempts=5000, backoff_initial="2s", backoff_max="30s")
    assert 2.0 <= next_delay(2000, config) <= 30.0
