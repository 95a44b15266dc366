"""The email channel: render the RFC 5322 message, send it over pooled SMTP, classify the reply.

A send is one SMTP transaction. Retries belong to the engine's durable schedule; the
only retry here is of a connection refused or dropped while it is being set up (a
server restarting, a load balancer swapping it), tried again at once for half a second
at most. Otherwise it only says whether a retry can help: 4xx replies and connection,
timeout and TLS problems are transient, 5xx replies permanent.
"""

from __future__ import annotations

import asyncio
import ssl
import weakref
from typing import ClassVar

import aiosmtplib
import msgspec
import stamina

from notigate import (
    ChannelBase,
    Delivered,
    Message,
    Outcome,
    PermanentFailure,
    Rendered,
    TransientFailure,
    seconds,
)

from . import _render
from ._config import EmailConfig, sender_address
from ._pool import Pool

_SNIPPET_CHARS = 200  # of a server's reply kept in an error


def _setup_blip(exc: BaseException) -> bool:
    """Refused, reset or dropped before the session began; not a timeout, TLS or login failure."""
    return isinstance(exc, ConnectionError) and not isinstance(exc, TimeoutError)


_RETRY_SETUP = stamina.AsyncRetryingCaller(
    attempts=3, timeout=0.5, wait_initial=0.05, wait_max=0.2, wait_jitter=0.05
).on(_setup_blip)


class EmailChannel(ChannelBase):
    """Delivers one message to one address through the configured SMTP server.

    Connections are pooled per event loop (up to ``max_connections``) and reused across
    messages; ``aclose`` ends them with QUIT.
    """

    name: ClassVar[str] = "email"
    config_type: ClassVar[type[msgspec.Struct]] = EmailConfig

    def __init__(self, config: EmailConfig) -> None:
        self.config = config
        self._timeout = seconds(config.timeout)
        self._envelope_from = sender_address(config.sender) or "notigate@localhost"
        self._domain = self._envelope_from.rpartition("@")[2]
        self._tls: ssl.SSLContext | None = None
        if config.security != "none":
            self._tls = ssl.create_default_context(cafile=config.ca_file)
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Pool] = weakref.WeakKeyDictionary()

    def validate_recipient(self, recipient: str) -> str | None:
        """A rule's ``to`` must be one plain ``local@domain`` address."""
        return _render.recipient_problem(recipient)

    def destination(self, message: Message) -> str:
        """The circuit breaker's key: every recipient goes through the same SMTP server."""
        return f"smtp:{self.config.host}:{self.config.port}"

    def render(self, message: Message) -> Rendered:
        """The full message (headers and both parts) exactly as it will be sent."""
        return _render.render(message, self.config.sender, self._domain)

    async def send(self, message: Message, rendered: Rendered) -> Outcome:
        """Send ``rendered`` once to ``message.address`` and classify what happened; never raises for it."""
        if problem := _render.recipient_problem(message.address):
            return PermanentFailure(error=f"cannot send to this address: {problem}")
        try:
            async with self._pool().client(self._timeout) as smtp:
                _, reply = await smtp.sendmail(self._envelope_from, [message.address], rendered.body.encode())
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0] if exc.recipients else None
            code, text = (refused.code, refused.message) if refused else (-1, str(exc))
            return self._reply_failure(f"recipient refused: {code} {text}", code)
        except aiosmtplib.SMTPAuthenticationError as exc:
            return self._reply_failure(f"authentication failed: {exc.code} {exc.message}", exc.code)
        except aiosmtplib.SMTPResponseException as exc:  # greeting, EHLO, STARTTLS, MAIL or DATA
            return self._reply_failure(f"server replied {exc.code} {exc.message}", exc.code)
        except TimeoutError as exc:  # aiosmtplib's own timeouts included
            return TransientFailure(error=self._scrub(f"timed out (timeout {self.config.timeout}): {_describe(exc)}"))
        except ssl.SSLError as exc:
            return TransientFailure(error=self._scrub(f"TLS failed: {_describe(exc)}"))
        except OSError as exc:  # refused, reset, disconnected (SMTPServerDisconnected, SMTPConnectError)
            return TransientFailure(error=self._scrub(f"connection failed: {_describe(exc)}"))
        except aiosmtplib.SMTPException as exc:  # e.g. STARTTLS or AUTH required but not offered
            return TransientFailure(error=self._scrub(f"SMTP session failed: {_describe(exc)}"))
        except ValueError as exc:  # aiosmtplib: an address that cannot be sent safely
            return PermanentFailure(error=self._scrub(f"cannot send to this address: {exc}"))
        return Delivered(detail=f"250 {reply}"[:_SNIPPET_CHARS], status_code=250)

    async def aclose(self) -> None:
        """QUIT the idle connections of this loop's pool; pools of other loops are dropped."""
        pool = self._pools.pop(asyncio.get_running_loop(), None)
        self._pools.clear()
        if pool is not None:
            await pool.aclose()

    def _pool(self) -> Pool:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            pool = self._pools[loop] = Pool(lambda: _RETRY_SETUP(self._connect), self.config.max_connections)
        return pool

    async def _connect(self) -> aiosmtplib.SMTP:
        """A connected client: TLS as configured, logged in if a username is set."""
        c = self.config
        smtp = aiosmtplib.SMTP(
            hostname=c.host,
            port=c.port,
            timeout=self._timeout,
            use_tls=c.security == "tls",
            start_tls=c.security == "starttls",
            tls_context=self._tls,
            username=c.username,
            password=c.password if c.username is not None else None,
        )
        try:
            await smtp.connect()
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _reply_failure(self, error: str, code: int) -> Outcome:
        """RFC 5321: 4xx asks to try again later, 5xx says it never will work."""
        error = self._scrub(" ".join(error.split()))[:_SNIPPET_CHARS]
        status = code if code > 0 else None
        if 500 <= code < 600:
            return PermanentFailure(error=error, status_code=status)
        return TransientFailure(error=error, status_code=status)

    def _scrub(self, text: str) -> str:
        """Errors are stored and shown to operators: the SMTP password never gets into one."""
        if self.config.password:
            text = text.replace(self.config.password, "[redacted]")
        return text


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
