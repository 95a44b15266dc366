"""``notigate.storage.database`` and ``notigate.storage.migrations`` on SQLite: schema, WAL, concurrent writes, deduplication."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from notigate.errors import ConfigError
from notigate.events import Event, Notification
from notigate.ingest.pipeline import normalize
from notigate.plugin.route import Route
from notigate.storage.database import Database
from notigate.storage.migrations import LATEST, MIGRATIONS, current_version, migrate
from notigate.storage.plans import Plan
from notigate.storage.repository import Repository, Stored


@pytest.fixture
async def db(sqlite_url: str) -> AsyncIterator[Database]:
    database = Database(sqlite_url)
    await database.start()
    yield database
    await database.close()


@pytest.fixture
async def repo(db: Database) -> Repository:
    await migrate(db)
    return Repository(db)


async def count(db: Database, table: str) -> int:
    return int((await db.fetch(f'SELECT COUNT(*) AS n FROM "{table}"'))[0]["n"])


# -- connection -----------------------------------------------------------------------


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite://relative.db", "mysql://x/y", "notigate.db"])
def test_bad_database_urls_name_the_key(url: str) -> None:
    """A URL that is neither ``sqlite:///path`` nor PostgreSQL is a ConfigError naming ``database.url``."""
    with pytest.raises(ConfigError) as excinfo:
        Database(url)
    assert excinfo.value.problems[0].startswith("database.url: ")


async def test_wal_mode_is_on(db: Database) -> None:
    """After ``start`` the SQLite file is in WAL mode, so readers never block the writer."""
    assert await db.fetch("PRAGMA journal_mode") == [{"journal_mode": "wal"}]


async def test_start_creates_missing_parent_directories(tmp_path: Path) -> None:
    """``sqlite:///`` paths whose folders do not exist yet are created on start."""
    path = tmp_path / "a" / "b" / "notigate.db"
    database = Database(f"sqlite:///{path}")
    await database.start()
    await database.ping()
    await database.close()
    assert path.exists()


# -- migrations ------------------------------------------------------------------------


async def test_current_version_is_zero_on_an_empty_file(tmp_path: Path) -> None:
    """A database file with nothing in it reports schema version 0."""
    path = tmp_path / "empty.db"
    path.touch()
    database = Database(f"sqlite:///{path}")
    await database.start()
    assert await current_version(database) == 0
    await database.close()


async def test_migrate_applies_every_migration_once(db: Database) -> None:
    """``migrate`` applies all migrations the first time and nothing the second time."""
    assert await migrate(db) == [v for v, _, _ in MIGRATIONS]
    assert await migrate(db) == []
    assert await current_version(db) == LATEST
    rows = await db.fetch('SELECT "version" FROM "notigate_schema"')
    assert [r["version"] for r in rows] == [v for v, _, _ in MIGRATIONS]


async def test_migrate_creates_the_tables(db: Database) -> None:
    """After ``migrate`` the three tables exist and are empty."""
    await migrate(db)
    for table in ("notifications", "deliveries", "delivery_attempts"):
        assert await count(db, table) == 0


async def test_concurrent_migrations_apply_once(db: Database) -> None:
    """Several migrations started at once in one process apply each version exactly once."""
    results = await asyncio.gather(*(migrate(db) for _ in range(5)))
    assert sorted(results, key=len) == [[]] * 4 + [[v for v, _, _ in MIGRATIONS]]
    assert await count(db, "notigate_schema") == len(MIGRATIONS)


async def test_schema_survives_reopening(sqlite_url: str) -> None:
    """A migrated file is still at the latest version when opened again."""
    first = Database(sqlite_url)
    await first.start()
    await migrate(first)
    await first.close()
    second = Database(sqlite_url)
    await second.start()
    assert await current_version(second) == LATEST
    assert await migrate(second) == []
    await second.close()


# -- storing events --------------------------------------------------------------------------


def planned(routes: list[Route], n: Notification) -> list[Plan]:
    """Routes as ingest plans them without rule policies: due at once."""
    return [Plan(route=r, due=n.received_at) for r in routes]


async def store(repo: Repository, event: Event, routes: list[Route]) -> Stored:
    notification = normalize(event)
    return await repo.store_event(event, notification, planned(routes, notification), ["r"])


async def test_store_event_stores_the_notification_and_its_deliveries(
    repo: Repository, make_event: Callable[..., Event]
) -> None:
    """A new event is stored with one pending delivery per route and can be read back."""
    event = make_event(metadata={"card_number": "4811111111111114"})
    notification = normalize(event)
    routes = [Route(channel="webhook", recipient="hook", rule="r"), Route(channel="email", recipient="a@x", rule="r")]
    stored = await repo.store_event(event, notification, planned(routes, notification), ["r"])
    nid, delivery_ids = stored.id, stored.due
    assert (nid, stored.created, len(delivery_ids)) == (notification.id, True, 2)
    read = await repo.notification(nid)
    assert read is not None
    assert read.amount == event.amount
    assert read.metadata == {"card_number": "481111******1114"}
    deliveries = await repo.deliveries_of(nid)
    assert sorted(d.id for d in deliveries) == sorted(delivery_ids)
    assert {d.status for d in deliveries} == {"pending"}


async def test_two_hundred_concurrent_writes_all_succeed(repo: Repository, make_event: Callable[..., Event]) -> None:
    """200 concurrent ``store_event`` calls of distinct events all commit, with no "database is locked"."""
    events = [make_event() for _ in range(200)]
    route = [Route(channel="webhook", recipient="hook", rule="r")]
    results = await asyncio.gather(*(store(repo, e, route) for e in events), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    assert all(r.created for r in results)  # type: ignore[union-attr]
    assert len({r.id for r in results}) == 200  # type: ignore[union-attr]
    assert await count(repo.db, "notifications") == 200
    assert await count(repo.db, "deliveries") == 200


async def test_concurrent_duplicates_store_one_row(repo: Repository, make_event: Callable[..., Event]) -> None:
    """20 concurrent stores of the same (platform, key) keep one row; every call answers the same id."""
    event = make_event(key="tx-duplicate:deny")
    route = [Route(channel="webhook", recipient="hook", rule="r")]
    results = await asyncio.gather(*(store(repo, event, route) for _ in range(20)))
    ids = {r.id for r in results}
    assert len(ids) == 1
    assert sum(r.created for r in results) == 1
    assert [r.due for r in results if not r.created] == [[]] * 19
    assert await count(repo.db, "notifications") == 1
    assert await count(repo.db, "deliveries") == 1


async def test_same_key_on_another_platform_is_another_event(
    repo: Repository, make_event: Callable[..., Event]
) -> None:
    """Deduplication is per platform: the same key from two platforms stores two notifications."""
    a = make_event(platform="arindo", key="tx-1")
    b = make_event(platform="paprika", key="tx-1")
    ra = await store(repo, a, [])
    rb = await store(repo, b, [])
    assert ra.created and rb.created and ra.id != rb.id


async def test_repeat_after_commit_answers_the_first_id(repo: Repository, make_event: Callable[..., Event]) -> None:
    """A later repeat of a known event returns the first id and stores no new deliveries."""
    event = make_event()
    route = [Route(channel="webhook", recipient="hook", rule="r")]
    first = await store(repo, event, route)
    second = await store(repo, event, route)
    assert (second.id, second.created, second.due) == (first.id, False, [])
    assert await count(repo.db, "deliveries") == 1


async def test_failed_write_rolls_back(repo: Repository) -> None:
    """An exception inside ``write()`` rolls the whole transaction back and releases the lock."""
    with pytest.raises(RuntimeError):
        async with repo.db.write():
            await repo.db.execute('INSERT INTO "notigate_schema" ("version", "name") VALUES ({}, {})', 999, "x")
            raise RuntimeError("boom")
    assert await repo.db.fetch('SELECT "version" FROM "notigate_schema" WHERE "version" = 999') == []
    async with repo.db.write():  # the lock was released
        await repo.db.execute('DELETE FROM "notigate_schema" WHERE "version" = 999')
