"""ASSASTA's XML answers: every callback gets one, whatever happened to it.

The guide's table has four rows, and ASSASTA retries anything but ``00``. The engine's
proposals map onto them like this (decided here where the guide is silent):

- accepted, a repeat included → 200 ``00``;
- 401 (unknown merchant, bad signature) and 403 → 401 ``01``;
- every other 4xx — malformed, incomplete, wrong content type (415), body over the
  size limit (413) — → 400 ``30``: the guide's "malformed" row, and the only client
  error status ASSASTA is documented to understand;
- 408, 429, 5xx (a crash of this plugin, the database down) and anything unexpected
  → 503 ``96``: "retry later", which is what ASSASTA's retries will do.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from notigate import CallbackAnswer, CallbackRequest, CallbackResult
from notigate_platform_assasta._xml import ECHOED, ROOT, echo, xml_safe

JAKARTA = ZoneInfo("Asia/Jakarta")
MEDIA_TYPE = "application/xml"
PROLOG = b'<?xml version="1.0" encoding="UTF-8"?>\n'
MAX_DESC = 200


class Outcome(NamedTuple):
    """One row of the guide's answer table."""

    status_code: int
    response_code: str
    response_desc: str


ACCEPTED = Outcome(200, "00", "Success")
UNAUTHORIZED = Outcome(401, "01", "Unknown merchant or invalid signature")
GATEWAY_FAILURE = Outcome(503, "96", "System malfunction, retry later")
_TRANSIENT = frozenset({408, 429})


def outcome(result: CallbackResult) -> Outcome:
    """The row of the guide's table for the engine's proposal."""
    status = result.status_code
    if result.accepted:
        return ACCEPTED
    if status in (401, 403):
        return UNAUTHORIZED
    if 400 <= status < 500 and status not in _TRANSIENT:
        detail = xml_safe(result.detail)[:MAX_DESC]
        return Outcome(400, "30", f"Format error: {detail}" if detail else "Format error")
    return GATEWAY_FAILURE


def xml_answer(result: CallbackResult, request: CallbackRequest, max_body_size: int) -> CallbackAnswer:
    """The answer document for ``result``, echoing what can be read of ``request``; never raises."""
    try:
        row = outcome(result)
        return CallbackAnswer(
            status_code=row.status_code, body=render(row, echo(request.body, max_body_size)), media_type=MEDIA_TYPE
        )
    except Exception:  # cannot happen by design; the answer must still be ASSASTA's form
        return CallbackAnswer(
            status_code=GATEWAY_FAILURE.status_code, body=render(GATEWAY_FAILURE, {}), media_type=MEDIA_TYPE
        )


def render(row: Outcome, echoed: dict[str, str]) -> bytes:
    """The guide's answer document, built as a tree so every echoed value is escaped."""
    root = ET.Element(ROOT)
    ET.SubElement(root, "response").text = "Payment Notification"
    for name in ECHOED:
        ET.SubElement(root, name).text = echoed.get(name, "")
    ET.SubElement(root, "response_code").text = row.response_code
    ET.SubElement(root, "response_desc").text = row.response_desc
    ET.SubElement(root, "response_date").text = datetime.now(JAKARTA).strftime("%Y-%m-%d %H:%M:%S")
    ET.indent(root, space="  ")
    return PROLOG + ET.tostring(root, encoding="unicode", short_empty_elements=False).encode("utf-8") + b"\n"
