"""Shared fixtures: the guide's example, a signed-body builder, and a configured platform."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from notigate import CallbackRequest
from notigate_platform_arindo._config import ArindoConfig
from notigate_platform_arindo._platform import ArindoPlatform

KEY = "SB-Mid-server-EXAMPLE"

# Copied from the guide, byte for byte (line breaks included).
GUIDE_EXAMPLE = b"""{"transaction_id": "5f1c9a4e-2b7d-4c1e-9f3a-8d6e2b1a7c90", "order_id": "ORD-1001",
 "merchant_id": "M-ARD-000123", "status_code": "202", "transaction_status": "deny",
 "status_message": "ARINDO payment notification", "payment_type": "credit_card",
 "gross_amount": "150000.00", "currency": "IDR", "transaction_time": "2024-08-01 10:15:30",
 "fraud_status": "accept", "masked_card": "481111-1114",
 "customer_details": {"email": "budi@example.co.id", "phone": "+6281234567890", "first_name": "Budi"},
 "channel_response_code": "05", "channel_response_message": "Do not honour",
 "signature_key": "29892ff8a62fdeef45d6944dc55a7bba558d72dc4cf2ad98d00b1cd780d25bff55b6bfa412d8d983e80b3f451cf99e07c28c293ad9ba39964617f172e3ebc6d5"}"""

Builder = Callable[..., dict[str, Any]]
Requester = Callable[..., CallbackRequest]


def _sha512_signature(body: dict[str, Any], key: str) -> str:
    """Written from the guide's formula, independently of the plugin's ``sign``."""
    text = f"{body['order_id']}{body['status_code']}{body['gross_amount']}{key}"
    return hashlib.sha512(text.encode()).hexdigest()


@pytest.fixture
def guide_example() -> bytes:
    return GUIDE_EXAMPLE


@pytest.fixture
def platform() -> ArindoPlatform:
    return ArindoPlatform(ArindoConfig(server_key=KEY))


@pytest.fixture
def signed() -> Builder:
    """``signed(**changes)``: the guide's example with changes (None deletes), re-signed."""

    def build(*, key: str = KEY, **changes: Any) -> dict[str, Any]:
        body: dict[str, Any] = msgspec.json.decode(GUIDE_EXAMPLE)
        for name, value in changes.items():
            if value is None:
                body.pop(name, None)
            else:
                body[name] = value
        body["signature_key"] = _sha512_signature(body, key)
        return body

    return build


@pytest.fixture
def request_for() -> Requester:
    """``request_for(body, content_type=...)``: a CallbackRequest from a dict or raw bytes."""

    def make(body: dict[str, Any] | bytes, content_type: str | None = "application/json") -> CallbackRequest:
        raw = body if isinstance(body, bytes) else msgspec.json.encode(body)
        headers = {} if content_type is None else {"content-type": content_type}
        return CallbackRequest(body=raw, headers=headers, path="/api/v1/platforms/arindo/callbacks")

    return make
