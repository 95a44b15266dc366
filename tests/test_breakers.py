"""Circuit breakers: a destination that keeps failing is left alone instead of hammered, then recovers."""

from __future__ import annotations

import asyncio

from conftest import AUTH, JSON, api_client, arindo_body, make_settings, migrated_gateway, value_when, wait_for
from receiver import Receiver

COUNT = 10


async def test_breaker_opens_on_a_down_receiver_and_closes_after_it_recovers(database_url: str,
                                                                              receiver: Receiver) -> None:
    """503s open the breaker (visible in the API and metrics), requests stop, and all deliveries arrive later."""
    receiver.script = [(503, {})]
    settings = make_settings(database_url, receiver.url, delivery={
        "max_attempts": 50, "backoff_initial": "50ms", "backoff_max": "100ms", "breaker_threshold": 3,
        "breaker_cooldown": "1s"})
    gateway = await migrated_gateway(settings)
    async with api_client(gateway) as client:
        ids = [(await client.post("/api/v1/platforms/arindo/callbacks", content=arindo_body(), headers=JSON))
               .headers["notigate-notification-ids"] for _ in range(COUNT)]

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
        receiver.script = [(200, {})]

        async def all_delivered() -> bool:
            details = [(await client.get(f"/api/v1/notifications/{i}", headers=AUTH)).json() for i in ids]
            return all(d["notification"]["status"] == "delivered" for d in details)

        await wait_for(all_delivered, timeout=20)
        assert await state() == "closed"
        attempts = [d["attempts"] for i in ids
                    for d in (await client.get(f"/api/v1/notifications/{i}", headers=AUTH)).json()["deliveries"]]
    assert max(attempts) <= 6, f"attempts were burnt while the breaker was open: {attempts}"

