"""Notigate platform plugin for PAPRIKA header-signed notifications.

Installing this distribution registers the ``paprika`` platform through the entry point
``platform_paprika`` in group ``notigate``; the work is done in the private modules.
"""

from __future__ import annotations

from collections.abc import Callable

from notigate import Platform, hookimpl
from notigate_platform_paprika._platform import PaprikaPlatform


@hookimpl
def notigate_register_platforms(register: Callable[[type[Platform]], None]) -> None:
    """Hand the PAPRIKA platform class to the engine."""
    register(PaprikaPlatform)
