"""A real Twilio-compatible SMS API on 127.0.0.1 that each test scripts, and message builders.

The provider runs ``http.server`` in a thread on a port the OS picks, so tests run in
parallel (``-n``) without colliding, and it answers over a real socket: timeouts,
refused connections and keep-alive behave as they do in production. Like the real API
it checks the path and the basic auth before it looks at the script.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

from notigate import Message, sample_notification
from notigate_channel_sms import SmsChannel, SmsConfig

ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "tok_9f8e7d6c5b4a39281706f5e4d3c2b1a0"
SENDER = "+15005550006"
PHONE = "+6281200000001"


@dataclass(frozen=True)
class Reply:
    """One scripted answer; ``body`` None means Twilio's 201 with a fresh sid, ``delay`` holds it back."""

    status: int = 201
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0


@dataclass(frozen=True)
class Received:
    """One request as the provider saw it."""

    path: str
    auth: tuple[str, str] | None
    content_type: str
    form: dict[str, str]
    peer_port: int


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    provider: Provider

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout tests) is expected; keep stderr quiet."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real API does
    disable_nagle_algorithm = True  # headers and body go out in two writes; no 40 ms delayed-ACK stall
    server: _Server

    def do_POST(self) -> None:
        provider = self.server.provider
        raw = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
        form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        request = Received(
            self.path,
            _basic(self.headers.get("authorization")),
            self.headers.get("content-type", ""),
            form,
            self.client_address[1],
        )
        reply = provider.record(request)
        if self.path != f"/2010-04-01/Accounts/{provider.account_sid}/Messages.json":
            return self._answer(404, {"code": 20404, "message": "The requested resource was not found"})
        if request.auth != (provider.account_sid, provider.auth_token):
            return self._answer(401, {"code": 20003, "message": "Authenticate"})
        if not form.get("To") or not form.get("From") or not form.get("Body"):
            return self._answer(400, {"code": 21602, "message": "Message body is required."})
        if reply.delay and provider.stopping.wait(reply.delay):
            return None
        body = reply.body if reply.body is not None else {"sid": f"SM{uuid.uuid4().hex}", "status": "queued"}
        return self._answer(reply.status, body, reply.headers)

    def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log line."""


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password


class Provider:
    """The SMS API: answers with the scripted replies in turn (the last repeats)."""

    account_sid = ACCOUNT_SID
    auth_token = AUTH_TOKEN

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.stopping = threading.Event()
        self._replies: list[Reply] = [Reply()]
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.provider = self
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def script(self, *replies: dict[str, Any]) -> None:
        """Answer the next requests with ``replies`` (``Reply`` fields), repeating the last one."""
        with self._lock:
            self._replies = [Reply(**reply) for reply in replies]

    def record(self, request: Received) -> Reply:
        with self._lock:
            self.requests.append(request)
            return self._replies.pop(0) if len(self._replies) > 1 else self._replies[0]

    def close(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()


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
        return Message(
            id=id,
            channel="sms",
            recipient=address,
            address=address,
            notification=sample_notification(),
            subject=subject,
            text=text,
        )

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
