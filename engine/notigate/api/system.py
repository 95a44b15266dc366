"""Operational endpoints: plugins, health, metrics."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.exceptions import NotAuthorizedException
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from notigate.api.auth import SECURITY, find_key, presented_key, require_api_key
from notigate.api.deps import GatewayDep
from notigate.breakers import BreakerView
from notigate.config import env
from notigate.plugins import PluginInfo


@get("/api/v1/destinations", tags=["deliveries"], guards=[require_api_key], security=SECURITY,
     summary="Circuit breakers per destination (closed, open, half_open)")
async def list_destinations(gateway: GatewayDep) -> list[BreakerView]:
    return await gateway.breakers.all()


@get("/api/v1/plugins", tags=["plugins"], guards=[require_api_key], security=SECURITY,
     summary="Every discovered plugin, enabled or not")
async def list_plugins(gateway: GatewayDep) -> list[PluginInfo]:
    return gateway.plugins.infos


class Health(msgspec.Struct, frozen=True):
    status: str
    checks: dict[str, str] = {}


@get("/health/live", tags=["health"], summary="The process is up")
async def live() -> Health:
    return Health(status="ok")


@get("/health/ready", tags=["health"], summary="The database and the queue answer")
async def ready(gateway: GatewayDep) -> Response[Health]:
    if gateway.draining:  # before any probe: a balancer must stop sending here at once
        return Response(Health(status="draining", checks={"server": "draining"}), status_code=503)
    checks: dict[str, str] = {}
    for name, probe in (("database", gateway.db.ping), ("queue", gateway.queue.ping)):
        try:
            await probe()
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"unavailable: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return Response(Health(status="ok" if ok else "unavailable", checks=checks), status_code=200 if ok else 503)


class _Snapshot:
    """A collector over numbers read from the database just before the scrape."""

    def __init__(self, counts: dict[str, list[dict[str, object]]], depth: int) -> None:
        self.counts, self.depth = counts, depth

    def collect(self):  # type: ignore[no-untyped-def]
        n = CounterMetricFamily("notigate_notifications", "Notifications stored", labels=["platform", "code"])
        for row in self.counts["notifications"]:
            n.add_metric([str(row["platform"]), str(row["code"])], float(row["n"]))  # type: ignore[arg-type]
        d = GaugeMetricFamily("notigate_deliveries", "Deliveries by channel and status", labels=["channel", "status"])
        for row in self.counts["deliveries"]:
            d.add_metric([str(row["channel"]), str(row["status"])], float(row["n"]))  # type: ignore[arg-type]
        a = CounterMetricFamily("notigate_delivery_attempts", "Delivery attempts by channel and outcome",
                                labels=["channel", "outcome"])
        for row in self.counts["attempts"]:
            a.add_metric([str(row["channel"]), str(row["outcome"])], float(row["n"]))  # type: ignore[arg-type]
        b = GaugeMetricFamily("notigate_breaker_open", "1 while a destination's circuit breaker holds deliveries back",
                              labels=["destination"])
        for row in self.counts.get("breakers", []):
            b.add_metric([str(row["destination"])], 0.0 if row["state"] == "closed" else 1.0)
        depth = GaugeMetricFamily("notigate_queue_depth",
                                  "Jobs waiting in the queue (one delivery step, or a batch of new deliveries)",
                                  value=self.depth)
        yield from (n, d, a, b, depth)


@get("/metrics", tags=["health"], summary="Prometheus metrics", media_type="text/plain; version=0.0.4")
async def metrics(gateway: GatewayDep, request: Request[Any, Any, Any]) -> Response[bytes]:
    """Counts come from the database and queue (the same from every process); request
    latency is per process, aggregated across processes when PROMETHEUS_MULTIPROC_DIR is set."""
    if not gateway.settings.server.public_metrics:
        presented = presented_key(request)
        if presented is None or find_key(gateway, presented) is None:
            raise NotAuthorizedException("metrics need an API key")
    try:
        depth = await gateway.queue.depth()
    except Exception:
        depth = -1
    snapshot = CollectorRegistry()
    snapshot.register(_Snapshot(await gateway.metric_counts(), depth))
    if env("PROMETHEUS_MULTIPROC_DIR"):
        process = CollectorRegistry()
        multiprocess.MultiProcessCollector(process)  # type: ignore[no-untyped-call]
    else:
        process = REGISTRY
    body = generate_latest(process) + generate_latest(snapshot)
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")
