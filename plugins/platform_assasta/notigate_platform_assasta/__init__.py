"""Notigate platform plugin for ASSASTA XML payment notifications.

Installing this distribution registers the ``assasta`` platform through the entry point
``platform_assasta`` in group ``notigate``; the work is done in the private modules.
"""

from __future__ import annotations

from collections.abc import Callable

from notigate import Platform, hookimpl
from notigate_platform_assasta._platform import AssastaPlatform


@hookimpl
def notigate_register_platforms(register: Callable[[type[Platform]], None]) -> None:
    """Hand the ASSASTA platform class to the engine."""
    register(AssastaPlatform)
