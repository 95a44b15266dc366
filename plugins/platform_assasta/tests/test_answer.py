"""AssastaPlatform.answer: ASSASTA's XML answer, with the guide's status and response_code, in every situation."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from notigate import CallbackAnswer, CallbackRequest, CallbackResult, PlatformInputError
from notigate_platform_assasta._platform import AssastaPlatform

GUIDE_ECHO = {"trx_id": "3183540500001172", "merchant_id": "31835", "bill_no": "BILL0000001"}
EMPTY_ECHO = {"trx_id": "", "merchant_id": "", "bill_no": ""}


async def respond(platform: AssastaPlatform, request: CallbackRequest, stored: bool = True) -> CallbackAnswer:
    """What the engine does with a callback: parse, then answer with its proposal."""
    try:
        await platform.parse(request)
    except PlatformInputError as exc:
        return platform.answer(CallbackResult(status_code=exc.status_code, detail=exc.detail), request)
    return platform.answer(CallbackResult(status_code=200 if stored else 503, notification_ids=["ntf_1"]), request)


def echoed(fields: dict[str, str]) -> dict[str, str]:
    return {k: fields[k] for k in ("trx_id", "merchant_id", "bill_no")}


async def test_accepted_is_200_00_in_the_guides_form(
    platform: AssastaPlatform, request_for: Any, read_answer: Any, guide_example: bytes
) -> None:
    """An accepted notification is answered 200 with response_code 00, echoing its identifiers."""
    answer = await respond(platform, request_for(guide_example))
    fields = read_answer(answer)
    assert answer.status_code == 200
    assert fields["response"] == "Payment Notification"
    assert (fields["response_code"], fields["response_desc"]) == ("00", "Success")
    assert echoed(fields) == GUIDE_ECHO


def test_response_date_is_now_in_jakarta(platform: AssastaPlatform, read_answer: Any, guide_example: bytes) -> None:
    """response_date is the current Asia/Jakarta time as YYYY-MM-DD HH:MM:SS."""
    answer = platform.answer(CallbackResult(status_code=200), CallbackRequest(body=guide_example))
    stamp = read_answer(answer)["response_date"]
    sent = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=ZoneInfo("Asia/Jakarta"))
    assert abs(sent - datetime.now(ZoneInfo("Asia/Jakarta"))) < timedelta(minutes=1)


def test_answer_is_utf8_application_xml(platform: AssastaPlatform, guide_example: bytes) -> None:
    """The answer declares UTF-8, is sent as application/xml, and adds no other headers."""
    answer = platform.answer(CallbackResult(status_code=200), CallbackRequest(body=guide_example))
    assert answer.media_type == "application/xml" and answer.headers == {}
    assert answer.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<assasta>')
    answer.body.decode("utf-8")


def test_repeat_is_200_00(platform: AssastaPlatform, read_answer: Any, guide_example: bytes) -> None:
    """A repeated notification (already stored) is acknowledged like the first, so ASSASTA stops retrying."""
    result = CallbackResult(
        status_code=200, detail="accepted (1 already known)", notification_ids=["ntf_1"], duplicates=1
    )
    answer = platform.answer(result, CallbackRequest(body=guide_example))
    assert (answer.status_code, read_answer(answer)["response_code"]) == (200, "00")


async def test_bad_signature_is_401_01(
    platform: AssastaPlatform, request_for: Any, read_answer: Any, document: Any
) -> None:
    """A bad signature is answered 401 with response_code 01, echoing the identifiers."""
    answer = await respond(platform, request_for(document(signature="0" * 40)))
    fields = read_answer(answer)
    assert (answer.status_code, fields["response_code"]) == (401, "01")
    assert echoed(fields) == GUIDE_ECHO


async def test_unknown_merchant_is_401_01(
    platform: AssastaPlatform, request_for: Any, read_answer: Any, document: Any
) -> None:
    """An unknown merchant is answered 401/01, echoing its merchant_id, with the same text as a bad signature."""
    answer = await respond(platform, request_for(document(merchant_id="99999")))
    fields = read_answer(answer)
    assert (answer.status_code, fields["response_code"]) == (401, "01")
    assert echoed(fields) == {**GUIDE_ECHO, "merchant_id": "99999"}
    bad_signature = read_answer(await respond(platform, request_for(document(signature="0" * 40))))
    assert fields["response_desc"] == bad_signature["response_desc"]


@pytest.mark.parametrize("body", [b"not xml", b"", b"<assasta><trx_id>1</trx_id>", b"\xff\xfe\x00"])
async def test_malformed_is_400_30_with_empty_elements(
    platform: AssastaPlatform, request_for: Any, read_answer: Any, body: bytes
) -> None:
    """Unreadable XML is answered 400/30 with empty trx_id, merchant_id and bill_no."""
    answer = await respond(platform, request_for(body))
    fields = read_answer(answer)
    assert (answer.status_code, fields["response_code"]) == (400, "30")
    assert echoed(fields) == EMPTY_ECHO


async def test_incomplete_is_400_30_echoing_what_was_read(
    platform: AssastaPlatform, request_for: Any, read_answer: Any, document: Any
) -> None:
    """A document missing elements is answered 400/30, echoing the identifiers it has and naming what is missing."""
    answer = await respond(platform, request_for(document(bill_no=None, payment_date=None)))
    fields = read_answer(answer)
    assert (answer.status_code, fields["response_code"]) == (400, "30")
    assert echoed(fields) == {**GUIDE_ECHO, "bill_no": ""}
    assert "<bill_no>" in fields["response_desc"] and "<payment_date>" in fields["response_desc"]


async def test_wrong_content_type_is_answered_400_30_in_xml(
    platform: AssastaPlatform, request_for: Any, read_answer: Any, guide_example: bytes
) -> None:
    """A 415 (wrong content type) still gets ASSASTA's XML form, with the guide's 400 and code 30."""
    answer = await respond(platform, request_for(guide_example, "application/json"))
    fields = read_answer(answer)
    assert (answer.status_code, fields["response_code"]) == (400, "30")
    assert echoed(fields) == GUIDE_ECHO
    assert "content type" in fields["response_desc"]


def test_oversized_body_rejected_by_the_engine_is_400_30(platform: AssastaPlatform, read_answer: Any) -> None:
    """A 413 from the engine (body over [server] max_body_size, body then empty) is answered 400/30, empty elements."""
    answer = platform.answer(
        CallbackResult(status_code=413, detail="Request Entity Too Large"), CallbackRequest(body=b"")
    )
    fields = read_answer(answer)
    assert (answer.status_code, fields["response_code"]) == (400, "30")
    assert echoed(fields) == EMPTY_ECHO


def test_gateway_failure_is_503_96(platform: AssastaPlatform, read_answer: Any, guide_example: bytes) -> None:
    """The gateway unable to store (database down) is answered 503/96, echoing, without internal details."""
    result = CallbackResult(status_code=503, detail="the gateway could not store the notification; retry later")
    answer = platform.answer(result, CallbackRequest(body=guide_example))
    fields = read_answer(answer)
    assert (answer.status_code, fields["response_code"]) == (503, "96")
    assert echoed(fields) == GUIDE_ECHO
    assert "store" not in fields["response_desc"]


def test_plugin_crash_is_503_96(platform: AssastaPlatform, read_answer: Any, guide_example: bytes) -> None:
    """The engine's 500 (a plugin crash) is answered 503/96: ASSASTA retries, and the guide has no 500 row."""
    result = CallbackResult(status_code=500, detail="internal error; the gateway logged it")
    answer = platform.answer(result, CallbackRequest(body=guide_example))
    fields = read_answer(answer)
    assert (answer.status_code, fields["response_code"]) == (503, "96")
    assert echoed(fields) == GUIDE_ECHO


@pytest.mark.parametrize(
    "status, expected",
    [
        (200, (200, "00")),
        (202, (200, "00")),
        (204, (200, "00")),
        (401, (401, "01")),
        (403, (401, "01")),
        (400, (400, "30")),
        (404, (400, "30")),
        (405, (400, "30")),
        (413, (400, "30")),
        (415, (400, "30")),
        (422, (400, "30")),
        (408, (503, "96")),
        (429, (503, "96")),
        (500, (503, "96")),
        (502, (503, "96")),
        (503, (503, "96")),
        (504, (503, "96")),
        (302, (503, "96")),
        (100, (503, "96")),
        (0, (503, "96")),
        (999, (503, "96")),
    ],
)
def test_every_proposal_maps_to_a_row_of_the_guide(
    platform: AssastaPlatform, read_answer: Any, status: int, expected: tuple[int, str]
) -> None:
    """Each HTTP status the engine may propose becomes one of the guide's four rows."""
    answer = platform.answer(CallbackResult(status_code=status, detail="d"), CallbackRequest(body=b""))
    assert (answer.status_code, read_answer(answer)["response_code"]) == expected


@pytest.mark.parametrize(
    "value", ["<script>&amp;\"'</script>", "]]>", "a &lt; b", "</trx_id><response_code>00</response_code>", "Café ☕"]
)
def test_echoed_values_are_escaped(
    platform: AssastaPlatform, read_answer: Any, xml_of: Any, guide_fields: Any, value: str
) -> None:
    """Echoed values with markup characters come back as the same text, never as markup."""
    fields = [(t, value if t in ("trx_id", "bill_no") else v) for t, v in guide_fields]
    answer = platform.answer(CallbackResult(status_code=400), CallbackRequest(body=xml_of(fields)))
    parsed = read_answer(answer)
    assert parsed["trx_id"] == parsed["bill_no"] == value
    assert parsed["response_code"] == "30"


def test_latin1_values_are_echoed_in_utf8(
    platform: AssastaPlatform, read_answer: Any, xml_of: Any, guide_fields: Any
) -> None:
    """A bill_no read from an ISO-8859-1 document is echoed correctly in the UTF-8 answer."""
    fields = [(t, "BILL-Café" if t == "bill_no" else v) for t, v in guide_fields]
    answer = platform.answer(CallbackResult(status_code=401), CallbackRequest(body=xml_of(fields, "ISO-8859-1")))
    assert read_answer(answer)["bill_no"] == "BILL-Café"
    assert "BILL-Café".encode() in answer.body


def test_echoed_values_are_bounded(platform: AssastaPlatform, read_answer: Any, xml_of: Any) -> None:
    """An absurdly long identifier is echoed cut to 128 characters."""
    answer = platform.answer(CallbackResult(status_code=400), CallbackRequest(body=xml_of([("trx_id", "7" * 5000)])))
    assert read_answer(answer)["trx_id"] == "7" * 128


def test_first_occurrence_is_echoed(platform: AssastaPlatform, read_answer: Any, xml_of: Any) -> None:
    """When an identifier is repeated, the first one is echoed."""
    body = xml_of([("trx_id", "first"), ("trx_id", "second")])
    assert (
        read_answer(platform.answer(CallbackResult(status_code=400), CallbackRequest(body=body)))["trx_id"] == "first"
    )


def test_hostile_detail_cannot_break_the_answer(platform: AssastaPlatform, read_answer: Any) -> None:
    """A detail holding control characters and markup (a header echoed by the engine) still yields valid XML."""
    detail = "content type must be application/xml, got 'x\x00\x1b</response_desc><response_code>00'"
    answer = platform.answer(CallbackResult(status_code=415, detail=detail), CallbackRequest(body=b""))
    fields = read_answer(answer)
    assert fields["response_code"] == "30"
    assert "</response_desc><response_code>00" in fields["response_desc"]


def test_answer_is_the_guides_example_form(platform: AssastaPlatform, guide_example: bytes) -> None:
    """Apart from response_date, the accepted answer is the guide's example document."""
    body = platform.answer(CallbackResult(status_code=200), CallbackRequest(body=guide_example)).body
    root = ET.fromstring(body)
    root.find("response_date").text = "2024-08-01 10:15:31"  # type: ignore[union-attr]
    ET.indent(root, space="  ")
    expected = """<assasta>
  <response>Payment Notification</response>
  <trx_id>3183540500001172</trx_id>
  <merchant_id>31835</merchant_id>
  <bill_no>BILL0000001</bill_no>
  <response_code>00</response_code>
  <response_desc>Success</response_desc>
  <response_date>2024-08-01 10:15:31</response_date>
</assasta>"""
    assert ET.tostring(root, encoding="unicode") == expected
