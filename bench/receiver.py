"""The delivery benchmark's webhook receiver: an ASGI app run under uvicorn in its own process.

It answers 200 at once to every POST. A request with a ``webhook-id`` header (Notigate's
webhooks) is recorded by that id: its first arrival time and path, and, apart, how many
more times the id came (duplicates: at-least-once resends). Other POSTs (Apprise's ``json://``, the
ceiling blast) are counted per path with their first and last arrival. ``GET /count`` and
``GET /stats`` report both to the benchmark.
"""

from __future__ import annotations

import json
import time
from typing import Any

SEEN: dict[str, tuple[float, str]] = {}  # webhook-id -> (first arrival as time.time(), path)
DUPLICATES: dict[str, int] = {}  # webhook-id -> arrivals after the first (at-least-once resends)
OTHER: dict[str, list[float]] = {}  # path -> [count, first, last] of requests without webhook-id


def _record(path: str, webhook_id: str | None, now: float) -> None:
    if webhook_id is None:
        other = OTHER.setdefault(path, [0, now, now])
        other[0] += 1
        other[2] = now
    elif webhook_id in SEEN:
        DUPLICATES[webhook_id] = DUPLICATES.get(webhook_id, 0) + 1
    else:
        SEEN[webhook_id] = (now, path)


def _report(path: str) -> bytes:
    if path == "/stats":
        return json.dumps({"seen": SEEN, "duplicates": DUPLICATES, "other": OTHER}).encode()
    if path == "/count":
        return json.dumps({"seen": len(SEEN), "other": {k: v[0] for k, v in OTHER.items()}}).encode()
    return b""


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    body = b""
    if scope["method"] == "POST":
        webhook_id = next((v.decode() for k, v in scope["headers"] if k == b"webhook-id"), None)
        _record(scope["path"], webhook_id, time.time())
    elif scope["method"] == "GET":
        body = _report(scope["path"])
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
