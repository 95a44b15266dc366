"""Defects found in review, each pinned by the behaviour a user would notice."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import AUTH, JSON, api_client, arindo_body, make_settings, migrated_gateway, value_when, wait_for

from notigate import hookimpl
from notigate.events import Event
from notigate.pipeline import normalize
from notigate.policies import Plan
from notigate.routing import Route


async def test_sibling_deliveries_finishing_together_settle_the_notification(database_url: str) -> None:
    """Two deliveries of one notification finishing at the same moment leave it 'delivered', every time."""
    gateway = await migrated_gateway(make_settings(database_url))
    await gateway.start(run_deliveries=False)
    try:
        for i in range(25):
            event = Event(platform="arindo", key=f"k{i}", code="timeout", message="m", platform_code="x",
                          occurred_at=datetime.now(UTC))
            notification = normalize(event)
            plans = [Plan(route=Route(channel="webhook", recipient=r, rule="r"), due=notification.received_at)
                     for r in ("receiver", "other")]
            stored = await gateway.repo.store_event(event, notification, plans, ["r"])
            notification_id, ids = stored.id, stored.due
            claims = await gateway.repo.claim_many(ids, lease=60)
            now = datetime.now(UTC)
            await asyncio.gather(*(gateway.repo.finish(c, outcome="delivered", status="delivered", started_at=now)
                                   for c in claims))
            stored = await gateway.repo.notification(notification_id)
            assert stored is not None and stored.status == "delivered", f"round {i}: {stored and stored.status}"
    finally:
        await gateway.close()


async def test_card_numbers_and_contacts_in_messages_are_masked(sqlite_url: str) -> None:
    """A platform message carrying a card number, email or phone is stored and shown masked."""
    gateway = await migrated_gateway(make_settings(sqlite_url))
    message = "Card 4111111111111111 declined for budi@example.co.id, call +6281234567890"
    async with api_client(gateway) as client:
        response = await client.post("/api/v1/platforms/arindo/callbacks", headers=JSON,
                                     content=arindo_body(status_message=message))
        detail = (await client.get(f"/api/v1/notifications/{response.headers['notigate-notification-ids']}",
                                   headers=AUTH)).text
    for secret in ("4111111111111111", "budi@example.co.id", "+6281234567890"):
        assert secret not in detail
    assert "411111******1111" in detail


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


async def test_nul_characters_are_stored_without_them_or_refused(database_url: str) -> None:
    """NUL in a message is dropped (the event is kept); NUL in filters or ids is a 4xx, never a 500."""
    gateway = await migrated_gateway(make_settings(database_url))
    async with api_client(gateway) as client:
        reported = await client.post("/api/v1/notifications/error", headers=AUTH, json={
            "platform": "arindo", "error_code": "timeout", "message": "bank\u0000timeout", "reference": "R\u00001"})
        assert reported.status_code == 202
        stored = (await client.get(f"/api/v1/notifications/{reported.json()['id']}", headers=AUTH)).json()
        assert stored["notification"]["message"] == "banktimeout"
        assert (await client.get("/api/v1/notifications", params={"platform": "\x00"}, headers=AUTH)).status_code == 400
        assert (await client.get("/api/v1/notifications/ntf_%00", headers=AUTH)).status_code == 404


async def test_a_failing_routing_plugin_does_not_stop_storage(sqlite_url: str) -> None:
    """A routing plugin that raises is skipped: the notification is stored with the built-in routes."""
    class Broken:
        @hookimpl
        def notigate_route_event(self, notification: Any, routes: list[Route]) -> None:
            routes.clear()
            raise KeyError("merchant")

    gateway = await migrated_gateway(make_settings(sqlite_url))
    gateway.plugins.pm.register(Broken(), name="broken_rules")
    gateway.route_event = gateway.plugins.hook("notigate_route_event")
    async with api_client(gateway, run_deliveries=False) as client:
        response = await client.post("/api/v1/platforms/arindo/callbacks", content=arindo_body(), headers=JSON)
        detail = (await client.get(f"/api/v1/notifications/{response.headers['notigate-notification-ids']}",
                                   headers=AUTH)).json()
    assert response.status_code == 200
    assert [d["recipient"] for d in detail["deliveries"]] == ["receiver"]


@pytest.mark.parametrize(("content", "params"), [
    (b'{"platform": "arindo", "error_code": "timeout", "message": "\xff\xfe"}', None),
    (b'{"platform": "arindo", "error_code": "timeout", "message": "m", "metadata": ' + b'[' * 20000 + b']' * 20000 + b'}',
     None),
    (b'{"platform": "arindo", "error_code": "timeout", "message": "m", "occurred_at": "0001-01-01T00:00:00+01:00"}',
     None),
])
async def test_undecodable_reports_are_400(database_url: str, content: bytes, params: Any) -> None:
    """Invalid UTF-8, absurd nesting and dates outside the calendar in UTC are 400s, not 500s."""
    gateway = await migrated_gateway(make_settings(database_url))
    async with api_client(gateway) as client:
        response = await client.post("/api/v1/notifications/error", content=content,
                                     headers={**AUTH, "content-type": "application/json"})
        assert response.status_code == 400, response.text
        assert (await client.get("/api/v1/notifications", headers=AUTH)).json()["items"] == []


@pytest.mark.parametrize("since", ["9999-12-31T23:59:59-14:00", "2026-01-01T00:00:00"])
async def test_out_of_range_or_naive_filters_are_400(sqlite_url: str, since: str) -> None:
    """A `since` outside the calendar in UTC, or without an offset, is a 400 naming it."""
    gateway = await migrated_gateway(make_settings(sqlite_url))
    async with api_client(gateway) as client:
        response = await client.get("/api/v1/notifications", params={"since": since}, headers=AUTH)
    assert response.status_code == 400 and "since" in response.json()["detail"]


async def test_410_on_the_last_attempt_still_waits_for_the_endpoint(database_url: str, receiver: Any) -> None:
    """A 410 never turns a delivery into a dead letter: it waits, and enabling the endpoint delivers it."""
    receiver.script = [(503, {}), (410, {}), (200, {})]
    gateway = await migrated_gateway(make_settings(database_url, receiver.url, delivery={"max_attempts": 2}))
    async with api_client(gateway) as client:
        response = await client.post("/api/v1/platforms/arindo/callbacks", content=arindo_body(), headers=JSON)
        notification_id = response.headers["notigate-notification-ids"]

        async def delivery() -> dict[str, Any]:
            detail = (await client.get(f"/api/v1/notifications/{notification_id}", headers=AUTH)).json()
            return detail["deliveries"][0]  # type: ignore[no-any-return]

        held = await wait_for(lambda: value_when(delivery, lambda d: d["attempts"] == 2 and d["status"] != "sending"))
        assert held["status"] == "retrying" and "410" in held["last_error"]
        enabled = await client.post("/api/v1/webhooks/endpoints/receiver/enable", headers=AUTH)
        assert enabled.json()["redriven"] == 1
        final = await wait_for(lambda: value_when(delivery, lambda d: d["status"] == "delivered"))
    assert final["attempts"] == 3


async def test_a_bookkeeping_error_after_a_send_does_not_resend(sqlite_url: str, receiver: Any) -> None:
    """If releasing the send slot fails after a successful send, the delivery is still delivered, once."""
    gateway = await migrated_gateway(make_settings(sqlite_url, receiver.url))

    release = gateway.slots.release

    def broken_release(destination: str, token: str) -> None:
        release(destination, token)
        raise ConnectionError("redis blip")

    gateway.slots.release = broken_release  # type: ignore[method-assign]
    async with api_client(gateway) as client:
        response = await client.post("/api/v1/platforms/arindo/callbacks", content=arindo_body(), headers=JSON)
        notification_id = response.headers["notigate-notification-ids"]

        async def delivered() -> dict[str, Any] | None:
            detail = (await client.get(f"/api/v1/notifications/{notification_id}", headers=AUTH)).json()
            return detail if detail["notification"]["status"] == "delivered" else None

        detail = await wait_for(delivered)
        await asyncio.sleep(0.3)
    assert detail["deliveries"][0]["attempts"] == 1 and len(receiver.requests) == 1


async def test_breakers_work_for_very_long_webhook_urls(postgres_url: str, receiver: Any) -> None:
    """A webhook URL longer than the breaker column still gets a (hashed) breaker on PostgreSQL."""
    receiver.script = [(503, {})]
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


async def test_nul_in_delivery_ids_and_filters_is_a_4xx(database_url: str) -> None:
    """NUL characters in a delivery id or a retry filter are refused, never a 500."""
    gateway = await migrated_gateway(make_settings(database_url))
    async with api_client(gateway, run_deliveries=False) as client:
        assert (await client.get("/api/v1/deliveries/%00abc", headers=AUTH)).status_code == 404
        assert (await client.post("/api/v1/deliveries/%00/retry", headers=AUTH)).status_code == 404
        bad = await client.post("/api/v1/deliveries/retry", json={"channel": "\u0000"}, headers=AUTH)
        assert bad.status_code == 400 and "channel" in bad.json()["detail"]
