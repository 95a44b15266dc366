"""What the cross-package tests share: settings, signed callbacks, API clients, waiting on conditions,
worker processes, and fresh PostgreSQL databases (CI fails where a server is unreachable)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from notigate.app.gateway import Gateway
from notigate.config.loading import convert
from notigate.config.settings import Settings
from notigate.testing import app_client
from notigate.testing.client import migrate_database

POSTGRES_URL = os.environ.get("NOTIGATE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


REDIS_URL = os.environ.get("NOTIGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


ARINDO_KEY = "SB-Mid-server-TEST-KEY"


API_KEY = "test-admin-key-0123456789"


WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def unavailable(what: str, url: str, exc: BaseException) -> None:
    message = f"{what} is not reachable at {url} ({type(exc).__name__}: {exc}); set NOTIGATE_TEST_{what.upper()}_URL"
    if os.environ.get("CI"):
        pytest.fail(message + " — under CI this is a failure, not a skip")
    pytest.skip(message)


@contextlib.asynccontextmanager
async def fresh_postgres() -> AsyncIterator[str]:
    """A new PostgreSQL database, dropped on exit (xdist workers never share one)."""
    name = f"notigate_t_{uuid.uuid4().hex[:16]}"
    try:
        admin = await asyncpg.connect(POSTGRES_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        unavailable("postgres", POSTGRES_URL, exc)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        base, _, _ = POSTGRES_URL.rpartition("/")
        yield f"{base}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now (for a server the test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_settings(database_url: str, receiver_url: str = "http://127.0.0.1:9/hooks", **sections: Any) -> Settings:
    """Test settings: ARINDO with a test key, one webhook endpoint, warnings and worse to it."""
    data: dict[str, Any] = {
        "database": {"url": database_url, "pool_min_size": 1, "pool_max_size": 10},
        "security": {"api_keys": [{"name": "tests", "key": API_KEY, "scopes": ["admin"]}]},
        "delivery": {
            "backoff_initial": "50ms",
            "backoff_max": "200ms",
            "send_timeout": "5s",
            "sweep_interval": "200ms",
        },
        "platforms": {"arindo": {"server_key": ARINDO_KEY}},
        "webhooks": [{"name": "receiver", "url": receiver_url, "secret": WEBHOOK_SECRET}],
        "rules": [
            {
                "name": "warnings to the receiver",
                "match": {"min_severity": "warning"},
                "send": [{"channel": "webhook", "to": ["receiver"]}],
            }
        ],
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return convert(data, Settings, "")


api_client = app_client
"""``api_client(gateway, **app_options)``: the kit's client on a gateway these tests built."""


async def migrated_gateway(settings: Settings) -> Gateway:
    """A gateway on ``settings``, its database migrated (not started)."""
    await migrate_database(settings.database.url)
    return Gateway.from_settings(settings)


async def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll a predicate (plain or async) until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        await asyncio.sleep(interval)


def arindo_body(
    *, status: str = "deny", code: str = "202", key: str = ARINDO_KEY, transaction_id: str | None = None, **fields: Any
) -> bytes:
    """A signed ARINDO notification, built here independently of the plugin."""
    import hashlib
    import json

    body: dict[str, Any] = {
        "transaction_id": transaction_id or str(uuid.uuid4()),
        "order_id": f"ORD-{uuid.uuid4().hex[:8]}",
        "merchant_id": "M-ARD-000123",
        "status_code": code,
        "transaction_status": status,
        "status_message": "ARINDO payment notification",
        "payment_type": "credit_card",
        "gross_amount": "150000.00",
        "currency": "IDR",
        "transaction_time": "2024-08-01 10:15:30",
        "fraud_status": "accept",
        "masked_card": "481111-1114",
        "customer_details": {"email": "budi@example.co.id", "phone": "+6281234567890", "first_name": "Budi"},
        "channel_response_code": "05",
        "channel_response_message": "Do not honour",
    }
    body.update(fields)
    raw = body["order_id"] + body["status_code"] + body["gross_amount"] + key
    body.setdefault("signature_key", hashlib.sha512(raw.encode()).hexdigest())
    return json.dumps(body).encode()


JSON = {"content-type": "application/json"}


AUTH = {"X-API-Key": API_KEY}


async def value_when(probe: Any, condition: Any) -> Any:
    """``probe()`` (awaited if async) if ``condition`` holds for it, else None: for
    ``wait_for(lambda: value_when(...))``."""
    value = probe()
    if inspect.isawaitable(value):
        value = await value
    return value if condition(value) else None


def start_worker(config: Path) -> subprocess.Popen[bytes]:
    """A ``notigate worker`` process on ``config`` (its output discarded), as an operator starts one."""
    return subprocess.Popen(
        [sys.executable, "-m", "notigate", "worker", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "CI": ""},
    )


def worker_config(
    tmp_path: Path,
    postgres_url: str,
    redis_url: str,
    queue_name: str,
    receiver_url: str,
    rules: str = 'name = "all to the receiver"\nsend = [{ channel = "webhook", to = ["receiver"] }]',
    delivery: str = 'sweep_interval = "200ms"',
    queue: str = "",
) -> Path:
    """A ``notigate.toml`` for ``notigate worker`` subprocesses: the test's database, queue and receiver."""
    path = tmp_path / "notigate.toml"
    path.write_text(f"""
[database]
url = "{postgres_url}"
pool_min_size = 1
pool_max_size = 5

[queue]
url = "{redis_url}"
name = "{queue_name}"
{queue}

[delivery]
{delivery}

[platforms.arindo]
server_key = "unused-in-the-worker"

[[webhooks]]
name = "receiver"
url = "{receiver_url}"
secret = "{WEBHOOK_SECRET}"

[[rules]]
{rules}
""")
    return path
