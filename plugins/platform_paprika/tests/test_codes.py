"""The guide's status mappings and error code table, row by row, through signed notifications."""

from __future__ import annotations

from typing import Any

import pytest

from notigate import TAXONOMY
from notigate_platform_paprika._codes import ERROR_CODES, FALLBACK_CODE
from notigate_platform_paprika._platform import PaprikaPlatform

# Copied from the guide's error code table.
GUIDE_TABLE = {
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
GUIDE_STATUSES = {"SUCCESS": "payment_succeeded", "PENDING": "payment_pending", "REFUNDED": "payment_refunded"}
ERROR_STATUSES = ("FAILED", "EXPIRED", "REFUND_FAILED")


def _with(body: Any, status: str, error: dict[str, Any] | None) -> dict[str, Any]:
    data: dict[str, Any] = body(transaction={"status": status, "date": "2024-08-01T03:15:29Z"}, error=error)
    return data


@pytest.mark.parametrize("status", ERROR_STATUSES)
@pytest.mark.parametrize(("error_code", "expected"), GUIDE_TABLE.items())
async def test_each_error_code_normalizes_as_the_guide_says(
    platform: PaprikaPlatform, signed: Any, body: Any, status: str, error_code: str, expected: str
) -> None:
    """A signed notification with this error.code gets this row's normalized code, whatever the error status."""
    data = _with(body, status, {"code": error_code, "message": "m"})
    [event] = await platform.parse(signed(data))
    assert event.code == expected
    assert event.platform_code == f"{status}/{error_code}/05"


@pytest.mark.parametrize("error_code", ["CC_UNKNOWN", "", "DECLINED", "CC_DECLINED_X", "ERROR"])
async def test_any_other_error_code_is_unknown_error(
    platform: PaprikaPlatform, signed: Any, body: Any, error_code: str
) -> None:
    """An error.code off the table is unknown_error, kept in platform_code for support staff."""
    [event] = await platform.parse(signed(_with(body, "FAILED", {"code": error_code, "message": "m"})))
    assert event.code == "unknown_error"
    assert event.message == "m"


async def test_error_code_matches_in_any_case(platform: PaprikaPlatform, signed: Any, body: Any) -> None:
    """cc_declined in the body is CC_DECLINED, as for map_code."""
    [event] = await platform.parse(signed(_with(body, "FAILED", {"code": " cc_declined ", "message": "m"})))
    assert event.code == "card_declined"


@pytest.mark.parametrize(("status", "expected"), GUIDE_STATUSES.items())
async def test_each_status_without_error_normalizes_as_the_guide_says(
    platform: PaprikaPlatform, signed: Any, body: Any, status: str, expected: str
) -> None:
    """SUCCESS, PENDING and REFUNDED map on their own, with a message describing the status."""
    [event] = await platform.parse(signed(_with(body, status, None)))
    assert event.code == expected
    assert event.platform_code == status
    assert (
        event.message
        == {"SUCCESS": "Payment succeeded", "PENDING": "Payment pending", "REFUNDED": "Payment refunded"}[status]
    )


@pytest.mark.parametrize("status", GUIDE_STATUSES)
async def test_status_wins_over_a_stray_error_block(
    platform: PaprikaPlatform, signed: Any, body: Any, status: str
) -> None:
    """An error block on SUCCESS/PENDING/REFUNDED is not read (whatever it holds) and is kept in metadata."""
    error = {"code": 42, "message": ["odd"]}
    [event] = await platform.parse(signed(_with(body, status, error)))
    assert event.code == GUIDE_STATUSES[status]
    assert event.metadata["error"] == error


@pytest.mark.parametrize(
    ("status", "expected"),
    [("EXPIRED", "payment_expired"), ("REFUND_FAILED", "refund_failed"), ("FAILED", "unknown_error")],
)
@pytest.mark.parametrize("error", [None, {}, {"code": None, "message": None}])
async def test_error_status_without_error_code_uses_the_status(
    platform: PaprikaPlatform, signed: Any, body: Any, status: str, expected: str, error: Any
) -> None:
    """Off-guide: an error status without error.code is accepted, normalized from the status alone."""
    data = _with(body, status, error)
    if error is not None:
        data["error"] = error
    [event] = await platform.parse(signed(data))
    assert event.code == expected
    assert event.platform_code == status
    assert (
        event.message
        == {"EXPIRED": "Payment expired", "REFUND_FAILED": "Refund failed", "FAILED": "Payment failed"}[status]
    )


def test_table_is_the_guide_table() -> None:
    """The plugin's table holds exactly the guide's rows, every code in the taxonomy."""
    assert ERROR_CODES == GUIDE_TABLE
    assert set(ERROR_CODES.values()) <= set(TAXONOMY)
    assert FALLBACK_CODE == "unknown_error"


@pytest.mark.parametrize(
    ("native", "expected"),
    [
        *GUIDE_TABLE.items(),
        ("cc_declined", "card_declined"),
        (" Fraud_Review ", "fraud_review"),
        ("CC_UNKNOWN", None),
        ("", None),
        ("SUCCESS", None),
        ("FAILED/CC_DECLINED", None),
        ("card_declined", None),
    ],
)
def test_map_code_applies_the_error_table(platform: PaprikaPlatform, native: str, expected: str | None) -> None:
    """map_code maps the guide's error.code values in any case; anything else is None."""
    assert platform.map_code(native) == expected


async def test_long_error_code_is_kept_short_in_platform_code(
    platform: PaprikaPlatform, signed: Any, body: Any
) -> None:
    """An absurdly long error.code is unknown_error, its platform_code cut to the 128 characters stored."""
    [event] = await platform.parse(signed(_with(body, "FAILED", {"code": "X" * 500, "message": "m"})))
    assert event.code == "unknown_error"
    assert event.platform_code == ("FAILED/" + "X" * 500)[:128]
