"""The guide's status and code table, as data, and the lookup that applies it.

Rows are tried in the guide's order and the first match wins: that is what makes
"``deny`` with ``fraud_status`` = ``deny``" beat the channel-code rows, and the last
``deny`` row catch "any other or none". Anything no row matches is ``unknown_error``.
"""

from __future__ import annotations

from typing import NamedTuple

FALLBACK_CODE = "unknown_error"


class Status(NamedTuple):
    """The four body fields the table looks at."""

    transaction_status: str
    status_code: str
    fraud_status: str | None = None
    channel_response_code: str | None = None


class Row(NamedTuple):
    """One row of the table; a condition left as None matches any value, absent included."""

    transaction_status: str
    status_codes: tuple[str, ...]
    code: str
    fraud_status: str | None = None
    channel_codes: tuple[str, ...] | None = None

    def matches(self, status: Status) -> bool:
        return (
            status.transaction_status == self.transaction_status
            and status.status_code in self.status_codes
            and (self.fraud_status is None or status.fraud_status == self.fraud_status)
            and (self.channel_codes is None or status.channel_response_code in self.channel_codes)
        )

    def example(self) -> Status:
        """A status this row matches (and no earlier row does), for sample callbacks."""
        channel = self.channel_codes[0] if self.channel_codes else None
        return Status(self.transaction_status, self.status_codes[0], self.fraud_status, channel)


TABLE: tuple[Row, ...] = (
    Row("capture", ("200",), "payment_succeeded", fraud_status="accept"),
    Row("capture", ("201",), "fraud_review", fraud_status="challenge"),
    Row("settlement", ("200",), "payment_succeeded"),
    Row("pending", ("201",), "payment_pending"),
    Row("deny", ("202",), "fraud_suspected", fraud_status="deny"),
    Row("deny", ("202",), "insufficient_funds", channel_codes=("51",)),
    Row("deny", ("202",), "expired_card", channel_codes=("54",)),
    Row("deny", ("202",), "invalid_card", channel_codes=("14",)),
    Row("deny", ("202",), "authentication_failed", channel_codes=("55", "63")),
    Row("deny", ("202",), "card_declined"),
    Row("cancel", ("200", "202"), "payment_cancelled"),
    Row("expire", ("407",), "payment_expired"),
    Row("failure", ("406",), "duplicate_transaction"),
    Row("failure", ("400",), "invalid_request"),
    Row("failure", ("500",), "provider_error"),
    Row("failure", ("502", "503"), "provider_unavailable"),
    Row("failure", ("504",), "timeout"),
    Row("refund_failed", ("412",), "refund_failed"),
)

# ``refund`` is a status the guide lists but the table does not map: a real example.
FALLBACK_EXAMPLE = Status("refund", "200")


def normalize(
    transaction_status: str, status_code: str, fraud_status: str | None, channel_response_code: str | None
) -> str:
    """The taxonomy code of a notification, per the guide's table."""
    status = Status(transaction_status, status_code, fraud_status, channel_response_code)
    return next((row.code for row in TABLE if row.matches(status)), FALLBACK_CODE)


def examples() -> dict[str, Status]:
    """One status per code the table can produce (first matching row), fallback last."""
    out: dict[str, Status] = {}
    for row in TABLE:
        out.setdefault(row.code, row.example())
    out[FALLBACK_CODE] = FALLBACK_EXAMPLE
    return out


def map_platform_code(code: str) -> str | None:
    """``deny/202/51`` → ``insufficient_funds``; None when no row of the table matches."""
    parts = code.strip().lower().split("/")
    if len(parts) not in (2, 3):
        return None
    status = Status(parts[0], parts[1], None, parts[2] if len(parts) == 3 else None)
    return next((row.code for row in TABLE if row.fraud_status is None and row.matches(status)), None)
