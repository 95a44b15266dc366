"""Notigate channel plugin: SMS through a Twilio-compatible REST API.

Registers the ``sms`` channel, configured from ``[channels.sms]``. The plugin only
registers; ``SmsChannel`` renders a one-segment text and delivers it.
"""

from __future__ import annotations

from collections.abc import Callable

from notigate import Channel, hookimpl

from ._channel import SmsChannel
from ._config import SmsConfig, e164_problem
from ._segments import Fitted, fit_one_segment

__all__ = ["Fitted", "SmsChannel", "SmsConfig", "e164_problem", "fit_one_segment", "notigate_register_channels"]


@hookimpl
def notigate_register_channels(register: Callable[[type[Channel]], None]) -> None:
    """Offer the ``sms`` channel to the engine."""
    register(SmsChannel)
