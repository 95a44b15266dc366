"""``notigate serve`` over real sockets: slow clients are cut off, and SIGTERM drains without losing a request."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from support import (
    API_KEY,
    ARINDO_KEY,
    AUTH,
    JSON,
    WEBHOOK_SECRET,
    arindo_body,
    free_port,
    wait_for,
)

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
MARGIN = 3.0  # a loaded machine may run a deadline's callback late; never early


def _config(path: Path, database: str, server: str, extra: str = "") -> Path:
    path.write_text(f"""
[server]
{server}

[database]
url = "{database}"
pool_min_size = 1
pool_max_size = 5

[security]
api_keys = [{{ name = "tests", key = "{API_KEY}", scopes = ["admin"] }}]

[platforms.arindo]
server_key = "{ARINDO_KEY}"
{extra}
""")
    return path


def _start(config: Path, port: int) -> subprocess.Popen[bytes]:
    """``notigate serve`` in a subprocess, its output kept beside the config for the assertions."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIGATE_")}
    with config.with_name(f"serve-{port}.log").open("a") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "notigate", "serve", "--config", str(config), "--port", str(port)],
            cwd=config.parent,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@contextlib.contextmanager
def _serving(config: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    server = _start(config, port)
    try:
        deadline = time.monotonic() + 60
        while not _ready(port):
            assert server.poll() is None and time.monotonic() < deadline, "serve did not become ready"
            time.sleep(0.1)
        yield server
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:  # a test that failed mid-drain
                server.kill()
                server.wait()


async def _exit_code(server: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """The exit status, waited for without blocking the event loop."""
    await wait_for(lambda: server.poll() is not None, timeout=timeout)
    return server.returncode


async def _until_closed(reader: asyncio.StreamReader, within: float) -> tuple[bytes, float]:
    """Everything the server still sends, and the loop's time when it closed the connection."""
    answer = await asyncio.wait_for(reader.read(), within)
    return answer, asyncio.get_running_loop().time()


def _callback_head(body: bytes, port: int) -> bytes:
    return (
        f"POST /api/v1/platforms/arindo/callbacks HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()


@pytest.fixture(scope="module")
def slow_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """One server with one-second deadlines for the slow-client tests."""
    folder = tmp_path_factory.mktemp("slow")
    config = _config(
        folder / "notigate.toml",
        f"sqlite:///{folder / 'notigate.db'}",
        f'header_timeout = "{HEADER_TIMEOUT:g}s"\nbody_timeout = "{BODY_TIMEOUT:g}s"\ndrain_grace = "0s"',
    )
    port = free_port()
    with _serving(config, port):
        yield port


async def test_partial_request_line_is_cut_after_header_timeout(slow_port: int) -> None:
    """Half a request line gets 408 and a closed connection after header_timeout; another connection is answered meanwhile."""
    reader, writer = await asyncio.open_connection("127.0.0.1", slow_port)
    opened = asyncio.get_running_loop().time()
    writer.write(b"POST /api/v1/platforms/ari")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{slow_port}") as client:
        assert (await client.get("/health/live")).status_code == 200
    answer, closed = await _until_closed(reader, HEADER_TIMEOUT + MARGIN)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ") and b'"status_code":408' in answer
    assert closed - opened >= HEADER_TIMEOUT * 0.9


@pytest.mark.parametrize("then", [b"", b"GET /health/li"], ids=["idle", "half-a-request"])
async def test_keep_alive_connection_is_cut_after_header_timeout(slow_port: int, then: bytes) -> None:
    """After a response, a connection idle (closed) or stuck in its next request (408) lasts header_timeout."""
    reader, writer = await asyncio.open_connection("127.0.0.1", slow_port)
    writer.write(b"GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n")
    await asyncio.wait_for(reader.readuntil(b'"checks":{}}'), 10)
    answered = asyncio.get_running_loop().time()
    writer.write(then)
    answer, closed = await _until_closed(reader, HEADER_TIMEOUT + MARGIN)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ") if then else answer == b""
    assert closed - answered >= HEADER_TIMEOUT / 2  # the response reached us a little after it ended


async def test_pipelined_requests_are_all_answered_before_the_connection_is_cut(slow_port: int) -> None:
    """Requests pipelined in one packet are answered in turn (no deadline runs while one waits for its turn)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", slow_port)
    writer.write(b"GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n" * 3)
    answer, _ = await _until_closed(reader, HEADER_TIMEOUT + MARGIN + 10)
    writer.close()
    assert answer.count(b"HTTP/1.1 200 ") == 3 and b"408" not in answer


async def _stored(port: int, reference: str) -> int:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=AUTH) as client:
        items = (await client.get("/api/v1/notifications", params={"limit": 100})).json()["items"]
    return sum(item["reference"] == reference for item in items)


@pytest.mark.parametrize("dribble", [False, True], ids=["stops", "dribbles"])
async def test_body_that_does_not_arrive_in_time_is_cut_and_not_stored(slow_port: int, dribble: bool) -> None:
    """A callback body that stops or trickles past body_timeout gets 408 and stores nothing; sent whole, it is stored."""
    body = arindo_body(order_id=f"ORD-SLOW-{dribble}")
    reader, writer = await asyncio.open_connection("127.0.0.1", slow_port)
    writer.write(_callback_head(body, slow_port) + body[: len(body) // 2])
    headed = asyncio.get_running_loop().time()

    async def trickle() -> None:
        for byte in body[len(body) // 2 : -1]:
            await asyncio.sleep(0.05)
            writer.write(bytes([byte]))

    dribbling = asyncio.create_task(trickle()) if dribble else None
    answer, closed = await _until_closed(reader, BODY_TIMEOUT + MARGIN)
    if dribbling:
        dribbling.cancel()
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ") and b"body" in answer
    assert closed - headed >= BODY_TIMEOUT * 0.9
    assert await _stored(slow_port, f"ORD-SLOW-{dribble}") == 0
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{slow_port}") as client:
        assert (await client.post("/api/v1/platforms/arindo/callbacks", content=body, headers=JSON)).status_code == 200
    assert await _stored(slow_port, f"ORD-SLOW-{dribble}") == 1


async def test_forty_slowloris_connections_are_all_closed(slow_port: int) -> None:
    """40 connections sending a header line every 200 ms are all cut after header_timeout; a callback is answered meanwhile."""
    connections = [await asyncio.open_connection("127.0.0.1", slow_port) for _ in range(40)]

    async def slowloris(writer: asyncio.StreamWriter) -> None:
        writer.write(b"GET /health/live HTTP/1.1\r\nHost: test\r\n")
        for n in itertools.count():
            await asyncio.sleep(0.2)
            writer.write(b"X-Slow-%d: yes\r\n" % n)

    senders = [asyncio.create_task(slowloris(writer)) for _, writer in connections]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{slow_port}") as client:
            answer = await client.post("/api/v1/platforms/arindo/callbacks", content=arindo_body(), headers=JSON)
        assert answer.status_code == 200
        cut = await asyncio.gather(*(_until_closed(reader, HEADER_TIMEOUT + MARGIN) for reader, _ in connections))
    finally:
        for sender in senders:
            sender.cancel()
        for _, writer in connections:
            writer.close()
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer, _ in cut)


async def test_drain_serves_through_the_grace_and_a_second_signal_ends_it(tmp_path: Path) -> None:
    """After SIGTERM, /health/ready answers 503 "draining" at once while callbacks are still served; a second
    SIGTERM ends the 30 s grace early, and the process exits 0."""
    port = free_port()
    config = _config(tmp_path / "notigate.toml", f"sqlite:///{tmp_path / 'notigate.db'}", 'drain_grace = "30s"')
    with _serving(config, port) as server:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            server.send_signal(signal.SIGTERM)
            ready = await wait_for(lambda: _draining(client), timeout=5)
            assert ready.json() == {"status": "draining", "checks": {"server": "draining"}}
            answer = await client.post("/api/v1/platforms/arindo/callbacks", content=arindo_body(), headers=JSON)
            assert answer.status_code == 200
        stopped = time.monotonic()
        server.send_signal(signal.SIGTERM)
        assert await _exit_code(server) == 0
        assert time.monotonic() - stopped < 15


async def _draining(client: httpx.AsyncClient) -> httpx.Response | None:
    answer = await client.get("/health/ready")
    return answer if answer.status_code == 503 else None


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


async def test_drain_finishes_a_request_in_flight_after_the_listener_closes(tmp_path: Path) -> None:
    """A callback still arriving when the grace ends is answered 200 with Connection: close and stored, though
    new connections are refused by then; the process then exits 0."""
    port = free_port()
    database = tmp_path / "notigate.db"
    config = _config(tmp_path / "notigate.toml", f"sqlite:///{database}", 'drain_grace = "1s"')
    body = arindo_body(order_id="ORD-IN-FLIGHT")
    with _serving(config, port) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_callback_head(body, port) + body[:100])
        server.send_signal(signal.SIGTERM)
        await wait_for(lambda: _refused(port), timeout=15)
        writer.write(body[100:])
        answer = await asyncio.wait_for(reader.read(), 15)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 200 ") and b"\r\nconnection: close\r\n" in answer.lower()
        assert await _exit_code(server) == 0
    with contextlib.closing(sqlite3.connect(database)) as db:
        assert db.execute("SELECT count(*) FROM notifications WHERE reference = 'ORD-IN-FLIGHT'").fetchone() == (1,)


class _Balancer:
    """A load balancer with health checks: each request goes, round robin, to a backend whose last
    ``/health/ready`` (polled every 100 ms) answered 200; nothing is retried. Its idle connections expire
    before the backends' keep-alive does, as a balancer's should."""

    def __init__(self, ports: list[int]) -> None:
        self.ready = dict.fromkeys(ports, False)
        self.served: Counter[int] = Counter()
        self.acknowledged: list[str] = []
        self.failures: list[str] = []
        self.stopping = False
        self._turn = itertools.cycle(ports)
        limits = httpx.Limits(keepalive_expiry=2)
        self._clients = {
            port: httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10, limits=limits) for port in ports
        }

    async def check(self, port: int) -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=1) as client:
            while True:
                try:
                    self.ready[port] = (await client.get("/health/ready")).status_code == 200
                except httpx.HTTPError:
                    self.ready[port] = False
                await asyncio.sleep(0.1)

    async def send(self) -> None:
        """Callbacks one after another, 20 a second at most, until ``stopping``."""
        while not self.stopping:
            await asyncio.sleep(0.05)
            port = next((p for p in itertools.islice(self._turn, len(self.ready)) if self.ready[p]), None)
            if port is None:
                continue
            try:
                answer = await self._clients[port].post(
                    "/api/v1/platforms/arindo/callbacks", content=arindo_body(), headers=JSON
                )
            except httpx.HTTPError as exc:
                self.failures.append(f"{port}: {type(exc).__name__}: {exc}")
                continue
            if answer.status_code != 200:
                self.failures.append(f"{port}: {answer.status_code} {answer.text}")
                continue
            self.acknowledged += answer.headers["notigate-notification-ids"].split(",")
            self.served[port] += 1

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()


async def _migrate(url: str) -> None:
    from notigate.storage.database import Database
    from notigate.storage.migrations import migrate

    db = Database(url)
    await db.start()
    await migrate(db)
    await db.close()


async def test_rolling_restart_behind_a_balancer_loses_no_request(
    tmp_path: Path, postgres_url: str, redis_url: str, queue_name: str
) -> None:
    """Two API processes on PostgreSQL + Redis, each drained by SIGTERM and started again in turn under a steady
    stream of callbacks: every callback is answered 200, every acknowledged notification is stored exactly
    once, and each process exits 0 after its drain."""
    await _migrate(postgres_url)
    config = _config(
        tmp_path / "notigate.toml",
        postgres_url,
        'drain_grace = "1s"\ndrain_timeout = "10s"',
        f"""
[queue]
url = "{redis_url}"
name = "{queue_name}"

[[webhooks]]
name = "merchant"
url = "http://127.0.0.1:9/hooks"
secret = "{WEBHOOK_SECRET}"

[[rules]]
name = "all to the merchant"
send = [{{ channel = "webhook", to = ["merchant"] }}]
""",
    )
    first = free_port()
    ports = [first, next(p for p in iter(free_port, None) if p != first)]
    servers = {port: _start(config, port) for port in ports}
    balancer = _Balancer(ports)
    checks = [asyncio.create_task(balancer.check(port)) for port in ports]
    senders = [asyncio.create_task(balancer.send()) for _ in range(3)]
    try:
        await wait_for(lambda: all(balancer.ready.values()), timeout=60)
        for port in ports:
            served = sum(balancer.served.values())
            await wait_for(lambda served=served: sum(balancer.served.values()) >= served + 20, timeout=30)
            servers[port].send_signal(signal.SIGTERM)
            assert await _exit_code(servers[port]) == 0
            assert config.with_name(f"serve-{port}.log").read_text().count("draining:") == 1
            servers[port] = _start(config, port)
            await wait_for(lambda port=port: balancer.ready[port], timeout=60)
        restarted = balancer.served[ports[-1]]
        await wait_for(lambda: balancer.served[ports[-1]] >= restarted + 20, timeout=30)
    finally:
        balancer.stopping = True
        await asyncio.gather(*senders, return_exceptions=True)  # each ends after its answer: all are counted
        for check in checks:
            check.cancel()
        await balancer.aclose()
        for server in servers.values():
            server.send_signal(signal.SIGTERM)
    assert [await _exit_code(server) for server in servers.values()] == [0, 0]
    assert balancer.failures == []
    connection = await asyncpg.connect(postgres_url)
    try:
        stored = Counter(row["id"] for row in await connection.fetch("SELECT id FROM notifications"))
    finally:
        await connection.close()
    assert len(balancer.acknowledged) > 60
    assert Counter(balancer.acknowledged) == stored
