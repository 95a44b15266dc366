"""Notigate channel plugin: payment events as signed webhooks (Standard Webhooks).

Registers the ``webhook`` channel, configured from ``[channels.webhook]``. The plugin
only registers; ``WebhookChannel`` renders the envelope and delivers it.
"""

from __future__ import annotations

from collections.abc import Callable

from notigate import Channel, hookimpl

from ._channel import WebhookChannel
from ._config import WebhookConfig

__all__ = ["WebhookChannel", "WebhookConfig", "notigate_register_channels"]


@hookimpl
def notigate_register_channels(register: Callable[[type[Channel]], None]) -> None:
    """Offer the ``webhook`` channel to the engine."""
    register(WebhookChannel)
