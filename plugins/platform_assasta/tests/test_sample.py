"""AssastaPlatform.sample_request: signed samples that parse back to the asked code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import defusedxml.ElementTree as safe_et
import pytest

from notigate import TAXONOMY, SignatureError, convert
from notigate_platform_assasta._config import AssastaConfig
from notigate_platform_assasta._platform import AssastaPlatform

UNREPORTABLE = {"payment_refunded", "fraud_review", "invalid_card", "authentication_failed", "refund_failed"}
SUPPORTED = sorted(set(TAXONOMY) - UNREPORTABLE)


def platform_with(merchants: dict[str, tuple[str, str]]) -> AssastaPlatform:
    section = {"merchants": {m: {"user_id": u, "password": p} for m, (u, p) in merchants.items()}}
    return AssastaPlatform(convert(section, AssastaConfig, "platforms.assasta"))


@pytest.mark.parametrize("code", SUPPORTED)
async def test_sample_round_trips_through_parse(platform: AssastaPlatform, code: str) -> None:
    """A sample for each code the tables can produce parses back to that code."""
    [event] = await platform.parse(platform.sample_request(code))
    assert event.code == code


async def test_default_sample_is_insufficient_funds_for_31835(platform: AssastaPlatform) -> None:
    """Without a code the sample is the guide's case: insufficient_funds (3/E051) for merchant 31835, IDR 150000.00."""
    request = platform.sample_request()
    assert request.headers == {"content-type": "application/xml"}
    assert request.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<assasta>')
    [event] = await platform.parse(request)
    assert (event.code, event.platform_code, event.merchant_id) == ("insufficient_funds", "3/E051", "31835")
    assert str(event.amount) == "150000.00"


@pytest.mark.parametrize("code", [*sorted(UNREPORTABLE), "no_such_code"])
def test_unreportable_code_raises_value_error_listing_supported(platform: AssastaPlatform, code: str) -> None:
    """A code the tables cannot produce is a ValueError that lists every supported code."""
    with pytest.raises(ValueError, match=code) as info:
        platform.sample_request(code)
    for supported in SUPPORTED:
        assert supported in str(info.value)


async def test_sample_is_fresh_and_current(platform: AssastaPlatform) -> None:
    """Each sample has a new trx_id and bill_no, and the current Asia/Jakarta time."""
    first, second = platform.sample_request(), platform.sample_request()
    a, b = safe_et.fromstring(first.body), safe_et.fromstring(second.body)
    assert a.findtext("trx_id") != b.findtext("trx_id") and a.findtext("bill_no") != b.findtext("bill_no")
    [event] = await platform.parse(first)
    assert abs(event.occurred_at - datetime.now(UTC)) < timedelta(minutes=1)


async def test_sample_uses_the_first_merchant_when_31835_is_not_configured() -> None:
    """Without merchant 31835 the sample is signed for the first configured merchant."""
    platform = platform_with({"50001": ("u5", "p5"), "60001": ("u6", "p6")})
    [event] = await platform.parse(platform.sample_request("payment_succeeded"))
    assert event.merchant_id == "50001"


async def test_sample_is_signed_with_the_configured_credentials(request_for: Any) -> None:
    """A sample signed with one password is rejected by a gateway that has another for the same merchant."""
    mine = platform_with({"31835": ("bot31835", "mine")})
    other = platform_with({"31835": ("bot31835", "other")})
    request = mine.sample_request("payment_succeeded")
    assert len(await mine.parse(request)) == 1
    with pytest.raises(SignatureError):
        await other.parse(request)
