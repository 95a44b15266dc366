"""Durations as the configuration writes them (``"2s"``, ``"30m"``, ``"1.5h"``) and their seconds."""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

# ASCII digits only: Python's \d and float() also take "５" or "٣"
Duration = Annotated[str, msgspec.Meta(pattern=r"^[0-9]+(\.[0-9]+)?(ms|s|m|h|d)$", examples=["2s", "30m"])]


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def seconds(duration: str) -> float:
    """``"30m"`` → ``1800.0``."""
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)", duration)
    if match is None:
        raise ValueError(f"not a duration: {duration!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]
