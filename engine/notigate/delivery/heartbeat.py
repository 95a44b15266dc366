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
import functools
import logging
import os
import socket
import uuid
from collections.abc import Callable, Coroutine, Iterator
from datetime import timedelta
from typing import Any

from notigate.clock import utcnow
from notigate.delivery.limits import Slots
from notigate.delivery.worker_registry import WorkerBeat, Workers
from notigate.storage.repository import Repository

log = logging.getLogger(__name__)


class Heartbeat:
    """Renews this process's leases; with ``workers`` (``notigate worker``) also publishes its record.

    The three renewals (claims in the database, slots and job marks in Redis) run apart: one
    that hangs (a pool waiting for a connection) does not hold back the others, and is not
    started again until it ends.
    """

    def __init__(self, repo: Repository, slots: Slots, lease: float, workers: Workers | None = None) -> None:
        self.repo, self.slots, self.lease, self.workers = repo, slots, lease, workers
        self._claimed: dict[str, int] = {}
        """Deliveries this process has claimed and not finished, with the attempt it claimed."""
        self._jobs: set[str] = set()
        """arq jobs running in this process."""
        self._renewing: dict[str, asyncio.Task[None]] = {}
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.started_at = utcnow()

    @contextlib.contextmanager
    def holding(self, claims: dict[str, int]) -> Iterator[None]:
        """The deliveries claimed (id → attempt) are this process's to renew while inside."""
        self._claimed.update(claims)
        try:
            yield
        finally:
            for delivery_id in claims:
                self._claimed.pop(delivery_id, None)

    @contextlib.contextmanager
    def running(self, job_id: str) -> Iterator[None]:
        """The arq job's in-progress mark is this process's to renew while inside."""
        self._jobs.add(job_id)
        try:
            yield
        finally:
            self._jobs.discard(job_id)

    async def beat(self) -> None:
        """Renew everything this process holds for one more lease; each renewal waits at most a third of
        a lease here, and a part that fails (a Redis or database blip) is logged without stopping the others."""
        until = utcnow() + timedelta(seconds=self.lease)
        parts: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {
            "claims": lambda: self.repo.renew_leases(dict(self._claimed), until),
            "slots": self.slots.renew,
        }
        if self.workers is not None:
            workers, record, jobs = self.workers, self.record(), sorted(self._jobs)
            parts["jobs"] = lambda: workers.beat(record, jobs, self.lease)
        for name, renew in parts.items():
            if name not in self._renewing:
                task = self._renewing[name] = asyncio.create_task(renew())
                task.add_done_callback(functools.partial(self._ended, name))
        if self._renewing:
            await asyncio.wait(list(self._renewing.values()), timeout=self.lease / 3)

    def _ended(self, name: str, task: asyncio.Task[None]) -> None:
        del self._renewing[name]
        if not task.cancelled() and (error := task.exception()) is not None:
            log.warning("heartbeat: renewing %s failed: %s: %s", name, type(error).__name__, error)

    def record(self) -> WorkerBeat:
        return WorkerBeat(
            id=self.id,
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=self.started_at,
            beat_at=utcnow(),
            jobs=len(self._jobs),
            claimed=len(self._claimed),
            sending=self.slots.in_use(),
        )

    async def run(self, stopping: asyncio.Event) -> None:
        """Beat now and every ``lease``/3 until ``stopping``; a worker stopping cleanly then leaves the registry."""
        while not stopping.is_set():
            try:
                await self.beat()
            except Exception:  # a bug must not end the heartbeat: the process would lose what it holds
                log.exception("heartbeat failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.lease / 3)
        if self._renewing:  # not cancelled: a query cut mid-way can wedge the pool
            await asyncio.wait(list(self._renewing.values()), timeout=2)
        if self.workers is not None:
            try:
                await asyncio.wait_for(self.workers.leave(self.id), 2)
            except Exception as exc:  # the record expires with its lease
                log.warning("heartbeat: could not leave the worker registry: %s", type(exc).__name__)
