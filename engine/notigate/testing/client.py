"""The whole gateway, built from settings, behind an HTTP client: for tests that go through the API."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from notigate.api import create_app
from notigate.app.gateway import Gateway
from notigate.config.loading import convert
from notigate.config.settings import Settings
from notigate.storage.database import Database
from notigate.storage.migrations import migrate


async def migrate_database(url: str) -> None:
    """Create or upgrade the schema of the database at ``url``, as ``notigate migrate`` does."""
    db = Database(url)
    await db.start()
    try:
        await migrate(db)
    finally:
        await db.close()


@contextlib.asynccontextmanager
async def app_client(
    gateway: Gateway | Settings | dict[str, Any], **app_options: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` on the app of ``gateway``, its lifespan run in this event loop (no
    server, no port). Given settings (a ``Settings`` or the dict a ``notigate.toml`` decodes to), the
    gateway is built from them and its database migrated first."""
    if not isinstance(gateway, Gateway):
        settings = convert(gateway, Settings, "") if isinstance(gateway, dict) else gateway
        await migrate_database(settings.database.url)
        gateway = Gateway.from_settings(settings)
    app = create_app(gateway, **app_options)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]  # Litestar's scope types are narrower than httpx's
        async with httpx.AsyncClient(transport=transport, base_url="http://notigate.test") as client:
            yield client
