"""The batched claim and finish on PostgreSQL (``notigate.storage.deliveries_pg``), one statement each.

The race test forces the interleaving that a single statement under READ COMMITTED gets
wrong: a sibling's finish commits while ours waits for the notification row, after our
statement took its snapshot. Without the locked recount the notification stays
'delivering' for ever.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from typing import Any

import asyncpg
from support import make_settings, migrated_gateway

from notigate.app.gateway import Gateway
from notigate.events import Event
from notigate.ingest.pipeline import normalize
from notigate.plugin.route import Route
from notigate.storage import deliveries_pg
from notigate.storage.plans import Plan
from notigate.storage.repository import Claimed


async def _store(gateway: Gateway, key: str, recipients: tuple[str, ...]) -> tuple[str, list[Claimed]]:
    event = Event(
        platform="arindo", key=key, code="timeout", message="m", platform_code="x", occurred_at=datetime.now(UTC)
    )
    notification = normalize(event)
    plans = [
        Plan(route=Route(channel="webhook", recipient=r, rule="r"), due=notification.received_at) for r in recipients
    ]
    stored = await gateway.repo.store_event(event, notification, plans, ["r"])
    notification_id, ids = stored.id, stored.due
    claims = await gateway.repo.claim_many(ids, lease=60)
    assert len(claims) == len(ids)
    return notification_id, claims


async def _status(gateway: Gateway, notification_id: str) -> str:
    stored = await gateway.repo.notification(notification_id)
    assert stored is not None
    return stored.status


async def test_claim_reads_the_notification_with_the_delivery(postgres_url: str) -> None:
    gateway = await migrated_gateway(make_settings(postgres_url))
    await gateway.start(run_deliveries=False)
    try:
        notification_id, (claimed,) = await _store(gateway, "one", ("receiver",))
        assert claimed.notification == await gateway.repo.notification(notification_id)
        assert claimed.attempt == 1 and claimed.delivery.status == "sending"
        assert await gateway.repo.claim_many([claimed.delivery.id], lease=60) == []  # taken already
    finally:
        await gateway.close()


async def test_a_sibling_committing_while_we_wait_for_the_notification_row(postgres_url: str) -> None:
    gateway = await migrated_gateway(make_settings(postgres_url))
    await gateway.start(run_deliveries=False)
    other = await asyncpg.connect(postgres_url)
    watcher = await asyncpg.connect(postgres_url)
    try:
        notification_id, (a, b) = await _store(gateway, "race", ("receiver", "other"))
        now = datetime.now(UTC)
        sibling = other.transaction()
        await sibling.start()  # b finishes, holding the notification row, not committed yet
        await other.fetch(
            deliveries_pg.FINISH_PG,
            *deliveries_pg.finish_args(
                [
                    deliveries_pg.Finish(
                        delivery_id=b.delivery.id,
                        attempt=b.attempt,
                        outcome="delivered",
                        status="delivered",
                        started_at=now,
                        status_code=200,
                    )
                ],
                now,
            ),
        )
        ours = asyncio.create_task(gateway.repo.finish(a, outcome="delivered", status="delivered", started_at=now))
        for _ in range(200):  # our statement has its snapshot (b still 'sending') and waits for the row lock
            if await watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            ):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("our finish never waited for the sibling's lock")
        await sibling.commit()
        assert await ours
        assert await _status(gateway, notification_id) == "delivered"
    finally:
        await other.close()
        await watcher.close()
        await gateway.close()


async def test_the_one_statement_recount_agrees_with_refresh_notification_status(postgres_url: str) -> None:
    """Every mix of sibling states and outcomes: finish's recount equals the reference one."""
    gateway = await migrated_gateway(make_settings(postgres_url))
    await gateway.start(run_deliveries=False)
    conn = await asyncpg.connect(postgres_url)
    try:
        states = ("pending", "retrying", "delivered", "failed", "cancelled")
        outcomes: list[dict[str, Any]] = [
            {"outcome": "delivered", "status": "delivered"},
            {"outcome": "permanent", "status": "failed"},
            {"outcome": "cancelled", "status": "cancelled"},
            {"outcome": "transient", "status": "retrying", "next_attempt_at": datetime.now(UTC)},
        ]
        for i, (siblings, outcome) in enumerate(
            itertools.product([*itertools.product(states, repeat=2), ("delivered",), ()], outcomes)
        ):
            recipients = ("receiver", *(f"s{j}" for j in range(len(siblings))))
            notification_id, (claimed, *others) = await _store(gateway, f"mix{i}", recipients)
            for o, state in zip(others, siblings, strict=True):
                await conn.execute("UPDATE deliveries SET status = $1 WHERE id = $2", state, o.delivery.id)
            assert await gateway.repo.finish(claimed, started_at=datetime.now(UTC), **outcome)
            fast = await _status(gateway, notification_id)
            await gateway.repo.refresh_notification_status(notification_id)
            assert fast == await _status(gateway, notification_id), (siblings, outcome)
    finally:
        await conn.close()
        await gateway.close()


async def test_a_batch_claims_only_what_is_due_and_records_each_result(postgres_url: str) -> None:
    """One claim for several notifications' deliveries; one finish whose batch holds siblings of one
    notification (their new statuses count together) and a claim that no longer holds."""
    gateway = await migrated_gateway(make_settings(postgres_url))
    await gateway.start(run_deliveries=False)
    try:
        event = Event(
            platform="arindo",
            key="batch",
            code="timeout",
            message="m",
            platform_code="x",
            occurred_at=datetime.now(UTC),
        )
        notification = normalize(event)
        plans = [
            Plan(route=Route(channel="webhook", recipient=r, rule="r"), due=notification.received_at)
            for r in ("a", "b", "c")
        ]
        stored = await gateway.repo.store_event(event, notification, plans, ["r"])
        _, (taken,) = await _store(gateway, "batch-other", ("receiver",))
        claimed = await gateway.repo.claim_many([*stored.due, taken.delivery.id, "no-such-id"], lease=60)
        assert sorted(c.delivery.id for c in claimed) == sorted(stored.due)  # `taken` was claimed already
        assert all(c.notification is not None and c.notification.id == stored.id for c in claimed)
        now = datetime.now(UTC)
        a, b, c = claimed
        results = [
            deliveries_pg.Finish(
                delivery_id=a.delivery.id,
                attempt=a.attempt,
                outcome="delivered",
                status="delivered",
                started_at=now,
                status_code=200,
            ),
            deliveries_pg.Finish(
                delivery_id=b.delivery.id,
                attempt=b.attempt,
                outcome="permanent",
                status="failed",
                started_at=now,
                error="gone",
                status_code=400,
            ),
            deliveries_pg.Finish(
                delivery_id=c.delivery.id,
                attempt=c.attempt + 1,
                outcome="delivered",
                status="delivered",
                started_at=now,
            ),
        ]  # not our claim
        assert await gateway.repo.finish_many(results) == {a.delivery.id, b.delivery.id}
        assert await _status(gateway, stored.id) == "delivering"  # c is still sending
        assert await gateway.repo.finish(c, outcome="delivered", status="delivered", started_at=now)
        assert await _status(gateway, stored.id) == "partially_delivered"
        attempts = await gateway.repo.attempts_of(b.delivery.id)
        assert [(x["number"], x["outcome"], x["error"], x["status_code"]) for x in attempts] == [
            (1, "permanent", "gone", 400)
        ]
    finally:
        await gateway.close()
