"""A few connected SMTP clients reused across a burst, so each email costs no new TCP+TLS handshake.

A pool belongs to one event loop (a connection's transport does). Clients come back
only if they are still connected and their last transaction ended cleanly; a client
idle for a while is probed with NOOP before reuse, since servers drop idle sessions.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress

import aiosmtplib

_PROBE_AFTER = 2.0  # seconds idle after which a pooled connection is checked with NOOP


class Pool:
    """At most ``size`` connections; ``connect`` opens one (TLS and login included)."""

    def __init__(self, connect: Callable[[], Awaitable[aiosmtplib.SMTP]], size: int) -> None:
        self._connect = connect
        self._slots = asyncio.Semaphore(size)
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []

    @asynccontextmanager
    async def client(self, wait: float) -> AsyncIterator[aiosmtplib.SMTP]:
        """A live client, held for one transaction.

        Waiting for a free slot is bounded by ``wait`` (``TimeoutError``). If the body
        raises anything but an SMTP reply, the client is closed rather than reused: its
        session state is unknown.
        """
        async with asyncio.timeout(wait):
            await self._slots.acquire()
        try:
            smtp = await self._take()
            try:
                yield smtp
            except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
                # a refused transaction was reset (RSET) by aiosmtplib: the session is clean
                if smtp.is_connected:
                    self._idle.append((smtp, time.monotonic()))
                raise
            except BaseException:
                smtp.close()
                raise
            if smtp.is_connected:
                self._idle.append((smtp, time.monotonic()))
        finally:
            self._slots.release()

    async def _take(self) -> aiosmtplib.SMTP:
        while self._idle:
            smtp, since = self._idle.pop()
            if not smtp.is_connected:
                continue
            if time.monotonic() - since < _PROBE_AFTER:
                return smtp
            try:
                await smtp.noop()
            except (aiosmtplib.SMTPException, OSError):
                smtp.close()
                continue
            return smtp
        return await self._connect()

    async def aclose(self) -> None:
        """QUIT and close every idle connection; one that does not answer is just closed."""
        idle, self._idle = self._idle, []
        for smtp, _ in idle:
            with suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                if smtp.is_connected:
                    await smtp.quit(timeout=1.0)
            smtp.close()
