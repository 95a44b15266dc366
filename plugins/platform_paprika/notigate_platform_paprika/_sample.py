"""Correctly signed sample notifications, for ``notigate send-test paprika`` and tests."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec

from notigate import CallbackRequest
from notigate_platform_paprika._codes import ERROR_CODES, examples
from notigate_platform_paprika._config import PaprikaConfig
from notigate_platform_paprika._signature import sign

DEFAULT_CODE = "card_declined"
_RESPONSE_CODES = {"CC_DECLINED": "05", "CC_INSUFFICIENT_FUNDS": "51", "CC_EXPIRED": "54", "CC_INVALID": "14"}


def sample_request(config: PaprikaConfig, now: datetime, code: str | None = None) -> CallbackRequest:
    """A notification as PAPRIKA would send it at ``now``, normalizing to ``code``."""
    wanted = code or DEFAULT_CODE
    example = examples().get(wanted)
    if example is None:
        supported = ", ".join(sorted(examples()))
        raise ValueError(f"PAPRIKA cannot report {wanted!r}; supported codes: {supported}")
    request_id = str(uuid.uuid4())
    body = _body(example.status, example.error_code, now, request_id)
    raw = msgspec.json.encode(body)
    timestamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = {
        "content-type": "application/json",
        "client-id": config.client_id,
        "request-id": request_id,
        "request-timestamp": timestamp,
        "signature": sign(config.secret_key, config.client_id, request_id, timestamp, config.public_path, raw),
    }
    return CallbackRequest(body=raw, headers=headers, path=config.public_path)


def _body(status: str, error_code: str | None, now: datetime, request_id: str) -> dict[str, Any]:
    """A card payment, or a virtual-account one for expiries (an unknown service block, as in life)."""
    expiry = error_code == "VA_EXPIRED"
    body: dict[str, Any] = {
        "service": {"id": "VIRTUAL_ACCOUNT" if expiry else "CREDIT_CARD"},
        "acquirer": {"id": "BNI"},
        "channel": {"id": "VIRTUAL_ACCOUNT_BNI" if expiry else "CREDIT_CARD"},
        "order": {"invoice_number": f"INV-SAMPLE-{request_id[:8]}", "amount": 150000, "currency": "IDR"},
        "transaction": {"status": status, "date": now.strftime("%Y-%m-%dT%H:%M:%SZ")},
    }
    if error_code is not None:
        body["error"] = {"code": error_code, "message": _message(error_code)}
    if expiry:
        body["virtual_account_info"] = {"virtual_account_number": "8808123456789012"}
    else:
        body["card_payment"] = {"masked_card_number": "411111******1111"}
        if error_code in _RESPONSE_CODES:
            body["card_payment"]["response_code"] = _RESPONSE_CODES[error_code]
    body["customer"] = {"email": "siti@example.co.id", "phone": "+6281298765432"}
    return body


def _message(error_code: str) -> str:
    """``CC_DECLINED`` → ``card declined (sample)``; a code off the table → ``unknown error (sample)``."""
    return f"{ERROR_CODES.get(error_code, 'unknown_error').replace('_', ' ')} (sample)"
