"""Request latency for /metrics: one histogram, labelled by route template, method and status.

Litestar's Prometheus plugin also keeps an in-progress gauge and two counters per
request; the histogram's ``_count`` already counts requests, and this is on the hot path.
"""

from __future__ import annotations

import time

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import Histogram

REQUEST_SECONDS = Histogram(
    "notigate_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "path", "status_code"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
_SKIP = ("/metrics", "/health")


def latency_middleware(app: ASGIApp) -> ASGIApp:
    """Time each HTTP request from the first byte in to the last byte out."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["path"].startswith(_SKIP):
            await app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, timed_send)
        finally:
            path = scope.get("path_template", scope["path"])
            REQUEST_SECONDS.labels(scope["method"], path, status).observe(time.perf_counter() - start)

    return middleware
