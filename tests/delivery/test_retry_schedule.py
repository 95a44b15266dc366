"""The retry schedule as a subscriber sees it (Svix-style): one message id, exponential waits with full jitter.

backoff.py waits ``uniform(initial, cap_k)`` after failed attempt k, with
``cap_k = min(backoff_max, initial * 2**(k-1))``. The stored ``next_attempt_at`` of each
attempt is read back right after the attempt is recorded and compared with that schedule.
"""

from __future__ import annotations

import asyncio
import itertools
import types
from datetime import datetime
from typing import Any

import pytest
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

from notigate.app.gateway import Gateway
from notigate.clock import utcnow
from notigate.delivery import backoff
from notigate.testing import Receiver

FAILURES = 5


def _caps(initial: float, maximum: float) -> list[float]:
    return [min(maximum, initial * 2 ** (k - 1)) for k in range(1, FAILURES + 1)]


def _spy_schedule(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record, per failed attempt, the delay stored in ``next_attempt_at`` (measured from just before the write)."""
    delays: list[float] = []
    finish = gateway.repo.finish

    async def spy(claimed: Any, **kwargs: Any) -> bool:
        before: datetime = utcnow()
        done = await finish(claimed, **kwargs)
        if kwargs.get("status") == "retrying":
            stored = await gateway.repo.delivery(claimed.delivery.id)
            assert stored is not None and stored.next_attempt_at is not None
            delays.append((stored.next_attempt_at - before).total_seconds())
        return done

    monkeypatch.setattr(gateway.repo, "finish", spy)
    return delays


async def _run(
    database_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, initial: str
) -> tuple[list[float], list[float], dict[str, Any]]:
    """Five 500s then a 200; return the stored delays, the receiver's gaps and the delivery's detail."""
    receiver.script(*[(500, {})] * FAILURES + [(200, {})])
    settings = make_settings(
        database_url,
        receiver.url,
        delivery={"backoff_initial": initial, "backoff_max": "2s", "max_attempts": 10, "breaker_threshold": 100},
    )
    gateway = await migrated_gateway(settings)
    delays = _spy_schedule(gateway, monkeypatch)
    async with api_client(gateway) as client:
        response = await client.post("/api/v1/platforms/arindo/callbacks", content=arindo_body(), headers=JSON)
        notification_id = response.headers["notigate-notification-ids"]
        notification = await wait_for(
            lambda: value_when(
                lambda: client.get(f"/api/v1/notifications/{notification_id}", headers=AUTH),
                lambda r: r.json()["notification"]["status"] == "delivered",
            ),
            timeout=20,
        )
        [delivery] = notification.json()["deliveries"]
        detail = (await client.get(f"/api/v1/deliveries/{delivery['id']}", headers=AUTH)).json()
    arrivals = [r.at for r in receiver.requests]
    assert len(arrivals) == FAILURES + 1
    assert {r.headers["webhook-id"] for r in receiver.requests} == {delivery["id"]}
    assert [(a["number"], a["outcome"]) for a in detail["attempts"]] == (
        [(k, "transient") for k in range(1, FAILURES + 1)] + [(FAILURES + 1, "delivered")]
    )
    return delays, [b - a for a, b in itertools.pairwise(arrivals)], detail


async def test_each_wait_stays_within_its_exponential_cap(
    database_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One webhook-id, six attempts, and every wait between backoff_initial and its doubling cap.

    Full jitter draws each wait anew between ``backoff_initial`` and ``cap_k``, so wait 3 is
    often shorter than wait 2: strict growth is not a property of the waits, only of their
    caps. So this asserts the bound (stored and as the receiver saw it); the next test pins
    the jitter at its maximum to watch the waits themselves double.
    """
    initial = 0.05
    delays, gaps, _ = await _run(database_url, receiver, monkeypatch, "50ms")
    caps = _caps(initial, 2.0)
    assert len(delays) == FAILURES
    for k, (delay, gap, cap) in enumerate(zip(delays, gaps, caps, strict=True), start=1):
        assert initial - 0.02 <= delay <= cap, f"stored wait {k} is {delay:.3f}s, outside [{initial}, {cap}]"
        assert gap >= delay - 0.01, f"attempt {k + 1} came {gap:.3f}s after attempt {k}, before its time"
        assert gap <= cap + 0.5, f"attempt {k + 1} came {gap:.3f}s after attempt {k} (cap {cap}s)"


async def test_waits_double_with_the_jitter_at_its_maximum(
    database_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the jitter pinned to the top of its range, the stored waits are the caps and double each time;
    the receiver sees each gap no shorter than its stored wait.

    Growth is asserted on the stored schedule, not on the receiver's gaps: those add scheduling
    and I/O delays (200 ms seen on a loaded machine), which can outgrow a 100 ms step.
    """
    monkeypatch.setattr(backoff, "random", types.SimpleNamespace(uniform=lambda low, high: high))
    delays, gaps, _ = await _run(database_url, receiver, monkeypatch, "100ms")
    for k, (delay, gap, cap) in enumerate(zip(delays, gaps, _caps(0.1, 2.0), strict=True), start=1):
        assert cap - 0.02 <= delay <= cap, f"stored wait {k} is {delay:.3f}s, not its cap {cap}s"
        assert delay - 0.01 <= gap <= delay + 0.5, f"attempt {k + 1} came {gap:.3f}s after attempt {k}"
    assert all(b > 1.9 * a for a, b in itertools.pairwise(delays)), f"stored waits did not double: {delays}"


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
