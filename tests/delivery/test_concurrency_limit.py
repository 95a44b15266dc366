"""A slow destination cannot take every worker slot: deliveries to a fast one keep flowing."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from support import (
    AUTH,
    JSON,
    WEBHOOK_SECRET,
    api_client,
    arindo_body,
    make_settings,
    migrated_gateway,
    wait_for,
)

from notigate.app.gateway import Gateway
from notigate.testing import Receiver


async def test_slow_receiver_does_not_delay_a_fast_one(database_url: str, receiver: Receiver) -> None:
    """With 4 worker slots and 2 per destination, a receiver taking 2 s per request leaves room for the fast one."""
    await _scenario(database_url, receiver)


async def test_the_limit_holds_across_arq_workers(
    postgres_url: str, redis_url: str, queue_name: str, receiver: Receiver
) -> None:
    """The same with Redis and two arq workers: the slots are shared through Redis, not per process."""
    queue = {"url": redis_url, "name": queue_name, "max_jobs": 2}
    await _scenario(postgres_url, receiver, queue=queue, workers=2)


async def _scenario(
    database_url: str, receiver: Receiver, queue: dict[str, Any] | None = None, workers: int = 0
) -> None:
    slow = receiver
    slow.delay = 2.0
    fast = Receiver()
    try:
        settings = make_settings(
            database_url,
            slow.url,
            delivery={"concurrency": 4, "per_destination": 2, "send_timeout": "5s"},
            **({"queue": queue} if queue else {}),
            webhooks=[
                {"name": "slow", "url": slow.url, "secret": WEBHOOK_SECRET},
                {"name": "fast", "url": fast.url, "secret": WEBHOOK_SECRET},
            ],
            rules=[
                {
                    "name": "declines to slow",
                    "match": {"codes": ["card_declined"]},
                    "send": [{"channel": "webhook", "to": ["slow"]}],
                },
                {
                    "name": "timeouts to fast",
                    "match": {"codes": ["timeout"]},
                    "send": [{"channel": "webhook", "to": ["fast"]}],
                },
            ],
        )
        gateway = await migrated_gateway(settings)
        arq_workers = [Gateway.from_settings(settings).arq_worker(handle_signals=False) for _ in range(workers)]
        tasks = [asyncio.create_task(w.async_run()) for w in arq_workers]
        async with api_client(gateway) as client:
            for _ in range(8):
                await client.post("/api/v1/platforms/arindo/callbacks", content=arindo_body(), headers=JSON)
            await wait_for(lambda: len(slow.requests) >= 2)
            started = time.monotonic()
            fast_ids = [
                (
                    await client.post(
                        "/api/v1/platforms/arindo/callbacks",
                        headers=JSON,
                        content=arindo_body(status="failure", code="504"),
                    )
                ).headers["notigate-notification-ids"]
                for _ in range(4)
            ]

            async def fast_done() -> bool:
                details = [(await client.get(f"/api/v1/notifications/{i}", headers=AUTH)).json() for i in fast_ids]
                return all(d["notification"]["status"] == "delivered" for d in details)

            await wait_for(fast_done, timeout=10)
            fast_elapsed = time.monotonic() - started
            in_flight_at_slow = len(slow.requests)
            await wait_for(lambda: _all_delivered(client), timeout=30)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for w in arq_workers:
            await w.close()
        fast.close()
    assert fast_elapsed < 1.5, f"fast deliveries waited {fast_elapsed:.1f}s behind the slow receiver"
    assert in_flight_at_slow <= 4
    assert len({r.headers["webhook-id"] for r in slow.requests}) == 8


async def _all_delivered(client: Any) -> bool:
    page = (await client.get("/api/v1/notifications", params={"limit": 100}, headers=AUTH)).json()
    return all(n["status"] == "delivered" for n in page["items"])
