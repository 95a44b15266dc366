"""Correctly signed sample notifications, for ``notigate send-test arindo`` and tests."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec

from notigate import CallbackRequest
from notigate_platform_arindo._body import JAKARTA
from notigate_platform_arindo._codes import examples
from notigate_platform_arindo._signature import sign

DEFAULT_CODE = "card_declined"
_CHANNEL_MESSAGES = {
    "51": "Insufficient funds",
    "54": "Expired card",
    "14": "Invalid card number",
    "55": "Incorrect PIN",
    "63": "Security violation",
}


def sample_request(server_key: str, code: str | None = None) -> CallbackRequest:
    """A notification as ARINDO would send it now, normalizing to ``code``."""
    wanted = code or DEFAULT_CODE
    status = examples().get(wanted)
    if status is None:
        supported = ", ".join(sorted(examples()))
        raise ValueError(f"ARINDO cannot report {wanted!r}; supported codes: {supported}")
    transaction_id = str(uuid.uuid4())
    body: dict[str, Any] = {
        "transaction_id": transaction_id,
        "order_id": f"ORD-SAMPLE-{transaction_id[:8]}",
        "merchant_id": "M-ARD-000123",
        "status_code": status.status_code,
        "transaction_status": status.transaction_status,
        "status_message": "ARINDO payment notification (sample)",
        "payment_type": "credit_card",
        "gross_amount": "150000.00",
        "currency": "IDR",
        "transaction_time": datetime.now(JAKARTA).strftime("%Y-%m-%d %H:%M:%S"),
        "masked_card": "481111-1114",
        "customer_details": {"email": "budi@example.co.id", "phone": "+6281234567890", "first_name": "Budi"},
    }
    if status.fraud_status is not None:
        body["fraud_status"] = status.fraud_status
    if status.channel_response_code is not None:
        body["channel_response_code"] = status.channel_response_code
        body["channel_response_message"] = _CHANNEL_MESSAGES.get(status.channel_response_code, "")
    body["signature_key"] = sign(body["order_id"], body["status_code"], body["gross_amount"], server_key)
    return CallbackRequest(body=msgspec.json.encode(body), headers={"content-type": "application/json"})
