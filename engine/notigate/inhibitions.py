"""Inhibitions: while a rule's source event is recent, its follow-ups are muted.

A rule with ``inhibit`` starts (or extends) an inhibition when an event matches it; the
key names the rule and the values of its ``equal`` fields (``policies.Policies``). The
rows live in the database, so every API process mutes the same events.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from notigate.clock import as_utc
from notigate.database import Database


class Inhibitions:
    """The ``inhibitions`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def active(self, keys: dict[str, str], now: datetime) -> str | None:
        """Why an event with these inhibition keys is muted now (rule and source), or None."""
        if not keys:
            return None
        marks = ", ".join("{}" for _ in keys)
        rows = await self.db.fetch(f'SELECT "rule", "source_id", "until" FROM "inhibitions" WHERE "key" IN ({marks}) '
                                   'AND "until" > {} LIMIT 1', *keys, now)
        if not rows:
            return None
        until = as_utc(rows[0]["until"])
        return f"rule {rows[0]['rule']!r} fired for {rows[0]['source_id']} (until {until.isoformat() if until else '?'})"

    async def start(self, sources: dict[str, tuple[str, float]], source_id: str, now: datetime) -> None:
        """Record (or extend) the inhibitions an event starts."""
        for key, (rule, duration) in sources.items():
            await self.db.write_one(
                'INSERT INTO "inhibitions" ("key", "rule", "source_id", "until") VALUES ({}, {}, {}, {}) '
                'ON CONFLICT ("key") DO UPDATE SET "rule" = excluded."rule", "source_id" = excluded."source_id", '
                '"until" = excluded."until"', key, rule, source_id, now + timedelta(seconds=duration))
