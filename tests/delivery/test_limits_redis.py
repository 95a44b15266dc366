"""The Redis limiter batches the calls of one event-loop turn into one pipeline; the slots stay exact."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from notigate.delivery.limits import Answer, Slots, SlotsUnavailable
from notigate.delivery.limits_redis import RedisLimiter


@pytest.fixture
async def limiter(redis_url: str, queue_name: str) -> AsyncIterator[RedisLimiter]:
    client = aioredis.from_url(redis_url)
    yield RedisLimiter(lambda: client, 2, f"{queue_name}:slots:")
    await client.delete(f"{queue_name}:slots:a", f"{queue_name}:slots:b")
    await client.aclose()


async def test_concurrent_acquires_get_exactly_the_free_slots(limiter: RedisLimiter) -> None:
    answers = await asyncio.gather(
        *(limiter.acquire("a", f"t{i}", 30) for i in range(5)), *(limiter.acquire("b", f"t{i}", 30) for i in range(3))
    )
    assert [not a.refused for a in answers] == [True, True, False, False, False, True, True, False]
    assert not (await limiter.acquire("a", "t0", 30)).refused  # a holder asking again keeps its slot
    await asyncio.gather(limiter.release("a", "t0"), limiter.acquire("a", "t9", 30))  # same turn: order kept
    assert (await limiter.acquire("a", "t8", 30)).refused
    await limiter.release("a", "t1")
    assert not (await limiter.acquire("a", "t8", 30)).refused


async def test_a_script_lost_on_the_server_is_loaded_again(limiter: RedisLimiter) -> None:
    assert not (await limiter.acquire("a", "t0", 30)).refused
    limiter._sha = "0" * 40  # as after a Redis restart: the server no longer knows the script
    assert not (await limiter.acquire("a", "t1", 30)).refused
    assert (await limiter.acquire("a", "t2", 30)).refused


async def test_a_redis_error_reaches_the_caller(queue_name: str) -> None:
    client = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        with pytest.raises(aioredis.ConnectionError):
            await RedisLimiter(lambda: client, 2, f"{queue_name}:slots:").acquire("a", "t0", 30)
    finally:
        await client.aclose()


async def test_two_workers_slots_never_exceed_the_limit_and_are_given_back(redis_url: str, queue_name: str) -> None:
    """Two processes' ``Slots`` over one Redis: a burst through both keeps at most ``limit`` sends in
    flight, each send is either sent or put back, and every slot is back in Redis afterwards."""
    clients = [aioredis.from_url(redis_url) for _ in range(2)]
    prefix = f"{queue_name}:slots:"
    limiters = [RedisLimiter(lambda c=c: c, 3, prefix) for c in clients]  # type: ignore[misc]
    workers = [Slots(limiter, 3, ttl=30) for limiter in limiters]
    calls = [0]
    acquire = limiters[0].acquire

    async def counted(destination: str, token: str, ttl: float) -> Answer:
        calls[0] += 1
        return await acquire(destination, token, ttl)

    limiters[0].acquire = counted  # type: ignore[method-assign]
    in_flight, peak, sent, put_back = [0], [0], [0], [0]

    async def send(slots: Slots) -> None:
        token = await slots.acquire("dest", wait=15)
        if token is None:
            put_back[0] += 1
            return
        in_flight[0] += 1
        peak[0] = max(peak[0], in_flight[0])
        await asyncio.sleep(0.002)
        in_flight[0] -= 1
        sent[0] += 1
        slots.release("dest", token)

    try:
        await asyncio.gather(*(send(workers[0]) for _ in range(60)))  # one worker alone: every send goes
        assert (sent[0], put_back[0], peak[0]) == (60, 0, 3)
        assert calls[0] == 3  # the burst took each shared slot once, not once per send
        await workers[0].drain()  # the last send gives the slots back in a task of its own
        assert await clients[0].zcard(prefix + "dest") == 0
        sent[0] = peak[0] = 0
        await asyncio.gather(*(send(workers[i % 2]) for i in range(120)))
        assert peak[0] == 3 and sent[0] + put_back[0] == 120 and sent[0] >= 100  # shared, not bounced
        for slots in workers:  # a send put back gives its process's parked slots back in a task of its own
            await slots.drain()
        assert await clients[0].zcard(prefix + "dest") == 0
    finally:
        for c in clients:
            await c.delete(prefix + "dest")
            await c.aclose()


class _Faulty:
    """The real Redis limiter with a seeded share of its acquires failing as a dropped connection would."""

    def __init__(self, limiter: RedisLimiter, rng: random.Random, error_rate: float) -> None:
        self.limiter, self.rng, self.error_rate = limiter, rng, error_rate
        self.process = limiter.process

    async def acquire(self, destination: str, token: str, ttl: float) -> Answer:
        if self.rng.random() < self.error_rate:
            await asyncio.sleep(0)
            raise aioredis.ConnectionError("injected: connection dropped")
        return await self.limiter.acquire(destination, token, ttl)

    async def keep(self, destination: str, tokens: list[str], ttl: float) -> list[str]:
        return await self.limiter.keep(destination, tokens, ttl)

    async def pulse(self, destination: str) -> Answer:
        return await self.limiter.pulse(destination)

    async def release(self, destination: str, token: str) -> None:
        await self.limiter.release(destination, token)


@pytest.mark.parametrize("seed", range(6))
async def test_no_slot_is_stranded_by_refusals_errors_or_cancellations(
    redis_url: str, queue_name: str, seed: int
) -> None:
    """Two processes' ``Slots`` share 3 slots of one destination through Redis while sends are refused
    (the other holds the slots), fail on the limiter, or are cancelled at random points: the limit is
    never exceeded, and once every send is over no slot stays taken, in Redis or in either process."""
    rng = random.Random(seed)
    clients = [aioredis.from_url(redis_url) for _ in range(2)]
    prefix = f"{queue_name}:slots:"
    workers = [
        Slots(_Faulty(RedisLimiter(lambda c=c: c, 3, prefix), rng, 0.1), 3, ttl=30)  # type: ignore[misc]
        for c in clients
    ]
    in_flight, peak, sent = [0], [0], [0]

    async def send(slots: Slots) -> None:
        await asyncio.sleep(rng.random() * 0.02)
        try:
            token = await slots.acquire("dest", wait=15)
        except SlotsUnavailable:  # the limiter failed: the send is put back
            return
        if token is None:
            return
        in_flight[0] += 1
        peak[0] = max(peak[0], in_flight[0])
        try:
            await asyncio.sleep(rng.random() * 0.005)
        finally:
            in_flight[0] -= 1
            sent[0] += 1
            slots.release("dest", token)

    try:
        tasks = [asyncio.create_task(send(workers[rng.randrange(2)])) for _ in range(300)]
        for task in rng.sample(tasks, 40):  # cancelled while waiting for a slot, acquiring or sending
            asyncio.get_running_loop().call_later(rng.random() * 0.03, task.cancel)
        await asyncio.gather(*tasks, return_exceptions=True)
        for slots in workers:
            await slots.drain()
        assert peak[0] <= 3 and sent[0] > 0
        assert await clients[0].zrange(prefix + "dest", 0, -1) == []
        assert all(not slots._local for slots in workers)
    finally:
        for c in clients:
            await c.delete(prefix + "dest")
            await c.aclose()
