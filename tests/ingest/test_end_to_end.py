"""A signed ARINDO callback travels to a webhook receiver, on the embedded default and
on PostgreSQL (in-process delivery), and on PostgreSQL + Redis with an arq worker."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from standardwebhooks.webhooks import Webhook
from support import (
    AUTH,
    JSON,
    WEBHOOK_SECRET,
    api_client,
    arindo_body,
    make_settings,
    migrated_gateway,
    value_when,
    wait_for,
)

from notigate.app.gateway import Gateway
from notigate.testing import Receiver


async def _detail(client: Any, notification_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/notifications/{notification_id}", headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


async def _settled(client: Any, notification_id: str) -> dict[str, Any] | None:
    detail = await _detail(client, notification_id)
    return detail if detail["notification"]["status"] not in ("received", "delivering") else None


async def _post(client: Any, body: bytes) -> Any:
    return await client.post("/api/v1/platforms/arindo/callbacks", content=body, headers=JSON)


async def test_callback_becomes_a_verified_webhook(database_url: str, receiver: Receiver) -> None:
    """A signed callback is stored, routed and POSTed with a signature standardwebhooks accepts."""
    gateway = await migrated_gateway(make_settings(database_url, receiver.url))
    async with api_client(gateway) as client:
        response = await _post(client, arindo_body())
        assert response.status_code == 200
        notification_id = response.headers["notigate-notification-ids"]
        detail = await wait_for(lambda: _settled(client, notification_id))
    assert detail["notification"]["status"] == "delivered"
    assert detail["notification"]["code"] == "card_declined"
    assert detail["notification"]["amount"] == "150000.00"
    [delivery] = detail["deliveries"]
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 1)
    [request] = receiver.requests
    payload = Webhook(WEBHOOK_SECRET).verify(request.body, request.headers)
    assert payload["type"] == "payment.card_declined"
    assert payload["data"]["id"] == notification_id
    assert request.headers["webhook-id"] == delivery["id"]
    assert "budi@example.co.id" not in request.body


async def test_repeated_callback_delivers_nothing_new(database_url: str, receiver: Receiver) -> None:
    """The same (transaction_id, transaction_status) twice: acknowledged twice, one notification, one POST."""
    gateway = await migrated_gateway(make_settings(database_url, receiver.url))
    body = arindo_body()
    async with api_client(gateway) as client:
        first, second = await _post(client, body), await _post(client, body)
        assert first.status_code == second.status_code == 200
        assert first.headers["notigate-notification-ids"] == second.headers["notigate-notification-ids"]
        await wait_for(lambda: _settled(client, first.headers["notigate-notification-ids"]))
        await asyncio.sleep(0.3)
        listing = (await client.get("/api/v1/notifications", headers=AUTH)).json()
    assert len(listing["items"]) == 1
    assert len(receiver.requests) == 1


async def test_concurrent_repeats_store_one_notification(database_url: str, receiver: Receiver) -> None:
    """Twenty simultaneous copies of one callback still make one notification (the unique key decides)."""
    gateway = await migrated_gateway(make_settings(database_url, receiver.url))
    body = arindo_body()
    async with api_client(gateway) as client:
        answers = await asyncio.gather(*(_post(client, body) for _ in range(20)))
        assert {a.status_code for a in answers} == {200}
        assert len({a.headers["notigate-notification-ids"] for a in answers}) == 1
        await wait_for(lambda: _settled(client, answers[0].headers["notigate-notification-ids"]))
        listing = (await client.get("/api/v1/notifications", headers=AUTH)).json()
    assert len(listing["items"]) == 1
    assert len(receiver.requests) == 1


async def test_transient_failures_retry_with_the_same_message_id(database_url: str, receiver: Receiver) -> None:
    """500, 500, then 200: three attempts, one webhook-id, delivered; every attempt recorded."""
    receiver.script((500, {}), (500, {}), (200, {}))
    gateway = await migrated_gateway(make_settings(database_url, receiver.url))
    async with api_client(gateway) as client:
        notification_id = (await _post(client, arindo_body())).headers["notigate-notification-ids"]
        detail = await wait_for(lambda: _settled(client, notification_id))
        attempts = await gateway.repo.attempts_of(detail["deliveries"][0]["id"])
    [delivery] = detail["deliveries"]
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 3)
    assert len(receiver.requests) == 3
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    assert [a["outcome"] for a in attempts] == ["transient", "transient", "delivered"]
    assert [a["status_code"] for a in attempts] == [500, 500, 200]


async def test_permanent_failure_ends_failed_after_one_attempt(database_url: str, receiver: Receiver) -> None:
    """A 4xx other than 408/410/429 is permanent: failed after one attempt with the error kept."""
    receiver.script((422, {}))
    gateway = await migrated_gateway(make_settings(database_url, receiver.url))
    async with api_client(gateway) as client:
        notification_id = (await _post(client, arindo_body())).headers["notigate-notification-ids"]
        detail = await wait_for(lambda: _settled(client, notification_id))
        await asyncio.sleep(0.3)
    [delivery] = detail["deliveries"]
    assert detail["notification"]["status"] == "failed"
    assert (delivery["status"], delivery["attempts"]) == ("failed", 1)
    assert "422" in delivery["last_error"]
    assert len(receiver.requests) == 1


async def test_gone_endpoint_is_disabled_and_its_deliveries_wait_for_it(database_url: str, receiver: Receiver) -> None:
    """410 Gone disables the endpoint; later deliveries accumulate unsent; enabling it delivers them all."""
    receiver.script((410, {}))
    gateway = await migrated_gateway(make_settings(database_url, receiver.url))
    async with api_client(gateway) as client:
        first = (await _post(client, arindo_body())).headers["notigate-notification-ids"]

        async def endpoint_state() -> str:
            [endpoint] = (await client.get("/api/v1/webhooks/endpoints", headers=AUTH)).json()
            return str(endpoint["state"])

        await wait_for(lambda: value_when(endpoint_state, lambda v: v == "disabled"))
        later = [(await _post(client, arindo_body())).headers["notigate-notification-ids"] for _ in range(3)]
        await asyncio.sleep(1.0)
        assert len(receiver.requests) == 1, "a disabled endpoint must not be called"
        waiting = [(await _detail(client, i))["deliveries"][0]["status"] for i in [first, *later]]
        assert set(waiting) <= {"pending", "retrying"}
        receiver.script((200, {}))  # from now on the endpoint takes them
        enabled = await client.post("/api/v1/webhooks/endpoints/receiver/enable", headers=AUTH)
        assert enabled.status_code == 202 and enabled.json()["redriven"] == 4
        for notification_id in [first, *later]:
            detail = await wait_for(lambda nid=notification_id: _settled(client, nid), timeout=15)
            assert detail["notification"]["status"] == "delivered"
        assert await endpoint_state() == "closed"
    assert len({r.headers["webhook-id"] for r in receiver.requests if r.status == 200}) == 4


async def test_exhausted_attempts_end_failed(database_url: str, receiver: Receiver) -> None:
    """A receiver that always answers 503 gets exactly max_attempts tries, then the delivery is failed."""
    receiver.script((503, {}))
    gateway = await migrated_gateway(make_settings(database_url, receiver.url, delivery={"max_attempts": 3}))
    async with api_client(gateway) as client:
        notification_id = (await _post(client, arindo_body())).headers["notigate-notification-ids"]
        detail = await wait_for(lambda: _settled(client, notification_id))
    [delivery] = detail["deliveries"]
    assert (delivery["status"], delivery["attempts"]) == ("failed", 3)
    assert "gave up after 3 attempts" in delivery["last_error"]
    assert len(receiver.requests) == 3


async def test_tampered_signature_is_401_and_stores_nothing(database_url: str, receiver: Receiver) -> None:
    """A body changed after signing is refused with 401 and leaves no trace."""
    tampered = json.loads(arindo_body())
    tampered["gross_amount"] = "1.00"
    gateway = await migrated_gateway(make_settings(database_url, receiver.url))
    async with api_client(gateway) as client:
        response = await _post(client, json.dumps(tampered).encode())
        assert response.status_code == 401
        assert "signature" in response.json()["detail"]
        listing = (await client.get("/api/v1/notifications", headers=AUTH)).json()
    assert listing["items"] == []
    assert receiver.requests == []


async def test_info_events_are_stored_without_route(database_url: str, receiver: Receiver) -> None:
    """A settlement (info) matches no rule: stored as no_route, nothing sent."""
    gateway = await migrated_gateway(make_settings(database_url, receiver.url))
    async with api_client(gateway) as client:
        response = await _post(client, arindo_body(status="settlement", code="200"))
        detail = await _detail(client, response.headers["notigate-notification-ids"])
    assert detail["notification"]["status"] == "no_route"
    assert detail["deliveries"] == []
    assert (detail["matched_rules"], detail["routing"]) == ([], "no rule matched")


async def test_no_route_says_which_rules_matched_anyway(database_url: str, receiver: Receiver) -> None:
    """A rule that matches but whose endpoint is disabled (``enabled = false``) is named in the no_route reason."""
    settings = make_settings(
        database_url,
        receiver.url,
        webhooks=[{"name": "receiver", "url": receiver.url, "secret": WEBHOOK_SECRET, "enabled": False}],
    )
    gateway = await migrated_gateway(settings)
    async with api_client(gateway) as client:
        response = await _post(client, arindo_body())
        detail = await _detail(client, response.headers["notigate-notification-ids"])
    assert detail["notification"]["status"] == "no_route"
    assert detail["matched_rules"] == ["warnings to the receiver"]
    assert "disabled" in detail["routing"]
    assert receiver.requests == []


async def test_rules_route_to_an_endpoint_outside_its_events(database_url: str, receiver: Receiver) -> None:
    """An endpoint's ``events`` subscribe it; they do not filter what a rule routes to it by name."""
    settings = make_settings(
        database_url,
        receiver.url,
        webhooks=[{"name": "receiver", "url": receiver.url, "secret": WEBHOOK_SECRET, "events": ["payment.fraud_*"]}],
    )
    gateway = await migrated_gateway(settings)
    async with api_client(gateway) as client:
        declined = (await _post(client, arindo_body())).headers["notigate-notification-ids"]
        detail = await wait_for(lambda: _settled(client, declined))
    [delivery] = detail["deliveries"]
    assert (delivery["recipient"], delivery["rule"], delivery["status"]) == (
        "receiver",
        "warnings to the receiver",
        "delivered",
    )
    assert [json.loads(r.body)["type"] for r in receiver.requests] == ["payment.card_declined"]


async def test_sandbox_captures_instead_of_sending(sqlite_url: str, receiver: Receiver) -> None:
    """Sandbox mode renders and records the message; the receiver gets nothing."""
    gateway = await migrated_gateway(make_settings(sqlite_url, receiver.url, sandbox={"enabled": True}))
    async with api_client(gateway) as client:
        notification_id = (await _post(client, arindo_body())).headers["notigate-notification-ids"]
        detail = await wait_for(lambda: _settled(client, notification_id))
    [delivery] = detail["deliveries"]
    assert delivery["status"] == "delivered"
    assert json.loads(delivery["captured"]["body"])["type"] == "payment.card_declined"
    assert receiver.requests == []


async def test_arq_worker_delivers_from_redis(
    postgres_url: str, redis_url: str, queue_name: str, receiver: Receiver
) -> None:
    """PostgreSQL + Redis: the API enqueues, an arq worker (msgpack jobs) delivers with retries."""
    receiver.script((500, {}), (200, {}))
    settings = make_settings(postgres_url, receiver.url, queue={"url": redis_url, "name": queue_name})
    api_gateway = await migrated_gateway(settings)
    worker = Gateway.from_settings(settings).arq_worker(handle_signals=False)
    task = asyncio.create_task(worker.async_run())
    try:
        async with api_client(api_gateway) as client:
            notification_id = (await _post(client, arindo_body())).headers["notigate-notification-ids"]
            detail = await wait_for(lambda nid=notification_id: _settled(client, nid), timeout=20)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await worker.close()
    [delivery] = detail["deliveries"]
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 2)
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1


async def test_sweep_re_enqueues_lost_queue_messages(
    postgres_url: str, redis_url: str, queue_name: str, receiver: Receiver
) -> None:
    """Deliveries committed while their queue message is lost are found by the outbox sweep."""
    import redis.asyncio as aioredis

    settings = make_settings(postgres_url, receiver.url, queue={"url": redis_url, "name": queue_name})
    api_gateway = await migrated_gateway(settings)
    async with api_client(api_gateway) as client:
        ids = [(await _post(client, arindo_body())).headers["notigate-notification-ids"] for _ in range(3)]
        await wait_for(lambda: value_when(api_gateway.queue.queued, lambda q: len(q) == 3))  # the jobs are written
        r = aioredis.from_url(redis_url)
        await r.delete(queue_name)  # the queue messages are gone
        await r.aclose()
        worker = Gateway.from_settings(settings).arq_worker(handle_signals=False)
        task = asyncio.create_task(worker.async_run())
        try:
            for notification_id in ids:
                detail = await wait_for(lambda nid=notification_id: _settled(client, nid), timeout=20)
                assert detail["notification"]["status"] == "delivered"
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await worker.close()
    assert len(receiver.requests) == 3


async def test_card_numbers_and_contacts_in_messages_are_masked(sqlite_url: str) -> None:
    """A platform message carrying a card number, email or phone is stored and shown masked."""
    gateway = await migrated_gateway(make_settings(sqlite_url))
    message = "Card 4111111111111111 declined for budi@example.co.id, call +6281234567890"
    async with api_client(gateway) as client:
        response = await client.post(
            "/api/v1/platforms/arindo/callbacks", headers=JSON, content=arindo_body(status_message=message)
        )
        detail = (
            await client.get(f"/api/v1/notifications/{response.headers['notigate-notification-ids']}", headers=AUTH)
        ).text
    for secret in ("4111111111111111", "budi@example.co.id", "+6281234567890"):
        assert secret not in detail
    assert "411111******1111" in detail
