"""PaprikaPlatform.sample_request: signed samples that parse back to the asked code."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
import pytest

from notigate import TAXONOMY, SignatureError
from notigate_platform_paprika._config import PaprikaConfig
from notigate_platform_paprika._platform import PaprikaPlatform

UNREPORTABLE = {"payment_cancelled", "payment_reversed"}
SUPPORTED = sorted(set(TAXONOMY) - UNREPORTABLE)


@pytest.mark.parametrize("code", SUPPORTED)
async def test_sample_round_trips_through_parse(platform: PaprikaPlatform, code: str) -> None:
    """A sample for each supported code parses back to that code."""
    [event] = await platform.parse(platform.sample_request(code))
    assert event.code == code


@pytest.mark.parametrize("code", SUPPORTED)
async def test_sample_round_trips_on_the_real_clock(code: str) -> None:
    """Built as the engine builds it (real clock), every sample is inside the clock window."""
    platform = PaprikaPlatform(PaprikaConfig(client_id="MCH-PAP-0001", secret_key="SK-PAP-EXAMPLE-SECRET"))
    [event] = await platform.parse(platform.sample_request(code))
    assert event.code == code


async def test_default_sample_is_card_declined(platform: PaprikaPlatform) -> None:
    """Without a code the sample is the representative error, card_declined, with the guide's headers."""
    request = platform.sample_request()
    assert set(request.headers) == {"content-type", "client-id", "request-id", "request-timestamp", "signature"}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["client-id"] == "MCH-PAP-0001"
    assert request.path == "/api/v1/platforms/paprika/callbacks"
    [event] = await platform.parse(request)
    assert event.code == "card_declined"


async def test_sample_signature_verifies_independently(platform: PaprikaPlatform, sign: Any) -> None:
    """The sample's Signature is what the guide's formula gives for its headers and body."""
    request = platform.sample_request("payment_succeeded")
    h = request.headers
    assert h["signature"] == sign(request.body, request_id=h["request-id"], timestamp=h["request-timestamp"])


@pytest.mark.parametrize("code", [*sorted(UNREPORTABLE), "no_such_code"])
def test_unreportable_code_raises_value_error_listing_supported(platform: PaprikaPlatform, code: str) -> None:
    """A code PAPRIKA cannot produce is a ValueError that lists every supported code."""
    with pytest.raises(ValueError, match=code) as info:
        platform.sample_request(code)
    for supported in SUPPORTED:
        assert supported in str(info.value)


def test_sample_is_fresh_and_current(make_platform: Any, guide: Any) -> None:
    """Each sample has a new UUID Request-Id and the clock's time as Request-Timestamp."""
    platform = make_platform(clock=guide.now + timedelta(days=3, seconds=7))
    first, second = platform.sample_request(), platform.sample_request()
    assert first.headers["request-id"] != second.headers["request-id"]
    assert len(first.headers["request-id"]) == 36
    assert first.headers["request-timestamp"] == "2024-08-04T03:15:37Z"
    assert msgspec.json.decode(first.body)["transaction"]["date"] == "2024-08-04T03:15:37Z"


async def test_sample_is_signed_with_the_configured_secret(make_platform: Any) -> None:
    """A sample signed with one secret is rejected by a platform configured with another."""
    mine, other = make_platform(secret_key="SK-MINE"), make_platform(secret_key="SK-OTHER")
    request = mine.sample_request("payment_succeeded")
    assert len(await mine.parse(request)) == 1
    with pytest.raises(SignatureError):
        await other.parse(request)


async def test_sample_targets_the_public_path(make_platform: Any) -> None:
    """With an admin-set public path, the sample is addressed to and signed over it."""
    platform = make_platform(public_path="/paprika/notify")
    request = platform.sample_request()
    assert request.path == "/paprika/notify"
    assert len(await platform.parse(request)) == 1
    with pytest.raises(SignatureError):
        await make_platform().parse(request)
