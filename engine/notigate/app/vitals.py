"""What operators watch to know delivery keeps up: live workers and how long the oldest due
delivery has waited.

Read from the database and Redis, so every API process reports the same; ``/health/ready``
and ``/metrics`` both use it, at most once a second per process (``Gateway.vitals``).
"""

from __future__ import annotations

import msgspec

from notigate.clock import utcnow
from notigate.delivery.worker_registry import WorkerBeat, Workers
from notigate.storage.repository import Repository


class Vitals(msgspec.Struct, frozen=True, kw_only=True):
    workers: list[WorkerBeat] | None
    """The live ``notigate worker`` processes; None on the embedded queue (``serve`` delivers itself)."""
    oldest_due: float
    """Seconds the oldest delivery that is due, and not being sent, has waited (0: none waits)."""


async def read_vitals(repo: Repository, workers: Workers | None) -> Vitals:
    """Two cheap reads: the live workers' records, and the oldest due delivery (by its index)."""
    now = utcnow()
    oldest = await repo.oldest_due(now)
    return Vitals(
        workers=await workers.alive() if workers is not None else None,
        oldest_due=max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0,
    )
