"""At most N sends in flight per destination, across every worker.

One slow endpoint must not take every worker slot and starve the others. A slot is a
member of a per-destination set with an expiry (the process's lease, renewed by its
heartbeat), so a worker that dies holding one frees it within a lease. On Redis every
change is one Lua script (atomic across processes); the embedded default, where every
send runs in one process, needs only ``Slots``' own count.

A worker runs many sends at once, so the Redis limiter sends every call asked for in one
turn of the event loop as one pipeline (a ``Batcher``: one round trip, one connection
checkout) instead of a round trip each.

``Slots`` puts a queue in this process in front of the shared limiter: a send whose
destination's slots are taken waits its turn while the destination's sends keep ending
(``TURNOVER``, in any process), instead of being put back at once; so a burst for a fast
endpoint drains at its limit rather than bouncing through the queue, several workers
share a destination's slots, and a stalled endpoint's sends never sit in a worker's job
slots. ``Budget`` caps the deliveries a worker holds claimed at once, so those waiting
their turn get it within their lease.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, Protocol

import msgspec
from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from notigate import blips
from notigate.batching import Batcher

log = logging.getLogger(__name__)

_SLOTS = """
-- KEYS: a destination's slots (token '<process>:<n>' -> expiry, ms), the processes waiting for one
-- (process -> expiry), and when a send to it last ended (ms). ARGV: mode, now, limit, ttl, process, tokens...
-- Returns {tokens left without a slot, other processes holding or waiting for a slot, last turnover}.
local mode, now, limit, ttl, me = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local slots, waiting, moved = KEYS[1], KEYS[2], KEYS[3]
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
  for i = 6, #ARGV do
    if redis.call('ZSCORE', slots, ARGV[i]) then
      redis.call('ZADD', slots, now + ttl, ARGV[i])
    else
      refused[#refused + 1] = ARGV[i]
    end
  end
  if #refused < #ARGV - 5 then redis.call('PEXPIRE', slots, ttl) end
else  -- 'take' a slot for one token: a free one, unless others want them and `me` holds its share already
  redis.call('ZREMRANGEBYSCORE', slots, '-inf', now)
  local token = ARGV[6]
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
return {refused, others, tonumber(redis.call('GET', moved) or 0)}
"""

class Answer(msgspec.Struct, frozen=True):
    """What the shared limiter said: tokens it refused, how many other processes hold or wait for one of
    the destination's slots, and when (unix seconds) a send to the destination last ended anywhere."""

    refused: list[str]
    others: int = 0
    turnover: float = 0.0


class Limiter(Protocol):
    process: str
    """Prefix of this process's tokens (``<process>:<n>``), so the limiter can count each process's share."""

    async def acquire(self, destination: str, token: str, ttl: float) -> Answer:
        """Take one of the destination's slots for ``token`` (or extend its own); refused when all are in
        use, or when other processes want them and this one holds its share."""
        ...

    async def keep(self, destination: str, tokens: list[str], ttl: float) -> list[str]:
        """Extend the slots these tokens hold by ``ttl``; return those that no longer hold one."""
        ...

    async def pulse(self, destination: str) -> Answer:
        """Say that a send to the destination just ended (others waiting for its slots keep waiting)."""
        ...

    async def release(self, destination: str, token: str) -> None: ...


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
        args = (mode, int(time.time() * 1000), self.limit, int(ttl * 1000), self.process, *tokens)
        refused, others, moved = await self._calls(("slots", destination, args))
        return Answer([t.decode() if isinstance(t, bytes) else str(t) for t in refused], int(others), int(moved) / 1000)

    async def release(self, destination: str, token: str) -> None:
        await self._calls(("release", destination, (token,)))

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


class SlotsUnavailable(Exception):
    """The shared limiter did not answer: the send waits, as when every slot is taken."""


TURNOVER = 0.5
"""A destination none of whose sends ended for this long is stalled: sends to it stop waiting for a slot."""
PULSE = 0.1
"""How often at most a process tells the shared limiter that its sends to a destination keep ending."""
POLL = 0.02
"""How often a send waiting for a slot another process holds asks the shared limiter again."""


class _Local(msgspec.Struct):
    turnover: float
    """When a send to the destination last ended (here, or in another process as the limiter
    says), or when it was first seen; on the loop's clock."""
    holding: int = 0
    """Sends holding a local slot."""
    users: int = 0
    """Sends holding or waiting for a slot; the last one to leave gives every shared slot back."""
    waiting: collections.deque[asyncio.Future[bool]] = msgspec.field(default_factory=collections.deque)
    watchdog: asyncio.TimerHandle | None = None
    idle: list[tuple[str, float]] = msgspec.field(default_factory=list)
    """Shared-limiter slots this process holds between two sends: (token, expiry on the monotonic clock)."""
    busy: dict[str, float] = msgspec.field(default_factory=dict)
    others: int = 0
    """Other processes holding or waiting for the destination's shared slots, as the limiter last said."""
    pulsed: float = float("-inf")


class Slots:
    """A destination's send slots: first one of this process's, then one of the shared ``limiter``;
    with no ``limiter`` (the embedded default) this process is the only one sending.

    A send waits for its slot in turn while the destination's sends keep ending (one ended
    within ``TURNOVER``, in this process or another), for ``wait`` at most; a stalled
    destination's sends stop waiting and are put back, since they would hold the worker's
    job slots other destinations need.

    While its sends for a destination keep coming, a process keeps its shared slots and
    hands them from one send to the next, telling the limiter every ``PULSE`` that they
    keep ending; it gives them back when its last send for the destination ends. When
    other processes wait for the destination, it keeps only its share (the limit divided
    among the processes that want it) and hands the rest back as its sends end, and the
    limiter gives a free slot to a waiting process before one holding its share. So a
    burst costs a few limiter calls per slot, not per send, the limit stays exact across
    workers, and two workers on one destination share it instead of bouncing sends.

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
        process = limiter.process if limiter is not None else uuid.uuid4().hex[:12]
        self._tokens = (f"{process}:{n}" for n in itertools.count())
        self._returning: set[asyncio.Task[None]] = set()

    async def acquire(self, destination: str, wait: float) -> str | None:
        """A slot's token, held for at least ``ttl``/2 from now; None when none freed up within
        ``wait`` (the caller puts the send back)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        local = self._local.get(destination)
        if local is None:
            local = self._local[destination] = _Local(turnover=loop.time())
        local.users += 1
        token: str | None = None
        try:
            if await self._wait_for_local(local, wait):
                try:
                    token = await self._shared(destination, local, deadline)
                finally:
                    if token is None:
                        self._free_local(local)
            return token
        finally:
            if token is None:
                self._leave(destination, local)

    async def _shared(self, destination: str, local: _Local, deadline: float) -> str | None:
        """A shared slot for a send that holds a local one: one parked by an earlier send while it is
        held long enough, else taken (or extended) from the limiter, waiting while other processes
        hold them and their sends keep ending; None when they stall, or at ``deadline``."""
        loop = asyncio.get_running_loop()
        token: str | None = None
        while True:
            expires = 0.0
            if local.idle:  # parked by a send of this process (maybe while this one was waiting)
                token, expires = local.idle.pop()
            token = token or next(self._tokens)
            now = time.monotonic()
            if self.limiter is None or expires - now >= self.ttl / 2:
                local.busy[token] = expires
                return token
            try:
                answer = await self.limiter.acquire(destination, token, self.ttl)
            except BaseException as exc:  # it may be held all the same (an answer lost on the way back)
                self._give_back(destination, [token])
                if isinstance(exc, Exception):
                    raise SlotsUnavailable(f"send slots cannot be reached ({type(exc).__name__})") from exc
                raise
            self._heard(local, answer)
            if not answer.refused:
                local.busy[token] = now + self.ttl
                return token
            if time.time() - answer.turnover > TURNOVER or loop.time() + POLL > deadline:
                return None  # the holders' sends are not ending (or never did): put it back
            await asyncio.sleep(POLL)

    async def release(self, destination: str, token: str) -> None:
        """Hand the slot to the next send (or, beyond this process's share while others wait, back to
        the limiter); the last send gives every slot back."""
        local = self._local[destination]
        loop = asyncio.get_running_loop()
        local.turnover = loop.time()
        expires = local.busy.pop(token)
        extra: list[str] = []
        if self.limiter is not None:
            if local.turnover - local.pulsed > PULSE:
                local.pulsed = local.turnover
                self._spawn(self._pulse(self.limiter, destination, local))
            if local.others and len(local.busy) + len(local.idle) >= self.limit // (local.others + 1):
                extra = [token]  # others want the destination too: this slot goes back for them
        if not extra:
            local.idle.append((token, expires))
        self._free_local(local)
        if (returning := self._leave(destination, local, extra)) is not None:
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
        if local.holding < self._capacity(local) and not local.waiting:
            local.holding += 1
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
        local.holding -= 1
        self._wake(local)

    def _wake(self, local: _Local) -> None:
        """Hand free local slots to the sends waiting in turn."""
        while local.waiting and local.holding < self._capacity(local):
            if not (turn := local.waiting.popleft()).done():
                turn.set_result(True)
                local.holding += 1

    def _capacity(self, local: _Local) -> int:
        """Local slots: the limit, or this process's share of it while other processes want the destination
        (so its sends beyond the share wait in turn here instead of asking the limiter again and again)."""
        return self.limit if not local.others else max(1, -(-self.limit // (local.others + 1)))

    def _leave(self, destination: str, local: _Local, extra: list[str] | None = None) -> asyncio.Task[None] | None:
        """One send is done with ``local`` (its local slot already freed), giving back ``extra``. The last
        one forgets the destination and gives back the shared slots parked there; returns that give-back."""
        local.users -= 1
        tokens = list(extra or ())
        if not local.users:
            if local.watchdog is not None:
                local.watchdog.cancel()
            if self._local.get(destination) is local:
                del self._local[destination]
            tokens += [token for token, _ in local.idle]
        return self._give_back(destination, tokens)

    def _give_back(self, destination: str, tokens: list[str]) -> asyncio.Task[None] | None:
        """Release ``tokens`` to the shared limiter in a task of its own: a cancelled send still gives back."""
        if self.limiter is None or not tokens:
            return None
        return self._spawn(self._release_all(self.limiter, destination, tokens))

    def _spawn(self, step: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(step)
        self._returning.add(task)
        task.add_done_callback(self._returning.discard)
        return task

    def _heard(self, local: _Local, answer: Answer) -> None:
        """Note who else wants the destination, and a send that ended in another process (it is moving)."""
        local.others = answer.others
        self._wake(local)  # fewer others: a larger share
        if answer.turnover:
            loop = asyncio.get_running_loop()
            local.turnover = max(local.turnover, loop.time() - (time.time() - answer.turnover))

    async def _pulse(self, limiter: Limiter, destination: str, local: _Local) -> None:
        try:
            self._heard(local, await limiter.pulse(destination))
        except Exception as exc:  # only fairness waits for it: the next pulse may get through
            log.debug("send slots pulse for %s failed: %s", destination, type(exc).__name__)

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
