"""Delivery benchmark: N notifications through rules to local webhook receivers, vs. Apprise.

Each run starts, on free 127.0.0.1 ports: a receiver (``bench/receiver.py`` under uvicorn, in
its own process), ``notigate serve`` on a fresh PostgreSQL database with a Redis queue
(migrated first) and ``--workers`` W ``notigate worker`` processes. There are ``--destinations``
D webhook endpoints ``receiver-<i>``, each with its own URL on the receiver (``/hooks/<i>``) and
so its own destination for ``[delivery] per_destination``: rule i sends merchant
``M-BENCH-<i>``'s notifications to endpoint i, and the k-th callback comes from merchant
k mod D, so every destination gets an equal share. The run ingests N signed ARINDO
``deny/202`` callbacks with the raw keep-alive client of ``bench/ingest.py``, keeping each
acceptance time by notification id (``Notigate-Notification-Ids``), and waits until every
delivery the database holds has arrived.

* The workers are started first, one at a time, each stopped (SIGSTOP) as soon as arq reports
  it ready; they are set going (SIGCONT) together, so the clock and the CPU readings start at a
  known moment. ``--mode live`` (default): they go before ingest; deliveries/s = deliveries /
  (last arrival − first acceptance). ``--mode drain``: they go after ingest; deliveries/s =
  deliveries / (last arrival − going). ``--mode both`` runs each. Latency is acceptance →
  arrival in both modes.
* Apprise, in the same run: N messages to D ``json://`` URLs on the same receiver
  (``/apprise/<i>``, the k-th message to URL k mod D), 32 concurrent ``await
  Apprise.async_notify``; a raw-client blast at the receiver shows its own ceiling.
* Every run checks, against the database, that each notification has exactly one delivery,
  to its merchant's endpoint, and that each delivery's ``webhook-id`` arrived there; duplicate
  arrivals of an id (at-least-once resends) are counted apart. A run whose deliveries stop
  arriving for ``--stall-timeout`` seconds, or still arrive after ``--run-timeout``, ends as
  stalled, saying how many arrived (without Apprise); a matrix goes on with the next run.
* ``--matrix``: workers {1, 2} × destinations {1, 10} for the mode(s) given, each combination
  ``--repeat`` times (rounds go through every combination in turn), then one table of medians
  with min–max.

    cd /work/wt-bench && uv run --group bench python bench/delivery.py [--count 20000]
        [--mode live|drain|both] [--workers 1] [--destinations 1] [--matrix] [--repeat 3]
        [--json out.json]

Needs PostgreSQL (admin DSN, trust auth) and Redis; all is removed and stopped after each run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import asyncpg
import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ingest
from ingest import (
    CALLBACK_PATH,
    SERVER_KEY,
    WEBHOOK_SECRET,
    Bench,
    RawClient,
    Server,
    _Conn,
    _cpu_by_comm,
    _proc_cpu,
    child_env,
    free_port,
    percentile,
)

MATRIX_WORKERS = (1, 2)
MATRIX_DESTINATIONS = (1, 10)
TARGET_PER_S, TARGET_RATIO = 1000.0, 2.0


@dataclass(frozen=True)
class Destination:
    """One webhook endpoint of a run, and the merchant whose notifications its rule sends there."""

    index: int

    @property
    def endpoint(self) -> str:
        return f"receiver-{self.index}"

    @property
    def merchant(self) -> str:
        return f"M-BENCH-{self.index:03d}"

    @property
    def hook_path(self) -> str:
        return f"/hooks/{self.index}"

    @property
    def apprise_path(self) -> str:
        return f"/apprise/{self.index}"


def destinations(n: int) -> list[Destination]:
    return [Destination(i) for i in range(n)]


class Stalled(RuntimeError):
    """Arrivals stopped, or the run's deadline passed, before every delivery arrived."""


class Stored(NamedTuple):
    """What the database holds at the end of a run."""

    deliveries: list[asyncpg.Record]  # id, notification_id, recipient, status, merchant_id
    notifications: int
    attempts: int


# --------------------------------------------------------------------------- ingest
class _IdConn(_Conn):
    """ingest's keep-alive connection, also keeping the last response head (one request in flight)."""

    head = b""

    def data_received(self, data: bytes) -> None:
        pending = bytes(self.buf) + data
        if (end := pending.find(b"\r\n\r\n")) >= 0:
            self.head = pending[:end]
        super().data_received(data)


async def ingest_all(port: int, requests: list[bytes], concurrency: int) -> dict[str, float]:
    """POST every request; return notification id -> acceptance time (time.time())."""
    loop, accepted, it = asyncio.get_running_loop(), {}, iter(requests)
    conns = []
    for _ in range(concurrency):
        transport, proto = await loop.create_connection(_IdConn, "127.0.0.1", port)
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conns.append(proto)

    async def one(conn: _IdConn) -> None:
        for req in it:
            status = await conn.send(req)
            now = time.time()
            if status != 202 and status != 200:
                raise RuntimeError(f"ingest answered {status}: {conn.head[:300]!r}")
            for line in conn.head.split(b"\r\n"):
                if line.lower().startswith(b"notigate-notification-ids:"):
                    for nid in line.split(b":", 1)[1].decode().split(","):
                        accepted[nid.strip()] = now

    try:
        await asyncio.gather(*(one(c) for c in conns))
    finally:
        for c in conns:
            c.transport.close()
    return accepted


# --------------------------------------------------------------------------- configuration
def config_toml(db_url: str, redis_url: str, queue: str, receiver: str, a: argparse.Namespace) -> str:
    """The run's configuration: one webhook endpoint and one merchant rule per destination."""
    dests = destinations(a.destinations)
    webhooks = "".join(
        f'''
[[webhooks]]
name = "{d.endpoint}"
url = "{receiver}{d.hook_path}"
secret = "{WEBHOOK_SECRET}"
'''
        for d in dests
    )
    rules = "".join(
        f'''
[[rules]]
name = "{d.merchant} to {d.endpoint}"
match = {{ merchants = ["{d.merchant}"] }}
send = [{{ channel = "webhook", to = ["{d.endpoint}"] }}]
'''
        for d in dests
    )
    return (
        f"""
[database]
url = "{db_url}"
pool_min_size = {a.pool_min}
pool_max_size = {a.pool_max}

[queue]
url = "{redis_url}"
name = "{queue}"
max_jobs = {a.max_jobs}

[delivery]
send_timeout = "5s"
per_destination = {a.per_destination}

[platforms.arindo]
server_key = "{SERVER_KEY}"
"""
        + webhooks
        + rules
    )


# --------------------------------------------------------------------------- checks
FAILURES = ("not_routed_once", "wrong_route", "missing", "misdirected", "unknown_ids")


def verify(
    accepted: dict[str, float],
    stored: Stored,
    seen: dict[str, list[Any]],
    duplicates: dict[str, int],
    dests: list[Destination],
) -> dict[str, Any]:
    """Exactly once per routed destination, from both ends.

    The database must hold one delivery per accepted notification, to its merchant's endpoint,
    each ``delivered``; every delivery's ``webhook-id`` must have arrived at that endpoint's
    path, and no other id at all. Duplicate arrivals of an id (at-least-once resends) are
    counted, not failed. ``problems`` lists, in words, what failed.
    """
    by_endpoint = {d.endpoint: d for d in dests}
    by_merchant = {d.merchant: d for d in dests}
    routes = Counter(r["notification_id"] for r in stored.deliveries)
    arrived: Counter[str] = Counter()
    wrong_route = missing = misdirected = 0
    for r in stored.deliveries:
        dest = by_endpoint.get(r["recipient"])
        wrong_route += dest is None or by_merchant.get(r["merchant_id"]) is not dest
        if r["id"] not in seen:
            missing += 1
        elif dest is None or seen[r["id"]][1] != dest.hook_path:
            misdirected += 1
        else:
            arrived[dest.endpoint] += 1
    ids = {r["id"] for r in stored.deliveries}
    shares = [arrived[d.endpoint] for d in dests]
    states = dict(Counter(r["status"] for r in stored.deliveries))
    out: dict[str, Any] = {
        "accepted": len(accepted),
        "notifications": stored.notifications,
        "deliveries": len(ids),
        "not_routed_once": sum(routes[n] != 1 for n in accepted),
        "wrong_route": wrong_route,
        "missing": missing,
        "misdirected": misdirected,
        "unknown_ids": sum(w not in ids for w in seen),
        "duplicate_ids": len(duplicates),
        "duplicate_arrivals": sum(duplicates.values()),
        "per_destination": [min(shares), max(shares)],
        "attempts": stored.attempts,
        "db_states": states,
    }
    found = [f"{out[k]} {k.replace('_', ' ')}" for k in FAILURES if out[k]]
    if stored.notifications != len(accepted):
        found.append(f"{stored.notifications} notifications stored for {len(accepted)} accepted")
    if set(states) - {"delivered"}:
        found.append(f"database states {states}")
    return out | {"problems": found, "ok": not found}


def rate_and_latency(
    accepted: dict[str, float], stored: Stored, seen: dict[str, list[Any]], start: float
) -> dict[str, Any]:
    """Deliveries/s from ``start`` to the last arrival; latency from acceptance to first arrival."""
    owner = {r["id"]: r["notification_id"] for r in stored.deliveries}
    times = {w: t for w, (t, _) in seen.items() if owner.get(w) in accepted}
    lat = sorted(t - accepted[owner[w]] for w, t in times.items())
    elapsed = (max(times.values()) if times else time.time()) - start
    return {
        "deliveries": len(times),
        "seconds": round(elapsed, 3),
        "per_s": round(len(times) / elapsed, 1),
        "p50_ms": round(percentile(lat, 50) * 1e3, 1),
        "p99_ms": round(percentile(lat, 99) * 1e3, 1),
        "max_ms": round(lat[-1] * 1e3, 1) if lat else None,
    }


# --------------------------------------------------------------------------- one run
class DeliveryBench(Bench):
    """One run: ``args.mode``, ``args.workers`` workers, ``args.destinations`` destinations."""

    _client: Any = None

    async def get(self, path: str) -> Any:
        """One kept client: a new httpx client per poll costs an SSL context, CPU the measured processes need."""
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=30)
        return (await self._client.get(f"http://127.0.0.1:{self.servers['receiver'].port}{path}")).json()

    async def setup(self) -> None:  # type: ignore[override]
        a, py = self.args, sys.executable
        self.redis_keys += [self.queue, f"{self.queue}:health-check"]
        port = free_port()
        self.servers["receiver"] = Server(
            "receiver",
            [
                py,
                "-m",
                "uvicorn",
                "--app-dir",
                str(ingest.HERE),
                "receiver:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
                "--lifespan",
                "off",
                "--backlog",
                "4096",
            ],
            child_env(),
            self.tmp / "receiver.log",
            port,
        )
        db = await self.create_database("notigate")
        self.config = self.tmp / "notigate.toml"
        self.config.write_text(config_toml(db, a.redis, self.queue, f"http://127.0.0.1:{port}", a))
        mig = subprocess.run(
            [py, "-m", "notigate", "migrate", "--config", str(self.config)],
            env=child_env(),
            cwd=ingest.ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if mig.returncode:
            raise RuntimeError(f"notigate migrate failed:\n{mig.stdout}{mig.stderr}")
        port = free_port()
        self.servers["notigate"] = Server(
            "notigate",
            [
                py,
                "-m",
                "notigate",
                "--log-level",
                "WARNING",
                "serve",
                "--config",
                str(self.config),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            child_env(),
            self.tmp / "serve.log",
            port,
        )
        for s in self.servers.values():
            s.start()
        await asyncio.gather(*(s.wait_ready() for s in self.servers.values()))

    # -- workers ----------------------------------------------------------------
    @property
    def workers(self) -> list[Server]:
        return [s for name, s in self.servers.items() if name.startswith("worker-")]

    def exited_workers(self) -> list[str]:
        return [
            f"{w.name} (exit {w.proc.returncode})"
            for w in self.workers
            if w.proc is not None and w.proc.poll() is not None
        ]

    def worker_argv(self, i: int) -> list[str]:
        a = self.args
        argv = [
            sys.executable,
            "-m",
            "notigate",
            "--log-level",
            a.worker_log_level,
            "worker",
            "--config",
            str(self.config),
        ]
        if a.pyspy:  # py-spy as the worker's parent, so ptrace restrictions do not matter
            out = a.pyspy if a.workers == 1 else f"{a.pyspy}.{i}"
            argv = [shutil.which("py-spy") or "py-spy", "record", "-f", "raw", "-o", out, "-r", "50", "--", *argv]
        return argv

    async def start_workers(self) -> None:
        """Start the workers one at a time, each stopped (SIGSTOP) once ready, so that
        ``resume_workers`` sets them all going at one known moment, idle and with their CPU read.

        arq writes the queue's health-check key once a worker's startup has run. The key is
        shared, so it is deleted before each start; a stopped worker cannot write it again.
        """
        key = f"{self.queue}:health-check"
        r = aioredis.from_url(self.args.redis)
        try:
            for i in range(1, self.args.workers + 1):
                w = Server(f"worker-{i}", self.worker_argv(i), child_env(), self.tmp / f"worker-{i}.log", 0)
                self.servers = {w.name: w, **self.servers}  # stopped first at clean-up
                await r.delete(key)
                w.start()
                deadline = time.monotonic() + 60
                while not await r.exists(key):
                    if w.proc.poll() is not None or time.monotonic() > deadline:  # type: ignore[union-attr]
                        raise RuntimeError(f"{w.name} did not start:\n{w.tail()}")
                    await asyncio.sleep(0.05)
                os.killpg(w.pid, signal.SIGSTOP)  # the group: py-spy too, when it wraps the worker
        finally:
            await r.aclose()

    def resume_workers(self) -> float:
        """SIGCONT every worker; return when (``time.time()``)."""
        for w in self.workers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(w.pid, signal.SIGCONT)
        return time.time()

    async def cleanup(self) -> None:
        self.resume_workers()  # a stopped process would not act on SIGTERM
        await super().cleanup()

    # -- measuring --------------------------------------------------------------
    async def wait_arrivals(self, what: str, expected: int, timeout: float) -> None:
        """Poll the receiver until ``expected`` have arrived (``what``: "seen" for webhook ids, else a
        path prefix); raise Stalled when none arrived for ``--stall-timeout`` s, or after ``timeout`` s."""
        start = time.monotonic()
        last, last_change = -1, start
        while True:
            counts = await self.get("/count")
            got = counts["seen"] if what == "seen" else sum(v for k, v in counts["other"].items() if k.startswith(what))
            now = time.monotonic()
            if got >= expected:
                return
            if got != last:
                last, last_change = got, now
            reason = None
            if what == "seen" and len(self.exited_workers()) == len(self.workers):
                reason = f"every worker exited ({', '.join(self.exited_workers())})"
            elif now - last_change > self.args.stall_timeout:
                reason = f"none for {self.args.stall_timeout:.0f}s, {now - start:.0f}s into the wait"
            elif now - start > timeout:
                reason = f"still arriving after {timeout:.0f}s, the wait's limit (--run-timeout)"
            if reason:
                raise Stalled(f"{got} of {expected} {'deliveries' if what == 'seen' else what} arrived; {reason}")
            await asyncio.sleep(0.1)

    def cpu(self) -> dict[str, float]:
        out = {n: _proc_cpu(s.pid) for n, s in self.servers.items() if s.proc is not None}
        out["workers"] = sum(v for n, v in out.items() if n.startswith("worker-"))
        out["postgres"] = sum(_cpu_by_comm(("postgres",)).values())
        out["redis"] = sum(_cpu_by_comm(("redis-server",)).values())
        out["bench"] = time.process_time()
        return out

    def callbacks(self) -> list[bytes]:
        """N signed deny/202 callbacks, the k-th from merchant k mod D."""
        ingest.MIX = [m for m in ingest.MIX if m[0] == "deny"]
        merchants = tuple(d.merchant for d in destinations(self.args.destinations))
        bodies, _ = ingest.arindo_bodies(self.args.count, self.args.seed, merchants)
        port = self.servers["notigate"].port
        return [ingest.http_request("127.0.0.1", port, CALLBACK_PATH, b) for b in bodies]

    async def stored(self, settle: float) -> Stored:
        """Read the run's rows, first giving the workers up to ``settle`` s to record the last
        attempts (a send is recorded after its arrival)."""
        conn = await asyncpg.connect(self.db_urls["notigate"])
        try:
            deadline = time.monotonic() + settle
            while time.monotonic() < deadline and await conn.fetchval(
                'SELECT COUNT(*) FROM "deliveries" WHERE "status" <> \'delivered\''
            ):
                await asyncio.sleep(0.1)
            return Stored(
                await conn.fetch(
                    'SELECT d."id", d."notification_id", d."recipient", d."status", n."merchant_id" '
                    'FROM "deliveries" d JOIN "notifications" n ON n."id" = d."notification_id"'
                ),
                await conn.fetchval('SELECT COUNT(*) FROM "notifications"'),
                await conn.fetchval('SELECT COUNT(*) FROM "delivery_attempts"'),
            )
        finally:
            await conn.close()

    async def count_deliveries(self) -> int:
        conn = await asyncpg.connect(self.db_urls["notigate"])
        try:
            return int(await conn.fetchval('SELECT COUNT(*) FROM "deliveries"'))
        finally:
            await conn.close()

    async def notigate(self) -> dict[str, Any]:
        """Ingest, wait for every delivery, measure and check; a stall ends the wait, not the run."""
        a = self.args
        requests = self.callbacks()
        await self.start_workers()
        ready = self.resume_workers() if a.mode == "live" else 0.0
        cpu0 = self.cpu()
        t0 = time.time()
        accepted = await ingest_all(self.servers["notigate"].port, requests, a.concurrency)
        t_ingest = time.time() - t0
        expected = await self.count_deliveries()
        print(
            f"  ingest: {len(accepted)} accepted in {t_ingest:.1f}s ({len(accepted) / t_ingest:.0f}/s), "
            f"{expected} deliveries stored",
            flush=True,
        )
        if a.mode == "drain":
            cpu0 = self.cpu()
            ready = self.resume_workers()
        stalled = None
        try:
            await self.wait_arrivals("seen", expected, timeout=a.run_timeout or 60 + a.count / 100)
        except Stalled as exc:
            stalled = str(exc)
            print(f"  STALLED: {stalled}", flush=True)
        cpu1 = self.cpu()
        stats = await self.get("/stats")
        stored = await self.stored(settle=0 if stalled else 10)
        check = verify(accepted, stored, stats["seen"], stats["duplicates"], destinations(a.destinations))
        if gone := self.exited_workers():
            check["problems"].append(f"workers exited: {', '.join(gone)}")
            check["ok"] = False
        start = min(accepted.values()) if a.mode == "live" else ready
        out = rate_and_latency(accepted, stored, stats["seen"], start)
        n = max(out["deliveries"], 1)
        return out | {
            "expected": expected,
            "stalled": stalled,
            "ingest_per_s": round(len(accepted) / t_ingest, 1),
            "check": check,
            "cpu_ms_per_delivery": {k: round((cpu1[k] - cpu0.get(k, 0.0)) / n * 1e3, 3) for k in cpu1},
        }

    async def apprise(self) -> dict[str, Any]:
        """N messages through Apprise, the k-th to the k mod D-th destination's URL."""
        import logging

        import apprise

        logging.getLogger("apprise").setLevel(logging.ERROR)
        a, port = self.args, self.servers["receiver"].port
        senders = []
        for d in destinations(a.destinations):
            ap = apprise.Apprise()
            assert ap.add(f"json://127.0.0.1:{port}{d.apprise_path}")
            senders.append(ap)
        it, failed = iter(range(a.count)), [0]

        async def one() -> None:
            for i in it:
                if not await senders[i % len(senders)].async_notify(
                    body=f"payment.card_declined #{i}", title="[warning] arindo"
                ):
                    failed[0] += 1

        t0 = time.time()
        await asyncio.gather(*(one() for _ in range(a.apprise_concurrency)))
        await self.wait_arrivals("/apprise/", a.count - failed[0], timeout=max(120, a.count / 20))
        paths = [o for p, o in (await self.get("/stats"))["other"].items() if p.startswith("/apprise/")]
        n, elapsed = sum(int(o[0]) for o in paths), max(o[2] for o in paths) - t0
        return {"deliveries": n, "failed": failed[0], "seconds": round(elapsed, 3), "per_s": round(n / elapsed, 1)}

    async def ceiling(self) -> dict[str, Any]:
        """The receiver's own ceiling: the raw client POSTing to it as fast as it can."""
        c = RawClient("127.0.0.1", self.servers["receiver"].port, "/noop", 32)
        reqs = c.prepare([b'{"x":1}'] * min(self.args.count, 10000))
        await c.open()
        try:
            elapsed, _, _ = await c.run(reqs)
        finally:
            await c.close()
        got = (await self.get("/count"))["other"].get("/noop", 0)
        return {"requests": len(reqs), "received": got, "seconds": round(elapsed, 3), "per_s": round(got / elapsed, 1)}

    async def run(self) -> dict[str, Any]:  # type: ignore[override]
        a = self.args
        await self.setup()
        print("  ready: " + ", ".join(f"{n} pid {s.pid} :{s.port}" for n, s in self.servers.items()), flush=True)
        out: dict[str, Any] = {
            "mode": a.mode,
            "workers": a.workers,
            "destinations": a.destinations,
            "receiver_ceiling": await self.ceiling(),
        }
        out["notigate"] = await self.notigate()
        if a.pyspy:  # SIGINT to py-spy and the worker: py-spy writes its profile when the worker exits
            for w in self.workers:
                os.killpg(w.pid, signal.SIGINT)
            for w in self.workers:
                await asyncio.to_thread(w.proc.wait, 60)  # type: ignore[union-attr]
        if not a.no_apprise and not out["notigate"]["stalled"]:
            out["apprise"] = await self.apprise()
            out["ratio"] = round(out["notigate"]["per_s"] / out["apprise"]["per_s"], 3)
        return out


def describe(run: dict[str, Any]) -> str:
    """One run in two lines: its figures, then its check."""
    n, c, cpu = run["notigate"], run["notigate"]["check"], run["notigate"]["cpu_ms_per_delivery"]
    text = (
        f"  notigate {n['deliveries']}/{n['expected']} in {n['seconds']:.2f}s = {n['per_s']:.0f}/s, "
        f"p50 {n['p50_ms']:.0f} ms, p99 {n['p99_ms']:.0f} ms; cpu ms/delivery workers {cpu['workers']:.2f}, "
        f"postgres {cpu['postgres']:.2f}"
    )
    if "apprise" in run:
        text += f"; apprise {run['apprise']['per_s']:.0f}/s, ratio {run['ratio']:.2f}"
    verdict = "ok" if c["ok"] else f"FAILED ({'; '.join(c['problems'])})"
    return (
        f"{text}\n  check {verdict}: {c['deliveries']} deliveries over {run['destinations']} "
        f"destination(s), {c['per_destination'][0]}–{c['per_destination'][1]} each, {c['attempts']} attempts, "
        f"{c['duplicate_arrivals']} duplicate arrival(s) of {c['duplicate_ids']} id(s); "
        f"receiver ceiling {run['receiver_ceiling']['per_s']:.0f} req/s"
    )


# --------------------------------------------------------------------------- summary
COLUMNS = {
    "notigate/s": "{:.0f}",
    "apprise/s": "{:.0f}",
    "ratio": "{:.2f}",
    "p50 ms": "{:.0f}",
    "p99 ms": "{:.0f}",
    "cpu workers": "{:.2f}",
    "cpu pg": "{:.2f}",
}


def figures(run: dict[str, Any]) -> dict[str, float]:
    n, cpu = run["notigate"], run["notigate"]["cpu_ms_per_delivery"]
    out = {
        "notigate/s": n["per_s"],
        "p50 ms": n["p50_ms"],
        "p99 ms": n["p99_ms"],
        "cpu workers": cpu["workers"],
        "cpu pg": cpu["postgres"],
    }
    if "apprise" in run:
        out |= {"apprise/s": run["apprise"]["per_s"], "ratio": run["ratio"]}
    return out


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per combination: median, min and max of each figure over its runs that did not stall."""
    groups: dict[tuple[str, int, int], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["mode"], r["workers"], r["destinations"]), []).append(r)
    out = []
    for (mode, workers, dests), rs in groups.items():
        done = [figures(r) for r in rs if not r["notigate"]["stalled"]]
        stats = {k: [statistics.median(v), min(v), max(v)] for k in COLUMNS if (v := [f[k] for f in done if k in f])}
        per_s, ratio = stats.get("notigate/s", [0.0])[0], stats.get("ratio", [TARGET_RATIO])[0]
        out.append(
            {
                "mode": mode,
                "workers": workers,
                "destinations": dests,
                "runs": len(rs),
                "stalled": len(rs) - len(done),
                "checks_ok": sum(r["notigate"]["check"]["ok"] for r in rs),
                "duplicate_arrivals": sum(r["notigate"]["check"]["duplicate_arrivals"] for r in rs),
                "figures": stats,
                "targets_met": per_s >= TARGET_PER_S and ratio >= TARGET_RATIO,
            }
        )
    return out


def print_table(a: argparse.Namespace, summary: list[dict[str, Any]]) -> None:
    def cell(key: str, s: dict[str, Any]) -> str:
        if key not in s["figures"]:
            return "-"
        med, lo, hi = (COLUMNS[key].format(x) for x in s["figures"][key])
        return med if lo == hi else f"{med} [{lo}–{hi}]"

    def checks(s: dict[str, Any]) -> str:
        return f"{s['checks_ok']}/{s['runs']} ok" + (f", {s['stalled']} stalled" if s["stalled"] else "")

    head = ["mode", "workers", "dests", *COLUMNS, "duplicates", "checks", "targets"]
    rows = [
        [
            s["mode"],
            str(s["workers"]),
            str(s["destinations"]),
            *(cell(k, s) for k in COLUMNS),
            str(s["duplicate_arrivals"]),
            checks(s),
            "MET" if s["targets_met"] else "NOT MET",
        ]
        for s in summary
    ]
    widths = [max(map(len, col)) for col in zip(head, *rows, strict=True)]
    print(
        f"\n{a.count} notifications a run, {a.repeat} run(s) a combination, max_jobs {a.max_jobs}, per_destination "
        f"{a.per_destination}, {os.cpu_count()} CPUs; medians [min–max] of the runs that did not stall"
    )
    for row in [head, *rows]:
        print("  ".join([row[0].ljust(widths[0]), *(x.rjust(w) for x, w in zip(row[1:], widths[1:], strict=True))]))
    print(
        "cpu: ms of CPU per delivery (all workers together; PostgreSQL). duplicates: arrivals of a webhook-id "
        "already received (at-least-once resends), over all runs. checks: runs in which every notification was "
        f"delivered once to its destination. targets: ≥ {TARGET_PER_S:.0f} deliveries/s, ratio ≥ {TARGET_RATIO:g}."
    )


# --------------------------------------------------------------------------- command line
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for flag, kind, default, what in [
        ("--count", int, 20000, "notifications, and Apprise messages, per run"),
        ("--mode", str, "live", "live, drain or both"),
        ("--workers", int, None, "notigate worker processes (default 1)"),
        ("--destinations", int, None, "webhook endpoints, each its own destination (default 1)"),
        ("--repeat", int, None, "runs per combination (default 3 with --matrix, else 1)"),
        ("--stall-timeout", float, 30.0, "seconds without a new arrival before a run ends as stalled"),
        (
            "--run-timeout",
            float,
            None,
            "seconds a run waits for its deliveries at most before it ends as stalled "
            "(default 60 + count/100: a run slower than ~100/s is cut off)",
        ),
        ("--concurrency", int, 32, "ingest connections"),
        ("--apprise-concurrency", int, 32, "concurrent notifies"),
        ("--max-jobs", int, 200, "[queue] max_jobs"),
        ("--per-destination", int, 4, "[delivery] per_destination: sends in flight to each destination"),
        ("--pool-min", int, 5, "[database] pool_min_size"),
        ("--pool-max", int, 20, "[database] pool_max_size"),
        ("--worker-log-level", str, "INFO", "the workers' --log-level, as deployed"),
        ("--pyspy", str, None, "run each worker under py-spy record -f raw, writing this file (.<i> per worker)"),
        (
            "--postgres",
            str,
            os.environ.get("NOTIGATE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
            "admin DSN",
        ),
        ("--redis", str, os.environ.get("NOTIGATE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"), ""),
        ("--seed", int, 20240801, ""),
        ("--json", str, None, "write the results here"),
    ]:
        p.add_argument(
            flag, type=kind, default=default, help=what if default is None else f"{what} (default %(default)s)".lstrip()
        )
    p.add_argument(
        "--matrix",
        action="store_true",
        help=f"run workers {MATRIX_WORKERS} × destinations "
        f"{MATRIX_DESTINATIONS}, for the mode(s) given, --repeat times each",
    )
    p.add_argument("--no-apprise", action="store_true")
    p.add_argument("--keep-logs", action="store_true")
    a = p.parse_args(argv)
    if a.mode not in ("live", "drain", "both"):
        p.error("--mode: live, drain or both")
    if a.matrix and (a.workers or a.destinations):
        p.error("--matrix sets the workers and destinations itself")
    a.workers, a.destinations = a.workers or 1, a.destinations or 1
    a.repeat = a.repeat or (3 if a.matrix else 1)
    if min(a.count, a.workers, a.destinations, a.repeat) < 1:
        p.error("--count, --workers, --destinations and --repeat must be ≥ 1")
    return a


def combinations(a: argparse.Namespace) -> list[argparse.Namespace]:
    """The arguments of each combination to run, in order."""
    modes = ("drain", "live") if a.mode == "both" else (a.mode,)
    workers = MATRIX_WORKERS if a.matrix else (a.workers,)
    dests = MATRIX_DESTINATIONS if a.matrix else (a.destinations,)
    return [
        argparse.Namespace(**{**vars(a), "mode": m, "workers": w, "destinations": d})
        for m in modes
        for w in workers
        for d in dests
    ]


async def run_once(args: argparse.Namespace) -> dict[str, Any]:
    """One run on fresh processes, database and queue, all removed afterwards."""
    bench = DeliveryBench(args)
    try:
        return await bench.run()
    finally:
        if bench._client is not None:
            await bench._client.aclose()
        await asyncio.shield(bench.cleanup())
        if args.keep_logs:
            print(f"  logs and config kept in {bench.tmp}")


async def amain(a: argparse.Namespace) -> int:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    combos, code = combinations(a), 0
    runs: list[dict[str, Any]] = []
    try:
        for rnd in range(1, a.repeat + 1):
            for c in combos:
                print(
                    f"\nrun {len(runs) + 1}/{len(combos) * a.repeat} (round {rnd}): mode {c.mode}, "
                    f"{c.workers} worker(s), {c.destinations} destination(s)",
                    flush=True,
                )
                runs.append(await run_once(c))
                print(describe(runs[-1]), flush=True)
    except asyncio.CancelledError:
        print("\ninterrupted: cleaning up", file=sys.stderr)
        code = 130
    except RuntimeError as exc:
        print(f"\nbenchmark failed: {exc}", file=sys.stderr)
        code = 1
    if not runs:
        return code
    summary = summarize(runs)
    print_table(a, summary)
    if failed := [r for r in runs if not r["notigate"]["check"]["ok"]]:
        print(f"{len(failed)} of {len(runs)} runs failed their check (see above)")
    if a.json:
        settings = {k: v for k, v in vars(a).items() if k != "json"}
        Path(a.json).write_text(json.dumps({"settings": settings, "summary": summary, "runs": runs}, indent=2) + "\n")
    return code or (1 if failed else 0)


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(amain(parse_args())))
    except KeyboardInterrupt:
        sys.exit(130)
