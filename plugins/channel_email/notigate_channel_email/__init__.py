"""Notigate channel plugin: email over SMTP (plain, STARTTLS or implicit TLS, optional auth).

Registers the ``email`` channel, configured from ``[channels.email]``. The plugin only
registers; ``EmailChannel`` renders the message and delivers it over pooled connections.
"""

from __future__ import annotations

from collections.abc import Callable

from notigate import Channel, hookimpl

from ._channel import EmailChannel
from ._config import EmailConfig

__all__ = ["EmailChannel", "EmailConfig", "notigate_register_channels"]


@hookimpl
def notigate_register_channels(register: Callable[[type[Channel]], None]) -> None:
    """Offer the ``email`` channel to the engine."""
    register(EmailChannel)
