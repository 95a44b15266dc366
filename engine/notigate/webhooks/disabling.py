"""When a webhook endpoint is switched off instead of tried again: it answered 410 Gone, or it has
failed with no success for longer than ``[delivery] endpoint_disable_after``.

A switched-off endpoint is a disabled circuit breaker (``delivery.breakers``): its deliveries wait,
unattempted and never failed, until an admin enables it again (``POST
/api/v1/webhooks/endpoints/{name}/enable``), when they are woken. Other channels are never switched off.
"""

from __future__ import annotations

from datetime import timedelta

from notigate.config.durations import seconds
from notigate.config.settings import DeliveryConfig
from notigate.plugin.channel import Delivered, Outcome
from notigate.webhooks.endpoints import CHANNEL

GONE = "answered 410 Gone"


def answered_gone(channel: str, outcome: Outcome) -> bool:
    """A webhook endpoint answered 410 Gone: it is switched off at once."""
    return channel == CHANNEL and not isinstance(outcome, Delivered) and outcome.status_code == 410


def disable_after(channel: str, config: DeliveryConfig) -> timedelta | None:
    """How long a webhook endpoint may fail with no success before it is switched off (None: never)."""
    return timedelta(seconds=seconds(config.endpoint_disable_after)) if channel == CHANNEL else None


def failing_too_long(config: DeliveryConfig) -> str:
    """The reason a long-failing endpoint was switched off, as operators read it."""
    return f"failing with no success for longer than endpoint_disable_after ({config.endpoint_disable_after})"
