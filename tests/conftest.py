"""Fixtures of the cross-package tests: real PostgreSQL and Redis (per-test databases and queues),
and databases of either engine (the webhook ``receiver`` and ``closed_port`` come from
``notigate.testing``). Helpers they use are in ``support.py``.

Servers are found at NOTIGATE_TEST_POSTGRES_URL / NOTIGATE_TEST_REDIS_URL. When one is
unreachable the tests that need it are skipped with a plain reason on a developer's
machine, and fail under CI (CI=true): a green CI run always includes them.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from support import REDIS_URL, fresh_postgres, unavailable


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    async with fresh_postgres() as url:
        yield url


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    """Redis, checked; the test's queue name is unique (see ``queue_name``)."""
    client = aioredis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (OSError, aioredis.RedisError) as exc:
        unavailable("redis", REDIS_URL, exc)
    finally:
        await client.aclose()
    yield REDIS_URL


@pytest.fixture
async def queue_name(redis_url: str) -> AsyncIterator[str]:
    name = f"notigate-test:{uuid.uuid4().hex}"
    yield name
    client = aioredis.from_url(redis_url)
    await client.delete(name, f"{name}:health-check")
    await client.aclose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'notigate.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Each storage and pipeline test runs on both engines."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'notigate.db'}"
    else:
        async with fresh_postgres() as url:
            yield url
