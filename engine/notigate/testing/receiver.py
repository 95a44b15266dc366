"""A real HTTP server on 127.0.0.1 that a test scripts: it answers with the replies it is given and
records every request, over a real socket, so timeouts, refused connections and keep-alive behave
as they do in production. Each one takes a port the OS picks, so tests run in parallel (``-n``).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One scripted answer. ``delay`` holds the whole answer back; ``trickle`` sends the body one
    byte per that many seconds after the status line."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str | bytes = ""
    delay: float = 0.0
    trickle: float = 0.0


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it (header names lower case), when it arrived
    (``time.monotonic()``) and the status it was answered with."""

    method: str
    path: str
    headers: dict[str, str]
    body: str
    peer_port: int
    at: float = 0.0
    status: int = 0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    receiver: Receiver

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout tests) is expected; keep stderr quiet."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    disable_nagle_algorithm = True  # headers and body go out in two writes; no delayed-ACK stall
    server: _Server

    def _serve(self) -> None:
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode(errors="replace")
        request = Received(
            self.command,
            self.path,
            {k.lower(): v for k, v in self.headers.items()},
            body,
            self.client_address[1],
            at=time.monotonic(),
        )
        reply = receiver.answer(request)
        delay = reply.delay + receiver.delay
        if delay and receiver.stopping.wait(delay):
            return
        payload = reply.body.encode() if isinstance(reply.body, str) else reply.body
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.status not in (204, 304):
            self.send_header("content-length", str(len(payload)))
        self.end_headers()
        if reply.status in (204, 304):
            return
        if not reply.trickle:
            self.wfile.write(payload)
            return
        for byte in payload:
            if receiver.stopping.wait(reply.trickle):
                return
            self.wfile.write(bytes([byte]))
            self.wfile.flush()

    do_POST = do_PUT = do_PATCH = do_GET = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log line."""


def _reply(given: Reply | dict[str, Any] | tuple[int, dict[str, str]]) -> Reply:
    if isinstance(given, Reply):
        return given
    if isinstance(given, tuple):
        status, headers = given
        return Reply(status=status, headers=dict(headers))
    return Reply(**given)


class Receiver:
    """Answers with the scripted replies in turn (the last one repeats) and records every request.

    Subclass it and override ``answer`` for a peer with rules of its own (an SMS provider that
    checks credentials): ``take(recorded)`` records what the subclass keeps of a request and takes
    the next scripted reply, in one step, so the n-th recorded request got the n-th reply.
    """

    path = "/hooks"

    def __init__(self) -> None:
        self.requests: list[Any] = []
        """Each ``Received`` (with the status it was answered), or what a subclass records instead."""
        self.stopping = threading.Event()
        self._replies: list[Reply] = [Reply()]
        self.delay = 0.0
        """Seconds every answer is held back, on top of its reply's own ``delay`` (a slow peer)."""
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.receiver = self
        self.port: int = self._server.server_port
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.url = self.base_url + self.path
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def script(self, *replies: Reply | dict[str, Any] | tuple[int, dict[str, str]]) -> None:
        """Answer the next requests with ``replies`` in turn, repeating the last one: each a ``Reply``,
        its fields as a dict, or ``(status, headers)``."""
        with self._lock:
            self._replies = [_reply(r) for r in replies] or [Reply()]

    def answer(self, request: Received) -> Reply:
        """Record ``request`` with the status of the next scripted reply, and return that reply."""
        return self.take(lambda reply: dataclasses.replace(request, status=reply.status))

    def take(self, recorded: Callable[[Reply], Any]) -> Reply:
        """The next scripted reply (the last one repeats), with ``recorded(reply)`` appended to
        ``requests`` under the same lock."""
        with self._lock:
            reply = self._replies.pop(0) if len(self._replies) > 1 else self._replies[0]
            self.requests.append(recorded(reply))
        return reply

    def close(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
