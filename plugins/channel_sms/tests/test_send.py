"""Sending to a real Twilio-compatible API: the request it sees, and how its answers are classified."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from notigate import Delivered, Message, Outcome, PermanentFailure, TransientFailure
from notigate_channel_sms import SmsChannel
from notigate_channel_sms._channel import retry_after

from .conftest import ACCOUNT_SID, AUTH_TOKEN, PHONE, SENDER, Provider


async def send(channel: SmsChannel, message: Message) -> Outcome:
    """Render and send once, as the engine does for one attempt."""
    return await channel.send(message, channel.render(message))


async def test_delivered_with_sid(
    provider: Provider, channel: SmsChannel, make_message: Callable[..., Message]
) -> None:
    """201 is delivered with the provider's sid in the detail; the API saw the path, auth and form."""
    provider.script(dict(status=201, body={"sid": "SM0123456789abcdef0123456789abcdef", "status": "queued"}))
    message = make_message(text="Card declined — 150000.00 IDR")
    outcome = await send(channel, message)
    assert outcome == Delivered(detail="sid SM0123456789abcdef0123456789abcdef (queued)", status_code=201)
    (request,) = provider.requests
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request.auth == (ACCOUNT_SID, AUTH_TOKEN)
    assert request.content_type == "application/x-www-form-urlencoded"
    assert request.form == {"To": PHONE, "From": SENDER, "Body": "Card declined - 150000.00 IDR"}


async def test_other_2xx_with_sid(
    provider: Provider, channel: SmsChannel, make_message: Callable[..., Message]
) -> None:
    """A 200 that carries a sid is delivered too."""
    provider.script(dict(status=200, body={"sid": "SMabc", "status": "sent"}))
    assert await send(channel, make_message()) == Delivered(detail="sid SMabc (sent)", status_code=200)


async def test_2xx_without_sid(provider: Provider, channel: SmsChannel, make_message: Callable[..., Message]) -> None:
    """A 200 without a sid (not a Twilio-compatible API) is permanent rather than resent blindly."""
    provider.script(dict(status=200, body="<html>welcome</html>"))
    outcome = await send(channel, make_message())
    assert isinstance(outcome, PermanentFailure) and "base_url" in outcome.error


async def test_invalid_number_permanent(
    provider: Provider, channel: SmsChannel, make_message: Callable[..., Message]
) -> None:
    """400 with code 21211 is permanent, keeping the provider's code and message."""
    provider.script(
        dict(
            status=400,
            body={
                "code": 21211,
                "message": "The 'To' number is not a valid phone number.",
                "more_info": "https://www.twilio.com/docs/errors/21211",
                "status": 400,
            },
        )
    )
    outcome = await send(channel, make_message())
    assert outcome == PermanentFailure(error="21211: The 'To' number is not a valid phone number.", status_code=400)


async def test_rate_limited(provider: Provider, channel: SmsChannel, make_message: Callable[..., Message]) -> None:
    """429 with Retry-After: 2 is transient with retry_after 2 and the provider's code."""
    provider.script(
        dict(status=429, headers={"retry-after": "2"}, body={"code": 20429, "message": "Too Many Requests"})
    )
    outcome = await send(channel, make_message())
    assert outcome == TransientFailure(error="20429: Too Many Requests", status_code=429, retry_after=2.0)


async def test_unavailable_http_date(
    provider: Provider, channel: SmsChannel, make_message: Callable[..., Message]
) -> None:
    """503 with an HTTP-date Retry-After is transient with the seconds until then."""
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    provider.script(dict(status=503, headers={"retry-after": when}, body=""))
    outcome = await send(channel, make_message())
    assert isinstance(outcome, TransientFailure) and outcome.status_code == 503 and outcome.error == "HTTP 503"
    assert outcome.retry_after is not None and 28 <= outcome.retry_after <= 30


@pytest.mark.parametrize(
    ("status", "body"), [(500, {"code": 20500, "message": "Internal Server Error"}), (502, "bad gateway")]
)
async def test_server_errors_transient(
    status: int, body: Any, provider: Provider, channel: SmsChannel, make_message: Callable[..., Message]
) -> None:
    """Other 5xx are transient, without a retry_after even if the provider sends one."""
    provider.script(dict(status=status, body=body, headers={"retry-after": "7"}))
    outcome = await send(channel, make_message())
    assert isinstance(outcome, TransientFailure) and outcome.status_code == status and outcome.retry_after is None
    assert outcome.error in ("20500: Internal Server Error", "HTTP 502: bad gateway")


async def test_wrong_credentials(
    provider: Provider, make_channel: Callable[..., SmsChannel], make_message: Callable[..., Message]
) -> None:
    """401 for a wrong token is permanent, says what to check, and never contains the token."""
    token = "wrong-token-5f4e3d2c1b"
    channel = make_channel(base_url=provider.base_url, auth_token=token)
    outcome = await send(channel, make_message())
    assert isinstance(outcome, PermanentFailure) and outcome.status_code == 401
    assert outcome.error == "20003: Authenticate (check account_sid and auth_token)"
    assert provider.requests[0].auth == (ACCOUNT_SID, token)


@pytest.mark.parametrize("status", [400, 401, 429, 500])
async def test_errors_never_contain_the_token(
    status: int, provider: Provider, channel: SmsChannel, make_message: Callable[..., Message]
) -> None:
    """A provider that echoes the token back never gets it into an error."""
    provider.script(dict(status=status, body={"code": 1, "message": f"bad token {AUTH_TOKEN}"}))
    outcome = await send(channel, make_message())
    assert isinstance(outcome, TransientFailure | PermanentFailure)
    assert AUTH_TOKEN not in outcome.error and "[redacted]" in outcome.error


async def test_redirect_not_followed(
    provider: Provider, channel: SmsChannel, make_message: Callable[..., Message]
) -> None:
    """A 3xx is permanent and not followed, so credentials go nowhere else."""
    provider.script(dict(status=301, headers={"location": "https://elsewhere.example/"}, body=""))
    outcome = await send(channel, make_message())
    assert isinstance(outcome, PermanentFailure) and "check base_url" in outcome.error
    assert len(provider.requests) == 1


async def test_invalid_recipient_not_sent(
    provider: Provider, channel: SmsChannel, make_message: Callable[..., Message]
) -> None:
    """A recipient that is not E.164 fails permanently without a request."""
    outcome = await send(channel, make_message(address="081200000001"))
    assert isinstance(outcome, PermanentFailure) and "E.164" in outcome.error
    assert provider.requests == []


async def test_connection_refused(
    closed_port: int, make_channel: Callable[..., SmsChannel], make_message: Callable[..., Message]
) -> None:
    """A refused connection is transient, with an error that says so."""
    channel = make_channel(base_url=f"http://127.0.0.1:{closed_port}")
    outcome = await send(channel, make_message())
    assert isinstance(outcome, TransientFailure) and outcome.status_code is None
    assert outcome.error.startswith("connection failed: ConnectError")


async def test_slow_provider_times_out(
    provider: Provider, make_channel: Callable[..., SmsChannel], make_message: Callable[..., Message]
) -> None:
    """A provider slower than the timeout is transient, and the send returns soon after the timeout."""
    provider.script(dict(delay=5))
    channel = make_channel(base_url=provider.base_url, timeout="0.5s")
    started = time.monotonic()
    outcome = await send(channel, make_message())
    assert time.monotonic() - started < 1.2
    assert outcome == TransientFailure(error="no answer from the SMS provider within 0.5s")


async def test_sequential_sends_share_a_connection(
    provider: Provider, channel: SmsChannel, make_message: Callable[..., Message]
) -> None:
    """Sends one after another reuse one keep-alive connection."""
    for _ in range(5):
        assert isinstance(await send(channel, make_message()), Delivered)
    assert len({r.peer_port for r in provider.requests}) == 1


async def test_burst_bounded_by_max_connections(
    provider: Provider, make_channel: Callable[..., SmsChannel], make_message: Callable[..., Message]
) -> None:
    """20 concurrent sends reach the API over at most max_connections connections."""
    provider.script(dict(delay=0.05))
    channel = make_channel(base_url=provider.base_url, max_connections=4)
    outcomes = await asyncio.gather(*(send(channel, make_message(id=f"dlv_{i}")) for i in range(20)))
    assert all(isinstance(o, Delivered) for o in outcomes)
    assert len(provider.requests) == 20
    assert 1 <= len({r.peer_port for r in provider.requests}) <= 4


async def test_reopens_after_close_in_another_loop(
    provider: Provider, channel: SmsChannel, make_message: Callable[..., Message]
) -> None:
    """After aclose the channel sends again, from another event loop, on a fresh pool."""
    assert isinstance(await send(channel, make_message()), Delivered)
    await channel.aclose()

    def other_loop() -> Outcome:
        async def run() -> Outcome:
            try:
                return await send(channel, make_message())
            finally:
                await channel.aclose()

        return asyncio.run(run())

    assert isinstance(await asyncio.to_thread(other_loop), Delivered)
    assert len(provider.requests) == 2 and provider.requests[0].peer_port != provider.requests[1].peer_port


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        (" 120 ", 120.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ],
)
def test_retry_after_parsing(value: str | None, expected: float | None) -> None:
    """Retry-After: delta seconds as given, past dates clamp to 0, anything invalid is None."""
    assert retry_after(value) == expected
