"""At most N sends in flight per destination, across every worker.

One slow endpoint must not take every worker slot and starve the others. A slot is a
member of a per-destination set with an expiry (the attempt's lease), so a worker that
dies holding one frees it when the lease runs out. On Redis the check-and-take is one
Lua script (atomic across processes); the embedded default keeps the same structure
in memory, since everything runs in one process there.

A worker runs many sends at once, so the Redis limiter sends every acquire and release
asked for in one turn of the event loop as one pipeline (one round trip, one connection
checkout) instead of a round trip each.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

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


class MemoryLimiter:
    """Slots in this process (the embedded default runs every delivery in one process)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._slots: dict[str, dict[str, float]] = {}

    async def acquire(self, destination: str, token: str, ttl: float) -> bool:
        now = time.monotonic()
        slots = {t: exp for t, exp in self._slots.get(destination, {}).items() if exp > now}
        self._slots[destination] = slots
        if token not in slots and len(slots) >= self.limit:
            return False
        slots[token] = now + ttl
        return True

    async def release(self, destination: str, token: str) -> None:
        self._slots.get(destination, {}).pop(token, None)


_Call = tuple[str, str, tuple[Any, ...], "asyncio.Future[Any]"]  # (acquire|release, key, args, answer)


class RedisLimiter:
    """Slots shared by every worker, in a sorted set per destination (score = expiry)."""

    def __init__(self, redis: Callable[[], Redis], limit: int, prefix: str) -> None:
        self._redis, self.limit, self.prefix = redis, limit, prefix
        self._pending: list[_Call] = []
        self._flushing: set[asyncio.Task[None]] = set()
        self._sha: str | None = None

    async def acquire(self, destination: str, token: str, ttl: float) -> bool:
        now_ms = int(time.time() * 1000)
        ttl_ms = int(ttl * 1000)
        args = (now_ms, self.limit, token, now_ms + ttl_ms, ttl_ms)
        return bool(await self._call("acquire", self.prefix + destination, args))

    async def release(self, destination: str, token: str) -> None:
        await self._call("release", self.prefix + destination, (token,))

    def _call(self, op: str, key: str, args: tuple[Any, ...]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        answer = loop.create_future()
        if not self._pending:  # the first call of this turn schedules the flush after the others
            loop.call_soon(self._flush_soon)
        self._pending.append((op, key, args, answer))
        return answer

    def _flush_soon(self) -> None:
        batch, self._pending = self._pending, []
        task = asyncio.ensure_future(self._flush(batch))
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _flush(self, batch: list[_Call]) -> None:
        try:
            redis = self._redis()
            if self._sha is None:
                self._sha = await redis.script_load(_ACQUIRE)
            results = await self._pipeline(redis, batch)
            lost = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
            if lost:  # Redis restarted or its scripts were flushed: load again, retry those
                self._sha = await redis.script_load(_ACQUIRE)
                for i, r in zip(lost, await self._pipeline(redis, [batch[i] for i in lost]), strict=True):
                    results[i] = r
        except Exception as exc:
            results = [exc] * len(batch)
        for (_, _, _, answer), result in zip(batch, results, strict=True):
            if answer.done():  # its caller was cancelled
                continue
            if isinstance(result, Exception):
                answer.set_exception(result)
            else:
                answer.set_result(result)

    async def _pipeline(self, redis: Redis, batch: list[_Call]) -> list[Any]:
        async with redis.pipeline(transaction=False) as pipe:
            for op, key, args, _ in batch:
                if op == "acquire":
                    pipe.evalsha(self._sha, 1, key, *args)  # type: ignore[arg-type]
                else:
                    pipe.zrem(key, *args)
            return list(await pipe.execute(raise_on_error=False))
