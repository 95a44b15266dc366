"""Turning a JSON body into one normalized event, verified first.

Checks run in the order that gives the platform the most useful answer without
trusting anything unsigned: shape of the body, then the signature as soon as the
signed fields are usable (a forgery gets 401, never a field-by-field 400), then every
field problem at once, so one fix is visible in one answer.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from notigate import Event, PlatformInputError, SignatureError, mask_metadata
from notigate_platform_arindo._codes import normalize
from notigate_platform_arindo._signature import verify

JAKARTA = ZoneInfo("Asia/Jakarta")
REQUIRED = (
    "transaction_id",
    "order_id",
    "merchant_id",
    "status_code",
    "transaction_status",
    "gross_amount",
    "transaction_time",
    "signature_key",
)
OPTIONAL_STRINGS = (
    "status_message",
    "payment_type",
    "currency",
    "fraud_status",
    "channel_response_code",
    "channel_response_message",
    "masked_card",
)
# Mapped to Event attributes (or platform_code), or secret: not repeated in metadata.
NOT_METADATA = frozenset(
    {
        "order_id",
        "merchant_id",
        "status_code",
        "transaction_status",
        "gross_amount",
        "currency",
        "transaction_time",
        "signature_key",
    }
)
# At most 18 integer digits: no real payment is that large, and it keeps absurd
# (megabyte-long) amounts out of storage, templates and int() conversions.
_AMOUNT = re.compile(r"[0-9]{1,18}\.[0-9]{2}")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
_CURRENCY = re.compile(r"[A-Z]{3}")
# "A string of digits", ASCII ones: Python's \d (and int()) would take a full-width "２０２" too.
_STATUS_CODE = re.compile(r"[0-9]+")
MAX_ORDER_ID = 64


def decode(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; anything else is the platform's error, not ours."""
    try:
        data = msgspec.json.decode(body)
    except (msgspec.DecodeError, ValueError, RecursionError):  # ValueError: bad UTF-8
        data = None
    if not isinstance(data, dict):
        raise PlatformInputError("body is not a valid JSON object")
    return data


def to_event(data: dict[str, Any], server_key: str) -> Event:
    """Verify ``data`` and normalize it; raise SignatureError or PlatformInputError."""
    _check_signature(data, server_key)
    _check_types(data)
    text: dict[str, str] = {k: v for k, v in data.items() if isinstance(v, str)}
    amount, occurred_at = _check_formats(text)
    status, code = text["transaction_status"], text["status_code"]
    channel = text.get("channel_response_code")
    return Event(
        platform="arindo",
        key=f"{text['transaction_id']}:{status}",
        code=normalize(status, code, text.get("fraud_status"), channel),
        message=text.get("status_message") or text.get("channel_response_message") or status,
        platform_code=f"{status}/{code}" + (f"/{channel}" if channel else ""),
        occurred_at=occurred_at,
        amount=amount,
        currency=text.get("currency") or "IDR",
        reference=text["order_id"],
        merchant_id=text["merchant_id"],
        metadata=mask_metadata({k: v for k, v in data.items() if k not in NOT_METADATA}),
    )


def _check_signature(data: dict[str, Any], server_key: str) -> None:
    """401 unless signed; skipped (for a 400 that names them) while signed fields are unusable."""
    signature = data.get("signature_key")
    if "signature_key" not in data:
        raise SignatureError("signature_key is missing")
    if not isinstance(signature, str) or not signature:
        raise SignatureError("signature_key must be a non-empty string")
    order_id, status_code, amount = data.get("order_id"), data.get("status_code"), data.get("gross_amount")
    if (
        isinstance(order_id, str)
        and isinstance(status_code, str)
        and isinstance(amount, str)
        and not verify(order_id, status_code, amount, server_key, signature)
    ):
        raise SignatureError("signature_key does not match")


def _check_types(data: dict[str, Any]) -> None:
    """Every required field a string, optional ones a string (or null) when present."""
    problems = [f"{f} is missing" for f in REQUIRED if f not in data]
    problems += [f"{f} must be a string" for f in REQUIRED if f in data and not isinstance(data[f], str)]
    problems += [
        f"{f} must be a string" for f in OPTIONAL_STRINGS if data.get(f) is not None and not isinstance(data[f], str)
    ]
    if data.get("customer_details") is not None and not isinstance(data["customer_details"], dict):
        problems.append("customer_details must be an object")
    if problems:
        raise PlatformInputError("; ".join(problems))


def _check_formats(text: dict[str, str]) -> tuple[Decimal, datetime]:
    """Formats of the fields that become typed Event attributes, all named at once.

    Table fields with odd values are left to the table's ``unknown_error`` fallback:
    an authentic notification should still reach someone. A ``status_code`` that is not
    ASCII digits is malformed, not odd.
    """
    problems = []
    if not text["transaction_id"]:
        problems.append("transaction_id must not be empty")
    if not _STATUS_CODE.fullmatch(text["status_code"]):
        problems.append("status_code must be a string of ASCII digits (0-9), such as 202")
    if len(text["order_id"]) > MAX_ORDER_ID:
        problems.append(f"order_id is longer than {MAX_ORDER_ID} characters")
    if (currency := text.get("currency")) is not None and not _CURRENCY.fullmatch(currency):
        problems.append("currency must be a three-letter ISO 4217 code such as IDR")
    if not _AMOUNT.fullmatch(text["gross_amount"]):
        problems.append(
            "gross_amount must be a decimal with exactly two decimals (at most 18 digits"
            " before them), such as 150000.00"
        )
    occurred_at = _jakarta_time(text["transaction_time"])
    if occurred_at is None:
        problems.append("transaction_time must be a date and time YYYY-MM-DD HH:MM:SS (Asia/Jakarta)")
    if problems or occurred_at is None:
        raise PlatformInputError("; ".join(problems))
    return Decimal(text["gross_amount"]), occurred_at


def _jakarta_time(text: str) -> datetime | None:
    """ARINDO's local time without offset, as an aware UTC datetime (None if invalid)."""
    if not _TIME.fullmatch(text):
        return None
    try:
        local = datetime.fromisoformat(text).replace(tzinfo=JAKARTA)
        return local.astimezone(UTC)
    except (ValueError, OverflowError):  # 2024-02-30; year 0001 cannot move back to UTC
        return None
