"""The guide's status and error_code tables, row by row, through signed notifications."""

from __future__ import annotations

from typing import Any

import pytest

from notigate import TAXONOMY
from notigate_platform_assasta._codes import ERRORS, STATUSES, examples, normalize
from notigate_platform_assasta._platform import AssastaPlatform

# Copied from the guide: payment_status_code → normalized code (3 is refined below).
STATUS_TABLE = [
    ("0", "payment_pending"),
    ("1", "payment_pending"),
    ("2", "payment_succeeded"),
    ("4", "payment_reversed"),
    ("5", "invalid_request"),
    ("7", "payment_expired"),
    ("8", "payment_cancelled"),
    ("9", "unknown_error"),
]
# Copied from the guide: status 3 with this error_code → normalized code.
ERROR_TABLE = [
    ("E005", "card_declined"),
    ("E051", "insufficient_funds"),
    ("E054", "expired_card"),
    ("E059", "fraud_suspected"),
    ("E068", "timeout"),
    ("E091", "provider_unavailable"),
    ("E094", "duplicate_transaction"),
    ("E030", "invalid_request"),
    ("E096", "provider_error"),
    ("E999", "unknown_error"),  # other
    ("", "unknown_error"),  # empty
    (None, "unknown_error"),  # missing
]


@pytest.mark.parametrize("status, expected", STATUS_TABLE)
async def test_each_status_row_normalizes_as_the_guide_says(
    platform: AssastaPlatform, request_for: Any, document: Any, status: str, expected: str
) -> None:
    """A signed notification with this payment_status_code (no error_code) gets this row's code."""
    [event] = await platform.parse(request_for(document(payment_status_code=status, error_code=None, error_desc=None)))
    assert (event.code, event.platform_code) == (expected, status)


@pytest.mark.parametrize("error_code, expected", ERROR_TABLE)
async def test_each_error_row_normalizes_as_the_guide_says(
    platform: AssastaPlatform, request_for: Any, document: Any, error_code: str | None, expected: str
) -> None:
    """A failed (3) notification with this error_code gets this row's code."""
    [event] = await platform.parse(request_for(document(payment_status_code="3", error_code=error_code)))
    assert event.code == expected
    assert event.platform_code == (f"3/{error_code}" if error_code else "3")


@pytest.mark.parametrize("error_code", ["e051", " E051 ", "e051\n"])
def test_error_codes_match_regardless_of_case_and_spaces(error_code: str) -> None:
    """e051 is E051: error codes are matched case-insensitively and trimmed."""
    assert normalize("3", error_code) == "insufficient_funds"


@pytest.mark.parametrize("status", ["2", "7", "0"])
async def test_error_code_only_refines_failures(
    platform: AssastaPlatform, request_for: Any, document: Any, status: str
) -> None:
    """An error_code beside a status other than 3 does not change the code, but is kept in platform_code."""
    [event] = await platform.parse(request_for(document(payment_status_code=status, error_code="E051")))
    assert event.code == dict(STATUS_TABLE)[status]
    assert event.platform_code == f"{status}/E051"


@pytest.mark.parametrize("status", ["6", "10", "03"])
async def test_unlisted_status_is_unknown_error(
    platform: AssastaPlatform, request_for: Any, document: Any, status: str
) -> None:
    """A correctly signed notification with a status the guide does not list still arrives, as unknown_error."""
    [event] = await platform.parse(request_for(document(payment_status_code=status)))
    assert event.code == "unknown_error"


def test_tables_hold_the_guide_rows_and_no_other() -> None:
    """The data tables hold the guide's 9 statuses and 9 error codes."""
    assert set(STATUSES) == {s for s, _ in STATUS_TABLE} | {"3"}
    assert {e: c for e, (_, c) in ERRORS.items()} == {e: c for e, c in ERROR_TABLE if e and e != "E999"}


def test_every_table_code_is_in_the_taxonomy() -> None:
    """No row produces a code the engine does not know."""
    assert {c for _, c in STATUSES.values()} | {c for _, c in ERRORS.values()} <= set(TAXONOMY)


def test_examples_cover_every_code_the_tables_produce() -> None:
    """Each example normalizes to its code, and every producible code has one."""
    producible = {c for _, c in STATUS_TABLE} | {c for _, c in ERROR_TABLE}
    assert set(examples()) == producible
    for code, example in examples().items():
        assert normalize(example.payment_status_code, example.error_code) == code


@pytest.mark.parametrize(
    ("native", "expected"),
    [
        *ERROR_TABLE[:9],
        ("e005", "card_declined"),
        (" E096 ", "provider_error"),
        ("3/E051", "insufficient_funds"),
        ("3/e059", "fraud_suspected"),
        ("2", "payment_succeeded"),
        ("7", "payment_expired"),
        ("9", "unknown_error"),
        ("E999", None),
        ("3", None),
        ("3/E999", None),
        ("2/E051", None),
        ("6", None),
        ("", None),
        ("CC_DECLINED", None),
        ("3/E051/x", None),
    ],
)
def test_native_codes_map_for_the_error_api(platform: AssastaPlatform, native: str, expected: str | None) -> None:
    """map_code knows the error_code table (and the stored status forms); anything else is None."""
    assert platform.map_code(native) == expected
