"""Shared fixtures: the guide's example, a signed-document builder, a configured platform."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import defusedxml.ElementTree as safe_et
import pytest

from notigate import CallbackAnswer, CallbackRequest, convert
from notigate_platform_assasta._config import AssastaConfig
from notigate_platform_assasta._platform import AssastaPlatform

# The guide's merchant, and a second one with its own credentials.
CREDENTIALS = {"31835": ("bot31835", "p@ssw0rd"), "40001": ("bot40001", "s3cret-40001")}

# Copied from the guide, byte for byte.
GUIDE_EXAMPLE = b"""<?xml version="1.0" encoding="UTF-8"?>
<assasta>
  <request>Payment Notification</request>
  <trx_id>3183540500001172</trx_id>
  <merchant_id>31835</merchant_id>
  <merchant>Toko Maju</merchant>
  <bill_no>BILL0000001</bill_no>
  <payment_reff>123456</payment_reff>
  <payment_date>2024-08-01 10:15:30</payment_date>
  <payment_status_code>3</payment_status_code>
  <payment_status_desc>Payment Failed</payment_status_desc>
  <bill_total>15000000</bill_total>
  <payment_total>0</payment_total>
  <payment_channel_uid>402</payment_channel_uid>
  <payment_channel>Permata Virtual Account</payment_channel>
  <error_code>E051</error_code>
  <error_desc>Insufficient funds</error_desc>
  <signature>9465d0395a615be8ede145c3a643fc506ba87838</signature>
</assasta>"""

GUIDE_FIELDS: list[tuple[str, str]] = [(child.tag, child.text or "") for child in ET.fromstring(GUIDE_EXAMPLE)]

Builder = Callable[..., bytes]
Requester = Callable[..., CallbackRequest]


def guide_md5(user_id: str, password: str, bill_no: str, status: str) -> str:
    """The guide's inner hash, written independently of the plugin's ``_signature``."""
    return hashlib.md5(f"{user_id}{password}{bill_no}{status}".encode()).hexdigest()


def guide_signature(user_id: str, password: str, bill_no: str, status: str) -> str:
    """``hex(SHA1(hex(MD5(user_id + password + bill_no + payment_status_code))))``."""
    return hashlib.sha1(guide_md5(user_id, password, bill_no, status).encode()).hexdigest()


def render(fields: list[tuple[str, Any]], encoding: str = "UTF-8", prolog: bool = True) -> bytes:
    """An ``<assasta>`` document of ``fields`` (a value may be an Element), in ``encoding``."""
    root = ET.Element("assasta")
    for tag, value in fields:
        if isinstance(value, ET.Element):
            root.append(value)
        else:
            ET.SubElement(root, tag).text = value
    ET.indent(root, space="  ")
    head = f'<?xml version="1.0" encoding="{encoding}"?>\n'.encode("ascii") if prolog else b""
    return head + ET.tostring(root, encoding="unicode").encode(encoding, "xmlcharrefreplace")


def sign_fields(fields: dict[str, Any] | list[tuple[str, Any]]) -> str:
    """The signature for the fields' merchant (the guide's when it is unknown)."""
    values = dict(fields)
    user_id, password = CREDENTIALS.get(values.get("merchant_id", ""), CREDENTIALS["31835"])
    return guide_signature(user_id, password, values.get("bill_no", ""), values.get("payment_status_code", ""))


def parse_answer(answer: CallbackAnswer) -> dict[str, str]:
    """The answer's elements by tag, after checking it is ASSASTA's XML form."""
    assert answer.media_type == "application/xml"
    assert answer.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = safe_et.fromstring(answer.body, forbid_dtd=True)
    assert root.tag == "assasta"
    tags = [child.tag for child in root]
    assert tags == ["response", "trx_id", "merchant_id", "bill_no", "response_code", "response_desc", "response_date"]
    return {child.tag: child.text or "" for child in root}


@pytest.fixture
def guide_example() -> bytes:
    return GUIDE_EXAMPLE


@pytest.fixture
def guide_fields() -> list[tuple[str, str]]:
    """The guide's example as (tag, text) pairs, in its order."""
    return list(GUIDE_FIELDS)


@pytest.fixture
def credentials() -> dict[str, tuple[str, str]]:
    """merchant_id → (user_id, password) of the configured merchants."""
    return dict(CREDENTIALS)


@pytest.fixture
def signer() -> Callable[[str, str, str, str], str]:
    """The guide's formula: ``signer(user_id, password, bill_no, payment_status_code)``."""
    return guide_signature


@pytest.fixture
def md5er() -> Callable[[str, str, str, str], str]:
    """The guide's inner MD5: ``md5er(user_id, password, bill_no, payment_status_code)``."""
    return guide_md5


@pytest.fixture
def xml_of() -> Callable[..., bytes]:
    """``xml_of(fields, encoding="UTF-8", prolog=True)``: an unsigned document of (tag, value) pairs."""
    return render


@pytest.fixture
def read_answer() -> Callable[[CallbackAnswer], dict[str, str]]:
    """``read_answer(answer)``: the answer's elements by tag, its XML form checked."""
    return parse_answer


@pytest.fixture
def config() -> AssastaConfig:
    merchants = {m: {"user_id": u, "password": p} for m, (u, p) in CREDENTIALS.items()}
    return convert({"merchants": merchants}, AssastaConfig, "platforms.assasta")


@pytest.fixture
def platform(config: AssastaConfig) -> AssastaPlatform:
    return AssastaPlatform(config)


@pytest.fixture
def document() -> Builder:
    """``document(**changes)``: the guide's example with changes (None deletes), re-signed.

    New fields are appended; ``signature=...`` overrides the computed one;
    ``encoding=`` picks the declared (and actual) encoding.
    """

    def build(*, encoding: str = "UTF-8", **changes: Any) -> bytes:
        fields = [(tag, changes.get(tag, value)) for tag, value in GUIDE_FIELDS]
        fields += [(tag, value) for tag, value in changes.items() if tag not in dict(GUIDE_FIELDS)]
        fields = [(tag, value) for tag, value in fields if value is not None]
        if "signature" not in changes:
            fields = [(t, sign_fields(fields) if t == "signature" else v) for t, v in fields]
        return render(fields, encoding)

    return build


@pytest.fixture
def request_for() -> Requester:
    """``request_for(body, content_type=...)``: a CallbackRequest as the engine builds it."""

    def make(body: bytes, content_type: str | None = "application/xml") -> CallbackRequest:
        headers = {} if content_type is None else {"content-type": content_type}
        return CallbackRequest(body=body, headers=headers, path="/api/v1/platforms/assasta/callbacks")

    return make
