"""The live ``notigate worker`` processes of one queue, as each one's heartbeat leaves them in Redis.

A worker writes a short record of itself (what it runs, holds and sends) every
heartbeat, with an expiry of one lease; a record that stops being renewed is a dead
worker. API processes read the records for ``/health/ready`` and ``/metrics``. The same
round trip keeps the worker's running arq jobs marked in progress for one more lease
(see ``worker.build_worker``): a job whose worker died runs again once its mark expires.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime

import msgspec
from arq.constants import in_progress_key_prefix
from redis.asyncio import Redis


class WorkerBeat(msgspec.Struct, frozen=True, kw_only=True):
    """One worker's last heartbeat."""

    id: str
    host: str
    pid: int
    started_at: datetime
    beat_at: datetime
    jobs: int
    """arq jobs running."""
    claimed: int
    """Deliveries claimed and not yet finished."""
    sending: dict[str, int] = {}
    """Sends in flight per destination."""


class Workers:
    """Heartbeat records under ``<queue>:workers`` (a sorted set of worker ids by expiry) and
    ``<queue>:worker:<id>`` (the record, expiring with it)."""

    def __init__(self, redis: Callable[[], Redis], queue_name: str) -> None:
        self._redis, self._index, self._prefix = redis, f"{queue_name}:workers", f"{queue_name}:worker:"

    async def beat(self, beat: WorkerBeat, jobs: Iterable[str], lease: float) -> None:
        """Record ``beat`` for one lease and keep ``jobs`` (arq job ids) in progress as long."""
        lease_ms = int(lease * 1000)
        async with self._redis().pipeline(transaction=False) as pipe:
            pipe.set(self._prefix + beat.id, msgspec.json.encode(beat), px=lease_ms)
            pipe.zadd(self._index, {beat.id: int(time.time() * 1000) + lease_ms})
            for job_id in jobs:
                pipe.pexpire(in_progress_key_prefix + job_id, lease_ms)
            await pipe.execute()

    async def leave(self, worker_id: str) -> None:
        """A worker that stops cleanly takes its record away at once."""
        async with self._redis().pipeline(transaction=False) as pipe:
            pipe.delete(self._prefix + worker_id)
            pipe.zrem(self._index, worker_id)
            await pipe.execute()

    async def alive(self) -> list[WorkerBeat]:
        """The workers whose lease still runs, oldest first; forgets the others."""
        redis = self._redis()
        await redis.zremrangebyscore(self._index, "-inf", int(time.time() * 1000))
        ids = [i.decode() for i in await redis.zrange(self._index, 0, -1)]
        if not ids:
            return []
        records = await redis.mget([self._prefix + i for i in ids])
        return [msgspec.json.decode(r, type=WorkerBeat) for r in records if r is not None]
