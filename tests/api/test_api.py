"""The HTTP API as operators and platforms see it: auth, listing, errors, health, metrics, docs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from support import (
    API_KEY,
    AUTH,
    JSON,
    POSTGRES_URL,
    api_client,
    arindo_body,
    make_settings,
    migrated_gateway,
    value_when,
    wait_for,
)

from notigate.testing import Receiver

CALLBACK = "/api/v1/platforms/arindo/callbacks"


@contextlib.asynccontextmanager
async def embedded(sqlite_url: str, receiver: Receiver) -> AsyncIterator[Any]:
    """A client of a gateway on SQLite with in-process delivery (used inside each test:
    anyio's lifespan scope must open and close in the same task)."""
    gateway = await migrated_gateway(make_settings(sqlite_url, receiver.url))
    async with api_client(gateway) as client:
        yield client


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": "wrong-key-0123456789"},
        {"Authorization": "Bearer nope"},
        {"Authorization": f"Basic {API_KEY}"},
    ],
)
async def test_read_endpoints_need_a_valid_key(sqlite_url: str, receiver: Receiver, headers: dict[str, str]) -> None:
    """Without a known key (Bearer or X-API-Key) every read endpoint answers 401 JSON."""
    async with embedded(sqlite_url, receiver) as client:
        for path in ("/api/v1/notifications", "/api/v1/notifications/ntf_x", "/api/v1/plugins"):
            response = await client.get(path, headers=headers)
            assert response.status_code == 401, path
            assert "API key" in response.json()["detail"]


async def test_bearer_and_header_keys_both_work(sqlite_url: str, receiver: Receiver) -> None:
    """The same key is accepted as a bearer token and as X-API-Key."""
    async with embedded(sqlite_url, receiver) as client:
        assert (await client.get("/api/v1/plugins", headers={"Authorization": f"Bearer {API_KEY}"})).status_code == 200
        assert (await client.get("/api/v1/plugins", headers=AUTH)).status_code == 200


async def test_listing_filters_and_cursor(sqlite_url: str, receiver: Receiver) -> None:
    """Newest first; filters narrow; the cursor walks every item exactly once."""
    async with embedded(sqlite_url, receiver) as client:
        bodies = [arindo_body(status="deny", code="202")] * 1 + [
            arindo_body(status="settlement", code="200") for _ in range(3)
        ]
        bodies += [
            arindo_body(status="failure", code="504"),
            arindo_body(status="deny", code="202", fraud_status="deny"),
        ]
        ids = [
            (await client.post(CALLBACK, content=b, headers=JSON)).headers["notigate-notification-ids"] for b in bodies
        ]
        page = (await client.get("/api/v1/notifications", headers=AUTH)).json()
        assert [n["id"] for n in page["items"]] == ids[::-1]
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/api/v1/notifications", params=params, headers=AUTH)).json()
            seen += [n["id"] for n in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == ids[::-1]

        async def ids_for(**params: str) -> list[str]:
            return [
                n["id"]
                for n in (await client.get("/api/v1/notifications", params=params, headers=AUTH)).json()["items"]
            ]

        assert await ids_for(code="payment_succeeded") == ids[1:4][::-1]
        assert await ids_for(severity="critical") == [ids[5]]
        assert await ids_for(status="no_route") == ids[1:4][::-1]
        assert await ids_for(platform="ARINDO") == ids[::-1]
        assert await ids_for(platform="paprika") == []
        assert await ids_for(since="2000-01-01T00:00:00Z", until="2000-01-02T00:00:00Z") == []
        assert len(await ids_for(since="2000-01-01T00:00:00Z")) == len(ids)


async def test_reference_filter_is_an_exact_match(database_url: str, receiver: Receiver) -> None:
    """``reference`` finds the notifications with exactly that order number (not a prefix, not another case),
    a card-like one too, although it is stored masked."""
    gateway = await migrated_gateway(make_settings(database_url, receiver.url))
    async with api_client(gateway, run_deliveries=False) as client:
        ids = {}
        for order_id in ("ORD-1001", "ORD-10011", "ord-1001", "4111111111111111", "ORD-1001"):
            response = await client.post(CALLBACK, content=arindo_body(order_id=order_id), headers=JSON)
            ids.setdefault(order_id, []).append(response.headers["notigate-notification-ids"])

        async def found(reference: str) -> list[str]:
            response = await client.get("/api/v1/notifications", params={"reference": reference}, headers=AUTH)
            assert response.status_code == 200, response.text
            return [n["id"] for n in response.json()["items"]]

        assert await found("ORD-1001") == ids["ORD-1001"][::-1]
        assert await found("ord-1001") == ids["ord-1001"]
        assert await found("ORD-100") == []
        [card] = await found("4111111111111111")
        assert card == ids["4111111111111111"][0]
        assert await found("411111******1111") == [card]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"severity": "loud"}, "severity"),
        ({"since": "yesterday"}, "since"),
        ({"cursor": "x"}, "cursor"),
        ({"reference": ""}, "reference"),
        ({"reference": "r" * 129}, "reference"),
        ({"reference": "\u0000"}, "reference"),
    ],
)
async def test_bad_query_parameters_name_the_field(
    sqlite_url: str, receiver: Receiver, params: dict[str, str], field: str
) -> None:
    """Invalid filters are a 400 whose detail names the parameter."""
    async with embedded(sqlite_url, receiver) as client:
        response = await client.get("/api/v1/notifications", params=params, headers=AUTH)
        assert response.status_code == 400
        assert field in response.json()["detail"]


async def test_unknown_notification_is_404(sqlite_url: str, receiver: Receiver) -> None:
    """A well-formed but unknown id is a JSON 404."""
    async with embedded(sqlite_url, receiver) as client:
        response = await client.get("/api/v1/notifications/ntf_00000000000000000000000000", headers=AUTH)
        assert response.status_code == 404
        assert "ntf_00000000000000000000000000" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "headers", "status", "words"),
    [
        (b"{not json", JSON, 400, "JSON"),
        (b"[1, 2]", JSON, 400, "JSON"),
        (b'{"order_id": "x", "signature_key": "ab"}', JSON, 400, "transaction_id"),
        (b"{}", {"content-type": "text/plain"}, 415, "text/plain"),
        (b"\xff\xfe\x00", JSON, 400, "JSON"),
    ],
)
async def test_bad_callbacks_are_clear_4xx_and_store_nothing(
    sqlite_url: str, receiver: Receiver, body: bytes, headers: dict[str, str], status: int, words: str
) -> None:
    """Malformed callbacks get the right 4xx with a detail naming the problem, and nothing is stored."""
    async with embedded(sqlite_url, receiver) as client:
        response = await client.post(CALLBACK, content=body, headers=headers)
        assert response.status_code == status
        assert words in response.json()["detail"]
        assert (await client.get("/api/v1/notifications", headers=AUTH)).json()["items"] == []


async def test_oversized_body_is_413(sqlite_url: str) -> None:
    """Request bodies are bounded by [server] max_body_size."""
    gateway = await migrated_gateway(make_settings(sqlite_url, server={"max_body_size": 4096}))
    async with api_client(gateway) as client:
        response = await client.post(CALLBACK, content=b"{" + b" " * 10_000 + b"}", headers=JSON)
    assert response.status_code == 413


async def test_unknown_and_disabled_platforms_are_404(sqlite_url: str) -> None:
    """A platform that is not installed, or is switched off in [plugins] disabled, has no callback URL."""
    gateway = await migrated_gateway(make_settings(sqlite_url))
    async with api_client(gateway) as client:
        assert (await client.post("/api/v1/platforms/nosuch/callbacks", content=b"{}", headers=JSON)).status_code == 404
    gateway = await migrated_gateway(make_settings(sqlite_url, plugins={"disabled": ["platform_arindo"]}))
    async with api_client(gateway) as client:
        response = await client.post(CALLBACK, content=arindo_body(), headers=JSON)
        plugins = (await client.get("/api/v1/plugins", headers=AUTH)).json()
    assert response.status_code == 404
    assert {p["name"]: p["enabled"] for p in plugins}["platform_arindo"] is False


async def test_plugins_endpoint_lists_installed_plugins(sqlite_url: str, receiver: Receiver) -> None:
    """GET /api/v1/plugins shows each plugin's kind, distribution, version and state."""
    async with embedded(sqlite_url, receiver) as client:
        plugins = {p["name"]: p for p in (await client.get("/api/v1/plugins", headers=AUTH)).json()}
        assert plugins["platform_arindo"]["kind"] == "platform"
        assert plugins["platform_arindo"]["distribution"] == "notigate-platform-arindo"
        assert plugins["platform_arindo"]["provides"] == ["arindo"]
        assert plugins["channel_webhook"]["kind"] == "channel"
        assert plugins["rules"]["kind"] == "rules"
        assert all(p["enabled"] for p in plugins.values())


async def test_health(sqlite_url: str, receiver: Receiver) -> None:
    """Liveness is unconditional; readiness checks the database and the queue."""
    async with embedded(sqlite_url, receiver) as client:
        assert (await client.get("/health/live")).json()["status"] == "ok"
        ready = await client.get("/health/ready")
        assert ready.status_code == 200
        checks = ready.json()["checks"]
        assert {name: checks[name] for name in ("database", "queue")} == {"database": "ok", "queue": "ok"}
        assert ready.json()["status"] == "ok" and ready.json()["lag_seconds"] == 0.0


async def test_dead_redis_degrades_readiness_and_callbacks_are_kept(postgres_url: str) -> None:
    """With Redis unreachable, /health/ready stays 200 but says ``degraded`` (the API still stores what
    arrives: a balancer must keep sending to it), and a callback is stored and acknowledged."""
    gateway = await migrated_gateway(make_settings(postgres_url, queue={"url": "redis://127.0.0.1:1/0"}))
    async with api_client(gateway) as client:
        ready = await client.get("/health/ready")
        response = await client.post(CALLBACK, content=arindo_body(), headers=JSON)
        detail = (
            await client.get(f"/api/v1/notifications/{response.headers['notigate-notification-ids']}", headers=AUTH)
        ).json()
    assert ready.status_code == 200 and ready.json()["status"] == "degraded"
    assert ready.json()["checks"]["queue"].startswith("unavailable")
    assert response.status_code == 200
    assert [d["status"] for d in detail["deliveries"]] == ["pending"]


async def test_a_dead_database_fails_readiness(postgres_url: str) -> None:
    """With the database gone, nothing can be stored: /health/ready answers 503 naming it."""
    gateway = await migrated_gateway(make_settings(postgres_url))
    async with api_client(gateway) as client:
        assert (await client.get("/health/ready")).status_code == 200
        admin = await asyncpg.connect(POSTGRES_URL)
        try:
            await admin.execute(f'DROP DATABASE "{postgres_url.rpartition("/")[2]}" WITH (FORCE)')
        finally:
            await admin.close()
        ready = await client.get("/health/ready")
    assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
    assert ready.json()["checks"]["database"].startswith("unavailable")


async def test_metrics_count_what_happened(sqlite_url: str, receiver: Receiver) -> None:
    """/metrics shows notifications by platform/code, deliveries, attempts, queue depth and request latency."""
    async with embedded(sqlite_url, receiver) as client:
        response = await client.post(CALLBACK, content=arindo_body(), headers=JSON)
        notification_id = response.headers["notigate-notification-ids"]

        async def delivered() -> bool:
            detail = (await client.get(f"/api/v1/notifications/{notification_id}", headers=AUTH)).json()
            return detail["notification"]["status"] == "delivered"

        await wait_for(delivered)
        text = (await client.get("/metrics")).text
        assert 'notigate_notifications_total{code="card_declined",platform="arindo"} 1.0' in text
        assert 'notigate_deliveries{channel="webhook",status="delivered"} 1.0' in text
        assert 'notigate_delivery_attempts_total{channel="webhook",outcome="delivered"} 1.0' in text
        assert "notigate_queue_depth" in text
        assert "notigate_http_request_duration_seconds_bucket" in text


async def test_docs_work_offline(sqlite_url: str, receiver: Receiver) -> None:
    """Swagger UI at /api/docs loads its assets from the gateway itself, and the schema lists the API."""
    async with embedded(sqlite_url, receiver) as client:
        page = (await client.get("/api/docs")).text
        assert "/api/docs/assets/swagger-ui-bundle.js" in page
        assert "cdn." not in page and "unpkg" not in page
        asset = await client.get("/api/docs/assets/swagger-ui-bundle.js")
        assert asset.status_code == 200 and len(asset.content) > 100_000
        assert (await client.get("/api/docs/assets/swagger-ui.css")).status_code == 200
        schema = (await client.get("/api/openapi.json")).json()
        assert {
            "/api/v1/platforms/{platform}/callbacks",
            "/api/v1/notifications",
            "/api/v1/notifications/{notification_id}",
            "/api/v1/plugins",
            "/health/ready",
            "/metrics",
        } <= set(schema["paths"])


async def test_internal_errors_are_json_without_trace(
    sqlite_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failing store answers the platform 503 (retry later) with no stack trace."""
    async with embedded(sqlite_url, receiver) as client:
        from notigate.storage.repository import Repository

        async def broken(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("disk on fire")

        monkeypatch.setattr(Repository, "store_event", broken)
        response = await client.post(CALLBACK, content=arindo_body(), headers=JSON)
        assert response.status_code == 503
        assert "Traceback" not in response.text and "disk on fire" not in response.text
        await asyncio.sleep(0)


async def test_metrics_agree_across_processes(postgres_url: str, redis_url: str, queue_name: str) -> None:
    """Two API processes on one database and queue report the same counts, whichever is scraped."""
    settings = make_settings(postgres_url, queue={"url": redis_url, "name": queue_name})
    first, second = await migrated_gateway(settings), await migrated_gateway(settings)
    async with api_client(first) as a, api_client(second) as b:
        for _ in range(3):
            assert (await a.post(CALLBACK, content=arindo_body(), headers=JSON)).status_code == 200
        await wait_for(lambda: value_when(second.queue.queued, lambda ids: len(ids) == 3))  # jobs are written
        jobs = await second.queue.depth()  # new deliveries travel in batch jobs: one to three of them
        texts = [(await c.get("/metrics")).text for c in (a, b)]
    assert 1 <= jobs <= 3
    for text in texts:
        assert 'notigate_notifications_total{code="card_declined",platform="arindo"} 3.0' in text
        assert 'notigate_deliveries{channel="webhook",status="pending"} 3.0' in text
        assert f"notigate_queue_depth {jobs}.0" in text


async def test_nul_characters_are_stored_without_them_or_refused(database_url: str) -> None:
    """NUL in a message is dropped (the event is kept); NUL in filters or ids is a 4xx, never a 500."""
    gateway = await migrated_gateway(make_settings(database_url))
    async with api_client(gateway) as client:
        reported = await client.post(
            "/api/v1/notifications/error",
            headers=AUTH,
            json={
                "platform": "arindo",
                "error_code": "timeout",
                "message": "bank\u0000timeout",
                "reference": "R\u00001",
            },
        )
        assert reported.status_code == 202
        stored = (await client.get(f"/api/v1/notifications/{reported.json()['id']}", headers=AUTH)).json()
        assert stored["notification"]["message"] == "banktimeout"
        assert (await client.get("/api/v1/notifications", params={"platform": "\x00"}, headers=AUTH)).status_code == 400
        assert (await client.get("/api/v1/notifications/ntf_%00", headers=AUTH)).status_code == 404


@pytest.mark.parametrize("since", ["9999-12-31T23:59:59-14:00", "2026-01-01T00:00:00"])
async def test_out_of_range_or_naive_filters_are_400(sqlite_url: str, since: str) -> None:
    """A `since` outside the calendar in UTC, or without an offset, is a 400 naming it."""
    gateway = await migrated_gateway(make_settings(sqlite_url))
    async with api_client(gateway) as client:
        response = await client.get("/api/v1/notifications", params={"since": since}, headers=AUTH)
    assert response.status_code == 400 and "since" in response.json()["detail"]
