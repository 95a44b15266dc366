"""Digests: events of one group folded into one delivery per recipient.

A group (one rule, one recipient, the same ``group_by`` values) has one row in
``digest_groups`` pointing at its open digest delivery; members are rows of
``digest_members``. The first event of a group opens a window and creates the
delivery, due when the window ends; later events in the window only add a member.

Several API processes may fold into one group at once, so joining happens inside the
ingest transaction with the group row locked (PostgreSQL ``FOR UPDATE``; SQLite
serialises writers anyway), and only while the digest delivery is still ``pending``
(``FOR SHARE``: a worker that claims it at the window's end waits for a join in
flight, then renders every member; a join that comes after the claim opens a new
group instead, so no event is ever folded into a digest that was already sent).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

import msgspec

from notigate.clock import as_utc
from notigate.events import Digest
from notigate.ids import new_id
from notigate.storage.database import Database
from notigate.storage.plans import Plan

_EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")
TOP_REFERENCES = 5


async def join(db: Database, plan: Plan, notification_id: str, now: datetime) -> tuple[str, datetime | None]:
    """Fold one notification into its group; return (delivery id, due time if the delivery is new).

    Must run inside ``db.write()`` together with the notification's own insert.
    """
    spec = plan.digest
    assert spec is not None
    lock, share = ("", "") if db.is_sqlite else (" FOR UPDATE", " FOR SHARE")
    await db.execute(
        'INSERT INTO "digest_groups" ("key", "rule", "delivery_id", "window_end", "group_values") '
        "VALUES ({}, {}, '', {}, {}) ON CONFLICT (\"key\") DO NOTHING",
        spec.key,
        plan.route.rule,
        _EPOCH,
        msgspec.json.encode(spec.values).decode(),
    )
    group = (
        await db.fetch('SELECT "delivery_id", "window_end" FROM "digest_groups" WHERE "key" = {}' + lock, spec.key)
    )[0]
    window_end = as_utc(group["window_end"]) or _EPOCH
    delivery_id, due = str(group["delivery_id"]), None
    joinable = False
    if delivery_id and window_end > now:
        rows = await db.fetch('SELECT "status" FROM "deliveries" WHERE "id" = {}' + share, delivery_id)
        joinable = bool(rows) and rows[0]["status"] == "pending"
    if not joinable:
        closes = now + timedelta(seconds=spec.window)
        if spec.repeat is not None and delivery_id:  # the previous digest of this group went out at window_end
            closes = max(closes, window_end + timedelta(seconds=spec.repeat))
        due = max(closes, plan.due)  # quiet hours may hold the digest longer
        delivery_id = new_id("dlv")
        r = plan.route
        await db.execute(
            'INSERT INTO "deliveries" ("id", "notification_id", "channel", "recipient", "rule", "locale", "timezone", '
            '"status", "attempts", "next_attempt_at", "created_at", "updated_at", "group_key", "note") '
            "VALUES ({}, {}, {}, {}, {}, {}, {}, 'pending', 0, {}, {}, {}, {}, {})",
            delivery_id,
            notification_id,
            r.channel,
            r.recipient,
            r.rule,
            r.locale,
            r.timezone,
            due,
            now,
            now,
            spec.key,
            f"digest: collecting until {closes.isoformat()}" + (f"; {plan.note}" if plan.note else ""),
        )
        await db.execute(
            'UPDATE "digest_groups" SET "delivery_id" = {}, "window_end" = {} WHERE "key" = {}',
            delivery_id,
            closes,
            spec.key,
        )
    await db.execute(
        'INSERT INTO "digest_members" ("delivery_id", "notification_id") VALUES ({}, {}) ON CONFLICT DO NOTHING',
        delivery_id,
        notification_id,
    )
    return delivery_id, due


async def load(db: Database, delivery_id: str, group_key: str, rule: str) -> tuple[Digest, str] | None:
    """The digest of a delivery and the id of its latest member; None if it has no members."""
    rows = await db.fetch(
        'SELECT n."id", n."reference", n."amount", n."currency", n."received_at" FROM "digest_members" m '
        'JOIN "notifications" n ON n."id" = m."notification_id" WHERE m."delivery_id" = {} ORDER BY n."id"',
        delivery_id,
    )
    if not rows:
        return None
    groups = await db.fetch('SELECT "group_values" FROM "digest_groups" WHERE "key" = {}', group_key)
    values = msgspec.json.decode(groups[0]["group_values"]) if groups else {}
    totals: dict[str, Decimal] = {}
    for row in rows:
        if row["amount"] is not None and row["currency"]:
            try:
                totals[row["currency"]] = totals.get(row["currency"], Decimal(0)) + Decimal(row["amount"])
            except InvalidOperation:
                continue
    references = list(dict.fromkeys(r["reference"] for r in reversed(rows) if r["reference"]))[:TOP_REFERENCES]
    received: list[datetime] = [as_utc(r["received_at"]) for r in rows]  # type: ignore[misc]  # NOT NULL
    digest = Digest(
        rule=rule,
        group=values,
        count=len(rows),
        first_at=min(received),
        last_at=max(received),
        references=references,
        totals=dict(sorted(totals.items())),
        notification_ids=[r["id"] for r in rows],
    )
    return digest, str(rows[-1]["id"])
