"""Ingest benchmark: signed ARINDO callbacks into Notigate vs. a bare baseline of the same stack.

Starts, on free 127.0.0.1 ports, one ``notigate serve`` process (PostgreSQL + Redis/arq
configuration, migrated first) and one baseline process (``bench/baseline_app.py`` under
uvicorn: msgspec decode + one asyncpg INSERT + one Redis LPUSH), each on its own fresh
PostgreSQL database, then drives both from this process with a keep-alive HTTP/1.1 load
generator: rounds alternate (baseline, notigate), each a warm-up then a fixed number of
timed requests, and the median of the rounds is reported.

Every Notigate request is a distinct, correctly signed ARINDO notification (unique
transaction_id), most of them ``deny/202`` (routed by a ``min_severity = "warning"`` rule
to a webhook: one notification row, one delivery row and one arq job each); the rest are
``settlement/200`` and ``pending/201`` (stored, no route). No worker runs: the deliveries
just queue. Bodies are generated before any timing.

    cd /work/main && .venv/bin/python bench/ingest.py [--requests 5000] [--warmup 500]
        [--concurrency 32] [--rounds 3] [--client raw|httpx] [--json results.json]

Needs PostgreSQL (admin DSN, trust auth) and Redis; databases, the Redis list and every
queued job key are removed at exit, and both servers are stopped (also on Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import platform as _platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from arq.constants import in_progress_key_prefix, job_key_prefix, retry_key_prefix

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SERVER_KEY = "SB-Mid-server-BENCH-KEY"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
CALLBACK_PATH = "/api/v1/platforms/arindo/callbacks"
BASELINE_PATH = "/ingest"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# (transaction_status, status_code, fraud_status, channel_response_code, weight)
# deny/202 are warning or critical: routed to the webhook. settlement/pending are info: no route.
MIX: list[tuple[str, str, str | None, str | None, int]] = [
    ("deny", "202", "accept", "05", 40),  # card_declined
    ("deny", "202", "accept", "51", 15),  # insufficient_funds
    ("deny", "202", "accept", "54", 10),  # expired_card
    ("deny", "202", "accept", "55", 10),  # authentication_failed
    ("deny", "202", "deny", None, 10),  # fraud_suspected
    ("settlement", "200", None, None, 10),  # payment_succeeded (no route)
    ("pending", "201", None, None, 5),  # payment_pending (no route)
]


# --------------------------------------------------------------------------- bodies
def arindo_bodies(count: int, seed: int, merchants: tuple[str, ...] = ("M-ARD-000123",)) -> tuple[list[bytes], int]:
    """``count`` distinct signed notifications, the i-th from ``merchants[i % len(merchants)]``;
    returns (bodies, how many are routed)."""
    rng = random.Random(seed)
    weights = [m[4] for m in MIX]
    bodies: list[bytes] = []
    routed = 0
    for i in range(count):
        status, code, fraud, channel, _w = rng.choices(MIX, weights)[0]
        order_id = f"ORD-{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}"
        amount = f"{rng.randrange(10_000, 5_000_000)}.00"
        body: dict[str, Any] = {
            "transaction_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "order_id": order_id,
            "merchant_id": merchants[i % len(merchants)],
            "status_code": code,
            "transaction_status": status,
            "status_message": "ARINDO payment notification",
            "payment_type": rng.choice(["credit_card", "bank_transfer", "qris", "gopay"]),
            "gross_amount": amount,
            "currency": "IDR",
            "transaction_time": "2024-08-01 10:15:30",
            "masked_card": "481111-1114",
            "customer_details": {"email": "budi@example.co.id", "phone": "+6281234567890", "first_name": "Budi"},
        }
        if fraud:
            body["fraud_status"] = fraud
        if channel:
            body["channel_response_code"] = channel
            body["channel_response_message"] = "Do not honour"
        body["signature_key"] = hashlib.sha512((order_id + code + amount + SERVER_KEY).encode()).hexdigest()
        routed += status == "deny"
        bodies.append(json.dumps(body).encode())
    return bodies, routed


def http_request(host: str, port: int, path: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


# --------------------------------------------------------------------------- load generators
async def _queued_deliveries(redis_url: str, queue: str) -> int:
    """Deliveries the queue's jobs carry (new ones travel many to a job), read as the worker would."""
    from notigate.delivery.queue import ArqQueue

    q = ArqQueue(redis_url, queue)
    await q.start()
    try:
        return len(await q.queued())
    finally:
        await q.close()


class _Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request in flight (Content-Length responses only)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end]).lower()
        at = head.find(b"\r\ncontent-length:")
        if at < 0:
            waiter.set_exception(RuntimeError(f"response without Content-Length: {head[:200]!r}"))
            return
        eol = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : eol if eol > 0 else None])
        total = end + 4 + length
        if len(self.buf) < total:
            return
        status = int(head[9:12])
        del self.buf[:total]
        waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"server closed the connection ({exc})"))

    async def send(self, request: bytes) -> int:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter


class RawClient:
    """Minimal asyncio keep-alive client: ``concurrency`` connections, each one worker."""

    name = "raw asyncio HTTP/1.1 keep-alive"

    def __init__(self, host: str, port: int, path: str, concurrency: int) -> None:
        self.host, self.port, self.path, self.concurrency = host, port, path, concurrency
        self.conns: list[_Conn] = []

    def prepare(self, bodies: list[bytes]) -> list[bytes]:
        return [http_request(self.host, self.port, self.path, b) for b in bodies]

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(self.concurrency):
            _, proto = await loop.create_connection(_Conn, self.host, self.port)
            proto.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.conns.append(proto)

    async def run(self, requests: list[bytes]) -> tuple[float, list[float], dict[int, int]]:
        latencies = [0.0] * len(requests)
        statuses: dict[int, int] = {}
        it = iter(range(len(requests)))
        clock = time.perf_counter

        async def worker(conn: _Conn) -> None:
            for i in it:
                t0 = clock()
                status = await conn.send(requests[i])
                latencies[i] = clock() - t0
                statuses[status] = statuses.get(status, 0) + 1

        start = clock()
        await asyncio.gather(*(worker(c) for c in self.conns))
        return clock() - start, latencies, statuses

    async def close(self) -> None:
        for c in self.conns:
            if c.transport is not None:
                c.transport.close()
        self.conns.clear()


class HttpxClient:
    """httpx.AsyncClient with ``concurrency`` workers sharing a keep-alive pool of that size."""

    name = "httpx.AsyncClient"

    def __init__(self, host: str, port: int, path: str, concurrency: int) -> None:
        self.url = f"http://{host}:{port}{path}"
        self.concurrency = concurrency
        self.client: Any = None

    def prepare(self, bodies: list[bytes]) -> list[bytes]:
        return bodies

    async def open(self) -> None:
        import httpx

        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        self.client = httpx.AsyncClient(limits=limits, timeout=30)

    async def run(self, requests: list[bytes]) -> tuple[float, list[float], dict[int, int]]:
        latencies = [0.0] * len(requests)
        statuses: dict[int, int] = {}
        it = iter(range(len(requests)))
        clock = time.perf_counter
        headers = {"content-type": "application/json"}

        async def worker() -> None:
            for i in it:
                t0 = clock()
                response = await self.client.post(self.url, content=requests[i], headers=headers)
                latencies[i] = clock() - t0
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        start = clock()
        await asyncio.gather(*(worker() for _ in range(self.concurrency)))
        return clock() - start, latencies, statuses

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()


CLIENTS = {"raw": RawClient, "httpx": HttpxClient}


# --------------------------------------------------------------------------- CPU accounting
def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of one process (0.0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _cpu_by_comm(names: tuple[str, ...]) -> dict[int, float]:
    out: dict[int, float] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.find("(") + 1 : stat.rfind(")")]
        if comm in names:
            fields = stat.rsplit(")", 1)[1].split()
            out[int(entry.name)] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class CpuMeter:
    """CPU seconds used during a phase by the server, PostgreSQL, Redis, this client and the machine."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid

    def __enter__(self) -> CpuMeter:
        self.s0 = _proc_cpu(self.server_pid)
        self.pg0 = _cpu_by_comm(("postgres",))
        self.rd0 = _cpu_by_comm(("redis-server",))
        self.c0 = time.process_time()
        self.m0 = _machine_busy()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server = _proc_cpu(self.server_pid) - self.s0
        pg1 = _cpu_by_comm(("postgres",))
        self.postgres = sum(v - self.pg0.get(pid, 0.0) for pid, v in pg1.items())
        rd1 = _cpu_by_comm(("redis-server",))
        self.redis = sum(v - self.rd0.get(pid, 0.0) for pid, v in rd1.items())
        self.client = time.process_time() - self.c0
        m1 = _machine_busy()
        total = m1[1] - self.m0[1]
        self.machine_busy = (m1[0] - self.m0[0]) / total if total else 0.0


# --------------------------------------------------------------------------- results
@dataclass
class RoundResult:
    target: str
    round: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[str, int]
    cpu_ms_per_req: dict[str, float]
    machine_busy: float


@dataclass
class Summary:
    target: str
    rps: float
    p50_ms: float
    p99_ms: float
    rounds_rps: list[float] = field(default_factory=list)
    rounds_p99_ms: list[float] = field(default_factory=list)
    cpu_ms_per_req: dict[str, float] = field(default_factory=dict)


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def summarize(target: str, rounds: list[RoundResult]) -> Summary:
    med = statistics.median
    keys = rounds[0].cpu_ms_per_req.keys() if rounds else []
    return Summary(
        target=target,
        rps=med(r.rps for r in rounds),
        p50_ms=med(r.p50_ms for r in rounds),
        p99_ms=med(r.p99_ms for r in rounds),
        rounds_rps=[round(r.rps, 1) for r in rounds],
        rounds_p99_ms=[round(r.p99_ms, 2) for r in rounds],
        cpu_ms_per_req={k: round(med(r.cpu_ms_per_req[k] for r in rounds), 3) for k in keys},
    )


# --------------------------------------------------------------------------- processes
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """In the child: get SIGTERM if this script dies without cleaning up (Linux)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Server:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path, port: int) -> None:
        self.name, self.argv, self.env, self.log, self.port = name, argv, env, log, port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("wb") as out:
            # Own session: a Ctrl-C reaches only this script, which then stops the servers in order.
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def wait_ready(self, timeout: float = 60.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    response = await client.get(f"http://127.0.0.1:{self.port}/health/ready")
                    if response.status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} not ready within {timeout}s:\n{self.tail()}")
                await asyncio.sleep(0.1)

    def tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def child_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NOTIGATE_DATABASE_URL", "NOTIGATE_QUEUE_URL", "NOTIGATE_CONFIG", "NOTIGATE_API_KEY")
    }
    env.update(extra)
    return env


def notigate_toml(db_url: str, redis_url: str, queue: str, pool_min: int, pool_max: int) -> str:
    return f"""
[database]
url = "{db_url}"
pool_min_size = {pool_min}
pool_max_size = {pool_max}

[queue]
url = "{redis_url}"
name = "{queue}"

[delivery]
send_timeout = "5s"

[platforms.arindo]
server_key = "{SERVER_KEY}"

[[webhooks]]
name = "merchant"
url = "http://127.0.0.1:9/hooks"
secret = "{WEBHOOK_SECRET}"

[[rules]]
name = "warnings and worse to the merchant"
match = {{ min_severity = "warning" }}
send = [{{ channel = "webhook", to = ["merchant"] }}]
"""


# --------------------------------------------------------------------------- the benchmark
class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tag = uuid.uuid4().hex[:10]
        self.tmp = Path(tempfile.mkdtemp(prefix="notigate-bench-"))
        self.databases: list[str] = []
        self.redis_keys: list[str] = []
        self.servers: dict[str, Server] = {}
        self.db_urls: dict[str, str] = {}
        self.queue = f"notigate-bench:{self.tag}:deliveries"
        self.list_key = f"notigate-bench:{self.tag}:baseline"

    # -- setup / teardown -------------------------------------------------------
    async def create_database(self, target: str) -> str:
        name = f"notigate_bench_{target}_{self.tag}"
        admin = await asyncpg.connect(self.args.postgres, timeout=5)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        self.databases.append(name)
        base = self.args.postgres.rpartition("/")[0]
        self.db_urls[target] = f"{base}/{name}"
        return self.db_urls[target]

    async def setup(self) -> None:
        a = self.args
        # Reachability first, with plain messages.
        try:
            conn = await asyncpg.connect(a.postgres, timeout=5)
            await conn.close()
        except (OSError, asyncpg.PostgresError) as exc:
            raise SystemExit(f"PostgreSQL not reachable at {a.postgres}: {exc}") from None
        r = aioredis.from_url(a.redis)
        try:
            await r.ping()
        except (OSError, aioredis.RedisError) as exc:
            raise SystemExit(f"Redis not reachable at {a.redis}: {exc}") from None
        finally:
            await r.aclose()
        self.redis_keys += [self.queue, f"{self.queue}:health-check", self.list_key]

        targets = [t for t in ("baseline", "notigate") if t in a.targets]
        if "baseline" in targets:
            url = await self.create_database("baseline")
            port = free_port()
            env = child_env(
                BENCH_DSN=url,
                BENCH_REDIS_URL=a.redis,
                BENCH_LIST_KEY=self.list_key,
                BENCH_POOL_MIN=str(a.pool_min),
                BENCH_POOL_MAX=str(a.pool_max),
            )
            argv = [
                sys.executable,
                "-m",
                "uvicorn",
                "--app-dir",
                str(HERE),
                "baseline_app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ]
            self.servers["baseline"] = Server("baseline", argv, env, self.tmp / "baseline.log", port)
        if "notigate" in targets:
            url = await self.create_database("notigate")
            config = self.tmp / "notigate.toml"
            config.write_text(notigate_toml(url, a.redis, self.queue, a.pool_min, a.pool_max))
            migrate = subprocess.run(
                [sys.executable, "-m", "notigate", "migrate", "--config", str(config)],
                env=child_env(),
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
            )
            if migrate.returncode != 0:
                raise RuntimeError(f"notigate migrate failed:\n{migrate.stdout}{migrate.stderr}")
            port = free_port()
            argv = [
                sys.executable,
                "-m",
                "notigate",
                "--log-level",
                "WARNING",
                "serve",
                "--config",
                str(config),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ]
            self.servers["notigate"] = Server("notigate", argv, child_env(), self.tmp / "notigate.log", port)
        for server in self.servers.values():
            server.start()
        await asyncio.gather(*(s.wait_ready() for s in self.servers.values()))

    async def cleanup(self) -> None:
        for server in self.servers.values():
            with contextlib.suppress(Exception):
                server.stop()
        # arq jobs left over: those the queue still lists (batches "b:<first id>", retries, deferrals)
        # and each delivery's first ones ("<id>:0", "b:<id>"), which a stopped worker may have been running.
        job_ids: list[str] = []
        if "notigate" in self.db_urls:
            with contextlib.suppress(Exception):
                conn = await asyncpg.connect(self.db_urls["notigate"], timeout=5)
                try:
                    ids = [r["id"] for r in await conn.fetch('SELECT "id" FROM "deliveries"')]
                    job_ids = [f"{i}:0" for i in ids] + [f"b:{i}" for i in ids]
                finally:
                    await conn.close()
        with contextlib.suppress(Exception):
            r = aioredis.from_url(self.args.redis)
            try:
                job_ids += [m.decode() for m in await r.zrange(self.queue, 0, -1)]
                keys = self.redis_keys + [
                    p + j for j in job_ids for p in (job_key_prefix, in_progress_key_prefix, retry_key_prefix)
                ]
                for i in range(0, len(keys), 1000):
                    await r.delete(*keys[i : i + 1000])
            finally:
                await r.aclose()
        if self.databases:
            with contextlib.suppress(Exception):
                admin = await asyncpg.connect(self.args.postgres, timeout=5)
                try:
                    for name in self.databases:
                        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                finally:
                    await admin.close()
        for child in self.tmp.iterdir():
            if not self.args.keep_logs:
                child.unlink()
        if not self.args.keep_logs:
            with contextlib.suppress(OSError):
                self.tmp.rmdir()

    # -- one phase --------------------------------------------------------------
    async def phase(self, target: str, rnd: int, warmup: list[bytes], timed: list[bytes]) -> RoundResult:
        a = self.args
        server = self.servers["baseline" if target == "noop" else target]
        path = {"notigate": CALLBACK_PATH, "baseline": BASELINE_PATH, "noop": "/noop"}[target]
        client = CLIENTS[a.client]("127.0.0.1", server.port, path, a.concurrency)
        warm_req, timed_req = client.prepare(warmup), client.prepare(timed)
        await client.open()
        try:
            if warm_req:
                _, _, statuses = await client.run(warm_req)
                self.check(target, statuses, "warm-up")
            with CpuMeter(server.pid) as cpu:
                elapsed, latencies, statuses = await client.run(timed_req)
        finally:
            await client.close()
        self.check(target, statuses, "timed run")
        latencies.sort()
        n = len(timed_req)
        ms = 1000.0
        result = RoundResult(
            target=target,
            round=rnd,
            requests=n,
            seconds=round(elapsed, 4),
            rps=n / elapsed,
            p50_ms=percentile(latencies, 50) * ms,
            p90_ms=percentile(latencies, 90) * ms,
            p99_ms=percentile(latencies, 99) * ms,
            max_ms=latencies[-1] * ms,
            statuses={str(k): v for k, v in sorted(statuses.items())},
            cpu_ms_per_req={
                "server": cpu.server / n * ms,
                "postgres": cpu.postgres / n * ms,
                "redis": cpu.redis / n * ms,
                "client": cpu.client / n * ms,
            },
            machine_busy=round(cpu.machine_busy, 3),
        )
        print(
            f"  round {rnd} {target:9} {result.rps:8.1f} req/s  p50 {result.p50_ms:6.2f} ms  "
            f"p99 {result.p99_ms:6.2f} ms  max {result.max_ms:7.2f} ms  "
            f"cpu ms/req server {result.cpu_ms_per_req['server']:.2f} pg {result.cpu_ms_per_req['postgres']:.2f} "
            f"redis {result.cpu_ms_per_req['redis']:.2f} client {result.cpu_ms_per_req['client']:.2f}  "
            f"machine busy {result.machine_busy:.0%}",
            flush=True,
        )
        return result

    def check(self, target: str, statuses: dict[int, int], what: str) -> None:
        bad = {k: v for k, v in statuses.items() if not 200 <= k < 300}
        if bad:
            server = self.servers["baseline" if target == "noop" else target]
            raise RuntimeError(f"{target} {what}: non-2xx answers {bad}\n{server.tail()}")

    # -- verification -----------------------------------------------------------
    async def verify(self, sent: int, routed: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        r = aioredis.from_url(self.args.redis)
        try:
            if "notigate" in self.db_urls:
                conn = await asyncpg.connect(self.db_urls["notigate"], timeout=5)
                try:
                    out["notigate"] = {
                        "callbacks_sent": sent,
                        "notifications": await conn.fetchval('SELECT COUNT(*) FROM "notifications"'),
                        "deliveries_expected": routed,
                        "deliveries": await conn.fetchval('SELECT COUNT(*) FROM "deliveries"'),
                        "deliveries_pending": await conn.fetchval(
                            'SELECT COUNT(*) FROM "deliveries" WHERE "status" = \'pending\''
                        ),
                        "queued_jobs": await r.zcard(self.queue),
                        "queued_deliveries": await _queued_deliveries(self.args.redis, self.queue),
                    }
                    c = out["notigate"]
                    c["ok"] = (
                        c["notifications"] == sent
                        and c["deliveries"] == routed
                        and c["deliveries_pending"] == routed
                        and c["queued_deliveries"] == routed
                    )
                finally:
                    await conn.close()
            if "baseline" in self.db_urls:
                conn = await asyncpg.connect(self.db_urls["baseline"], timeout=5)
                try:
                    out["baseline"] = {
                        "requests_sent": sent,
                        "rows": await conn.fetchval("SELECT COUNT(*) FROM baseline_events"),
                        "list_length": await r.llen(self.list_key),
                    }
                    c = out["baseline"]
                    c["ok"] = c["rows"] == sent and c["list_length"] == sent
                finally:
                    await conn.close()
        finally:
            await r.aclose()
        return out

    # -- main -------------------------------------------------------------------
    async def run(self) -> dict[str, Any]:
        a = self.args
        per_round = a.warmup + a.requests
        total = per_round * a.rounds
        t0 = time.perf_counter()
        bodies, routed = arindo_bodies(total, a.seed)
        print(
            f"generated {total} distinct signed ARINDO notifications in {time.perf_counter() - t0:.1f}s "
            f"({routed} deny/202 → routed to the webhook, {total - routed} settlement/pending → no route)",
            flush=True,
        )
        await self.setup()
        print("servers ready: " + ", ".join(f"{n} pid {s.pid} on 127.0.0.1:{s.port}" for n, s in self.servers.items()))
        print(
            f"client: {CLIENTS[a.client].name}, {a.concurrency} connections; "
            f"{a.rounds} rounds of {a.warmup} warm-up + {a.requests} timed requests per target\n"
            f"note: no Notigate worker runs; deliveries stay queued in Redis ({self.queue})",
            flush=True,
        )
        order = [t for t in ("noop", "baseline", "notigate") if t in a.targets]
        if "noop" in order and "baseline" not in self.servers:
            raise SystemExit("--targets noop needs the baseline server (add baseline)")
        results: dict[str, list[RoundResult]] = {t: [] for t in order}
        for rnd in range(1, a.rounds + 1):
            chunk = bodies[(rnd - 1) * per_round : rnd * per_round]
            for target in order:
                results[target].append(await self.phase(target, rnd, chunk[: a.warmup], chunk[a.warmup :]))
        checks = await self.verify(total, routed)
        summaries = {t: summarize(t, rs) for t, rs in results.items()}
        return {"summaries": summaries, "rounds": results, "checks": checks}


def report(args: argparse.Namespace, outcome: dict[str, Any]) -> dict[str, Any]:
    summaries: dict[str, Summary] = outcome["summaries"]
    print(
        f"\nmedian of {args.rounds} rounds, {args.requests} requests each, {args.concurrency} connections "
        f"({CLIENTS[args.client].name})"
    )
    header = (
        f"{'target':10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}   {'rounds req/s':28} "
        "cpu ms/req (server/pg/redis/client)"
    )
    print(header)
    print("-" * len(header))
    for s in summaries.values():
        cpu = "/".join(f"{s.cpu_ms_per_req[k]:.2f}" for k in ("server", "postgres", "redis", "client"))
        print(f"{s.target:10} {s.rps:9.1f} {s.p50_ms:8.2f} {s.p99_ms:8.2f}   {s.rounds_rps!s:28} {cpu}")
    verdict: dict[str, Any] = {}
    if "notigate" in summaries and "baseline" in summaries:
        n, b = summaries["notigate"], summaries["baseline"]
        ratio = n.rps / b.rps
        pairs = zip(outcome["rounds"]["notigate"], outcome["rounds"]["baseline"], strict=True)
        per_round = [nr.rps / br.rps for nr, br in pairs]
        verdict = {
            "ratio": round(ratio, 3),
            "ratio_per_round": [round(x, 3) for x in per_round],
            "target_ratio": 0.5,
            "target_p99_ms": 25.0,
            "ratio_ok": ratio >= 0.5,
            "p99_ok": n.p99_ms < 25.0,
        }
        print(
            f"\nNotigate/baseline throughput ratio: {ratio:.2f} (per round: "
            f"{', '.join(f'{x:.2f}' for x in per_round)})   target ≥ 0.50: {'MET' if ratio >= 0.5 else 'NOT MET'}"
        )
        print(f"Notigate p99: {n.p99_ms:.2f} ms   target < 25 ms: {'MET' if n.p99_ms < 25 else 'NOT MET'}")
    if "noop" in summaries and "baseline" in summaries:
        ceiling = summaries["noop"].rps / summaries["baseline"].rps
        verdict["client_ceiling_vs_baseline"] = round(ceiling, 2)
        print(
            f"client/server ceiling (noop endpoint): {summaries['noop'].rps:.0f} req/s = {ceiling:.1f}× the baseline"
            f"{'' if ceiling >= 2 else '  WARNING: the load generator may be limiting the results'}"
        )
    if "notigate" in summaries:
        floor = args.concurrency / 0.025
        print(
            f"(closed loop: mean latency ≈ {args.concurrency} / throughput, so p99 < 25 ms needs well over "
            f"{floor:.0f} req/s)"
        )
    for target, check in outcome["checks"].items():
        print(
            f"check {target}: "
            + ", ".join(f"{k}={v}" for k, v in check.items() if k != "ok")
            + ("" if check["ok"] else "  MISMATCH: see the server log (--keep-logs)")
        )
    print("(no worker ran: the deliveries above stay pending/queued by design)")
    return {
        "benchmark": "notigate ingest vs baseline",
        "settings": {k: v for k, v in vars(args).items() if k != "json"},
        "client": CLIENTS[args.client].name,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": _platform.platform()},
        "summary": {t: asdict(s) for t, s in summaries.items()},
        "verdict": verdict,
        "rounds": [asdict(r) for rs in outcome["rounds"].values() for r in rs],
        "checks": outcome["checks"],
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--requests", type=int, default=5000, help="timed requests per target per round (default 5000)")
    p.add_argument("--warmup", type=int, default=500, help="warm-up requests before each timed run (default 500)")
    p.add_argument("--concurrency", type=int, default=32, help="keep-alive connections / workers (default 32)")
    p.add_argument("--rounds", type=int, default=3, help="rounds, alternating baseline then notigate (default 3)")
    p.add_argument(
        "--client",
        choices=sorted(CLIENTS),
        default="raw",
        help="load generator: raw asyncio HTTP/1.1 (default) or httpx.AsyncClient",
    )
    p.add_argument(
        "--targets",
        default="noop,baseline,notigate",
        help="comma list of noop, baseline, notigate (default all three). noop is the baseline server's "
        "/noop endpoint (read the body, answer): the ceiling of uvicorn + Litestar + this client, "
        "showing whether the load generator could limit the other two",
    )
    p.add_argument("--pool-min", type=int, default=5, help="database pool_min_size for both servers (default 5)")
    p.add_argument("--pool-max", type=int, default=20, help="database pool_max_size for both servers (default 20)")
    p.add_argument(
        "--postgres",
        default=os.environ.get("NOTIGATE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="admin DSN; a fresh database per target is created there and dropped at exit",
    )
    p.add_argument("--redis", default=os.environ.get("NOTIGATE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    p.add_argument("--seed", type=int, default=20240801, help="seed of the generated notifications")
    p.add_argument("--json", default=None, help="write the results as JSON to this path")
    p.add_argument("--keep-logs", action="store_true", help="keep the servers' logs and the generated config")
    args = p.parse_args(argv)
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(args.targets) - {"baseline", "notigate", "noop"}
    if unknown or not args.targets:
        p.error(f"--targets: unknown {sorted(unknown)}" if unknown else "--targets: none given")
    if "noop" in args.targets and "baseline" not in args.targets:
        args.targets.append("baseline")
    if min(args.requests, args.concurrency, args.rounds) < 1 or args.warmup < 0:
        p.error("--requests, --concurrency and --rounds must be ≥ 1, --warmup ≥ 0")
    return args


async def amain(args: argparse.Namespace) -> int:
    bench = Bench(args)
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    # SIGTERM behaves like Ctrl-C: cancel the run, then clean up below.
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        outcome = await bench.run()
    except asyncio.CancelledError:
        print("\ninterrupted: stopping servers, dropping databases", file=sys.stderr)
        return 130
    except RuntimeError as exc:  # a server that did not start, or answered non-2xx
        print(f"\nbenchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        # Shielded so that a second Ctrl-C during clean-up does not leave databases behind.
        await asyncio.shield(bench.cleanup())
        if args.keep_logs:
            print(f"logs and config kept in {bench.tmp}")
    data = report(args, outcome)
    if args.json:
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n")
        print(f"results written to {args.json}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return asyncio.run(amain(args))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
