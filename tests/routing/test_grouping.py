"""Digests: a storm of events becomes one delivery per recipient per group window."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook
from support import (
    AUTH,
    WEBHOOK_SECRET,
    api_client,
    make_settings,
    migrated_gateway,
    wait_for,
    worker_config,
)

from notigate import clock
from notigate.testing import Receiver

REPORT = {
    "platform": "arindo",
    "error_code": "card_declined",
    "message": "Card declined by issuer",
    "amount": "150000.00",
    "currency": "IDR",
}


@pytest.fixture(autouse=True)
def real_time_after() -> Iterator[None]:
    yield
    clock.reset()


def _settings(database_url: str, receiver: Receiver, rules: list[dict[str, Any]] | None = None) -> Any:
    return make_settings(
        database_url,
        receiver.url,
        webhooks=[
            {"name": "receiver", "url": receiver.url, "secret": WEBHOOK_SECRET},
            {"name": "team", "url": receiver.url + "/team", "secret": WEBHOOK_SECRET},
        ],
        rules=rules
        or [
            {
                "name": "declines folded",
                "match": {"codes": ["card_declined", "insufficient_funds"]},
                "group_by": ["platform", "code"],
                "group_window": "60s",
                "send": [{"channel": "webhook", "to": ["receiver", "team"]}],
            }
        ],
    )


async def _report(client: Any, n: int, **fields: Any) -> list[str]:
    async def one(i: int) -> str:
        response = await client.post(
            "/api/v1/notifications/error", headers=AUTH, json={**REPORT, "reference": f"INV-{i}", **fields}
        )
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    ids: list[str] = []
    for start in range(0, n, 20):  # a burst, 20 requests in flight
        ids += await asyncio.gather(*(one(i) for i in range(start, min(n, start + 20))))
    return ids


def _digests(receiver: Receiver) -> list[tuple[str, dict[str, Any]]]:
    """(path, data) of each digest the receiver got, its signature verified."""
    out = []
    for r in receiver.requests:
        body = Webhook(WEBHOOK_SECRET).verify(r.body, r.headers)
        assert body["type"] == "payment.digest"
        out.append((r.path, body["data"]))
    return sorted(out, key=lambda x: x[0])


async def test_storm_becomes_one_digest_per_recipient(database_url: str, receiver: Receiver) -> None:
    """200 declines inside the window: every one ``grouped``, then one digest per recipient, count 200."""
    gateway = await migrated_gateway(_settings(database_url, receiver))
    async with api_client(gateway) as client:
        ids = await _report(client, 200)
        other = await _report(client, 1, error_code="insufficient_funds")
        first = (await client.get(f"/api/v1/notifications/{ids[0]}", headers=AUTH)).json()
        last = (await client.get(f"/api/v1/notifications/{ids[-1]}", headers=AUTH)).json()
        assert first["notification"]["status"] == last["notification"]["status"] == "grouped"
        digest_ids = sorted(d["id"] for d in first["deliveries"])
        assert len(digest_ids) == 2 and sorted(d["id"] for d in last["deliveries"]) == digest_ids
        assert {d["status"] for d in first["deliveries"]} == {"pending"}
        await asyncio.sleep(0.5)
        assert receiver.requests == [], "nothing goes out before the window closes"

        clock.advance(61)
        await gateway.sweep()
        await wait_for(lambda: len(receiver.requests) >= 4)
        got = _digests(receiver)
        counts = sorted((path, data["count"], data["group"]["code"]) for path, data in got)
        assert counts == [
            ("/hooks", 1, "insufficient_funds"),
            ("/hooks", 200, "card_declined"),
            ("/hooks/team", 1, "insufficient_funds"),
            ("/hooks/team", 200, "card_declined"),
        ]
        big = next(data for _, data in got if data["count"] == 200)
        assert big["totals"] == {"IDR": "30000000.00"}
        recent = {f"INV-{i}" for i in range(180, 200)}  # the newest few (the last burst arrived in any order)
        assert len(big["references"]) == 5 and set(big["references"]) <= recent
        assert sorted(big["notification_ids"]) == sorted(ids)
        assert other[0] not in big["notification_ids"]

        async def delivered() -> bool:
            detail = (await client.get(f"/api/v1/deliveries/{digest_ids[0]}", headers=AUTH)).json()
            return bool(detail["delivery"]["status"] == "delivered")

        await wait_for(delivered)

        # after the window, the same group starts again with a new digest
        receiver.requests.clear()
        [later] = await _report(client, 1)
        again = (await client.get(f"/api/v1/notifications/{later}", headers=AUTH)).json()
        assert again["notification"]["status"] == "grouped" and not {d["id"] for d in again["deliveries"]} & set(
            digest_ids
        )
        clock.advance(61)
        await gateway.sweep()
        await wait_for(lambda: len(receiver.requests) >= 2)
        assert [data["count"] for _, data in _digests(receiver)] == [1, 1]


async def test_repeat_interval_holds_the_next_digest_back(sqlite_url: str, receiver: Receiver) -> None:
    """With ``repeat_interval``, the next digest of a group waits that long after the previous one."""
    rules = [
        {
            "name": "declines folded",
            "match": {"codes": ["card_declined"]},
            "group_by": ["platform", "code"],
            "group_window": "60s",
            "repeat_interval": "10m",
            "send": [{"channel": "webhook", "to": ["receiver"]}],
        }
    ]
    gateway = await migrated_gateway(_settings(sqlite_url, receiver, rules=rules))
    async with api_client(gateway) as client:
        await _report(client, 3)
        clock.advance(61)
        await gateway.sweep()
        await wait_for(lambda: len(receiver.requests) == 1)
        [later] = await _report(client, 1)
        clock.advance(61)  # the window has closed, but the repeat interval has not passed
        await gateway.sweep()
        await asyncio.sleep(0.5)
        assert len(receiver.requests) == 1
        [digest] = (await client.get(f"/api/v1/notifications/{later}", headers=AUTH)).json()["deliveries"]
        assert digest["status"] == "pending"
        clock.advance(9 * 60)
        await gateway.sweep()
        await wait_for(lambda: len(receiver.requests) == 2)
        assert [data["count"] for _, data in _digests(receiver)] == [3, 1]


async def test_one_digest_across_api_processes_and_workers(
    tmp_path: Path, postgres_url: str, redis_url: str, queue_name: str, receiver: Receiver
) -> None:
    """Two gateways ingesting at once and two ``notigate worker`` processes still send one digest."""
    config = worker_config(
        tmp_path,
        postgres_url,
        redis_url,
        queue_name,
        receiver.url,
        rules=(
            'name = "declines folded"\nmatch = { codes = ["card_declined"] }\ngroup_by = ["platform", "code"]\n'
            'group_window = "8s"\nsend = [{ channel = "webhook", to = ["receiver"] }]'
        ),
    )
    rules = [
        {
            "name": "declines folded",
            "match": {"codes": ["card_declined"]},
            "group_by": ["platform", "code"],
            "group_window": "8s",
            "send": [{"channel": "webhook", "to": ["receiver"]}],
        }
    ]
    settings = make_settings(postgres_url, receiver.url, queue={"url": redis_url, "name": queue_name}, rules=rules)
    first, second = await migrated_gateway(settings), await migrated_gateway(settings)
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "notigate", "worker", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "CI": ""},
        )
        for _ in range(2)
    ]
    try:
        async with api_client(first) as a, api_client(second) as b:
            ids = [i for pair in await asyncio.gather(_report(a, 40), _report(b, 40)) for i in pair]
            await wait_for(lambda: len(receiver.requests) >= 1, timeout=30)
            await asyncio.sleep(2)  # a second digest, if any, would arrive now
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(timeout=30)
    [(_, data)] = _digests(receiver)
    assert data["count"] == 80 and sorted(data["notification_ids"]) == sorted(ids)
    assert json.loads(receiver.requests[0].body)["data"]["latest"]["code"] == "card_declined"
