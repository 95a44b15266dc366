"""At most N sends in flight per destination, across every worker.

One slow endpoint must not take every worker slot and starve the others. A slot is a
member of a per-destination set with an expiry (the process's lease, renewed by its
heartbeat), so a worker that dies holding one frees it within a lease. On Redis every
change is one Lua script (atomic across processes); the embedded default, where every
send runs in one process, needs only ``Slots``' own count.

The shared limiter on Redis is ``limits_redis.RedisLimiter``.

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
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

log = logging.getLogger(__name__)


class Answer(msgspec.Struct, frozen=True):
    """What the shared limiter said: tokens it refused, how many other processes hold or wait for one of
    the destination's slots, and how many seconds ago a send to it last ended anywhere (None: never)."""

    refused: list[str]
    others: int = 0
    since: float | None = None


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


class SlotsUnavailable(Exception):
    """The shared limiter did not answer: the send waits, as when every slot is taken."""


TURNOVER = 0.5
"""A destination none of whose sends ended for this long is stalled: sends to it stop waiting for a slot."""
PULSE = 0.1
"""How often at most a process tells the shared limiter that its sends to a destination keep ending."""
POLL = 0.02
"""How often a send waiting for a slot another process holds asks the shared limiter again."""


@dataclass(slots=True)
class _Local:
    """This process's state for one destination, while any of its sends holds or waits for a slot."""

    turnover: float
    """When a send to the destination last ended (here, or in another process as the limiter
    says), or when it was first seen; on the loop's clock."""
    holding: int = 0
    """Sends holding a local slot."""
    users: int = 0
    """Sends holding or waiting for a slot; the last one to leave gives every shared slot back."""
    waiting: collections.deque[asyncio.Future[bool]] = field(default_factory=collections.deque)
    watchdog: asyncio.TimerHandle | None = None
    idle: list[tuple[str, float]] = field(default_factory=list)
    """Shared-limiter slots this process holds between two sends: (token, expiry on the monotonic clock)."""
    busy: dict[str, float] = field(default_factory=dict)
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
            if answer.since is None or answer.since > TURNOVER or loop.time() + POLL > deadline:
                return None  # the holders' sends are not ending (or never did): put it back
            await asyncio.sleep(POLL)

    def release(self, destination: str, token: str) -> None:
        """Hand the slot to the next send (or, beyond this process's share while others wait, back to
        the limiter); the last send gives every slot back (in a task of its own: ``drain`` waits for it)."""
        local = self._local[destination]
        loop = asyncio.get_running_loop()
        local.turnover = loop.time()
        expires = local.busy.pop(token)
        extra: list[str] = []
        if self.limiter is not None:
            if local.turnover - local.pulsed > PULSE:
                local.pulsed = local.turnover
                self._spawn(self._pulse(self.limiter, destination, local))
            if len(local.busy) + len(local.idle) >= self._keep(local):
                extra = [token]  # others want the destination too: this slot goes back for them
        if not extra:
            local.idle.append((token, expires))
        self._free_local(local)
        self._leave(destination, local, extra)

    async def renew(self) -> None:
        """Extend every shared slot this process holds by ``ttl`` (the heartbeat). A slot found lost
        (Redis flushed, or expired while the heartbeat was late) is taken again by its next send."""
        if self.limiter is None:
            return
        held = {d: [*local.busy, *(t for t, _ in local.idle)] for d, local in self._local.items()}
        held = {d: tokens for d, tokens in held.items() if tokens}
        expires = time.monotonic() + self.ttl
        answers = await asyncio.gather(
            *(self.limiter.keep(d, tokens, self.ttl) for d, tokens in held.items()), return_exceptions=True
        )
        for destination, refused in zip(held, answers, strict=True):
            if (local := self._local.get(destination)) is None or isinstance(refused, BaseException):
                continue
            asked, lost = set(held[destination]), set(refused)

            def expiry(token: str, current: float, asked: set[str] = asked, lost: set[str] = lost) -> float:
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

    # While other processes want the destination, this one keeps at most the limit divided among
    # them rounded down, and may take up to that rounded up (as the limiter's script does): with
    # 4 slots and 3 processes each keeps 1 and takes a second when free, so none starves.
    def _keep(self, local: _Local) -> int:
        """Shared slots to keep between sends."""
        return self.limit if not local.others else self.limit // (local.others + 1)

    def _capacity(self, local: _Local) -> int:
        """Local slots: sends beyond them wait in turn here instead of asking the limiter again and again."""
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
        if answer.since is not None:
            local.turnover = max(local.turnover, asyncio.get_running_loop().time() - answer.since)

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
