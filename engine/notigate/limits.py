"""At most N sends in flight per destination, across every worker.

One slow endpoint must not take every worker slot and starve the others. A slot is a
member of a per-destination set with an expiry (the attempt's lease), so a worker that
dies holding one frees it when the lease runs out. On Redis the check-and-take is one
Lua script (atomic across processes); the embedded default keeps the same structure
in memory, since everything runs in one process there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis

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


class RedisLimiter:
    """Slots shared by every worker, in a sorted set per destination (score = expiry)."""

    def __init__(self, redis: Callable[[], Redis], limit: int, prefix: str) -> None:
        self._redis, self.limit, self.prefix = redis, limit, prefix

    async def acquire(self, destination: str, token: str, ttl: float) -> bool:
        now_ms = int(time.time() * 1000)
        ttl_ms = int(ttl * 1000)
        script = self._redis().register_script(_ACQUIRE)  # cheap: the script object caches its SHA
        taken = await script(keys=[self.prefix + destination], args=[now_ms, self.limit, token, now_ms + ttl_ms, ttl_ms])
        return bool(taken)

    async def release(self, destination: str, token: str) -> None:
        await self._redis().zrem(self.prefix + destination, token)
