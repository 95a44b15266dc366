"""A delivering process holds what it works on for one lease at a time, and keeps renewing it.

Its claimed deliveries (``lease_until`` in the database), its send slots (in Redis) and
its running arq jobs (their in-progress marks) all expire one ``[delivery] lease`` after
the process stops renewing them. So a process killed with SIGKILL strands nothing for
longer than that: a live process's sweep then takes its deliveries back
(``Repository.recover_expired_leases``), the limiter gives its slots to others, and arq
runs its jobs again on another worker. The heartbeat renews all three every ``lease``/3,
so a beat that comes late on a loaded machine still leaves two beats of margin before
anything is taken from a live process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from datetime import timedelta

from notigate.clock import utcnow
from notigate.limits import Slots
from notigate.repository import Repository
from notigate.workers import WorkerBeat, Workers

log = logging.getLogger(__name__)


class Heartbeat:
    """Renews this process's leases; with ``workers`` (``notigate worker``) also publishes its record."""

    def __init__(self, repo: Repository, slots: Slots, lease: float, workers: Workers | None = None) -> None:
        self.repo, self.slots, self.lease, self.workers = repo, slots, lease, workers
        self.claimed: set[str] = set()
        """Deliveries this process has claimed and not yet finished."""
        self.jobs: set[str] = set()
        """arq jobs running in this process."""
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.started_at = utcnow()

    async def beat(self) -> None:
        """Renew everything this process holds for one more lease; a part that fails (a Redis or
        database blip) is logged and does not keep the others from being renewed."""
        until = utcnow() + timedelta(seconds=self.lease)
        steps = [self.repo.renew_leases(sorted(self.claimed), until), self.slots.renew()]
        if self.workers is not None:
            steps.append(self.workers.beat(self.record(), sorted(self.jobs), self.lease))
        for result in await asyncio.gather(*steps, return_exceptions=True):
            if isinstance(result, Exception):
                log.warning("heartbeat: %s: %s", type(result).__name__, result)

    def record(self) -> WorkerBeat:
        return WorkerBeat(id=self.id, host=socket.gethostname(), pid=os.getpid(), started_at=self.started_at,
                          beat_at=utcnow(), jobs=len(self.jobs), claimed=len(self.claimed),
                          sending=self.slots.in_use())

    async def run(self, stopping: asyncio.Event) -> None:
        """Beat now and every ``lease``/3 until ``stopping``; a worker stopping cleanly then leaves the registry."""
        while not stopping.is_set():
            try:
                await self.beat()  # not cut short: cancelling a query mid-way can wedge the pool
            except Exception:  # a bug must not end the heartbeat: the process would lose what it holds
                log.exception("heartbeat failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.lease / 3)
        if self.workers is not None:
            try:
                await asyncio.wait_for(self.workers.leave(self.id), 2)
            except Exception as exc:  # the record expires with its lease
                log.warning("heartbeat: could not leave the worker registry: %s", type(exc).__name__)
