"""A real SMTP server (aiosmtpd) on 127.0.0.1 that each test scripts, a test CA, and message builders.

The server runs in its own thread and event loop on a port the OS picks, so tests run
in parallel (``-n``) without colliding, and the channel talks to it over a real socket:
refused connections, TLS handshakes and dropped sessions behave as in production.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from notigate import Message
from notigate.testing import sample_message
from notigate_channel_email import EmailChannel, EmailConfig

USERNAME, PASSWORD = "notigate", "s3cr3t-smtp-pa55"


@dataclass(frozen=True)
class Received:
    """One message the server accepted or answered, as it saw it."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    peer: tuple[str, int]  # the client end of the connection: one per SMTP session


class Handler:
    """Records messages; answers RCPT and DATA from scripts (the last reply repeats)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.rcpt_replies = ["250 OK"]
        self.data_replies = ["250 Message accepted for delivery"]

    @staticmethod
    def _next(replies: list[str]) -> str:
        return replies.pop(0) if len(replies) > 1 else replies[0]

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        reply = self._next(self.rcpt_replies)
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes) and envelope.mail_from is not None
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content, session.peer))
        return self._next(self.data_replies)


def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
    """Accept exactly USERNAME and PASSWORD (LOGIN or PLAIN)."""
    ok = isinstance(auth_data, LoginPassword) and auth_data == (USERNAME.encode(), PASSWORD.encode())
    return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 235 or 535


class _Controller(Controller):
    """aiosmtpd's threaded controller, bound to a port the OS picks; keeps its sessions."""

    def __init__(self, handler: Handler, **kwargs: Any) -> None:
        super().__init__(handler, hostname="127.0.0.1", port=0, **kwargs)
        self.sessions: list[SMTP] = []
        self.drop_next = 0
        """Connections still to close at once, before the greeting (a server restarting)."""

    def factory(self) -> SMTP | asyncio.Protocol:  # type: ignore[override]
        if self.drop_next:
            self.drop_next -= 1
            return _Hangup()
        smtp = super().factory()
        self.sessions.append(smtp)
        return smtp

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()

    def drop_connections(self) -> None:
        """Close every session from the server side, as an idle timeout would; returns once done."""

        async def drop() -> None:
            for smtp in self.sessions:
                if smtp.transport is not None:
                    smtp.transport.close()

        asyncio.run_coroutine_threadsafe(drop(), self.loop).result(5)


class _Hangup(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


class Server:
    """One started aiosmtpd server: ``port``, its ``handler``, and the connections it served."""

    def __init__(self, **smtp_kwargs: Any) -> None:
        self.handler = Handler()
        self.controller = _Controller(self.handler, **smtp_kwargs)
        self.controller.start()
        self.port: int = self.controller.port

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    @property
    def connections(self) -> int:
        """How many SMTP sessions carried a message."""
        return len({r.peer for r in self.received})

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture
def start_server() -> Iterator[Callable[..., Server]]:
    """Start aiosmtpd servers with ``SMTP`` keyword arguments; all are stopped after the test."""
    started: list[Server] = []

    def start(**smtp_kwargs: Any) -> Server:
        started.append(Server(**smtp_kwargs))
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server(start_server: Callable[..., Server]) -> Server:
    """A plain SMTP server without TLS or auth."""
    return start_server()


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """A private CA, created once per test process."""
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    """The server side of TLS: a certificate for 127.0.0.1 and localhost issued by ``ca``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def make_message() -> Callable[..., Message]:
    """Build an email ``Message``: ``make_message(address=..., id=..., subject=..., text=..., html=...)``."""

    def make(
        address: str = "ops@example.com",
        *,
        id: str = "dlv_01JNB6X4T2",
        subject: str = "Kartu ditolak: INV-2026-0001",
        text: str = "Card declined by the issuer\nAmount: IDR 150000.00\n",
        html: str | None = None,
    ) -> Message:
        return sample_message("email", address, id=id, recipient="ops", subject=subject, text=text, html=html)

    return make


@pytest.fixture
async def make_channel() -> AsyncIterator[Callable[..., EmailChannel]]:
    """Build channels from config keys; every one is closed after the test."""
    made: list[EmailChannel] = []

    def make(**config: Any) -> EmailChannel:
        made.append(EmailChannel(EmailConfig(**({"sender": "Notigate <alerts@example.com>"} | config))))
        return made[-1]

    yield make
    for channel in made:
        await channel.aclose()
