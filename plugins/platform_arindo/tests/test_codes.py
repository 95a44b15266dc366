"""The guide's status and code table, row by row, through signed notifications."""

from __future__ import annotations

from typing import Any

import pytest

from notigate import TAXONOMY
from notigate_platform_arindo._codes import FALLBACK_CODE, TABLE, normalize
from notigate_platform_arindo._platform import ArindoPlatform

# (transaction_status, status_code, extra fields, normalized code), copied from the guide.
GUIDE_TABLE = [
    ("capture", "200", {"fraud_status": "accept"}, "payment_succeeded"),
    ("capture", "201", {"fraud_status": "challenge"}, "fraud_review"),
    ("settlement", "200", {}, "payment_succeeded"),
    ("pending", "201", {}, "payment_pending"),
    ("deny", "202", {"fraud_status": "deny"}, "fraud_suspected"),
    ("deny", "202", {"channel_response_code": "51"}, "insufficient_funds"),
    ("deny", "202", {"channel_response_code": "54"}, "expired_card"),
    ("deny", "202", {"channel_response_code": "14"}, "invalid_card"),
    ("deny", "202", {"channel_response_code": "55"}, "authentication_failed"),
    ("deny", "202", {"channel_response_code": "63"}, "authentication_failed"),
    ("deny", "202", {"channel_response_code": "05"}, "card_declined"),
    ("deny", "202", {}, "card_declined"),
    ("cancel", "200", {}, "payment_cancelled"),
    ("cancel", "202", {}, "payment_cancelled"),
    ("expire", "407", {}, "payment_expired"),
    ("failure", "406", {}, "duplicate_transaction"),
    ("failure", "400", {}, "invalid_request"),
    ("failure", "500", {}, "provider_error"),
    ("failure", "502", {}, "provider_unavailable"),
    ("failure", "503", {}, "provider_unavailable"),
    ("failure", "504", {}, "timeout"),
    ("refund_failed", "412", {}, "refund_failed"),
    # "anything else"
    ("refund", "200", {}, "unknown_error"),
    ("capture", "200", {"fraud_status": "challenge"}, "unknown_error"),
    ("capture", "200", {}, "unknown_error"),
    ("settlement", "201", {}, "unknown_error"),
    ("failure", "999", {}, "unknown_error"),
    ("authorize", "200", {}, "unknown_error"),
    ("", "200", {}, "unknown_error"),
]
ROW_IDS = [f"{s}-{c}-{'-'.join(e.values()) or 'plain'}" for s, c, e, _ in GUIDE_TABLE]


@pytest.mark.parametrize("status, code, extra, expected", GUIDE_TABLE, ids=ROW_IDS)
async def test_each_table_row_normalizes_as_the_guide_says(
    platform: ArindoPlatform,
    request_for: Any,
    signed: Any,
    status: str,
    code: str,
    extra: dict[str, str],
    expected: str,
) -> None:
    """A signed notification with this row's fields gets this row's normalized code."""
    fields: dict[str, Any] = {
        "fraud_status": None,
        "channel_response_code": None,
        "channel_response_message": None,
        **extra,
    }
    body = signed(transaction_status=status, status_code=code, **fields)
    [event] = await platform.parse(request_for(body))
    assert event.code == expected
    assert event.code in TAXONOMY


def test_fraud_row_wins_over_channel_code() -> None:
    """deny with fraud_status=deny is fraud_suspected whatever the channel code (first row wins)."""
    assert normalize("deny", "202", "deny", "51") == "fraud_suspected"


def test_table_has_every_guide_row_and_no_other() -> None:
    """The data table holds the guide's 18 rows (the fallback is FALLBACK_CODE)."""
    assert len(TABLE) == 18
    assert FALLBACK_CODE == "unknown_error"
    table_codes = {row.code for row in TABLE} | {FALLBACK_CODE}
    assert table_codes == {expected for *_, expected in GUIDE_TABLE}


def test_every_table_code_is_in_the_taxonomy() -> None:
    """No row produces a code the engine does not know."""
    assert {row.code for row in TABLE} <= set(TAXONOMY)


@pytest.mark.parametrize(
    ("native", "expected"),
    [
        ("deny/202/51", "insufficient_funds"),
        ("deny/202", "card_declined"),
        ("failure/504", "timeout"),
        ("FAILURE/503", "provider_unavailable"),
        ("refund/200", None),
        ("CC_DECLINED", None),
        ("a/b/c/d", None),
    ],
)
def test_native_codes_map_for_the_error_api(native: str, expected: str | None) -> None:
    """ARINDO's platform_code form maps through the same table; anything else is None."""
    from notigate_platform_arindo._codes import map_platform_code

    assert map_platform_code(native) == expected
