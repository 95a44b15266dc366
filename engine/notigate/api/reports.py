"""``POST /api/v1/notifications/error``: applications report an error in normalized form."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from litestar import Request, post
from litestar.exceptions import ValidationException
from litestar.params import HeaderParameter, JSONBody

from notigate.api.auth import SECURITY, require_api_key
from notigate.api.deps import GatewayDep
from notigate.clock import utcnow
from notigate.events import (
    TAXONOMY,
    Event,
    NotificationStatus,
    Severity,
    UtcDatetime,
    utc,
)

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
Short = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class ErrorReport(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """An error in normalized form. ``error_code`` is a taxonomy code or the platform's own."""

    platform: Annotated[str, msgspec.Meta(min_length=1, max_length=64, examples=["paprika"])]
    error_code: Annotated[str, msgspec.Meta(min_length=1, max_length=64, examples=["CC_DECLINED"])]
    message: Text
    severity: Severity | None = None
    # ASCII digits only (\d takes "１" and "١" too, and Decimal reads them); no newline before the end ($ allows one)
    amount: (
        Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,18}(\.[0-9]{1,4})?(?!\n)$", examples=["150000.00"])] | None
    ) = None
    currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")] | None = None
    reference: Short | None = None
    merchant_id: Short | None = None
    occurred_at: UtcDatetime | None = None
    metadata: dict[str, Any] = {}


class Accepted(msgspec.Struct, frozen=True):
    id: str
    status: NotificationStatus


def _invalid(key: str, message: str) -> ValidationException:
    return ValidationException(detail=message, extra=[{"key": key, "message": message, "source": "body"}])


def fingerprint(body: bytes) -> str:
    """SHA-256 of the request body as given, in canonical JSON (keys sorted, no whitespace), so a
    retry that orders keys or spaces differently is the same request and any other change is not."""
    return hashlib.sha256(msgspec.json.encode(msgspec.json.decode(body), order="sorted")).hexdigest()


@post(
    "/api/v1/notifications/error",
    status_code=202,
    tags=["notifications"],
    guards=[require_api_key],
    security=SECURITY,
    summary="Report an error in normalized form",
    description="`error_code` is a taxonomy code, or the platform's own code which its plugin maps; unknown codes "
    "are kept as `unknown_error` with the raw code in `platform_code`. A repeat with the same `Idempotency-Key` "
    "(per platform) and the same body answers the same id and notifies nobody twice; the same key with a "
    "different body (not only reordered or reformatted) answers 409.",
)
async def report_error(
    data: JSONBody[ErrorReport],
    gateway: GatewayDep,
    request: Request[Any, Any, Any],
    idempotency_key: Annotated[str | None, HeaderParameter(name="Idempotency-Key", max_length=200)] = None,
) -> Accepted:
    platform_name = data.platform.strip().lower()
    platform = gateway.platforms.get(platform_name)
    if platform is None:
        raise _invalid("platform", f"no enabled platform named {data.platform!r}")
    raw = data.error_code.strip()
    code = raw.lower() if raw.lower() in TAXONOMY else None
    if code is None:
        code = platform.map_code(raw)
    key = f"api:{idempotency_key}" if idempotency_key else f"api:{uuid.uuid4()}"
    try:
        occurred: datetime = utc(data.occurred_at, "occurred_at") or utcnow()
    except ValueError as exc:
        raise _invalid("occurred_at", str(exc)) from None
    event = Event(
        platform=platform_name,
        key=key,
        code=code or "unknown_error",
        message=data.message,
        platform_code=raw,
        occurred_at=occurred,
        severity=data.severity,
        amount=Decimal(data.amount) if data.amount else None,
        currency=data.currency,
        reference=data.reference,
        merchant_id=data.merchant_id,
        metadata=data.metadata,
    )
    stored = await gateway.ingest.accept_event(event, fingerprint(await request.body()) if idempotency_key else None)
    return Accepted(id=stored.id, status=stored.status)  # a key used with another body: 409 (api/errors.py)
