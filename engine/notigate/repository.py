"""Every query Notigate runs, in one place, over the tables of ``tables.py``.

The database is the source of truth for deliveries: the queue only carries ids. State
changes are guarded in SQL (claim only what is due; finish only what we claimed), so a
job that runs twice, or late, changes nothing.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec

from notigate.database import Database
from notigate.events import Event, Notification
from notigate.ids import new_id
from notigate.routing import Route
from notigate.tables import AttemptRow, DeliveryRow, NotificationRow

ACTIVE = ("pending", "sending", "retrying")


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


class Claimed(msgspec.Struct, frozen=True, kw_only=True):
    """A delivery claimed for one attempt (``attempt`` is its 1-based number)."""

    delivery: DeliveryView
    attempt: int


def utcnow() -> datetime:
    return datetime.now(UTC)


def dedupe_key(platform: str, key: str) -> str:
    """One column that encodes the (platform, platform key) pair, unique in both engines."""
    return hashlib.sha256(f"{platform}\x00{key}".encode()).hexdigest()


def _dt(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value.astimezone(UTC) if isinstance(value, datetime) else None
    return datetime.fromisoformat(str(value)).astimezone(UTC)


def to_notification(row: dict[str, Any]) -> Notification:
    return Notification(
        id=row["id"], platform=row["platform"], code=row["code"], severity=row["severity"],
        message=row["message"], platform_code=row["platform_code"],
        occurred_at=_dt(row["occurred_at"]), received_at=_dt(row["received_at"]),  # type: ignore[arg-type]
        status=row["status"], amount=Decimal(row["amount"]) if row["amount"] is not None else None,
        currency=row["currency"], reference=row["reference"], merchant_id=row["merchant_id"],
        metadata=msgspec.json.decode(row["metadata"]) if row["metadata"] else {},
    )


def to_delivery(row: dict[str, Any]) -> DeliveryView:
    return DeliveryView(
        id=row["id"], notification_id=row["notification_id"], channel=row["channel"],
        recipient=row["recipient"], rule=row["rule"], status=row["status"], attempts=row["attempts"],
        next_attempt_at=_dt(row["next_attempt_at"]), last_error=row["last_error"],
        delivered_at=_dt(row["delivered_at"]), created_at=_dt(row["created_at"]),  # type: ignore[arg-type]
        locale=row["locale"], timezone=row["timezone"],
        captured=msgspec.json.decode(row["captured"]) if row["captured"] else None,
    )


class Repository:
    """Typed queries over one ``Database``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- ingest ---------------------------------------------------------------
    async def store_event(self, event: Event, notification: Notification, routes: list[Route],
                          matched_rules: list[str]) -> tuple[str, list[str], bool]:
        """Store a notification and its deliveries atomically.

        Returns (notification id, new delivery ids, created). A repeat of a known
        (platform, key) stores nothing and returns the existing id with ``created`` False;
        the database's unique key decides, not a read before the write.
        """
        now = notification.received_at
        deliveries = [
            DeliveryRow(id=new_id("dlv"), notification_id=notification.id, channel=r.channel,
                        recipient=r.recipient, rule=r.rule, locale=r.locale, timezone=r.timezone,
                        status="pending", attempts=0, next_attempt_at=now, created_at=now, updated_at=now)
            for r in routes
        ]
        row = NotificationRow(
            id=notification.id, dedupe_key=dedupe_key(event.platform, event.key), platform=notification.platform,
            code=notification.code, severity=notification.severity, message=notification.message,
            platform_code=notification.platform_code,
            amount=str(notification.amount) if notification.amount is not None else None,
            currency=notification.currency, reference=notification.reference, merchant_id=notification.merchant_id,
            occurred_at=notification.occurred_at, received_at=now, status=notification.status,
            metadata=msgspec.json.encode(notification.metadata).decode(),
            matched_rules=msgspec.json.encode(matched_rules).decode(),
        )
        async with self.db.write():
            inserted = await NotificationRow.insert(row).on_conflict(
                target=NotificationRow.dedupe_key, action="DO NOTHING"
            ).returning(NotificationRow.id)
            if inserted and deliveries:
                await DeliveryRow.insert(*deliveries)
        if inserted:
            return notification.id, [d.id for d in deliveries], True
        existing = await NotificationRow.select(NotificationRow.id).where(
            NotificationRow.dedupe_key == dedupe_key(event.platform, event.key)
        ).first()
        return (existing or {}).get("id", ""), [], False

    # -- reads ----------------------------------------------------------------
    async def notification(self, notification_id: str) -> Notification | None:
        row = await NotificationRow.select().where(NotificationRow.id == notification_id).first()
        return to_notification(row) if row else None

    async def deliveries_of(self, notification_id: str) -> list[DeliveryView]:
        rows = await DeliveryRow.select().where(DeliveryRow.notification_id == notification_id).order_by(DeliveryRow.id)
        return [to_delivery(r) for r in rows]

    async def delivery(self, delivery_id: str) -> DeliveryView | None:
        row = await DeliveryRow.select().where(DeliveryRow.id == delivery_id).first()
        return to_delivery(row) if row else None

    async def attempts_of(self, delivery_id: str) -> list[dict[str, Any]]:
        return await AttemptRow.select().where(AttemptRow.delivery_id == delivery_id).order_by(AttemptRow.number)  # type: ignore[no-any-return]

    async def list_notifications(self, *, limit: int, before: str | None = None, platform: str | None = None,
                                 code: str | None = None, severity: str | None = None, status: str | None = None,
                                 since: datetime | None = None, until: datetime | None = None) -> list[Notification]:
        """Newest first; ``before`` is the cursor (an id: ids sort by time)."""
        query = NotificationRow.select().order_by(NotificationRow.id, ascending=False).limit(limit)
        conditions = [
            (before, NotificationRow.id < before if before else None),
            (platform, NotificationRow.platform == platform),
            (code, NotificationRow.code == code),
            (severity, NotificationRow.severity == severity),
            (status, NotificationRow.status == status),
            (since, NotificationRow.received_at >= since),
            (until, NotificationRow.received_at < until),
        ]
        for value, condition in conditions:
            if value is not None:
                query = query.where(condition)
        return [to_notification(r) for r in await query]

    # -- delivery state machine -----------------------------------------------
    async def claim(self, delivery_id: str, *, lease: float) -> Claimed | None:
        """Take a due delivery for one attempt, or None if it is not ours to send now."""
        now = utcnow()
        async with self.db.write():
            rows = await self.db.fetch(
                'UPDATE "deliveries" SET "status" = \'sending\', "attempts" = "attempts" + 1, '
                '"lease_until" = {}, "updated_at" = {} WHERE "id" = {} AND "status" IN (\'pending\', \'retrying\') '
                'AND "next_attempt_at" <= {} RETURNING *',
                now + timedelta(seconds=lease), now, delivery_id, now,
            )
        if not rows:
            return None
        view = to_delivery(rows[0])
        return Claimed(delivery=view, attempt=view.attempts)

    async def release(self, claimed: Claimed) -> None:
        """Give an attempt back unused (the worker is shutting down): no attempt is burnt."""
        status = "pending" if claimed.attempt == 1 else "retrying"
        async with self.db.write():
            await self.db.execute(
                'UPDATE "deliveries" SET "status" = {}, "attempts" = "attempts" - 1, "lease_until" = NULL, '
                '"next_attempt_at" = {} WHERE "id" = {} AND "status" = \'sending\' AND "attempts" = {}',
                status, utcnow(), claimed.delivery.id, claimed.attempt,
            )

    async def finish(self, claimed: Claimed, *, outcome: str, status: str, started_at: datetime,
                     error: str | None = None, status_code: int | None = None,
                     next_attempt_at: datetime | None = None, captured: str | None = None) -> bool:
        """Record the attempt and move the delivery on, only if our claim still holds."""
        d = claimed.delivery
        now = utcnow()
        async with self.db.write():
            updated = await self.db.fetch(
                'UPDATE "deliveries" SET "status" = {}, "lease_until" = NULL, "next_attempt_at" = {}, '
                '"last_error" = {}, "captured" = COALESCE({}, "captured"), "updated_at" = {}, "delivered_at" = {} '
                'WHERE "id" = {} AND "status" = \'sending\' AND "attempts" = {} RETURNING "id"',
                status, next_attempt_at, error, captured, now, now if status == "delivered" else None,
                d.id, claimed.attempt,
            )
            if not updated:
                return False
            await AttemptRow.insert(AttemptRow(
                id=f"{d.id}.{claimed.attempt}", delivery_id=d.id, number=claimed.attempt, outcome=outcome,
                status_code=status_code, error=error, started_at=started_at, finished_at=now,
                duration_ms=(now - started_at).total_seconds() * 1000,
            )).on_conflict(target=AttemptRow.id, action="DO NOTHING")
            await self.refresh_notification_status(d.notification_id)
        return True

    async def refresh_notification_status(self, notification_id: str) -> None:
        """Derive the notification's status from its deliveries."""
        await self.db.execute(
            'UPDATE "notifications" SET "status" = CASE '
            'WHEN EXISTS (SELECT 1 FROM "deliveries" WHERE "notification_id" = {} AND "status" IN (\'pending\', \'sending\', \'retrying\')) THEN \'delivering\' '
            'WHEN NOT EXISTS (SELECT 1 FROM "deliveries" WHERE "notification_id" = {} AND "status" <> \'delivered\') THEN \'delivered\' '
            'WHEN NOT EXISTS (SELECT 1 FROM "deliveries" WHERE "notification_id" = {} AND "status" = \'delivered\') THEN \'failed\' '
            'ELSE \'partially_delivered\' END WHERE "id" = {} AND "status" NOT IN (\'no_route\', \'grouped\')',
            notification_id, notification_id, notification_id, notification_id,
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
                now, now, now,
            )
            for row in rows:
                await AttemptRow.insert(AttemptRow(
                    id=f"{row['id']}.{row['attempts']}", delivery_id=row["id"], number=row["attempts"],
                    outcome="interrupted", error="the worker stopped before it finished", started_at=now,
                    finished_at=now, duration_ms=0.0,
                )).on_conflict(target=AttemptRow.id, action="DO NOTHING")
        return [(r["id"], r["attempts"]) for r in rows]

    async def due(self, *, horizon: datetime, limit: int = 1000) -> list[tuple[str, int, datetime]]:
        """Deliveries waiting for an attempt at or before ``horizon``: (id, attempts, when)."""
        rows = await DeliveryRow.select(DeliveryRow.id, DeliveryRow.attempts, DeliveryRow.next_attempt_at).where(
            DeliveryRow.status.is_in(["pending", "retrying"]), DeliveryRow.next_attempt_at <= horizon
        ).order_by(DeliveryRow.next_attempt_at).limit(limit)
        return [(r["id"], r["attempts"], _dt(r["next_attempt_at"])) for r in rows]  # type: ignore[misc]

    # -- metrics --------------------------------------------------------------
    async def counts(self) -> dict[str, list[dict[str, Any]]]:
        """Totals for /metrics, from the database so every process reports the same."""
        return {
            "notifications": await self.db.fetch(
                'SELECT "platform", "code", COUNT(*) AS n FROM "notifications" GROUP BY "platform", "code"'),
            "deliveries": await self.db.fetch(
                'SELECT "channel", "status", COUNT(*) AS n FROM "deliveries" GROUP BY "channel", "status"'),
            "attempts": await self.db.fetch(
                'SELECT d."channel", a."outcome", COUNT(*) AS n FROM "delivery_attempts" a '
                'JOIN "deliveries" d ON d."id" = a."delivery_id" GROUP BY d."channel", a."outcome"'),
        }
