"""Delivery queues: arq on Redis, or in-process on the embedded default.

Both carry only a delivery id and run the same job function. Job ids are
``<delivery id>:<attempt>``, so enqueueing the same step twice is (best effort)
deduplicated; the database decides what actually runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

import msgspec
from arq.connections import ArqRedis, RedisSettings
from arq.constants import in_progress_key_prefix, job_key_prefix
from arq.jobs import serialize_job
from redis.asyncio import ConnectionPool

from notigate.clock import utcnow

log = logging.getLogger(__name__)

JobHandler = Callable[[str], Awaitable[None]]
JOB_NAME = "deliver"


def serialize(data: dict[str, object]) -> bytes:
    """arq job serializer: msgpack via msgspec, never pickle."""
    return msgspec.msgpack.encode(data)


def deserialize(data: bytes) -> dict[str, object]:
    return msgspec.msgpack.decode(data)  # type: ignore[no-any-return]


def job_id(delivery_id: str, attempts: int, tag: str = "") -> str:
    """``<delivery>:<attempts>`` (plus a tag for a deferral, which reuses the attempt number)."""
    return f"{delivery_id}:{attempts}:{tag}" if tag else f"{delivery_id}:{attempts}"


class Queue(Protocol):
    """Where due deliveries wait for a worker."""

    async def enqueue(self, delivery_id: str, attempts: int, at: datetime | None = None, tag: str = "") -> None:
        """Schedule a delivery step (``attempts`` already made) at ``at`` (None: now)."""
        ...

    async def enqueue_new(self, delivery_ids: list[str]) -> None:
        """Enqueue the first attempt of deliveries just created (their job ids cannot exist yet)."""
        ...

    async def requeue(self, delivery_id: str, attempts: int) -> bool:
        """Enqueue again unless the step is queued or running; True if it was lost."""
        ...

    async def depth(self) -> int:
        """Jobs waiting (scheduled or due)."""
        ...

    async def ping(self) -> None:
        """Raise if the queue cannot be reached."""
        ...

    async def close(self) -> None: ...


async def enqueue_due(queue: Queue, steps: list[tuple[str, int]], tag: str = "") -> None:
    """Enqueue deliveries just made due in the database (a replay, an endpoint enabled again).

    A failed enqueue is left to the outbox sweep: the database already says they are due.
    """
    for delivery_id, attempts in steps:
        try:
            await queue.enqueue(delivery_id, attempts, tag=tag)
        except Exception as exc:
            log.warning("enqueue of %s failed (%s); the sweep will pick it up", delivery_id, type(exc).__name__)


class ArqQueue:
    """Producer side of the arq queue; ``notigate worker`` runs the consumer."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.settings = RedisSettings.from_dsn(url)
        self.name = name
        self._pool: ArqRedis | None = None

    async def start(self) -> None:
        """Set up the client without connecting: a dead Redis must not stop the API from
        accepting callbacks (they are stored; the sweep enqueues them once Redis is back)."""
        pool = ConnectionPool.from_url(self.url, socket_connect_timeout=2, socket_timeout=5, socket_keepalive=True,
                                       health_check_interval=30)
        self._pool = ArqRedis(connection_pool=pool, job_serializer=serialize, job_deserializer=deserialize,
                              default_queue_name=self.name)

    @property
    def pool(self) -> ArqRedis:
        if self._pool is None:
            raise RuntimeError("ArqQueue.start() was not awaited")
        return self._pool

    async def enqueue(self, delivery_id: str, attempts: int, at: datetime | None = None, tag: str = "") -> None:
        await self.pool.enqueue_job(JOB_NAME, delivery_id, _job_id=job_id(delivery_id, attempts, tag),
                                    _defer_until=at, _queue_name=self.name)

    async def enqueue_new(self, delivery_ids: list[str]) -> None:
        """The first jobs of new deliveries in one round trip (one MULTI of arq's own job format).

        arq's ``enqueue_job`` WATCHes and checks the job key first (three round trips);
        a brand-new delivery id cannot have a job yet, and if this write is lost anyway
        the outbox sweep re-enqueues it.
        """
        now = int(time.time() * 1000)
        async with self.pool.pipeline(transaction=False) as pipe:  # a job key left alone is requeued by the sweep
            for delivery_id in delivery_ids:
                jid = job_id(delivery_id, 0)
                job = serialize_job(JOB_NAME, (delivery_id,), {}, None, now, serializer=serialize)
                pipe.psetex(job_key_prefix + jid, self.pool.expires_extra_ms, job)
                pipe.zadd(self.name, {jid: now})
            await pipe.execute()

    async def requeue(self, delivery_id: str, attempts: int) -> bool:
        """A job key can outlive its queue entry (a partial flush, a lost write): drop it and enqueue."""
        jid = job_id(delivery_id, attempts)
        async with self.pool.pipeline(transaction=False) as pipe:
            pipe.zscore(self.name, jid)
            pipe.exists(in_progress_key_prefix + jid)
            queued, running = await pipe.execute()
        if queued is not None or running:
            return False
        await self.pool.delete(job_key_prefix + jid)
        await self.enqueue(delivery_id, attempts)
        return True

    async def depth(self) -> int:
        return int(await self.pool.zcard(self.name))

    async def ping(self) -> None:
        await asyncio.wait_for(self.pool.ping(), 2)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()


class InProcessQueue:
    """Timers in this event loop; at most ``concurrency`` jobs run at once.

    Nothing here is durable, and nothing needs to be: on start the sweep finds every
    pending delivery in the database and schedules it again.
    """

    def __init__(self, concurrency: int = 100) -> None:
        self._handler: JobHandler | None = None
        self._closed = False
        self._limit = asyncio.Semaphore(concurrency)
        self._scheduled: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, handler: JobHandler) -> None:
        self._handler = handler

    async def enqueue(self, delivery_id: str, attempts: int, at: datetime | None = None, tag: str = "") -> None:
        key = job_id(delivery_id, attempts, tag)
        if self._handler is None or self._closed:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, (at - utcnow()).total_seconds()) if at else 0.0
        if (scheduled := self._scheduled.get(key)) is not None:
            if scheduled.when() <= loop.time() + delay:
                return
            scheduled.cancel()  # due earlier than planned (a test moved the clock, an endpoint came back)
        self._scheduled[key] = loop.call_later(delay, self._spawn, key, delivery_id)

    def _spawn(self, key: str, delivery_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self._run(key, delivery_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, key: str, delivery_id: str) -> None:
        assert self._handler is not None
        try:
            async with self._limit:
                await self._handler(delivery_id)
        except Exception:
            log.exception("delivery %s failed in the in-process queue", delivery_id)
        finally:
            self._scheduled.pop(key, None)

    async def enqueue_new(self, delivery_ids: list[str]) -> None:
        for delivery_id in delivery_ids:
            await self.enqueue(delivery_id, 0)

    async def requeue(self, delivery_id: str, attempts: int) -> bool:
        lost = job_id(delivery_id, attempts) not in self._scheduled
        await self.enqueue(delivery_id, attempts)
        return lost

    async def depth(self) -> int:
        return len(self._scheduled)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._closed = True
        for handle in self._scheduled.values():
            handle.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._scheduled.clear()
