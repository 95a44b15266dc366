"""Circuit breakers: a destination that keeps failing is left alone instead of hammered, then recovers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from support import (
    AUTH,
    JSON,
    api_client,
    arindo_body,
    make_settings,
    migrated_gateway,
    value_when,
    wait_for,
)

from notigate.testing import Receiver

COUNT = 10


async def test_breaker_opens_on_a_down_receiver_and_closes_after_it_recovers(
    database_url: str, receiver: Receiver
) -> None:
    """503s open the breaker (visible in the API and metrics), requests stop, and all deliveries arrive later."""
    receiver.script((503, {}))
    settings = make_settings(
        database_url,
        receiver.url,
        delivery={
            "max_attempts": 50,
            "backoff_initial": "50ms",
            "backoff_max": "100ms",
            "breaker_threshold": 3,
            "breaker_cooldown": "1s",
        },
    )
    gateway = await migrated_gateway(settings)
    async with api_client(gateway) as client:
        ids = [
            (await client.post("/api/v1/platforms/arindo/callbacks", content=arindo_body(), headers=JSON)).headers[
                "notigate-notification-ids"
            ]
            for _ in range(COUNT)
        ]

        async def state() -> str:
            rows = (await client.get("/api/v1/destinations", headers=AUTH)).json()
            return rows[0]["state"] if rows else "none"

        assert await wait_for(lambda: value_when(state, lambda v: v == "open")) == "open"
        assert 'notigate_breaker_open{destination="webhook:' in (await client.get("/metrics")).text
        before = len(receiver.requests)
        await asyncio.sleep(2.5)
        while_open = len(receiver.requests) - before
        # Without the breaker, 10 deliveries retrying every ~0.1 s would send ~250 requests here.
        assert while_open <= 6, f"{while_open} requests reached a destination whose breaker was open"
        receiver.script((200, {}))

        async def all_delivered() -> bool:
            details = [(await client.get(f"/api/v1/notifications/{i}", headers=AUTH)).json() for i in ids]
            return all(d["notification"]["status"] == "delivered" for d in details)

        await wait_for(all_delivered, timeout=20)
        assert await state() == "closed"
        attempts = [
            d["attempts"]
            for i in ids
            for d in (await client.get(f"/api/v1/notifications/{i}", headers=AUTH)).json()["deliveries"]
        ]
    assert max(attempts) <= 6, f"attempts were burnt while the breaker was open: {attempts}"


async def test_a_process_sees_breaker_changes_soon_and_its_own_at_once(postgres_url: str, monkeypatch: Any) -> None:
    """A healthy destination is not read from the database per send (a short in-process memory),
    yet this process's own failures open it at once, and another process's within that memory."""

    from notigate.delivery import breakers
    from notigate.delivery.breakers import Breakers

    monkeypatch.setattr(breakers, "CLEAN_CACHE_SECONDS", 0.3)
    gateway = await migrated_gateway(make_settings(postgres_url))
    await gateway.start(run_deliveries=False)
    try:
        here, there = (Breakers(gateway.db, threshold=2, cooldown=60) for _ in range(2))
        for b in (here, there):
            assert (await b.gate("d1", datetime.now(UTC)))[0] == "closed"
            assert (await b.gate("d2", datetime.now(UTC)))[0] == "closed"
        for _ in range(2):  # this process's own failures: open for it at once
            await here.record("d1", reachable=False, now=datetime.now(UTC))
        assert (await here.gate("d1", datetime.now(UTC)))[0] == "open"
        for _ in range(2):  # another process's: seen here once the memory lapses
            await there.record("d2", reachable=False, now=datetime.now(UTC))
        await asyncio.sleep(0.35)
        assert (await here.gate("d2", datetime.now(UTC)))[0] == "open"
        assert (await there.gate("d1", datetime.now(UTC)))[0] == "open"
    finally:
        await gateway.close()


async def test_failures_between_answers_do_not_open_the_breaker(database_url: str, receiver: Receiver) -> None:
    """Failures count only while consecutive: a receiver failing one request in five, twenty sent at
    once, never opens the breaker (answers of sends that began before a failure still reset it)."""
    receiver.script(*[(503, {}), (200, {}), (200, {}), (200, {}), (200, {})] * 40)
    settings = make_settings(
        database_url,
        receiver.url,
        delivery={
            "max_attempts": 50,
            "backoff_initial": "50ms",
            "backoff_max": "100ms",
            "breaker_threshold": 4,
            "breaker_cooldown": "60s",
            "per_destination": 20,
        },
    )
    gateway = await migrated_gateway(settings)
    async with api_client(gateway) as client:
        await asyncio.gather(
            *(client.post("/api/v1/platforms/arindo/callbacks", content=arindo_body(), headers=JSON) for _ in range(40))
        )

        async def all_delivered() -> bool:
            page = (await client.get("/api/v1/notifications", params={"limit": 100}, headers=AUTH)).json()
            return all(n["status"] == "delivered" for n in page["items"])

        await wait_for(all_delivered, timeout=30)
        [breaker] = (await client.get("/api/v1/destinations", headers=AUTH)).json()
    assert breaker["state"] == "closed" and breaker["opened_until"] is None


async def test_breakers_work_for_very_long_webhook_urls(postgres_url: str, receiver: Any) -> None:
    """A webhook URL longer than the breaker column still gets a (hashed) breaker on PostgreSQL."""
    receiver.script((503, {}))
    long_url = receiver.url + "?token=" + "x" * 500
    settings = make_settings(postgres_url, long_url, delivery={"breaker_threshold": 1, "max_attempts": 50})
    gateway = await migrated_gateway(settings)
    async with api_client(gateway) as client:
        await client.post("/api/v1/platforms/arindo/callbacks", content=arindo_body(), headers=JSON)

        async def opened() -> list[Any] | None:
            rows = (await client.get("/api/v1/destinations", headers=AUTH)).json()
            return rows if rows and rows[0]["state"] in ("open", "half_open") else None

        [row] = await wait_for(opened)
    assert len(row["destination"]) <= 200
