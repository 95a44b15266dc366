"""API keys: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``, compared in constant time."""

from __future__ import annotations

import hmac

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from notigate.app.gateway import Gateway
from notigate.config.settings import ApiKey

SECURITY: list[dict[str, list[str]]] = [{"BearerKey": []}, {"HeaderKey": []}]


def presented_key(connection: ASGIConnection) -> str | None:  # type: ignore[type-arg]
    auth = connection.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return connection.headers.get("x-api-key") or None


def find_key(gw: Gateway, presented: str) -> ApiKey | None:
    found = None
    for key, api_key in gw.api_keys.items():
        if hmac.compare_digest(key.encode(), presented.encode()):
            found = api_key
    return found


def require_api_key(connection: ASGIConnection, handler: BaseRouteHandler) -> None:  # type: ignore[type-arg]
    """Guard: a known key; handlers marked ``opt={"scope": "admin"}`` need that scope."""
    presented = presented_key(connection)
    if presented is None:
        raise NotAuthorizedException("missing API key: send Authorization: Bearer <key> or X-API-Key: <key>")
    api_key = find_key(connection.app.state.gateway, presented)
    if api_key is None:
        raise NotAuthorizedException("invalid API key")
    scope = handler.opt.get("scope")
    if scope and scope not in api_key.scopes and "admin" not in api_key.scopes:
        raise PermissionDeniedException(f"API key {api_key.name!r} lacks the {scope!r} scope")
