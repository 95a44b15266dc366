"""The bare baseline for ``bench/ingest.py``: the physical floor of Notigate's stack.

One Litestar endpoint that decodes the JSON body with msgspec, inserts one row with
asyncpg (pooled, autocommit) and LPUSHes one id to a Redis list: nothing else. It runs
on the same server stack Notigate ships with (uvicorn, one process, same loop and HTTP
implementation), so the ratio Notigate/baseline measures Notigate's own overhead.

Configured from the environment (``bench/ingest.py`` sets these):
  BENCH_DSN        PostgreSQL DSN of an existing (empty) database
  BENCH_REDIS_URL  redis://127.0.0.1:6379/0
  BENCH_LIST_KEY   the Redis list to LPUSH ids onto
  BENCH_POOL_MIN / BENCH_POOL_MAX   asyncpg pool sizes (default 5 / 20)

Run: ``uvicorn --app-dir bench baseline_app:app --host 127.0.0.1 --port 8001``.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
import msgspec
import redis.asyncio as aioredis
from litestar import Litestar, Request, Response, get, post

DSN = os.environ.get("BENCH_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
LIST_KEY = os.environ.get("BENCH_LIST_KEY", "notigate-bench:baseline")
POOL_MIN = int(os.environ.get("BENCH_POOL_MIN", "5"))
POOL_MAX = int(os.environ.get("BENCH_POOL_MAX", "20"))

TABLE = """
CREATE TABLE IF NOT EXISTS baseline_events (
    id TEXT PRIMARY KEY,
    transaction_id TEXT NOT NULL,
    transaction_status TEXT NOT NULL,
    gross_amount TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    body TEXT NOT NULL
)
"""
INSERT = (
    "INSERT INTO baseline_events (id, transaction_id, transaction_status, gross_amount, body) "
    "VALUES ($1, $2, $3, $4, $5)"
)
ACCEPTED = msgspec.json.encode({"status_code": 200, "detail": "accepted"})


class _State:
    pool: asyncpg.Pool
    redis: aioredis.Redis


state = _State()


@contextlib.asynccontextmanager
async def lifespan(_: Litestar) -> AsyncIterator[None]:
    state.pool = await asyncpg.create_pool(DSN, min_size=POOL_MIN, max_size=POOL_MAX)
    await state.pool.execute(TABLE)
    state.redis = aioredis.from_url(REDIS_URL)
    try:
        yield
    finally:
        await state.redis.aclose()
        await state.pool.close()


@post("/ingest", status_code=200)
async def ingest(request: Request) -> Response[bytes]:
    raw = await request.body()
    data = msgspec.json.decode(raw)
    row_id = uuid.uuid4().hex
    await state.pool.execute(
        INSERT, row_id, data["transaction_id"], data["transaction_status"], data["gross_amount"], raw.decode()
    )
    await state.redis.lpush(LIST_KEY, row_id)
    return Response(ACCEPTED, media_type="application/json")


@post("/noop", status_code=200)
async def noop(request: Request) -> Response[bytes]:
    """Reads the body and answers: the ceiling of uvicorn + Litestar + the load generator."""
    await request.body()
    return Response(ACCEPTED, media_type="application/json")


@get("/health/ready")
async def ready() -> dict[str, str]:
    await state.pool.fetchval("SELECT 1")
    await state.redis.ping()
    return {"status": "ok"}


app = Litestar(route_handlers=[ingest, noop, ready], lifespan=[lifespan])
