"""Webhook endpoints: the configured ``[[webhooks]]`` with their live state, and re-enabling one.

An endpoint that answered 410 Gone is disabled (shared by every worker through its
circuit breaker row); its deliveries keep accumulating as pending. Enabling it makes
them all due at once, so nothing is dropped while it was off.
"""

from __future__ import annotations

import time

import msgspec
from litestar import Controller, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from notigate.api.auth import SECURITY, require_api_key
from notigate.api.deps import GatewayDep
from notigate.breakers import destination_key
from notigate.repository import utcnow


class Endpoint(msgspec.Struct, frozen=True, kw_only=True):
    """A subscriber endpoint (its signing secret is never shown)."""

    name: str
    url: str
    events: list[str]
    enabled: bool
    state: str


class Woken(msgspec.Struct, frozen=True):
    name: str
    redriven: int


class EndpointsController(Controller):
    path = "/api/v1/webhooks/endpoints"
    tags = ["webhooks"]
    guards = [require_api_key]
    security = SECURITY

    @get("/", summary="Configured webhook endpoints and their state (closed, open, disabled…)")
    async def list_endpoints(self, gateway: GatewayDep) -> list[Endpoint]:
        out = []
        for w in gateway.settings.webhooks:
            state = await gateway.breakers.state(destination_key("webhook", w.url))
            out.append(Endpoint(name=w.name, url=w.url, events=w.events, enabled=w.enabled and state != "disabled",
                                state=state))
        return out

    @post("/{name:str}/enable", status_code=202, opt={"scope": "admin"},
          summary="Enable an endpoint disabled after 410 Gone and re-drive its waiting deliveries")
    async def enable(self, gateway: GatewayDep, name: FromPath[str]) -> Woken:
        endpoint = gateway.webhooks.get(name)
        if endpoint is None:
            raise NotFoundException(f"no webhook endpoint named {name!r}")
        await gateway.breakers.enable(destination_key("webhook", endpoint.url), utcnow())
        woken = await gateway.repo.wake(channel="webhook", recipient=name)
        tag = f"e{int(time.time() * 1000)}"
        for delivery_id, attempts in woken:
            try:
                await gateway.queue.enqueue(delivery_id, attempts, tag=tag)
            except Exception:  # due now in the database: the sweep enqueues it
                pass
        return Woken(name=name, redriven=len(woken))
