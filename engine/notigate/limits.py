"""At most N sends in flight per destination, across every worker.

One slow endpoint must not take every worker slot and starve the others. A slot is a
member of a per-destination set with an expiry (the attempt's lease), so a worker that
dies holding one frees it when the lease runs out. On Redis the check-and-take is one
Lua script (atomic across processes); the embedded default, where every send runs in one
process, needs only ``Slots``' own count.

A worker runs many sends at once, so the Redis limiter sends every acquire and release
asked for in one turn of the event loop as one pipeline (a ``Batcher``: one round trip,
one connection checkout) instead of a round trip each.

``Slots`` puts a queue in this process in front of the shared limiter: a send that finds its
destination's local slots taken waits its turn while the destination's sends keep ending
(``TURNOVER``), for half its lease at most, instead of being put back at once; so a burst
for a fast endpoint drains at its limit rather than bouncing through the queue, and a
stalled endpoint's sends never sit in a worker's job slots. ``Budget`` caps the deliveries a
worker holds claimed at once, so those waiting their turn get it within their lease.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

import msgspec
from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from notigate.batching import Batcher

_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0
"""


class Limiter(Protocol):
    async def acquire(self, destination: str, token: str, ttl: float) -> bool:
        """Take one of the destination's slots for ``token``; False when all are in use."""
        ...

    async def release(self, destination: str, token: str) -> None: ...


_Call = tuple[str, str, tuple[Any, ...]]  # (acquire|release, key, args)


class RedisLimiter:
    """Slots shared by every worker, in a sorted set per destination (score = expiry)."""

    def __init__(self, redis: Callable[[], Redis], limit: int, prefix: str) -> None:
        self._redis, self.limit, self.prefix = redis, limit, prefix
        self._calls: Batcher[_Call, Any] = Batcher(self._flush)
        self._sha: str | None = None

    async def acquire(self, destination: str, token: str, ttl: float) -> bool:
        now_ms = int(time.time() * 1000)
        ttl_ms = int(ttl * 1000)
        args = (now_ms, self.limit, token, now_ms + ttl_ms, ttl_ms)
        return bool(await self._calls(("acquire", self.prefix + destination, args)))

    async def release(self, destination: str, token: str) -> None:
        await self._calls(("release", self.prefix + destination, (token,)))

    async def _flush(self, batch: list[_Call]) -> list[Any]:
        redis = self._redis()
        if self._sha is None:
            self._sha = await redis.script_load(_ACQUIRE)
        results = await self._pipeline(redis, batch)
        lost = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if lost:  # Redis restarted or its scripts were flushed: load again, retry those
            self._sha = await redis.script_load(_ACQUIRE)
            for i, r in zip(lost, await self._pipeline(redis, [batch[i] for i in lost]), strict=True):
                results[i] = r
        return results

    async def _pipeline(self, redis: Redis, batch: list[_Call]) -> list[Any]:
        async with redis.pipeline(transaction=False) as pipe:
            for op, key, args in batch:
                if op == "acquire":
                    pipe.evalsha(self._sha, 1, key, *args)  # type: ignore[arg-type]
                else:
                    pipe.zrem(key, *args)
            return list(await pipe.execute(raise_on_error=False))


TURNOVER = 0.5
"""A destination none of whose sends ended for this long is stalled: sends to it stop waiting for a slot."""


class _Local(msgspec.Struct):
    free: int
    """Local slots nobody holds."""
    turnover: float
    """When a send to the destination last ended (or it was first seen), on the loop's clock."""
    users: int = 0
    """Sends holding or waiting for a slot."""
    waiting: collections.deque[asyncio.Future[bool]] = msgspec.field(default_factory=collections.deque)
    watchdog: asyncio.TimerHandle | None = None
    idle: list[tuple[str, float]] = msgspec.field(default_factory=list)
    """Shared-limiter slots this process holds between two sends: (token, expiry on the monotonic clock)."""
    busy: dict[str, float] = msgspec.field(default_factory=dict)


class Slots:
    """A destination's send slots: first one of this process's (waiting in turn, see
    ``_wait_for_local``), then one of the shared ``limiter`` (never waiting: another worker holds it);
    with no ``limiter`` (the embedded default) this process is the only one sending.

    While sends for a destination keep coming, this process keeps its shared slots and
    hands them from one send to the next, taking them again only to extend their lease;
    it gives them back when its last send for the destination ends. So a burst costs two
    limiter calls per slot, not per send. The limit stays exact across workers; a worker
    with a steady stream for one destination keeps its slots, and the others' sends to it
    wait in the queue meanwhile.
    """

    def __init__(self, limiter: Limiter | None, limit: int) -> None:
        self.limiter, self.limit = limiter, limit
        self._local: dict[str, _Local] = {}
        self._tokens = (f"{uuid.uuid4().hex[:12]}:{n}" for n in itertools.count())

    async def acquire(self, destination: str, ttl: float) -> str | None:
        """A slot's token, held for at least ``ttl``/2 from now; None when none freed up in time
        (the caller puts the send back). Waits ``ttl``/2 at most, leaving the send the other half."""
        local = self._local.get(destination)
        if local is None:
            local = self._local[destination] = _Local(free=self.limit, turnover=asyncio.get_running_loop().time())
        local.users += 1
        if not await self._wait_for_local(local, ttl / 2):
            self._leave(destination, local)
            return None
        token, expires = local.idle.pop() if local.idle else (next(self._tokens), 0.0)
        now = time.monotonic()
        if self.limiter is not None and expires - now < ttl / 2:  # not held (long enough): (re)take it
            try:
                taken = await self.limiter.acquire(destination, token, ttl)
            except BaseException:
                self._leave(destination, local, release=True)
                raise
            if not taken:
                self._leave(destination, local, release=True)
                return None
            expires = now + ttl
        local.busy[token] = expires
        return token

    async def release(self, destination: str, token: str) -> None:
        """Hand the slot to the next send; the last one gives every slot back to the shared limiter."""
        local = self._local[destination]
        local.turnover = asyncio.get_running_loop().time()
        local.idle.append((token, local.busy.pop(token)))
        if self._leave(destination, local, release=True) and self.limiter is not None:
            await asyncio.gather(*(self.limiter.release(destination, t) for t, _ in local.idle))

    async def _wait_for_local(self, local: _Local, wait: float) -> bool:
        """Take a local slot; wait for one (in turn) only while the destination's sends keep ending
        (one ended within ``TURNOVER``), and for ``wait`` at most. A stalled destination's sends
        stop waiting: they would hold the worker's job slots that other destinations need."""
        if local.free and not local.waiting:
            local.free -= 1
            return True
        loop = asyncio.get_running_loop()
        if loop.time() - local.turnover > TURNOVER:
            return False
        turn: asyncio.Future[bool] = loop.create_future()
        local.waiting.append(turn)
        if local.watchdog is None:
            local.watchdog = loop.call_at(local.turnover + TURNOVER, self._check_stalled, local)
        try:
            async with asyncio.timeout(wait):
                return await turn
        except (TimeoutError, asyncio.CancelledError) as exc:
            won = turn.done() and not turn.cancelled() and turn.result()  # a slot came with the interruption
            if not turn.done():
                local.waiting.remove(turn)
            if isinstance(exc, TimeoutError):
                return won
            if won:
                self._free_local(local)
            raise

    def _check_stalled(self, local: _Local) -> None:
        """No send ended for ``TURNOVER``: the waiting sends give up (they are put back); else look again."""
        local.watchdog = None
        if not local.waiting:
            return
        loop = asyncio.get_running_loop()
        if loop.time() - local.turnover > TURNOVER:
            while local.waiting:
                if not (turn := local.waiting.popleft()).done():
                    turn.set_result(False)
        else:
            local.watchdog = loop.call_at(local.turnover + TURNOVER, self._check_stalled, local)

    def _free_local(self, local: _Local) -> None:
        """A local slot is free: hand it to the next waiting send, if any."""
        while local.waiting:
            if not (turn := local.waiting.popleft()).done():
                turn.set_result(True)
                return
        local.free += 1

    def _leave(self, destination: str, local: _Local, *, release: bool = False) -> bool:
        """One send is done with ``local``; True if it was the last (the destination is forgotten)."""
        if release:
            self._free_local(local)
        local.users -= 1
        if local.users:
            return False
        if local.watchdog is not None:
            local.watchdog.cancel()
        if self._local.get(destination) is local:
            del self._local[destination]
        return True


class Budget:
    """At most ``capacity`` deliveries claimed at once in this process; ``take(n)`` is all-or-nothing,
    so jobs waiting for part of what they need can never hold it all between them."""

    def __init__(self, capacity: int) -> None:
        self.capacity, self.free = capacity, capacity
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def take(self, n: int) -> AsyncIterator[None]:
        n = min(n, self.capacity)  # a batch larger than the whole budget runs alone
        async with self._changed:
            await self._changed.wait_for(lambda: self.free >= n)
            self.free -= n
        try:
            yield
        finally:
            self.free += n
            async with self._changed:
                self._changed.notify_all()
