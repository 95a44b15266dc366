"""The webhook channel: render the Standard Webhooks envelope, POST it signed, classify the answer.

A send is one HTTP attempt. Retries belong to the engine's durable schedule (one retry
layer per failure kind), so nothing here retries or sleeps; it only says whether a retry
can help and, for 429/503, when the subscriber asked to be called again.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import aiohttp
import httpx
import msgspec
import yarl
from aiohttp.helpers import get_env_proxy_for_url

from notigate import (
    ChannelBase,
    Delivered,
    Message,
    Outcome,
    PermanentFailure,
    Rendered,
    TransientFailure,
    retry_after,
    seconds,
)

from . import _signing
from ._config import WebhookConfig

_SNIPPET_CHARS = 200  # of a subscriber's answer kept in an error: enough to diagnose, no more
_READ_LIMIT = 4096  # bytes of an answer read at most, so a huge or endless body costs nothing


class _Envelope(msgspec.Struct, frozen=True, kw_only=True):
    """The body of product.md, fields in this order: ``type``, ``timestamp``, ``data``."""

    type: str
    timestamp: datetime
    data: dict[str, Any]


class WebhookChannel(ChannelBase):
    """Delivers one message as a signed ``POST`` to a subscriber's URL.

    One pooled ``aiohttp.ClientSession`` serves every send (about a tenth of httpx's CPU per
    request). It is opened lazily in the event loop that first sends (a pool's connections
    belong to one loop), and reopened if the channel is later used from another loop.
    Redirects are never followed: a signed payload must go only where the admin pointed it.
    As with httpx before: certificates are checked against the same CA bundle (httpx's
    context), proxies come from the environment, and ``timeout`` also bounds the wait for a
    free connection (of ``max_connections``).
    """

    name: ClassVar[str] = "webhook"
    config_type: ClassVar[type[msgspec.Struct]] = WebhookConfig
    uses_templates: ClassVar[bool] = False
    """The body is the event itself (Standard Webhooks); no message templates are rendered."""

    def __init__(self, config: WebhookConfig) -> None:
        self.config = config
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=None, sock_connect=seconds(config.connect_timeout), sock_read=seconds(config.timeout)
        )
        self._pool_wait = seconds(config.timeout)
        self._deadline = seconds(config.timeout) + seconds(config.connect_timeout)
        self._client: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None
        self._proxies = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def render(self, message: Message) -> Rendered:
        """The exact JSON body, unsigned: the signature depends on the time of sending.

        A digest is sent as type ``payment.digest``: its count, first and last time,
        references, totals per currency, member ids, and the latest event.

        ``status`` is left out because it changes while the message is being delivered;
        keys are sorted so that the same message always renders to the same bytes, even
        after its metadata went through a database that reorders keys.
        """
        n = message.notification
        data = msgspec.structs.asdict(n)
        del data["status"]
        data["occurred_at"] = _utc(n.occurred_at)
        data["received_at"] = _utc(n.received_at)
        envelope = _Envelope(type=f"payment.{n.code}", timestamp=_utc(n.occurred_at), data=data)
        if (digest := message.digest) is not None:  # several events folded by a rule's group_by
            summary = msgspec.structs.asdict(digest)
            summary.update(
                first_at=_utc(digest.first_at),
                last_at=_utc(digest.last_at),
                latest=data,
                totals={currency: str(total) for currency, total in digest.totals.items()},
            )
            envelope = _Envelope(type="payment.digest", timestamp=_utc(digest.last_at), data=summary)
        body = msgspec.json.encode(envelope, order="deterministic").decode()
        return Rendered(body=body, content_type="application/json", headers={})

    async def send(self, message: Message, rendered: Rendered) -> Outcome:
        """POST ``rendered`` once, signed now, and classify what happened; never raises for it."""
        if message.secret is None:
            return PermanentFailure(error="endpoint has no signing secret")
        if problem := _address_problem(message.address):
            return PermanentFailure(error=f"cannot send to this address: {problem}")
        try:
            signed = _signing.headers(message.secret, message.id, int(time.time()), rendered.body)
        except ValueError as exc:
            return PermanentFailure(error=f"endpoint signing secret is invalid: {exc}")
        headers = {**rendered.headers, "content-type": rendered.content_type, **signed}
        signature = signed["webhook-signature"]
        hidden = (message.secret, message.secret.removeprefix("whsec_"), signature, signature.removeprefix("v1,"))
        try:
            return await self._post(message.address, rendered.body, headers, hidden)
        except _PoolTimeout:
            return TransientFailure(error=f"timed out waiting for a free connection (timeout {self.config.timeout})")
        except TimeoutError as exc:  # aiohttp's timeouts are TimeoutErrors too
            return TransientFailure(error=self._timeout_error(exc))
        except (aiohttp.InvalidURL, ValueError) as exc:
            return PermanentFailure(error=_scrub(f"cannot send to this address: {_describe(exc)}", hidden))
        except aiohttp.ClientError as exc:
            return TransientFailure(error=_scrub(f"connection failed: {_describe(exc)}", hidden))

    async def aclose(self) -> None:
        """Close the pooled connections."""
        if self._client is not None:
            await self._client.close()
            self._client = self._slots = self._loop = None

    async def _post(self, url: str, body: str, headers: dict[str, str], hidden: tuple[str, ...]) -> Outcome:
        """The status decides the outcome; the body only explains it, so it may come up short.

        Until the status arrives the whole exchange is bounded by ``connect_timeout +
        timeout`` (httpx bounds each step, not a subscriber that trickles); what is left of
        that budget is spent reading at most ``_READ_LIMIT`` bytes of the answer.
        """
        client, slots = self._http()
        try:
            async with asyncio.timeout(self._pool_wait):
                await slots.acquire()
        except TimeoutError:
            raise _PoolTimeout from None
        try:
            target = yarl.URL(url, encoded=False)
            proxy = get_env_proxy_for_url(target) if self._proxies else None
        except LookupError:
            proxy = None
        try:
            async with asyncio.timeout(self._deadline) as budget:
                response = await client.post(
                    target,
                    data=body.encode(),
                    headers=headers,
                    allow_redirects=False,
                    proxy=proxy[0] if proxy else None,
                    proxy_auth=proxy[1] if proxy else None,
                )
            answer = bytearray()
            try:
                async with asyncio.timeout_at(budget.when()):
                    while len(answer) < _READ_LIMIT:
                        chunk = await response.content.read(_READ_LIMIT - len(answer))
                        if not chunk:
                            break
                        answer += chunk
            except (TimeoutError, aiohttp.ClientError):
                pass  # a partial explanation is still worth quoting
            finally:
                response.release()  # back to the pool if the answer was read to its end, else closed
        finally:
            slots.release()
        snippet = " ".join(answer.decode("utf-8", errors="replace").split())
        return _classify(response.status, response.headers, _scrub(snippet, hidden), hidden)

    def _http(self) -> tuple[aiohttp.ClientSession, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._client is None or self._slots is None or self._loop is not loop:
            connector = aiohttp.TCPConnector(
                limit=self.config.max_connections, limit_per_host=0, ssl=httpx.create_ssl_context()
            )
            self._client = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                auto_decompress=False,
                trust_env=False,
                headers={"user-agent": self.config.user_agent, "accept-encoding": "identity"},
            )
            self._slots = asyncio.Semaphore(self.config.max_connections)
            self._proxies = bool(urllib.request.getproxies())
            self._loop = loop
        return self._client, self._slots

    def _timeout_error(self, exc: Exception) -> str:
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return f"timed out connecting (connect_timeout {self.config.connect_timeout})"
        if isinstance(exc, aiohttp.ServerTimeoutError):
            return f"timed out waiting for the endpoint (timeout {self.config.timeout})"
        return f"no answer from the endpoint within {self._deadline:g}s"


class _PoolTimeout(Exception):
    """Every pooled connection stayed busy for ``timeout``."""


def _classify(status: int, headers: Mapping[str, str], snippet: str, hidden: tuple[str, ...]) -> Outcome:
    """product.md: 2xx delivered; 408, 429, 5xx transient; everything else permanent."""
    what = f"HTTP {status}: {snippet[:_SNIPPET_CHARS]}" if snippet else f"HTTP {status}"
    if 200 <= status < 300:
        return Delivered(detail=f"HTTP {status}", status_code=status)
    if status in (429, 503):
        wait = retry_after(headers.get("retry-after"))
        return TransientFailure(error=what, status_code=status, retry_after=wait)
    if status == 408 or 500 <= status < 600:
        return TransientFailure(error=what, status_code=status)
    if status == 410:
        return PermanentFailure(error=f"endpoint is gone; remove or update it ({what})", status_code=status)
    if 300 <= status < 400:
        location = _scrub(headers.get("location", "(none)"), hidden)[:_SNIPPET_CHARS]
        error = f"redirect to {location} not followed; update the endpoint URL ({what})"
        return PermanentFailure(error=error, status_code=status)
    return PermanentFailure(error=what, status_code=status)


def _address_problem(address: str) -> str | None:
    """Why ``address`` can never be sent to, checked before httpx fails on it less clearly.

    The address itself stays out of the answer: webhook URLs often carry tokens.
    """
    try:
        url = httpx.URL(address)
    except httpx.InvalidURL as exc:
        return f"not a valid URL ({exc})"
    if url.scheme not in ("http", "https") or not url.host:
        return "not an http(s) URL with a host"
    if url.port is not None and not 0 < url.port < 65536:
        return f"port {url.port} is out of range"
    return None


def _utc(moment: datetime) -> datetime:
    """RFC 3339 UTC on the wire; a naive time is taken to be UTC already, as the engine keeps it."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# aiohttp's errors under the names httpx gave them, so stored errors read as they always did
_ERROR_NAMES: tuple[tuple[type[Exception], str], ...] = (
    (aiohttp.ClientConnectorError, "ConnectError"),
    (aiohttp.ServerDisconnectedError, "RemoteProtocolError"),
    (aiohttp.ClientPayloadError, "RemoteProtocolError"),
    (aiohttp.ClientResponseError, "RemoteProtocolError"),
    (aiohttp.InvalidURL, "UnsupportedProtocol"),
    (aiohttp.ClientOSError, "ReadError"),
)


def _describe(exc: Exception) -> str:
    name = next((n for kind, n in _ERROR_NAMES if isinstance(exc, kind)), type(exc).__name__)
    if isinstance(exc, aiohttp.ClientConnectorError):  # its own text names host and port: keep the OS error
        text = str(exc.os_error)
    elif isinstance(exc, aiohttp.ClientResponseError):
        text = exc.message
    else:
        text = str(exc)
    return f"{name}: {text}" if text else name


def _scrub(text: str, hidden: tuple[str, ...]) -> str:
    """Errors are stored and shown to operators: never let a secret or signature into one."""
    for secret in hidden:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text
