"""PaprikaPlatform.parse: the guide's example, field mapping, masking and extra blocks."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from notigate_platform_paprika._platform import PaprikaPlatform


async def test_guide_example_normalizes_as_the_guide_says(platform: PaprikaPlatform, guide_request: Any) -> None:
    """The guide's example is card_declined, IDR 150000, at 03:15:29Z, for INV-20240801-0001."""
    [event] = await platform.parse(guide_request)
    assert event.platform == "paprika"
    assert event.code == "card_declined"
    assert event.severity is None and event.resolved_severity() == "warning"
    assert event.amount == Decimal(150000) and isinstance(event.amount, Decimal)
    assert event.currency == "IDR"
    assert event.occurred_at == datetime(2024, 8, 1, 3, 15, 29, tzinfo=UTC)
    assert event.occurred_at.utcoffset() is not None and event.occurred_at.utcoffset().total_seconds() == 0
    assert event.reference == "INV-20240801-0001"
    assert event.merchant_id == "MCH-PAP-0001"
    assert event.message == "Card declined by issuer"
    assert event.platform_code == "FAILED/CC_DECLINED/05"
    assert event.key == "7d3f2a10-95c4-4e0b-a1de-3c2b9f8e6d21"


async def test_guide_example_metadata_is_masked_and_complete(platform: PaprikaPlatform, guide_request: Any) -> None:
    """Metadata keeps every unmapped block and field, with the customer's email and phone masked."""
    [event] = await platform.parse(guide_request)
    assert event.metadata == {
        "service": {"id": "CREDIT_CARD"},
        "acquirer": {"id": "BNI"},
        "channel": {"id": "CREDIT_CARD"},
        "transaction": {"original_request_id": "0b0f6d1c-3c52-4a8e-9d2f-6a1e5f7b9c11"},
        "card_payment": {
            "masked_card_number": "411111******1111",
            "response_code": "05",
            "response_message": "DO NOT HONOR",
        },
        "customer": {"email": "s***@example.co.id", "phone": "+62*******5432"},
        "request_id": "7d3f2a10-95c4-4e0b-a1de-3c2b9f8e6d21",
    }
    encoded = msgspec.json.encode(event)
    for raw in (b"siti@example.co.id", b"+6281298765432", b"SK-PAP-EXAMPLE-SECRET", b"9R9bXXNcHbCDEQpff9"):
        assert raw not in encoded


async def test_full_card_numbers_are_masked(platform: PaprikaPlatform, signed: Any, body: Any) -> None:
    """A full card number anywhere in the body is stored as first six and last four digits at most."""
    data = body(
        card_payment={"card_number": "4111111111111111", "note": "paid with 4111 1111 1111 1111"},
        customer={"email": "siti@example.co.id", "name": "Siti Rahayu", "phone": "+6281298765432"},
    )
    [event] = await platform.parse(signed(data))
    assert event.metadata["card_payment"] == {"card_number": "411111******1111", "note": "paid with 411111******1111"}
    assert event.metadata["customer"] == {"email": "s***@example.co.id", "name": "S***", "phone": "+62*******5432"}
    assert b"4111111111111111" not in msgspec.json.encode(event)


@pytest.mark.parametrize("amount", [0, 1, 150000, 10**18 - 1])
async def test_integer_amount_becomes_an_exact_decimal(
    platform: PaprikaPlatform, signed: Any, body: Any, amount: int
) -> None:
    """order.amount in whole units becomes the same Decimal, never a float."""
    data = body(order={"invoice_number": "INV-1", "amount": amount, "currency": "IDR"})
    [event] = await platform.parse(signed(data))
    assert event.amount == Decimal(amount) and type(event.amount) is Decimal
    assert str(event.amount) == str(amount)


async def test_unknown_service_blocks_are_accepted_and_kept(platform: PaprikaPlatform, signed: Any, body: Any) -> None:
    """virtual_account_info, emoney_payment or any other block is accepted and kept in metadata, masked."""
    data = body(
        service={"id": "VIRTUAL_ACCOUNT"},
        channel={"id": "VIRTUAL_ACCOUNT_BNI"},
        card_payment=None,
        acquirer=None,
        virtual_account_info={"virtual_account_number": "8808123456789012", "how_to_pay_page": "https://x.test"},
        emoney_payment={"account_email": "siti@example.co.id", "approval_code": ["A1", 2, None]},
        transaction={"status": "EXPIRED", "date": "2024-08-01T03:15:29Z"},
        error={"code": "VA_EXPIRED", "message": "Virtual account expired"},
    )
    [event] = await platform.parse(signed(data))
    assert event.code == "payment_expired"
    assert event.platform_code == "EXPIRED/VA_EXPIRED"
    assert event.metadata["virtual_account_info"]["how_to_pay_page"] == "https://x.test"
    assert event.metadata["emoney_payment"] == {"account_email": "s***@example.co.id", "approval_code": ["A1", 2, None]}
    assert "card_payment" not in event.metadata and "acquirer" not in event.metadata


async def test_optional_blocks_may_be_absent(platform: PaprikaPlatform, signed: Any, body: Any) -> None:
    """A body with only order, transaction and error is enough."""
    data = body(service=None, acquirer=None, channel=None, card_payment=None, customer=None)
    [event] = await platform.parse(signed(data))
    assert event.code == "card_declined"
    assert event.platform_code == "FAILED/CC_DECLINED"
    assert set(event.metadata) == {"transaction", "request_id"}


async def test_null_optional_blocks_are_absent(platform: PaprikaPlatform, signed: Any, body: Any) -> None:
    """An optional block sent as null is treated as absent."""
    data = body()
    data["card_payment"] = None
    data["customer"] = None
    [event] = await platform.parse(signed(data))
    assert event.platform_code == "FAILED/CC_DECLINED"


async def test_unknown_fields_of_mapped_blocks_are_kept(platform: PaprikaPlatform, signed: Any, body: Any) -> None:
    """Fields of order, transaction and error that are not mapped stay in metadata under their block."""
    data = body(
        order={"invoice_number": "INV-1", "amount": 5, "currency": "USD", "line_items": [{"sku": "TEA-1"}]},
        transaction={"status": "FAILED", "date": "2024-08-01T03:15:29Z", "type": "SALE"},
        error={"code": "CC_DECLINED", "message": "Declined", "retryable": False},
    )
    [event] = await platform.parse(signed(data))
    assert event.metadata["order"] == {"line_items": [{"sku": "TEA-1"}]}
    assert event.metadata["transaction"] == {"type": "SALE"}
    assert event.metadata["error"] == {"retryable": False}
    assert (event.currency, event.amount) == ("USD", Decimal(5))


async def test_key_is_the_request_id(platform: PaprikaPlatform, signed: Any) -> None:
    """The idempotency key is Request-Id: a retry has the same key, another notification another key."""
    [first] = await platform.parse(signed())
    [retry] = await platform.parse(signed())
    [other] = await platform.parse(signed(request_id="2b9c1f4e-7a55-4d1e-8c3b-0f6e2d9a1b77"))
    assert first.key == retry.key == "7d3f2a10-95c4-4e0b-a1de-3c2b9f8e6d21"
    assert other.key == "2b9c1f4e-7a55-4d1e-8c3b-0f6e2d9a1b77"


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("2024-08-01T03:15:29Z", datetime(2024, 8, 1, 3, 15, 29, tzinfo=UTC)),
        ("2024-08-01T03:15:29.5Z", datetime(2024, 8, 1, 3, 15, 29, 500000, tzinfo=UTC)),
        ("2024-08-01T10:15:29+07:00", datetime(2024, 8, 1, 3, 15, 29, tzinfo=UTC)),
        ("2024-01-01T00:30:00+07:00", datetime(2023, 12, 31, 17, 30, tzinfo=UTC)),
    ],
)
async def test_transaction_date_becomes_aware_utc(
    platform: PaprikaPlatform, signed: Any, body: Any, date: str, expected: datetime
) -> None:
    """transaction.date is occurred_at in UTC; an explicit offset is converted."""
    data = body(transaction={"status": "FAILED", "date": date})
    [event] = await platform.parse(signed(data))
    assert event.occurred_at == expected and event.occurred_at.tzinfo is UTC


async def test_message_falls_back_to_the_status(platform: PaprikaPlatform, signed: Any, body: Any) -> None:
    """Without error.message (absent, null or empty) the message describes the status."""
    for error in (
        {"code": "CC_DECLINED"},
        {"code": "CC_DECLINED", "message": None},
        {"code": "CC_DECLINED", "message": ""},
    ):
        [event] = await platform.parse(signed(body(error=error)))
        assert event.message == "Payment failed"


async def test_parse_returns_exactly_one_event(platform: PaprikaPlatform, guide_request: Any) -> None:
    """Every PAPRIKA notification is one event."""
    assert len(await platform.parse(guide_request)) == 1
