"""Notigate: verify, normalize, route and deliver payment platforms' notifications."""

from __future__ import annotations

import pluggy

from notigate.channel import (
    Channel,
    Delivered,
    Message,
    Outcome,
    PermanentFailure,
    Rendered,
    TransientFailure,
    retry_after,
)
from notigate.errors import (
    ConfigError,
    NotigateError,
    PlatformInputError,
    SignatureError,
    UnsupportedMediaType,
)
from notigate.events import TAXONOMY, Event, Notification
from notigate.masking import mask_card, mask_email, mask_metadata, mask_phone
from notigate.platform import (
    CallbackAnswer,
    CallbackRequest,
    CallbackResult,
    Platform,
    json_answer,
)
from notigate.routing import Route

hookimpl = pluggy.HookimplMarker("notigate")

__all__ = [
    "TAXONOMY",
    "CallbackAnswer",
    "CallbackRequest",
    "CallbackResult",
    "Channel",
    "ConfigError",
    "Delivered",
    "Event",
    "Message",
    "Notification",
    "NotigateError",
    "Outcome",
    "PermanentFailure",
    "Platform",
    "PlatformInputError",
    "Rendered",
    "Route",
    "SignatureError",
    "TransientFailure",
    "UnsupportedMediaType",
    "hookimpl",
    "json_answer",
    "mask_card",
    "mask_email",
    "mask_metadata",
    "mask_phone",
    "retry_after",
]
