"""The gateway as ``serve`` assembles it, without opening anything: for a plugin's tests of how its
configuration meets the engine's (its section decoded, rule recipients checked, warnings)."""

from __future__ import annotations

from typing import Any

import msgspec

from notigate.app.gateway import Gateway
from notigate.config.loading import convert
from notigate.config.settings import DatabaseConfig, Settings, embedded_settings


def assemble(settings: dict[str, Any] | None = None, *, database_url: str | None = None) -> Gateway:
    """A gateway from ``settings`` (the dict a ``notigate.toml`` decodes to; None: the embedded
    default), on ``database_url`` if given, never opened. Raises ``ConfigError`` with every problem;
    ``.channels``, ``.platforms`` and ``.warnings`` say what the engine made of the rest."""
    if settings is None:
        built = embedded_settings()
        if database_url is not None:
            built = msgspec.structs.replace(built, database=DatabaseConfig(url=database_url))
    else:
        built = convert(settings | ({"database": {"url": database_url}} if database_url else {}), Settings, "")
    return Gateway.from_settings(built)
