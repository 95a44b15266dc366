"""Schema migrations, frozen as SQL that both SQLite and PostgreSQL accept.

Piccolo's migration runner binds to one ``piccolo_conf`` engine per process; Notigate
takes its database from its own configuration (and tests use many databases in one
process), so the DDL Piccolo generates for ``tables.py`` is reviewed and frozen here,
applied in order and recorded in ``notigate_schema``. On PostgreSQL the run holds a
transaction-scoped advisory lock, so several processes migrating at once are safe.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from notigate.errors import UnavailableError

if TYPE_CHECKING:
    from notigate.storage.database import Database

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "notifications, deliveries and attempts",
        [
            'CREATE TABLE "notifications" ("id" VARCHAR(32) PRIMARY KEY NOT NULL DEFAULT \'\', "dedupe_key" VARCHAR(64) UNIQUE NOT NULL DEFAULT \'\', "platform" VARCHAR(64) NOT NULL DEFAULT \'\', "code" VARCHAR(64) NOT NULL DEFAULT \'\', "severity" VARCHAR(16) NOT NULL DEFAULT \'\', "message" TEXT NOT NULL DEFAULT \'\', "platform_code" VARCHAR(128) NOT NULL DEFAULT \'\', "amount" VARCHAR(40) DEFAULT null, "currency" VARCHAR(3) DEFAULT null, "reference" VARCHAR(128) DEFAULT null, "merchant_id" VARCHAR(128) DEFAULT null, "occurred_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp, "received_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp, "status" VARCHAR(24) NOT NULL DEFAULT \'\', "metadata" TEXT NOT NULL DEFAULT \'\', "matched_rules" TEXT NOT NULL DEFAULT \'\')',
            'CREATE INDEX notifications_platform ON "notifications" ("platform")',
            'CREATE INDEX notifications_code ON "notifications" ("code")',
            'CREATE INDEX notifications_received_at ON "notifications" ("received_at")',
            'CREATE INDEX notifications_status ON "notifications" ("status")',
            'CREATE TABLE "deliveries" ("id" VARCHAR(32) PRIMARY KEY NOT NULL DEFAULT \'\', "notification_id" VARCHAR(32) NOT NULL DEFAULT \'\', "channel" VARCHAR(64) NOT NULL DEFAULT \'\', "recipient" VARCHAR(320) NOT NULL DEFAULT \'\', "rule" VARCHAR(200) NOT NULL DEFAULT \'\', "locale" VARCHAR(16) NOT NULL DEFAULT \'\', "timezone" VARCHAR(64) NOT NULL DEFAULT \'\', "status" VARCHAR(16) NOT NULL DEFAULT \'\', "attempts" INTEGER NOT NULL DEFAULT 0, "next_attempt_at" TIMESTAMPTZ DEFAULT null, "lease_until" TIMESTAMPTZ DEFAULT null, "last_error" TEXT DEFAULT null, "captured" TEXT DEFAULT null, "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp, "updated_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp, "delivered_at" TIMESTAMPTZ DEFAULT null)',
            'CREATE INDEX deliveries_notification_id ON "deliveries" ("notification_id")',
            'CREATE INDEX deliveries_status ON "deliveries" ("status")',
            'CREATE INDEX deliveries_next_attempt_at ON "deliveries" ("next_attempt_at")',
            'CREATE TABLE "delivery_attempts" ("id" VARCHAR(48) PRIMARY KEY NOT NULL DEFAULT \'\', "delivery_id" VARCHAR(32) NOT NULL DEFAULT \'\', "number" INTEGER NOT NULL DEFAULT 0, "outcome" VARCHAR(16) NOT NULL DEFAULT \'\', "status_code" INTEGER DEFAULT null, "error" TEXT DEFAULT null, "started_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp, "finished_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp, "duration_ms" REAL NOT NULL DEFAULT 0.0)',
            'CREATE INDEX delivery_attempts_delivery_id ON "delivery_attempts" ("delivery_id")',
        ],
    ),
    (
        2,
        "replay: a re-driven delivery gets a fresh attempt budget",
        [
            'ALTER TABLE "deliveries" ADD COLUMN "budget_from" INTEGER NOT NULL DEFAULT 0',
            'ALTER TABLE "deliveries" ADD COLUMN "budget_since" TIMESTAMPTZ DEFAULT null',
        ],
    ),
    (
        3,
        "circuit breakers per destination, shared by every worker",
        [
            'CREATE TABLE "breakers" ("destination" VARCHAR(400) PRIMARY KEY NOT NULL DEFAULT \'\', '
            '"state" VARCHAR(16) NOT NULL DEFAULT \'closed\', "failures" INTEGER NOT NULL DEFAULT 0, '
            '"opened_until" TIMESTAMPTZ DEFAULT null, "updated_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp)',
        ],
    ),
    (
        4,
        "webhook endpoints created through the API; how long a destination has been failing",
        [
            'CREATE TABLE "webhook_endpoints" ("name" VARCHAR(64) PRIMARY KEY NOT NULL DEFAULT \'\', '
            "\"url\" TEXT NOT NULL DEFAULT '', \"secret\" TEXT NOT NULL DEFAULT '', "
            "\"events\" TEXT NOT NULL DEFAULT '[]', \"description\" TEXT NOT NULL DEFAULT '', "
            '"created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp)',
            'ALTER TABLE "breakers" ADD COLUMN "failing_since" TIMESTAMPTZ DEFAULT null',
            'ALTER TABLE "breakers" ADD COLUMN "reason" TEXT DEFAULT null',
        ],
    ),
    (
        5,
        "rules: digests (groups and their members), held and muted deliveries, silences, inhibitions",
        [
            'ALTER TABLE "deliveries" ADD COLUMN "group_key" VARCHAR(64) DEFAULT null',
            'ALTER TABLE "deliveries" ADD COLUMN "note" TEXT DEFAULT null',
            'CREATE TABLE "digest_groups" ("key" VARCHAR(64) PRIMARY KEY NOT NULL, "rule" VARCHAR(200) NOT NULL '
            "DEFAULT '', \"delivery_id\" VARCHAR(32) NOT NULL DEFAULT '', \"window_end\" TIMESTAMPTZ NOT NULL, "
            "\"group_values\" TEXT NOT NULL DEFAULT '{}')",
            'CREATE TABLE "digest_members" ("delivery_id" VARCHAR(32) NOT NULL, "notification_id" VARCHAR(32) NOT NULL, '
            'PRIMARY KEY ("delivery_id", "notification_id"))',
            'CREATE INDEX digest_members_notification_id ON "digest_members" ("notification_id")',
            'CREATE TABLE "silences" ("id" VARCHAR(32) PRIMARY KEY NOT NULL, "matchers" TEXT NOT NULL DEFAULT \'[]\', '
            '"starts_at" TIMESTAMPTZ NOT NULL, "ends_at" TIMESTAMPTZ NOT NULL, "created_by" VARCHAR(200) NOT NULL '
            "DEFAULT '', \"comment\" TEXT NOT NULL DEFAULT '', \"created_at\" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp)",
            'CREATE INDEX silences_ends_at ON "silences" ("ends_at")',
            'CREATE TABLE "inhibitions" ("key" VARCHAR(64) PRIMARY KEY NOT NULL, "rule" VARCHAR(200) NOT NULL DEFAULT '
            "'', \"source_id\" VARCHAR(32) NOT NULL DEFAULT '', \"until\" TIMESTAMPTZ NOT NULL)",
        ],
    ),
    (
        6,
        "the request fingerprint behind an Idempotency-Key; notifications found by reference",
        [
            'ALTER TABLE "notifications" ADD COLUMN "request_fingerprint" VARCHAR(64) DEFAULT null',
            'CREATE INDEX notifications_reference ON "notifications" ("reference")',
        ],
    ),
]

_LOCK_ID = 0x4E4F5449  # "NOTI": advisory lock key for migrations


async def migrate(db: Database) -> list[int]:
    """Apply every pending migration; return the versions applied (empty when current)."""
    applied: list[int] = []
    async with db.write():
        if not db.is_sqlite:
            await db.execute(f"SELECT pg_advisory_xact_lock({_LOCK_ID})")
        await db.execute(
            'CREATE TABLE IF NOT EXISTS "notigate_schema" ("version" INTEGER PRIMARY KEY, '
            '"name" TEXT NOT NULL, "applied_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp)'
        )
        done = {row["version"] for row in await db.fetch('SELECT "version" FROM "notigate_schema"')}
        for version, name, statements in MIGRATIONS:
            if version in done:
                continue
            for sql in statements:
                await db.execute(sql)
            await db.execute('INSERT INTO "notigate_schema" ("version", "name") VALUES ({}, {})', version, name)
            applied.append(version)
    return applied


async def current_version(db: Database) -> int:
    """The newest applied migration, 0 for an empty database."""
    try:
        rows = await db.fetch('SELECT MAX("version") AS v FROM "notigate_schema"')
    except Exception:
        return 0
    return int(rows[0]["v"] or 0)


LATEST = MIGRATIONS[-1][0]


async def require_current(db: Database) -> None:
    """Raise UnavailableError unless the schema is the latest: the processes never migrate PostgreSQL themselves."""
    if (version := await current_version(db)) < LATEST:
        raise UnavailableError(f"database.url: schema version {version} is older than {LATEST}; run `notigate migrate`")
