"""Turning an ``<assasta>`` document into one normalized event, verified first.

Checks run in the order that gives ASSASTA the most useful answer without trusting
anything unsigned: the shape of the known elements, then the signature as soon as the
elements it needs are there (a forgery gets 401, never a field-by-field 400), then
every remaining problem at once, so one fix is visible in one answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from xml.etree.ElementTree import Element
from zoneinfo import ZoneInfo

from notigate import Event, PlatformInputError, SignatureError, mask_metadata
from notigate_platform_assasta._codes import meaning, normalize
from notigate_platform_assasta._config import MerchantCredentials
from notigate_platform_assasta._signature import verify
from notigate_platform_assasta._xml import children, text, to_metadata

JAKARTA = ZoneInfo("Asia/Jakarta")
CURRENCY = "IDR"
REQUIRED = ("trx_id", "merchant_id", "bill_no", "payment_date", "payment_status_code", "bill_total", "signature")
SIGNED = ("merchant_id", "bill_no", "payment_status_code", "signature")
OPTIONAL = (
    "request",
    "merchant",
    "payment_reff",
    "payment_status_desc",
    "payment_total",
    "payment_channel_uid",
    "payment_channel",
    "error_code",
    "error_desc",
)
KNOWN = REQUIRED + OPTIONAL
# Mapped to Event attributes (or platform_code), or secret: not repeated in metadata.
NOT_METADATA = frozenset(
    {"merchant_id", "bill_no", "payment_date", "payment_status_code", "bill_total", "error_code", "signature"}
)
# Identifiers that end up in the event key, reference or platform_code stay short.
BOUNDED = ("trx_id", "bill_no", "payment_status_code", "error_code")
MAX_ID = 64
# Hundredths, at most 18 digits: no real payment is that large, and it keeps absurd
# (kilobyte-long) amounts out of storage, templates and Decimal arithmetic.
_HUNDREDTHS = re.compile(r"[0-9]{1,18}")
# Status codes are ASCII digits: Python's \d (and int()) would take a full-width "３" too.
_STATUS = re.compile(r"[0-9]+")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")


def to_event(root: Element, merchants: Mapping[str, MerchantCredentials]) -> Event:
    """Verify the document and normalize it; raise SignatureError or PlatformInputError."""
    found = children(root)
    _check_shape(found)
    fields = {name: text(found[name][0]) for name in KNOWN if name in found}
    _check_signature(fields, merchants)
    amount, occurred_at, payment_total = _check_formats(fields)
    status, error_code = fields["payment_status_code"], fields.get("error_code") or None
    metadata: dict[str, Any] = {}
    for tag, elements in found.items():
        if tag in NOT_METADATA:
            continue
        if tag in fields:
            metadata[tag] = fields[tag]
        else:
            values = [to_metadata(e) for e in elements]
            metadata[tag] = values[0] if len(values) == 1 else values
    if payment_total is not None:
        metadata["payment_total"] = str(payment_total)
    return Event(
        platform="assasta",
        key=f"{fields['trx_id']}:{status}",
        code=normalize(status, error_code),
        message=_message(fields),
        platform_code=f"{status}/{error_code}" if error_code else status,
        occurred_at=occurred_at,
        amount=amount,
        currency=CURRENCY,
        reference=fields["bill_no"],
        merchant_id=fields["merchant_id"],
        metadata=mask_metadata(metadata),
    )


def _message(fields: dict[str, str]) -> str:
    """The most specific description ASSASTA gave, else the guide's meaning of the status."""
    status = fields["payment_status_code"]
    return (
        fields.get("error_desc")
        or fields.get("payment_status_desc")
        or meaning(status)
        or f"ASSASTA payment status {status}"
    )


def _check_shape(found: dict[str, list[Element]]) -> None:
    """Known elements appear once and hold text; without the signed ones nothing can be verified."""
    problems = [f"<{n}> appears more than once" for n in KNOWN if len(found.get(n, ())) > 1]
    problems += [f"<{n}> must hold text, not elements" for n in KNOWN if n in found and len(found[n][0])]
    if any(n not in found for n in SIGNED):
        problems.append("missing elements: " + ", ".join(f"<{n}>" for n in REQUIRED if n not in found))
    if problems:
        raise PlatformInputError("; ".join(problems))


def _check_signature(fields: dict[str, str], merchants: Mapping[str, MerchantCredentials]) -> None:
    """401 for a merchant this gateway does not serve, or a signature that does not match."""
    credentials = merchants.get(fields["merchant_id"])
    if credentials is None:
        raise SignatureError("merchant_id is not a merchant this gateway serves")
    if not verify(
        credentials.user_id, credentials.password, fields["bill_no"], fields["payment_status_code"], fields["signature"]
    ):
        raise SignatureError("signature does not match")


def _check_formats(fields: dict[str, str]) -> tuple[Decimal, datetime, Decimal | None]:
    """Every remaining problem of a signed document, all named at once.

    Table codes with odd values (a status the guide does not list, an unknown error
    code) are left to the ``unknown_error`` fallback: an authentic notification should
    still reach someone. A status that is not ASCII digits is malformed, not odd.
    """
    missing = [n for n in REQUIRED if n not in fields]
    if missing:
        raise PlatformInputError("missing elements: " + ", ".join(f"<{n}>" for n in missing))
    problems = [f"<{n}> must not be empty" for n in ("trx_id", "bill_no", "payment_status_code") if not fields[n]]
    problems += [f"<{n}> is longer than {MAX_ID} characters" for n in BOUNDED if len(fields.get(n, "")) > MAX_ID]
    if fields["payment_status_code"] and not _STATUS.fullmatch(fields["payment_status_code"]):
        problems.append("<payment_status_code> must be ASCII digits (0-9), such as 3")
    amount = _hundredths(fields["bill_total"])
    if amount is None:
        problems.append("<bill_total> must be a whole number of hundredths, such as 15000000 for IDR 150,000.00")
    payment_total = None
    if fields.get("payment_total"):
        payment_total = _hundredths(fields["payment_total"])
        if payment_total is None:
            problems.append("<payment_total> must be a whole number of hundredths, such as 15000000")
    occurred_at = _jakarta_time(fields["payment_date"])
    if occurred_at is None:
        problems.append("<payment_date> must be a date and time YYYY-MM-DD HH:MM:SS (Asia/Jakarta)")
    if problems or amount is None or occurred_at is None:
        raise PlatformInputError("; ".join(problems))
    return amount, occurred_at, payment_total


def _hundredths(value: str) -> Decimal | None:
    """``15000000`` → ``Decimal("150000.00")``; None unless 1 to 18 ASCII digits."""
    if not _HUNDREDTHS.fullmatch(value):
        return None
    return Decimal(int(value)).scaleb(-2)


def _jakarta_time(value: str) -> datetime | None:
    """ASSASTA's local time without offset, as an aware UTC datetime (None if invalid)."""
    if not _TIME.fullmatch(value):
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=JAKARTA).astimezone(UTC)
    except (ValueError, OverflowError):  # 2024-02-30; year 0001 cannot move back to UTC
        return None
