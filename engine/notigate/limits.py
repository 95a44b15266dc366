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
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

import msgspec
from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from notigate import blips
from notigate.batching import Batcher

log = logging.getLogger(__name__)

_HOLD = """
-- KEYS[1]: a destination's slots (token -> expiry in ms). ARGV: mode, now, limit, expiry, ttl, tokens...
-- 'take': each token keeps its slot or takes a free one; 'keep': each token still holding one extends it.
-- Returns the tokens left without a slot.
local take = ARGV[1] == 'take'
if take then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2]) end
local refused = {}
for i = 6, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) or (take and redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3])) then
    redis.call('ZADD', KEYS[1], ARGV[4], ARGV[i])
  else
    refused[#refused + 1] = ARGV[i]
  end
end
if #refused < #ARGV - 5 then redis.call('PEXPIRE', KEYS[1], ARGV[5]) end
return refused
"""


class Limiter(Protocol):
    async def acquire(self, destination: str, token: str, ttl: float) -> bool:
        """Take one of the destination's slots for ``token`` (or extend its own); False when all are in use."""
        ...

    async def keep(self, destination: str, tokens: list[str], ttl: float) -> list[str]:
        """Extend the slots these tokens hold by ``ttl``; return those that no longer hold one."""
        ...

    async def release(self, destination: str, token: str) -> None: ...


_Call = tuple[str, str, tuple[Any, ...]]  # (hold|release, key, args)


class RedisLimiter:
    """Slots shared by every worker, in a sorted set per destination (score = expiry)."""

    def __init__(self, redis: Callable[[], Redis], limit: int, prefix: str) -> None:
        self._redis, self.limit, self.prefix = redis, limit, prefix
        self._calls: Batcher[_Call, Any] = Batcher(self._flush)
        self._sha: str | None = None

    async def acquire(self, destination: str, token: str, ttl: float) -> bool:
        return not await self._hold("take", destination, [token], ttl)

    async def keep(self, destination: str, tokens: list[str], ttl: float) -> list[str]:
        return await self._hold("keep", destination, tokens, ttl)

    async def _hold(self, mode: str, destination: str, tokens: list[str], ttl: float) -> list[str]:
        now_ms = int(time.time() * 1000)
        ttl_ms = int(ttl * 1000)
        refused = await self._calls(("hold", self.prefix + destination,
                                     (mode, now_ms, self.limit, now_ms + ttl_ms, ttl_ms, *tokens)))
        return [t.decode() if isinstance(t, bytes) else str(t) for t in refused]

    async def release(self, destination: str, token: str) -> None:
        await self._calls(("release", self.prefix + destination, (token,)))

    async def held(self) -> dict[str, int]:
        """Slots taken per destination, by every process (for the metrics)."""
        redis = self._redis()
        keys = [key async for key in redis.scan_iter(match=self.prefix + "*", count=500)]
        now_ms = int(time.time() * 1000)
        async with redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.zcount(key, now_ms, "+inf")
            counts = await pipe.execute()
        return {key.decode()[len(self.prefix):]: n for key, n in zip(keys, counts, strict=True) if n}

    async def _flush(self, batch: list[_Call]) -> list[Any]:
        return await blips.REDIS(self._flush_once, batch)  # every call in it is safe to repeat

    async def _flush_once(self, batch: list[_Call]) -> list[Any]:
        redis = self._redis()
        if self._sha is None:
            self._sha = await redis.script_load(_HOLD)
        results = await self._pipeline(redis, batch)
        lost = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if lost:  # Redis restarted or its scripts were flushed: load again, retry those
            self._sha = await redis.script_load(_HOLD)
            for i, r in zip(lost, await self._pipeline(redis, [batch[i] for i in lost]), strict=True):
                results[i] = r
        return results

    async def _pipeline(self, redis: Redis, batch: list[_Call]) -> list[Any]:
        async with redis.pipeline(transaction=False) as pipe:
            for op, key, args in batch:
                if op == "hold":
                    pipe.evalsha(self._sha, 1, key, *args)  # type: ignore[arg-type]
                else:
                    pipe.zrem(key, *args)
            return list(await pipe.execute(raise_on_error=False))


class SlotsUnavailable(Exception):
    """The shared limiter did not answer: the send waits, as when every slot is taken."""


TURNOVER = 0.5
"""A destination none of whose sends ended for this long is stalled: sends to it stop waiting for a slot."""


class _Local(msgspec.Struct):
    free: int
    """Local slots nobody holds."""
    turnover: float
    """When a send to the destination last ended (or it was first seen), on the loop's clock."""
    users: int = 0
    """Sends holding or waiting for a slot; the last one to leave gives every shared slot back."""
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

    A shared slot lasts ``ttl`` (the process's lease): ``renew``, run by the process's
    heartbeat, extends every slot it holds, so a live worker keeps them however long its
    sends take and a dead one's free up within ``ttl``.

    Every way out of ``acquire`` other than a token (refused, failed, cancelled) goes
    through ``_leave``, and the last send to leave a destination gives back every shared
    slot parked there, so no outcome strands a slot until it expires.
    """

    def __init__(self, limiter: Limiter | None, limit: int, ttl: float) -> None:
        self.limiter, self.limit, self.ttl = limiter, limit, ttl
        self._local: dict[str, _Local] = {}
        self._tokens = (f"{uuid.uuid4().hex[:12]}:{n}" for n in itertools.count())
        self._returning: set[asyncio.Task[None]] = set()

    async def acquire(self, destination: str, wait: float) -> str | None:
        """A slot's token, held for at least ``ttl``/2 from now; None when none freed up within
        ``wait`` (the caller puts the send back)."""
        local = self._local.get(destination)
        if local is None:
            local = self._local[destination] = _Local(free=self.limit, turnover=asyncio.get_running_loop().time())
        local.users += 1
        token: str | None = None
        try:
            if await self._wait_for_local(local, wait):
                try:
                    token = await self._shared(destination, local)
                finally:
                    if token is None:
                        self._free_local(local)
            return token
        finally:
            if token is None:
                self._leave(destination, local)

    async def _shared(self, destination: str, local: _Local) -> str | None:
        """A shared slot for a send that holds a local one: one parked by an earlier send while it is
        held long enough, else taken (or extended) from the limiter; None when other processes hold them all."""
        token, expires = local.idle.pop() if local.idle else (next(self._tokens), 0.0)
        now = time.monotonic()
        if self.limiter is not None and expires - now < self.ttl / 2:
            try:
                taken = await self.limiter.acquire(destination, token, self.ttl)
            except BaseException as exc:  # it may be held all the same (an answer lost on the way back)
                self._give_back(destination, [token])
                if isinstance(exc, Exception):
                    raise SlotsUnavailable(f"send slots cannot be reached ({type(exc).__name__})") from exc
                raise
            if not taken:
                return None
            expires = now + self.ttl
        local.busy[token] = expires
        return token

    async def release(self, destination: str, token: str) -> None:
        """Hand the slot to the next send; the last one gives every slot back to the shared limiter."""
        local = self._local[destination]
        local.turnover = asyncio.get_running_loop().time()
        local.idle.append((token, local.busy.pop(token)))
        self._free_local(local)
        if (returning := self._leave(destination, local)) is not None:
            await asyncio.shield(returning)

    async def renew(self) -> None:
        """Extend every shared slot this process holds by ``ttl`` (the heartbeat). A slot found lost
        (Redis flushed, or expired while the heartbeat was late) is taken again by its next send."""
        if self.limiter is None:
            return
        held = {d: [*local.busy, *(t for t, _ in local.idle)] for d, local in self._local.items()}
        held = {d: tokens for d, tokens in held.items() if tokens}
        expires = time.monotonic() + self.ttl
        answers = await asyncio.gather(*(self.limiter.keep(d, tokens, self.ttl) for d, tokens in held.items()),
                                       return_exceptions=True)
        for destination, refused in zip(held, answers, strict=True):
            if (local := self._local.get(destination)) is None or isinstance(refused, BaseException):
                continue
            asked, lost = set(held[destination]), set(refused)

            def expiry(token: str, current: float) -> float:
                return current if token not in asked else 0.0 if token in lost else expires

            local.busy = {t: expiry(t, e) for t, e in local.busy.items()}
            local.idle = [(t, expiry(t, e)) for t, e in local.idle]

    def in_use(self) -> dict[str, int]:
        """Sends in flight per destination in this process."""
        return {d: len(local.busy) for d, local in self._local.items() if local.busy}

    async def drain(self) -> None:
        """Wait until the slots given back are back in the shared limiter (at shutdown, in tests)."""
        await asyncio.gather(*self._returning, return_exceptions=True)

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

    def _leave(self, destination: str, local: _Local) -> asyncio.Task[None] | None:
        """One send is done with ``local`` (its local slot already freed). The last one forgets the
        destination and gives back the shared slots parked there; returns that give-back, if any."""
        local.users -= 1
        if local.users:
            return None
        if local.watchdog is not None:
            local.watchdog.cancel()
        if self._local.get(destination) is local:
            del self._local[destination]
        return self._give_back(destination, [token for token, _ in local.idle])

    def _give_back(self, destination: str, tokens: list[str]) -> asyncio.Task[None] | None:
        """Release ``tokens`` to the shared limiter in a task of its own: a cancelled send still gives back."""
        if self.limiter is None or not tokens:
            return None
        task = asyncio.get_running_loop().create_task(self._release_all(self.limiter, destination, tokens))
        self._returning.add(task)
        task.add_done_callback(self._returning.discard)
        return task

    @staticmethod
    async def _release_all(limiter: Limiter, destination: str, tokens: list[str]) -> None:
        try:
            await asyncio.gather(*(limiter.release(destination, t) for t in tokens))
        except Exception as exc:  # they expire with their lease
            log.warning("could not give back %d send slots of %s: %s", len(tokens), destination, type(exc).__name__)


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
