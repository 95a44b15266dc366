"""The delivery hot path on PostgreSQL: claim and finish a whole batch, one statement each.

``claim`` takes the due deliveries among the ids it is given and reads their notifications
in the same statement. ``finish`` updates the deliveries (each only if our claim still
holds), stores their attempts and recounts their notifications' statuses, without
BEGIN/COMMIT round trips. The finish finds sibling rows by notification id only, never
through the status index (with a backlog, most rows share a status). Rows are locked in id order, so two batches that share a
delivery (a sweep's duplicate job) or a notification wait for each other instead of
deadlocking.

Why the recount stays right when sibling deliveries finish at once: one statement sees
the database as of its start, so two statements finishing siblings together can each see
the other's delivery still ``sending`` and both write "delivering". Each statement
therefore also reports, per delivery, whether it saw a sibling outside its batch not yet
final (``busy``); only then does the caller recount again under a lock on the
notification row, in a fresh snapshot (``Repository._settle_after_finish``). A statement
that saw every sibling final computed the final answer (a final delivery never changes
back while deliveries run); a recount under the lock sees every finish that committed
before it, and any finish committing later writes the notification row after it (the row
lock orders them), followed by its own locked recount if it was stale. So the last write
is always a correct one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from notigate.storage.database import Database
from notigate.storage.status import STATUSES_KEPT, notification_status_from

_NOTIFICATION_COLUMNS = (
    "id",
    "platform",
    "code",
    "severity",
    "message",
    "platform_code",
    "amount",
    "currency",
    "reference",
    "merchant_id",
    "occurred_at",
    "received_at",
    "status",
    "metadata",
)
PREFIX = "n__"
"""Notification columns come back from the claim prefixed, beside the delivery's own."""

CLAIM_PG = f"""
WITH d AS (
    UPDATE deliveries SET status = 'sending', attempts = attempts + 1, lease_until = $2, updated_at = $3
    WHERE id IN (
        SELECT id FROM deliveries
        WHERE id = ANY($1::varchar[]) AND status IN ('pending', 'retrying') AND next_attempt_at <= $3
        ORDER BY id FOR UPDATE
    ) AND status IN ('pending', 'retrying') AND next_attempt_at <= $3
    RETURNING *
)
SELECT d.*, {", ".join(f"n.{c} AS {PREFIX}{c}" for c in _NOTIFICATION_COLUMNS)}
FROM d LEFT JOIN notifications n ON n.id = d.notification_id
ORDER BY d.id
"""

# Each notification's status by the rule over its deliveries as this statement sees them,
# with this batch's new statuses (a statement does not see its own CTE's update).
FINISH_PG = f"""
WITH v AS (
    SELECT * FROM unnest($1::varchar[], $2::integer[], $3::varchar[], $4::varchar[], $5::timestamptz[],
        $6::text[], $7::text[], $8::integer[], $9::timestamptz[])
        AS v(id, attempt, status, outcome, next_attempt_at, error, captured, status_code, started_at)
), d AS (
    UPDATE deliveries t SET status = v.status, lease_until = NULL, next_attempt_at = v.next_attempt_at,
        last_error = v.error, captured = COALESCE(v.captured, t.captured), updated_at = $10::timestamptz,
        delivered_at = CASE WHEN v.status = 'delivered' THEN $10::timestamptz END
    FROM v WHERE v.id = t.id AND t.status = 'sending' AND t.attempts = v.attempt
    RETURNING t.id, t.notification_id, t.status
), a AS (
    INSERT INTO delivery_attempts (id, delivery_id, number, outcome, status_code, error, started_at, finished_at,
        duration_ms)
    SELECT v.id || '.' || v.attempt, v.id, v.attempt, v.outcome, v.status_code, v.error, v.started_at,
        $10::timestamptz, EXTRACT(EPOCH FROM $10::timestamptz - v.started_at) * 1000
    FROM v JOIN d ON d.id = v.id
    ON CONFLICT (id) DO NOTHING
), sib AS (
    SELECT notification_id, status FROM deliveries
    WHERE notification_id IN (SELECT notification_id FROM d) AND id NOT IN (SELECT id FROM d)
), s AS (
    SELECT notification_id, status FROM sib UNION ALL SELECT notification_id, status FROM d
), n AS (
    UPDATE notifications SET status = {
    notification_status_from("(SELECT status FROM s WHERE s.notification_id = notifications.id) AS m")
}
    WHERE id IN (SELECT id FROM notifications WHERE id IN (SELECT notification_id FROM d) ORDER BY id FOR UPDATE)
        AND status NOT IN {STATUSES_KEPT}
)
SELECT d.id, d.notification_id, EXISTS (
    SELECT 1 FROM sib WHERE sib.notification_id = d.notification_id
        AND sib.status IN ('pending', 'sending', 'retrying')) AS busy
FROM d
"""


class Finish(msgspec.Struct, frozen=True, kw_only=True):
    """One claimed attempt's result, as ``finish`` stores it."""

    delivery_id: str
    attempt: int
    status: str
    outcome: str
    started_at: datetime
    next_attempt_at: datetime | None = None
    error: str | None = None
    captured: str | None = None
    status_code: int | None = None


def split_claim_row(row: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The claim's row as (delivery columns, notification columns or None if it is gone)."""
    delivery: dict[str, Any] = {}
    notification: dict[str, Any] = {}
    for key, value in row.items():
        if key.startswith(PREFIX):
            notification[key[len(PREFIX) :]] = value
        else:
            delivery[key] = value
    return delivery, (notification if notification.get("id") is not None else None)


async def claim(db: Database, delivery_ids: list[str], *, lease_until: datetime, now: datetime) -> list[Any]:
    """The claimed deliveries joined with their notifications (those not ours to send now are left out)."""
    return await db.fetch_pg(CLAIM_PG, delivery_ids, lease_until, now)


def finish_args(finishes: list[Finish], now: datetime) -> tuple[Any, ...]:
    """The parameters of ``FINISH_PG``: a column array per field, then the time of the finish."""
    return (
        [f.delivery_id for f in finishes],
        [f.attempt for f in finishes],
        [f.status for f in finishes],
        [f.outcome for f in finishes],
        [f.next_attempt_at for f in finishes],
        [f.error for f in finishes],
        [f.captured for f in finishes],
        [f.status_code for f in finishes],
        [f.started_at for f in finishes],
        now,
    )


async def finish(db: Database, finishes: list[Finish], now: datetime) -> list[tuple[str, str, bool]]:
    """Run ``FINISH_PG``: (delivery id, notification id, saw a busy sibling) for each claim that still held."""
    rows = await db.fetch_pg(FINISH_PG, *finish_args(finishes, now))
    return [(r["id"], r["notification_id"], bool(r["busy"])) for r in rows]
