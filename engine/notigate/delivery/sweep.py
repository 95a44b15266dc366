"""The outbox sweep: what the queue may have lost, found in the database and queued again.

The database is the source of truth and the queue only carries ids, so a delivery whose job
is gone (Redis flushed, a process killed between commit and enqueue) or whose worker died
mid-send (its lease expired) is still due in the database. Every delivering process sweeps
every ``[delivery] sweep_interval``; a job queued twice is harmless (the claim decides).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from notigate.clock import utcnow
from notigate.delivery.queue import Queue
from notigate.storage.repository import Repository

log = logging.getLogger(__name__)


class OutboxSweep:
    def __init__(self, repo: Repository, queue: Queue, interval: float) -> None:
        self.repo, self.queue, self.interval = repo, queue, interval

    async def once(self) -> int:
        """Take back expired leases and re-enqueue every due delivery no job carries; return how many."""
        recovered = await self.repo.recover_expired_leases()
        for delivery_id, attempts in recovered:
            await self.queue.enqueue(delivery_id, attempts)
        due = await self.repo.due(horizon=utcnow())
        queued = await self.queue.queued() if due else set()  # read after `due`: a job done since is only redundant
        lost = [(delivery_id, attempts) for delivery_id, attempts, _ in due if delivery_id not in queued]
        for delivery_id, attempts in lost:
            await self.queue.requeue(delivery_id, attempts)
        return len(recovered) + len(lost)

    async def run(self, stopping: asyncio.Event) -> None:
        """Sweep every ``interval`` until ``stopping`` is set, between two passes (cancelling one
        mid-query can wedge the pool)."""
        while not stopping.is_set():
            try:
                await asyncio.wait_for(self.once(), max(30.0, 3 * self.interval))
            except Exception as exc:  # a dead Redis or database delays delivery; it must not stop the sweep
                log.warning("outbox sweep failed: %s: %s", type(exc).__name__, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.interval)
