"""What operators see of delivery: live workers and lag in /health/ready, and the matching metrics."""

from __future__ import annotations

import re
import signal
from pathlib import Path

from support import (
    JSON,
    api_client,
    arindo_body,
    make_settings,
    migrated_gateway,
    start_worker,
    value_when,
    wait_for,
    worker_config,
)

from notigate.testing import Receiver


def _metric(text: str, name: str) -> dict[str, float]:
    """Every sample of ``name``: its label string (or "") to its value."""
    return {
        m.group(1) or "": float(m.group(2)) for m in re.finditer(rf"^{name}(\{{[^}}]*\}})? (\S+)$", text, re.MULTILINE)
    }


async def test_readiness_and_metrics_follow_the_workers(
    tmp_path: Path, postgres_url: str, redis_url: str, queue_name: str, receiver: Receiver
) -> None:
    """With no worker, readiness stays 200 but says ``degraded``, and the waiting delivery's age grows;
    a worker that starts shows as alive and sends; once killed it is gone within its lease."""
    receiver.delay = 1.0  # long enough to see a send slot taken
    config = worker_config(
        tmp_path, postgres_url, redis_url, queue_name, receiver.url, delivery='lease = "2s"\nsweep_interval = "200ms"'
    )
    settings = make_settings(
        postgres_url,
        receiver.url,
        queue={"url": redis_url, "name": queue_name},
        delivery={"lease": "2s", "sweep_interval": "200ms"},
    )
    gateway = await migrated_gateway(settings)
    async with api_client(gateway) as client:

        async def health() -> dict[str, object]:
            response = await client.get("/health/ready")
            assert response.status_code == 200
            return response.json()  # type: ignore[no-any-return]

        async def metrics() -> str:
            return (await client.get("/metrics")).text

        await client.post("/api/v1/platforms/arindo/callbacks", content=arindo_body(), headers=JSON)
        waiting = await wait_for(lambda: value_when(health, lambda h: h["lag_seconds"] > 0.5))
        assert waiting["status"] == "degraded" and waiting["workers"] == 0
        assert waiting["checks"]["workers"] == "none alive: deliveries wait"
        text = await wait_for(lambda: value_when(metrics, lambda t: _metric(t, "notigate_workers_alive") == {"": 0.0}))
        assert _metric(text, "notigate_oldest_due_delivery_age_seconds")[""] > 0.5
        worker = start_worker(config)
        try:
            alive = await wait_for(lambda: value_when(health, lambda h: h["workers"] == 1), timeout=60)
            text = await wait_for(
                lambda: value_when(metrics, lambda t: _metric(t, "notigate_send_slots_in_use")), timeout=30
            )
            assert list(_metric(text, "notigate_send_slots_in_use").values()) == [1.0]
            assert len(_metric(text, "notigate_worker_heartbeat_age_seconds")) == 1
            await wait_for(
                lambda: value_when(health, lambda h: h["status"] == "ok" and h["lag_seconds"] == 0), timeout=30
            )
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait()
        assert alive["checks"]["workers"] == "1 alive"
        gone = await wait_for(lambda: value_when(health, lambda h: h["workers"] == 0), timeout=10)
    assert gone["status"] == "degraded"
