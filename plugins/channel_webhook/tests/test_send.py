"""Sending to a real HTTP subscriber: signatures, idempotency keys, and how answers are classified."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from types import SimpleNamespace
from typing import Any

import pytest
from standardwebhooks.webhooks import WebhookVerificationError

from notigate import Delivered, Message, Outcome, PermanentFailure, TransientFailure
from notigate_channel_webhook import WebhookChannel, _channel
from notigate_channel_webhook._channel import retry_after


async def send(channel: WebhookChannel, message: Message) -> Outcome:
    """Render and send once, as the engine does for one attempt."""
    return await channel.send(message, channel.render(message))


@pytest.mark.parametrize("status", [200, 202, 204])
async def test_delivered_on_2xx(
    status: int, receiver: Any, channel: WebhookChannel, make_message: Callable[..., Message]
) -> None:
    """Any 2xx is delivered, and the subscriber verifies the signed body with standardwebhooks."""
    receiver.script(dict(status=status))
    outcome = await send(channel, make_message(receiver.url))
    assert outcome == Delivered(detail=f"HTTP {status}", status_code=status)
    (request,) = receiver.requests
    payload = receiver.verify(request)
    assert payload["type"] == "payment.card_declined"
    assert payload["data"]["amount"] == "150000.00"
    assert "status" not in payload["data"]
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "Notigate-Webhooks/0.1"
    assert request.headers["webhook-id"] == "dlv_01JNB6X4T2"


async def test_user_agent_configurable(
    receiver: Any, make_channel: Callable[..., WebhookChannel], make_message: Callable[..., Message]
) -> None:
    """The configured user_agent is what subscribers see."""
    await send(make_channel(user_agent="Acme-Gateway/2"), make_message(receiver.url))
    assert receiver.requests[0].headers["user-agent"] == "Acme-Gateway/2"


async def test_same_id_fresh_signature(
    receiver: Any, channel: WebhookChannel, make_message: Callable[..., Message], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every send of one message carries the same webhook-id, with a fresh timestamp and signature."""
    clock = iter([time.time() - 3, time.time()])
    monkeypatch.setattr(_channel, "time", SimpleNamespace(time=lambda: next(clock)))
    message = make_message(receiver.url)
    rendered = channel.render(message)
    assert isinstance(await channel.send(message, rendered), Delivered)
    assert isinstance(await channel.send(message, rendered), Delivered)
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == message.id
    assert first.headers["webhook-timestamp"] != second.headers["webhook-timestamp"]
    assert first.headers["webhook-signature"] != second.headers["webhook-signature"]
    assert receiver.verify(first) == receiver.verify(second)


async def test_retry_after_transient_is_delivered(
    receiver: Any, channel: WebhookChannel, make_message: Callable[..., Message]
) -> None:
    """A send repeated after a 503 is delivered, and the subscriber sees one webhook-id to deduplicate."""
    receiver.script(dict(status=503), dict(status=200))
    message = make_message(receiver.url)
    assert isinstance(await send(channel, message), TransientFailure)
    assert isinstance(await send(channel, message), Delivered)
    assert {r.headers["webhook-id"] for r in receiver.requests} == {message.id}


async def test_tampered_body_fails_verification(
    receiver: Any, channel: WebhookChannel, make_message: Callable[..., Message]
) -> None:
    """The test verifier can fail: a body changed in transit does not verify."""
    await send(channel, make_message(receiver.url))
    (request,) = receiver.requests
    with pytest.raises(WebhookVerificationError):
        receiver.verify(request, body=request.body.replace("150000.00", "1500000.00"))


async def test_connection_reused(receiver: Any, channel: WebhookChannel, make_message: Callable[..., Message]) -> None:
    """Sends share one pooled keep-alive connection instead of a handshake each."""
    for _ in range(3):
        await send(channel, make_message(receiver.url))
    assert len({r.peer_port for r in receiver.requests}) == 1


@pytest.mark.parametrize(
    ("reply", "kind", "words"),
    [
        (dict(status=500, body="database down"), TransientFailure, "HTTP 500: database down"),
        (dict(status=502), TransientFailure, "HTTP 502"),
        (dict(status=408), TransientFailure, "HTTP 408"),
        (dict(status=503), TransientFailure, "HTTP 503"),
        (dict(status=410), PermanentFailure, "gone"),
        (dict(status=400, body='{"error":"bad payload"}'), PermanentFailure, 'HTTP 400: {"error":"bad payload"}'),
        (dict(status=404), PermanentFailure, "HTTP 404"),
        (
            dict(status=301, headers={"location": "https://new.example.com/hooks"}),
            PermanentFailure,
            "https://new.example.com/hooks",
        ),
        (dict(status=307, headers={"location": "/elsewhere"}), PermanentFailure, "/elsewhere"),
    ],
)
async def test_classification(
    reply: dict[str, Any],
    kind: type,
    words: str,
    receiver: Any,
    channel: WebhookChannel,
    make_message: Callable[..., Message],
) -> None:
    """408, 429 and 5xx are transient; 3xx (not followed), 410 and other 4xx are permanent."""
    receiver.script(reply)
    outcome = await send(channel, make_message(receiver.url))
    assert type(outcome) is kind
    assert outcome.status_code == reply["status"]
    assert words in outcome.error
    assert len(receiver.requests) == 1  # a redirect is not followed


async def test_retry_after_seconds(
    receiver: Any, channel: WebhookChannel, make_message: Callable[..., Message]
) -> None:
    """503 with Retry-After: 7 is transient with retry_after 7."""
    receiver.script(dict(status=503, headers={"retry-after": "7"}))
    outcome = await send(channel, make_message(receiver.url))
    assert isinstance(outcome, TransientFailure) and outcome.retry_after == 7


async def test_retry_after_http_date(
    receiver: Any, channel: WebhookChannel, make_message: Callable[..., Message]
) -> None:
    """429 with an HTTP-date Retry-After is transient with retry_after the seconds until then."""
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    receiver.script(dict(status=429, headers={"retry-after": when}))
    outcome = await send(channel, make_message(receiver.url))
    assert isinstance(outcome, TransientFailure) and outcome.status_code == 429
    assert outcome.retry_after is not None and 28 <= outcome.retry_after <= 30


async def test_retry_after_only_for_429_and_503(
    receiver: Any, channel: WebhookChannel, make_message: Callable[..., Message]
) -> None:
    """A Retry-After on a 500 is not taken as the subscriber's schedule."""
    receiver.script(dict(status=500, headers={"retry-after": "7"}))
    outcome = await send(channel, make_message(receiver.url))
    assert isinstance(outcome, TransientFailure) and outcome.retry_after is None


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


async def test_connection_refused(
    closed_port: int, channel: WebhookChannel, make_message: Callable[..., Message]
) -> None:
    """A refused connection is transient, with an error that says so."""
    outcome = await send(channel, make_message(f"http://127.0.0.1:{closed_port}/hooks"))
    assert isinstance(outcome, TransientFailure) and outcome.status_code is None
    assert outcome.error.startswith("connection failed: ConnectError")


async def test_slow_subscriber_times_out(
    receiver: Any, make_channel: Callable[..., WebhookChannel], make_message: Callable[..., Message]
) -> None:
    """A subscriber slower than the timeout is transient, and the send returns soon after the timeout."""
    receiver.script(dict(delay=5))
    channel = make_channel(timeout="0.5s")
    started = time.monotonic()
    outcome = await send(channel, make_message(receiver.url))
    assert time.monotonic() - started < 1.2
    assert isinstance(outcome, TransientFailure)
    assert outcome.error == "timed out waiting for the endpoint (timeout 0.5s)"


@pytest.mark.parametrize(("status", "kind"), [(200, Delivered), (500, TransientFailure)])
async def test_trickling_answer_bounded(
    status: int,
    kind: type,
    receiver: Any,
    make_channel: Callable[..., WebhookChannel],
    make_message: Callable[..., Message],
) -> None:
    """A body trickled byte by byte cannot hold a send past connect_timeout + timeout; the status decides."""
    receiver.script(dict(status=status, body="upstream is overloaded", trickle=0.1))
    channel = make_channel(timeout="0.4s", connect_timeout="0.4s")
    started = time.monotonic()
    outcome = await send(channel, make_message(receiver.url))
    assert time.monotonic() - started < 1.3
    assert type(outcome) is kind and outcome.status_code == status
    if isinstance(outcome, TransientFailure):
        assert outcome.error.startswith("HTTP 500: upstr") and not outcome.error.endswith("overloaded")


@pytest.mark.parametrize(
    "address",
    [
        "ftp://merchant.example.com/hooks",
        "merchant.example.com/hooks",
        "",
        "http:///hooks",
        "http://[::1/hooks",
        "http://127.0.0.1:99999/hooks",
        "https://merchant.example.com:0/hooks?token=s3cr3t",
    ],
)
async def test_unusable_address(address: str, channel: WebhookChannel, make_message: Callable[..., Message]) -> None:
    """An address that is not a usable http(s) URL is permanent, and the error does not quote it."""
    outcome = await send(channel, make_message(address))
    assert isinstance(outcome, PermanentFailure) and outcome.error.startswith("cannot send to this address: ")
    assert "s3cr3t" not in outcome.error


async def test_no_secret(receiver: Any, channel: WebhookChannel, make_message: Callable[..., Message]) -> None:
    """An endpoint without a signing secret fails permanently, and nothing unsigned is sent."""
    outcome = await send(channel, make_message(receiver.url, secret=None))
    assert outcome == PermanentFailure(error="endpoint has no signing secret")
    assert receiver.requests == []


async def test_invalid_secret(receiver: Any, channel: WebhookChannel, make_message: Callable[..., Message]) -> None:
    """A secret that is not base64 fails permanently without being quoted, and nothing is sent."""
    outcome = await send(channel, make_message(receiver.url, secret="whsec_not*base64!"))
    assert isinstance(outcome, PermanentFailure) and "not*base64" not in outcome.error
    assert receiver.requests == []


async def test_body_snippet_bounded(
    receiver: Any, channel: WebhookChannel, make_message: Callable[..., Message]
) -> None:
    """An error quotes at most the first 200 characters of the subscriber's answer."""
    receiver.script(dict(status=400, body="x" * 100_000))
    outcome = await send(channel, make_message(receiver.url))
    assert isinstance(outcome, PermanentFailure)
    assert outcome.error == "HTTP 400: " + "x" * 200


@pytest.mark.parametrize("status", [301, 400, 429, 500])
async def test_errors_never_contain_secrets(
    status: int, receiver: Any, channel: WebhookChannel, make_message: Callable[..., Message]
) -> None:
    """A subscriber that echoes the secret and signature back never gets them into an error."""
    message = make_message(receiver.url)
    receiver.script(dict(status=status, echo=True, headers={"location": "https://x.example/?sig={signature}"}))
    outcome = await send(channel, message)
    assert isinstance(outcome, TransientFailure | PermanentFailure)
    signature = receiver.requests[0].headers["webhook-signature"]
    for secret in (message.secret, message.secret.removeprefix("whsec_"), signature, signature[3:]):
        assert secret not in outcome.error
    assert '"signature": "[redacted]"' in outcome.error and '"secret": "[redacted]"' in outcome.error
