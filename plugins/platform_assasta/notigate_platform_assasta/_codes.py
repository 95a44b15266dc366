"""The guide's two tables, as data: payment status codes and, for failures, error codes.

Status ``3`` (failed) is refined by ``error_code``; every other status maps on its own.
A status or error code the guide does not list is ``unknown_error``: an authentic
notification should still reach someone.
"""

from __future__ import annotations

from typing import NamedTuple

FALLBACK_CODE = "unknown_error"
FAILED = "3"

# code → (meaning, normalized code); FAILED's normalized code comes from ERRORS.
STATUSES: dict[str, tuple[str, str]] = {
    "0": ("unprocessed", "payment_pending"),
    "1": ("in process", "payment_pending"),
    "2": ("success", "payment_succeeded"),
    "3": ("failed", FALLBACK_CODE),
    "4": ("reversal", "payment_reversed"),
    "5": ("bill not found", "invalid_request"),
    "7": ("expired", "payment_expired"),
    "8": ("cancelled", "payment_cancelled"),
    "9": ("unknown", FALLBACK_CODE),
}

# error_code → (meaning, normalized code)
ERRORS: dict[str, tuple[str, str]] = {
    "E005": ("do not honour", "card_declined"),
    "E051": ("insufficient funds", "insufficient_funds"),
    "E054": ("expired card", "expired_card"),
    "E059": ("suspected fraud", "fraud_suspected"),
    "E068": ("response received too late", "timeout"),
    "E091": ("issuer or switch inoperative", "provider_unavailable"),
    "E094": ("duplicate transmission", "duplicate_transaction"),
    "E030": ("format error", "invalid_request"),
    "E096": ("system malfunction", "provider_error"),
}


class Example(NamedTuple):
    """A status (and error code) that normalizes to a given code, for sample callbacks."""

    payment_status_code: str
    error_code: str | None = None


def normalize(payment_status_code: str, error_code: str | None) -> str:
    """The taxonomy code of a notification, per the guide's tables."""
    if payment_status_code == FAILED:
        return _error_code(error_code) or FALLBACK_CODE
    return STATUSES.get(payment_status_code, ("", FALLBACK_CODE))[1]


def meaning(payment_status_code: str) -> str | None:
    """The guide's meaning of a status code (``failed``), None when it lists none."""
    row = STATUSES.get(payment_status_code)
    return row[0] if row else None


def _error_code(error_code: str | None) -> str | None:
    """Error codes match without regard to case or surrounding spaces (``e051`` is ``E051``)."""
    if not error_code:
        return None
    row = ERRORS.get(error_code.strip().upper())
    return row[1] if row else None


def examples() -> dict[str, Example]:
    """One status (and error code) per normalized code the tables can produce."""
    out: dict[str, Example] = {}
    for status, (_, code) in STATUSES.items():
        if status != FAILED and code != FALLBACK_CODE:
            out.setdefault(code, Example(status))
    for error, (_, code) in ERRORS.items():
        out.setdefault(code, Example(FAILED, error))
    out[FALLBACK_CODE] = Example("9")
    return out


def map_platform_code(code: str) -> str | None:
    """ASSASTA's own codes for the error API; None when the tables do not name it.

    Accepts an ``error_code`` (``E051``), or the ``platform_code`` form the gateway stores:
    a status alone (``7``) or a status with its error code (``3/E051``). Codes that would
    only reach ``unknown_error`` by falling through the tables (``3``, ``3/E999``) are
    None, so the API can tell an unknown code from a known one.
    """
    text = code.strip()
    if (mapped := _error_code(text)) is not None:
        return mapped
    status, _, error = text.partition("/")
    if status == FAILED:
        return _error_code(error) if error else None
    if error or status not in STATUSES:
        return None
    return STATUSES[status][1]
