"""Webhook endpoints from both sources: ``[[webhooks]]`` of the config and those created through the API.

Deliveries and routing look endpoints up synchronously and often, so lookups read memory.
The API-created part lives in the ``webhook_endpoints`` table and is reloaded every few
seconds by the gateway (and at once on a miss), so a process sees an endpoint another
process created as soon as it needs it, and a deleted one disappears within seconds.
Config endpoints win on a name clash, since the file is what an operator last said.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Literal

import msgspec

from notigate.clock import as_utc
from notigate.config.settings import WebhookEndpoint
from notigate.routing.globs import glob_matcher
from notigate.storage.endpoints import EndpointRows

REFRESH_SECONDS = 5.0
"""How often every process reloads the API-created endpoints (an upper bound on how long a deleted one lingers)."""


CHANNEL = "webhook"
"""The channel whose recipients are these endpoints (by name)."""


class Endpoint(msgspec.Struct, frozen=True, kw_only=True):
    """One subscriber endpoint. ``secret`` signs its webhooks and never leaves the engine,
    except once, in the answer to the API call that created it."""

    name: str
    url: str
    secret: str
    events: list[str]
    source: Literal["config", "api"]
    enabled: bool = True
    description: str = ""
    created_at: datetime | None = None

    def accepts(self, event_type: str) -> bool:
        """Whether ``event_type`` (``payment.<code>``) matches one of the endpoint's ``events`` globs."""
        matcher = _events_matcher(tuple(self.events))
        return matcher is not None and matcher(event_type)

    def __repr__(self) -> str:  # keep the secret out of logs and tracebacks
        return f"Endpoint(name={self.name!r}, source={self.source!r})"


@functools.lru_cache(maxsize=1024)
def _events_matcher(events: tuple[str, ...]) -> Callable[[str], bool] | None:
    """``events`` compiled once (routing asks every endpoint about every event)."""
    return glob_matcher(list(events))


class EndpointExists(Exception):
    """An endpoint with that name exists already (in the config or the database)."""


def _from_config(w: WebhookEndpoint) -> Endpoint:
    return Endpoint(name=w.name, url=w.url, secret=w.secret, events=list(w.events), source="config", enabled=w.enabled)


def _from_row(row: dict[str, object]) -> Endpoint:
    return Endpoint(
        name=str(row["name"]),
        url=str(row["url"]),
        secret=str(row["secret"]),
        events=msgspec.json.decode(str(row["events"]) or "[]", type=list[str]),
        source="api",
        description=str(row["description"] or ""),
        created_at=as_utc(row["created_at"]),
    )


class Endpoints:
    """The registry: sync lookups over memory, async writes and refreshes over the database."""

    def __init__(self, configured: Sequence[WebhookEndpoint], rows: EndpointRows | None = None) -> None:
        self.rows = rows
        """The API-created endpoints' table (None: the config's only, as in unit tests)."""
        self._configured: dict[str, Endpoint] = {}
        self._stored: dict[str, Endpoint] = {}
        self._refreshed = 0.0
        self._lock = asyncio.Lock()
        self.set_configured(configured)

    def set_configured(self, endpoints: Sequence[WebhookEndpoint]) -> None:
        """Replace the config part (a configuration reload); the stored ones stay."""
        self._configured = {w.name: _from_config(w) for w in endpoints}

    def get(self, name: str) -> Endpoint | None:
        return self._configured.get(name) or self._stored.get(name)

    def accepts(self, channel: str, recipient: str) -> bool:
        """A rule routes to a webhook endpoint by name, whatever its ``events`` (they are its
        subscriptions), while it exists and is enabled; other channels take every recipient."""
        if channel != CHANNEL:
            return True
        endpoint = self.get(recipient)
        return endpoint is not None and endpoint.enabled

    def all(self) -> list[Endpoint]:
        """Config endpoints first, then API-created ones not shadowed by a config one, each by name."""
        shadowed = self._configured.keys()
        return [*self._configured.values(), *(e for n, e in sorted(self._stored.items()) if n not in shadowed)]

    async def refresh(self) -> None:
        """Reload the API-created endpoints; concurrent callers share one query."""
        called = time.monotonic()
        async with self._lock:
            if self._refreshed > called:  # a query that began after our call has just finished
                return
            began = time.monotonic()
            self._stored = {e.name: e for e in map(_from_row, await self._rows().all())}
            self._refreshed = began

    async def find(self, name: str) -> Endpoint | None:
        """``get``, refreshing first on a miss: the endpoint may be new, made by another process."""
        if (endpoint := self.get(name)) is None and self.rows is not None:
            await self.refresh()
            endpoint = self.get(name)
        return endpoint

    async def create(
        self, *, name: str, url: str, secret: str, events: list[str], description: str, now: datetime
    ) -> Endpoint:
        """Store a new endpoint; ``EndpointExists`` if the name is taken (the database's key decides)."""
        if name in self._configured:
            raise EndpointExists(name)
        if not await self._rows().insert(
            name=name, url=url, secret=secret, events=events, description=description, now=now
        ):
            raise EndpointExists(name)
        endpoint = Endpoint(
            name=name, url=url, secret=secret, events=events, source="api", description=description, created_at=now
        )
        self._stored = {**self._stored, name: endpoint}
        return endpoint

    async def delete(self, name: str) -> bool:
        """Remove an API-created endpoint; False if none has that name."""
        deleted = await self._rows().delete(name)
        self._stored = {n: e for n, e in self._stored.items() if n != name}
        return deleted

    def _rows(self) -> EndpointRows:
        if self.rows is None:
            raise RuntimeError("Endpoints has no table (pass rows=, or use it through a Gateway)")
        return self.rows
