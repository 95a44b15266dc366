"""The ``silences`` table. What a silence means (its matchers, which routes it mutes) and the cache
ingest reads are ``routing.silences``; this is only how the rows are written and read."""

from __future__ import annotations

from datetime import datetime

from notigate.storage.database import Database


class SilenceRows:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def active(self, now: datetime) -> list[dict[str, object]]:
        """The silences not yet ended at ``now``."""
        return await self.db.fetch('SELECT * FROM "silences" WHERE "ends_at" > {}', now)

    async def insert(
        self,
        *,
        id: str,
        matchers: str,
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
        created_at: datetime,
    ) -> None:
        await self.db.write_one(
            'INSERT INTO "silences" ("id", "matchers", "starts_at", "ends_at", "created_by", "comment", "created_at") '
            "VALUES ({}, {}, {}, {}, {}, {}, {})",
            id,
            matchers,
            starts_at,
            ends_at,
            created_by,
            comment,
            created_at,
        )

    async def newest(self, *, now: datetime | None, limit: int = 1000) -> list[dict[str, object]]:
        """The newest silences first: those not ended at ``now``, or all of them (``now`` None)."""
        if now is None:
            return await self.db.fetch(f'SELECT * FROM "silences" ORDER BY "created_at" DESC LIMIT {int(limit)}')
        return await self.db.fetch(
            f'SELECT * FROM "silences" WHERE "ends_at" > {{}} ORDER BY "created_at" DESC LIMIT {int(limit)}', now
        )

    async def end(self, silence_id: str, now: datetime) -> dict[str, object] | None:
        """End a silence at ``now`` unless it ended already; its row, or None if unknown."""
        rows = await self.db.write_one(
            'UPDATE "silences" SET "ends_at" = CASE WHEN "ends_at" > {} THEN {} ELSE "ends_at" END '
            'WHERE "id" = {} RETURNING *',
            now,
            now,
            silence_id,
        )
        return rows[0] if rows else None
