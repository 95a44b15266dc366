"""``notigate serve``: uvicorn with deadlines for slow clients and a drain on SIGTERM.

What this couples to in uvicorn (its httptools protocol's parser callbacks, its
server's signal capture) stays in the two classes below; engine/pyproject.toml pins
the uvicorn releases they were checked against.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import sys
from collections.abc import Generator
from typing import ClassVar, Literal

import msgspec
import uvicorn
from litestar import Litestar
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from notigate.app.gateway import Gateway
from notigate.config.durations import seconds

log = logging.getLogger(__name__)

Part = Literal["headers", "body"]
_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_STARTUP_FAILURE = 3  # uvicorn's exit status when the lifespan start-up or the bind fails


class DeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with deadlines that bytes trickling in do not extend.

    A request's headers are due ``header_timeout`` after the connection opened or the
    previous response ended (so an idle keep-alive connection closes then too); its body
    ``body_timeout`` after its headers. While the application works on a request the
    client owes nothing and no deadline runs. A client past its deadline gets 408 when a
    request of it was under way and no response has begun, and its connection is closed;
    an application reading that body reads a disconnect, so a half-received request is
    never processed.
    """

    header_timeout: ClassVar[float] = 10.0
    body_timeout: ClassVar[float] = 30.0
    _deadline: asyncio.TimerHandle | None = None
    _due: Part | None = None
    _begun = False
    """A request's first bytes have arrived and its headers have not ended."""

    @classmethod
    def limited(cls, header_timeout: float, body_timeout: float) -> type[DeadlineProtocol]:
        """This protocol with other deadlines (uvicorn takes a class and builds one per connection)."""
        return type(cls.__name__, (cls,), {"header_timeout": header_timeout, "body_timeout": body_timeout})

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._expect("headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._expect(None)
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._begun = True

    def on_headers_complete(self) -> None:
        self._begun = False
        super().on_headers_complete()
        queued = bool(self.pipeline) and self.pipeline[0][0] is self.cycle
        self._expect(None if queued else "body")  # uvicorn reads a pipelined request's body only in its turn

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self._due == "body":
            self._expect(None)

    def on_response_complete(self) -> None:
        pipelined = self.pipeline[-1][0] if self.pipeline else None  # the request uvicorn starts next
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if pipelined is None:
            self._expect("headers")
        else:
            self._expect("body" if pipelined.more_body else None)

    def _expect(self, part: Part | None) -> None:
        """Replace the running deadline by the one for what the client owes next (None: nothing)."""
        if self._deadline is not None:
            self._deadline.cancel()
        self._due = part
        self._deadline = (
            None
            if part is None
            else self.loop.call_later(self.header_timeout if part == "headers" else self.body_timeout, self._expire)
        )

    def _expire(self) -> None:
        part, self._deadline = self._due, None
        if part is None or self.transport.is_closing():
            return
        if part == "body":
            answer = not self.cycle.response_started
            self.cycle.disconnected = True  # the application reads a disconnect and writes nothing more
            self.cycle.message_event.set()
        else:
            answer = self._begun
        log.debug("closing the connection of %s: request %s not received in time", self.client, part)
        if answer:
            self.transport.write(self._timeout_response(part))
        self.transport.close()

    def _timeout_response(self, part: Part) -> bytes:
        limit = self.header_timeout if part == "headers" else self.body_timeout
        body = msgspec.json.encode(
            {"status_code": 408, "detail": f"the request {part} did not arrive within {limit:g}s"}
        )
        headers = [
            *self.server_state.default_headers,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        return STATUS_LINE[408] + b"".join(name + b": " + value + b"\r\n" for name, value in headers) + b"\r\n" + body


class DrainingServer(uvicorn.Server):
    """uvicorn's server, stopped by SIGTERM or SIGINT through a drain, then exiting 0.

    The first signal marks the gateway draining (``/health/ready`` answers 503) and keeps
    serving for ``grace``; then uvicorn's own shutdown closes the listener, gives requests
    in flight ``timeout_graceful_shutdown`` to finish, and runs the lifespan shutdown (the
    gateway's close). A second signal cuts what is left of the wait, not the close. uvicorn
    itself would re-raise the signal after shutting down, so the process would die of it.
    """

    def __init__(self, config: uvicorn.Config, gateway: Gateway, grace: float) -> None:
        super().__init__(config)
        self.gateway, self.grace = gateway, grace
        self._grace_end: asyncio.TimerHandle | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        loop = asyncio.get_running_loop()
        previous = {sig: signal.signal(sig, lambda *_: loop.call_soon_threadsafe(self._on_signal)) for sig in _SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self) -> None:
        if self._grace_end is None:
            self.gateway.draining = True
            log.warning(
                "draining: /health/ready answers 503; the listener closes in %gs, then requests in flight "
                "have %gs (signal again to stop at once)",
                self.grace,
                self.config.timeout_graceful_shutdown,
            )
            self._grace_end = asyncio.get_running_loop().call_later(self.grace, self._stop)
            return
        log.warning("second signal: cancelling the requests in flight")
        self._grace_end.cancel()
        self.config.timeout_graceful_shutdown = 0  # a shutdown yet to begin waits for nothing
        for task in self.server_state.tasks:  # one under way stops waiting when these end
            task.cancel()
        self._stop()

    def _stop(self) -> None:
        self.should_exit = True


def run(app: Litestar, gateway: Gateway, *, host: str, port: int) -> None:
    """Serve ``app`` on ``host:port`` until a signal's drain has ended."""
    server = gateway.settings.server
    header_timeout = seconds(server.header_timeout)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        ws="none",
        log_config=None,
        http=DeadlineProtocol.limited(header_timeout, seconds(server.body_timeout)),
        timeout_keep_alive=math.ceil(header_timeout),  # never before ours, which also closes idle connections
        timeout_graceful_shutdown=seconds(server.drain_timeout),  # type: ignore[arg-type]  # any number works
    )
    uvicorn_server = DrainingServer(config, gateway, seconds(server.drain_grace))
    uvicorn_server.run()
    if not uvicorn_server.started:  # older uvicorn returns from a failed start-up instead of exiting
        sys.exit(_STARTUP_FAILURE)
