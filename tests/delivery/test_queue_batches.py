"""New deliveries travel to the workers in batch jobs; the outbox sweep knows what they carry."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import redis.asyncio as aioredis
from arq.constants import job_key_prefix
from support import (
    JSON,
    api_client,
    arindo_body,
    make_settings,
    migrated_gateway,
    value_when,
    wait_for,
)

from notigate.app.gateway import Gateway
from notigate.delivery.queue import BATCH_PREFIX
from notigate.events import Event
from notigate.ingest.pipeline import normalize
from notigate.plugin.route import Route
from notigate.storage.plans import Plan
from notigate.testing import Receiver

CALLBACK = "/api/v1/platforms/arindo/callbacks"


async def test_a_burst_travels_in_one_job_and_the_sweep_leaves_it_alone(
    postgres_url: str, redis_url: str, queue_name: str, receiver: Receiver
) -> None:
    """Callbacks' deliveries travel in batch jobs; the sweep adds nothing while they wait; a batch job
    that is lost is found by the sweep and its deliveries go out one by one; each is sent once."""
    settings = make_settings(postgres_url, receiver.url, queue={"url": redis_url, "name": queue_name})
    gateway = await migrated_gateway(settings)
    r = aioredis.from_url(redis_url)
    try:
        async with api_client(gateway) as client:
            answers = await asyncio.gather(
                *(client.post(CALLBACK, content=arindo_body(), headers=JSON) for _ in range(20))
            )
            assert {a.status_code for a in answers} == {200}
            queued = await wait_for(lambda: value_when(gateway.queue.queued, lambda q: len(q) == 20))
            jobs = [j.decode() for j in await r.zrange(queue_name, 0, -1)]
            assert all(j.startswith(BATCH_PREFIX) for j in jobs)  # how many depends on the callbacks' timing
            worker_gateway = Gateway.from_settings(settings)
            await worker_gateway.start(run_deliveries=False)
            try:
                assert await worker_gateway.sweep() == 0  # everything due is carried by a job
                assert [j.decode() for j in await r.zrange(queue_name, 0, -1)] == jobs
                await r.delete(*(job_key_prefix + j for j in jobs))  # the jobs are lost (say, a Redis failover)
                assert await worker_gateway.sweep() == 20
                assert await worker_gateway.queue.queued() == queued
            finally:
                await worker_gateway.close()
            worker = Gateway.from_settings(settings).arq_worker(handle_signals=False)
            task = asyncio.create_task(worker.async_run())
            try:
                await wait_for(lambda: len(receiver.requests) >= 20, timeout=20)
                await asyncio.sleep(0.3)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await worker.close()
    finally:
        await r.aclose()
    assert len({req.headers["webhook-id"] for req in receiver.requests}) == len(receiver.requests) == 20


async def test_deliveries_stored_together_share_one_job(redis_url: str, queue_name: str) -> None:
    settings = make_settings("sqlite:///unused.db", queue={"url": redis_url, "name": queue_name})
    gateway = Gateway.from_settings(settings)
    await gateway.queue.start()  # type: ignore[attr-defined]
    r = aioredis.from_url(redis_url)
    try:
        await asyncio.gather(*(gateway.queue.enqueue_new([f"dlv_{i}a", f"dlv_{i}b"]) for i in range(3)))
        assert await wait_for(lambda: value_when(gateway.queue.queued, lambda q: len(q) == 6)) == {
            f"dlv_{i}{x}" for i in range(3) for x in "ab"
        }
        assert [j.decode() for j in await r.zrange(queue_name, 0, -1)] == [f"{BATCH_PREFIX}dlv_0a"]
    finally:
        await gateway.queue.close()
        await r.delete(job_key_prefix + f"{BATCH_PREFIX}dlv_0a")
        await r.aclose()


async def test_sibling_deliveries_finishing_together_settle_the_notification(database_url: str) -> None:
    """Two deliveries of one notification finishing at the same moment leave it 'delivered', every time."""
    gateway = await migrated_gateway(make_settings(database_url))
    await gateway.start(run_deliveries=False)
    try:
        for i in range(25):
            event = Event(
                platform="arindo",
                key=f"k{i}",
                code="timeout",
                message="m",
                platform_code="x",
                occurred_at=datetime.now(UTC),
            )
            notification = normalize(event)
            plans = [
                Plan(route=Route(channel="webhook", recipient=r, rule="r"), due=notification.received_at)
                for r in ("receiver", "other")
            ]
            stored = await gateway.repo.store_event(event, notification, plans, ["r"])
            notification_id, ids = stored.id, stored.due
            claims = await gateway.repo.claim_many(ids, lease=60)
            now = datetime.now(UTC)
            await asyncio.gather(
                *(gateway.repo.finish(c, outcome="delivered", status="delivered", started_at=now) for c in claims)
            )
            stored = await gateway.repo.notification(notification_id)
            assert stored is not None and stored.status == "delivered", f"round {i}: {stored and stored.status}"
    finally:
        await gateway.close()
