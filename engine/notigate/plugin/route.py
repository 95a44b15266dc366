"""Routes: the engine's answer to "who must hear about this event, and how"."""

from __future__ import annotations

import msgspec


class Route(msgspec.Struct, kw_only=True):
    """One recipient on one channel for one event; becomes one delivery.

    ``recipient`` is channel-specific: an email address, a phone number, or the name
    of a ``[[webhooks]]`` endpoint. ``rule`` names the rule (or plugin) that added it.
    """

    channel: str
    recipient: str
    rule: str
    locale: str = "en"
    timezone: str = "Asia/Jakarta"
