"""``notigate serve``: uvicorn with deadlines for slow clients.

What this couples to in uvicorn (its httptools protocol's parser callbacks) stays in
the class below; engine/pyproject.toml pins the uvicorn releases it was checked against.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import ClassVar, Literal

import msgspec
import uvicorn
from litestar import Litestar
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from notigate.config import seconds
from notigate.gateway import Gateway

log = logging.getLogger(__name__)

Part = Literal["headers", "body"]


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
        self._deadline = None if part is None else self.loop.call_later(
            self.header_timeout if part == "headers" else self.body_timeout, self._expire)

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
        body = msgspec.json.encode({"status_code": 408, "detail": f"the request {part} did not arrive within {limit:g}s"})
        headers = [*self.server_state.default_headers, (b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
        return STATUS_LINE[408] + b"".join(name + b": " + value + b"\r\n" for name, value in headers) + b"\r\n" + body


def run(app: Litestar, gateway: Gateway, *, host: str, port: int) -> None:
    """Serve ``app`` on ``host:port`` until a signal."""
    server = gateway.settings.server
    header_timeout = seconds(server.header_timeout)
    uvicorn.run(
        app, host=host, port=port, log_level="warning", access_log=False, ws="none",
        http=DeadlineProtocol.limited(header_timeout, seconds(server.body_timeout)),
        timeout_keep_alive=math.ceil(header_timeout),  # never before ours, which also closes idle connections
    )
