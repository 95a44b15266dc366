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
from notigate.app.vitals import Vitals
from notigate.clock import utcnow
from notigate.config.loading import env
from notigate.delivery.breakers import BreakerView
from notigate.plugin.manager import PluginInfo


@get(
    "/api/v1/destinations",
    tags=["deliveries"],
    guards=[require_api_key],
    security=SECURITY,
    summary="Circuit breakers per destination (closed, open, half_open)",
)
async def list_destinations(gateway: GatewayDep) -> list[BreakerView]:
    return await gateway.breakers.all()


@get(
    "/api/v1/plugins",
    tags=["plugins"],
    guards=[require_api_key],
    security=SECURITY,
    summary="Every discovered plugin, enabled or not",
)
async def list_plugins(gateway: GatewayDep) -> list[PluginInfo]:
    return gateway.plugins.infos


class Health(msgspec.Struct, frozen=True, omit_defaults=True):
    """``status``: ok, degraded (answering, but delivery lags or no worker runs), unavailable or draining."""

    status: str
    checks: dict[str, str]
    workers: int | None = None
    """Live ``notigate worker`` processes (Redis queue only)."""
    lag_seconds: float | None = None
    """How long the oldest due, unsent delivery has waited."""


@get("/health/live", tags=["health"], summary="The process is up")
async def live() -> Health:
    return Health(status="ok", checks={})


@get("/health/ready", tags=["health"], summary="The database answers; the queue and delivery keep up")
async def ready(gateway: GatewayDep) -> Response[Health]:
    """503 only when this process cannot take requests: the database is down (nothing can be stored)
    or the process is draining. A dead queue, dead workers or a lagging delivery make it ``degraded``
    (200): callbacks are still stored and delivered later, and taking every API process out of a
    balancer for it would refuse them."""
    if gateway.draining:  # before any probe: a balancer must stop sending here at once
        return Response(Health(status="draining", checks={"server": "draining"}), status_code=503)
    checks: dict[str, str] = {}
    for name, probe in (("database", gateway.db.ping), ("queue", gateway.queue.ping)):
        try:
            await probe()
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"unavailable: {type(exc).__name__}"
    if checks["database"] != "ok":
        return Response(Health(status="unavailable", checks=checks), status_code=503)
    degraded = checks["queue"] != "ok"
    try:
        vitals = await gateway.vitals()
    except Exception as exc:
        checks["delivery"] = f"unknown: {type(exc).__name__}"
        return Response(Health(status="degraded", checks=checks))
    degraded |= vitals.oldest_due > gateway.recovery_seconds
    if vitals.workers is not None:
        checks["workers"] = f"{len(vitals.workers)} alive" if vitals.workers else "none alive: deliveries wait"
        degraded |= not vitals.workers
    checks["lag"] = f"the oldest due delivery has waited {vitals.oldest_due:.1f}s"
    return Response(
        Health(
            status="degraded" if degraded else "ok",
            checks=checks,
            workers=len(vitals.workers) if vitals.workers is not None else None,
            lag_seconds=round(vitals.oldest_due, 3),
        )
    )


class _Snapshot:
    """A collector over numbers read from the database just before the scrape."""

    def __init__(
        self, counts: dict[str, list[dict[str, object]]], depth: int, vitals: Vitals | None, slots: dict[str, int]
    ) -> None:
        self.counts, self.depth, self.vitals, self.slots = counts, depth, vitals, slots

    def collect(self):  # type: ignore[no-untyped-def]
        n = CounterMetricFamily("notigate_notifications", "Notifications stored", labels=["platform", "code"])
        for row in self.counts["notifications"]:
            n.add_metric([str(row["platform"]), str(row["code"])], float(row["n"]))  # type: ignore[arg-type]
        d = GaugeMetricFamily("notigate_deliveries", "Deliveries by channel and status", labels=["channel", "status"])
        for row in self.counts["deliveries"]:
            d.add_metric([str(row["channel"]), str(row["status"])], float(row["n"]))  # type: ignore[arg-type]
        a = CounterMetricFamily(
            "notigate_delivery_attempts", "Delivery attempts by channel and outcome", labels=["channel", "outcome"]
        )
        for row in self.counts["attempts"]:
            a.add_metric([str(row["channel"]), str(row["outcome"])], float(row["n"]))  # type: ignore[arg-type]
        b = GaugeMetricFamily(
            "notigate_breaker_open",
            "1 while a destination's circuit breaker holds deliveries back",
            labels=["destination"],
        )
        for row in self.counts.get("breakers", []):
            b.add_metric([str(row["destination"])], 0.0 if row["state"] == "closed" else 1.0)
        depth = GaugeMetricFamily(
            "notigate_queue_depth",
            "Jobs waiting in the queue (one delivery step, or a batch of new deliveries)",
            value=self.depth,
        )
        yield from (n, d, a, b, depth)
        slots = GaugeMetricFamily(
            "notigate_send_slots_in_use", "Send slots taken per destination", labels=["destination"]
        )
        for destination, taken in sorted(self.slots.items()):
            slots.add_metric([destination], float(taken))
        yield slots
        if self.vitals is not None:
            yield from _vitals(self.vitals)


def _vitals(vitals: Vitals) -> list[GaugeMetricFamily]:
    due = GaugeMetricFamily(
        "notigate_oldest_due_delivery_age_seconds",
        "How long the oldest delivery that is due, and not being sent, has waited",
        value=vitals.oldest_due,
    )
    families = [due]
    if vitals.workers is not None:
        families.append(
            GaugeMetricFamily(
                "notigate_workers_alive",
                "notigate worker processes whose heartbeat is current",
                value=len(vitals.workers),
            )
        )
        age = GaugeMetricFamily(
            "notigate_worker_heartbeat_age_seconds",
            "Seconds since each live worker's last heartbeat",
            labels=["worker"],
        )
        claimed = GaugeMetricFamily(
            "notigate_worker_claimed_deliveries", "Deliveries each live worker holds claimed", labels=["worker"]
        )
        now = utcnow()
        for w in vitals.workers:
            age.add_metric([w.id], max(0.0, (now - w.beat_at).total_seconds()))
            claimed.add_metric([w.id], float(w.claimed))
        families += [age, claimed]
    return families


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
    try:
        vitals: Vitals | None = await gateway.vitals()
        slots = await gateway.slots_taken()
    except Exception:  # Redis or the database down: the counts below say what they can
        vitals, slots = None, {}
    snapshot = CollectorRegistry()
    snapshot.register(_Snapshot(await gateway.metric_counts(), depth, vitals, slots))
    if env("PROMETHEUS_MULTIPROC_DIR"):
        process = CollectorRegistry()
        multiprocess.MultiProcessCollector(process)  # type: ignore[no-untyped-call]
    else:
        process = REGISTRY
    body = generate_latest(process) + generate_latest(snapshot)
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")
