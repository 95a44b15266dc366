"""Property-based: whatever arrives, parse returns events or raises one of the three input errors."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notigate import TAXONOMY, CallbackRequest, Event, PlatformInputError
from notigate_platform_paprika._platform import PaprikaPlatform

# The builders are stateless fixtures, so sharing them between examples is safe.
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FIELDS = [
    "order",
    "transaction",
    "error",
    "card_payment",
    "customer",
    "service",
    "acquirer",
    "channel",
    "invoice_number",
    "amount",
    "currency",
    "status",
    "date",
    "code",
    "message",
    "response_code",
    "virtual_account_info",
    "email",
    "phone",
    "masked_card_number",
    "request_id",
]
KEYS = st.sampled_from(FIELDS) | st.text(max_size=12)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(
        ["SUCCESS", "FAILED", "EXPIRED", "CC_DECLINED", "IDR", "2024-08-01T03:15:29Z", "4111111111111111"]
    )
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(KEYS, children, max_size=6),
    max_leaves=40,
)


async def _parse_or_input_error(platform: PaprikaPlatform, request: Any) -> list[Event]:
    """Parse; a PlatformInputError (400, 401 or 415) counts as a clean rejection, anything else fails."""
    try:
        events = await platform.parse(request)
    except PlatformInputError as exc:  # SignatureError and UnsupportedMediaType are subclasses
        assert exc.status_code in (400, 401, 415) and exc.detail
        return []
    for event in events:
        assert event.code in TAXONOMY and event.occurred_at.utcoffset() is not None
        assert len(event.platform_code) <= 128 and event.reference and len(event.reference) <= 128
        assert event.currency is not None and len(event.currency) == 3
        msgspec.json.encode(event)
    return events


@SETTINGS
@given(raw=st.binary(max_size=400))
async def test_arbitrary_signed_bytes_never_crash(platform: PaprikaPlatform, signed: Any, raw: bytes) -> None:
    """Any byte string, correctly signed, is parsed or rejected with 400/401/415, never anything else."""
    await _parse_or_input_error(platform, signed(raw))


@SETTINGS
@given(
    raw=st.binary(max_size=200),
    headers=st.dictionaries(
        st.sampled_from(["content-type", "client-id", "request-id", "request-timestamp", "signature"]),
        st.text(max_size=60)
        | st.sampled_from(
            [
                "application/json",
                "MCH-PAP-0001",
                "2024-08-01T03:15:30Z",
                "HMACSHA256=",
                "HMACSHA256=9R9bXXNcHbCDEQpff9GtBOq1beX3NMXu0R0DTsQ93J8=",
            ]
        ),
    ),
)
async def test_arbitrary_headers_never_crash(platform: PaprikaPlatform, raw: bytes, headers: dict[str, str]) -> None:
    """Any header values with any body are rejected with 400/401/415 (or parsed), never a crash."""
    await _parse_or_input_error(platform, CallbackRequest(body=raw, headers=headers))


@SETTINGS
@given(value=JSON)
async def test_arbitrary_signed_json_never_crashes(platform: PaprikaPlatform, signed: Any, value: Any) -> None:
    """Any JSON value, correctly signed, is parsed or rejected with a 400, never anything else."""
    await _parse_or_input_error(platform, signed(msgspec.json.encode(value)))


@SETTINGS
@given(data=st.data())
async def test_guide_body_with_one_field_replaced_never_crashes(
    platform: PaprikaPlatform, signed: Any, body: Any, data: st.DataObject
) -> None:
    """The guide's body with any one field, at any depth, replaced by any JSON value is parsed or a 400."""
    document = body()
    parent: dict[str, Any] = document
    while True:
        key = data.draw(st.sampled_from(sorted(parent)))
        child = parent[key]
        if not isinstance(child, dict) or not child or data.draw(st.booleans()):
            break
        parent = child
    parent[key] = data.draw(JSON)
    await _parse_or_input_error(platform, signed(document))
