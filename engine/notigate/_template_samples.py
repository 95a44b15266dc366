"""Sample contexts ``Templates.check()`` renders every template with, at start.

Two of each purpose: one with every optional field set, one with them all empty, so a
template that forgets ``{% if event.amount is not none %}`` fails at start too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from notigate.events import Digest, Notification

_AT = datetime(2024, 8, 1, 3, 15, 30, tzinfo=UTC)


def _notification(full: bool) -> Notification:
    return Notification(
        id="ntf_01J4SAMPLE0000000000000000",
        platform="arindo",
        code="card_declined",
        severity="warning",
        message="Card declined by the issuer" if full else "",
        platform_code="202",
        occurred_at=_AT,
        received_at=_AT + timedelta(seconds=2),
        amount=Decimal("150000.00") if full else None,
        currency="IDR" if full else None,
        reference="INV-2026-0001" if full else None,
        merchant_id="M-31835" if full else None,
        metadata={"payment_type": "credit_card"} if full else {},
    )


def _digest(full: bool) -> Digest:
    return Digest(
        rule="errors to ops, folded",
        group={"platform": "arindo", "code": "card_declined"} if full else {},
        count=200 if full else 1,
        first_at=_AT,
        last_at=_AT + timedelta(seconds=58),
        references=["INV-2026-0001", "INV-2026-0002"] if full else [],
        totals={"IDR": Decimal("30000000.00"), "USD": Decimal("12.50")} if full else {},
        notification_ids=["ntf_01J4SAMPLE0000000000000000"],
    )


def samples(purpose: str) -> list[dict[str, Any]]:
    """The contexts the engine passes for ``purpose`` (``event`` or ``digest``)."""
    base = [{"event": _notification(full), "rule": "fraud to the risk team", "recipient": "ops@example.com"}
            for full in (True, False)]
    if purpose == "digest":
        return [{**context, "digest": _digest(full)} for context, full in zip(base, (True, False), strict=True)]
    return base
