"""Delivery queues: arq on Redis, or in-process on the embedded default.

Both carry only delivery ids and run the same job function. A step of one delivery (a
retry, a deferral, a replay) is a job with the id ``<delivery id>:<attempt>``, so enqueueing
the same step twice is (best effort) deduplicated. New deliveries travel in batches: the
API gathers the deliveries it stores within ``BATCH_WINDOW`` into one ``deliver_batch`` job
(``b:<first delivery id>``), so a worker claims, sends and records them together instead
of paying the queue's per-job round trips for each. Either way the database decides
what actually runs.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol

import msgspec
from arq.connections import ArqRedis, RedisSettings
from arq.constants import job_key_prefix
from arq.jobs import deserialize_job, serialize_job
from redis.asyncio import ConnectionPool

from notigate import blips
from notigate.clock import utcnow
from notigate.storage.batching import Batcher

log = logging.getLogger(__name__)

JobHandler = Callable[[str], Awaitable[None]]
JOB_NAME = "deliver"
BATCH_JOB = "deliver_batch"
BATCH_PREFIX = "b:"
BATCH_WINDOW = 0.01
"""Seconds the API gathers new deliveries into one job (a callback's answer does not wait for it)."""
MAX_BATCH = 100


def _plain(value: object) -> str:
    """What msgpack cannot carry (the exception in the result of a job arq could not run) as text."""
    return f"{type(value).__name__}: {value}"


def serialize(data: dict[str, object]) -> bytes:
    """arq job serializer: msgpack via msgspec, never pickle."""
    return msgspec.msgpack.encode(data, enc_hook=_plain)


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
        """Enqueue the first attempt of deliveries just created and committed (their job ids cannot
        exist yet). It may return before the job is written: a lost write is the sweep's to redo."""
        ...

    async def queued(self) -> set[str]:
        """Ids of the deliveries that jobs due by now, or running, carry (for the sweep: a delivery
        due in the database without one was lost, or is scheduled later than it is due)."""
        ...

    async def requeue(self, delivery_id: str, attempts: int) -> None:
        """Enqueue a step the queue lost (``queued`` does not know it), clearing what is left of it."""
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
        self._new: Batcher[list[str], None] = Batcher(self._write, window=BATCH_WINDOW, max_size=MAX_BATCH)

    async def start(self) -> None:
        """Set up the client without connecting: a dead Redis must not stop the API from
        accepting callbacks (they are stored; the sweep enqueues them once Redis is back)."""
        pool = ConnectionPool.from_url(
            self.url, socket_connect_timeout=2, socket_timeout=5, socket_keepalive=True, health_check_interval=30
        )
        self._pool = ArqRedis(
            connection_pool=pool, job_serializer=serialize, job_deserializer=deserialize, default_queue_name=self.name
        )

    @property
    def pool(self) -> ArqRedis:
        if self._pool is None:
            raise RuntimeError("ArqQueue.start() was not awaited")
        return self._pool

    async def enqueue(self, delivery_id: str, attempts: int, at: datetime | None = None, tag: str = "") -> None:
        # arq rounds a job's time and its own clock to the millisecond: a millisecond later, it never runs early
        at = at + timedelta(milliseconds=1) if at is not None else None
        await blips.REDIS(
            self.pool.enqueue_job,
            JOB_NAME,
            delivery_id,
            _job_id=job_id(delivery_id, attempts, tag),
            _defer_until=at,
            _queue_name=self.name,
        )  # a job id written twice is one job

    async def enqueue_new(self, delivery_ids: list[str]) -> None:
        """Add new deliveries to the batch being gathered, written within ``BATCH_WINDOW``.

        The caller does not wait for the write (the deliveries are committed: the outbox
        sweep enqueues them if it is lost), so gathering costs a callback no time.
        """
        self._new.submit(delivery_ids)

    async def _write(self, batch: list[list[str]]) -> list[None]:
        """One ``deliver_batch`` job per ``MAX_BATCH`` ids, all in one round trip.

        arq's ``enqueue_job`` WATCHes and checks the job key first (three round trips); a
        batch named after a brand-new delivery id cannot have a job yet, and if this write
        is lost anyway the outbox sweep enqueues its deliveries again.
        """
        ids = [i for delivery_ids in batch for i in delivery_ids]
        try:
            await blips.REDIS(self._write_batches, ids)
        except Exception as exc:
            log.warning(
                "enqueue of %d new deliveries failed (%s); the outbox sweep will enqueue them",
                len(ids),
                type(exc).__name__,
            )
        return [None] * len(batch)

    async def _write_batches(self, ids: list[str]) -> None:
        now = int(time.time() * 1000)
        async with self.pool.pipeline(transaction=False) as pipe:
            for start in range(0, len(ids), MAX_BATCH):
                chunk = ids[start : start + MAX_BATCH]
                jid = BATCH_PREFIX + chunk[0]
                job = serialize_job(BATCH_JOB, (chunk,), {}, None, now, serializer=serialize)
                pipe.psetex(job_key_prefix + jid, self.pool.expires_extra_ms, job)
                pipe.zadd(self.name, {jid: now})
            await pipe.execute()

    async def queued(self) -> set[str]:
        ids: set[str] = set()
        batches: list[str] = []
        soon = int(time.time() * 1000) + 1000  # arq scores "now" rounded; a job due within a second is not lost
        for raw in await self.pool.zrangebyscore(self.name, "-inf", soon):
            jid = raw.decode()
            if jid.startswith(BATCH_PREFIX):
                batches.append(job_key_prefix + jid)
            else:
                ids.add(jid.split(":", 1)[0])
        for start in range(0, len(batches), 500):
            for job in await self.pool.mget(batches[start : start + 500]):
                if job is not None:  # finished meanwhile
                    ids.update(deserialize_job(job, deserializer=deserialize).args[0])
        return ids

    async def requeue(self, delivery_id: str, attempts: int) -> None:
        """A job key can outlive its queue entry (a partial flush, a lost write): drop it and enqueue."""
        await self.pool.delete(job_key_prefix + job_id(delivery_id, attempts))
        await self.enqueue(delivery_id, attempts)

    async def depth(self) -> int:
        return int(await self.pool.zcard(self.name))

    async def ping(self) -> None:
        await asyncio.wait_for(self.pool.ping(), 2)

    async def close(self) -> None:
        await self._new.drain()
        if self._pool is not None:
            await self._pool.aclose()


class InProcessQueue:
    """Steps scheduled in this process by wall-clock time; at most ``concurrency`` run at once.

    One task runs every step whose time has come, sleeping until the earliest next one (a
    second at most, so a clock stepped forward, by NTP or a resumed machine, is noticed
    within a second instead of at the next sweep). Nothing here is durable, and nothing
    needs to be: on start the sweep finds every pending delivery in the database and
    schedules it again.
    """

    def __init__(self, concurrency: int = 100) -> None:
        self._handler: JobHandler | None = None
        self._closed = False
        self._limit = asyncio.Semaphore(concurrency)
        self._steps: list[tuple[datetime, str, str]] = []
        """A heap of (when, step key, delivery id); a key scheduled again earlier leaves a stale entry."""
        self._when: dict[str, datetime] = {}
        self._running: collections.Counter[str] = collections.Counter()
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._clock: asyncio.Task[None] | None = None

    def start(self, handler: JobHandler) -> None:
        self._handler = handler
        self._clock = asyncio.get_running_loop().create_task(self._run_due_steps())

    async def enqueue(self, delivery_id: str, attempts: int, at: datetime | None = None, tag: str = "") -> None:
        if self._handler is None or self._closed:
            return
        key = job_id(delivery_id, attempts, tag)
        when = at or utcnow()
        if (scheduled := self._when.get(key)) is not None and scheduled <= when:
            return
        self._when[key] = when
        heapq.heappush(self._steps, (when, key, delivery_id))
        self._changed.set()

    async def _run_due_steps(self) -> None:
        while not self._closed:
            try:
                await self._run_due_once()
            except Exception:  # a bug must not stop every delivery of this process
                log.exception("the in-process queue's clock failed; it goes on")
                await asyncio.sleep(1)

    async def _run_due_once(self) -> None:
        """Start every step whose time has come; sleep until the next one (a second at most)."""
        now = utcnow()
        while self._steps and self._steps[0][0] <= now:
            when, key, delivery_id = heapq.heappop(self._steps)
            if self._when.get(key) == when:  # else it was scheduled again, earlier, and has run
                del self._when[key]
                self._spawn(key, delivery_id)
        wait = min(1.0, (self._steps[0][0] - now).total_seconds()) if self._steps else 1.0
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), max(wait, 0.0))

    def _spawn(self, key: str, delivery_id: str) -> None:
        self._running[key] += 1
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
            self._running[key] -= 1
            if not self._running[key]:
                del self._running[key]

    async def enqueue_new(self, delivery_ids: list[str]) -> None:
        for delivery_id in delivery_ids:
            await self.enqueue(delivery_id, 0)

    async def queued(self) -> set[str]:
        now = utcnow()
        due = [key for key, when in self._when.items() if when <= now]
        return {key.split(":", 1)[0] for key in [*due, *self._running]}

    async def requeue(self, delivery_id: str, attempts: int) -> None:
        await self.enqueue(delivery_id, attempts)

    async def depth(self) -> int:
        return len(self._when) + len(self._running)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._closed = True
        self._changed.set()
        for task in [*self._tasks, *([self._clock] if self._clock else [])]:
            task.cancel()
        await asyncio.gather(*self._tasks, *([self._clock] if self._clock else []), return_exceptions=True)
        self._steps.clear()
        self._when.clear()
