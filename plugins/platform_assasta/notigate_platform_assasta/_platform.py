"""The ASSASTA platform: what the engine calls for ``/api/v1/platforms/assasta/callbacks``."""

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
)
from notigate_platform_assasta import _codes, _sample
from notigate_platform_assasta._answer import xml_answer
from notigate_platform_assasta._config import AssastaConfig
from notigate_platform_assasta._document import to_event
from notigate_platform_assasta._xml import read

CONTENT_TYPES = ("application/xml", "text/xml")


class AssastaPlatform(PlatformBase):
    """ASSASTA XML notifications: one signed document per payment status change, answered in XML."""

    name: ClassVar[str] = "assasta"
    config_type: ClassVar[type[msgspec.Struct]] = AssastaConfig
    sample_config: ClassVar[dict[str, Any]] = {"merchants": {"31835": {"user_id": "bot31835", "password": "p@ssw0rd"}}}

    def __init__(self, config: AssastaConfig) -> None:
        self.config = config

    async def parse(self, request: CallbackRequest) -> list[Event]:
        """Verify and normalize one notification into exactly one event.

        Raises UnsupportedMediaType (415), SignatureError (401) or PlatformInputError
        (400), and nothing else, whatever the body holds. The ``charset`` parameter of
        the content type is ignored: the XML prolog declares the encoding, as the guide says.
        """
        if request.content_type not in CONTENT_TYPES:
            header = request.headers.get("content-type")
            received = repr(header[:100]) if header else "none"
            raise UnsupportedMediaType(f"content type must be application/xml or text/xml, got {received}")
        return [to_event(read(request.body, self.config.max_body_size), self.config.merchants)]

    def answer(self, result: CallbackResult, request: CallbackRequest) -> CallbackAnswer:
        """Always ASSASTA's XML answer (see ``_answer`` for the status mapping); never raises."""
        return xml_answer(result, request, self.config.max_body_size)

    def map_code(self, code: str) -> str | None:
        """``E051`` → ``insufficient_funds``; also the stored ``platform_code`` forms ``3/E051`` and ``7``."""
        return _codes.map_platform_code(code)

    def sample_request(self, code: str | None = None) -> CallbackRequest:
        """A signed sample notification for ``code`` (default ``insufficient_funds``).

        Signed for merchant 31835 when configured, else the first configured merchant.
        Raises ValueError, naming the supported codes, for a code ASSASTA never reports.
        """
        return _sample.sample_request(self.config.merchants, code)
