"""The guide's status and error code table, as data, and the lookup that applies it.

Three statuses decide on their own. The others carry an ``error`` block whose ``code``
decides through the table, anything not in it being ``unknown_error``. The guide always
sends that block with them; when it is missing anyway, the status is all there is
(:data:`WITHOUT_ERROR`), so the notification still reaches someone.
"""

from __future__ import annotations

from typing import NamedTuple

FALLBACK_CODE = "unknown_error"

STATUSES: dict[str, str] = {
    "SUCCESS": "Payment succeeded",
    "PENDING": "Payment pending",
    "FAILED": "Payment failed",
    "EXPIRED": "Payment expired",
    "REFUNDED": "Payment refunded",
    "REFUND_FAILED": "Refund failed",
}
"""The six ``transaction.status`` values, with the message used when ``error.message`` is absent."""

BY_STATUS: dict[str, str] = {
    "SUCCESS": "payment_succeeded",
    "PENDING": "payment_pending",
    "REFUNDED": "payment_refunded",
}
"""Statuses that carry no error block and map on their own."""

ERROR_CODES: dict[str, str] = {
    "CC_DECLINED": "card_declined",
    "CC_INSUFFICIENT_FUNDS": "insufficient_funds",
    "CC_EXPIRED": "expired_card",
    "CC_INVALID": "invalid_card",
    "CC_3DS_FAILED": "authentication_failed",
    "FRAUD_REJECTED": "fraud_suspected",
    "FRAUD_REVIEW": "fraud_review",
    "VA_EXPIRED": "payment_expired",
    "PAYMENT_EXPIRED": "payment_expired",
    "PARTNER_TIMEOUT": "timeout",
    "PARTNER_UNAVAILABLE": "provider_unavailable",
    "DUPLICATE_INVOICE": "duplicate_transaction",
    "INVALID_PARAMETER": "invalid_request",
    "INTERNAL_ERROR": "provider_error",
    "REFUND_REJECTED": "refund_failed",
}
"""The guide's ``error.code`` table."""

WITHOUT_ERROR: dict[str, str] = {
    "EXPIRED": "payment_expired",
    "REFUND_FAILED": "refund_failed",
    "FAILED": FALLBACK_CODE,
}
"""Off-guide: an error status whose ``error`` block (or its ``code``) is missing."""


def normalize(status: str, error_code: str | None) -> str:
    """The taxonomy code of a notification with a known ``status``.

    ``error_code`` is only looked at for statuses that carry an error; None means absent.
    It is matched like :func:`map_error_code`, ignoring case and surrounding blanks.
    """
    if status in BY_STATUS:
        return BY_STATUS[status]
    if error_code is None:
        return WITHOUT_ERROR.get(status, FALLBACK_CODE)
    return map_error_code(error_code) or FALLBACK_CODE


def map_error_code(code: str) -> str | None:
    """``cc_declined`` → ``card_declined`` (any case, surrounding blanks ignored); else None."""
    return ERROR_CODES.get(code.strip().upper())


class Example(NamedTuple):
    """What a sample notification needs to normalize to one code."""

    status: str
    error_code: str | None = None


FALLBACK_EXAMPLE = Example("FAILED", "GENERAL_ERROR")


def examples() -> dict[str, Example]:
    """One (status, error code) per code PAPRIKA can report, fallback last."""
    out = {code: Example(status) for status, code in BY_STATUS.items()}
    for error_code, code in ERROR_CODES.items():
        if code == "payment_expired":
            out.setdefault(code, Example("EXPIRED", error_code))
        elif code == "refund_failed":
            out.setdefault(code, Example("REFUND_FAILED", error_code))
        else:
            out.setdefault(code, Example("FAILED", error_code))
    out[FALLBACK_CODE] = FALLBACK_EXAMPLE
    return out
