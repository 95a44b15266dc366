"""ArindoPlatform.parse on bad input: only 415, 401 or 400, each naming what is wrong."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from notigate import (
    CallbackResult,
    PlatformInputError,
    SignatureError,
    UnsupportedMediaType,
)
from notigate_platform_arindo._config import ArindoConfig
from notigate_platform_arindo._platform import ArindoPlatform


async def test_tampered_amount_is_rejected(platform: ArindoPlatform, request_for: Any, signed: Any) -> None:
    """Changing gross_amount after signing breaks the signature: 401."""
    body = signed()
    body["gross_amount"] = "1.00"
    with pytest.raises(SignatureError, match="signature_key does not match") as info:
        await platform.parse(request_for(body))
    assert info.value.status_code == 401


@pytest.mark.parametrize("field", ["order_id", "status_code"])
async def test_tampered_signed_field_is_rejected(
    platform: ArindoPlatform, request_for: Any, signed: Any, field: str
) -> None:
    """order_id and status_code are signed too: changing either is a 401."""
    body = signed()
    body[field] = body[field] + "1"
    with pytest.raises(SignatureError):
        await platform.parse(request_for(body))


async def test_wrong_server_key_is_rejected(request_for: Any, guide_example: bytes) -> None:
    """A platform configured with another key rejects the guide's example: 401."""
    other = ArindoPlatform(ArindoConfig(server_key="SB-Mid-server-OTHER"))
    with pytest.raises(SignatureError, match="does not match"):
        await other.parse(request_for(guide_example))


async def test_uppercase_signature_is_rejected(platform: ArindoPlatform, request_for: Any, signed: Any) -> None:
    """The signature is compared exactly as the guide defines it (lower-case hex)."""
    body = signed()
    body["signature_key"] = body["signature_key"].upper()
    with pytest.raises(SignatureError):
        await platform.parse(request_for(body))


@pytest.mark.parametrize("value", [None, "", 12345, ["x"]])
async def test_missing_signature_is_rejected(
    platform: ArindoPlatform, request_for: Any, signed: Any, value: Any
) -> None:
    """A body without a usable signature_key is never trusted: 401."""
    body = signed()
    if value is None:
        del body["signature_key"]
    else:
        body["signature_key"] = value
    with pytest.raises(SignatureError, match="signature_key"):
        await platform.parse(request_for(body))


async def test_forged_body_with_missing_fields_is_401_not_400(
    platform: ArindoPlatform, request_for: Any, signed: Any
) -> None:
    """A bad signature wins over missing unsigned fields: forgeries learn nothing field by field."""
    body = signed(merchant_id=None, transaction_time=None)
    body["signature_key"] = "0" * 128
    with pytest.raises(SignatureError):
        await platform.parse(request_for(body))


@pytest.mark.parametrize("code", ["\uff12\uff10\uff12", "\u0662\u0660\u0662", "20\u00b2", "202 ", "", "-202", "2o2"])
async def test_status_code_must_be_ascii_digits(
    platform: ArindoPlatform, request_for: Any, signed: Any, code: str
) -> None:
    """A signed status_code that is not ASCII digits (full-width "２０２", Arabic-Indic "٢٠٢") is a 400 naming it,
    which ARINDO retries, instead of an unknown_error notification."""
    request = request_for(signed(status_code=code))
    with pytest.raises(PlatformInputError, match="status_code must be a string of ASCII digits") as info:
        await platform.parse(request)
    assert type(info.value) is PlatformInputError
    answer = platform.answer(CallbackResult(status_code=info.value.status_code, detail=info.value.detail), request)
    assert answer.status_code == 400 and "status_code" in msgspec.json.decode(answer.body)["detail"]


async def test_missing_fields_are_all_named(platform: ArindoPlatform, request_for: Any, signed: Any) -> None:
    """Every missing required field is named in one 400."""
    body = signed(transaction_id=None, merchant_id=None, transaction_status=None, transaction_time=None)
    with pytest.raises(PlatformInputError) as info:
        await platform.parse(request_for(body))
    assert type(info.value) is PlatformInputError and info.value.status_code == 400
    for field in ("transaction_id", "merchant_id", "transaction_status", "transaction_time"):
        assert f"{field} is missing" in info.value.detail


async def test_missing_signed_field_is_named(platform: ArindoPlatform, request_for: Any, signed: Any) -> None:
    """Without order_id the signature cannot be checked: a 400 naming order_id."""
    body = signed()
    del body["order_id"]
    with pytest.raises(PlatformInputError, match="order_id is missing") as info:
        await platform.parse(request_for(body))
    assert type(info.value) is PlatformInputError


@pytest.mark.parametrize(
    "field, value",
    [
        ("transaction_id", 5),
        ("merchant_id", None),
        ("transaction_status", ["deny"]),
        ("transaction_time", 1722482130),
        ("status_message", 7),
        ("fraud_status", True),
        ("channel_response_code", 51),
        ("currency", {"code": "IDR"}),
        ("masked_card", 4811111114),
    ],
)
async def test_non_string_field_is_named(
    platform: ArindoPlatform, request_for: Any, signed: Any, field: str, value: Any
) -> None:
    """A documented string field holding another type is a 400 naming it."""
    body = signed()
    body[field] = value
    with pytest.raises(PlatformInputError, match=f"{field} must be a string"):
        await platform.parse(request_for(body))


@pytest.mark.parametrize("value", ["budi@example.co.id", ["budi"], 42])
async def test_customer_details_must_be_an_object(
    platform: ArindoPlatform, request_for: Any, signed: Any, value: Any
) -> None:
    """customer_details, when present, must be a JSON object."""
    with pytest.raises(PlatformInputError, match="customer_details must be an object"):
        await platform.parse(request_for(signed(customer_details=value)))


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b'{"transaction_id": ',
        b"[]",
        b'[{"order_id": "ORD-1001"}]',
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
    ],
)
async def test_body_that_is_not_a_json_object_is_400(platform: ArindoPlatform, request_for: Any, raw: bytes) -> None:
    """Invalid JSON, non-objects, bad UTF-8, deep nesting and huge numbers are a plain 400."""
    with pytest.raises(PlatformInputError, match="body is not a valid JSON object") as info:
        await platform.parse(request_for(raw))
    assert type(info.value) is PlatformInputError


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/jsonp", "application/problem+json"],
)
async def test_wrong_content_type_is_415_naming_it(
    platform: ArindoPlatform, request_for: Any, guide_example: bytes, content_type: str
) -> None:
    """Anything but application/json is a 415 naming the received type."""
    with pytest.raises(UnsupportedMediaType) as info:
        await platform.parse(request_for(guide_example, content_type))
    assert info.value.status_code == 415
    assert content_type in info.value.detail and "application/json" in info.value.detail


async def test_missing_content_type_is_415(platform: ArindoPlatform, request_for: Any, guide_example: bytes) -> None:
    """A request without Content-Type is a 415 that says none was sent."""
    with pytest.raises(UnsupportedMediaType, match="none"):
        await platform.parse(request_for(guide_example, None))


@pytest.mark.parametrize(
    "amount",
    [
        "150000",
        "150000.0",
        "150000.000",
        "1,500.00",
        "-1.00",
        "+1.00",
        "1e5",
        " 1.00",
        "1.00 ",
        "\u0661\u0665\u0660.\u0660\u0660",
        "",
        "1" * 19 + ".00",
        "NaN",
    ],
)
async def test_bad_gross_amount_is_named(platform: ArindoPlatform, request_for: Any, signed: Any, amount: str) -> None:
    """gross_amount must have exactly two decimals (correctly signed or not): 400 naming it."""
    with pytest.raises(PlatformInputError, match="gross_amount") as info:
        await platform.parse(request_for(signed(gross_amount=amount)))
    assert type(info.value) is PlatformInputError


@pytest.mark.parametrize(
    "time",
    [
        "2024-08-01T10:15:30",
        "2024-08-01 10:15",
        "2024-08-01 10:15:30+07:00",
        "2024-02-30 10:00:00",
        "2024-08-01 24:00:00",
        "0001-01-01 00:00:00",
        "01-08-2024 10:15:30",
        "2024-8-1 10:15:30",
        "",
        "now",
    ],
)
async def test_bad_transaction_time_is_named(
    platform: ArindoPlatform, request_for: Any, signed: Any, time: str
) -> None:
    """transaction_time must be a real YYYY-MM-DD HH:MM:SS: 400 naming it."""
    with pytest.raises(PlatformInputError, match="transaction_time") as info:
        await platform.parse(request_for(signed(transaction_time=time)))
    assert type(info.value) is PlatformInputError


async def test_order_id_longer_than_64_is_named(platform: ArindoPlatform, request_for: Any, signed: Any) -> None:
    """order_id over 64 characters is a 400 naming it."""
    with pytest.raises(PlatformInputError, match="order_id"):
        await platform.parse(request_for(signed(order_id="O" * 65)))


@pytest.mark.parametrize("currency", ["idr", "RUPIAH", "", "ID"])
async def test_bad_currency_is_named(platform: ArindoPlatform, request_for: Any, signed: Any, currency: str) -> None:
    """currency, when present, must be a three-letter ISO 4217 code."""
    with pytest.raises(PlatformInputError, match="currency"):
        await platform.parse(request_for(signed(currency=currency)))


async def test_empty_transaction_id_is_named(platform: ArindoPlatform, request_for: Any, signed: Any) -> None:
    """An empty transaction_id would merge unrelated notifications under one key: 400."""
    with pytest.raises(PlatformInputError, match="transaction_id"):
        await platform.parse(request_for(signed(transaction_id="")))


async def test_several_format_problems_are_named_together(
    platform: ArindoPlatform, request_for: Any, signed: Any
) -> None:
    """One 400 names every malformed field, not just the first."""
    body = signed(gross_amount="1.5", transaction_time="yesterday", order_id="O" * 65)
    with pytest.raises(PlatformInputError) as info:
        await platform.parse(request_for(body))
    for field in ("gross_amount", "transaction_time", "order_id"):
        assert field in info.value.detail


@pytest.mark.parametrize(
    "changes",
    [
        {"customer_details": {"email": 1, "phone": None, "first_name": ["B"]}},
        {"extra": {"deep": [[[[{"x": 1.5e300}]]]]}},
        {"huge": 2**63 + 1, "negative": -(2**63)},
        {"status_message": "", "channel_response_message": ""},
        {"transaction_status": "", "status_code": ""},
        {"channel_response_code": ""},
        {"transaction_id": "a:b", "transaction_status": "weird:status"},
        {"status_message": "\u0000\u202e\U0001f600"},
    ],
)
async def test_odd_but_well_typed_bodies_never_raise_foreign_errors(
    platform: ArindoPlatform, request_for: Any, signed: Any, changes: dict[str, Any]
) -> None:
    """Odd values either parse or raise PlatformInputError, never another exception."""
    body = signed(**changes)
    try:
        events = await platform.parse(request_for(body))
    except PlatformInputError:
        return
    msgspec.json.encode(events)  # and what parses can be stored
