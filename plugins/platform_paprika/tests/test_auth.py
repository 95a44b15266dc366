"""PaprikaPlatform.parse authentication: content type, headers, Client-Id, signature, clock window."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest

from notigate import CallbackRequest, SignatureError, UnsupportedMediaType
from notigate_platform_paprika._platform import PaprikaPlatform
from notigate_platform_paprika._signature import component_string, digest
from notigate_platform_paprika._signature import sign as plugin_sign

HEADERS = ("Client-Id", "Request-Id", "Request-Timestamp", "Signature")


def test_guide_digest_and_signature_are_reproduced(guide: Any, sign: Any) -> None:
    """The guide's formula, written independently, gives the guide's Digest and Signature."""
    assert base64.b64encode(hashlib.sha256(guide.body).digest()).decode() == guide.digest
    assert sign(guide.body) == guide.signature


def test_plugin_signer_matches_the_guide_example(guide: Any) -> None:
    """The plugin's digest and sign give the guide's values for the guide's inputs."""
    assert digest(guide.body) == guide.digest
    signature = plugin_sign(guide.secret, guide.client_id, guide.request_id, guide.timestamp, guide.target, guide.body)
    assert signature == guide.signature


def test_component_string_is_five_lines_without_trailing_newline(guide: Any) -> None:
    """The component string is the guide's five lines in order, joined by \\n."""
    text = component_string(guide.client_id, guide.request_id, guide.timestamp, guide.target, guide.body)
    assert text == (
        f"Client-Id:{guide.client_id}\nRequest-Id:{guide.request_id}\nRequest-Timestamp:{guide.timestamp}\n"
        f"Request-Target:{guide.target}\nDigest:{guide.digest}"
    )


async def test_guide_example_verifies_byte_for_byte(platform: PaprikaPlatform, guide_request: CallbackRequest) -> None:
    """The guide's exact request (body bytes and headers) is accepted at the guide's time."""
    [event] = await platform.parse(guide_request)
    assert event.key == "7d3f2a10-95c4-4e0b-a1de-3c2b9f8e6d21"


@pytest.mark.parametrize("offset", [0, 10, 100, 200, -2, -1])
async def test_one_tampered_byte_is_401(platform: PaprikaPlatform, guide: Any, offset: int) -> None:
    """Changing any single byte of the signed body breaks the signature."""
    body = bytearray(guide.body)
    body[offset] ^= 0x01
    request = CallbackRequest(body=bytes(body), headers=guide.headers)
    with pytest.raises(SignatureError, match="Signature does not match") as info:
        await platform.parse(request)
    assert info.value.status_code == 401


async def test_reserialized_body_is_401(platform: PaprikaPlatform, guide: Any) -> None:
    """The same JSON with other whitespace is other bytes: the digest covers what was received."""
    respaced = json.dumps(json.loads(guide.body)).encode()
    with pytest.raises(SignatureError):
        await platform.parse(CallbackRequest(body=respaced, headers=guide.headers))


async def test_wrong_secret_is_401(platform: PaprikaPlatform, signed: Any) -> None:
    """A request signed with another secret does not verify."""
    with pytest.raises(SignatureError, match="does not match"):
        await platform.parse(signed(secret="SK-PAP-OTHER-SECRET"))


async def test_platform_with_another_secret_rejects_the_guide(make_platform: Any, guide_request: Any) -> None:
    """A platform configured with another secret rejects the guide's example."""
    with pytest.raises(SignatureError):
        await make_platform(secret_key="SK-PAP-OTHER").parse(guide_request)


async def test_unknown_client_id_is_401(platform: PaprikaPlatform, signed: Any) -> None:
    """A Client-Id other than the configured one is a 401 naming it, even when signed with the secret."""
    with pytest.raises(SignatureError, match="unknown Client-Id 'MCH-PAP-9999'"):
        await platform.parse(signed(client_id="MCH-PAP-9999"))


@pytest.mark.parametrize(("minutes", "word"), [(-6, "stale"), (6, "future")])
async def test_timestamp_outside_the_window_is_401(
    platform: PaprikaPlatform, signed: Any, guide: Any, minutes: int, word: str
) -> None:
    """A correctly signed request 6 minutes before or after the gateway's clock is refused as a replay."""
    with pytest.raises(SignatureError, match=word) as info:
        await platform.parse(signed(timestamp=guide.now + timedelta(minutes=minutes)))
    assert "5m" in info.value.detail


@pytest.mark.parametrize(
    "delta",
    [
        timedelta(minutes=-5),
        timedelta(minutes=-4, seconds=-59),
        timedelta(0),
        timedelta(minutes=4, seconds=59),
        timedelta(minutes=5),
    ],
)
async def test_timestamp_inside_the_window_is_accepted(
    platform: PaprikaPlatform, signed: Any, guide: Any, delta: timedelta
) -> None:
    """Up to five minutes either side of the gateway's clock (inclusive) is accepted."""
    assert len(await platform.parse(signed(timestamp=guide.now + delta))) == 1


async def test_clock_skew_is_configurable(make_platform: Any, signed: Any, guide: Any) -> None:
    """max_clock_skew = "10m" accepts a request 6 minutes old and refuses one 11 minutes old."""
    platform = make_platform(max_clock_skew="10m")
    assert len(await platform.parse(signed(timestamp=guide.now - timedelta(minutes=6)))) == 1
    with pytest.raises(SignatureError, match="stale"):
        await platform.parse(signed(timestamp=guide.now - timedelta(minutes=11)))


async def test_window_follows_the_clock(make_platform: Any, guide_request: Any, guide: Any) -> None:
    """The guide's example is refused by a gateway whose clock reads an hour later (a replay)."""
    with pytest.raises(SignatureError, match="stale"):
        await make_platform(clock=guide.now + timedelta(hours=1)).parse(guide_request)


@pytest.mark.parametrize(
    "timestamp",
    [
        "2024-08-01 03:15:30",
        "2024-08-01T03:15:30",
        "2024-08-01T03:15:30+00:00",
        "2024-08-01T03:15:30z",
        "1722482130",
        "2024-02-30T03:15:30Z",
        "2024-08-01T24:00:00Z",
        "２０２４-08-01T03:15:30Z",
        "yesterday",
    ],
)
async def test_malformed_timestamp_is_401(platform: PaprikaPlatform, signed: Any, timestamp: str) -> None:
    """A signed Request-Timestamp that is not ISO 8601 UTC with Z cannot prove freshness: 401 saying so."""
    with pytest.raises(SignatureError, match="Request-Timestamp must be ISO 8601 UTC with Z"):
        await platform.parse(signed(timestamp=timestamp))


async def test_fractional_seconds_are_accepted(platform: PaprikaPlatform, signed: Any) -> None:
    """ISO 8601 with fractional seconds and Z is still a valid Request-Timestamp."""
    assert len(await platform.parse(signed(timestamp="2024-08-01T03:15:30.250Z"))) == 1


@pytest.mark.parametrize("header", HEADERS)
async def test_each_missing_header_is_401_naming_it(platform: PaprikaPlatform, signed: Any, header: str) -> None:
    """Without one of the four authentication headers the request is a 401 naming that header."""
    with pytest.raises(SignatureError, match=f"missing header: {header}$") as info:
        await platform.parse(signed(drop=(header,)))
    assert info.value.status_code == 401


@pytest.mark.parametrize("header", HEADERS)
async def test_empty_header_counts_as_missing(platform: PaprikaPlatform, guide: Any, header: str) -> None:
    """An empty authentication header is as good as none."""
    headers = {**guide.headers, header.lower(): ""}
    with pytest.raises(SignatureError, match=header):
        await platform.parse(CallbackRequest(body=guide.body, headers=headers))


async def test_all_missing_headers_are_named(platform: PaprikaPlatform, signed: Any) -> None:
    """A request with none of the headers names all four in one 401."""
    with pytest.raises(SignatureError, match="missing headers: Client-Id, Request-Id, Request-Timestamp, Signature"):
        await platform.parse(signed(drop=HEADERS))


@pytest.mark.parametrize(
    "signature",
    [
        "9R9bXXNcHbCDEQpff9GtBOq1beX3NMXu0R0DTsQ93J8=",
        "hmacsha256=9R9bXXNcHbCDEQpff9GtBOq1beX3NMXu0R0DTsQ93J8=",
        "HMACSHA256 9R9bXXNcHbCDEQpff9GtBOq1beX3NMXu0R0DTsQ93J8=",
    ],
)
async def test_signature_without_its_prefix_is_401(platform: PaprikaPlatform, guide: Any, signature: str) -> None:
    """The Signature header must start with HMACSHA256= exactly."""
    headers = {**guide.headers, "signature": signature}
    with pytest.raises(SignatureError, match="HMACSHA256="):
        await platform.parse(CallbackRequest(body=guide.body, headers=headers))


@pytest.mark.parametrize(
    "signature",
    [
        "HMACSHA256=",
        "HMACSHA256=9r9bXXNcHbCDEQpff9GtBOq1beX3NMXu0R0DTsQ93J8=",
        "HMACSHA256=9R9bXXNcHbCDEQpff9GtBOq1beX3NMXu0R0DTsQ93J8",
        "HMACSHA256=é\udc80",
        "HMACSHA256=" + "A" * 10_000,
    ],
)
async def test_wrong_signature_value_is_401(platform: PaprikaPlatform, guide: Any, signature: str) -> None:
    """Any other value after the prefix (case, padding, non-ASCII, length) is a mismatch, not a crash."""
    headers = {**guide.headers, "signature": signature}
    with pytest.raises(SignatureError, match="does not match"):
        await platform.parse(CallbackRequest(body=guide.body, headers=headers))


@pytest.mark.parametrize("header", ["request-id", "request-timestamp"])
async def test_changed_signed_header_is_401(platform: PaprikaPlatform, guide: Any, header: str) -> None:
    """Request-Id and Request-Timestamp are signed: changing either after signing is a 401."""
    changed = {"request-id": "00000000-0000-4000-8000-000000000000", "request-timestamp": "2024-08-01T03:15:31Z"}
    headers = {**guide.headers, header: changed[header]}
    with pytest.raises(SignatureError, match="does not match"):
        await platform.parse(CallbackRequest(body=guide.body, headers=headers))


async def test_request_target_is_the_public_path_not_the_app_path(make_platform: Any, signed: Any) -> None:
    """Behind a proxy that rewrites the path, the signature over the admin-set public path verifies."""
    platform = make_platform(public_path="/paprika/notify")
    request = signed(target="/paprika/notify", path="/api/v1/platforms/paprika/callbacks")
    assert len(await platform.parse(request)) == 1


async def test_request_signed_over_the_app_path_fails_behind_a_proxy(make_platform: Any, signed: Any) -> None:
    """When PAPRIKA calls /paprika/notify, a signature over the app's own path is not PAPRIKA's: 401 naming the public path."""
    platform = make_platform(public_path="/paprika/notify")
    request = signed(target="/api/v1/platforms/paprika/callbacks", path="/api/v1/platforms/paprika/callbacks")
    with pytest.raises(SignatureError, match="/paprika/notify"):
        await platform.parse(request)


async def test_default_public_path_ignores_request_path(platform: PaprikaPlatform, signed: Any) -> None:
    """With the default public path, whatever path the app saw does not enter the signature."""
    assert len(await platform.parse(signed(path="/internal/rewritten"))) == 1


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/jsonp", ""])
async def test_wrong_content_type_is_415(platform: PaprikaPlatform, signed: Any, content_type: str) -> None:
    """Anything but application/json is a 415 naming what was received."""
    with pytest.raises(UnsupportedMediaType, match="application/json") as info:
        await platform.parse(signed(content_type=content_type))
    assert info.value.status_code == 415
    assert (content_type or "none") in info.value.detail


async def test_content_type_is_checked_before_authentication(platform: PaprikaPlatform) -> None:
    """A form post without any PAPRIKA header is a 415, not a 401."""
    with pytest.raises(UnsupportedMediaType):
        await platform.parse(CallbackRequest(body=b"a=b", headers={"content-type": "text/plain"}))


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON"])
async def test_json_content_type_with_parameters_is_accepted(
    platform: PaprikaPlatform, signed: Any, content_type: str
) -> None:
    """application/json is accepted in any case and with parameters."""
    assert len(await platform.parse(signed(content_type=content_type))) == 1


async def test_garbage_body_with_a_bad_signature_is_401_not_400(platform: PaprikaPlatform, guide: Any) -> None:
    """Nothing in an unauthenticated body is looked at: a forgery learns nothing field by field."""
    with pytest.raises(SignatureError):
        await platform.parse(CallbackRequest(body=b"not json", headers=guide.headers))
