"""What can be wrong with the database and queue URLs, said without repeating them (they may hold a password)."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit


def database_url_problem(url: str) -> str | None:
    """What is wrong with a ``[database] url``, or None. The URL is not repeated (it may hold a password)."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        path = url.removeprefix("sqlite:///")
        return None if path and path != url else f"expected sqlite:///path/file.db, got {url!r}"
    if scheme not in ("postgres", "postgresql"):
        return f"unsupported scheme {scheme!r} (use postgresql:// or sqlite:///)"
    return _port_problem(url)


def queue_url_problem(url: str) -> str | None:
    """What is wrong with a ``[queue] url`` (empty: the embedded queue), or None."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        return f"unsupported scheme {parts.scheme!r} (use redis://, rediss:// or unix://, or leave it empty)"
    if parts.scheme != "unix" and "db=" not in parts.query and not re.fullmatch(r"/?\d*", parts.path):
        return "the path must be a database number (redis://host:6379/0)"
    return _port_problem(url)


def _port_problem(url: str) -> str | None:
    try:
        _ = urlsplit(url).port  # parsing the port is the check
    except ValueError as exc:
        return f"invalid port ({exc})"
    return None


URL_CHECKS: dict[str, Callable[[str], str | None]] = {"database": database_url_problem, "queue": queue_url_problem}
