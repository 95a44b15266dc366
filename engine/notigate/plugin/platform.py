"""What a platform plugin implements: verify and parse a native callback, shape the answer."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

import msgspec

from notigate.events import Event


class CallbackRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A platform's HTTP callback exactly as received.

    ``body`` holds the exact received bytes (signatures are computed over them);
    ``headers`` keys are lower case.
    """

    body: bytes
    headers: dict[str, str] = {}
    path: str = ""
    query: str = ""

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower case (``application/json``)."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


class CallbackResult(msgspec.Struct, frozen=True, kw_only=True):
    """What the engine made of a callback; the platform turns it into its answer.

    ``status_code`` is the engine's proposal in HTTP terms: 200 when every event was
    stored (or already known), 4xx for unusable input, 503 when the gateway could not
    store it (the platform should retry later).
    """

    status_code: int
    detail: str = "accepted"
    notification_ids: list[str] = []
    duplicates: int = 0

    @property
    def accepted(self) -> bool:
        return 200 <= self.status_code < 300


class CallbackAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """The HTTP answer the platform expects."""

    status_code: int
    body: bytes = b""
    media_type: str = "application/json"
    headers: dict[str, str] = {}


def json_answer(result: CallbackResult) -> CallbackAnswer:
    """The default answer: the proposed status with a small JSON body.

    Platforms whose contract is "any 2xx" can return this unchanged.
    """
    body: dict[str, Any] = {"status_code": result.status_code, "detail": result.detail}
    if result.accepted:
        body["notification_ids"] = result.notification_ids
    return CallbackAnswer(status_code=result.status_code, body=msgspec.json.encode(body))


@runtime_checkable
class Platform(Protocol):
    """A payment platform. Registered as a class; the engine instantiates it with its config.

    Class attributes:
        name: lower-case platform name, used in URLs and stored events (``arindo``).
        config_type: msgspec Struct that ``[platforms.<name>]`` is decoded into.
        sample_config: the section used on the embedded default (sandbox credentials).

    A plugin subclasses ``PlatformBase``, which has this shape and the defaults of what a
    platform may leave out (``answer``, ``map_code``); the engine registers only its subclasses.
    """

    name: ClassVar[str]
    config_type: ClassVar[type[msgspec.Struct]]
    sample_config: ClassVar[dict[str, Any]]

    def __init__(self, config: Any) -> None: ...

    async def parse(self, request: CallbackRequest) -> list[Event]:
        """Verify and parse a callback into zero or more events.

        Raise ``SignatureError`` (401) when it does not verify, ``PlatformInputError``
        (400) or ``UnsupportedMediaType`` (415) when it is unusable. Never raise anything
        else for bad input: the engine treats other exceptions as its own 500.
        """
        ...

    def answer(self, result: CallbackResult, request: CallbackRequest) -> CallbackAnswer:
        """Shape the HTTP answer the platform expects for ``result``.

        Called for every callback to this platform's URL, rejected ones included (bad
        input, a body over the size limit — then ``request.body`` is empty — and the
        gateway's own failures: 500, or 503 when it could not store). ``request`` lets
        platforms that echo fields of the callback in their answer do so. Must not raise.
        """
        ...

    def sample_request(self, code: str | None = None) -> CallbackRequest:
        """A correctly signed sample callback (for ``notigate send-test``).

        ``code`` picks the normalized code to simulate; None picks a representative error.
        """
        ...

    def map_code(self, code: str) -> str | None:
        """The taxonomy code for one of the platform's native error codes (``CC_DECLINED`` →
        ``card_declined``), for ``POST /api/v1/notifications/error``; None when unknown."""
        ...


class PlatformBase:
    """What a platform plugin subclasses (like ``llm.Model``): set the class attributes, implement
    ``parse`` and ``sample_request``, and override a default below only where the platform differs.

    The engine instantiates the class once with its decoded ``[platforms.<name>]`` section, kept
    as ``self.config``.
    """

    name: ClassVar[str]
    config_type: ClassVar[type[msgspec.Struct]]
    sample_config: ClassVar[dict[str, Any]] = {}

    def __init__(self, config: Any) -> None:
        self.config = config

    async def parse(self, request: CallbackRequest) -> list[Event]:
        """See ``Platform.parse``."""
        raise NotImplementedError(f"{type(self).__name__}.parse")

    def answer(self, result: CallbackResult, request: CallbackRequest) -> CallbackAnswer:
        """The proposed status with a small JSON body (``json_answer``): right for "any 2xx" platforms."""
        return json_answer(result)

    def sample_request(self, code: str | None = None) -> CallbackRequest:
        """See ``Platform.sample_request``."""
        raise NotImplementedError(f"{type(self).__name__}.sample_request")

    def map_code(self, code: str) -> str | None:
        """No native error codes known: the error API then takes taxonomy codes only."""
        return None
