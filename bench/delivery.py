"""Delivery benchmark: N notifications through rules to a local webhook receiver, vs. Apprise.

Starts, on free 127.0.0.1 ports: a receiver (this file's ``receiver_app`` under uvicorn, in
its own process: answers 200 and records the arrival time per ``webhook-id``), ``notigate
serve`` on a fresh PostgreSQL database with a Redis queue (migrated first) and ONE ``notigate
worker``. Then it ingests N signed ARINDO ``deny/202`` callbacks with the raw keep-alive
client of ``bench/ingest.py``, keeping each acceptance time by notification id
(``Notigate-Notification-Ids``), and waits until the receiver has seen every delivery.

* ``--mode live`` (default): the worker runs during ingest; deliveries/s = N / (last arrival
  − first acceptance). ``--mode drain``: the worker starts after ingest; deliveries/s =
  N / (last arrival − worker ready). Latency is acceptance → arrival in both modes.
* Apprise: ``json://`` to the same receiver, 32 concurrent ``await Apprise.async_notify``, N
  messages; also a raw-client blast at the receiver shows its own ceiling.

    cd /work/main && .venv/bin/python bench/delivery.py [--count 20000] [--mode live|drain]
        [--concurrency 32] [--apprise-concurrency 32] [--max-jobs 200] [--json out.json]

Needs PostgreSQL (admin DSN, trust auth) and Redis; all is removed and stopped at exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ingest  # noqa: E402
from ingest import (CALLBACK_PATH, SERVER_KEY, WEBHOOK_SECRET, Bench, RawClient, Server, _Conn,  # noqa: E402
                    _cpu_by_comm, _proc_cpu, child_env, free_port, percentile)

# --------------------------------------------------------------------------- receiver (own process)
SEEN: dict[str, float] = {}       # webhook-id -> first arrival (time.time())
OTHER: dict[str, list[float]] = {}  # path -> [count, first, last] for requests without webhook-id
DUPLICATES = [0]


async def receiver_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body, more = b"", True
    while more:
        msg = await receive()
        more = msg.get("more_body", False)
    now, path = time.time(), scope["path"]
    if scope["method"] == "GET" and path == "/stats":
        body = json.dumps({"seen": SEEN, "other": OTHER, "duplicates": DUPLICATES[0]}).encode()
    elif scope["method"] == "GET" and path == "/count":
        body = json.dumps({"seen": len(SEEN), "other": {k: v[0] for k, v in OTHER.items()}}).encode()
    elif scope["method"] == "POST":
        wid = next((v.decode() for k, v in scope["headers"] if k == b"webhook-id"), None)
        if wid is None:
            o = OTHER.setdefault(path, [0, now, now])
            o[0] += 1
            o[2] = now
        elif wid in SEEN:
            DUPLICATES[0] += 1
        else:
            SEEN[wid] = now
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


# --------------------------------------------------------------------------- helpers
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


def config_toml(db_url: str, redis_url: str, queue: str, receiver_url: str, a: argparse.Namespace) -> str:
    return f"""
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

[[webhooks]]
name = "receiver"
url = "{receiver_url}"
secret = "{WEBHOOK_SECRET}"

[[rules]]
name = "everything to the receiver"
send = [{{ channel = "webhook", to = ["receiver"] }}]
"""


class DeliveryBench(Bench):
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
        self.servers["receiver"] = Server("receiver", [
            py, "-m", "uvicorn", "--app-dir", str(ingest.HERE), "delivery:receiver_app", "--host", "127.0.0.1",
            "--port", str(port), "--log-level", "warning", "--no-access-log", "--lifespan", "off",
            "--backlog", "4096"], child_env(), self.tmp / "receiver.log", port)
        self.receiver_url = f"http://127.0.0.1:{port}/hooks"
        db = await self.create_database("notigate")
        self.config = self.tmp / "notigate.toml"
        self.config.write_text(config_toml(db, a.redis, self.queue, self.receiver_url, a))
        mig = subprocess.run([py, "-m", "notigate", "migrate", "--config", str(self.config)], env=child_env(),
                             cwd=ingest.ROOT, capture_output=True, text=True, timeout=120)
        if mig.returncode:
            raise RuntimeError(f"notigate migrate failed:\n{mig.stdout}{mig.stderr}")
        port = free_port()
        self.servers["notigate"] = Server("notigate", [
            py, "-m", "notigate", "--log-level", "WARNING", "serve", "--config", str(self.config),
            "--host", "127.0.0.1", "--port", str(port)], child_env(), self.tmp / "serve.log", port)
        for s in self.servers.values():
            s.start()
        await asyncio.gather(*(s.wait_ready() for s in self.servers.values()))

    async def start_worker(self) -> float:
        import redis.asyncio as aioredis
        argv = [sys.executable, "-m", "notigate", "--log-level", self.args.worker_log_level, "worker",
                "--config", str(self.config)]
        if self.args.pyspy:  # py-spy as the worker's parent, so ptrace restrictions do not matter
            argv = ["/tmp/pyspy/bin/py-spy", "record", "-f", "raw", "-o", self.args.pyspy, "-r", "50", "--", *argv]
        w = Server("worker", argv, child_env(), self.tmp / "worker.log", 0)
        self.servers = {"worker": w, **self.servers}  # stopped first at clean-up
        w.start()
        r = aioredis.from_url(self.args.redis)
        try:  # arq writes its health-check key once its main loop runs
            deadline = time.monotonic() + 60
            while not await r.exists(f"{self.queue}:health-check"):
                if w.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"worker did not start:\n{w.tail()}")
                await asyncio.sleep(0.05)
        finally:
            await r.aclose()
        return time.time()

    async def wait_arrivals(self, key: str, n: int, timeout: float) -> None:
        deadline, last, last_change = time.monotonic() + timeout, -1, time.monotonic()
        while True:
            c = await self.get("/count")
            got = c["seen"] if key == "seen" else c["other"].get(key, 0)
            if got >= n:
                return
            if got != last:
                last, last_change = got, time.monotonic()
            if time.monotonic() > deadline or time.monotonic() - last_change > 30:
                raise RuntimeError(f"receiver saw {got}/{n} ({key}); worker log:\n"
                                   + (self.servers['worker'].tail() if 'worker' in self.servers else ''))
            await asyncio.sleep(0.1)

    def cpu(self) -> dict[str, float]:
        out = {n: _proc_cpu(s.pid) for n, s in self.servers.items() if s.proc is not None}
        out["postgres"] = sum(_cpu_by_comm(("postgres",)).values())
        out["redis"] = sum(_cpu_by_comm(("redis-server",)).values())
        out["bench"] = time.process_time()
        return out

    async def notigate(self) -> dict[str, Any]:
        a = self.args
        ingest.MIX = [m for m in ingest.MIX if m[0] == "deny"]  # deny/202 only
        bodies, _ = ingest.arindo_bodies(a.count, a.seed)
        requests = [ingest.http_request("127.0.0.1", self.servers["notigate"].port, CALLBACK_PATH, b) for b in bodies]
        ready = await self.start_worker() if a.mode == "live" else None
        cpu0 = self.cpu()
        t0 = time.time()
        accepted = await ingest_all(self.servers["notigate"].port, requests, a.concurrency)
        t_ingest = time.time() - t0
        print(f"  ingest: {len(accepted)} accepted in {t_ingest:.1f}s ({len(accepted) / t_ingest:.0f}/s)", flush=True)
        if a.mode == "drain":
            ready = await self.start_worker()
            cpu0 = self.cpu()
        await self.wait_arrivals("seen", len(accepted), timeout=max(300, a.count / 20))
        cpu1 = self.cpu()
        stats = await self.get("/stats")
        import asyncpg
        conn = await asyncpg.connect(self.db_urls["notigate"])
        try:
            owner = dict(await conn.fetch('SELECT "id", "notification_id" FROM "deliveries"'))
            states = dict(await conn.fetch('SELECT "status", COUNT(*) FROM "deliveries" GROUP BY 1'))
            attempts = await conn.fetchval('SELECT COUNT(*) FROM "delivery_attempts"')
        finally:
            await conn.close()
        arrivals = stats["seen"]
        lat = sorted(t - accepted[owner[wid]] for wid, t in arrivals.items())
        start = min(accepted.values()) if a.mode == "live" else ready
        elapsed = max(arrivals.values()) - start
        n = len(arrivals)
        return {"deliveries": n, "seconds": round(elapsed, 3), "per_s": round(n / elapsed, 1),
                "ingest_per_s": round(len(accepted) / t_ingest, 1),
                "p50_ms": round(percentile(lat, 50) * 1e3, 1), "p99_ms": round(percentile(lat, 99) * 1e3, 1),
                "max_ms": round(lat[-1] * 1e3, 1), "duplicates": stats["duplicates"],
                "db_states": states, "attempt_rows": attempts,
                "cpu_ms_per_delivery": {k: round((cpu1[k] - cpu0.get(k, 0.0)) / n * 1e3, 3) for k in cpu1}}

    async def apprise(self) -> dict[str, Any]:
        import logging

        import apprise
        logging.getLogger("apprise").setLevel(logging.ERROR)
        a, port = self.args, self.servers["receiver"].port
        ap = apprise.Apprise()
        assert ap.add(f"json://127.0.0.1:{port}/apprise")
        it, failed = iter(range(a.count)), [0]

        async def one() -> None:
            for i in it:
                if not await ap.async_notify(body=f"payment.card_declined #{i}", title="[warning] arindo"):
                    failed[0] += 1
        t0 = time.time()
        await asyncio.gather(*(one() for _ in range(a.apprise_concurrency)))
        await self.wait_arrivals("/apprise", a.count - failed[0], timeout=120)
        o = (await self.get("/stats"))["other"]["/apprise"]
        elapsed = o[2] - t0
        return {"deliveries": o[0], "failed": failed[0], "seconds": round(elapsed, 3), "per_s": round(o[0] / elapsed, 1)}

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
        await self.setup()
        print("ready: " + ", ".join(f"{n} pid {s.pid} :{s.port}" for n, s in self.servers.items()), flush=True)
        out = {"receiver_ceiling": await self.ceiling()}
        print(f"  receiver ceiling: {out['receiver_ceiling']}", flush=True)
        out["notigate"] = await self.notigate()
        if self.args.pyspy:  # SIGINT to py-spy and the worker: py-spy writes its profile when the worker exits
            w = self.servers["worker"]
            os.killpg(w.pid, signal.SIGINT)
            await asyncio.to_thread(w.proc.wait, 60)
        if not self.args.no_apprise:
            out["apprise"] = await self.apprise()
        return out


def report(a: argparse.Namespace, out: dict[str, Any]) -> dict[str, Any]:
    n, ap = out["notigate"], out.get("apprise")
    print(f"\n{a.count} notifications, mode {a.mode}, 1 worker (max_jobs {a.max_jobs}, per_destination "
          f"{a.per_destination}), {os.cpu_count()} CPUs")
    print(f"{'system':10} {'deliveries':>10} {'seconds':>8} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"{'notigate':10} {n['deliveries']:10} {n['seconds']:8.2f} {n['per_s']:8.1f} {n['p50_ms']:8.1f} {n['p99_ms']:8.1f}")
    if ap:
        print(f"{'apprise':10} {ap['deliveries']:10} {ap['seconds']:8.2f} {ap['per_s']:8.1f} {'-':>8} {'-':>8}")
    print(f"receiver ceiling {out['receiver_ceiling']['per_s']:.0f} req/s; duplicates {n['duplicates']}; "
          f"deliveries {n['db_states']}; attempts {n['attempt_rows']}")
    print("cpu ms/delivery: " + ", ".join(f"{k} {v:.2f}" for k, v in n["cpu_ms_per_delivery"].items()))
    verdict = {"per_s_ok": n["per_s"] >= 1000}
    if ap:
        verdict["ratio"] = round(n["per_s"] / ap["per_s"], 3)
        verdict["ratio_ok"] = verdict["ratio"] >= 2
        print(f"Notigate/Apprise ratio: {verdict['ratio']:.2f}  target ≥ 2: {'MET' if verdict['ratio_ok'] else 'NOT MET'}")
    print(f"Notigate {n['per_s']:.0f} deliveries/s  target ≥ 1000: {'MET' if verdict['per_s_ok'] else 'NOT MET'}")
    return {"settings": {k: v for k, v in vars(a).items() if k != "json"}, **out, "verdict": verdict}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for flag, kind, default, what in [
        ("--count", int, 20000, "notifications, and Apprise messages"), ("--mode", str, "live", "live or drain"),
        ("--concurrency", int, 32, "ingest connections"), ("--apprise-concurrency", int, 32, "concurrent notifies"),
        ("--max-jobs", int, 200, "[queue] max_jobs"),
        ("--per-destination", int, 4, "[delivery] per_destination (sends in flight to the one receiver)"),
        ("--pool-min", int, 5, ""), ("--pool-max", int, 20, ""),
        ("--worker-log-level", str, "INFO", "the worker's --log-level (INFO as deployed)"),
        ("--pyspy", str, None, "run the worker under py-spy record -f raw, writing this file"),
        ("--postgres", str, os.environ.get("NOTIGATE_BENCH_POSTGRES_URL",
                                           "postgresql://postgres@127.0.0.1:5432/postgres"), "admin DSN"),
        ("--redis", str, os.environ.get("NOTIGATE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"), ""),
        ("--seed", int, 20240801, ""), ("--json", str, None, "write the results here")]:
        p.add_argument(flag, type=kind, default=default, help=what or None)
    p.add_argument("--no-apprise", action="store_true")
    p.add_argument("--keep-logs", action="store_true")
    a = p.parse_args(argv)
    if a.mode not in ("live", "drain"):
        p.error("--mode: live or drain")
    return a


async def amain(a: argparse.Namespace) -> int:
    bench = DeliveryBench(a)
    task = asyncio.current_task()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        out = await bench.run()
    except asyncio.CancelledError:
        print("\ninterrupted: cleaning up", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"\nbenchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if bench._client is not None:
            await bench._client.aclose()
        await asyncio.shield(bench.cleanup())
        if a.keep_logs:
            print(f"logs and config kept in {bench.tmp}")
    data = report(a, out)
    if a.json:
        Path(a.json).write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(amain(parse_args())))
    except KeyboardInterrupt:
        sys.exit(130)
