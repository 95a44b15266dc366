"""One log format for ``serve`` and ``worker``: text for people, or one JSON object per line.

Every line written while a notification is being stored or a delivery attempted carries
their ids (``notification_id``, ``delivery_id``), so an operator follows one payment
event from its callback to each send without the code passing ids into every message.
The ids live in context variables that ``ingesting`` and ``delivering`` set for the task
at hand; asyncio copies them into the tasks it starts from there.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Literal

import msgspec

Format = Literal["text", "json"]

_notification: contextvars.ContextVar[str | None] = contextvars.ContextVar("notification_id", default=None)
_delivery: contextvars.ContextVar[str | None] = contextvars.ContextVar("delivery_id", default=None)

QUIET = ("httpx", "piccolo", "aiohttp.access")
"""Libraries whose info lines say nothing an operator needs."""


@contextlib.contextmanager
def ingesting(notification_id: str) -> Iterator[None]:
    """Lines logged inside carry this notification's id."""
    token = _notification.set(notification_id)
    try:
        yield
    finally:
        _notification.reset(token)


@contextlib.contextmanager
def delivering(delivery_id: str, notification_id: str) -> Iterator[None]:
    """Lines logged inside carry this delivery's id and its notification's."""
    tokens = _delivery.set(delivery_id), _notification.set(notification_id)
    try:
        yield
    finally:
        _delivery.reset(tokens[0])
        _notification.reset(tokens[1])


class _Ids(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.notification_id = getattr(record, "notification_id", None) or _notification.get()
        record.delivery_id = getattr(record, "delivery_id", None) or _delivery.get()
        return True


class TextFormatter(logging.Formatter):
    """``2026-12-04 10:15:30,123 WARNING notigate.delivery.attempt [dlv_… ntf_…]: message``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(ids)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        ids = [i for i in (getattr(record, "delivery_id", None), getattr(record, "notification_id", None)) if i]
        record.ids = f" [{' '.join(ids)}]" if ids else ""
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One object per line: time (UTC, RFC 3339), level, logger, message, the ids, and the error if any."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("notification_id", "delivery_id"):
            if value := getattr(record, key, None):
                line[key] = value
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            line["error"] = {
                "type": type(error).__name__,
                "message": str(error),
                "traceback": "".join(traceback.format_exception(error)).rstrip(),
            }
        return msgspec.json.encode(line).decode()


def configure(level: str = "INFO", fmt: Format = "text") -> None:
    """Send every logger's lines (ours, uvicorn's, arq's) to stderr in ``fmt``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(_Ids())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
