"""Webhook endpoints: ``[[webhooks]]`` of the config and API-created subscribers, with their live state.

Subscribers are created and deleted here; config endpoints are read-only (the file is
theirs). An endpoint that answered 410 Gone, or kept failing for ``endpoint_disable_after``,
is disabled (shared by every worker through its circuit breaker row); its deliveries keep
accumulating as pending. Enabling it makes them all due at once, so nothing is dropped.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Annotated, Literal
from urllib.parse import urlsplit

import msgspec
from litestar import Controller, delete, get, post
from litestar.exceptions import ClientException, NotFoundException, ValidationException
from litestar.params import FromPath, JSONBody

from notigate.api.auth import SECURITY, require_api_key
from notigate.api.deps import GatewayDep
from notigate.clock import utcnow
from notigate.delivery.breakers import destination_key
from notigate.delivery.queue import enqueue_due
from notigate.events import TAXONOMY
from notigate.webhooks.endpoints import CHANNEL as WEBHOOK
from notigate.webhooks.endpoints import EndpointExists

EVENT_TYPES = [f"payment.{code}" for code in TAXONOMY]


class Endpoint(msgspec.Struct, frozen=True, kw_only=True):
    """A subscriber endpoint (its signing secret is never shown) and its breaker's state."""

    name: str
    url: str
    events: list[str]
    enabled: bool
    state: str
    source: Literal["config", "api"] = "config"
    description: str = ""
    created_at: datetime | None = None
    reason: str | None = None
    """Why it is disabled (410 Gone, or failing for longer than ``endpoint_disable_after``)."""
    failing_since: datetime | None = None


class NewEndpoint(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A subscriber to create: it receives every event whose type matches one of ``events``."""

    name: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", examples=["merchant-backend"])]
    url: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^https?://\S+$", max_length=2048, examples=["https://merchant.example.com/hooks/payments"]
        ),
    ]
    events: Annotated[
        list[Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9_.*?]{1,100}$")]], msgspec.Meta(min_length=1, max_length=50)
    ] = msgspec.field(default_factory=lambda: ["payment.*"])
    secret: Annotated[str, msgspec.Meta(pattern=r"^whsec_[A-Za-z0-9+/]+={0,2}$")] | None = None
    description: Annotated[str, msgspec.Meta(max_length=500)] = ""


class CreatedEndpoint(msgspec.Struct, frozen=True, kw_only=True):
    """The new endpoint with its signing secret: the only time the secret is shown."""

    name: str
    url: str
    events: list[str]
    description: str
    secret: str
    created_at: datetime
    source: Literal["api"] = "api"


def _problems(data: NewEndpoint) -> list[tuple[str, str]]:
    """What the schema cannot say: a host in the URL, a usable key, event filters that can match."""
    problems: list[tuple[str, str]] = []
    try:
        parts = urlsplit(data.url)
        if not parts.hostname:
            problems.append(("url", "must be an http(s) URL with a host"))
        parts.port  # noqa: B018 - raises ValueError when out of range
    except ValueError:
        problems.append(("url", "is not a valid URL (bad host or port)"))
    if data.secret is not None:
        encoded = data.secret.removeprefix("whsec_")
        try:
            size = len(base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True))
        except binascii.Error:
            size = 0
        if not 24 <= size <= 64:
            problems.append(("secret", "must be whsec_ followed by the base64 of 24 to 64 random bytes"))
    for i, pattern in enumerate(data.events):
        if not any(fnmatchcase(t, pattern) for t in EVENT_TYPES):
            problems.append((f"events[{i}]", "matches no event type (payment.<code>, e.g. payment.card_*)"))
    return problems


class Woken(msgspec.Struct, frozen=True):
    name: str
    redriven: int


class EndpointsController(Controller):
    path = "/api/v1/webhooks/endpoints"
    tags = ["webhooks"]
    guards = [require_api_key]
    security = SECURITY

    @get(
        "/",
        opt={"scope": "admin"},
        summary="Webhook endpoints (config and API) and their state (closed, open, disabled…)",
    )
    async def list_endpoints(self, gateway: GatewayDep) -> list[Endpoint]:
        await gateway.endpoints.refresh()
        breakers = {b.destination: b for b in await gateway.breakers.all()}
        out = []
        for e in gateway.endpoints.all():
            b = breakers.get(destination_key(WEBHOOK, e.url))
            state = b.state if b else "closed"
            out.append(
                Endpoint(
                    name=e.name,
                    url=e.url,
                    events=e.events,
                    enabled=e.enabled and state != "disabled",
                    state=state,
                    source=e.source,
                    description=e.description,
                    created_at=e.created_at,
                    reason=b.reason if b and state == "disabled" else None,
                    failing_since=b.failing_since if b else None,
                )
            )
        return out

    @post(
        "/",
        status_code=201,
        opt={"scope": "admin"},
        summary="Create a subscriber endpoint; the answer shows its signing secret, once",
    )
    async def create_endpoint(self, gateway: GatewayDep, data: JSONBody[NewEndpoint]) -> CreatedEndpoint:
        if problems := _problems(data):
            raise ValidationException(
                "; ".join(f"{key}: {message}" for key, message in problems),
                extra=[{"key": key, "message": message, "source": "body"} for key, message in problems],
            )
        secret = data.secret or "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
        now = utcnow()
        try:
            await gateway.endpoints.create(
                name=data.name,
                url=data.url,
                secret=secret,
                events=list(data.events),
                description=data.description,
                now=now,
            )
        except EndpointExists:
            raise ClientException(
                f"name: a webhook endpoint named {data.name!r} exists already", status_code=409
            ) from None
        return CreatedEndpoint(
            name=data.name,
            url=data.url,
            events=list(data.events),
            description=data.description,
            secret=secret,
            created_at=now,
        )

    @delete(
        "/{name:str}",
        status_code=204,
        opt={"scope": "admin"},
        summary="Delete a subscriber endpoint; its waiting deliveries are cancelled",
    )
    async def delete_endpoint(self, gateway: GatewayDep, name: FromPath[str]) -> None:
        endpoint = await gateway.endpoints.find(name)
        if endpoint is None:
            raise NotFoundException(f"no webhook endpoint named {name!r}")
        if endpoint.source == "config":
            raise ClientException(
                f"webhook endpoint {name!r} is defined in notigate.toml ([[webhooks]]); remove it there",
                status_code=409,
            )
        if not await gateway.endpoints.delete(name):  # another request deleted it meanwhile
            raise NotFoundException(f"no webhook endpoint named {name!r}")
        await gateway.repo.cancel_waiting(
            channel=WEBHOOK, recipient=name, reason=f"webhook endpoint {name!r} was deleted"
        )

    @post(
        "/{name:str}/enable",
        status_code=202,
        opt={"scope": "admin"},
        summary="Enable an endpoint disabled (410 Gone, long failure) and re-drive its waiting deliveries",
    )
    async def enable(self, gateway: GatewayDep, name: FromPath[str]) -> Woken:
        endpoint = await gateway.endpoints.find(name)
        if endpoint is None:
            raise NotFoundException(f"no webhook endpoint named {name!r}")
        await gateway.breakers.enable(destination_key(WEBHOOK, endpoint.url), utcnow())
        woken = await gateway.repo.wake(channel=WEBHOOK, recipient=name)
        await enqueue_due(gateway.queue, woken, tag=f"e{int(time.time() * 1000)}")
        return Woken(name=name, redriven=len(woken))
