"""The Redis limiter batches the calls of one event-loop turn into one pipeline; the slots stay exact."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from notigate.limits import RedisLimiter


@pytest.fixture
async def limiter(redis_url: str, queue_name: str) -> AsyncIterator[RedisLimiter]:
    client = aioredis.from_url(redis_url)
    yield RedisLimiter(lambda: client, 2, f"{queue_name}:slots:")
    await client.delete(f"{queue_name}:slots:a", f"{queue_name}:slots:b")
    await client.aclose()


async def test_concurrent_acquires_get_exactly_the_free_slots(limiter: RedisLimiter) -> None:
    taken = await asyncio.gather(*(limiter.acquire("a", f"t{i}", 30) for i in range(5)),
                                 *(limiter.acquire("b", f"t{i}", 30) for i in range(3)))
    assert taken == [True, True, False, False, False, True, True, False]
    assert await limiter.acquire("a", "t0", 30)  # a holder asking again keeps its slot
    await asyncio.gather(limiter.release("a", "t0"), limiter.acquire("a", "t9", 30))  # same turn: order kept
    assert not await limiter.acquire("a", "t8", 30)
    await limiter.release("a", "t1")
    assert await limiter.acquire("a", "t8", 30)


async def test_a_script_lost_on_the_server_is_loaded_again(limiter: RedisLimiter) -> None:
    assert await limiter.acquire("a", "t0", 30)
    limiter._sha = "0" * 40  # as after a Redis restart: the server no longer knows the script
    assert await limiter.acquire("a", "t1", 30)
    assert not await limiter.acquire("a", "t2", 30)


async def test_a_redis_error_reaches_the_caller(queue_name: str) -> None:
    client = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        with pytest.raises(aioredis.ConnectionError):
            await RedisLimiter(lambda: client, 2, f"{queue_name}:slots:").acquire("a", "t0", 30)
    finally:
        await client.aclose()
