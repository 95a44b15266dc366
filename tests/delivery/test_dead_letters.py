"""Dead letters: a failed delivery keeps what it tried to send and every attempt, and can be re-driven."""

from __future__ import annotations

import json
from typing import Any

from support import (
    API_KEY,
    AUTH,
    JSON,
    api_client,
    arindo_body,
    make_settings,
    migrated_gateway,
    wait_for,
)

from notigate.testing import Receiver


async def _failed_delivery(client: Any) -> dict[str, Any]:
    notification_id = (
        await client.post("/api/v1/platforms/arindo/callbacks", content=arindo_body(), headers=JSON)
    ).headers["notigate-notification-ids"]

    async def failed() -> dict[str, Any] | None:
        detail = (await client.get(f"/api/v1/notifications/{notification_id}", headers=AUTH)).json()
        return detail["deliveries"][0] if detail["deliveries"][0]["status"] == "failed" else None

    return await wait_for(failed)


async def _delivered(client: Any, delivery_id: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        detail = (await client.get(f"/api/v1/deliveries/{delivery_id}", headers=AUTH)).json()
        return detail if detail["delivery"]["status"] == "delivered" else None

    return await wait_for(done)


async def test_dead_letter_keeps_its_message_and_attempts_and_replays(database_url: str, receiver: Receiver) -> None:
    """A 400'd delivery shows its rendered payload and attempt; re-driven, it is delivered with the same id."""
    receiver.script((400, {}), (200, {}))
    gateway = await migrated_gateway(make_settings(database_url, receiver.url))
    async with api_client(gateway) as client:
        dead = await _failed_delivery(client)
        detail = (await client.get(f"/api/v1/deliveries/{dead['id']}", headers=AUTH)).json()
        assert [a["outcome"] for a in detail["attempts"]] == ["permanent"]
        assert json.loads(detail["delivery"]["captured"]["body"])["type"] == "payment.card_declined"
        response = await client.post(f"/api/v1/deliveries/{dead['id']}/retry", headers=AUTH)
        assert response.status_code == 202 and response.json()["ids"] == [dead["id"]]
        done = await _delivered(client, dead["id"])
        notification = (await client.get(f"/api/v1/notifications/{dead['notification_id']}", headers=AUTH)).json()
    assert [a["outcome"] for a in done["attempts"]] == ["permanent", "delivered"]
    assert notification["notification"]["status"] == "delivered"
    assert {r.headers["webhook-id"] for r in receiver.requests} == {dead["id"]}


async def test_replay_gets_a_fresh_attempt_budget(sqlite_url: str, receiver: Receiver) -> None:
    """A delivery that exhausted max_attempts gets max_attempts new tries when re-driven."""
    receiver.script(*[(503, {})] * 3 + [(200, {})])
    gateway = await migrated_gateway(make_settings(sqlite_url, receiver.url, delivery={"max_attempts": 2}))
    async with api_client(gateway) as client:
        dead = await _failed_delivery(client)
        assert dead["attempts"] == 2
        await client.post(f"/api/v1/deliveries/{dead['id']}/retry", headers=AUTH)
        done = await _delivered(client, dead["id"])
    assert [a["status_code"] for a in done["attempts"]] == [503, 503, 503, 200]


async def test_bulk_retry_by_filter(sqlite_url: str, receiver: Receiver) -> None:
    """POST /api/v1/deliveries/retry re-drives every failed delivery matching the filter, and only those."""
    receiver.script(*[(400, {})] * 3 + [(200, {})])
    gateway = await migrated_gateway(make_settings(sqlite_url, receiver.url))
    async with api_client(gateway) as client:
        dead = [await _failed_delivery(client) for _ in range(3)]
        none = await client.post("/api/v1/deliveries/retry", json={"channel": "email"}, headers=AUTH)
        assert none.json()["count"] == 0
        response = await client.post(
            "/api/v1/deliveries/retry",
            json={"channel": "webhook", "recipient": "receiver", "since": "2000-01-01T00:00:00Z"},
            headers=AUTH,
        )
        assert response.status_code == 202 and sorted(response.json()["ids"]) == sorted(d["id"] for d in dead)
        for d in dead:
            await _delivered(client, d["id"])


async def test_retry_is_refused_when_it_makes_no_sense(sqlite_url: str, receiver: Receiver) -> None:
    """Unknown ids are 404, deliveries that did not fail are 400, keys without the admin scope are 403."""
    settings = make_settings(
        sqlite_url,
        receiver.url,
        security={
            "api_keys": [
                {"name": "admin", "key": API_KEY, "scopes": ["admin"]},
                {"name": "reader", "key": "reader-key-0123456789"},
            ]
        },
    )
    gateway = await migrated_gateway(settings)
    async with api_client(gateway) as client:
        assert (await client.post("/api/v1/deliveries/dlv_nope/retry", headers=AUTH)).status_code == 404
        notification_id = (
            await client.post("/api/v1/platforms/arindo/callbacks", content=arindo_body(), headers=JSON)
        ).headers["notigate-notification-ids"]
        [delivery] = (await client.get(f"/api/v1/notifications/{notification_id}", headers=AUTH)).json()["deliveries"]
        await _delivered(client, delivery["id"])
        assert (await client.post(f"/api/v1/deliveries/{delivery['id']}/retry", headers=AUTH)).status_code == 400
        reader = {"X-API-Key": "reader-key-0123456789"}
        assert (await client.post(f"/api/v1/deliveries/{delivery['id']}/retry", headers=reader)).status_code == 403
        assert (await client.get(f"/api/v1/deliveries/{delivery['id']}", headers=reader)).status_code == 200
