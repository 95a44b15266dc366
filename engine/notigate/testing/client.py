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


@contextlib.asynccontextmanager
async def app_client(settings: Settings | dict[str, Any], **app_options: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` on the app of a gateway built from ``settings`` (a ``Settings`` or the
    dict a ``notigate.toml`` decodes to), its database migrated first and its lifespan run in this
    event loop (no server, no port)."""
    if isinstance(settings, dict):
        settings = convert(settings, Settings, "")
    db = Database(settings.database.url)
    await db.start()
    try:
        await migrate(db)
    finally:
        await db.close()
    app = create_app(Gateway.from_settings(settings), **app_options)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]  # Litestar's scope types are narrower than httpx's
        async with httpx.AsyncClient(transport=transport, base_url="http://notigate.test") as client:
            yield client
