"""The delivery hot path on PostgreSQL: claim and finish, one statement (one round trip) each.

``claim`` takes the delivery and reads its notification in the same statement. ``finish``
updates the delivery (only if our claim still holds), stores the attempt and recounts the
notification's status, without BEGIN/COMMIT round trips.

Why the recount stays right when sibling deliveries finish at once: one statement sees
the database as of its start, so two siblings finishing together can each see the other
still ``sending`` and both write "delivering". The statement therefore also reports
whether it saw any sibling not yet final (``busy``); only then does the caller recount
again under a lock on the notification row, in a fresh snapshot
(``Repository._settle_after_finish``). A statement that saw every sibling final computed
the final answer (a final delivery never changes back while deliveries run); a recount
under the lock sees every finish that committed before it, and any finish committing
later writes the notification row after it (the row lock orders them), followed by its
own locked recount if it was stale. So the last write is always a correct one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from notigate.database import Database
from notigate.tables import NOTIFICATION_STATUS_FROM_S, STATUSES_KEPT

_NOTIFICATION_COLUMNS = ("id", "platform", "code", "severity", "message", "platform_code", "amount", "currency",
                         "reference", "merchant_id", "occurred_at", "received_at", "status", "metadata")
PREFIX = "n__"
"""Notification columns come back from the claim prefixed, beside the delivery's own."""

CLAIM_PG = f"""
WITH d AS (
    UPDATE deliveries SET status = 'sending', attempts = attempts + 1, lease_until = $2, updated_at = $3
    WHERE id = $1 AND status IN ('pending', 'retrying') AND next_attempt_at <= $3
    RETURNING *
)
SELECT d.*, {", ".join(f"n.{c} AS {PREFIX}{c}" for c in _NOTIFICATION_COLUMNS)}
FROM d LEFT JOIN notifications n ON n.id = d.notification_id
"""

# The status rule over the siblings as this statement sees them plus this delivery's new
# status (a statement does not see its own CTE's update).
FINISH_PG = f"""
WITH d AS (
    UPDATE deliveries SET status = $2::varchar, lease_until = NULL, next_attempt_at = $3::timestamptz,
        last_error = $4::text, captured = COALESCE($5::text, captured), updated_at = $6::timestamptz,
        delivered_at = $7::timestamptz
    WHERE id = $1 AND status = 'sending' AND attempts = $8::integer
    RETURNING id, notification_id
), a AS (
    INSERT INTO delivery_attempts (id, delivery_id, number, outcome, status_code, error, started_at, finished_at,
        duration_ms)
    SELECT $9::varchar, d.id, $8::integer, $10::varchar, $11::integer, $4::text, $12::timestamptz, $6::timestamptz,
        $13::real
    FROM d
    ON CONFLICT (id) DO NOTHING
), s AS (
    SELECT status FROM deliveries WHERE notification_id = (SELECT notification_id FROM d) AND id <> $1
    UNION ALL SELECT $2::varchar FROM d
), n AS (
    UPDATE notifications SET status = {NOTIFICATION_STATUS_FROM_S}
    WHERE id = (SELECT notification_id FROM d) AND status NOT IN {STATUSES_KEPT}
)
SELECT (SELECT notification_id FROM d) AS notification_id,
    EXISTS (SELECT 1 FROM deliveries WHERE notification_id = (SELECT notification_id FROM d) AND id <> $1
            AND status IN ('pending', 'sending', 'retrying')) AS busy
"""


def split_claim_row(row: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The claim's row as (delivery columns, notification columns or None if it is gone)."""
    delivery: dict[str, Any] = {}
    notification: dict[str, Any] = {}
    for key, value in row.items():
        if key.startswith(PREFIX):
            notification[key[len(PREFIX):]] = value
        else:
            delivery[key] = value
    return delivery, (notification if notification.get("id") is not None else None)


async def claim(db: Database, delivery_id: str, *, lease_until: datetime, now: datetime) -> Any:
    """The claimed delivery joined with its notification, or None if it is not ours to send now."""
    return await db.fetchrow_pg(CLAIM_PG, delivery_id, lease_until, now)


def finish_args(*, delivery_id: str, attempt: int, status: str, outcome: str, started_at: datetime, now: datetime,
                error: str | None, status_code: int | None, next_attempt_at: datetime | None,
                captured: str | None) -> tuple[Any, ...]:
    """The parameters of ``FINISH_PG``, in order."""
    return (delivery_id, status, next_attempt_at, error, captured, now, now if status == "delivered" else None,
            attempt, f"{delivery_id}.{attempt}", outcome, status_code, started_at,
            (now - started_at).total_seconds() * 1000)


async def finish(db: Database, args: tuple[Any, ...]) -> tuple[str | None, bool]:
    """Run ``FINISH_PG``: (notification id, or None if our claim no longer held; saw a busy sibling)."""
    row = await db.fetchrow_pg(FINISH_PG, *args)
    return row["notification_id"], bool(row["busy"])
