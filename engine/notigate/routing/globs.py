"""``*``/``?`` globs, compiled once into one test: codes, event types and silence matchers all use them."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable


def glob_matcher(patterns: list[str]) -> Callable[[str], bool] | None:
    """One compiled test for several ``*``/``?`` globs (case-sensitive), or None for no patterns."""
    if not patterns:
        return None
    if not any(ch in p for p in patterns for ch in "*?["):
        return frozenset(patterns).__contains__
    regex = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))
    return lambda value: regex.match(value) is not None
