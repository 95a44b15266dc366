"""The SMS channel: render a one-segment text, POST it to the provider, classify the answer.

A send is one HTTP attempt. Retries belong to the engine's durable schedule (one retry
layer per failure kind), so nothing here retries or sleeps; it only says whether a retry
can help and, for 429/503, when the provider asked to be called again.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
import msgspec

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

from ._config import SmsConfig, e164_problem
from ._segments import fit_one_segment

_SNIPPET_CHARS = 200  # of a provider's answer kept in an error: enough to diagnose, no more
_READ_LIMIT = 16_384  # bytes of an answer read at most; Twilio's answers are about 1 KB


class SmsChannel(ChannelBase):
    """Sends one message as ``POST {base_url}/2010-04-01/Accounts/{sid}/Messages.json``.

    One pooled ``httpx.AsyncClient`` serves every send. It is opened lazily in the event
    loop that first sends (a pool's connections belong to one loop), and reopened if the
    channel is later used from another loop. Redirects are never followed: credentials
    go only to the configured provider.
    """

    name: ClassVar[str] = "sms"
    config_type: ClassVar[type[msgspec.Struct]] = SmsConfig
    sample_config: ClassVar[dict[str, Any]] = {
        "account_sid": "ACsandbox00000000000000000000000000",
        "auth_token": "sandbox-token-not-a-secret",
        "sender": "+15005550006",
    }
    """Used only on the embedded default, where sandbox mode captures instead of sending."""

    def __init__(self, config: SmsConfig) -> None:
        self.config = config
        self._timeout = seconds(config.timeout)
        self._url = (
            f"{config.base_url.rstrip('/')}/2010-04-01/Accounts/{quote(config.account_sid, safe='')}/Messages.json"
        )
        basic = base64.b64encode(f"{config.account_sid}:{config.auth_token}".encode()).decode()
        self._hidden = (config.auth_token, basic)
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def validate_recipient(self, recipient: str) -> str | None:
        """An E.164 number is required; anything else is named as a start-up error."""
        return e164_problem(recipient)

    def destination(self, message: Message) -> str:
        """The circuit breaker's key: every number goes through the same provider account."""
        return f"sms:{self.config.base_url.rstrip('/')}/Accounts/{self.config.account_sid}"

    def render(self, message: Message) -> Rendered:
        """The text (the SMS template writes the whole message) cut to one segment; without a
        text the subject, else the platform's message. Encoding and count go in the headers."""
        body = message.text.strip() or message.subject.strip() or message.notification.message
        fitted = fit_one_segment(body)
        headers = {
            "to": message.address,
            "from": self.config.sender,
            "encoding": fitted.encoding,
            "segments": "1",
            "characters": str(fitted.units),
        }
        return Rendered(body=fitted.text, content_type="text/plain", headers=headers)

    async def send(self, message: Message, rendered: Rendered) -> Outcome:
        """POST ``rendered`` once and classify what happened; never raises for it."""
        if problem := e164_problem(message.address):
            return PermanentFailure(error=f"cannot send to this recipient: {problem}")
        form = {"To": message.address, "From": self.config.sender, "Body": rendered.body}
        try:
            return await self._post(form)
        except (TimeoutError, httpx.TimeoutException):
            return TransientFailure(error=f"no answer from the SMS provider within {self.config.timeout}")
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
            return PermanentFailure(error=self._scrub(f"cannot reach the SMS provider: {_describe(exc)}"))
        except httpx.TransportError as exc:
            return TransientFailure(error=self._scrub(f"connection failed: {_describe(exc)}"))

    async def aclose(self) -> None:
        """Close the pooled connections."""
        if self._client is not None:
            await self._client.aclose()
            self._client = self._loop = None

    async def _post(self, form: dict[str, str]) -> Outcome:
        """The whole exchange, answer included, is bounded by ``timeout``."""
        client = self._http()
        async with asyncio.timeout(self._timeout):
            async with client.stream("POST", self._url, data=form) as response:
                answer = bytearray()
                async for chunk in response.aiter_raw():
                    answer += chunk
                    if len(answer) >= _READ_LIMIT:
                        break
        return self._classify(response.status_code, response.headers, bytes(answer[:_READ_LIMIT]))

    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = httpx.AsyncClient(
                auth=httpx.BasicAuth(self.config.account_sid, self.config.auth_token),
                timeout=httpx.Timeout(self._timeout),
                limits=httpx.Limits(
                    max_connections=self.config.max_connections, max_keepalive_connections=self.config.max_connections
                ),
                follow_redirects=False,
                headers={"user-agent": "Notigate-SMS/0.1", "accept": "application/json", "accept-encoding": "identity"},
            )
            self._loop = loop
        return self._client

    def _classify(self, status: int, headers: httpx.Headers, answer: bytes) -> Outcome:
        """product.md: 201 delivered; 429 and 5xx transient; other 4xx permanent with code and message."""
        data = _json_object(answer)
        if 200 <= status < 300:
            sid = data.get("sid")
            if isinstance(sid, str) and sid:
                state = data.get("status")
                detail = f"sid {sid}" + (f" ({state})" if isinstance(state, str) and state else "")
                return Delivered(detail=self._scrub(detail)[:_SNIPPET_CHARS], status_code=status)
            if status == 201:
                return Delivered(detail="HTTP 201 (the provider sent no message sid)", status_code=status)
            # Accepted or not? Resending could text the recipient twice; retrying cannot fix a wrong base_url.
            return PermanentFailure(
                error=f"HTTP {status} without a message sid: is base_url a Twilio-compatible API?", status_code=status
            )
        what = self._scrub(_explain(status, data, answer))[:_SNIPPET_CHARS]
        if status in (429, 503):
            return TransientFailure(error=what, status_code=status, retry_after=retry_after(headers.get("retry-after")))
        if 500 <= status < 600:
            return TransientFailure(error=what, status_code=status)
        if status in (401, 403):
            what = f"{what} (check account_sid and auth_token)"
        elif 300 <= status < 400:
            what = f"{what}; redirect not followed, check base_url"
        return PermanentFailure(error=what, status_code=status)

    def _scrub(self, text: str) -> str:
        """Errors are stored and shown to operators: never let the token into one."""
        for secret in self._hidden:
            text = text.replace(secret, "[redacted]")
        return text


def _json_object(answer: bytes) -> dict[str, Any]:
    try:
        data = msgspec.json.decode(answer)
    except msgspec.DecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _explain(status: int, data: dict[str, Any], answer: bytes) -> str:
    """The provider's own ``code: message`` where it gave them, else the status and a snippet."""
    code, message = data.get("code"), data.get("message")
    if code is not None and isinstance(message, str):
        return f"{code}: {message}"
    if isinstance(message, str):
        return f"HTTP {status}: {message}"
    snippet = " ".join(answer.decode("utf-8", errors="replace").split())
    return f"HTTP {status}: {snippet}" if snippet else f"HTTP {status}"


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
