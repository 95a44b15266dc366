"""The ``webhook_endpoints`` table: the endpoints created through the API (those of the configuration
file live in memory only, see ``webhooks.endpoints``)."""

from __future__ import annotations

from datetime import datetime

import msgspec

from notigate.storage.database import Database


class EndpointRows:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def all(self) -> list[dict[str, object]]:
        return await self.db.fetch('SELECT * FROM "webhook_endpoints"')

    async def insert(
        self, *, name: str, url: str, secret: str, events: list[str], description: str, now: datetime
    ) -> bool:
        """Store a new endpoint; False if the name is taken (the table's key decides between processes)."""
        rows = await self.db.write_one(
            'INSERT INTO "webhook_endpoints" ("name", "url", "secret", "events", "description", "created_at") '
            'VALUES ({}, {}, {}, {}, {}, {}) ON CONFLICT ("name") DO NOTHING RETURNING "name"',
            name,
            url,
            secret,
            msgspec.json.encode(events).decode(),
            description,
            now,
        )
        return bool(rows)

    async def delete(self, name: str) -> bool:
        """Remove an endpoint; False if none has that name."""
        return bool(await self.db.write_one('DELETE FROM "webhook_endpoints" WHERE "name" = {} RETURNING "name"', name))
