"""ArindoPlatform.parse: the guide's example, field mapping, masking and extras."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from notigate_platform_arindo._platform import ArindoPlatform
from notigate_platform_arindo._signature import sign, verify

KEY = "SB-Mid-server-EXAMPLE"


def test_guide_example_signature_verifies_byte_for_byte(guide_example: bytes) -> None:
    """sign() reproduces the guide's signature_key from its example fields and key."""
    body = msgspec.json.decode(guide_example)
    assert sign(body["order_id"], body["status_code"], body["gross_amount"], KEY) == body["signature_key"]
    assert verify(body["order_id"], body["status_code"], body["gross_amount"], KEY, body["signature_key"])


def test_verify_rejects_non_ascii_signature_without_raising() -> None:
    """A non-ASCII signature_key is a mismatch, not a TypeError from compare_digest."""
    assert not verify("ORD-1001", "202", "150000.00", KEY, "é" * 128)


async def test_guide_example_normalizes_as_the_guide_says(
    platform: ArindoPlatform, request_for: Any, guide_example: bytes
) -> None:
    """The guide's example is card_declined, 150000.00 IDR, at 2024-08-01T03:15:30Z, for ORD-1001."""
    [event] = await platform.parse(request_for(guide_example))
    assert event.platform == "arindo"
    assert event.code == "card_declined"
    assert event.severity is None and event.resolved_severity() == "warning"
    assert event.amount == Decimal("150000.00") and str(event.amount) == "150000.00"
    assert event.currency == "IDR"
    assert event.occurred_at == datetime(2024, 8, 1, 3, 15, 30, tzinfo=UTC)
    assert event.occurred_at.utcoffset() is not None and event.occurred_at.utcoffset().total_seconds() == 0
    assert event.reference == "ORD-1001"
    assert event.merchant_id == "M-ARD-000123"
    assert event.message == "ARINDO payment notification"
    assert event.platform_code == "deny/202/05"
    assert event.key == "5f1c9a4e-2b7d-4c1e-9f3a-8d6e2b1a7c90:deny"


async def test_guide_example_metadata_is_masked_and_unsigned(
    platform: ArindoPlatform, request_for: Any, guide_example: bytes
) -> None:
    """Personal data is masked, signature_key and mapped fields are left out of metadata."""
    [event] = await platform.parse(request_for(guide_example))
    encoded = msgspec.json.encode(event)
    for raw in (
        b"budi@example.co.id",
        b"+6281234567890",
        b"Budi",
        b"signature_key",
        KEY.encode(),
        b"29892ff8a62fdeef",
    ):
        assert raw not in encoded
    assert event.metadata["customer_details"] == {
        "email": "b***@example.co.id",
        "phone": "+62*******7890",
        "first_name": "B***",
    }
    assert set(event.metadata) == {
        "transaction_id",
        "status_message",
        "payment_type",
        "fraud_status",
        "masked_card",
        "customer_details",
        "channel_response_code",
        "channel_response_message",
    }
    assert event.metadata["masked_card"] == "481111-1114"
    assert event.metadata["transaction_id"] == "5f1c9a4e-2b7d-4c1e-9f3a-8d6e2b1a7c90"


async def test_unknown_extra_fields_are_kept_masked(platform: ArindoPlatform, request_for: Any, signed: Any) -> None:
    """Unknown fields are accepted and kept in metadata, masked like the rest."""
    body = signed(
        acquirer="BNI",
        card_number="4811111111111114",
        notes="ask budi@example.co.id",
        installments={"term": 3, "bank": "BNI"},
    )
    [event] = await platform.parse(request_for(body))
    assert event.metadata["acquirer"] == "BNI"
    assert event.metadata["card_number"] == "481111******1114"
    assert event.metadata["notes"] == "ask b***@example.co.id"
    assert event.metadata["installments"] == {"term": 3, "bank": "BNI"}
    assert b"4811111111111114" not in msgspec.json.encode(event)


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON;charset=UTF-8", "application/json"]
)
async def test_json_content_type_with_parameters_is_accepted(
    platform: ArindoPlatform, request_for: Any, guide_example: bytes, content_type: str
) -> None:
    """application/json is accepted in any case and with parameters such as charset."""
    [event] = await platform.parse(request_for(guide_example, content_type))
    assert event.code == "card_declined"


async def test_absent_currency_means_idr(platform: ArindoPlatform, request_for: Any, signed: Any) -> None:
    """A body without currency is in IDR, as the guide says."""
    [event] = await platform.parse(request_for(signed(currency=None)))
    assert event.currency == "IDR"


async def test_null_currency_means_idr(platform: ArindoPlatform, request_for: Any, signed: Any) -> None:
    """A currency of null is treated as absent: IDR."""
    body = signed()
    body["currency"] = None
    [event] = await platform.parse(request_for(body))
    assert event.currency == "IDR"


async def test_other_currency_is_kept(platform: ArindoPlatform, request_for: Any, signed: Any) -> None:
    """An explicit ISO 4217 currency is passed through unchanged."""
    [event] = await platform.parse(request_for(signed(currency="USD", gross_amount="10.50")))
    assert (event.currency, event.amount) == ("USD", Decimal("10.50"))


async def test_jakarta_time_crossing_midnight_becomes_previous_utc_day(
    platform: ArindoPlatform, request_for: Any, signed: Any
) -> None:
    """transaction_time is Asia/Jakarta (UTC+7): 00:30 local is 17:30 UTC the day before."""
    [event] = await platform.parse(request_for(signed(transaction_time="2024-01-01 00:30:00")))
    assert event.occurred_at == datetime(2023, 12, 31, 17, 30, tzinfo=UTC)


async def test_key_is_transaction_id_and_status(platform: ArindoPlatform, request_for: Any, signed: Any) -> None:
    """The idempotency key is the guide's pair: same pair same key, new status new key."""
    [first] = await platform.parse(request_for(signed()))
    [again] = await platform.parse(request_for(signed()))
    [settled] = await platform.parse(request_for(signed(transaction_status="settlement", status_code="200")))
    assert first.key == again.key == "5f1c9a4e-2b7d-4c1e-9f3a-8d6e2b1a7c90:deny"
    assert settled.key == "5f1c9a4e-2b7d-4c1e-9f3a-8d6e2b1a7c90:settlement"


async def test_platform_code_without_channel_code(platform: ArindoPlatform, request_for: Any, signed: Any) -> None:
    """platform_code is status/code, with /channel code only when there is one."""
    body = signed(
        transaction_status="settlement",
        status_code="200",
        channel_response_code=None,
        channel_response_message=None,
    )
    [event] = await platform.parse(request_for(body))
    assert event.platform_code == "settlement/200"


async def test_message_falls_back_to_channel_message_then_status(
    platform: ArindoPlatform, request_for: Any, signed: Any
) -> None:
    """Without status_message the message is channel_response_message, else transaction_status."""
    [channel] = await platform.parse(request_for(signed(status_message=None)))
    [status] = await platform.parse(request_for(signed(status_message=None, channel_response_message=None)))
    assert channel.message == "Do not honour"
    assert status.message == "deny"


async def test_order_id_of_64_characters_is_accepted(platform: ArindoPlatform, request_for: Any, signed: Any) -> None:
    """order_id may be up to 64 characters long."""
    [event] = await platform.parse(request_for(signed(order_id="O" * 64)))
    assert event.reference == "O" * 64


async def test_parse_returns_exactly_one_event(
    platform: ArindoPlatform, request_for: Any, guide_example: bytes
) -> None:
    """Every ARINDO notification is one event."""
    assert len(await platform.parse(request_for(guide_example))) == 1
