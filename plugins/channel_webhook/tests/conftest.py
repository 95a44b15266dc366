"""A real HTTP subscriber on 127.0.0.1 that each test scripts (``notigate.testing.Receiver`` with
the webhook's secret), and builders for messages."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from notigate import Message
from notigate.testing import Receiver, Reply, sample_message
from notigate_channel_webhook import WebhookChannel, WebhookConfig

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class Subscriber(Receiver):
    """A subscriber endpoint with the shared secret. A scripted ``echo`` reply answers with the
    request's signature and the secret as its body, and ``{signature}`` in a header value stands
    for the signature: a subscriber that leaks them."""

    path = "/hooks/payments"
    secret = SECRET

    def __init__(self) -> None:
        super().__init__()
        self._echo: list[bool] = [False]

    def script(self, *replies: Reply | dict[str, Any]) -> None:
        dicts = [dict(r) if isinstance(r, dict) else None for r in replies]
        self._echo = [bool(d and d.pop("echo", False)) for d in dicts] or [False]
        super().script(*[d if d is not None else r for d, r in zip(dicts, replies, strict=True)])

    def answer(self, request: Any) -> Reply:
        echo = self._echo.pop(0) if len(self._echo) > 1 else self._echo[0]
        reply = super().answer(request)
        signature = request.headers.get("webhook-signature", "")
        headers = {name: value.replace("{signature}", signature) for name, value in reply.headers.items()}
        body = json.dumps({"signature": signature or None, "secret": self.secret}) if echo else reply.body
        return Reply(status=reply.status, headers=headers, body=body, delay=reply.delay, trickle=reply.trickle)

    def verify(self, request: Any, body: str | None = None) -> Any:
        """Check the signature with the independent ``standardwebhooks`` package; the payload."""
        return Webhook(self.secret).verify(request.body if body is None else body, request.headers)


@pytest.fixture
def receiver() -> Iterator[Subscriber]:
    """A fresh subscriber on its own port."""
    r = Subscriber()
    yield r
    r.close()


@pytest.fixture
def make_message() -> Callable[..., Message]:
    """Build a webhook ``Message``: ``make_message(url, secret=..., **notification_changes)``."""

    def make(address: str, *, secret: str | None = SECRET, id: str = "dlv_01JNB6X4T2", **changes: Any) -> Message:
        return sample_message("webhook", address, secret=secret, id=id, recipient="merchant-backend", **changes)

    return make


@pytest.fixture
async def make_channel() -> AsyncIterator[Callable[..., WebhookChannel]]:
    """Build channels from config keys; every one is closed after the test."""
    made: list[WebhookChannel] = []

    def make(**config: Any) -> WebhookChannel:
        made.append(WebhookChannel(WebhookConfig(**config)))
        return made[-1]

    yield make
    for channel in made:
        await channel.aclose()


@pytest.fixture
def channel(make_channel: Callable[..., WebhookChannel]) -> WebhookChannel:
    """A channel with the default configuration."""
    return make_channel()
