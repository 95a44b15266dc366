"""Translated names of event codes, severities and digest fields, for templates.

The words are marked with ``N_`` so that ``pybabel extract`` (``babel.cfg``) puts them in
the catalogs; the ``code_label``, ``severity_label``, ``field_label`` and ``field_value``
template filters translate them for the render in progress. One dictionary lookup and one
catalog lookup per label: labels appear several times in every message.
"""

from __future__ import annotations


def N_(message: str) -> str:
    """Mark ``message`` for extraction; it is translated where it is shown."""
    return message


CODES: dict[str, str] = {
    "payment_succeeded": N_("Payment succeeded"),
    "payment_pending": N_("Payment pending"),
    "payment_cancelled": N_("Payment cancelled"),
    "payment_refunded": N_("Payment refunded"),
    "payment_expired": N_("Payment expired"),
    "payment_reversed": N_("Payment reversed"),
    "card_declined": N_("Card declined"),
    "insufficient_funds": N_("Insufficient funds"),
    "expired_card": N_("Card expired"),
    "invalid_card": N_("Invalid card"),
    "authentication_failed": N_("Authentication failed"),
    "fraud_review": N_("Fraud review"),
    "duplicate_transaction": N_("Duplicate transaction"),
    "invalid_request": N_("Invalid request"),
    "timeout": N_("Timeout"),
    "provider_error": N_("Provider error"),
    "refund_failed": N_("Refund failed"),
    "unknown_error": N_("Unknown error"),
    "fraud_suspected": N_("Suspected fraud"),
    "provider_unavailable": N_("Provider unavailable"),
}

SEVERITIES: dict[str, str] = {
    "info": N_("Info"),
    "warning": N_("Warning"),
    "error": N_("Error"),
    "critical": N_("Critical"),
}

FIELDS: dict[str, str] = {
    "platform": N_("Platform"),
    "code": N_("Event"),
    "severity": N_("Severity"),
    "merchant_id": N_("Merchant"),
    "currency": N_("Currency"),
}
