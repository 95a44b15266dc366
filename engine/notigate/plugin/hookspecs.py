"""Every extension point of Notigate, in one place.

Plugins implement these with ``@notigate.hookimpl``. Registration hooks hand the plugin
a ``register`` callable: the classes it registers do the real (async) work, so
pluggy's synchronous calling never matters. Only ``notigate_route_event`` computes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from notigate.events import Notification
    from notigate.plugin.channel import Channel
    from notigate.plugin.platform import Platform
    from notigate.plugin.route import Route

hookspec = pluggy.HookspecMarker("notigate")
hookimpl = pluggy.HookimplMarker("notigate")
"""What a plugin marks its hook implementations with (``from notigate import hookimpl``)."""


@hookspec
def notigate_register_platforms(register: Callable[[type[Platform]], None]) -> None:
    """Register platform classes (see ``notigate.plugin.platform.Platform``).

    Called once when the gateway starts, for every enabled plugin. Each registered
    class gets a callback URL ``/api/v1/platforms/<name>/callbacks`` and its config
    section ``[platforms.<name>]``. Return nothing.
    """


@hookspec
def notigate_register_channels(register: Callable[[type[Channel]], None]) -> None:
    """Register channel classes (see ``notigate.plugin.channel.Channel``).

    Called once when the gateway or a worker starts, for every enabled plugin. Each
    registered class is configured from ``[channels.<name>]``. Return nothing.
    """


@hookspec
def notigate_route_event(notification: Notification, routes: list[Route]) -> None:
    """Decide who hears about a stored notification, by editing ``routes`` in place.

    Called once per new notification, before its deliveries are stored, in the same
    transaction. Every enabled implementation is called; none wins alone: the built-in
    rule evaluator runs first (``tryfirst``) and appends the routes of matching
    ``[[rules]]``, the built-in subscriptions append one route per webhook endpoint whose
    ``events`` match, then plugins may append, change or remove entries. An empty list at
    the end stores the notification as ``no_route``; of several routes to one (channel,
    recipient), the engine keeps the first. Return nothing; must not block.
    """
