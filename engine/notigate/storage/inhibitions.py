"""Inhibitions: while a rule's source event is recent, its follow-ups are muted.

A rule with ``inhibit`` starts (or extends) an inhibition when an event matches it; the
key names the rule and the values of its ``equal`` fields (``routing.plan.Policies``). The
rows live in the database, so every API process mutes the same events; they are written
in the ingest transaction of their source event (``start``), so an event is never stored
without the inhibitions it starts — a platform's retry of a failed callback would be
deduplicated and could not add them later.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from notigate.clock import as_utc
from notigate.storage.database import Database


async def start(db: Database, sources: dict[str, tuple[str, float]], source_id: str, now: datetime) -> None:
    """Record (or extend) the inhibitions an event starts (key → rule, seconds), in one statement.

    Must run inside ``db.write()`` together with the notification's own insert.
    """
    if not sources:
        return
    rows = sorted(sources.items())  # one lock order for every writer: concurrent sources cannot deadlock
    marks = ", ".join("({}, {}, {}, {})" for _ in rows)
    args = [v for key, (rule, duration) in rows for v in (key, rule, source_id, now + timedelta(seconds=duration))]
    await db.execute(
        f'INSERT INTO "inhibitions" ("key", "rule", "source_id", "until") VALUES {marks} '
        'ON CONFLICT ("key") DO UPDATE SET "rule" = excluded."rule", "source_id" = excluded."source_id", '
        '"until" = excluded."until"',
        *args,
    )


class Inhibitions:
    """The ``inhibitions`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def active(self, keys: dict[str, str], now: datetime) -> str | None:
        """Why an event with these inhibition keys is muted now (rule and source), or None."""
        if not keys:
            return None
        marks = ", ".join("{}" for _ in keys)
        rows = await self.db.fetch(
            f'SELECT "rule", "source_id", "until" FROM "inhibitions" WHERE "key" IN ({marks}) '
            'AND "until" > {} LIMIT 1',
            *keys,
            now,
        )
        if not rows:
            return None
        until = as_utc(rows[0]["until"])
        return (
            f"rule {rows[0]['rule']!r} fired for {rows[0]['source_id']} (until {until.isoformat() if until else '?'})"
        )
