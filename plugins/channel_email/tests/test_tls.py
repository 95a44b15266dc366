"""STARTTLS, implicit TLS and SMTP AUTH against aiosmtpd with a private CA (trustme)."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme

from notigate import Delivered, Message, Outcome, PermanentFailure, TransientFailure
from notigate_channel_email import EmailChannel

from .conftest import PASSWORD, USERNAME, Server, authenticate


async def send(channel: EmailChannel, message: Message) -> Outcome:
    """Render and send once, as the engine does for one attempt."""
    return await channel.send(message, channel.render(message))


async def test_starttls_delivered(
    start_server: Callable[..., Server],
    server_tls: ssl.SSLContext,
    ca_file: str,
    make_channel: Callable[..., EmailChannel],
    make_message: Callable[..., Message],
) -> None:
    """With security=starttls and the server's CA, a server that requires STARTTLS accepts the message."""
    server = start_server(tls_context=server_tls, require_starttls=True)
    channel = make_channel(port=server.port, security="starttls", ca_file=ca_file)
    for _ in range(3):
        assert isinstance(await send(channel, make_message()), Delivered)
    assert len(server.received) == 3 and server.connections == 1


async def test_starttls_wrong_ca(
    start_server: Callable[..., Server],
    server_tls: ssl.SSLContext,
    tmp_path: Path,
    make_channel: Callable[..., EmailChannel],
    make_message: Callable[..., Message],
) -> None:
    """A certificate from an untrusted CA is a transient TLS failure; nothing is sent and the password stays out."""
    server = start_server(tls_context=server_tls, require_starttls=True)
    other = trustme.CA()
    other.cert_pem.write_to_path(f"{tmp_path}/other.pem")
    channel = make_channel(
        port=server.port, security="starttls", ca_file=f"{tmp_path}/other.pem", username=USERNAME, password=PASSWORD
    )
    outcome = await send(channel, make_message())
    assert isinstance(outcome, TransientFailure)
    assert outcome.error.startswith("TLS failed: SSLCertVerificationError")
    assert PASSWORD not in outcome.error
    assert server.received == []


async def test_plain_client_refused_by_starttls_server(
    start_server: Callable[..., Server],
    server_tls: ssl.SSLContext,
    make_channel: Callable[..., EmailChannel],
    make_message: Callable[..., Message],
) -> None:
    """A server that requires STARTTLS refuses a client configured without TLS: 530, permanent until reconfigured."""
    server = start_server(tls_context=server_tls, require_starttls=True)
    outcome = await send(make_channel(port=server.port), make_message())
    assert isinstance(outcome, PermanentFailure) and outcome.status_code == 530
    assert server.received == []


async def test_starttls_not_offered(
    server: Server, ca_file: str, make_channel: Callable[..., EmailChannel], make_message: Callable[..., Message]
) -> None:
    """security=starttls against a server without STARTTLS fails (transient) rather than sending in clear."""
    outcome = await send(make_channel(port=server.port, security="starttls", ca_file=ca_file), make_message())
    assert isinstance(outcome, TransientFailure) and "STARTTLS" in outcome.error
    assert server.received == []


async def test_implicit_tls_delivered(
    start_server: Callable[..., Server],
    server_tls: ssl.SSLContext,
    ca_file: str,
    make_channel: Callable[..., EmailChannel],
    make_message: Callable[..., Message],
) -> None:
    """With security=tls the session is TLS from the first byte and the message is delivered."""
    server = start_server(ssl_context=server_tls)
    channel = make_channel(port=server.port, security="tls", ca_file=ca_file)
    assert isinstance(await send(channel, make_message()), Delivered)
    assert len(server.received) == 1


async def test_auth_success(
    start_server: Callable[..., Server],
    server_tls: ssl.SSLContext,
    ca_file: str,
    make_channel: Callable[..., EmailChannel],
    make_message: Callable[..., Message],
) -> None:
    """With the right username and password over STARTTLS, a server that requires AUTH accepts the message."""
    server = start_server(tls_context=server_tls, require_starttls=True, authenticator=authenticate, auth_required=True)
    channel = make_channel(port=server.port, security="starttls", ca_file=ca_file, username=USERNAME, password=PASSWORD)
    assert isinstance(await send(channel, make_message()), Delivered)
    assert len(server.received) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_auth_failure_is_permanent(
    start_server: Callable[..., Server], make_channel: Callable[..., EmailChannel], make_message: Callable[..., Message]
) -> None:
    """A wrong password is a permanent 535 failure whose error does not contain the password."""
    server = start_server(authenticator=authenticate, auth_required=True, auth_require_tls=False)
    wrong = "wr0ng-" + PASSWORD
    outcome = await send(
        make_channel(port=server.port, username=USERNAME, password=wrong, timeout="2s"), make_message()
    )
    assert isinstance(outcome, PermanentFailure) and outcome.status_code == 535
    assert "535" in outcome.error and wrong not in outcome.error
    assert server.received == []
