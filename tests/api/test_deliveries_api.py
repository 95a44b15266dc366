"""``GET /api/v1/deliveries``: every delivery, newest first, filtered in the database, page by page."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from support import (
    AUTH,
    JSON,
    api_client,
    arindo_body,
    make_settings,
    migrated_gateway,
)

from notigate.testing import Receiver

URL = "/api/v1/deliveries"


def _quiet_now() -> dict[str, Any]:
    """A quiet window (Jakarta time) that started a minute ago and lasts an hour."""
    now = datetime.now(ZoneInfo("Asia/Jakarta"))
    start, end = now - timedelta(minutes=1), now + timedelta(hours=1)
    return {"start": start.strftime("%H:%M"), "end": end.strftime("%H:%M"), "days": [start.strftime("%a").lower()]}


def _settings(database_url: str, receiver_url: str) -> Any:
    """Warnings and worse to the webhook receiver; declines also to an email address, held by quiet hours."""
    rules = [
        {
            "name": "warnings",
            "match": {"min_severity": "warning"},
            "send": [{"channel": "webhook", "to": ["receiver"]}],
        },
        {
            "name": "declines, held",
            "match": {"codes": ["card_declined"]},
            "quiet_hours": [_quiet_now()],
            "send": [{"channel": "email", "to": ["ops@example.com"]}],
        },
    ]
    return make_settings(
        database_url,
        receiver_url,
        rules=rules,
        delivery={"backoff_initial": "1h", "backoff_max": "2h"},
        channels={"email": {"host": "127.0.0.1", "port": 9, "sender": "Notigate <a@example.com>"}},
    )


async def _ids(client: Any, **params: Any) -> list[str]:
    response = await client.get(URL, params=params, headers=AUTH)
    assert response.status_code == 200, response.text
    return [d["id"] for d in response.json()["items"]]


async def test_filters_overdue_and_cursor(database_url: str, receiver: Receiver) -> None:
    """Each filter narrows in the database; ``overdue`` finds only what is due and unsent; the cursor walks every
    delivery exactly once, newest first; list items leave the rendered message out."""
    receiver.script((200, {}), (503, {}), (400, {}))
    gateway = await migrated_gateway(_settings(database_url, receiver.url))
    async with api_client(gateway, run_deliveries=False) as client:
        bodies = [arindo_body(), *(arindo_body(status="failure", code="504") for _ in range(3))]
        notifications = [
            (await client.post("/api/v1/platforms/arindo/callbacks", content=b, headers=JSON)).headers[
                "notigate-notification-ids"
            ]
            for b in bodies
        ]
        by_notification = {
            n: {
                d["channel"]: d["id"]
                for d in (await client.get(f"/api/v1/notifications/{n}", headers=AUTH)).json()["deliveries"]
            }
            for n in notifications
        }
        declined, retried, waiting, refused = (by_notification[n]["webhook"] for n in notifications)
        held = by_notification[notifications[0]]["email"]
        for delivery_id in (declined, retried, refused):  # 200, then 503 (retry in an hour), then 400
            await gateway.deliveries.deliver(delivery_id)
        newest_first = sorted([declined, held, retried, waiting, refused], reverse=True)

        page = (await client.get(URL, headers=AUTH)).json()
        assert [d["id"] for d in page["items"]] == newest_first and page["next_cursor"] is None
        assert {d["captured"] is None for d in page["items"]} == {True}
        detail = (await client.get(f"{URL}/{refused}", headers=AUTH)).json()["delivery"]
        assert detail["status"] == "failed" and detail["captured"] is not None

        assert await _ids(client, status="delivered") == [declined]
        assert await _ids(client, status="retrying") == [retried]
        assert await _ids(client, status="failed") == [refused]
        assert await _ids(client, status="pending") == sorted([held, waiting], reverse=True)
        assert await _ids(client, channel="email") == [held]
        assert await _ids(client, recipient="receiver") == sorted([declined, retried, waiting, refused], reverse=True)
        assert await _ids(client, recipient="nobody@example.com") == []
        assert await _ids(client, notification_id=notifications[0]) == sorted([declined, held], reverse=True)
        assert await _ids(client, overdue="true") == [waiting]
        assert await _ids(client, overdue="true", channel="email") == []
        assert await _ids(client, overdue="false") == newest_first
        assert await _ids(client, since="2000-01-01T00:00:00Z") == newest_first
        assert await _ids(client, since="2999-01-01T00:00:00+07:00") == []
        assert await _ids(client, until="2000-01-01T00:00:00Z") == []
        assert await _ids(client, status="pending", channel="webhook", recipient="receiver") == [waiting]

        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await client.get(URL, params=params, headers=AUTH)).json()
            seen += [d["id"] for d in page["items"]]
            if (cursor := page["next_cursor"]) is None:
                break
        assert seen == newest_first


async def test_a_digest_is_listed_under_every_notification_it_carries(database_url: str) -> None:
    """``notification_id`` finds the digest a notification was folded into, as its detail does."""
    rules = [
        {
            "name": "folded",
            "match": {"min_severity": "warning"},
            "group_by": ["code"],
            "group_window": "1h",
            "send": [{"channel": "webhook", "to": ["receiver"]}],
        }
    ]
    gateway = await migrated_gateway(make_settings(database_url, rules=rules))
    async with api_client(gateway, run_deliveries=False) as client:
        first, second = [
            (await client.post("/api/v1/platforms/arindo/callbacks", content=arindo_body(), headers=JSON)).headers[
                "notigate-notification-ids"
            ]
            for _ in range(2)
        ]
        [digest] = await _ids(client)
        assert await _ids(client, notification_id=first) == await _ids(client, notification_id=second) == [digest]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "lost"}, "status"),
        ({"channel": ""}, "channel"),
        ({"channel": "\u0000"}, "channel"),
        ({"recipient": "x" * 321}, "recipient"),
        ({"notification_id": "ntf_x"}, "notification_id"),
        ({"notification_id": "dlv_00000000000000000000000000"}, "notification_id"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2024-08-01T00:00:00"}, "until"),
        ({"since": "0001-01-01T00:00:00+01:00"}, "since"),
        ({"overdue": "maybe"}, "overdue"),
        ({"cursor": "ntf_00000000000000000000000000"}, "cursor"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "\uff15"}, "limit"),
    ],
)
async def test_bad_input_is_400_naming_the_field(sqlite_url: str, params: dict[str, str], field: str) -> None:
    """Every invalid filter is a JSON 400 whose detail names the parameter."""
    gateway = await migrated_gateway(make_settings(sqlite_url))
    async with api_client(gateway, run_deliveries=False) as client:
        response = await client.get(URL, params=params, headers=AUTH)
    assert response.status_code == 400, response.text
    assert field in response.json()["detail"]


async def test_listing_needs_an_api_key(sqlite_url: str) -> None:
    """Without a key the list answers 401, like every read."""
    gateway = await migrated_gateway(make_settings(sqlite_url))
    async with api_client(gateway, run_deliveries=False) as client:
        assert (await client.get(URL)).status_code == 401


async def test_nul_in_delivery_ids_and_filters_is_a_4xx(database_url: str) -> None:
    """NUL characters in a delivery id or a retry filter are refused, never a 500."""
    gateway = await migrated_gateway(make_settings(database_url))
    async with api_client(gateway, run_deliveries=False) as client:
        assert (await client.get("/api/v1/deliveries/%00abc", headers=AUTH)).status_code == 404
        assert (await client.post("/api/v1/deliveries/%00/retry", headers=AUTH)).status_code == 404
        bad = await client.post("/api/v1/deliveries/retry", json={"channel": "\u0000"}, headers=AUTH)
        assert bad.status_code == 400 and "channel" in bad.json()["detail"]
