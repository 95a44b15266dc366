"""Notigate platform plugin for PAYMENT ARINDO HTTP notifications.

Installing this distribution registers the ``arindo`` platform through the entry point
``platform_arindo`` in group ``notigate``; the work is done in the private modules.
"""

from __future__ import annotations

from collections.abc import Callable

from notigate import Platform, hookimpl
from notigate_platform_arindo._platform import ArindoPlatform


@hookimpl
def notigate_register_platforms(register: Callable[[type[Platform]], None]) -> None:
    """Hand the ARINDO platform class to the engine."""
    register(ArindoPlatform)
