"""The normalized event and the taxonomy every platform maps into."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec

Severity = Literal["info", "warning", "error", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "error", "critical")

TAXONOMY: dict[str, Severity] = {
    "payment_succeeded": "info",
    "payment_pending": "info",
    "payment_cancelled": "info",
    "payment_refunded": "info",
    "payment_expired": "warning",
    "payment_reversed": "warning",
    "card_declined": "warning",
    "insufficient_funds": "warning",
    "expired_card": "warning",
    "invalid_card": "warning",
    "authentication_failed": "warning",
    "fraud_review": "warning",
    "duplicate_transaction": "error",
    "invalid_request": "error",
    "timeout": "error",
    "provider_error": "error",
    "refund_failed": "error",
    "unknown_error": "error",
    "fraud_suspected": "critical",
    "provider_unavailable": "critical",
}

UtcDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
"""Timezone-aware only: a naive time would be stored as if it were UTC."""


def utc(value: datetime | None, key: str) -> datetime | None:
    """``value`` in UTC; a ValueError naming ``key`` if it is naive or leaves years 1–9999 in UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"{key}: must include a UTC offset (e.g. 2024-08-01T03:15:30Z)")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{key}: out of range once converted to UTC") from None


NotificationStatus = Literal[
    "received", "no_route", "grouped", "delivering", "delivered", "partially_delivered", "failed", "silenced"
]


def severity_rank(severity: Severity) -> int:
    """Position of ``severity`` in the order info < warning < error < critical."""
    return SEVERITIES.index(severity)


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """One payment outcome as a platform plugin reports it, before it is stored.

    ``key`` is the platform's own identity of the notification (for ARINDO the pair
    transaction id + status); the engine stores at most one notification per
    (platform, key), so a repeated callback never notifies anyone twice.
    """

    platform: str
    key: str
    code: str
    message: str
    platform_code: str
    occurred_at: UtcDatetime
    severity: Severity | None = None
    amount: Decimal | None = None
    currency: str | None = None
    reference: str | None = None
    merchant_id: str | None = None
    metadata: dict[str, Any] = {}

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware")

    def resolved_severity(self) -> Severity:
        """The event's own severity, else the taxonomy default (unknown codes: error)."""
        return self.severity or TAXONOMY.get(self.code, "error")


class Notification(msgspec.Struct, frozen=True, kw_only=True):
    """A stored, normalized event: what rules, templates, webhooks and the API see."""

    id: str
    platform: str
    code: str
    severity: Severity
    message: str
    platform_code: str
    occurred_at: UtcDatetime
    received_at: UtcDatetime
    status: NotificationStatus = "received"
    amount: Decimal | None = None
    currency: str | None = None
    reference: str | None = None
    merchant_id: str | None = None
    metadata: dict[str, Any] = {}


class Digest(msgspec.Struct, frozen=True, kw_only=True):
    """Notifications a rule's ``group_by``/``group_window`` folded into one delivery.

    ``group`` maps each ``group_by`` field to its value; ``references`` are the most
    recent few; ``totals`` sums the amounts per currency (Decimal, never float).
    """

    rule: str
    group: dict[str, str]
    count: int
    first_at: UtcDatetime
    last_at: UtcDatetime
    references: list[str] = []
    totals: dict[str, Decimal] = {}
    notification_ids: list[str] = []
