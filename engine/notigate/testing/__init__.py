"""The plugin kit's test tools, for a plugin's own tests (and the engine's).

Installed with ``notigate`` and registered as a pytest plugin (entry point ``pytest11``), so a
plugin's tests get the ``receiver`` and ``closed_port`` fixtures without a conftest, and import the
rest from here:

- ``PlatformContract`` and ``ChannelContract``: subclass one in a ``Test…`` class and the engine's
  contract runs against the plugin (discovery through its entry point, switched off by config, the
  base class and protocol, its sample config, a sample round trip);
- ``Receiver``, ``Reply``, ``Received``: a scripted HTTP peer on 127.0.0.1;
- ``sample_message``: a ``Message`` for a channel, built from the sample notification;
- ``app_client``: the whole gateway from settings, as an HTTP client; ``assemble``: the gateway as
  ``serve`` builds it from settings, never opened (how a plugin's configuration meets the engine's).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from notigate.testing.messages import sample_message
from notigate.testing.receiver import Received, Receiver, Reply

if TYPE_CHECKING:
    from notigate.testing.client import app_client
    from notigate.testing.contract import ChannelContract, PlatformContract
    from notigate.testing.gateway import assemble

_BUILDING = {
    "app_client": "notigate.testing.client",
    "assemble": "notigate.testing.gateway",
    "ChannelContract": "notigate.testing.contract",
    "PlatformContract": "notigate.testing.contract",
}
"""What builds gateways, and so imports the whole engine (about 2.5 s): loaded on first use, because
every pytest session with ``notigate`` installed imports this package for its fixtures."""


def __getattr__(name: str) -> Any:
    if (module := _BUILDING.get(name)) is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "ChannelContract",
    "PlatformContract",
    "Received",
    "Receiver",
    "Reply",
    "app_client",
    "assemble",
    "sample_message",
]
