"""The ARINDO platform: what the engine calls for ``/api/v1/platforms/arindo/callbacks``."""

from __future__ import annotations

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
from notigate_platform_arindo import _codes, _sample
from notigate_platform_arindo._body import decode, to_event
from notigate_platform_arindo._config import ArindoConfig


class ArindoPlatform(PlatformBase):
    """PAYMENT ARINDO HTTP notifications: one signed JSON object per status change."""

    name: ClassVar[str] = "arindo"
    config_type: ClassVar[type[msgspec.Struct]] = ArindoConfig
    sample_config: ClassVar[dict[str, Any]] = {"server_key": "SB-Mid-server-EXAMPLE"}

    def __init__(self, config: ArindoConfig) -> None:
        self.config = config

    async def parse(self, request: CallbackRequest) -> list[Event]:
        """Verify and normalize one notification into exactly one event.

        Raises UnsupportedMediaType (415), SignatureError (401) or PlatformInputError
        (400), and nothing else, whatever the body holds.
        """
        if request.content_type != "application/json":
            header = request.headers.get("content-type")
            received = repr(header[:100]) if header else "none"
            raise UnsupportedMediaType(f"content type must be application/json, got {received}")
        return [to_event(decode(request.body), self.config.server_key)]

    def answer(self, result: CallbackResult, request: CallbackRequest) -> CallbackAnswer:
        """ARINDO acknowledges on any 2xx and retries on anything else: the default fits."""
        return json_answer(result)

    def map_code(self, code: str) -> str | None:
        """ARINDO's native codes are status pairs, not error names: ``deny/202``, ``failure/504``.

        Accepts ``<transaction_status>/<status_code>`` (optionally ``/<channel_response_code>``)
        as stored in ``platform_code``; the fraud rows need ``fraud_status`` and are not mapped.
        """
        return _codes.map_platform_code(code)

    def sample_request(self, code: str | None = None) -> CallbackRequest:
        """A signed sample notification for ``code`` (default ``card_declined``).

        Raises ValueError, naming the supported codes, for a code ARINDO never reports.
        """
        return _sample.sample_request(self.config.server_key, code)
