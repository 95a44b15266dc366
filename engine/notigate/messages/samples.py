"""Sample notifications and digests: what ``Templates.check()`` renders at start, and what
channel plugins' tests (ours and an outside author's) build messages from.

``template_contexts`` gives two of each purpose: one with every optional field set, one with
them all empty, so a template that forgets ``{% if event.amount is not none %}`` fails at start.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from notigate.events import Digest, Notification

_AT = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


def sample_notification(**changes: Any) -> Notification:
    """A stored ARINDO card decline with every field set; ``changes`` replace fields."""
    fields: dict[str, Any] = {
        "id": "ntf_01JNB6X4S5M2Q8Y7Z3W9V1T0RK",
        "platform": "arindo",
        "code": "card_declined",
        "severity": "warning",
        "message": "Card declined by the issuer",
        "platform_code": "202/05",
        "occurred_at": _AT,
        "received_at": _AT + timedelta(seconds=2),
        "status": "delivering",
        "amount": Decimal("150000.00"),
        "currency": "IDR",
        "reference": "INV-2026-0001",
        "merchant_id": "M-31835",
        "metadata": {"card": "411111******1111", "bank": "bni"},
    }
    return Notification(**(fields | changes))


def sample_digest(**changes: Any) -> Digest:
    """200 declines folded by one rule; ``changes`` replace fields."""
    fields: dict[str, Any] = {
        "rule": "errors to ops, folded",
        "group": {"platform": "arindo", "code": "card_declined"},
        "count": 200,
        "first_at": _AT,
        "last_at": _AT + timedelta(seconds=58),
        "references": ["INV-2026-0001", "INV-2026-0002"],
        "totals": {"IDR": Decimal("30000000.00"), "USD": Decimal("12.50")},
        "notification_ids": ["ntf_01JNB6X4S5M2Q8Y7Z3W9V1T0RK"],
    }
    return Digest(**(fields | changes))


_EMPTY_EVENT: dict[str, Any] = {
    "message": "",
    "amount": None,
    "currency": None,
    "reference": None,
    "merchant_id": None,
    "metadata": {},
}
_EMPTY_DIGEST: dict[str, Any] = {"group": {}, "count": 1, "references": [], "totals": {}}


def template_contexts(purpose: str) -> list[dict[str, Any]]:
    """The contexts the engine passes for ``purpose`` (``event`` or ``digest``), full and empty."""
    contexts: list[dict[str, Any]] = []
    for empty in (False, True):
        context: dict[str, Any] = {
            "event": sample_notification(**(_EMPTY_EVENT if empty else {})),
            "rule": "fraud to the risk team",
            "recipient": "ops@example.com",
        }
        if purpose == "digest":
            context["digest"] = sample_digest(**(_EMPTY_DIGEST if empty else {}))
        contexts.append(context)
    return contexts
