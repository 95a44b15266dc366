"""Sending to a real SMTP server: what arrives, connection reuse, and how replies are classified."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import time
from collections.abc import Callable, Iterator

import pytest

from notigate import Delivered, Message, Outcome, PermanentFailure, TransientFailure
from notigate_channel_email import EmailChannel, _pool

from .conftest import Server


async def send(channel: EmailChannel, message: Message) -> Outcome:
    """Render and send once, as the engine does for one attempt."""
    return await channel.send(message, channel.render(message))


async def test_message_arrives(
    server: Server, make_channel: Callable[..., EmailChannel], make_message: Callable[..., Message]
) -> None:
    """The server receives the rendered message unchanged, with the sender and recipient as envelope."""
    channel = make_channel(port=server.port)
    message = make_message(text="Hostile <script>alert(1)</script>\n")
    rendered = channel.render(message)
    outcome = await channel.send(message, rendered)
    assert isinstance(outcome, Delivered) and outcome.status_code == 250
    (received,) = server.received
    assert (received.mail_from, received.rcpt_tos) == ("alerts@example.com", ["ops@example.com"])
    parsed = email.message_from_bytes(received.content, policy=email.policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["From"] == "Notigate <alerts@example.com>" and parsed["To"] == "ops@example.com"
    assert parsed["Subject"] == "Kartu ditolak: INV-2026-0001"
    assert parsed["Message-ID"] == "<dlv_01JNB6X4T2@example.com>" and parsed["Date"]
    text, html = (part.get_content() for part in parsed.iter_parts())  # type: ignore[attr-defined]
    assert "Hostile <script>alert(1)</script>" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html


async def test_same_message_id_on_every_send(
    server: Server, make_channel: Callable[..., EmailChannel], make_message: Callable[..., Message]
) -> None:
    """Two sends of one delivery carry the same Message-ID, so a repeat can be recognised."""
    channel = make_channel(port=server.port)
    for _ in range(2):
        assert isinstance(await send(channel, make_message()), Delivered)
    ids = {email.message_from_bytes(r.content)["Message-ID"] for r in server.received}
    assert ids == {"<dlv_01JNB6X4T2@example.com>"}


async def test_burst_reuses_one_connection(
    server: Server, make_channel: Callable[..., EmailChannel], make_message: Callable[..., Message]
) -> None:
    """Twenty sends one after another travel over a single SMTP session."""
    channel = make_channel(port=server.port)
    for i in range(20):
        assert isinstance(await send(channel, make_message(id=f"dlv_{i}")), Delivered)
    assert len(server.received) == 20 and server.connections == 1


async def test_concurrent_burst_bounded_by_max_connections(
    server: Server, make_channel: Callable[..., EmailChannel], make_message: Callable[..., Message]
) -> None:
    """Twenty concurrent sends all arrive over at most max_connections sessions."""
    channel = make_channel(port=server.port, max_connections=3)
    outcomes = await asyncio.gather(*(send(channel, make_message(id=f"dlv_{i}")) for i in range(20)))
    assert all(isinstance(o, Delivered) for o in outcomes)
    assert len(server.received) == 20 and 1 <= server.connections <= 3


async def test_dropped_connection_replaced(
    server: Server,
    make_channel: Callable[..., EmailChannel],
    make_message: Callable[..., Message],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pooled session the server closed while idle is noticed and replaced, not reported as a failure."""
    monkeypatch.setattr(_pool, "_PROBE_AFTER", 0.0)  # probe every reuse, as after a long idle time
    channel = make_channel(port=server.port)
    assert isinstance(await send(channel, make_message()), Delivered)
    server.controller.drop_connections()
    assert isinstance(await send(channel, make_message()), Delivered)
    assert server.connections == 2


async def test_connection_dropped_while_setting_up_is_tried_again(
    server: Server, make_channel: Callable[..., EmailChannel], make_message: Callable[..., Message]
) -> None:
    """A server that hangs up before its greeting (restarting) costs no attempt: the send connects again."""
    server.controller.drop_next = 2
    assert isinstance(await send(make_channel(port=server.port), make_message()), Delivered)
    assert len(server.received) == 1 and server.controller.drop_next == 0


async def test_451_then_250(
    server: Server, make_channel: Callable[..., EmailChannel], make_message: Callable[..., Message]
) -> None:
    """A 451 reply is transient with its code; the repeated send is delivered on the same connection."""
    server.handler.data_replies = ["451 4.3.0 try later", "250 OK"]
    channel = make_channel(port=server.port)
    first = await send(channel, make_message())
    assert isinstance(first, TransientFailure) and first.status_code == 451
    assert "451" in first.error and "try later" in first.error
    assert isinstance(await send(channel, make_message()), Delivered)
    assert server.connections == 1


async def test_550_recipient_is_permanent(
    server: Server, make_channel: Callable[..., EmailChannel], make_message: Callable[..., Message]
) -> None:
    """A recipient refused with 550 is a permanent failure naming the code, and nothing is delivered."""
    server.handler.rcpt_replies = ["550 5.1.1 no such user"]
    outcome = await send(make_channel(port=server.port), make_message())
    assert isinstance(outcome, PermanentFailure) and outcome.status_code == 550
    assert "550" in outcome.error and "no such user" in outcome.error
    assert server.received == []


async def test_452_recipient_is_transient(
    server: Server, make_channel: Callable[..., EmailChannel], make_message: Callable[..., Message]
) -> None:
    """A recipient deferred with 452 (mailbox full for now) is transient."""
    server.handler.rcpt_replies = ["452 4.2.2 mailbox full"]
    outcome = await send(make_channel(port=server.port), make_message())
    assert isinstance(outcome, TransientFailure) and outcome.status_code == 452


async def test_554_data_is_permanent(
    server: Server, make_channel: Callable[..., EmailChannel], make_message: Callable[..., Message]
) -> None:
    """A message rejected at DATA with 554 is permanent."""
    server.handler.data_replies = ["554 5.7.1 message rejected as spam"]
    outcome = await send(make_channel(port=server.port), make_message())
    assert isinstance(outcome, PermanentFailure) and outcome.status_code == 554


async def test_connection_refused(
    closed_port: int, make_channel: Callable[..., EmailChannel], make_message: Callable[..., Message]
) -> None:
    """A refused connection is transient, quickly, with an error that says so."""
    started = time.monotonic()
    outcome = await send(make_channel(port=closed_port), make_message())
    assert time.monotonic() - started < 1.0
    assert isinstance(outcome, TransientFailure) and outcome.status_code is None
    assert outcome.error.startswith("connection failed: ")


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections but never sends an SMTP greeting."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


async def test_silent_server_times_out(
    silent_port: int, make_channel: Callable[..., EmailChannel], make_message: Callable[..., Message]
) -> None:
    """A server that never greets is transient, and the send returns soon after the timeout."""
    started = time.monotonic()
    outcome = await send(make_channel(port=silent_port, timeout="0.3s"), make_message())
    assert time.monotonic() - started < 1.0
    assert isinstance(outcome, TransientFailure) and "timed out" in outcome.error


async def test_unusable_address(
    server: Server, make_channel: Callable[..., EmailChannel], make_message: Callable[..., Message]
) -> None:
    """An address that is not one plain email address fails permanently without contacting the server."""
    channel = make_channel(port=server.port)
    message = make_message()
    rendered = channel.render(message)
    outcome = await channel.send(make_message("not-an-email"), rendered)
    assert isinstance(outcome, PermanentFailure) and outcome.error.startswith("cannot send to this address")
    assert server.received == []


async def test_aclose_quits_pooled_connections(
    server: Server, make_channel: Callable[..., EmailChannel], make_message: Callable[..., Message]
) -> None:
    """aclose ends the pooled sessions, and the channel can still send afterwards on a new one."""
    channel = make_channel(port=server.port)
    await send(channel, make_message())
    await channel.aclose()
    assert isinstance(await send(channel, make_message()), Delivered)
    assert server.connections == 2
