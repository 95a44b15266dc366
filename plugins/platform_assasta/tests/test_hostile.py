"""Hostile XML: entity expansion, external entities, DTDs and huge bodies are refused cheaply."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from notigate import CallbackRequest, CallbackResult, PlatformInputError
from notigate_platform_assasta._platform import AssastaPlatform

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE assasta [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<assasta><trx_id>&lol9;</trx_id><merchant_id>31835</merchant_id><bill_no>&lol9;</bill_no></assasta>"""

PASSWD = Path("/etc/passwd")
XXE_INTERNAL_SUBSET = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE assasta [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<assasta><trx_id>&xxe;</trx_id><merchant_id>31835</merchant_id><merchant>&xxe;</merchant><bill_no>&xxe;</bill_no></assasta>"""
XXE_EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE assasta SYSTEM "file:///etc/passwd">
<assasta><trx_id>1</trx_id></assasta>"""
XXE_PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE assasta [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>
<assasta><trx_id>1</trx_id></assasta>"""
PLAIN_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE assasta [<!ELEMENT assasta ANY>]>
<assasta><trx_id>1</trx_id></assasta>"""
PUBLIC_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE assasta PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://127.0.0.1:9/x.dtd">
<assasta><trx_id>1</trx_id></assasta>"""

HOSTILE = {
    "billion-laughs": BILLION_LAUGHS,
    "xxe-internal-subset": XXE_INTERNAL_SUBSET,
    "xxe-external-dtd": XXE_EXTERNAL_DTD,
    "xxe-parameter-entity": XXE_PARAMETER_ENTITY,
    "plain-dtd": PLAIN_DTD,
    "public-dtd": PUBLIC_DTD,
}


def _secret_lines() -> list[str]:
    """Distinctive lines of /etc/passwd (skipped where the file does not exist)."""
    if not PASSWD.exists():
        pytest.skip("no /etc/passwd on this machine")
    return [line for line in PASSWD.read_text(errors="replace").splitlines() if len(line) > 8]


@pytest.mark.parametrize("body", HOSTILE.values(), ids=HOSTILE.keys())
async def test_dtds_and_entities_are_refused_as_400(
    platform: AssastaPlatform, request_for: Any, read_answer: Any, body: bytes
) -> None:
    """Any DTD (and so every entity declaration) is a 400, and the answer is 400/30 with nothing echoed."""
    started = time.perf_counter()
    with pytest.raises(PlatformInputError, match="DTD") as info:
        await platform.parse(request_for(body))
    assert type(info.value) is PlatformInputError and info.value.status_code == 400
    answer = platform.answer(CallbackResult(status_code=400, detail=info.value.detail), request_for(body))
    assert time.perf_counter() - started < 1.0
    fields = read_answer(answer)
    assert (answer.status_code, fields["response_code"]) == (400, "30")
    assert fields["trx_id"] == fields["merchant_id"] == fields["bill_no"] == ""
    assert b"lol" not in answer.body


@pytest.mark.parametrize("body", [XXE_INTERNAL_SUBSET, XXE_EXTERNAL_DTD, XXE_PARAMETER_ENTITY])
async def test_local_file_never_leaks(platform: AssastaPlatform, request_for: Any, body: bytes) -> None:
    """The content of /etc/passwd appears nowhere: not in the exception, its chain, or any answer."""
    secrets = _secret_lines()
    with pytest.raises(PlatformInputError) as info:
        await platform.parse(request_for(body))
    texts = [str(info.value), info.value.detail, repr(info.value.__cause__), repr(info.value.__context__)]
    for status in (200, 400, 401, 500, 503):
        texts.append(
            platform.answer(
                CallbackResult(status_code=status, detail=info.value.detail), request_for(body)
            ).body.decode()
        )
    for line in secrets:
        assert not any(line in text for text in texts)
    assert not any("root:" in text for text in texts)


@pytest.mark.parametrize("size", [20 * 1024 * 1024, 65537])
async def test_huge_body_is_refused_fast_without_parsing(
    platform: AssastaPlatform, request_for: Any, read_answer: Any, size: int
) -> None:
    """A body over max_body_size (20 MB of valid-looking XML too) is a 400 within a second, using little memory."""
    body = b"<assasta><trx_id>" + b"1" * (size - 36) + b"</trx_id></assasta>"
    assert len(body) == size
    request = request_for(body)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(PlatformInputError, match="at most 65536 bytes"):
            await platform.parse(request)
        answer = platform.answer(CallbackResult(status_code=400, detail="too large"), request)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 1024 * 1024
    fields = read_answer(answer)
    assert (answer.status_code, fields["response_code"], fields["trx_id"]) == (400, "30", "")


@pytest.mark.parametrize("cut", [1, 10, 100, 300, -30, -1])
async def test_truncated_document_is_400(
    platform: AssastaPlatform, request_for: Any, read_answer: Any, guide_example: bytes, cut: int
) -> None:
    """The guide's example cut anywhere is a 400, answered 400/30 with empty elements."""
    body = guide_example[:cut]
    with pytest.raises(PlatformInputError) as info:
        await platform.parse(request_for(body))
    answer = platform.answer(CallbackResult(status_code=400, detail=info.value.detail), request_for(body))
    fields = read_answer(answer)
    assert (answer.status_code, fields["response_code"]) == (400, "30")
    assert fields["trx_id"] == fields["merchant_id"] == fields["bill_no"] == ""


async def test_wrong_root_is_400(
    platform: AssastaPlatform, request_for: Any, read_answer: Any, guide_example: bytes
) -> None:
    """The guide's elements under another root are a 400, answered 400/30 without echoing them."""
    body = guide_example.replace(b"<assasta>", b"<payment>").replace(b"</assasta>", b"</payment>")
    with pytest.raises(PlatformInputError, match="root element must be <assasta>, got <payment>"):
        await platform.parse(request_for(body))
    answer = platform.answer(CallbackResult(status_code=400, detail="x"), request_for(body))
    fields = read_answer(answer)
    assert (answer.status_code, fields["response_code"], fields["trx_id"]) == (400, "30", "")


async def test_deep_nesting_is_harmless(platform: AssastaPlatform, request_for: Any) -> None:
    """60 KB of nested elements parses (or not) quickly, without a RecursionError."""
    body = b"<assasta>" + b"<a>" * 8000 + b"</a>" * 8000 + b"</assasta>"
    started = time.perf_counter()
    with pytest.raises(PlatformInputError, match="missing elements"):
        await platform.parse(request_for(body))
    platform.answer(CallbackResult(status_code=400), CallbackRequest(body=body))
    assert time.perf_counter() - started < 1.0


async def test_xinclude_is_not_processed(platform: AssastaPlatform, request_for: Any, document: Any) -> None:
    """An XInclude element is just an unknown, empty element: no file is read."""
    secrets = _secret_lines()
    body = document().replace(
        b"</assasta>",
        b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="/etc/passwd" parse="text"/></assasta>',
    )
    [event] = await platform.parse(request_for(body))
    assert event.metadata["{http://www.w3.org/2001/XInclude}include"] == ""
    assert not any(line in repr(event) for line in secrets)
