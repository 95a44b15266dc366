"""Timed steps run when they are due, not at the next sweep: retries and digest closes on the
embedded queue (even across a clock step), and jobs that a worker runs before they are due."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis
from support import (
    AUTH,
    JSON,
    api_client,
    arindo_body,
    make_settings,
    migrated_gateway,
    wait_for,
)

from notigate import clock
from notigate.app.gateway import Gateway
from notigate.testing import Receiver

SLOW_SWEEP = {"sweep_interval": "120s"}


@pytest.fixture
def stepped_clock() -> Iterator[None]:
    yield
    clock.reset()


async def test_a_retry_runs_when_due_after_the_clock_steps_forward(
    sqlite_url: str, receiver: Receiver, stepped_clock: None
) -> None:
    """A retry due in 30 s runs within a second of the wall clock passing its time (here stepped
    forward 31 s, as NTP or a resumed machine would), with the next sweep two minutes away."""
    receiver.script((503, {}), (200, {}))
    settings = make_settings(
        sqlite_url, receiver.url, delivery={**SLOW_SWEEP, "backoff_initial": "30s", "backoff_max": "30s"}
    )
    gateway = await migrated_gateway(settings)
    async with api_client(gateway) as client:
        response = await client.post("/api/v1/platforms/arindo/callbacks", content=arindo_body(), headers=JSON)

        async def retrying() -> bool:  # the failed attempt is recorded and its retry scheduled
            [delivery] = await gateway.repo.deliveries_of(response.headers["notigate-notification-ids"])
            return delivery.status == "retrying"

        await wait_for(retrying)
        clock.advance(31)
        stepped = time.monotonic()
        await wait_for(lambda: len(receiver.requests) == 2, timeout=10)
    assert time.monotonic() - stepped < 3


async def test_a_digest_goes_out_when_its_window_closes(sqlite_url: str, receiver: Receiver) -> None:
    """A digest whose 1 s window closes goes out then, with the next sweep two minutes away."""
    settings = make_settings(
        sqlite_url,
        receiver.url,
        delivery=SLOW_SWEEP,
        rules=[
            {
                "name": "declines, folded",
                "match": {"min_severity": "warning"},
                "group_by": ["platform"],
                "group_window": "1s",
                "send": [{"channel": "webhook", "to": ["receiver"]}],
            }
        ],
    )
    async with api_client(await migrated_gateway(settings)) as client:
        started = time.monotonic()
        for _ in range(3):
            await client.post("/api/v1/platforms/arindo/callbacks", content=arindo_body(), headers=JSON)
        await wait_for(lambda: len(receiver.requests) == 1, timeout=10)
    assert 1.0 <= receiver.requests[0].at - started < 4


async def test_a_job_run_before_its_delivery_is_due_runs_it_when_due(
    postgres_url: str, redis_url: str, queue_name: str, receiver: Receiver
) -> None:
    """A worker whose clock runs behind the API's picks a new delivery's job before it is due by its own
    clock: the job schedules it again for when it is, instead of leaving it to the sweep two minutes later."""
    settings = make_settings(
        postgres_url, receiver.url, queue={"url": redis_url, "name": queue_name}, delivery=SLOW_SWEEP
    )
    gateway = await migrated_gateway(settings)
    redis = aioredis.from_url(redis_url)
    async with api_client(gateway) as client:
        response = await client.post("/api/v1/platforms/arindo/callbacks", content=arindo_body(), headers=JSON)
        notification_id = response.headers["notigate-notification-ids"]
        [delivery] = await gateway.repo.deliveries_of(notification_id)
        [row] = await gateway.db.fetch(  # due 4 s later than the worker thinks
            'UPDATE "deliveries" SET "next_attempt_at" = now() + interval \'4 seconds\' WHERE "id" = {} '
            'RETURNING "next_attempt_at"',
            delivery.id,
        )
        again = f"{delivery.id}:0:e{int(row['next_attempt_at'].timestamp() * 1000)}"
        worker = Gateway.from_settings(settings).arq_worker(handle_signals=False)
        running = asyncio.create_task(worker.async_run())
        try:
            await wait_for(lambda: redis.zscore(queue_name, again), timeout=10)  # the early job scheduled it
            assert (await gateway.repo.delivery(delivery.id)).status == "pending"  # type: ignore[union-attr]

            async def delivered() -> bool:
                detail = (await client.get(f"/api/v1/notifications/{notification_id}", headers=AUTH)).json()
                return detail["deliveries"][0]["status"] == "delivered"

            await wait_for(delivered, timeout=20, interval=0.1)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            await worker.close()
            await redis.aclose()
    assert len(receiver.requests) == 1
