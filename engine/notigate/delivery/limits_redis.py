"""Send slots shared by every worker, in Redis: a sorted set per destination, changed by one Lua script.

Beside each destination's slots (token → expiry) the script keeps the processes waiting for one
and when a send to it last ended, so ``Slots`` can share a destination fairly between workers and
tell a stalled one from a busy one. Every call asked for in one turn of the event loop goes as one
pipeline (a ``Batcher``: one round trip, one connection checkout) instead of a round trip each.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from notigate import blips
from notigate.delivery.limits import Answer
from notigate.storage.batching import Batcher

_SLOTS = """
-- KEYS: a destination's slots (token '<process>:<n>' -> expiry, ms), the processes waiting for one
-- (process -> expiry), and when a send to it last ended (ms). ARGV: mode, limit, ttl, process, tokens...
-- Times are Redis's own clock, so the hosts' clocks need not agree.
-- Returns {tokens left without a slot, other processes holding or waiting for a slot,
--          ms since a send to the destination last ended (-1: none ever did)}.
local mode, limit, ttl, me = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local slots, waiting, moved = KEYS[1], KEYS[2], KEYS[3]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', waiting, '-inf', now)
local held, others, seen = 0, 0, {}
local function count(process)
  if process == me then return end
  if not seen[process] then seen[process] = true; others = others + 1 end
end
for _, t in ipairs(redis.call('ZRANGEBYSCORE', slots, now, '+inf')) do
  local process = string.match(t, '^(.*):') or t
  if process == me then held = held + 1 else count(process) end
end
for _, process in ipairs(redis.call('ZRANGE', waiting, 0, -1)) do count(process) end
local refused = {}
if mode == 'pulse' then  -- a send of `me` ended
  redis.call('SET', moved, now, 'PX', 60000)
elseif mode == 'keep' then  -- extend the slots these tokens still hold
  for i = 5, #ARGV do
    if redis.call('ZSCORE', slots, ARGV[i]) then
      redis.call('ZADD', slots, now + ttl, ARGV[i])
    else
      refused[#refused + 1] = ARGV[i]
    end
  end
  if #refused < #ARGV - 4 then redis.call('PEXPIRE', slots, ttl) end
else  -- 'take' a slot for one token: a free one, unless others want them and `me` holds its share already
  redis.call('ZREMRANGEBYSCORE', slots, '-inf', now)
  local token = ARGV[5]
  if redis.call('ZSCORE', slots, token) or (redis.call('ZCARD', slots) < limit
      and (others == 0 or held < math.ceil(limit / (others + 1)))) then
    redis.call('ZADD', slots, now + ttl, token)
    redis.call('PEXPIRE', slots, ttl)
    redis.call('ZREM', waiting, me)
  else
    refused[1] = token
    redis.call('ZADD', waiting, now + 1000, me)
    redis.call('PEXPIRE', waiting, 60000)
  end
end
local last = tonumber(redis.call('GET', moved))
return {refused, others, last and now - last or -1}
"""


_Call = tuple[str, str, tuple[Any, ...]]  # (slots|release, destination, args)


class RedisLimiter:
    """Slots shared by every worker, in a sorted set per destination (score = expiry), beside the
    processes waiting for one and the time a send last ended, all changed by one Lua script."""

    def __init__(self, redis: Callable[[], Redis], limit: int, prefix: str) -> None:
        self._redis, self.limit, self.prefix = redis, limit, prefix
        self.process = uuid.uuid4().hex[:12]
        self._calls: Batcher[_Call, Any] = Batcher(self._flush)
        self._sha: str | None = None

    async def acquire(self, destination: str, token: str, ttl: float) -> Answer:
        return await self._run("take", destination, [token], ttl)

    async def keep(self, destination: str, tokens: list[str], ttl: float) -> list[str]:
        return (await self._run("keep", destination, tokens, ttl)).refused

    async def pulse(self, destination: str) -> Answer:
        return await self._run("pulse", destination, [], 0)

    async def _run(self, mode: str, destination: str, tokens: list[str], ttl: float) -> Answer:
        args = (mode, self.limit, int(ttl * 1000), self.process, *tokens)
        refused, others, since = await self._calls(("slots", destination, args))
        return Answer(
            [t.decode() if isinstance(t, bytes) else str(t) for t in refused],
            int(others),
            int(since) / 1000 if int(since) >= 0 else None,
        )

    async def release(self, destination: str, token: str) -> None:
        await self._calls(("release", destination, (token,)))

    async def held(self) -> dict[str, int]:
        """Slots taken per destination, by every process (for the metrics: it scans Redis's keys)."""
        redis = self._redis()
        keys = [key async for key in redis.scan_iter(match=self.prefix + "*", count=500)]
        seconds, micros = await redis.time()
        now_ms = seconds * 1000 + micros // 1000
        async with redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.zcount(key, now_ms, "+inf")
            counts = await pipe.execute()
        return {key.decode()[len(self.prefix) :]: n for key, n in zip(keys, counts, strict=True) if n}

    def _keys(self, destination: str) -> tuple[str, str, str]:
        """The slots, the waiting processes and the last turnover: the last two under prefixes of their
        own, so a scan of ``prefix*`` sees slot sets only."""
        base = self.prefix.rstrip(":")
        return self.prefix + destination, f"{base}-waiting:{destination}", f"{base}-moved:{destination}"

    async def _flush(self, batch: list[_Call]) -> list[Any]:
        return await blips.REDIS(self._flush_once, batch)  # every call in it is safe to repeat

    async def _flush_once(self, batch: list[_Call]) -> list[Any]:
        redis = self._redis()
        if self._sha is None:
            self._sha = await redis.script_load(_SLOTS)
        results = await self._pipeline(redis, batch)
        lost = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if lost:  # Redis restarted or its scripts were flushed: load again, retry those
            self._sha = await redis.script_load(_SLOTS)
            for i, r in zip(lost, await self._pipeline(redis, [batch[i] for i in lost]), strict=True):
                results[i] = r
        return results

    async def _pipeline(self, redis: Redis, batch: list[_Call]) -> list[Any]:
        async with redis.pipeline(transaction=False) as pipe:
            for op, destination, args in batch:
                if op == "slots":
                    pipe.evalsha(self._sha, 3, *self._keys(destination), *args)  # type: ignore[arg-type]
                else:
                    pipe.zrem(self.prefix + destination, *args)
            return list(await pipe.execute(raise_on_error=False))
