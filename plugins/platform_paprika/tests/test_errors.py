"""PaprikaPlatform.parse on authentic but unusable bodies: a 400 naming every problem."""

from __future__ import annotations

from typing import Any

import pytest

from notigate import PlatformInputError
from notigate_platform_paprika._platform import PaprikaPlatform


async def _problem(platform: PaprikaPlatform, request: Any) -> str:
    with pytest.raises(PlatformInputError) as info:
        await platform.parse(request)
    assert type(info.value) is PlatformInputError and info.value.status_code == 400
    return info.value.detail


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b'{"order": ',
        b"[]",
        b'[{"order": {}}]',
        b'"text"',
        b"42",
        b"null",
        b"\xff\xfe{}",
        b'{"a": "\xed\xa0\x80"}',
        b"\xef\xbb\xbf{}",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a": 1' + b"0" * 5000 + b"}",
        b'{"a": 1e999}',
        b'{"a": NaN}',
        b'{"a": 1}{"b": 2}',
    ],
)
async def test_body_that_is_not_a_json_object_is_400(platform: PaprikaPlatform, signed: Any, raw: bytes) -> None:
    """Correctly signed invalid JSON, non-objects, bad UTF-8, deep nesting and huge numbers are a plain 400."""
    assert await _problem(platform, signed(raw)) == "body is not a valid JSON object"


async def test_deeply_nested_block_is_400(platform: PaprikaPlatform, signed: Any, body: Any) -> None:
    """An extra block nested deeper than 32 levels is refused before anything recurses over it."""
    nested: Any = "x"
    for _ in range(900):
        nested = [nested]
    assert "nested deeper than 32 levels" in await _problem(platform, signed(body(extra=nested)))


async def test_nesting_up_to_the_limit_is_accepted(platform: PaprikaPlatform, signed: Any, body: Any) -> None:
    """A block nested to exactly 32 levels (the body being the first) is accepted."""
    nested: Any = {}
    for _ in range(30):
        nested = {"n": nested}
    [event] = await platform.parse(signed(body(extra=nested)))
    assert "extra" in event.metadata


@pytest.mark.parametrize(
    "amount", [150000.0, 1.5, "150000", "150000.00", True, False, -1, 10**18, 10**40, None, [150000], {"value": 150000}]
)
async def test_amount_must_be_a_non_negative_integer(
    platform: PaprikaPlatform, signed: Any, body: Any, amount: Any
) -> None:
    """order.amount that is not an integer in whole units (float, string, bool, negative, huge) is named."""
    data = body(order={"invoice_number": "INV-1", "amount": amount, "currency": "IDR"})
    assert "order.amount must be a non-negative integer" in await _problem(platform, signed(data))


async def test_missing_amount_is_named(platform: PaprikaPlatform, signed: Any, body: Any) -> None:
    """An order without amount is a 400 naming order.amount."""
    data = body(order={"invoice_number": "INV-1", "currency": "IDR"})
    assert "order.amount" in await _problem(platform, signed(data))


@pytest.mark.parametrize("digits", ["\uff11\uff15\uff10\uff10\uff10\uff10", "\u0661\u0665\u0660\u0660\u0660\u0660"])
async def test_only_ascii_digits_count_as_numbers(
    platform: PaprikaPlatform, signed: Any, body: Any, digits: str
) -> None:
    """Full-width or Arabic-Indic digits (which Python's int() and \\d accept) are no amount and no date: 400."""
    data = body(
        order={"invoice_number": "INV-1", "amount": digits, "currency": "IDR"},
        transaction={"status": "FAILED", "date": f"{digits[:4]}-08-01T03:15:29Z"},
    )
    problem = await _problem(platform, signed(data))
    assert "order.amount must be a non-negative integer" in problem
    assert "transaction.date must be an ISO 8601 UTC date and time" in problem


@pytest.mark.parametrize(
    ("currency", "words"),
    [
        ("idr", "must be a three-letter"),
        ("RUPIAH", "must be a three"),
        ("", "must be a three"),
        (360, "must be a string"),
        (None, "is missing"),
    ],
)
async def test_bad_currency_is_named(
    platform: PaprikaPlatform, signed: Any, body: Any, currency: Any, words: str
) -> None:
    """order.currency must be an upper-case ISO 4217 code."""
    data = body(order={"invoice_number": "INV-1", "amount": 1, "currency": currency})
    assert f"order.currency {words}" in await _problem(platform, signed(data))


@pytest.mark.parametrize("invoice", ["", None, 123, ["INV-1"], "I" * 129])
async def test_bad_invoice_number_is_named(platform: PaprikaPlatform, signed: Any, body: Any, invoice: Any) -> None:
    """order.invoice_number must be a non-empty string of at most 128 characters."""
    data = body(order={"invoice_number": invoice, "amount": 1, "currency": "IDR"})
    assert "order.invoice_number" in await _problem(platform, signed(data))


@pytest.mark.parametrize("status", ["success", "CANCELLED", "", None, 1, ["FAILED"]])
async def test_unknown_status_is_named(platform: PaprikaPlatform, signed: Any, body: Any, status: Any) -> None:
    """transaction.status must be one of the guide's six values, which the 400 lists."""
    data = body(transaction={"status": status, "date": "2024-08-01T03:15:29Z"})
    detail = await _problem(platform, signed(data))
    assert "transaction.status must be one of SUCCESS, PENDING, FAILED, EXPIRED, REFUNDED, REFUND_FAILED" in detail


@pytest.mark.parametrize(
    "date",
    [
        "2024-08-01 03:15:29",
        "2024-08-01T03:15:29",
        "2024-08-01",
        1722482129,
        None,
        "2024-02-30T00:00:00Z",
        "2024-08-01T24:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "2024-08-01T03:15:29+0700",
    ],
)
async def test_bad_transaction_date_is_named(platform: PaprikaPlatform, signed: Any, body: Any, date: Any) -> None:
    """transaction.date must be an ISO 8601 date and time with Z (or an offset) that exists in UTC."""
    data = body(transaction={"status": "FAILED", "date": date})
    assert "transaction.date must be an ISO 8601 UTC date and time" in await _problem(platform, signed(data))


@pytest.mark.parametrize("block", ["order", "transaction"])
@pytest.mark.parametrize("value", [None, "x", [], 1])
async def test_required_block_must_be_an_object(
    platform: PaprikaPlatform, signed: Any, body: Any, block: str, value: Any
) -> None:
    """order and transaction are required objects."""
    data = body()
    data[block] = value
    detail = await _problem(platform, signed(data))
    assert f"{block} is missing" in detail if value is None else f"{block} must be an object" in detail


@pytest.mark.parametrize("block", ["service", "acquirer", "channel", "card_payment", "customer", "error"])
async def test_documented_block_of_another_type_is_named(
    platform: PaprikaPlatform, signed: Any, body: Any, block: str
) -> None:
    """The guide's blocks, when present, must be objects."""
    assert f"{block} must be an object" in await _problem(platform, signed(body(**{block: "x"})))


@pytest.mark.parametrize(
    ("block", "value", "field"),
    [
        ("error", {"code": 5, "message": "m"}, "error.code"),
        ("error", {"code": "CC_DECLINED", "message": ["m"]}, "error.message"),
        ("card_payment", {"response_code": 5}, "card_payment.response_code"),
    ],
)
async def test_string_fields_of_another_type_are_named(
    platform: PaprikaPlatform, signed: Any, body: Any, block: str, value: Any, field: str
) -> None:
    """error.code, error.message and card_payment.response_code must be strings when present."""
    assert f"{field} must be a string" in await _problem(platform, signed(body(**{block: value})))


async def test_every_problem_is_named_at_once(platform: PaprikaPlatform, signed: Any, body: Any) -> None:
    """One 400 names all the problems, so one fix is visible in one retry."""
    data = body(
        order={"invoice_number": "", "amount": "1", "currency": "idr"},
        transaction={"status": "DONE", "date": "now"},
        customer="x",
    )
    detail = await _problem(platform, signed(data))
    for field in (
        "order.invoice_number",
        "order.amount",
        "order.currency",
        "transaction.status",
        "transaction.date",
        "customer",
    ):
        assert field in detail
