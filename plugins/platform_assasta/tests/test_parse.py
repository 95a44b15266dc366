"""AssastaPlatform.parse: the guide's example, field mapping, encodings, masking and extras."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from notigate_platform_assasta._platform import AssastaPlatform
from notigate_platform_assasta._signature import md5_hex, sign, verify

# The guide's worked example.
GUIDE_MD5 = "95af643bca6e624a608c213353a0a742"
GUIDE_SIGNATURE = "9465d0395a615be8ede145c3a643fc506ba87838"


def test_guide_example_hashes_match_byte_for_byte(md5er: Any, signer: Any) -> None:
    """The guide's MD5 and signature come out of both the test's and the plugin's formula."""
    inputs = ("bot31835", "p@ssw0rd", "BILL0000001", "3")
    assert md5er(*inputs) == md5_hex(*inputs) == GUIDE_MD5
    assert signer(*inputs) == sign(*inputs) == GUIDE_SIGNATURE
    assert verify(*inputs, GUIDE_SIGNATURE)


def test_verify_rejects_non_ascii_signature_without_raising() -> None:
    """A non-ASCII signature is a mismatch, not a TypeError from compare_digest."""
    assert not verify("bot31835", "p@ssw0rd", "BILL0000001", "3", "é" * 40)


async def test_guide_example_normalizes_as_the_guide_says(
    platform: AssastaPlatform, request_for: Any, guide_example: bytes
) -> None:
    """The guide's example is insufficient_funds, IDR 150000.00, at 2024-08-01T03:15:30Z, for BILL0000001."""
    [event] = await platform.parse(request_for(guide_example))
    assert event.platform == "assasta"
    assert event.code == "insufficient_funds"
    assert event.severity is None and event.resolved_severity() == "warning"
    assert event.amount == Decimal("150000.00") and str(event.amount) == "150000.00"
    assert event.currency == "IDR"
    assert event.occurred_at == datetime(2024, 8, 1, 3, 15, 30, tzinfo=UTC)
    assert event.occurred_at.utcoffset() is not None and event.occurred_at.utcoffset().total_seconds() == 0
    assert event.reference == "BILL0000001"
    assert event.merchant_id == "31835"
    assert event.message == "Insufficient funds"
    assert event.platform_code == "3/E051"
    assert event.key == "3183540500001172:3"


async def test_guide_example_metadata_holds_the_remaining_elements(
    platform: AssastaPlatform, request_for: Any, guide_example: bytes
) -> None:
    """Metadata keeps every element not mapped to the event, and never the signature."""
    [event] = await platform.parse(request_for(guide_example))
    assert event.metadata == {
        "request": "Payment Notification",
        "trx_id": "3183540500001172",
        "merchant": "Toko Maju",
        "payment_reff": "123456",
        "payment_status_desc": "Payment Failed",
        "payment_total": "0.00",
        "payment_channel_uid": "402",
        "payment_channel": "Permata Virtual Account",
        "error_desc": "Insufficient funds",
    }
    encoded = msgspec.json.encode(event)
    assert GUIDE_SIGNATURE.encode() not in encoded and b"signature" not in encoded
    assert b"p@ssw0rd" not in encoded


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "iso-8859-1", "UTF-8", "utf-8", "windows-1252"])
async def test_declared_encoding_is_honoured(
    platform: AssastaPlatform, request_for: Any, document: Any, encoding: str
) -> None:
    """A merchant name encoded as the prolog declares comes out as "Toko Café"."""
    body = document(merchant="Toko Café", encoding=encoding)
    single_byte = encoding.lower() in ("iso-8859-1", "windows-1252")
    assert (b"Toko Caf\xe9<" in body) == single_byte and (b"Toko Caf\xc3\xa9<" in body) == (not single_byte)
    [event] = await platform.parse(request_for(body))
    assert event.metadata["merchant"] == "Toko Café"


async def test_latin1_bytes_are_not_decoded_as_utf8(
    platform: AssastaPlatform, request_for: Any, guide_fields: Any, xml_of: Any
) -> None:
    """The raw Latin-1 document (byte 0xE9 for é) parses, the prolog deciding the encoding."""
    fields = [(t, "Toko Café" if t == "merchant" else v) for t, v in guide_fields]
    body = xml_of(fields, "ISO-8859-1")
    assert b"Toko Caf\xe9</merchant>" in body
    [event] = await platform.parse(request_for(body))
    assert event.metadata["merchant"] == "Toko Café"


async def test_utf8_without_prolog_is_utf8(
    platform: AssastaPlatform, request_for: Any, guide_fields: Any, xml_of: Any
) -> None:
    """A document without a prolog is UTF-8, as XML says."""
    fields = [(t, "Toko Café ☕" if t == "merchant" else v) for t, v in guide_fields]
    [event] = await platform.parse(request_for(xml_of(fields, "UTF-8", prolog=False)))
    assert event.metadata["merchant"] == "Toko Café ☕"


async def test_utf8_characters_beyond_latin1_survive_a_latin1_document(
    platform: AssastaPlatform, request_for: Any, document: Any
) -> None:
    """Character references in an ISO-8859-1 document (&#8364;) are decoded too."""
    [event] = await platform.parse(request_for(document(merchant="Warung € 1", encoding="ISO-8859-1")))
    assert event.metadata["merchant"] == "Warung € 1"


async def test_element_order_does_not_matter(
    platform: AssastaPlatform, request_for: Any, guide_fields: Any, xml_of: Any
) -> None:
    """The same elements in reverse order give the same event."""
    forward = await platform.parse(request_for(xml_of(guide_fields)))
    backward = await platform.parse(request_for(xml_of(list(reversed(guide_fields)))))
    assert msgspec.structs.replace(forward[0], metadata={}) == msgspec.structs.replace(backward[0], metadata={})
    assert forward[0].metadata == backward[0].metadata


async def test_unknown_elements_are_kept_and_masked(platform: AssastaPlatform, request_for: Any, document: Any) -> None:
    """Unknown elements are accepted, kept in metadata (nested and repeated too), and masked."""
    nested = ET.Element("customer")
    ET.SubElement(nested, "email").text = "budi@example.co.id"
    ET.SubElement(nested, "phone").text = "+6281234567890"
    ET.SubElement(nested, "tag").text = "a"
    ET.SubElement(nested, "tag").text = "b"
    body = document(acquirer="BNI", card_number="4811111111111114", customer=nested, notes="ask budi@example.co.id")
    [event] = await platform.parse(request_for(body))
    assert event.metadata["acquirer"] == "BNI"
    assert event.metadata["card_number"] == "481111******1114"
    assert event.metadata["notes"] == "ask b***@example.co.id"
    assert event.metadata["customer"] == {"email": "b***@example.co.id", "phone": "+62*******7890", "tag": ["a", "b"]}
    assert b"4811111111111114" not in msgspec.json.encode(event)


async def test_repeated_unknown_elements_become_a_list(
    platform: AssastaPlatform, request_for: Any, guide_fields: Any, xml_of: Any
) -> None:
    """An unknown element that appears twice is kept as a list of its values."""
    fields = [*guide_fields, ("note", "first"), ("note", "second")]
    [event] = await platform.parse(request_for(xml_of(fields)))
    assert event.metadata["note"] == ["first", "second"]


async def test_deeply_nested_unknown_element_is_cut_off(
    platform: AssastaPlatform, request_for: Any, document: Any, guide_fields: Any, xml_of: Any
) -> None:
    """An unknown element nested thousands deep is kept only to a bounded depth."""
    fields = [(t, v) for t, v in guide_fields]
    body = xml_of(fields).replace(
        b"</assasta>", b"<deep>" + b"<a>" * 5000 + b"x" + b"</a>" * 5000 + b"</deep></assasta>"
    )
    [event] = await platform.parse(request_for(body))
    depth, value = 0, event.metadata["deep"]
    while isinstance(value, dict):
        depth, value = depth + 1, value["a"]
    assert depth <= 8 and isinstance(value, str)
    msgspec.json.encode(event)


@pytest.mark.parametrize(
    "content_type", ["application/xml", "text/xml", "application/xml; charset=utf-8", "Text/XML;charset=ISO-8859-1"]
)
async def test_xml_content_types_are_accepted(
    platform: AssastaPlatform, request_for: Any, guide_example: bytes, content_type: str
) -> None:
    """application/xml and text/xml are accepted in any case, with parameters; the prolog decides the encoding."""
    [event] = await platform.parse(request_for(guide_example, content_type))
    assert event.code == "insufficient_funds"


async def test_whitespace_around_values_is_ignored(
    platform: AssastaPlatform, request_for: Any, guide_fields: Any, xml_of: Any
) -> None:
    """Values wrapped in spaces and line breaks (pretty-printed senders) are read trimmed."""
    fields = [(t, f"\n    {v}\n  ") for t, v in guide_fields]
    [event] = await platform.parse(request_for(xml_of(fields)))
    assert (event.key, event.reference, event.platform_code) == ("3183540500001172:3", "BILL0000001", "3/E051")


async def test_escapes_and_cdata_are_decoded(platform: AssastaPlatform, request_for: Any, document: Any) -> None:
    """Escaped characters and CDATA sections come out as text."""
    body = document(merchant="Toko A & B <Jaya>").replace(
        b"<payment_reff>123456</payment_reff>", b"<payment_reff><![CDATA[12<34>56]]></payment_reff>"
    )
    [event] = await platform.parse(request_for(body))
    assert event.metadata["merchant"] == "Toko A & B <Jaya>"
    assert event.metadata["payment_reff"] == "12<34>56"


async def test_comments_and_processing_instructions_are_ignored(
    platform: AssastaPlatform, request_for: Any, guide_example: bytes
) -> None:
    """Comments and processing instructions inside the document change nothing."""
    body = guide_example.replace(b"<assasta>", b"<!-- hello --><assasta><?app x?><!-- c -->")
    [event] = await platform.parse(request_for(body))
    assert event.code == "insufficient_funds" and "request" in event.metadata


async def test_jakarta_time_crossing_midnight_becomes_previous_utc_day(
    platform: AssastaPlatform, request_for: Any, document: Any
) -> None:
    """payment_date is Asia/Jakarta (UTC+7): 00:30 local is 17:30 UTC the day before."""
    [event] = await platform.parse(request_for(document(payment_date="2024-01-01 00:30:00")))
    assert event.occurred_at == datetime(2023, 12, 31, 17, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "bill_total, amount",
    [
        ("15000000", "150000.00"),
        ("0", "0.00"),
        ("1", "0.01"),
        ("000150", "1.50"),
        ("999999999999999999", "9999999999999999.99"),
    ],
)
async def test_bill_total_is_hundredths(
    platform: AssastaPlatform, request_for: Any, document: Any, bill_total: str, amount: str
) -> None:
    """bill_total counts hundredths of a rupiah; the amount always has two decimals."""
    [event] = await platform.parse(request_for(document(bill_total=bill_total)))
    assert str(event.amount) == amount and event.amount == Decimal(amount)


async def test_payment_total_is_hundredths_in_metadata(
    platform: AssastaPlatform, request_for: Any, document: Any
) -> None:
    """payment_total is converted like bill_total and kept, as a decimal string, in metadata."""
    [event] = await platform.parse(request_for(document(payment_status_code="2", payment_total="15000000")))
    assert event.metadata["payment_total"] == "150000.00"


@pytest.mark.parametrize("payment_total", [None, ""])
async def test_payment_total_is_optional(
    platform: AssastaPlatform, request_for: Any, document: Any, payment_total: str | None
) -> None:
    """A missing or empty payment_total is fine (it is not signed and not mapped)."""
    [event] = await platform.parse(request_for(document(payment_total=payment_total)))
    assert event.metadata.get("payment_total", "") == ""


async def test_message_falls_back_to_status_description_then_meaning(
    platform: AssastaPlatform, request_for: Any, document: Any
) -> None:
    """Without error_desc the message is payment_status_desc, else the guide's meaning of the status."""
    [desc] = await platform.parse(request_for(document(error_desc=None)))
    [meaning] = await platform.parse(request_for(document(error_desc=None, payment_status_desc=None)))
    [unlisted] = await platform.parse(
        request_for(document(error_desc=None, payment_status_desc=None, payment_status_code="6"))
    )
    assert desc.message == "Payment Failed"
    assert meaning.message == "failed"
    assert unlisted.message == "ASSASTA payment status 6"


async def test_key_is_trx_id_and_status(platform: AssastaPlatform, request_for: Any, document: Any) -> None:
    """The identity is the guide's pair: same pair same key, new status new key."""
    [first] = await platform.parse(request_for(document()))
    [again] = await platform.parse(request_for(document(merchant="Other name")))
    [paid] = await platform.parse(request_for(document(payment_status_code="2", error_code=None)))
    assert first.key == again.key == "3183540500001172:3"
    assert paid.key == "3183540500001172:2"


async def test_platform_code_without_error_code(platform: AssastaPlatform, request_for: Any, document: Any) -> None:
    """platform_code is the status alone when there is no error_code."""
    [event] = await platform.parse(request_for(document(payment_status_code="2", error_code=None, error_desc=None)))
    assert event.platform_code == "2" and event.code == "payment_succeeded"


async def test_each_merchant_is_verified_with_its_own_credentials(
    platform: AssastaPlatform, request_for: Any, document: Any, credentials: Any, signer: Any
) -> None:
    """A notification for merchant 40001, signed with 40001's credentials, is accepted as 40001's."""
    user_id, password = credentials["40001"]
    signature = signer(user_id, password, "BILL0000001", "3")
    [event] = await platform.parse(request_for(document(merchant_id="40001", signature=signature)))
    assert event.merchant_id == "40001"


async def test_parse_returns_exactly_one_event(
    platform: AssastaPlatform, request_for: Any, guide_example: bytes
) -> None:
    """Every ASSASTA notification is one event, and it can be stored as JSON."""
    events = await platform.parse(request_for(guide_example))
    assert len(events) == 1
    msgspec.json.encode(events)
