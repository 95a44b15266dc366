"""ArindoPlatform.sample_request: signed samples that parse back to the asked code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from notigate import TAXONOMY, SignatureError
from notigate_platform_arindo._config import ArindoConfig
from notigate_platform_arindo._platform import ArindoPlatform

UNREPORTABLE = {"payment_refunded", "payment_reversed"}
SUPPORTED = sorted(set(TAXONOMY) - UNREPORTABLE)


@pytest.mark.parametrize("code", SUPPORTED)
async def test_sample_round_trips_through_parse(platform: ArindoPlatform, code: str) -> None:
    """A sample for each supported code parses back to that code."""
    [event] = await platform.parse(platform.sample_request(code))
    assert event.code == code


async def test_default_sample_is_card_declined(platform: ArindoPlatform) -> None:
    """Without a code the sample is the representative error, card_declined."""
    request = platform.sample_request()
    assert request.headers == {"content-type": "application/json"}
    [event] = await platform.parse(request)
    assert event.code == "card_declined"


@pytest.mark.parametrize("code", [*sorted(UNREPORTABLE), "no_such_code"])
def test_unreportable_code_raises_value_error_listing_supported(platform: ArindoPlatform, code: str) -> None:
    """A code the table cannot produce is a ValueError that lists every supported code."""
    with pytest.raises(ValueError, match=code) as info:
        platform.sample_request(code)
    for supported in SUPPORTED:
        assert supported in str(info.value)


async def test_sample_is_fresh_and_current(platform: ArindoPlatform) -> None:
    """Each sample has a new UUID transaction_id and the current Asia/Jakarta time."""
    first, second = platform.sample_request(), platform.sample_request()
    a, b = msgspec.json.decode(first.body), msgspec.json.decode(second.body)
    assert a["transaction_id"] != b["transaction_id"] and len(a["transaction_id"]) == 36
    [event] = await platform.parse(first)
    assert abs(event.occurred_at - datetime.now(UTC)) < timedelta(minutes=1)


async def test_sample_is_signed_with_the_configured_key(request_for: Any) -> None:
    """A sample signed with one key is rejected by a platform configured with another."""
    mine = ArindoPlatform(ArindoConfig(server_key="SB-Mid-server-MINE"))
    other = ArindoPlatform(ArindoConfig(server_key="SB-Mid-server-OTHER"))
    request = mine.sample_request("payment_succeeded")
    assert len(await mine.parse(request)) == 1
    with pytest.raises(SignatureError):
        await other.parse(request)
