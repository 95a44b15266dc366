"""What operators watch to know delivery keeps up: live workers, how long the oldest due delivery
has waited, and the send slots taken per destination.

Read from the database and Redis, so every API process reports the same; ``/health/ready``
and ``/metrics`` both use it, at most once a second per process (``Gateway.vitals``).
"""

from __future__ import annotations

import msgspec

from notigate.clock import utcnow
from notigate.limits import RedisLimiter, Slots
from notigate.repository import Repository
from notigate.workers import WorkerBeat, Workers


class Vitals(msgspec.Struct, frozen=True, kw_only=True):
    workers: list[WorkerBeat] | None
    """The live ``notigate worker`` processes; None on the embedded queue (``serve`` delivers itself)."""
    oldest_due: float
    """Seconds the oldest delivery that is due, and not being sent, has waited (0: none waits)."""
    slots: dict[str, int]
    """Send slots taken per destination (in flight, or kept by a worker between two sends)."""


async def read_vitals(repo: Repository, workers: Workers | None, limiter: RedisLimiter | None, slots: Slots) -> Vitals:
    now = utcnow()
    oldest = await repo.oldest_due(now)
    return Vitals(
        workers=await workers.alive() if workers is not None else None,
        oldest_due=max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0,
        slots=await limiter.held() if limiter is not None else slots.in_use(),
    )
