"""The PAPRIKA platform: what the engine calls for ``/api/v1/platforms/paprika/callbacks``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

import msgspec

from notigate import (
    CallbackAnswer,
    CallbackRequest,
    CallbackResult,
    Event,
    PlatformBase,
    UnsupportedMediaType,
    json_answer,
)
from notigate_platform_paprika import _codes, _sample
from notigate_platform_paprika._auth import authenticate
from notigate_platform_paprika._body import decode, to_event
from notigate_platform_paprika._config import PaprikaConfig


def utcnow() -> datetime:
    """The gateway's clock, timezone-aware."""
    return datetime.now(UTC)


class PaprikaPlatform(PlatformBase):
    """PAPRIKA notifications: a JSON body, authenticated by an HMAC in the headers.

    ``clock`` is the time source for the replay window and for samples; tests freeze it.
    """

    name: ClassVar[str] = "paprika"
    config_type: ClassVar[type[msgspec.Struct]] = PaprikaConfig
    sample_config: ClassVar[dict[str, Any]] = {"client_id": "MCH-PAP-0001", "secret_key": "SK-PAP-EXAMPLE-SECRET"}

    def __init__(self, config: PaprikaConfig, clock: Callable[[], datetime] = utcnow) -> None:
        self.config = config
        self.clock = clock

    async def parse(self, request: CallbackRequest) -> list[Event]:
        """Authenticate and normalize one notification into exactly one event.

        The signature covers the configured ``public_path``, never ``request.path``: a
        proxy may have rewritten the latter. Raises UnsupportedMediaType (415),
        SignatureError (401) or PlatformInputError (400), and nothing else.
        """
        if request.content_type != "application/json":
            header = request.headers.get("content-type")
            received = repr(header[:100]) if header else "none"
            raise UnsupportedMediaType(f"content type must be application/json, got {received}")
        request_id = authenticate(request.headers, request.body, self.config, self.clock())
        return [to_event(decode(request.body), self.config.client_id, request_id)]

    def answer(self, result: CallbackResult, request: CallbackRequest) -> CallbackAnswer:
        """Exactly 200 for an accepted callback; rejections and gateway failures keep theirs.

        PAPRIKA counts any other status, 202 included, as a failure and retries, which is
        what a 4xx or 5xx must cause. The body is ignored by PAPRIKA: the default JSON.
        """
        if result.accepted and result.status_code != 200:
            result = msgspec.structs.replace(result, status_code=200)
        return json_answer(result)

    def map_code(self, code: str) -> str | None:
        """PAPRIKA's ``error.code`` table, in any case: ``CC_DECLINED`` → ``card_declined``."""
        return _codes.map_error_code(code)

    def sample_request(self, code: str | None = None) -> CallbackRequest:
        """A notification for ``code`` (default ``card_declined``), signed now with the configured credentials.

        Raises ValueError, naming the supported codes, for a code PAPRIKA never reports.
        """
        return _sample.sample_request(self.config, self.clock(), code)
