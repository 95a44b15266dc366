"""``notigate serve`` over real sockets: slow clients are cut off."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import API_KEY, ARINDO_KEY, AUTH, JSON, arindo_body

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
MARGIN = 3.0  # a loaded machine may run a deadline's callback late; never early


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
        return subprocess.Popen([sys.executable, "-m", "notigate", "serve", "--config", str(config),
                                 "--port", str(port)], cwd=config.parent, env=env, stdout=log, stderr=subprocess.STDOUT)


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


async def _until_closed(reader: asyncio.StreamReader, within: float) -> tuple[bytes, float]:
    """Everything the server still sends, and the loop's time when it closed the connection."""
    answer = await asyncio.wait_for(reader.read(), within)
    return answer, asyncio.get_running_loop().time()


def _callback_head(body: bytes, port: int) -> bytes:
    return (f"POST /api/v1/platforms/arindo/callbacks HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()


@pytest.fixture(scope="module")
def slow_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """One server with one-second deadlines for the slow-client tests."""
    folder = tmp_path_factory.mktemp("slow")
    config = _config(folder / "notigate.toml", f"sqlite:///{folder / 'notigate.db'}",
                     f'header_timeout = "{HEADER_TIMEOUT:g}s"\nbody_timeout = "{BODY_TIMEOUT:g}s"')
    port = _free_port()
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
    writer.write(_callback_head(body, slow_port) + body[:len(body) // 2])
    headed = asyncio.get_running_loop().time()

    async def trickle() -> None:
        for byte in body[len(body) // 2:-1]:
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
