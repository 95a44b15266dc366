"""Database connections dropped under load are retried where they happen: no 5xx, no delay."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import asyncpg
import httpx
from support import (
    JSON,
    POSTGRES_URL,
    api_client,
    arindo_body,
    make_settings,
    migrated_gateway,
    wait_for,
)

from notigate.testing import Receiver


@contextlib.asynccontextmanager
async def dropping_connections(database_url: str, waves: int = 4, every: float = 0.4) -> AsyncIterator[list[int]]:
    """Terminate every server connection to the test's database, as a restart does, ``waves`` times
    ``every`` seconds apart. Yields a one-item list counting the connections terminated so far."""
    database = database_url.rpartition("/")[2]
    admin = await asyncpg.connect(POSTGRES_URL)
    dropped = [0]

    async def drop() -> None:
        for _ in range(waves):
            await asyncio.sleep(every)
            dropped[0] += await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1", database
            )

    task = asyncio.create_task(drop())
    try:
        yield dropped
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await admin.close()


async def test_callbacks_are_answered_while_connections_drop(postgres_url: str, receiver: Receiver) -> None:
    """Callbacks arriving while the database keeps dropping connections are all accepted and stored once."""
    gateway = await migrated_gateway(make_settings(postgres_url, receiver.url))
    async with api_client(gateway) as client:

        async def post(body: bytes) -> httpx.Response:
            return await client.post("/api/v1/platforms/arindo/callbacks", content=body, headers=JSON)

        async with dropping_connections(postgres_url) as dropped:
            answers = []
            while len(answers) < 200 or dropped[0] == 0:
                answers += await asyncio.gather(*(post(arindo_body()) for _ in range(20)))
        assert dropped[0] > 0
        assert [a.status_code for a in answers] == [200] * len(answers)
        ids = {a.headers["notigate-notification-ids"] for a in answers}
        stored = await gateway.db.fetch('SELECT COUNT(*) AS n FROM "notifications"')
    assert len(ids) == len(answers) == stored[0]["n"]


async def test_deliveries_go_out_at_once_while_connections_drop(postgres_url: str, receiver: Receiver) -> None:
    """Claims and finished attempts hit by a dropped connection are retried at once: with the sweep and
    the leases far off, every delivery still arrives promptly."""
    receiver.delay = 0.02
    settings = make_settings(postgres_url, receiver.url, delivery={"sweep_interval": "120s", "lease": "120s"})
    gateway = await migrated_gateway(settings)
    async with api_client(gateway) as client, dropping_connections(postgres_url, every=0.05) as dropped:
        for _ in range(6):
            answers = await asyncio.gather(
                *(
                    client.post("/api/v1/platforms/arindo/callbacks", content=arindo_body(), headers=JSON)
                    for _ in range(10)
                )
            )
            assert [a.status_code for a in answers] == [200] * 10

        async def all_delivered() -> bool:
            rows = await gateway.db.fetch('SELECT COUNT(*) AS n FROM "deliveries" WHERE "status" = \'delivered\'')
            return rows[0]["n"] == 60

        await wait_for(all_delivered, timeout=30)
        assert dropped[0] > 0
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 60


async def test_a_hanging_redis_does_not_hold_callbacks(postgres_url: str) -> None:
    """With a Redis that accepts connections but never answers, callbacks are still stored and answered quickly."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(60)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    gateway = await migrated_gateway(make_settings(postgres_url, queue={"url": f"redis://127.0.0.1:{port}/0"}))
    try:
        async with api_client(gateway) as client:
            started = time.monotonic()
            response = await client.post("/api/v1/platforms/arindo/callbacks", content=arindo_body(), headers=JSON)
            elapsed = time.monotonic() - started
            ready = await client.get("/health/ready")
    finally:
        server.close()
    assert response.status_code == 200 and elapsed < 5
    assert ready.status_code == 200 and ready.json()["status"] == "degraded"  # still storing: keep it in
