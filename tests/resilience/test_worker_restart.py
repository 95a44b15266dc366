"""Nothing accepted is lost when the worker is killed (SIGKILL) mid-run and started again."""

from __future__ import annotations

import signal
from pathlib import Path

import redis.asyncio as aioredis
from arq.constants import in_progress_key_prefix
from support import (
    AUTH,
    JSON,
    api_client,
    arindo_body,
    make_settings,
    migrated_gateway,
    start_worker,
    wait_for,
    worker_config,
)

from notigate.delivery.queue import BATCH_PREFIX
from notigate.testing import Receiver

COUNT = 20


def _config(tmp_path: Path, postgres_url: str, redis_url: str, queue_name: str, receiver_url: str) -> Path:
    return worker_config(
        tmp_path,
        postgres_url,
        redis_url,
        queue_name,
        receiver_url,
        delivery=(
            'backoff_initial = "100ms"\nbackoff_max = "300ms"\nsend_timeout = "2s"\nsweep_interval = "200ms"\nlease = "3s"'
        ),
    )


async def test_killed_worker_loses_nothing(
    tmp_path: Path, postgres_url: str, redis_url: str, queue_name: str, receiver: Receiver
) -> None:
    """Deliveries in flight and mid-backoff at SIGKILL all end delivered after a restart."""
    receiver.script(*[(500, {})] * 6 + [(200, {})])
    receiver.delay = 0.3
    config = _config(tmp_path, postgres_url, redis_url, queue_name, receiver.url)
    settings = make_settings(postgres_url, receiver.url, queue={"url": redis_url, "name": queue_name})
    gateway = await migrated_gateway(settings)
    async with api_client(gateway) as client:
        ids = [
            (await client.post("/api/v1/platforms/arindo/callbacks", content=arindo_body(), headers=JSON)).headers[
                "notigate-notification-ids"
            ]
            for _ in range(COUNT)
        ]
        first = start_worker(config)
        try:
            await wait_for(lambda: len(receiver.requests) >= 8, timeout=30)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        killed_at = len(receiver.requests)
        in_flight = [d for i in ids for d in await gateway.repo.deliveries_of(i) if d.status in ("sending", "retrying")]
        assert in_flight, "the kill must catch deliveries in flight or mid-backoff"
        second = start_worker(config)
        try:

            async def all_delivered() -> bool:
                page = (await client.get("/api/v1/notifications", params={"limit": 100}, headers=AUTH)).json()
                return sum(n["status"] == "delivered" for n in page["items"]) == COUNT

            await wait_for(all_delivered, timeout=60, interval=0.2)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)
        deliveries = [
            d for i in ids for d in (await client.get(f"/api/v1/notifications/{i}", headers=AUTH)).json()["deliveries"]
        ]
    assert killed_at < len(receiver.requests), "the second worker did the rest"
    delivered_ids = {r.headers["webhook-id"] for r in receiver.requests if r.status == 200}
    assert delivered_ids == {d["id"] for d in deliveries}
    assert all(d["status"] == "delivered" for d in deliveries)


async def test_sigterm_gives_the_running_attempt_back(
    tmp_path: Path, postgres_url: str, redis_url: str, queue_name: str, receiver: Receiver
) -> None:
    """A deploy's SIGTERM mid-send burns no attempt: the delivery waits, then succeeds as attempt 1."""
    receiver.delay = 3.0
    config = _config(tmp_path, postgres_url, redis_url, queue_name, receiver.url)
    settings = make_settings(postgres_url, receiver.url, queue={"url": redis_url, "name": queue_name})
    gateway = await migrated_gateway(settings)
    async with api_client(gateway) as client:
        notification_id = (
            await client.post("/api/v1/platforms/arindo/callbacks", content=arindo_body(), headers=JSON)
        ).headers["notigate-notification-ids"]
        worker = start_worker(config)
        try:
            await wait_for(lambda: len(receiver.requests) >= 1, timeout=30)
        finally:
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=30) is not None
        [delivery] = await gateway.repo.deliveries_of(notification_id)
        assert (delivery.status, delivery.attempts) == ("pending", 0)
        assert await gateway.repo.attempts_of(delivery.id) == []
        receiver.delay = 0.0
        worker = start_worker(config)
        try:

            async def delivered() -> bool:
                [d] = await gateway.repo.deliveries_of(notification_id)
                return d.status == "delivered"

            await wait_for(delivered, timeout=30)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
        [delivery] = await gateway.repo.deliveries_of(notification_id)
    assert delivery.attempts == 1


async def test_a_job_held_by_a_killed_worker_runs_again_within_a_lease(
    tmp_path: Path, postgres_url: str, redis_url: str, queue_name: str, receiver: Receiver
) -> None:
    """A worker killed while a batch job waits for room to claim (``max_claimed = 1``, one send in flight)
    strands neither delivery: the job's in-progress mark lasts one lease, so the next worker runs it, and
    the interrupted send's lease runs out as soon, so it is sent again."""
    receiver.delay = 30.0
    config = worker_config(
        tmp_path,
        postgres_url,
        redis_url,
        queue_name,
        receiver.url,
        delivery='lease = "2s"\nsweep_interval = "200ms"',
        queue="max_claimed = 1",
    )
    settings = make_settings(postgres_url, receiver.url, queue={"url": redis_url, "name": queue_name})
    gateway = await migrated_gateway(settings)
    redis = aioredis.from_url(redis_url)
    async with api_client(gateway) as client:

        async def callback() -> str:
            response = await client.post("/api/v1/platforms/arindo/callbacks", content=arindo_body(), headers=JSON)
            [delivery] = await gateway.repo.deliveries_of(response.headers["notigate-notification-ids"])
            return delivery.id

        worker = start_worker(config)
        try:
            first = await callback()
            await wait_for(lambda: len(receiver.requests) >= 1, timeout=30)
            second = await callback()
            mark = f"{in_progress_key_prefix}{BATCH_PREFIX}{second}"
            await wait_for(lambda: redis.exists(mark), timeout=30)  # running, waiting for room to claim
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait()
        receiver.delay = 0.0
        assert 0 < await redis.pttl(mark) <= 2000
        worker = start_worker(config)
        try:

            async def both_delivered() -> bool:
                return all(
                    d is not None and d.status == "delivered"
                    for d in [await gateway.repo.delivery(first), await gateway.repo.delivery(second)]
                )

            await wait_for(both_delivered, timeout=30, interval=0.1)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
        outcomes = {i: [a["outcome"] for a in await gateway.repo.attempts_of(i)] for i in (first, second)}
    await redis.aclose()
    assert outcomes == {first: ["interrupted", "delivered"], second: ["delivered"]}


async def test_two_workers_share_one_destination_without_stalling(
    tmp_path: Path, postgres_url: str, redis_url: str, queue_name: str, receiver: Receiver
) -> None:
    """Two workers sending to one destination (4 slots between them) deliver a burst at its pace: a slot
    refused to one worker because the other holds it is never left taken until it expires."""
    receiver.delay = 0.005
    config = worker_config(tmp_path, postgres_url, redis_url, queue_name, receiver.url)
    settings = make_settings(postgres_url, receiver.url, queue={"url": redis_url, "name": queue_name})
    gateway = await migrated_gateway(settings)
    async with api_client(gateway) as client:
        for _ in range(400):
            await client.post("/api/v1/platforms/arindo/callbacks", content=arindo_body(), headers=JSON)
        workers = [start_worker(config) for _ in range(2)]
        try:
            await wait_for(
                lambda: len({r.headers["webhook-id"] for r in receiver.requests}) >= 400, timeout=40, interval=0.2
            )
            slots = aioredis.from_url(redis_url)

            async def no_slot_taken() -> bool:
                return await slots.zcard(f"{queue_name}:slots:webhook:{receiver.url}") == 0

            try:  # once the burst is over, the workers (still running) hold no slot
                await wait_for(no_slot_taken, timeout=10)
            finally:
                await slots.aclose()
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            for worker in workers:
                worker.wait(timeout=30)
