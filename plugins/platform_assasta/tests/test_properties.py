"""Property-based: whatever the bytes or documents, parse raises only the three errors and answer is XML."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from datetime import datetime
from decimal import Decimal
from typing import Any

import defusedxml.ElementTree as safe_et
import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import event as outcome
from hypothesis import strategies as st

from notigate import (
    TAXONOMY,
    CallbackRequest,
    CallbackResult,
    PlatformInputError,
    convert,
    mask_metadata,
)
from notigate_platform_assasta._config import AssastaConfig
from notigate_platform_assasta._platform import AssastaPlatform

CREDENTIALS = {"31835": ("bot31835", "p@ssw0rd"), "40001": ("bot40001", "s3cret-40001")}
PLATFORM = AssastaPlatform(
    convert({"merchants": {m: {"user_id": u, "password": p} for m, (u, p) in CREDENTIALS.items()}}, AssastaConfig, "x")
)
KNOWN = (
    "request",
    "trx_id",
    "merchant_id",
    "merchant",
    "bill_no",
    "payment_reff",
    "payment_date",
    "payment_status_code",
    "payment_status_desc",
    "bill_total",
    "payment_total",
    "payment_channel_uid",
    "payment_channel",
    "error_code",
    "error_desc",
    "signature",
)
STATUSES = [0, 200, 400, 401, 403, 404, 413, 415, 422, 429, 500, 503]
CODES = {"00", "01", "30", "96"}
# No example database: it would be written outside this plugin (failures print their example anyway).
PROPERTY = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def sign(merchant_id: str, bill_no: str, status: str) -> str:
    """The guide's formula, for the merchant's credentials (the guide's when unknown)."""
    user_id, password = CREDENTIALS.get(merchant_id, CREDENTIALS["31835"])
    inner = hashlib.md5(f"{user_id}{password}{bill_no}{status}".encode()).hexdigest()
    return hashlib.sha1(inner.encode()).hexdigest()


# Text any XML 1.0 document can hold, without carriage returns (XML turns them into line feeds).
xml_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\ufffe\uffff", min_codepoint=0x20)
    | st.sampled_from("\t\n"),
    max_size=30,
)
names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,12}", fullmatch=True)
# Mostly other names, a known one now and then (a repeated known element is a 400).
tags = st.integers(0, 5).flatmap(lambda i: st.sampled_from(KNOWN) if i == 0 else names)
trees = st.recursive(
    st.tuples(tags, xml_text),
    lambda children: st.tuples(tags, st.lists(children, max_size=3)),
    max_leaves=12,
)
valid_fields = st.fixed_dictionaries(
    {
        "trx_id": st.from_regex(r"[0-9]{1,20}", fullmatch=True),
        "merchant_id": st.sampled_from([*CREDENTIALS, "99999"]),
        "bill_no": st.from_regex(r"[A-Za-z0-9-]{1,20}", fullmatch=True),
        "payment_date": st.datetimes(datetime(1970, 1, 1), datetime(9998, 12, 31)).map(
            lambda d: d.strftime("%Y-%m-%d %H:%M:%S")
        ),
        "payment_status_code": st.sampled_from("0123456789"),
        "bill_total": st.integers(0, 10**18 - 1).map(str),
        "payment_total": st.integers(0, 10**18 - 1).map(str),
        "error_code": st.sampled_from(["E005", "E051", "E054", "E059", "E068", "E091", "E094", "E030", "E096", "E999"]),
        "merchant": xml_text,
    }
)


def element(tree: tuple[str, Any]) -> ET.Element:
    tag, content = tree
    node = ET.Element(tag)
    if isinstance(content, str):
        node.text = content
    else:
        node.extend(element(child) for child in content)
    return node


def to_bytes(root: ET.Element, encoding: str) -> bytes:
    prolog = f'<?xml version="1.0" encoding="{encoding}"?>\n'.encode()
    return prolog + ET.tostring(root, encoding="unicode").encode(encoding, "xmlcharrefreplace")


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    """An <assasta> document: maybe a valid notification with some fields dropped, plus random elements,
    in any order, signed correctly when it has what the signature needs (most of the time)."""
    fields: list[tuple[str, Any]] = []
    if draw(st.booleans()):
        fields = [(k, v) for k, v in draw(valid_fields).items() if draw(st.integers(0, 19))]
    fields += draw(st.lists(trees, max_size=5))
    fields = draw(st.permutations(fields))
    leaves = {tag: value for tag, value in reversed(fields) if isinstance(value, str)}
    if all(k in leaves for k in ("merchant_id", "bill_no", "payment_status_code")) and draw(st.integers(0, 9)):
        signature = sign(*(leaves[k].strip(" \t\n") for k in ("merchant_id", "bill_no", "payment_status_code")))
        fields = [(t, v) for t, v in fields if t != "signature"] + [("signature", signature)]
    root = ET.Element("assasta")
    root.extend(element(f) for f in fields)
    return to_bytes(root, draw(st.sampled_from(["UTF-8", "ISO-8859-1"])))


prologs = st.sampled_from(
    [
        b"",
        b'<?xml version="1.0" encoding="UTF-8"?>',
        b'<?xml version="1.0" encoding="ISO-8859-1"?>',
        b"<assasta>",
        b'<?xml version="1.0"?><!DOCTYPE assasta [',
    ]
)


async def check_parse(body: bytes, content_type: str = "application/xml") -> list[Any]:
    """parse returns events or raises only the three allowed errors (all PlatformInputError)."""
    request = CallbackRequest(body=body, headers={"content-type": content_type})
    try:
        events = await PLATFORM.parse(request)
    except PlatformInputError as exc:
        assert exc.status_code in (400, 401, 415) and isinstance(exc.detail, str)
        outcome(f"rejected {exc.status_code}")
        return []
    outcome("accepted")
    for event in events:
        assert event.platform == "assasta" and event.code in TAXONOMY and event.currency == "IDR"
        assert event.amount is not None and event.amount.as_tuple().exponent == -2 and event.amount >= Decimal(0)
        assert event.occurred_at.utcoffset() is not None and not event.occurred_at.utcoffset()
        assert "signature" not in event.metadata
        msgspec.json.encode(event)
    return events


def check_answers(body: bytes) -> None:
    """answer never raises and always returns ASSASTA's XML, whatever the body and proposal."""
    for status in STATUSES:
        answer = PLATFORM.answer(CallbackResult(status_code=status, detail="d"), CallbackRequest(body=body))
        root = safe_et.fromstring(answer.body, forbid_dtd=True)
        assert root.tag == "assasta" and answer.media_type == "application/xml"
        assert [c.tag for c in root][1:4] == ["trx_id", "merchant_id", "bill_no"]
        assert root.findtext("response_code") in CODES


@PROPERTY
@given(body=st.binary(max_size=2048))
async def test_arbitrary_bytes_never_raise_foreign_errors(body: bytes) -> None:
    """Any bytes: parse raises only the allowed errors, answer always returns parseable XML."""
    await check_parse(body)
    check_answers(body)


@PROPERTY
@given(prolog=prologs, rest=st.binary(max_size=512), content_type=st.sampled_from(["application/xml", "text/xml", "x"]))
async def test_xml_looking_bytes_never_raise_foreign_errors(prolog: bytes, rest: bytes, content_type: str) -> None:
    """Bytes behind an XML prolog, root or DTD start: only allowed errors, and answers stay XML."""
    await check_parse(prolog + rest, content_type)
    check_answers(prolog + rest)


@PROPERTY
@given(body=documents())
async def test_arbitrary_documents_parse_or_raise_allowed_errors(body: bytes) -> None:
    """Generated <assasta> trees: events or the allowed errors; answers echo the trx_id that was read."""
    events = await check_parse(body)
    check_answers(body)
    if events:
        [event] = events
        trx_id = safe_et.fromstring(body).findtext("trx_id").strip(" \t\n")  # type: ignore[union-attr]
        assert event.key.startswith(f"{trx_id}:")
        answer = PLATFORM.answer(CallbackResult(status_code=200), CallbackRequest(body=body))
        assert safe_et.fromstring(answer.body).findtext("trx_id") == trx_id[:128]


@PROPERTY
@given(
    fields=valid_fields,
    extras=st.lists(st.tuples(names.map(lambda t: f"x_{t}"), xml_text), max_size=5),
    encoding=st.sampled_from(["UTF-8", "ISO-8859-1"]),
    data=st.data(),
)
async def test_signed_notifications_with_extras_always_parse(
    fields: dict[str, str], extras: list[tuple[str, str]], encoding: str, data: st.DataObject
) -> None:
    """A complete, correctly signed notification parses to one event whatever its extra elements and order."""
    fields = {**fields, "merchant_id": data.draw(st.sampled_from(list(CREDENTIALS)))}
    fields["signature"] = sign(fields["merchant_id"], fields["bill_no"], fields["payment_status_code"])
    items = data.draw(st.permutations([*fields.items(), *extras]))
    root = ET.Element("assasta")
    root.extend(element(item) for item in items)
    [event] = await check_parse(to_bytes(root, encoding))
    assert event.key == f"{fields['trx_id']}:{fields['payment_status_code']}"
    assert event.amount == Decimal(int(fields["bill_total"])).scaleb(-2)
    # as sent, except what looks like a card number (a Luhn-valid run of 13-19 digits) is masked
    assert event.metadata["merchant"] == mask_metadata({"merchant": fields["merchant"].strip(" \t\n")})["merchant"]
    for tag, _ in extras:
        assert tag in event.metadata


@PROPERTY
@given(code=st.text(max_size=20) | st.from_regex(r"[0-9]/[Ee][0-9]{3}", fullmatch=True))
def test_map_code_never_raises(code: str) -> None:
    """map_code returns a taxonomy code or None for any string."""
    mapped = PLATFORM.map_code(code)
    assert mapped is None or mapped in TAXONOMY
