"""A fault campaign against the production shape: two ``serve`` and two ``worker`` processes on a
PostgreSQL server and a Redis server of the campaign's own (so it may restart and flush them),
several webhook destinations on a receiver that fails a seeded share of requests, and signed
ARINDO callbacks arriving throughout, while a script SIGKILLs workers and an API process, flushes
Redis and restarts PostgreSQL.

Callbacks come as a platform sends them: each until it is acknowledged, to whichever API process
a health-checking balancer would choose. Afterwards the campaign checks what a payment company
needs: nothing acknowledged is lost, nothing is stored twice, every delivery is delivered, and no
delivery waited longer than the recovery bound (the lease, then a sweep) plus a retry's backoff.
It reports at-least-once duplicate arrivals (one ``webhook-id`` answered 200 more than once).

``tests/test_campaign.py`` runs a short campaign in the suite; ``bench/campaign.py`` a longer one.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import hashlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis
from support import ARINDO_KEY, WEBHOOK_SECRET, arindo_body, free_port

HERE = Path(__file__).resolve().parent
DESTINATIONS = 4
"""Merchant endpoints; every notification also goes to one shared endpoint (``all``)."""


@dataclass(frozen=True)
class Plan:
    """What a campaign does: how long callbacks arrive and how fast, and when which fault strikes."""

    seconds: float = 12.0
    rate: float = 40.0
    """Callbacks per second."""
    fail_share: float = 0.1
    """Share of webhook requests the receiver answers 503."""
    answer_delay: float = 0.02
    """Seconds the receiver takes to answer: sends are in flight when a worker is killed."""
    seed: int = 20261204
    worker_kill_every: float = 4.0
    api_kill_at: float = 3.0
    flush_at: float = 5.5
    postgres_restart_at: float = 7.5
    lease: float = 5.0
    sweep_interval: float = 1.0
    backoff_max: float = 2.0
    breaker_cooldown: float = 2.0
    """Five 503s in a row at one destination open its breaker: a designed wait, kept short here."""
    slack: float = 15.0
    """Allowance on top of the bound for a loaded machine: process starts, backlog after a restart."""

    @property
    def bound(self) -> float:
        """The longest a delivery may wait between becoming due and its next attempt."""
        return self.lease + self.sweep_interval + self.backoff_max + self.breaker_cooldown + self.slack


# -- servers the campaign owns ------------------------------------------------------------------
class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a free port (fsync off: it is thrown away)."""

    def __init__(self, root: Path) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not bins:
            raise RuntimeError("no PostgreSQL server binaries (pg_ctl) under /usr/lib/postgresql")
        self.bin = Path(bins[-1]).parent
        self.data, self.port = root / "pg", free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        command = [str(self.bin / argv[0]), *argv[1:]]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self.data.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres")
            shutil.chown(self.data.parent, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self._pg_ctl("start")

    def _pg_ctl(self, action: str) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c fsync=off -c max_connections=200"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.data / "log"),
            "-w",
            action,
            *(["-m", "fast"] if action != "start" else []),
        )

    def restart(self) -> None:
        self._pg_ctl("restart")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._pg_ctl("stop")


class PrivateRedis:
    def __init__(self, root: Path) -> None:
        self.port, self.root = free_port(), root
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.root),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = aioredis.from_url(self.url)
        try:
            await _until(lambda: client.ping(), what="Redis to answer")
        finally:
            await client.aclose()

    async def flush(self) -> None:
        client = aioredis.from_url(self.url)
        try:
            await client.flushall()
        finally:
            await client.aclose()

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()


# -- the receiver -------------------------------------------------------------------------------
async def receiver(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """ASGI app (run in its own process): answers a webhook 503 or 200 by a seeded hash of its id and
    arrival number, so a run's fate per attempt is reproducible; ``GET /arrivals`` reports them all."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    status, body = 200, b""
    if scope["method"] == "POST":
        await asyncio.sleep(_DELAY)
        webhook_id = next((v.decode() for k, v in scope["headers"] if k == b"webhook-id"), "")
        seen = _ARRIVALS.setdefault(webhook_id, [])
        draw = hashlib.sha256(f"{_SEED}:{webhook_id}:{len(seen)}".encode()).digest()
        status = 503 if int.from_bytes(draw[:4], "big") < _FAIL * 2**32 else 200
        seen.append((time.time(), scope["path"], status))
    else:
        body = json.dumps(_ARRIVALS).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


_ARRIVALS: dict[str, list[tuple[float, str, int]]] = {}
_SEED = os.environ.get("CAMPAIGN_SEED", "0")
_FAIL = float(os.environ.get("CAMPAIGN_FAIL_SHARE", "0"))
_DELAY = float(os.environ.get("CAMPAIGN_ANSWER_DELAY", "0"))


# -- the gateway's processes ----------------------------------------------------------------------
@dataclass
class Process:
    name: str
    argv: list[str]
    log: Path
    env: dict[str, str]
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, env=self.env)

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait()

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def config(plan: Plan, database: str, queue: str, receiver_url: str) -> str:
    endpoints = [f"m{i}" for i in range(DESTINATIONS)] + ["all"]
    webhooks = "".join(
        f'[[webhooks]]\nname = "{e}"\nurl = "{receiver_url}/{e}"\nsecret = "{WEBHOOK_SECRET}"\n\n' for e in endpoints
    )
    rules = "".join(
        f'[[rules]]\nname = "merchant {i}"\nmatch = {{ merchants = ["M-{i}"] }}\n'
        f'send = [{{ channel = "webhook", to = ["m{i}"] }}]\n\n'
        for i in range(DESTINATIONS)
    )
    return f"""
[server]
drain_grace = "0s"

[database]
url = "{database}"
pool_min_size = 1
pool_max_size = 10

[queue]
url = "{queue}"
name = "campaign"

[delivery]
max_attempts = 100
backoff_initial = "100ms"
backoff_max = "{plan.backoff_max}s"
max_age = "1h"
send_timeout = "5s"
lease = "{plan.lease}s"
sweep_interval = "{plan.sweep_interval}s"
breaker_cooldown = "{plan.breaker_cooldown}s"

[platforms.arindo]
server_key = "{ARINDO_KEY}"

{webhooks}{rules}[[rules]]
name = "everything to the shared endpoint"
send = [{{ channel = "webhook", to = ["all"] }}]
"""


@dataclass
class Campaign:
    plan: Plan
    root: Path
    postgres: PrivatePostgres
    redis: PrivateRedis
    apis: list[tuple[Process, int]] = field(default_factory=list)
    workers: list[Process] = field(default_factory=list)
    others: list[Process] = field(default_factory=list)
    receiver_port: int = 0
    faults: list[tuple[float, str]] = field(default_factory=list)
    """(seconds since the load began, what happened)."""

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "CI": "", "NOTIGATE_CONFIG": str(self.root / "notigate.toml")}

    def notigate(self, name: str, *argv: str) -> Process:
        return Process(name, [sys.executable, "-m", "notigate", *argv], self.root / f"{name}.log", self.env)

    async def start(self) -> None:
        self.postgres.start()
        await self.redis.start()
        self.receiver_port = free_port()
        receiver_process = Process(
            "receiver",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--app-dir",
                str(HERE),
                "campaign:receiver",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.receiver_port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            self.root / "receiver.log",
            {
                **os.environ,
                "CAMPAIGN_SEED": str(self.plan.seed),
                "CAMPAIGN_FAIL_SHARE": str(self.plan.fail_share),
                "CAMPAIGN_ANSWER_DELAY": str(self.plan.answer_delay),
            },
        )
        receiver_process.start()
        self.others.append(receiver_process)
        (self.root / "notigate.toml").write_text(
            config(self.plan, self.postgres.url, self.redis.url, f"http://127.0.0.1:{self.receiver_port}")
        )
        subprocess.run(
            [sys.executable, "-m", "notigate", "migrate"], check=True, env=self.env, capture_output=True, timeout=120
        )
        for i in range(2):
            port = free_port()
            self.apis.append((self.notigate(f"serve-{i}", "serve", "--port", str(port)), port))
            self.workers.append(self.notigate(f"worker-{i}", "worker"))
        for process in [p for p, _ in self.apis] + self.workers:
            process.start()
        async with httpx.AsyncClient(timeout=5) as client:
            await _until(lambda: _answers(client, f"http://127.0.0.1:{self.receiver_port}/arrivals"), what="receiver")
            for _, port in self.apis:
                await _until(lambda port=port: _answers(client, f"http://127.0.0.1:{port}/health/ready"), what="serve")

    def stop(self) -> None:
        for process in [p for p, _ in self.apis] + self.workers + self.others:
            process.kill()
        self.redis.stop()
        self.postgres.stop()


async def _answers(client: httpx.AsyncClient, url: str) -> bool:
    try:
        return (await client.get(url)).status_code == 200
    except httpx.TransportError:
        return False


async def _until(probe: Callable[[], Awaitable[Any]], *, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            if await probe():
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


# -- load and faults ------------------------------------------------------------------------------
class Balancer:
    """Sends each callback, as a platform would, until it is acknowledged: to the next API process that
    its health check (``/health/ready``, every 100 ms) shows up; a failed one is tried on another."""

    def __init__(self, ports: list[int]) -> None:
        self.ports, self.up = ports, set(ports)
        self.client = httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=64))
        self.attempts = self.refused = self.server_errors = 0
        self._turn = 0

    async def check_forever(self) -> None:
        while True:
            for port in self.ports:
                if await _answers(self.client, f"http://127.0.0.1:{port}/health/ready"):
                    self.up.add(port)
                else:
                    self.up.discard(port)
            await asyncio.sleep(0.1)

    async def deliver(self, body: bytes) -> str:
        """The notification id the gateway acknowledged ``body`` with."""
        while True:
            live = sorted(self.up) or self.ports
            port = live[self._turn % len(live)]
            self._turn += 1
            self.attempts += 1
            try:
                response = await self.client.post(
                    f"http://127.0.0.1:{port}/api/v1/platforms/arindo/callbacks",
                    content=body,
                    headers={"content-type": "application/json"},
                )
                if response.status_code == 200:
                    return response.headers["notigate-notification-ids"]
                self.server_errors += response.status_code >= 500
            except httpx.TransportError:  # the process died (SIGKILL): no answer at all
                self.up.discard(port)
            self.refused += 1
            await asyncio.sleep(0.2)  # ARINDO retries too; sooner here, to keep the run short


async def run_faults(c: Campaign, started: float) -> None:
    """The fault script: every ``worker_kill_every`` a worker is SIGKILLed and started again, and once
    each: an API process SIGKILLed (and started again), Redis flushed, PostgreSQL restarted."""
    p = c.plan
    events: list[tuple[float, str, Callable[[], Awaitable[None]]]] = []
    at, n = p.worker_kill_every, 0
    while at < p.seconds:
        worker = c.workers[n % len(c.workers)]
        events.append((at, f"SIGKILL {worker.name}", _restart(worker)))
        at, n = at + p.worker_kill_every, n + 1
    events.append((p.api_kill_at, f"SIGKILL {c.apis[0][0].name}", _restart(c.apis[0][0])))
    events.append((p.flush_at, "FLUSHALL Redis", c.redis.flush))
    events.append((p.postgres_restart_at, "restart PostgreSQL", lambda: asyncio.to_thread(c.postgres.restart)))
    for at, what, act in sorted(events, key=lambda e: e[0]):
        await asyncio.sleep(max(0.0, started + at - time.monotonic()))
        c.faults.append((round(time.monotonic() - started, 2), what))
        await act()


def _restart(process: Process) -> Callable[[], Awaitable[None]]:
    async def restart() -> None:
        process.kill()
        await asyncio.sleep(0.5)
        process.start()

    return restart


async def load(balancer: Balancer, plan: Plan, started: float) -> dict[str, str]:
    """Distinct signed callbacks at ``plan.rate`` for ``plan.seconds``: their key to the id acknowledged."""
    rng = random.Random(plan.seed)
    acknowledged: dict[str, str] = {}

    async def one(key: str, body: bytes) -> None:
        acknowledged[key] = await balancer.deliver(body)

    tasks = []
    for k in range(int(plan.seconds * plan.rate)):
        await asyncio.sleep(max(0.0, started + k / plan.rate - time.monotonic()))
        key = f"tx-{plan.seed}-{k}"
        body = arindo_body(transaction_id=key, merchant_id=f"M-{rng.randrange(DESTINATIONS)}")
        tasks.append(asyncio.create_task(one(key, body)))
    await asyncio.gather(*tasks)
    return acknowledged


# -- the verdict ------------------------------------------------------------------------------------
@dataclass
class Verdict:
    acknowledged: int
    notifications: int
    deliveries: int
    delivered: int
    lost: list[str]
    """Acknowledged ids the database does not have."""
    stuck: dict[str, int]
    """Deliveries not delivered, by status."""
    missing_arrivals: int
    """Delivered deliveries whose webhook-id the receiver never answered 200."""
    duplicate_arrivals: int
    """webhook-ids the receiver answered 200 more than once (at-least-once resends)."""
    longest_wait: float
    """Seconds, the longest any delivery waited between becoming due and its next attempt."""
    latency: dict[str, float]
    """Acceptance to delivery, seconds: p50, p99, max."""
    callback_attempts: int
    callbacks_refused: int
    """Answered with an error or not at all (an API process killed mid-request), then sent again."""
    server_errors: int
    """Of those, answered 5xx: a blip the gateway should have ridden out (PostgreSQL restarting)."""
    faults: list[tuple[float, str]]
    elapsed: float

    def problems(self, plan: Plan) -> list[str]:
        found = []
        if self.lost:
            found.append(f"{len(self.lost)} acknowledged notifications lost")
        if self.notifications != self.acknowledged:
            found.append(f"{self.notifications} notifications stored for {self.acknowledged} callbacks")
        if self.stuck:
            found.append(f"deliveries not delivered: {self.stuck}")
        if self.deliveries != self.acknowledged * 2:
            found.append(f"{self.deliveries} deliveries for {self.acknowledged} notifications (2 each expected)")
        if self.missing_arrivals:
            found.append(f"{self.missing_arrivals} deliveries marked delivered never arrived")
        if self.server_errors:
            found.append(f"{self.server_errors} callbacks answered 5xx")
        if self.longest_wait > plan.bound:
            found.append(f"a delivery waited {self.longest_wait:.1f}s for its next attempt (bound {plan.bound:.0f}s)")
        return found


async def verdict(c: Campaign, acknowledged: dict[str, str], started: float, deadline: float) -> Verdict:
    """Wait (until ``deadline``) for every delivery to end, then check and measure."""
    db = await asyncpg.connect(c.postgres.url)
    try:
        while time.monotonic() < deadline:
            pending = await db.fetchval("SELECT count(*) FROM deliveries WHERE status <> 'delivered'")
            total = await db.fetchval("SELECT count(*) FROM deliveries")
            if not pending and total >= len(acknowledged) * 2:
                break
            await asyncio.sleep(0.5)
        ids = set(acknowledged.values())
        stored = {r["id"] for r in await db.fetch("SELECT id FROM notifications")}
        deliveries = await db.fetch("SELECT id, status, created_at, delivered_at, notification_id FROM deliveries")
        received = {r["id"]: r["received_at"] for r in await db.fetch("SELECT id, received_at FROM notifications")}
        attempts = await db.fetch("SELECT delivery_id, started_at, finished_at FROM delivery_attempts ORDER BY number")
    finally:
        await db.close()
    async with httpx.AsyncClient(timeout=30) as client:
        arrivals = (await client.get(f"http://127.0.0.1:{c.receiver_port}/arrivals")).json()
    answered = {i for i, seen in arrivals.items() if any(status == 200 for _, _, status in seen)}
    stuck: dict[str, int] = {}
    for d in deliveries:
        if d["status"] != "delivered":
            stuck[d["status"]] = stuck.get(d["status"], 0) + 1
    latencies = sorted(
        (d["delivered_at"] - received[d["notification_id"]]).total_seconds()
        for d in deliveries
        if d["delivered_at"] is not None
    )
    return Verdict(
        acknowledged=len(ids),
        notifications=len(stored),
        deliveries=len(deliveries),
        delivered=sum(d["status"] == "delivered" for d in deliveries),
        lost=sorted(ids - stored),
        stuck=stuck,
        missing_arrivals=sum(d["status"] == "delivered" and d["id"] not in answered for d in deliveries),
        duplicate_arrivals=sum(sum(status == 200 for _, _, status in seen) > 1 for seen in arrivals.values()),
        longest_wait=_longest_wait(deliveries, attempts),
        latency={
            "p50": statistics.median(latencies) if latencies else 0.0,
            "p99": latencies[int(0.99 * (len(latencies) - 1))] if latencies else 0.0,
            "max": latencies[-1] if latencies else 0.0,
        },
        callback_attempts=0,
        callbacks_refused=0,
        server_errors=0,
        faults=c.faults,
        elapsed=time.monotonic() - started,
    )


def _longest_wait(deliveries: list[Any], attempts: list[Any]) -> float:
    """Per delivery, the gaps from its creation to its first attempt and from each attempt's end to
    the next one's start (a retry's backoff included): the longest of all."""
    by_delivery: dict[str, list[Any]] = {}
    for a in attempts:
        by_delivery.setdefault(a["delivery_id"], []).append(a)
    longest = 0.0
    for d in deliveries:
        previous_end = d["created_at"]
        for a in by_delivery.get(d["id"], []):
            longest = max(longest, (a["started_at"] - previous_end).total_seconds())
            previous_end = a["finished_at"]
    return longest


@contextlib.asynccontextmanager
async def campaign(plan: Plan) -> AsyncIterator[Campaign]:
    root = Path(tempfile.mkdtemp(prefix="notigate-campaign-"))
    if os.geteuid() == 0:
        os.chmod(root, 0o755)
    c = Campaign(plan=plan, root=root, postgres=PrivatePostgres(root), redis=PrivateRedis(root))
    try:
        await c.start()
        yield c
    finally:
        c.stop()


async def run(plan: Plan) -> tuple[Verdict, Path]:
    """Run one campaign; return its verdict and the folder with every process's log."""
    async with campaign(plan) as c:
        balancer = Balancer([port for _, port in c.apis])
        checking = asyncio.create_task(balancer.check_forever())
        started = time.monotonic()
        try:
            faults = asyncio.create_task(run_faults(c, started))
            acknowledged = await load(balancer, plan, started)
            await faults
        finally:
            checking.cancel()
        result = await verdict(c, acknowledged, started, deadline=time.monotonic() + plan.bound + 60)
        result.callback_attempts, result.callbacks_refused = balancer.attempts, balancer.refused
        result.server_errors = balancer.server_errors
        await balancer.client.aclose()
        return result, c.root
