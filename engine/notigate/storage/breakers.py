"""The ``breakers`` table: one row per destination with its state, failures and cool-down.

What the states mean, and when a row may be trusted without reading it, is ``delivery.breakers``;
this is how each change is written, every one guarded in SQL so that concurrent workers agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from notigate.storage.database import Database


class BreakerRows:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def read(self, destination: str) -> list[dict[str, Any]]:
        return await self.db.fetch(
            'SELECT "state", "failures", "opened_until" FROM "breakers" WHERE "destination" = {}', destination
        )

    async def take_probe(self, destination: str, *, now: datetime, until: datetime) -> bool:
        """Half-open a breaker whose cool-down is over, until ``until``; True for the one caller that did."""
        won = await self.db.write_one(
            'UPDATE "breakers" SET "state" = \'half_open\', "opened_until" = {}, "updated_at" = {} '
            'WHERE "destination" = {} AND "state" <> \'closed\' AND "opened_until" <= {} RETURNING "destination"',
            until,
            now,
            destination,
            now,
        )
        return bool(won)

    async def reset(self, destination: str, now: datetime) -> bool:
        """Close a breaker that counted failures or was open (a disabled one stays); True if it did."""
        reset = await self.db.write_one(
            'UPDATE "breakers" SET "state" = \'closed\', "failures" = 0, "opened_until" = NULL, '
            '"failing_since" = NULL, "updated_at" = {} WHERE "destination" = {} AND "state" <> \'disabled\' '
            'AND ("failures" > 0 OR "state" <> \'closed\') RETURNING "destination"',
            now,
            destination,
        )
        return bool(reset)

    async def count_failure(
        self,
        destination: str,
        *,
        now: datetime,
        threshold: int,
        open_until: datetime,
        failing_before: datetime | None,
        reason: str,
    ) -> Literal["ok", "disabled", "disabled_now"]:
        """In one transaction: count a failure; open the breaker from ``threshold`` failures (or after a
        failed probe) until ``open_until``; with ``failing_before``, disable a destination failing since
        then. "disabled": it already was."""
        async with self.db.write():
            rows = await self.db.fetch(
                'INSERT INTO "breakers" ("destination", "state", "failures", "failing_since", "updated_at") '
                "VALUES ({}, 'closed', 1, {}, {}) "
                'ON CONFLICT ("destination") DO UPDATE SET "failures" = "breakers"."failures" + 1, '
                '"failing_since" = COALESCE("breakers"."failing_since", excluded."failing_since"), '
                '"updated_at" = excluded."updated_at" RETURNING "state"',
                destination,
                now,
                now,
            )
            if rows and rows[0]["state"] == "disabled":
                return "disabled"
            await self.db.execute(
                'UPDATE "breakers" SET "state" = \'open\', "opened_until" = {} WHERE "destination" = {} '
                'AND "state" <> \'disabled\' AND ("failures" >= {} OR "state" = \'half_open\')',
                open_until,
                destination,
                threshold,
            )
            if failing_before is None:
                return "ok"
            disabled = await self.db.fetch(
                'UPDATE "breakers" SET "state" = \'disabled\', "opened_until" = NULL, "reason" = {} '
                'WHERE "destination" = {} AND "state" <> \'disabled\' AND "failures" >= {} AND "failing_since" <= {} '
                'RETURNING "destination"',
                reason,
                destination,
                threshold,
                failing_before,
            )
        return "disabled_now" if disabled else "ok"

    async def disable(self, destination: str, now: datetime, reason: str | None) -> None:
        await self.db.write_one(
            'INSERT INTO "breakers" ("destination", "state", "failures", "updated_at", "reason") '
            "VALUES ({}, 'disabled', 0, {}, {}) "
            'ON CONFLICT ("destination") DO UPDATE SET "state" = \'disabled\', "opened_until" = NULL, '
            '"updated_at" = excluded."updated_at", "reason" = excluded."reason"',
            destination,
            now,
            reason,
        )

    async def enable(self, destination: str, now: datetime) -> None:
        await self.db.write_one(
            'UPDATE "breakers" SET "state" = \'closed\', "failures" = 0, "opened_until" = NULL, '
            '"failing_since" = NULL, "reason" = NULL, "updated_at" = {} WHERE "destination" = {}',
            now,
            destination,
        )

    async def all(self) -> list[dict[str, Any]]:
        return await self.db.fetch('SELECT * FROM "breakers" ORDER BY "destination"')
