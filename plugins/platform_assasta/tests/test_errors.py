"""AssastaPlatform.parse on bad input: only 415, 401 or 400, each naming what is wrong."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import msgspec
import pytest

from notigate import (
    CallbackResult,
    PlatformInputError,
    SignatureError,
    UnsupportedMediaType,
)
from notigate_platform_assasta._platform import AssastaPlatform

REQUIRED = ("trx_id", "merchant_id", "bill_no", "payment_date", "payment_status_code", "bill_total", "signature")


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/plain", "application/x-www-form-urlencoded", "application/xhtml+xml"]
)
async def test_wrong_content_type_is_415_naming_it(
    platform: AssastaPlatform, request_for: Any, guide_example: bytes, content_type: str
) -> None:
    """Anything but application/xml or text/xml is a 415 naming the received type."""
    with pytest.raises(UnsupportedMediaType) as info:
        await platform.parse(request_for(guide_example, content_type))
    assert info.value.status_code == 415
    assert content_type in info.value.detail and "application/xml" in info.value.detail


async def test_missing_content_type_is_415(platform: AssastaPlatform, request_for: Any, guide_example: bytes) -> None:
    """A request without Content-Type is a 415 that says none was sent."""
    with pytest.raises(UnsupportedMediaType, match="none"):
        await platform.parse(request_for(guide_example, None))


async def test_unknown_merchant_is_401(platform: AssastaPlatform, request_for: Any, document: Any) -> None:
    """A merchant_id without configured credentials is a 401, whatever the signature."""
    with pytest.raises(SignatureError, match="merchant_id") as info:
        await platform.parse(request_for(document(merchant_id="99999")))
    assert info.value.status_code == 401


@pytest.mark.parametrize("field, value", [("bill_no", "BILL0000002"), ("payment_status_code", "2")])
async def test_tampered_signed_field_is_401(
    platform: AssastaPlatform, request_for: Any, guide_example: bytes, field: str, value: str
) -> None:
    """Changing bill_no or payment_status_code after signing breaks the signature: 401."""
    root = ET.fromstring(guide_example)
    root.find(field).text = value  # type: ignore[union-attr]
    with pytest.raises(SignatureError, match="signature does not match"):
        await platform.parse(request_for(ET.tostring(root)))


async def test_other_merchants_credentials_are_401(
    platform: AssastaPlatform, request_for: Any, document: Any, credentials: Any, signer: Any
) -> None:
    """A notification for 31835 signed with 40001's credentials is a 401: credentials are per merchant."""
    signature = signer(*credentials["40001"], "BILL0000001", "3")
    with pytest.raises(SignatureError):
        await platform.parse(request_for(document(signature=signature)))


@pytest.mark.parametrize(
    "signature",
    ["", "0" * 40, "9465D0395A615BE8EDE145C3A643FC506BA87838", "95af643bca6e624a608c213353a0a742", "é" * 40],
)
async def test_bad_signature_is_401(platform: AssastaPlatform, request_for: Any, document: Any, signature: str) -> None:
    """An empty, wrong, upper-case, MD5-only or non-ASCII signature is a 401."""
    with pytest.raises(SignatureError):
        await platform.parse(request_for(document(signature=signature)))


async def test_forged_document_with_missing_unsigned_fields_is_401_not_400(
    platform: AssastaPlatform, request_for: Any, document: Any
) -> None:
    """A bad signature wins over missing unsigned elements: forgeries learn nothing element by element."""
    with pytest.raises(SignatureError):
        await platform.parse(request_for(document(trx_id=None, payment_date=None, signature="0" * 40)))


async def test_missing_elements_are_all_named(platform: AssastaPlatform, request_for: Any, document: Any) -> None:
    """Every missing required element is named in one 400."""
    body = document(**{name: None for name in REQUIRED})
    with pytest.raises(PlatformInputError) as info:
        await platform.parse(request_for(body))
    assert type(info.value) is PlatformInputError and info.value.status_code == 400
    for name in REQUIRED:
        assert f"<{name}>" in info.value.detail


@pytest.mark.parametrize("name", REQUIRED)
async def test_each_missing_element_is_named(
    platform: AssastaPlatform, request_for: Any, document: Any, name: str
) -> None:
    """Without any one required element the document is a 400 naming it (never a 401 or a crash)."""
    with pytest.raises(PlatformInputError, match=f"<{name}>") as info:
        await platform.parse(request_for(document(**{name: None})))
    assert type(info.value) is PlatformInputError


@pytest.mark.parametrize("name", ["trx_id", "signature", "bill_no", "error_code", "merchant"])
async def test_repeated_known_element_is_400(
    platform: AssastaPlatform, request_for: Any, guide_example: bytes, name: str
) -> None:
    """A known element that appears twice is ambiguous: a 400 naming it."""
    body = guide_example.replace(b"</assasta>", f"<{name}>x</{name}></assasta>".encode())
    with pytest.raises(PlatformInputError, match=f"<{name}> appears more than once") as info:
        await platform.parse(request_for(body))
    assert type(info.value) is PlatformInputError


async def test_known_element_with_children_is_400(
    platform: AssastaPlatform, request_for: Any, guide_example: bytes
) -> None:
    """A known element must hold text: nested elements in it are a 400 naming it."""
    body = guide_example.replace(b"<trx_id>3183540500001172</trx_id>", b"<trx_id><a>1</a></trx_id>")
    with pytest.raises(PlatformInputError, match="<trx_id> must hold text"):
        await platform.parse(request_for(body))


@pytest.mark.parametrize(
    "value", ["150000.00", "1,500", "-1", "+1", "1e5", "", "0x10", "\u0661\u0665\u0660", "1" * 19, "15 000"]
)
async def test_bad_bill_total_is_named(platform: AssastaPlatform, request_for: Any, document: Any, value: str) -> None:
    """bill_total must be a whole number of hundredths (1 to 18 ASCII digits): 400 naming it."""
    with pytest.raises(PlatformInputError, match="bill_total") as info:
        await platform.parse(request_for(document(bill_total=value)))
    assert type(info.value) is PlatformInputError


@pytest.mark.parametrize("value", ["0.00", "-5", "abc", "1" * 19])
async def test_bad_payment_total_is_named(
    platform: AssastaPlatform, request_for: Any, document: Any, value: str
) -> None:
    """payment_total, when given, must be hundredths too: 400 naming it."""
    with pytest.raises(PlatformInputError, match="payment_total"):
        await platform.parse(request_for(document(payment_total=value)))


@pytest.mark.parametrize(
    "value",
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
async def test_bad_payment_date_is_named(
    platform: AssastaPlatform, request_for: Any, document: Any, value: str
) -> None:
    """payment_date must be a real YYYY-MM-DD HH:MM:SS: 400 naming it."""
    with pytest.raises(PlatformInputError, match="payment_date") as info:
        await platform.parse(request_for(document(payment_date=value)))
    assert type(info.value) is PlatformInputError


@pytest.mark.parametrize("name", ["trx_id", "bill_no", "payment_status_code"])
async def test_empty_identifier_is_named(platform: AssastaPlatform, request_for: Any, document: Any, name: str) -> None:
    """An empty trx_id, bill_no or status would merge unrelated notifications: 400 naming it."""
    with pytest.raises(PlatformInputError, match=f"<{name}> must not be empty"):
        await platform.parse(request_for(document(**{name: ""})))


@pytest.mark.parametrize("status", ["\uff13", "\u0663", "\u00b3", "3\uff10", "x", "-1", "3a"])
async def test_status_code_must_be_ascii_digits(
    platform: AssastaPlatform, request_for: Any, document: Any, read_answer: Any, status: str
) -> None:
    """A signed status that is not ASCII digits (full-width "３", Arabic-Indic "٣", "x") is malformed: 400 naming
    it, answered 400 with response_code 30 as the guide says, never stored as an unknown status."""
    request = request_for(document(payment_status_code=status))
    with pytest.raises(PlatformInputError, match="<payment_status_code> must be ASCII digits") as info:
        await platform.parse(request)
    assert type(info.value) is PlatformInputError
    answer = platform.answer(CallbackResult(status_code=info.value.status_code, detail=info.value.detail), request)
    assert (answer.status_code, read_answer(answer)["response_code"]) == (400, "30")


@pytest.mark.parametrize("name", ["trx_id", "bill_no", "payment_status_code", "error_code"])
async def test_overlong_identifier_is_named(
    platform: AssastaPlatform, request_for: Any, document: Any, name: str
) -> None:
    """Identifiers longer than 64 characters are a 400 naming them."""
    with pytest.raises(PlatformInputError, match=f"<{name}> is longer than 64"):
        await platform.parse(request_for(document(**{name: "9" * 65})))


async def test_several_problems_are_named_together(platform: AssastaPlatform, request_for: Any, document: Any) -> None:
    """One 400 names every malformed element, not just the first."""
    body = document(bill_total="1.5", payment_date="yesterday", trx_id="")
    with pytest.raises(PlatformInputError) as info:
        await platform.parse(request_for(body))
    for name in ("bill_total", "payment_date", "trx_id"):
        assert name in info.value.detail


@pytest.mark.parametrize(
    "raw, detail",
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"not xml", "not well-formed"),
        (b"{}", "not well-formed"),
        (b"<assasta>", "not well-formed"),
        (b"<assasta><trx_id>1</assasta>", "not well-formed"),
        (b"<assasta></assasta><assasta></assasta>", "not well-formed"),
        (b"<assasta>&nbsp;</assasta>", "not well-formed"),
        (b"<assasta>&#1;</assasta>", "not well-formed"),
        (b"<assasta>\xff</assasta>", "not well-formed"),
        (b'<?xml version="1.0" encoding="UTF-8"?><assasta>Caf\xe9</assasta>', "not well-formed"),
        (b'<?xml version="1.0" encoding="bogus"?><assasta/>', "encoding"),
        (b'<?xml version="1.0" encoding="Shift_JIS"?><assasta/>', "encoding"),
        (b"<payment><trx_id>1</trx_id></payment>", "root element must be <assasta>"),
        (b'<a:assasta xmlns:a="urn:x"/>', "root element must be <assasta>"),
        (b"<ASSASTA/>", "root element must be <assasta>"),
        (b"<assasta/>", "missing elements"),
    ],
)
async def test_unusable_documents_are_400(platform: AssastaPlatform, request_for: Any, raw: bytes, detail: str) -> None:
    """Empty, broken, wrongly encoded or wrongly rooted documents are a plain 400 saying why."""
    with pytest.raises(PlatformInputError, match=detail) as info:
        await platform.parse(request_for(raw))
    assert type(info.value) is PlatformInputError


async def test_body_over_max_body_size_is_400_before_parsing(
    platform: AssastaPlatform, request_for: Any, guide_example: bytes
) -> None:
    """A body one byte over max_body_size is refused, naming the limit, even when it is valid XML."""
    padding = b" " * (platform.config.max_body_size - len(guide_example) + 1)
    with pytest.raises(PlatformInputError, match="at most 65536 bytes"):
        await platform.parse(request_for(guide_example + padding))
    padded = guide_example + padding[:-1]
    assert len(padded) == platform.config.max_body_size
    assert len(await platform.parse(request_for(padded))) == 1


@pytest.mark.parametrize(
    "changes",
    [
        {"merchant": "", "error_desc": "", "payment_status_desc": ""},
        {"trx_id": "a:b", "payment_status_code": "x:y"},
        {"merchant": "\u202e\U0001f600\t"},
        {"error_code": ""},
        {"payment_reff": "9" * 2000},
        {"password": "hunter2", "signature_extra": "x"},
    ],
)
async def test_odd_but_signed_documents_never_raise_foreign_errors(
    platform: AssastaPlatform, request_for: Any, document: Any, changes: dict[str, Any]
) -> None:
    """Odd values either parse or raise PlatformInputError, never another exception."""
    try:
        events = await platform.parse(request_for(document(**changes)))
    except PlatformInputError:
        return
    encoded = msgspec.json.encode(events)
    assert b"hunter2" not in encoded
