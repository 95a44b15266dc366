"""Log lines carry the ids of the notification and delivery they are about, in text and in JSON."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import (
    JSON,
    api_client,
    arindo_body,
    free_port,
    make_settings,
    migrated_gateway,
    wait_for,
)

from notigate import logs
from notigate.testing import Receiver


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


@pytest.mark.parametrize("fmt", ["text", "json"])
async def test_a_delivery_logs_with_its_ids(
    fmt: logs.Format, sqlite_url: str, receiver: Receiver, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    """An endpoint answering 410 Gone is logged with the delivery's and the notification's ids."""
    logs.configure("INFO", fmt)
    receiver.script((410, {}))
    gateway = await migrated_gateway(make_settings(sqlite_url, receiver.url))
    async with api_client(gateway) as client:
        response = await client.post("/api/v1/platforms/arindo/callbacks", content=arindo_body(), headers=JSON)
        notification_id = response.headers["notigate-notification-ids"]
        [delivery] = await gateway.repo.deliveries_of(notification_id)
        lines = await wait_for(lambda: [line for line in capsys.readouterr().err.splitlines() if "410" in line])
    if fmt == "json":
        record = json.loads(lines[0])
        assert (record["level"], record["logger"]) == ("warning", "notigate.delivery.attempt")
        assert (record["delivery_id"], record["notification_id"]) == (delivery.id, notification_id)
        assert record["time"].endswith("Z") and "410 Gone" in record["message"]
    else:
        assert f"WARNING notigate.delivery.attempt [{delivery.id} {notification_id}]: " in lines[0]


def test_serve_writes_one_json_object_per_line(tmp_path: Path) -> None:
    """``--log-format json``: every line ``serve`` logs, its server's and the drain's included, is JSON."""
    port = free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "notigate", "--log-format", "json", "serve", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NOTIGATE_API_KEY": "k" * 32, "CI": ""},
    )
    lines: list[str] = []
    try:
        assert serve.stderr is not None
        _wait_until_live(port)
        serve.send_signal(signal.SIGTERM)
        while "draining" not in (line := serve.stderr.readline()):
            assert line, "serve ended without saying it drains"
            lines.append(line)
        lines.append(line)
        serve.send_signal(signal.SIGTERM)  # a second one stops the drain at once
        lines += serve.communicate(timeout=60)[1].splitlines()
    finally:
        serve.kill()
    records = [json.loads(line) for line in lines if line.strip()]
    assert any(r["logger"] == "notigate.app.server" and "draining" in r["message"] for r in records)
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)


def _wait_until_live(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "serve did not come up"
        time.sleep(0.1)
