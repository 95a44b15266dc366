"""Property-based: whatever arrives, ArindoPlatform.parse returns events or raises one of the three input errors."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notigate import TAXONOMY, CallbackRequest, Event, PlatformInputError
from notigate_platform_arindo._platform import ArindoPlatform

KEY = "SB-Mid-server-EXAMPLE"
# The builders are stateless fixtures, so sharing them between examples is safe.
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FIELDS = [
    "transaction_id",
    "order_id",
    "merchant_id",
    "status_code",
    "transaction_status",
    "gross_amount",
    "transaction_time",
    "signature_key",
    "status_message",
    "payment_type",
    "currency",
    "fraud_status",
    "channel_response_code",
    "channel_response_message",
    "masked_card",
    "customer_details",
]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(
        ["deny", "202", "150000.00", "2024-08-01 10:15:30", "accept", "IDR", "4811111111111114", "budi@example.co.id"]
    )
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=40,
)
OBJECTS = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=12), st.text(max_size=30) | JSON, max_size=16)


def _sign(body: dict[str, Any]) -> dict[str, Any]:
    """Add the guide's signature_key (hex SHA512 of order_id + status_code + gross_amount + key) when computable."""
    fields = (body.get("order_id"), body.get("status_code"), body.get("gross_amount"))
    if all(isinstance(f, str) for f in fields):
        text = "".join(fields) + KEY  # type: ignore[arg-type]
        body["signature_key"] = hashlib.sha512(text.encode("utf-8", "surrogatepass")).hexdigest()
    return body


async def _parse_or_input_error(platform: ArindoPlatform, request: CallbackRequest) -> list[Event]:
    """Parse; a PlatformInputError (400, 401 or 415) counts as a clean rejection, anything else fails."""
    try:
        events = await platform.parse(request)
    except PlatformInputError as exc:  # SignatureError and UnsupportedMediaType are subclasses
        assert exc.status_code in (400, 401, 415) and exc.detail
        return []
    for event in events:
        assert event.code in TAXONOMY and event.occurred_at.utcoffset() is not None
        msgspec.json.encode(event)
    return events


@SETTINGS
@given(raw=st.binary(max_size=400), content_type=st.sampled_from(["application/json", "text/plain", ""]))
async def test_arbitrary_bytes_never_crash(platform: ArindoPlatform, raw: bytes, content_type: str) -> None:
    """Any byte string as the body is parsed or rejected with 400/401/415, never anything else."""
    await _parse_or_input_error(platform, CallbackRequest(body=raw, headers={"content-type": content_type}))


@SETTINGS
@given(body=OBJECTS)
async def test_arbitrary_signed_json_objects_never_crash(
    platform: ArindoPlatform, request_for: Any, body: dict[str, Any]
) -> None:
    """Any JSON object, signed with the key whenever its signed fields are strings, is parsed or a 400/401."""
    await _parse_or_input_error(platform, request_for(_sign(body)))


@SETTINGS
@given(field=st.sampled_from([f for f in FIELDS if f != "signature_key"]), value=JSON)
async def test_guide_example_with_one_field_replaced_never_crashes(
    platform: ArindoPlatform, request_for: Any, guide_example: bytes, field: str, value: Any
) -> None:
    """The guide's example with any one field replaced by any JSON value, re-signed, is parsed or a 400/401."""
    body = msgspec.json.decode(guide_example)
    body[field] = value
    await _parse_or_input_error(platform, request_for(_sign(body)))


async def test_deeply_nested_extra_field_is_a_clean_rejection_or_accepted(
    platform: ArindoPlatform, request_for: Any, signed: Any
) -> None:
    """A signed notification whose extra field nests 900 levels is parsed or a 400, never a RecursionError."""
    nested: Any = "x"
    for _ in range(900):
        nested = [nested]
    await _parse_or_input_error(platform, request_for(signed(extra=nested)))
