"""A real Twilio-compatible SMS API on 127.0.0.1 that each test scripts, and message builders.

It is the plugin kit's HTTP receiver (a real socket on a port the OS picks, so timeouts,
refused connections and keep-alive behave as in production) with Twilio's checks added.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import pytest

from notigate import Message
from notigate.testing import Received, Receiver, Reply, sample_message
from notigate_channel_sms import SmsChannel, SmsConfig

ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "tok_9f8e7d6c5b4a39281706f5e4d3c2b1a0"
SENDER = "+15005550006"
PHONE = "+6281200000001"


@dataclass(frozen=True)
class Request:
    """One request as the provider saw it."""

    path: str
    auth: tuple[str, str] | None
    content_type: str
    form: dict[str, str]
    peer_port: int


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password


def _json(status: int, body: Any, headers: dict[str, str] | None = None, delay: float = 0.0) -> Reply:
    payload = body if isinstance(body, str) else json.dumps(body)
    return Reply(
        status=status, headers={"content-type": "application/json", **(headers or {})}, body=payload, delay=delay
    )


class Provider(Receiver):
    """The SMS API (``notigate.testing.Receiver`` with Twilio's rules): like the real API it checks the
    path and the basic auth before it looks at the script. A scripted reply is a dict of ``status``
    (default 201), ``headers``, ``body`` (default: Twilio's answer with a fresh sid) and ``delay``."""

    account_sid = ACCOUNT_SID
    auth_token = AUTH_TOKEN
    path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"

    def __init__(self) -> None:
        super().__init__()
        self.script()

    def script(self, *replies: Any) -> None:
        super().script(
            *[Reply(**{"status": 201, "body": None, **r}) for r in replies] or [Reply(status=201, body=None)]
        )

    def answer(self, request: Received) -> Reply:
        form = {k: v[0] for k, v in parse_qs(request.body, keep_blank_values=True).items()}
        seen = Request(
            request.path,
            _basic(request.headers.get("authorization")),
            request.headers.get("content-type", ""),
            form,
            request.peer_port,
        )
        reply = self.take(lambda _: seen)
        if request.path != self.path:
            return _json(404, {"code": 20404, "message": "The requested resource was not found"})
        if seen.auth != (self.account_sid, self.auth_token):
            return _json(401, {"code": 20003, "message": "Authenticate"})
        if not form.get("To") or not form.get("From") or not form.get("Body"):
            return _json(400, {"code": 21602, "message": "Message body is required."})
        body = reply.body if reply.body is not None else {"sid": f"SM{uuid.uuid4().hex}", "status": "queued"}
        return _json(reply.status, body, reply.headers, reply.delay)


@pytest.fixture
def provider() -> Iterator[Provider]:
    """A fresh SMS API on its own port."""
    p = Provider()
    yield p
    p.close()


@pytest.fixture
def make_message() -> Callable[..., Message]:
    """Build an SMS ``Message``: ``make_message(subject=..., text=..., address=...)``."""

    def make(
        *,
        subject: str = "[warning] arindo: card_declined",
        text: str = "Card declined by the issuer",
        address: str = PHONE,
        id: str = "dlv_01JNB6X4T2",
    ) -> Message:
        return sample_message("sms", address, id=id, subject=subject, text=text)

    return make


@pytest.fixture
async def make_channel() -> AsyncIterator[Callable[..., SmsChannel]]:
    """Build channels from config keys (credentials default to the provider's); all closed after the test."""
    made: list[SmsChannel] = []

    def make(**config: Any) -> SmsChannel:
        keys = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "sender": SENDER} | config
        made.append(SmsChannel(SmsConfig(**keys)))
        return made[-1]

    yield make
    for channel in made:
        await channel.aclose()


@pytest.fixture
def channel(provider: Provider, make_channel: Callable[..., SmsChannel]) -> SmsChannel:
    """A channel pointed at the test provider, otherwise with the default configuration."""
    return make_channel(base_url=provider.base_url)
