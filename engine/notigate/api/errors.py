"""Every error leaves the API as JSON with ``status_code`` and a ``detail`` naming the problem."""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from notigate.errors import IdempotencyConflict, PlatformInputError

log = logging.getLogger(__name__)


def _json(status: int, detail: str, extra: object = None) -> Response[dict[str, object]]:
    body: dict[str, object] = {"status_code": status, "detail": detail}
    if extra:
        body["extra"] = extra
    return Response(body, status_code=status, media_type=MediaType.JSON)


def validation_error(_: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, object]]:
    """Name the offending field(s) in ``detail`` itself, not only in ``extra``."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    parts = [f"{e.get('key') or e.get('source') or 'body'}: {e.get('message')}" for e in extra if isinstance(e, dict)]
    return _json(exc.status_code, "; ".join(parts) or exc.detail, extra)


def http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, object]]:
    return _json(exc.status_code, exc.detail, exc.extra)


def input_error(_: Request[Any, Any, Any], exc: PlatformInputError) -> Response[dict[str, object]]:
    return _json(exc.status_code, exc.detail)


def undecodable(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, object]]:
    """Bodies that break the decoder (invalid UTF-8, absurd nesting, out-of-range dates) are the client's fault."""
    return _json(400, f"the request could not be decoded: {type(exc).__name__}")


def idempotency_conflict(request: Request[Any, Any, Any], exc: IdempotencyConflict) -> Response[dict[str, object]]:
    """Stripe's rule: an Idempotency-Key belongs to the request it first came with."""
    key = request.headers.get("idempotency-key", "")
    return _json(409, f"Idempotency-Key {key!r} was already used with a different request")


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, object]]:
    log.error("unhandled %s on %s %s: %s", type(exc).__name__, request.method, request.url.path, exc)
    return _json(HTTP_500_INTERNAL_SERVER_ERROR, "internal error; the gateway logged it")


HANDLERS = {
    ValidationException: validation_error,
    HTTPException: http_error,
    PlatformInputError: input_error,
    IdempotencyConflict: idempotency_conflict,
    UnicodeDecodeError: undecodable,
    RecursionError: undecodable,
    OverflowError: undecodable,
    Exception: internal_error,
}
