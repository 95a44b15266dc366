"""Every query Notigate runs, in one place, over the tables of ``tables.py``.

The database is the source of truth for deliveries: the queue only carries ids. State
changes are guarded in SQL (claim only what is due; finish only what we claimed), so a
job that runs twice, or late, changes nothing.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
from piccolo.columns.combination import WhereRaw

from notigate import blips
from notigate.clock import as_utc as _dt
from notigate.clock import stored_utc, utcnow
from notigate.events import Event, Notification, NotificationStatus
from notigate.ids import new_id
from notigate.storage import deliveries_pg, digests, inhibitions
from notigate.storage.batching import Batcher
from notigate.storage.database import Database
from notigate.storage.deliveries_pg import Finish
from notigate.storage.plans import Plan
from notigate.storage.status import NOTIFICATION_STATUS_FROM_S, STATUSES_KEPT
from notigate.storage.tables import AttemptRow, DeliveryRow, NotificationRow

_OF_NOTIFICATION = (
    '"notification_id" = {} OR "id" IN (SELECT "delivery_id" FROM "digest_members" WHERE "notification_id" = {})'
)
"""A notification's deliveries: its own and the digests it was folded into (the id twice)."""

FINISH_WINDOW = 0.005
"""Seconds finished attempts wait to be stored together (a delivery's status shows it that much later)."""

# The whole ingest write in one statement (PostgreSQL): the notification, and its
# deliveries only if the notification was new. Atomic without BEGIN/COMMIT round trips.
_INGEST_PG = """
WITH n AS (
    INSERT INTO notifications (id, dedupe_key, platform, code, severity, message, platform_code, amount,
        currency, reference, merchant_id, occurred_at, received_at, status, metadata, matched_rules,
        request_fingerprint)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
    ON CONFLICT (dedupe_key) DO NOTHING RETURNING id
), d AS (
    INSERT INTO deliveries (id, notification_id, channel, recipient, rule, locale, timezone, status, attempts,
        next_attempt_at, created_at, updated_at, note)
    SELECT t.id, n.id, t.channel, t.recipient, t.rule, t.locale, t.timezone, t.status, 0, t.due, $13, $13, t.note
    FROM n, unnest($18::text[], $19::text[], $20::text[], $21::text[], $22::text[], $23::text[], $24::text[],
                   $25::timestamptz[], $26::text[])
        AS t(id, channel, recipient, rule, locale, timezone, status, due, note)
    RETURNING 1
)
SELECT (SELECT id FROM n) AS id, (SELECT count(*) FROM d) AS deliveries
"""


class DeliveryView(msgspec.Struct, frozen=True, kw_only=True):
    """A delivery as the API shows it."""

    id: str
    notification_id: str
    channel: str
    recipient: str
    rule: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    locale: str
    timezone: str
    captured: dict[str, Any] | None = None
    budget_from: int = 0
    """Attempts made before the last replay: the retry budget counts from here."""
    budget_since: datetime | None = None
    group_key: str | None = None
    """Set on a digest: the group whose members it carries."""
    note: str | None = None
    """Why it waits or was muted (quiet hours, a digest window, a silence, an inhibition)."""


class Stored(msgspec.Struct, kw_only=True):
    """What ``store_event`` did: the notification's id, whether it is new, and the deliveries
    to enqueue now (``due``) or at a later time (held by quiet hours, digests)."""

    id: str
    created: bool
    status: NotificationStatus
    """The notification's status as stored (a repeat: the existing one's, as it is now)."""
    due: list[str] = msgspec.field(default_factory=list)
    later: list[tuple[str, datetime]] = msgspec.field(default_factory=list)
    fingerprint: str | None = None
    """On a repeat: the fingerprint stored with the existing notification (None if it has none)."""


class Claimed(msgspec.Struct, frozen=True, kw_only=True):
    """A delivery claimed for one attempt (``attempt`` is its 1-based number)."""

    delivery: DeliveryView
    attempt: int
    notification: Notification | None = None
    """Read with the claim where the engine can (PostgreSQL); None: load it separately."""


def dedupe_key(platform: str, key: str) -> str:
    """One column that encodes the (platform, platform key) pair, unique in both engines."""
    return hashlib.sha256(f"{platform}\x00{key}".encode()).hexdigest()


def to_notification(row: dict[str, Any]) -> Notification:
    return Notification(
        id=row["id"],
        platform=row["platform"],
        code=row["code"],
        severity=row["severity"],
        message=row["message"],
        platform_code=row["platform_code"],
        occurred_at=stored_utc(row["occurred_at"]),
        received_at=stored_utc(row["received_at"]),
        status=row["status"],
        amount=Decimal(row["amount"]) if row["amount"] is not None else None,
        currency=row["currency"],
        reference=row["reference"],
        merchant_id=row["merchant_id"],
        metadata=msgspec.json.decode(row["metadata"]) if row["metadata"] else {},
    )


def to_delivery(row: dict[str, Any]) -> DeliveryView:
    return DeliveryView(
        id=row["id"],
        notification_id=row["notification_id"],
        channel=row["channel"],
        recipient=row["recipient"],
        rule=row["rule"],
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=_dt(row["next_attempt_at"]),
        last_error=row["last_error"],
        delivered_at=_dt(row["delivered_at"]),
        created_at=_dt(row["created_at"]),  # type: ignore[arg-type]
        locale=row["locale"],
        timezone=row["timezone"],
        captured=msgspec.json.decode(row["captured"]) if row.get("captured") else None,
        budget_from=row.get("budget_from", 0),
        budget_since=_dt(row.get("budget_since")),
        group_key=row.get("group_key"),
        note=row.get("note"),
    )


class Repository:
    """Typed queries over one ``Database``."""

    def __init__(self, db: Database) -> None:
        self._finishes: Batcher[Finish, bool] = Batcher(self._finish_batch, window=FINISH_WINDOW)
        self.db = db

    # -- ingest ---------------------------------------------------------------
    async def store_event(
        self,
        event: Event,
        notification: Notification,
        plans: list[Plan],
        matched_rules: list[str],
        inhibits: dict[str, tuple[str, float]] | None = None,
        fingerprint: str | None = None,
    ) -> Stored:
        """Store a notification and its deliveries (digest memberships, and the inhibitions it starts:
        ``Policies.sources``) atomically, with the ``fingerprint`` of the request it came from.

        A repeat of a known (platform, key) stores nothing and returns the existing id, and
        the existing fingerprint, with ``created`` False; the database's unique key decides,
        not a read before the write.
        """
        key = dedupe_key(event.platform, event.key)
        n = notification
        values: dict[str, Any] = {  # in the column order of _INGEST_PG
            "id": n.id,
            "dedupe_key": key,
            "platform": n.platform,
            "code": n.code,
            "severity": n.severity,
            "message": n.message,
            "platform_code": n.platform_code,
            "amount": str(n.amount) if n.amount is not None else None,
            "currency": n.currency,
            "reference": n.reference,
            "merchant_id": n.merchant_id,
            "occurred_at": n.occurred_at,
            "received_at": n.received_at,
            "status": n.status,
            "metadata": msgspec.json.encode(n.metadata).decode(),
            "matched_rules": msgspec.json.encode(matched_rules).decode(),
            "request_fingerprint": fingerprint,
        }
        plain = [p for p in plans if p.digest is None]
        ids = [new_id("dlv") for _ in plain]
        stored = Stored(id=n.id, created=True, status=n.status)
        for delivery_id, plan in zip(ids, plain, strict=True):
            if plan.status == "pending" and plan.due <= n.received_at:
                stored.due.append(delivery_id)
            elif plan.status == "pending":
                stored.later.append((delivery_id, plan.due))
        if self.db.is_sqlite or len(plain) < len(plans) or inhibits:
            inserted = await self._store_in_transaction(values, ids, plans, stored, inhibits or {})
        else:
            row = await self.db.fetchrow_pg(
                _INGEST_PG,
                *values.values(),
                ids,
                [p.route.channel for p in plain],
                [p.route.recipient for p in plain],
                [p.route.rule for p in plain],
                [p.route.locale for p in plain],
                [p.route.timezone for p in plain],
                [p.status for p in plain],
                [p.due if p.status == "pending" else None for p in plain],
                [p.note for p in plain],
            )
            inserted = row["id"] is not None
        if inserted:
            return stored
        existing = (
            await NotificationRow.select(
                NotificationRow.id, NotificationRow.status, NotificationRow.request_fingerprint
            )
            .where(NotificationRow.dedupe_key == key)
            .first()
            or {}
        )
        if existing.get("id") == n.id:  # ours: stored by a try whose answer was lost (a connection blip)
            return stored
        return Stored(
            id=existing.get("id", ""),
            created=False,
            status=existing.get("status", "received"),
            fingerprint=existing.get("request_fingerprint"),
        )

    async def _store_in_transaction(
        self,
        values: dict[str, Any],
        ids: list[str],
        plans: list[Plan],
        stored: Stored,
        inhibits: dict[str, tuple[str, float]],
    ) -> bool:
        now = values["received_at"]
        plain = [p for p in plans if p.digest is None]
        async with self.db.write():
            inserted = (
                await NotificationRow.insert(NotificationRow(**values))
                .on_conflict(target=NotificationRow.dedupe_key, action="DO NOTHING")
                .returning(NotificationRow.id)
            )
            if not inserted:
                return False
            if plain:
                await DeliveryRow.insert(
                    *(
                        DeliveryRow(
                            id=i,
                            notification_id=values["id"],
                            channel=p.route.channel,
                            recipient=p.route.recipient,
                            rule=p.route.rule,
                            locale=p.route.locale,
                            timezone=p.route.timezone,
                            status=p.status,
                            attempts=0,
                            next_attempt_at=p.due if p.status == "pending" else None,
                            note=p.note,
                            created_at=now,
                            updated_at=now,
                        )
                        for i, p in zip(ids, plain, strict=True)
                    )
                )
            for plan in plans:
                if plan.digest is not None:
                    delivery_id, due = await digests.join(self.db, plan, values["id"], now)
                    if due is not None:
                        stored.later.append((delivery_id, due))
            await inhibitions.start(self.db, inhibits, values["id"], now)  # last: its row locks are held briefly
        return True

    # -- reads ----------------------------------------------------------------
    async def notification(self, notification_id: str) -> Notification | None:
        row = await NotificationRow.select().where(NotificationRow.id == notification_id).first()
        return to_notification(row) if row else None

    async def notification_routed(self, notification_id: str) -> tuple[Notification, list[str]] | None:
        """The notification and the rules that routed it, from one read."""
        row = await NotificationRow.select().where(NotificationRow.id == notification_id).first()
        if row is None:
            return None
        return to_notification(row), msgspec.json.decode(row["matched_rules"] or "[]", type=list[str])

    async def deliveries_of(self, notification_id: str) -> list[DeliveryView]:
        """Its own deliveries and the digests it was folded into."""
        rows = await self.db.fetch(
            f'SELECT * FROM "deliveries" WHERE {_OF_NOTIFICATION} ORDER BY "id"', notification_id, notification_id
        )
        return [to_delivery(r) for r in rows]

    async def delivery(self, delivery_id: str) -> DeliveryView | None:
        row = await DeliveryRow.select().where(DeliveryRow.id == delivery_id).first()
        return to_delivery(row) if row else None

    async def attempts_of(self, delivery_id: str) -> list[dict[str, Any]]:
        return await AttemptRow.select().where(AttemptRow.delivery_id == delivery_id).order_by(AttemptRow.number)

    async def list_notifications(
        self,
        *,
        limit: int,
        before: str | None = None,
        platform: str | None = None,
        code: str | None = None,
        severity: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        reference: str | None = None,
    ) -> list[Notification]:
        """Newest first; ``before`` is the cursor (an id: ids sort by time)."""
        query = NotificationRow.select().order_by(NotificationRow.id, ascending=False).limit(limit)
        if before is not None:
            query = query.where(NotificationRow.id < before)
        for column, value in (
            (NotificationRow.platform, platform),
            (NotificationRow.code, code),
            (NotificationRow.severity, severity),
            (NotificationRow.status, status),
            (NotificationRow.reference, reference),
        ):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(NotificationRow.received_at >= since)
        if until is not None:
            query = query.where(NotificationRow.received_at < until)
        return [to_notification(r) for r in await query]

    async def list_deliveries(
        self,
        *,
        limit: int,
        before: str | None = None,
        status: str | None = None,
        channel: str | None = None,
        recipient: str | None = None,
        notification_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        overdue_at: datetime | None = None,
    ) -> list[DeliveryView]:
        """Newest first, without ``captured`` (a list stays light); ``before`` is the cursor (an id: ids sort by time).

        ``notification_id`` also finds the digests it was folded into, as ``deliveries_of`` does;
        ``overdue_at`` keeps those due at or before it and still unsent (pending or retrying).
        """
        query = (
            DeliveryRow.select(*DeliveryRow.all_columns(exclude=[DeliveryRow.captured]))
            .order_by(DeliveryRow.id, ascending=False)
            .limit(limit)
        )
        if before is not None:
            query = query.where(DeliveryRow.id < before)
        for column, value in (
            (DeliveryRow.status, status),
            (DeliveryRow.channel, channel),
            (DeliveryRow.recipient, recipient),
        ):
            if value is not None:
                query = query.where(column == value)
        if notification_id is not None:
            query = query.where(WhereRaw(f"({_OF_NOTIFICATION})", notification_id, notification_id))
        if since is not None:
            query = query.where(DeliveryRow.created_at >= since)
        if until is not None:
            query = query.where(DeliveryRow.created_at < until)
        if overdue_at is not None:
            query = query.where(
                DeliveryRow.status.is_in(["pending", "retrying"]), DeliveryRow.next_attempt_at <= overdue_at
            )
        return [to_delivery(r) for r in await query]

    # -- delivery state machine -----------------------------------------------
    async def claim_many(self, delivery_ids: list[str], *, lease: float) -> list[Claimed]:
        """Take the due ones among ``delivery_ids`` for one attempt each (the others are not ours to send now).

        On PostgreSQL one statement claims them all and reads their notifications (``deliveries_pg``).
        A connection blip is retried: a claim that went through unanswered leaves those deliveries
        ``sending`` until their lease runs out, and then they are sent.
        """
        return await blips.DATABASE(self._claim_many, delivery_ids, lease)

    async def _claim_many(self, delivery_ids: list[str], lease: float) -> list[Claimed]:
        now = utcnow()
        lease_until = now + timedelta(seconds=lease)
        if not self.db.is_sqlite:
            claimed = []
            for row in await deliveries_pg.claim(self.db, delivery_ids, lease_until=lease_until, now=now):
                delivery, notification = deliveries_pg.split_claim_row(row)
                view = to_delivery(delivery)
                claimed.append(
                    Claimed(
                        delivery=view,
                        attempt=view.attempts,
                        notification=to_notification(notification) if notification else None,
                    )
                )
            return claimed
        claimed = []
        for delivery_id in delivery_ids:
            rows = await self.db.write_one(
                'UPDATE "deliveries" SET "status" = \'sending\', "attempts" = "attempts" + 1, '
                '"lease_until" = {}, "updated_at" = {} WHERE "id" = {} AND "status" IN (\'pending\', \'retrying\') '
                'AND "next_attempt_at" <= {} RETURNING *',
                lease_until,
                now,
                delivery_id,
                now,
            )
            if rows:
                view = to_delivery(rows[0])
                claimed.append(Claimed(delivery=view, attempt=view.attempts))
        return claimed

    async def release(self, claimed: Claimed) -> None:
        """Give an attempt back unused (the worker is shutting down): no attempt is burnt."""
        status = "pending" if claimed.attempt == 1 else "retrying"
        await self.db.write_one(
            'UPDATE "deliveries" SET "status" = {}, "attempts" = "attempts" - 1, "lease_until" = NULL, '
            '"next_attempt_at" = {} WHERE "id" = {} AND "status" = \'sending\' AND "attempts" = {}',
            status,
            utcnow(),
            claimed.delivery.id,
            claimed.attempt,
        )

    async def defer(self, claimed: Claimed, *, until: datetime, reason: str) -> bool:
        """Put a claimed delivery back unattempted until ``until`` (its destination's breaker is open)."""
        status = "pending" if claimed.attempt == 1 else "retrying"
        rows = await self.db.write_one(
            'UPDATE "deliveries" SET "status" = {}, "attempts" = "attempts" - 1, "lease_until" = NULL, '
            '"next_attempt_at" = {}, "last_error" = {}, "updated_at" = {} '
            'WHERE "id" = {} AND "status" = \'sending\' AND "attempts" = {} RETURNING "id"',
            status,
            until,
            reason,
            utcnow(),
            claimed.delivery.id,
            claimed.attempt,
        )
        return bool(rows)

    async def finish(
        self,
        claimed: Claimed,
        *,
        outcome: str,
        status: str,
        started_at: datetime,
        error: str | None = None,
        status_code: int | None = None,
        next_attempt_at: datetime | None = None,
        captured: str | None = None,
    ) -> bool:
        """Record the attempt and move the delivery on, only if our claim still holds.

        Attempts finishing at about the same time are stored together (``finish_many``).
        """
        return await self._finishes(
            Finish(
                delivery_id=claimed.delivery.id,
                attempt=claimed.attempt,
                status=status,
                outcome=outcome,
                started_at=started_at,
                next_attempt_at=next_attempt_at,
                error=error,
                captured=captured,
                status_code=status_code,
            )
        )

    async def drain(self) -> None:
        """Store the attempts still gathered (before the database closes)."""
        await self._finishes.drain()

    async def _finish_batch(self, finishes: list[Finish]) -> list[bool]:
        tries = 0

        async def once() -> set[str]:  # safe to repeat: it holds only for our claims
            nonlocal tries
            tries += 1
            held = await self.finish_many(finishes)
            if tries > 1:  # an earlier try may have been stored, its answer lost with the connection
                held |= await self._stored_already([f for f in finishes if f.delivery_id not in held])
            return held

        held = await blips.DATABASE(once)
        return [f.delivery_id in held for f in finishes]

    async def _stored_already(self, finishes: list[Finish]) -> set[str]:
        """Those of ``finishes`` whose attempt is recorded as they say (not as interrupted by a sweep);
        their notifications' statuses are counted again, as that earlier try may not have."""
        if not finishes:
            return set()
        ids = ", ".join("{}" for _ in finishes)
        rows = await self.db.fetch(
            f'SELECT a."delivery_id", a."outcome", d."notification_id" FROM "delivery_attempts" a '
            f'JOIN "deliveries" d ON d."id" = a."delivery_id" WHERE a."id" IN ({ids})',
            *(f"{f.delivery_id}.{f.attempt}" for f in finishes),
        )
        outcomes = {f.delivery_id: f.outcome for f in finishes}
        stored = [r for r in rows if r["outcome"] == outcomes[r["delivery_id"]]]
        for notification_id in sorted({r["notification_id"] for r in stored}):
            async with self.db.write():
                if not self.db.is_sqlite:
                    await self.db.execute('SELECT 1 FROM "notifications" WHERE "id" = {} FOR UPDATE', notification_id)
                await self.refresh_notification_status(notification_id)
        return {r["delivery_id"] for r in stored}

    async def finish_many(self, finishes: list[Finish]) -> set[str]:
        """Record the attempts and move the deliveries on, each only if our claim still holds;
        return the ids whose claim held."""
        now = utcnow()
        if not self.db.is_sqlite:
            return await self._finish_pg(finishes, now)
        held = set()
        for f in finishes:
            async with self.db.write():  # SQLite writes are serial: the recount sees every sibling
                updated = await self.db.fetch(
                    'UPDATE "deliveries" SET "status" = {}, "lease_until" = NULL, "next_attempt_at" = {}, '
                    '"last_error" = {}, "captured" = COALESCE({}, "captured"), "updated_at" = {}, '
                    '"delivered_at" = {} WHERE "id" = {} AND "status" = \'sending\' AND "attempts" = {} '
                    'RETURNING "notification_id"',
                    f.status,
                    f.next_attempt_at,
                    f.error,
                    f.captured,
                    now,
                    now if f.status == "delivered" else None,
                    f.delivery_id,
                    f.attempt,
                )
                if not updated:
                    continue
                await AttemptRow.insert(
                    AttemptRow(
                        id=f"{f.delivery_id}.{f.attempt}",
                        delivery_id=f.delivery_id,
                        number=f.attempt,
                        outcome=f.outcome,
                        status_code=f.status_code,
                        error=f.error,
                        started_at=f.started_at,
                        finished_at=now,
                        duration_ms=(now - f.started_at).total_seconds() * 1000,
                    )
                ).on_conflict(target=AttemptRow.id, action="DO NOTHING")
                await self.refresh_notification_status(updated[0]["notification_id"])
            held.add(f.delivery_id)
        return held

    async def _finish_pg(self, finishes: list[Finish], now: datetime) -> set[str]:
        """``finish`` in one statement; recount again under the notification's lock only where a
        sibling delivery was still under way as that statement saw it (see ``deliveries_pg``)."""
        rows = await deliveries_pg.finish(self.db, finishes, now)
        for notification_id in sorted({notification_id for _, notification_id, busy in rows if busy}):
            async with self.db.write():
                await self.db.execute('SELECT 1 FROM "notifications" WHERE "id" = {} FOR UPDATE', notification_id)
                await self.refresh_notification_status(notification_id)
        return {delivery_id for delivery_id, _, _ in rows}

    async def refresh_notification_status(self, notification_id: str) -> None:
        """Derive the notification's status from its deliveries (``status.NOTIFICATION_STATUS_FROM_S``)."""
        await self.db.execute(
            'WITH s AS (SELECT "status" FROM "deliveries" WHERE "notification_id" = {}) '
            f'UPDATE "notifications" SET "status" = {NOTIFICATION_STATUS_FROM_S} '
            f'WHERE "id" = {{}} AND "status" NOT IN {STATUSES_KEPT}',
            notification_id,
            notification_id,
        )

    async def replay(
        self,
        *,
        delivery_id: str | None = None,
        channel: str | None = None,
        recipient: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[tuple[str, int]]:
        """Re-drive failed deliveries (dead letters) with a fresh attempt budget; return (id, attempts)."""
        now = utcnow()
        conditions: list[str] = ["\"status\" = 'failed'"]
        args: list[Any] = [now, now, now]
        for column, op, value in (
            ("id", "=", delivery_id),
            ("channel", "=", channel),
            ("recipient", "=", recipient),
            ("created_at", ">=", since),
            ("created_at", "<", until),
        ):
            if value is not None:
                conditions.append(f'"{column}" {op} {{}}')
                args.append(value)
        async with self.db.write():
            rows = await self.db.fetch(
                'UPDATE "deliveries" SET "status" = \'retrying\', "next_attempt_at" = {}, "budget_from" = "attempts", '
                '"budget_since" = {}, "updated_at" = {}, "delivered_at" = NULL WHERE '
                + " AND ".join(conditions)
                + ' RETURNING "id", "attempts", "notification_id"',
                *args,
            )
            for notification_id in {r["notification_id"] for r in rows}:
                await self.refresh_notification_status(notification_id)
        return [(r["id"], r["attempts"]) for r in rows]

    async def wake(self, *, channel: str, recipient: str) -> list[tuple[str, int]]:
        """Make every waiting delivery to one recipient due now (an endpoint was enabled again)."""
        now = utcnow()
        rows = await self.db.write_one(
            'UPDATE "deliveries" SET "next_attempt_at" = {}, "updated_at" = {} WHERE "channel" = {} '
            'AND "recipient" = {} AND "status" IN (\'pending\', \'retrying\') RETURNING "id", "attempts"',
            now,
            now,
            channel,
            recipient,
        )
        return [(r["id"], r["attempts"]) for r in rows]

    async def cancel_waiting(self, *, channel: str, recipient: str, reason: str) -> int:
        """Cancel every delivery to one recipient that still waits (its endpoint was deleted); return how many.

        One in flight finishes its attempt; if it must retry, the retry finds the endpoint gone.
        """
        now = utcnow()
        async with self.db.write():
            rows = await self.db.fetch(
                'UPDATE "deliveries" SET "status" = \'cancelled\', "next_attempt_at" = NULL, "last_error" = {}, '
                '"updated_at" = {} WHERE "channel" = {} AND "recipient" = {} AND "status" IN (\'pending\', \'retrying\') '
                'RETURNING "notification_id"',
                reason,
                now,
                channel,
                recipient,
            )
            for notification_id in sorted({r["notification_id"] for r in rows}):
                if not self.db.is_sqlite:  # serialised with finish()'s recount of sibling deliveries
                    await self.db.execute('SELECT 1 FROM "notifications" WHERE "id" = {} FOR UPDATE', notification_id)
                await self.refresh_notification_status(notification_id)
        return len(rows)

    async def oldest_due(self, now: datetime) -> datetime | None:
        """When the longest-waiting delivery that is due (pending or retrying, not being sent) became due."""
        rows = await self.db.fetch(
            'SELECT MIN("next_attempt_at") AS t FROM "deliveries" '
            "WHERE \"status\" IN ('pending', 'retrying') AND \"next_attempt_at\" <= {}",
            now,
        )
        return _dt(rows[0]["t"]) if rows else None

    async def not_yet_due(self, delivery_ids: list[str]) -> list[tuple[str, int, datetime]]:
        """Those of ``delivery_ids`` waiting for an attempt later than now: (id, attempts, when)."""
        if not delivery_ids:
            return []
        ids = ", ".join("{}" for _ in delivery_ids)
        rows = await self.db.fetch(
            f'SELECT "id", "attempts", "next_attempt_at" FROM "deliveries" WHERE "id" IN ({ids}) '
            "AND \"status\" IN ('pending', 'retrying') AND \"next_attempt_at\" > {}",
            *delivery_ids,
            utcnow(),
        )
        return [(r["id"], r["attempts"], _dt(r["next_attempt_at"])) for r in rows]  # type: ignore[misc]

    async def renew_leases(self, claims: dict[str, int], until: datetime) -> None:
        """Extend to ``until`` the leases of the deliveries this process is still sending (its heartbeat):
        ``claims`` maps each to the attempt it claimed, so a claim another process has since made stays its own."""
        pairs = sorted(claims.items())
        for start in range(0, len(pairs), 500):
            chunk = pairs[start : start + 500]
            if self.db.is_sqlite:
                match = " OR ".join('("id" = {} AND "attempts" = {})' for _ in chunk)
                await self.db.write_one(
                    f'UPDATE "deliveries" SET "lease_until" = {{}} WHERE "status" = \'sending\' AND ({match})',
                    until,
                    *(v for pair in chunk for v in pair),
                )
            else:
                await self.db.write_one(
                    'UPDATE "deliveries" d SET "lease_until" = {} FROM unnest({}::varchar[], {}::integer[]) '
                    'AS c("id", "attempts") WHERE d."id" = c."id" AND d."attempts" = c."attempts" '
                    "AND d.\"status\" = 'sending'",
                    until,
                    [i for i, _ in chunk],
                    [a for _, a in chunk],
                )

    # -- the outbox sweep -----------------------------------------------------
    async def recover_expired_leases(self) -> list[tuple[str, int]]:
        """Deliveries left in ``sending`` by a dead worker become due again.

        The interrupted attempt is recorded (its outcome is unknown: the receiver may
        have got it, and will see the same message id again).
        """
        now = utcnow()
        async with self.db.write():
            rows = await self.db.fetch(
                'UPDATE "deliveries" SET "status" = \'retrying\', "lease_until" = NULL, "next_attempt_at" = {}, '
                '"last_error" = \'attempt interrupted: the worker stopped before it finished\', "updated_at" = {} '
                'WHERE "status" = \'sending\' AND "lease_until" < {} RETURNING "id", "attempts"',
                now,
                now,
                now,
            )
            for row in rows:
                await AttemptRow.insert(
                    AttemptRow(
                        id=f"{row['id']}.{row['attempts']}",
                        delivery_id=row["id"],
                        number=row["attempts"],
                        outcome="interrupted",
                        error="the worker stopped before it finished",
                        started_at=now,
                        finished_at=now,
                        duration_ms=0.0,
                    )
                ).on_conflict(target=AttemptRow.id, action="DO NOTHING")
        return [(r["id"], r["attempts"]) for r in rows]

    async def due(self, *, horizon: datetime, limit: int = 1000) -> list[tuple[str, int, datetime]]:
        """Deliveries waiting for an attempt at or before ``horizon``: (id, attempts, when)."""
        rows = (
            await DeliveryRow.select(DeliveryRow.id, DeliveryRow.attempts, DeliveryRow.next_attempt_at)
            .where(DeliveryRow.status.is_in(["pending", "retrying"]), DeliveryRow.next_attempt_at <= horizon)
            .order_by(DeliveryRow.next_attempt_at)
            .limit(limit)
        )
        return [(r["id"], r["attempts"], _dt(r["next_attempt_at"])) for r in rows]  # type: ignore[misc]

    # -- metrics --------------------------------------------------------------
    async def counts(self) -> dict[str, list[dict[str, Any]]]:
        """Totals for /metrics, from the database so every process reports the same."""
        return {
            "notifications": await self.db.fetch(
                'SELECT "platform", "code", COUNT(*) AS n FROM "notifications" GROUP BY "platform", "code"'
            ),
            "deliveries": await self.db.fetch(
                'SELECT "channel", "status", COUNT(*) AS n FROM "deliveries" GROUP BY "channel", "status"'
            ),
            "breakers": await self.db.fetch('SELECT "destination", "state" FROM "breakers"'),
            "attempts": await self.db.fetch(
                'SELECT d."channel", a."outcome", COUNT(*) AS n FROM "delivery_attempts" a '
                'JOIN "deliveries" d ON d."id" = a."delivery_id" GROUP BY d."channel", a."outcome"'
            ),
        }
