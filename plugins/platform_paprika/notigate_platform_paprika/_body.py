"""Turning an authenticated JSON body into one normalized event.

The body is only read once the headers have authenticated it (``_auth``), so every
problem here is a 400, and all of them are named in one answer so one fix is visible
in one retry.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec

from notigate import Event, PlatformInputError, mask_metadata
from notigate_platform_paprika._codes import BY_STATUS, STATUSES, normalize

# Deeper bodies are refused: nothing PAPRIKA documents nests more than two levels, and
# recursive code downstream (masking, templates) must never meet a thousand levels.
MAX_DEPTH = 32
# No real payment has more than 18 digits; it keeps absurd integers out of storage.
MAX_AMOUNT = 10**18
# The engine stores reference and platform_code in 128-character columns.
MAX_INVOICE = 128
MAX_PLATFORM_CODE = 128
OPTIONAL_OBJECTS = ("service", "acquirer", "channel", "card_payment", "customer")
_CURRENCY = re.compile(r"[A-Z]{3}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2})")


def decode(body: bytes) -> dict[str, Any]:
    """The body as a JSON object of reasonable depth; anything else is the platform's error."""
    try:
        data = msgspec.json.decode(body)
    except (msgspec.DecodeError, ValueError, RecursionError):  # ValueError: bad UTF-8, huge numbers
        data = None
    if not isinstance(data, dict):
        raise PlatformInputError("body is not a valid JSON object")
    if _deeper_than(data, MAX_DEPTH):
        raise PlatformInputError(f"body is nested deeper than {MAX_DEPTH} levels")
    return data


def to_event(data: dict[str, Any], client_id: str, request_id: str) -> Event:
    """Normalize an authenticated body; raise PlatformInputError naming every problem."""
    problems: list[str] = []
    order = _object(data, "order", problems, required=True)
    transaction = _object(data, "transaction", problems, required=True)
    blocks = {name: _object(data, name, problems) for name in OPTIONAL_OBJECTS}
    invoice = _invoice(order, problems)
    amount = _amount(order, problems)
    currency = _string(
        order, "order.currency", problems, _CURRENCY, "a three-letter ISO 4217 code such as IDR", required=True
    )
    status = _status(transaction, problems)
    occurred_at = _date(transaction, problems)
    reads_error = status not in BY_STATUS
    error = _object(data, "error", problems) if reads_error else {}
    error_code = _string(error, "error.code", problems)
    error_message = _string(error, "error.message", problems)
    response_code = _string(blocks["card_payment"], "card_payment.response_code", problems)
    if problems or status is None or occurred_at is None or invoice is None or amount is None:
        raise PlatformInputError("; ".join(problems))
    parts = [status]
    if error_code:  # FAILED/CC_DECLINED/05: the card's response code only next to an error code
        parts += [error_code, response_code] if response_code else [error_code]
    return Event(
        platform="paprika",
        key=request_id,
        code=normalize(status, error_code),
        message=error_message or STATUSES[status],
        platform_code="/".join(parts)[:MAX_PLATFORM_CODE],  # error.code has no documented bound
        occurred_at=occurred_at,
        amount=amount,
        currency=currency,
        reference=invoice,
        merchant_id=client_id,
        metadata=mask_metadata(_metadata(data, reads_error, request_id)),
    )


def _metadata(data: dict[str, Any], reads_error: bool, request_id: str) -> dict[str, Any]:
    """Every block and field not mapped to an Event attribute, unknown ones included."""
    used = {"order": ("invoice_number", "amount", "currency"), "transaction": ("status", "date")}
    if reads_error:
        used["error"] = ("code", "message")
    out: dict[str, Any] = {}
    for name, value in data.items():
        if name in used and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in used[name]}
            if not value:
                continue
        out[name] = value
    out["request_id"] = request_id
    return out


def _object(parent: dict[str, Any], name: str, problems: list[str], *, required: bool = False) -> dict[str, Any]:
    """The block ``name`` ({} when absent or null); a problem when it is not an object."""
    value = parent.get(name)
    if value is None:
        if required:
            problems.append(f"{name} is missing")
        return {}
    if not isinstance(value, dict):
        problems.append(f"{name} must be an object")
        return {}
    return value


def _string(
    parent: dict[str, Any],
    path: str,
    problems: list[str],
    pattern: re.Pattern[str] | None = None,
    what: str = "",
    *,
    required: bool = False,
) -> str | None:
    """String field ``path`` of ``parent`` (None when absent or null), checked against ``pattern``."""
    value = parent.get(path.rpartition(".")[2])
    if value is None:
        if required:
            problems.append(f"{path} is missing")
        return None
    if not isinstance(value, str):
        problems.append(f"{path} must be a string")
        return None
    if pattern is not None and not pattern.fullmatch(value):
        problems.append(f"{path} must be {what}")
        return None
    return value


def _invoice(order: dict[str, Any], problems: list[str]) -> str | None:
    value = order.get("invoice_number")
    if not isinstance(value, str) or not value or len(value) > MAX_INVOICE:
        problems.append(f"order.invoice_number must be a non-empty string of at most {MAX_INVOICE} characters")
        return None
    return value


def _amount(order: dict[str, Any], problems: list[str]) -> Decimal | None:
    """Whole currency units as an integer; floats, strings and booleans are refused."""
    value = order.get("amount")
    if type(value) is not int or not 0 <= value < MAX_AMOUNT:
        problems.append("order.amount must be a non-negative integer in whole currency units, such as 150000")
        return None
    return Decimal(value)


def _status(transaction: dict[str, Any], problems: list[str]) -> str | None:
    value = transaction.get("status")
    if not isinstance(value, str) or value not in STATUSES:
        problems.append(f"transaction.status must be one of {', '.join(STATUSES)}")
        return None
    return value


def _date(transaction: dict[str, Any], problems: list[str]) -> datetime | None:
    """ISO 8601 with ``Z`` (or an explicit offset), as an aware UTC datetime."""
    value = transaction.get("date")
    parsed = None
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
        except (ValueError, OverflowError):  # 2024-02-30; year 0001 with a positive offset
            parsed = None
    if parsed is None:
        problems.append("transaction.date must be an ISO 8601 UTC date and time, such as 2024-08-01T03:15:29Z")
    return parsed


def _deeper_than(data: Any, limit: int) -> bool:
    """True when ``data`` nests objects and arrays more than ``limit`` levels (iteratively)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values() if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value if isinstance(v, (dict, list)))
    return False
