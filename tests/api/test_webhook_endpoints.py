"""Subscriber endpoints managed through the API, and endpoints disabled after a long failure."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook
from support import (
    API_KEY,
    AUTH,
    JSON,
    api_client,
    arindo_body,
    make_settings,
    migrated_gateway,
    value_when,
    wait_for,
)

from notigate.clock import utcnow
from notigate.delivery.breakers import Breakers
from notigate.storage.database import Database
from notigate.storage.migrations import migrate
from notigate.testing import Receiver

ENDPOINTS = "/api/v1/webhooks/endpoints"
CALLBACK = "/api/v1/platforms/arindo/callbacks"
READER = {"X-API-Key": "reader-key-0123456789"}
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def settings(database_url: str, **sections: Any) -> Any:
    """A config endpoint ``receiver`` (unreachable) and no rules: only subscriptions route."""
    keys = {
        "api_keys": [
            {"name": "admin", "key": API_KEY, "scopes": ["admin"]},
            {"name": "reader", "key": READER["X-API-Key"]},
        ]
    }
    return make_settings(database_url, rules=[], security=keys, **sections)


async def _notify(client: httpx.AsyncClient, **fields: Any) -> str:
    response = await client.post(CALLBACK, content=arindo_body(**fields), headers=JSON)
    assert response.status_code == 200, response.text
    return str(response.headers["notigate-notification-ids"])


async def _detail(client: httpx.AsyncClient, notification_id: str) -> dict[str, Any]:
    return (await client.get(f"/api/v1/notifications/{notification_id}", headers=AUTH)).json()  # type: ignore[no-any-return]


async def _listed(client: httpx.AsyncClient, name: str) -> dict[str, Any] | None:
    response = await client.get(ENDPOINTS, headers=AUTH)
    assert response.status_code == 200, response.text
    return next((e for e in response.json() if e["name"] == name), None)


async def _create(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post(ENDPOINTS, json=body, headers=AUTH)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


# -- create, route, sign ------------------------------------------------------------------


async def test_created_endpoint_gets_matching_events_signed_with_its_secret(
    database_url: str, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """The secret is shown once; matching events arrive signed with it, others are not routed; it is never logged."""
    caplog.set_level(logging.DEBUG)
    gateway = await migrated_gateway(settings(database_url))
    async with api_client(gateway) as client:
        created = await _create(
            client, name="merchant-1", url=receiver.url, events=["payment.card_*"], description="merchant backend"
        )
        secret = created["secret"]
        assert secret.startswith("whsec_") and created["source"] == "api"
        listed = await client.get(ENDPOINTS, headers=AUTH)
        assert secret not in listed.text and secret.removeprefix("whsec_") not in listed.text
        entry = await _listed(client, "merchant-1")
        assert entry is not None and "secret" not in entry
        assert (entry["source"], entry["state"], entry["enabled"], entry["events"]) == (
            "api",
            "closed",
            True,
            ["payment.card_*"],
        )
        assert (await _listed(client, "receiver") or {}).get("source") == "config"

        declined = await _notify(client)
        detail = await wait_for(
            lambda: value_when(lambda: _detail(client, declined), lambda d: d["notification"]["status"] == "delivered")
        )
        succeeded = await _notify(client, status="settlement", code="200")
        assert (await _detail(client, succeeded))["notification"]["status"] == "no_route"
        await asyncio.sleep(0.3)
    [delivery] = detail["deliveries"]
    assert (delivery["channel"], delivery["recipient"], delivery["rule"]) == ("webhook", "merchant-1", "subscription")
    [request] = receiver.requests
    payload = Webhook(secret).verify(request.body, request.headers)
    assert payload["type"] == "payment.card_declined" and payload["data"]["id"] == declined
    assert request.headers["webhook-id"] == delivery["id"]
    assert secret.removeprefix("whsec_") not in caplog.text


async def test_file_endpoints_subscribe_like_api_ones(database_url: str, receiver: Receiver) -> None:
    """A ``[[webhooks]]`` endpoint with ``events`` gets every matching event without a rule; one without gets none."""
    webhooks = [
        {"name": "receiver", "url": receiver.url, "secret": SECRET, "events": ["payment.card_*"]},
        {"name": "quiet", "url": "http://127.0.0.1:9/hooks", "secret": SECRET},
    ]
    gateway = await migrated_gateway(settings(database_url, webhooks=webhooks))
    async with api_client(gateway) as client:
        declined = await _notify(client)
        detail = await wait_for(
            lambda: value_when(lambda: _detail(client, declined), lambda d: d["notification"]["status"] == "delivered")
        )
        succeeded = await _notify(client, status="settlement", code="200")
        assert (await _detail(client, succeeded))["notification"]["status"] == "no_route"
    [delivery] = detail["deliveries"]
    assert (delivery["recipient"], delivery["rule"]) == ("receiver", "subscription")
    assert detail["matched_rules"] == ["subscription"]
    [request] = receiver.requests
    assert Webhook(SECRET).verify(request.body, request.headers)["type"] == "payment.card_declined"


async def test_one_event_reaches_each_recipient_once(database_url: str) -> None:
    """Two rules and a subscription naming one endpoint, two rules naming one email address: one delivery each,
    the first rule's; matched_rules still names every rule that routed the event."""
    rules = [
        {
            "name": "warnings",
            "match": {"min_severity": "warning"},
            "send": [{"channel": "webhook", "to": ["receiver"]}, {"channel": "email", "to": ["ops@example.com"]}],
        },
        {
            "name": "declines",
            "match": {"codes": ["card_*"]},
            "send": [
                {"channel": "email", "to": ["ops@example.com", "risk@example.com"]},
                {"channel": "webhook", "to": ["receiver"]},
            ],
        },
    ]
    gateway = await migrated_gateway(
        make_settings(
            database_url,
            rules=rules,
            sandbox={"enabled": True},
            webhooks=[
                {"name": "receiver", "url": "http://127.0.0.1:9/hooks", "secret": SECRET, "events": ["payment.*"]}
            ],
            channels={"email": {"host": "127.0.0.1", "port": 9, "sender": "Notigate <alerts@example.com>"}},
        )
    )
    async with api_client(gateway) as client:
        notification_id = await _notify(client)
        detail = await wait_for(
            lambda: value_when(
                lambda: _detail(client, notification_id), lambda d: d["notification"]["status"] == "delivered"
            )
        )
    assert sorted((d["channel"], d["recipient"], d["rule"]) for d in detail["deliveries"]) == [
        ("email", "ops@example.com", "warnings"),
        ("email", "risk@example.com", "declines"),
        ("webhook", "receiver", "warnings"),
    ]
    assert detail["matched_rules"] == ["warnings", "declines", "subscription"]


async def test_a_given_secret_is_used(sqlite_url: str, receiver: Receiver) -> None:
    """A ``secret`` in the request is kept (and echoed once) instead of a generated one."""
    gateway = await migrated_gateway(settings(sqlite_url))
    async with api_client(gateway) as client:
        assert (await _create(client, name="given", url=receiver.url, secret=SECRET))["secret"] == SECRET
        await _notify(client)
        await wait_for(lambda: value_when(lambda: len(receiver.requests), bool))
    Webhook(SECRET).verify(receiver.requests[0].body, receiver.requests[0].headers)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Bad Name", "url": "https://x.example"}, "name"),
        ({"name": "x" * 65, "url": "https://x.example"}, "name"),
        ({"name": "ok", "url": "ftp://x.example"}, "url"),
        ({"name": "ok", "url": "https://"}, "url"),
        ({"name": "ok", "url": "https://x.example:99999/"}, "url"),
        ({"name": "ok", "url": "https://x.example", "secret": "whsec_c2hvcnQ="}, "secret"),
        ({"name": "ok", "url": "https://x.example", "secret": "not-a-secret"}, "secret"),
        ({"name": "ok", "url": "https://x.example", "events": ["order.*"]}, "events[0]"),
        ({"name": "ok", "url": "https://x.example", "events": []}, "events"),
        ({"name": "ok", "url": "https://x.example", "colour": "red"}, "colour"),
        ({"url": "https://x.example"}, "name"),
    ],
)
async def test_bad_input_is_400_naming_the_field(sqlite_url: str, body: dict[str, Any], field: str) -> None:
    """Every invalid field is a JSON 400 whose detail names it; nothing is stored."""
    gateway = await migrated_gateway(settings(sqlite_url))
    async with api_client(gateway) as client:
        response = await client.post(ENDPOINTS, json=body, headers=AUTH)
        assert response.status_code == 400, response.text
        assert field in response.json()["detail"]
        assert await _listed(client, "ok") is None
        garbage = await client.post(ENDPOINTS, content=b"{not json", headers={**AUTH, **JSON})
        assert garbage.status_code == 400


async def test_names_are_unique_across_config_and_api(sqlite_url: str) -> None:
    """A name taken by an API endpoint or a ``[[webhooks]]`` one is a 409."""
    gateway = await migrated_gateway(settings(sqlite_url))
    async with api_client(gateway) as client:
        await _create(client, name="dup", url="https://a.example/hooks")
        again = await client.post(ENDPOINTS, json={"name": "dup", "url": "https://b.example/hooks"}, headers=AUTH)
        config = await client.post(ENDPOINTS, json={"name": "receiver", "url": "https://b.example"}, headers=AUTH)
        assert again.status_code == config.status_code == 409
        assert "dup" in again.json()["detail"] and "receiver" in config.json()["detail"]
        assert (await _listed(client, "dup") or {}).get("url") == "https://a.example/hooks"


async def test_only_admin_keys_manage_endpoints(sqlite_url: str) -> None:
    """A key without the admin scope gets 403 on GET, POST and DELETE; no key at all gets 401."""
    gateway = await migrated_gateway(settings(sqlite_url))
    async with api_client(gateway) as client:
        await _create(client, name="kept", url="https://a.example")
        assert (await client.get(ENDPOINTS, headers=READER)).status_code == 403
        assert (
            await client.post(ENDPOINTS, json={"name": "x", "url": "https://a.example"}, headers=READER)
        ).status_code == 403
        assert (await client.delete(f"{ENDPOINTS}/kept", headers=READER)).status_code == 403
        assert (await client.post(ENDPOINTS, json={"name": "x", "url": "https://a.example"})).status_code == 401
        assert await _listed(client, "kept") is not None


# -- delete -------------------------------------------------------------------------------


async def test_delete_cancels_waiting_deliveries_and_stops_routing(database_url: str, receiver: Receiver) -> None:
    """DELETE answers 204; deliveries waiting for a retry become cancelled; later events are not routed."""
    receiver.script((503, {}))
    gateway = await migrated_gateway(settings(database_url, delivery={"backoff_initial": "30s", "backoff_max": "30s"}))
    async with api_client(gateway) as client:
        await _create(client, name="doomed", url=receiver.url)
        notification_id = await _notify(client)
        await wait_for(
            lambda: value_when(
                lambda: _detail(client, notification_id), lambda d: d["deliveries"][0]["status"] == "retrying"
            )
        )
        deleted = await client.delete(f"{ENDPOINTS}/doomed", headers=AUTH)
        assert deleted.status_code == 204 and deleted.content == b""
        detail = await _detail(client, notification_id)
        later = await _notify(client)
        assert (await _detail(client, later))["notification"]["status"] == "no_route"
        assert await _listed(client, "doomed") is None
        assert (await client.delete(f"{ENDPOINTS}/doomed", headers=AUTH)).status_code == 404
    [delivery] = detail["deliveries"]
    assert (
        delivery["status"] == "cancelled" and "doomed" in delivery["last_error"] and "deleted" in delivery["last_error"]
    )
    assert detail["notification"]["status"] == "silenced"  # its one delivery was cancelled
    assert len(receiver.requests) == 1


async def test_config_endpoint_cannot_be_deleted(sqlite_url: str) -> None:
    """A ``[[webhooks]]`` endpoint is read-only through the API: 409 naming notigate.toml; unknown names are 404."""
    gateway = await migrated_gateway(settings(sqlite_url))
    async with api_client(gateway) as client:
        response = await client.delete(f"{ENDPOINTS}/receiver", headers=AUTH)
        assert response.status_code == 409 and "notigate.toml" in response.json()["detail"]
        assert (await client.delete(f"{ENDPOINTS}/nosuch", headers=AUTH)).status_code == 404
        assert await _listed(client, "receiver") is not None


# -- several processes ------------------------------------------------------------------


async def test_another_process_finds_a_new_endpoint_on_a_miss(postgres_url: str, receiver: Receiver) -> None:
    """A worker that started before the endpoint existed looks it up in the database on its first miss.

    PostgreSQL only: two Gateways in one process share Piccolo's table binding, so on SQLite
    one's write transaction would lock out the other's connection (separate processes don't).
    """
    worker = await migrated_gateway(settings(postgres_url, delivery={"sweep_interval": "1h"}))
    await worker.start(run_deliveries=False)  # refreshes every 5 s: far longer than this test needs
    try:
        api = await migrated_gateway(settings(postgres_url))
        async with api_client(api, run_deliveries=False) as client:
            secret = (await _create(client, name="late", url=receiver.url))["secret"]
            notification_id = await _notify(client)
            [delivery] = (await _detail(client, notification_id))["deliveries"]
            assert delivery["status"] == "pending" and worker.endpoints.get("late") is None
            await worker.deliveries.deliver(delivery["id"])
            assert (await _detail(client, notification_id))["deliveries"][0]["status"] == "delivered"
    finally:
        await worker.close()
    Webhook(secret).verify(receiver.requests[0].body, receiver.requests[0].headers)


async def test_other_processes_see_a_deletion_within_seconds(sqlite_url: str) -> None:
    """The periodic refresh brings a created endpoint in and takes a deleted one out of another process."""
    other = await migrated_gateway(settings(sqlite_url))
    await other.start(run_deliveries=False)
    try:
        api = await migrated_gateway(settings(sqlite_url))
        async with api_client(api, run_deliveries=False) as client:
            await _create(client, name="short-lived", url="https://a.example")
            await wait_for(lambda: other.endpoints.get("short-lived") is not None, timeout=6)
            assert (await client.delete(f"{ENDPOINTS}/short-lived", headers=AUTH)).status_code == 204
            await wait_for(lambda: other.endpoints.get("short-lived") is None, timeout=6)
    finally:
        await other.close()


# -- disabled after a long failure --------------------------------------------------------


async def test_long_failure_disables_the_endpoint_until_enabled(database_url: str, receiver: Receiver) -> None:
    """Failing for longer than endpoint_disable_after disables the endpoint like a 410: nothing fails, nothing is
    sent, and enabling it delivers everything."""
    receiver.script((500, {}))
    gateway = await migrated_gateway(
        settings(
            database_url,
            delivery={
                "endpoint_disable_after": "1s",
                "max_attempts": 1000,
                "backoff_initial": "50ms",
                "backoff_max": "200ms",
                "breaker_threshold": 3,
                "breaker_cooldown": "200ms",
            },
        )
    )
    async with api_client(gateway) as client:
        await _create(client, name="flaky", url=receiver.url)
        ids = [await _notify(client) for _ in range(3)]
        disabled = await wait_for(
            lambda: value_when(lambda: _listed(client, "flaky"), lambda e: e["state"] == "disabled"), timeout=15
        )
        assert disabled["enabled"] is False and disabled["failing_since"] is not None
        assert "endpoint_disable_after" in disabled["reason"]
        await asyncio.sleep(0.5)  # sends in flight when it was disabled finish
        sent = len(receiver.requests)
        await asyncio.sleep(1.5)
        assert len(receiver.requests) == sent, "a disabled endpoint must not be called"
        statuses = {d["status"] for i in ids for d in (await _detail(client, i))["deliveries"]}
        assert statuses <= {"pending", "retrying"}, statuses
        receiver.script((200, {}))
        enabled = await client.post(f"{ENDPOINTS}/flaky/enable", headers=AUTH)
        assert enabled.status_code == 202 and enabled.json()["redriven"] == 3
        for notification_id in ids:
            await wait_for(
                lambda i=notification_id: value_when(  # type: ignore[misc]
                    lambda: _detail(client, i), lambda d: d["notification"]["status"] == "delivered"
                ),
                timeout=15,
            )
        after = await _listed(client, "flaky")
    assert after is not None and (after["state"], after["failing_since"], after["reason"]) == ("closed", None, None)


async def test_failing_since_marks_the_start_of_a_run_of_failures(database_url: str) -> None:
    """A success clears failing_since; only a run of at least breaker_threshold failures begun longer ago than
    endpoint_disable_after disables the destination, and only once."""
    db = Database(database_url)
    await db.start()
    try:
        await migrate(db)
        breakers = Breakers(db, threshold=3, cooldown=0.01)
        day, t0 = timedelta(days=1), utcnow()

        async def fail(at: Any) -> str:
            return await breakers.record("webhook:x", reachable=False, now=at, disable_after=day, reason="long")

        assert await fail(t0) == "ok"
        await breakers.record("webhook:x", reachable=True, now=t0 + day)  # a success ends the run
        assert await fail(t0 + 2 * day) == "ok"
        [view] = await breakers.all()
        assert view.failing_since == t0 + 2 * day
        assert await fail(t0 + 4 * day) == "ok", "two failures days apart are not a run of breaker_threshold"
        assert await fail(t0 + 4 * day) == "disabled_now"
        assert await fail(t0 + 4 * day) == "disabled"
        [view] = await breakers.all()
        assert (view.state, view.reason) == ("disabled", "long")
    finally:
        await db.close()


async def test_410_on_the_last_attempt_still_waits_for_the_endpoint(database_url: str, receiver: Any) -> None:
    """A 410 never turns a delivery into a dead letter: it waits, and enabling the endpoint delivers it."""
    receiver.script((503, {}), (410, {}), (200, {}))
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
