"""What ``serve`` and ``worker`` check before they start.

A database or Redis that cannot be used is then one line naming its key
(``database.url: cannot connect to 127.0.0.1:1 (connection refused)``) instead of a
traceback from inside uvicorn's lifespan or arq's start-up.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

from notigate.config.settings import Settings
from notigate.errors import UnavailableError
from notigate.storage.database import Database
from notigate.storage.migrations import require_current


async def check_services(settings: Settings, *, migrating: bool, queue: bool) -> None:
    """Open the database and require its current schema (unless the process is ``migrating``
    it itself: ``serve`` on SQLite); with ``queue``, require an answer from Redis.

    Raises UnavailableError for a service that cannot be used (unreachable, refusing, or not migrated).
    """
    db = Database(settings.database.url, pool_min_size=1, pool_max_size=1)
    await db.start()
    try:
        if not migrating:
            await require_current(db)
    finally:
        await db.close()
    if queue:
        await _ping(settings.queue.url)


async def _ping(url: str) -> None:
    client = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        raise UnavailableError.connecting("queue.url", url, exc) from None
    finally:
        await client.aclose()
