"""A real HTTP subscriber on 127.0.0.1 that each test scripts, and builders for messages.

The receiver runs ``http.server`` in a thread on a port the OS picks, so tests run in
parallel (``-n``) without colliding, and it answers over a real socket: timeouts,
refused connections and keep-alive behave as they do in production.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from notigate import Message
from notigate.samples import sample_notification
from notigate_channel_webhook import WebhookChannel, WebhookConfig

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    ``delay`` holds the whole answer back; ``trickle`` sends the body one byte per that
    many seconds after the status. ``echo`` answers with the request's signature and the shared secret as the body, and
    ``{signature}`` in a header value stands for the signature: a subscriber that leaks them.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    delay: float = 0.0
    trickle: float = 0.0
    echo: bool = False


@dataclass(frozen=True)
class Received:
    """One request as the subscriber saw it."""

    headers: dict[str, str]
    body: str
    peer_port: int


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    receiver: Receiver

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout tests) is expected; keep stderr quiet."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real subscribers do
    server: _Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.server.receiver.record(Received(headers, body, self.client_address[1]))
        if reply.delay and self.server.receiver.stopping.wait(reply.delay):
            return
        leaked = {"signature": headers.get("webhook-signature"), "secret": self.server.receiver.secret}
        payload = (json.dumps(leaked) if reply.echo else reply.body).encode()
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value.replace("{signature}", headers.get("webhook-signature", "")))
        if reply.status not in (204, 304):
            self.send_header("content-length", str(len(payload)))
        self.end_headers()
        if reply.status in (204, 304):
            return
        if not reply.trickle:
            self.wfile.write(payload)
        for byte in payload if reply.trickle else b"":
            if self.server.receiver.stopping.wait(reply.trickle):
                return
            self.wfile.write(bytes([byte]))
            self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log line."""


class Receiver:
    """A subscriber endpoint: answers with the scripted replies in turn (the last repeats)."""

    secret = SECRET

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.stopping = threading.Event()
        self._replies: list[Reply] = [Reply()]
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.receiver = self
        self.url = f"http://127.0.0.1:{self._server.server_port}/hooks/payments"
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

    def verify(self, request: Received, body: str | None = None) -> Any:
        """Check the signature with the independent ``standardwebhooks`` package; the payload."""
        return Webhook(self.secret).verify(request.body if body is None else body, request.headers)

    def close(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A fresh subscriber on its own port."""
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port that refuses connections: bound (so nobody else takes it) but not listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def make_message() -> Callable[..., Message]:
    """Build a webhook ``Message``: ``make_message(url, secret=..., **notification_changes)``."""

    def make(address: str, *, secret: str | None = SECRET, id: str = "dlv_01JNB6X4T2", **changes: Any) -> Message:
        return Message(id=id, channel="webhook", recipient="merchant-backend", address=address,
                       notification=sample_notification(**changes), secret=secret)

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
