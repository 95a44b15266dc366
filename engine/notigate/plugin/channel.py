"""What a channel plugin implements: render a message and deliver it, with a typed outcome."""

from __future__ import annotations

import re
import time
from datetime import UTC
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import msgspec

from notigate.events import Digest, Notification


class Message(msgspec.Struct, frozen=True, kw_only=True):
    """One message to one recipient, built by the engine for a delivery.

    ``id`` is the delivery id and stays the same on every attempt (webhooks send it as
    ``webhook-id`` so receivers can deduplicate). ``address`` is where to send (URL,
    email address, phone number); ``secret`` is a signing secret where the destination
    has one. ``subject``, ``text`` and ``html`` come from the channel's localized
    templates (``html`` only where the channel has an HTML template). For a digest,
    ``digest`` summarises the folded notifications and ``notification`` is the latest.
    Never log a Message: it may carry secrets and personal data.
    """

    id: str
    channel: str
    recipient: str
    address: str
    notification: Notification
    locale: str = "en"
    timezone: str = "Asia/Jakarta"
    subject: str = ""
    text: str = ""
    html: str | None = None
    digest: Digest | None = None
    secret: str | None = msgspec.field(default=None)

    def __repr__(self) -> str:  # keep secrets and personal data out of tracebacks
        return f"Message(id={self.id!r}, channel={self.channel!r}, recipient={self.recipient!r})"


class Rendered(msgspec.Struct, frozen=True, kw_only=True):
    """What would go on the wire; stored as the captured message in sandbox mode."""

    body: str
    content_type: str = "text/plain"
    subject: str | None = None
    headers: dict[str, str] = {}


class Delivered(msgspec.Struct, frozen=True, kw_only=True, tag="delivered"):
    """The destination accepted the message."""

    detail: str = ""
    status_code: int | None = None


class TransientFailure(msgspec.Struct, frozen=True, kw_only=True, tag="transient"):
    """Worth retrying later; ``retry_after`` (seconds) is the destination's own request."""

    error: str
    status_code: int | None = None
    retry_after: float | None = None


class PermanentFailure(msgspec.Struct, frozen=True, kw_only=True, tag="permanent"):
    """Retrying cannot help: the delivery fails at once."""

    error: str
    status_code: int | None = None


Outcome = Delivered | TransientFailure | PermanentFailure


def retry_after(value: str | None) -> float | None:
    """Seconds from now that a ``Retry-After`` header asks for (delay or HTTP-date); None if invalid.

    For HTTP channels' 429/503 answers; the engine clamps the wait to ``backoff_max``.
    """
    if value is None:
        return None
    value = value.strip()
    if re.fullmatch(r"[0-9]+", value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - time.time())


@runtime_checkable
class Channel(Protocol):
    """A delivery channel. Registered as a class; the engine instantiates it with its config.

    Class attributes:
        name: channel name used in rules (``webhook``, ``email``, ``sms``).
        config_type: msgspec Struct that ``[channels.<name>]`` is decoded into.

        sample_config: the section the embedded default uses (sandbox values).
        uses_templates: False if the channel sends the event itself and ignores ``subject``,
            ``text`` and ``html`` (webhooks): the engine then skips rendering them.
        templates_dir: a folder of default templates the plugin ships (``<channel>/…``),
            used where neither the deployment nor the top-level ``templates/`` has a file.

    A plugin subclasses ``ChannelBase``, which has this shape and the defaults of what a
    channel may leave out; the engine registers only its subclasses.
    """

    name: ClassVar[str]
    config_type: ClassVar[type[msgspec.Struct]]
    sample_config: ClassVar[dict[str, Any]]
    uses_templates: ClassVar[bool]
    templates_dir: ClassVar[Path | None]

    def __init__(self, config: Any) -> None: ...

    def validate_recipient(self, recipient: str) -> str | None:
        """What is wrong with a rule's ``to`` entry, or None; called for every rule recipient
        when the configuration loads."""
        ...

    def destination(self, message: Message) -> str:
        """The circuit breaker's and send slots' key: what fails together (an SMTP server, an SMS account)."""
        ...

    def render(self, message: Message) -> Rendered:
        """Build what would be sent, without sending it (sandbox mode stores this)."""
        ...

    async def send(self, message: Message, rendered: Rendered) -> Outcome:
        """Deliver once. Return an outcome; do not raise for delivery problems.

        Called at least once per attempt: a send may be repeated after a crash, so it
        must be safe to repeat (webhooks carry the same ``webhook-id``).
        """
        ...

    async def aclose(self) -> None:
        """Release pooled connections; called once at shutdown."""
        ...


class ChannelBase:
    """What a channel plugin subclasses: set ``name`` and ``config_type``, implement ``render`` and
    ``send``, and override a default below only where the channel differs.

    The engine instantiates the class once with its decoded ``[channels.<name>]`` section, kept
    as ``self.config``.
    """

    name: ClassVar[str]
    config_type: ClassVar[type[msgspec.Struct]]
    sample_config: ClassVar[dict[str, Any]] = {}
    uses_templates: ClassVar[bool] = True
    templates_dir: ClassVar[Path | None] = None

    def __init__(self, config: Any) -> None:
        self.config = config

    def validate_recipient(self, recipient: str) -> str | None:
        """Any recipient will do."""
        return None

    def destination(self, message: Message) -> str:
        """One destination per address (a webhook URL): ``<channel>:<address>``."""
        return f"{message.channel}:{message.address}"

    def render(self, message: Message) -> Rendered:
        """See ``Channel.render``."""
        raise NotImplementedError(f"{type(self).__name__}.render")

    async def send(self, message: Message, rendered: Rendered) -> Outcome:
        """See ``Channel.send``."""
        raise NotImplementedError(f"{type(self).__name__}.send")

    async def aclose(self) -> None:
        """Nothing pooled."""
