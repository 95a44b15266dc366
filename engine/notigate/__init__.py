"""Notigate: verify, normalize, route and deliver payment platforms' notifications.

This module is the plugin kit: everything a platform or channel plugin uses is importable from
``notigate`` itself (``notigate.testing`` adds what its tests use). The rest of the package is
the engine's own and may change between releases.
"""

from __future__ import annotations

from notigate.config.durations import Duration, seconds
from notigate.config.loading import convert
from notigate.config.secret import Secret
from notigate.errors import (
    ConfigError,
    NotigateError,
    PlatformInputError,
    SignatureError,
    UnsupportedMediaType,
)
from notigate.events import TAXONOMY, Digest, Event, Notification
from notigate.masking import mask_card, mask_email, mask_metadata, mask_phone
from notigate.messages.samples import sample_digest, sample_notification
from notigate.plugin.channel import (
    Channel,
    ChannelBase,
    Delivered,
    Message,
    Outcome,
    PermanentFailure,
    Rendered,
    TransientFailure,
    retry_after,
)
from notigate.plugin.hookspecs import hookimpl
from notigate.plugin.platform import (
    CallbackAnswer,
    CallbackRequest,
    CallbackResult,
    Platform,
    PlatformBase,
    json_answer,
)
from notigate.plugin.route import Route

__all__ = [
    "TAXONOMY",
    "CallbackAnswer",
    "CallbackRequest",
    "CallbackResult",
    "Channel",
    "ChannelBase",
    "ConfigError",
    "Delivered",
    "Digest",
    "Duration",
    "Event",
    "Message",
    "Notification",
    "NotigateError",
    "Outcome",
    "PermanentFailure",
    "Platform",
    "PlatformBase",
    "PlatformInputError",
    "Rendered",
    "Route",
    "Secret",
    "SignatureError",
    "TransientFailure",
    "UnsupportedMediaType",
    "convert",
    "hookimpl",
    "json_answer",
    "mask_card",
    "mask_email",
    "mask_metadata",
    "mask_phone",
    "retry_after",
    "sample_digest",
    "sample_notification",
    "seconds",
]
