"""The rendered message: one RFC 5322 text with both parts and stable identity headers."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from notigate import Message
from notigate_channel_email import EmailChannel, EmailConfig


def parse(body: str) -> EmailMessage:
    message = email.message_from_string(body, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def parts(message: EmailMessage) -> dict[str, str]:
    """The text of each leaf part by content type, with the wire's CRLF line ends as newlines."""
    return {
        part.get_content_type(): part.get_content().replace("\r\n", "\n")
        for part in message.walk()
        if not part.is_multipart()
    }


@pytest.fixture
def channel() -> EmailChannel:
    return EmailChannel(EmailConfig(sender="Notigate <alerts@example.com>"))


def test_headers_and_parts(channel: EmailChannel, make_message: Callable[..., Message]) -> None:
    """From, To, Subject, Date and Message-ID are set, and the body is multipart/alternative text + HTML."""
    rendered = channel.render(make_message())
    message = parse(rendered.body)
    assert message["From"] == "Notigate <alerts@example.com>"
    assert message["To"] == "ops@example.com"
    assert message["Subject"] == "Kartu ditolak: INV-2026-0001"
    assert message["Message-ID"] == "<dlv_01JNB6X4T2@example.com>"
    assert abs(parsedate_to_datetime(message["Date"]) - datetime.now(UTC)) < timedelta(seconds=5)
    assert message.get_content_type() == "multipart/alternative"
    assert list(parts(message)) == ["text/plain", "text/html"]
    assert "Amount: IDR 150000.00" in parts(message)["text/plain"]
    assert (rendered.content_type, rendered.subject) == ("message/rfc822", "Kartu ditolak: INV-2026-0001")
    assert rendered.headers == {
        "to": "ops@example.com",
        "from": "Notigate <alerts@example.com>",
        "message-id": "<dlv_01JNB6X4T2@example.com>",
    }


def test_html_escapes_the_text(channel: EmailChannel, make_message: Callable[..., Message]) -> None:
    """Markup in the message text is escaped in the HTML part, never executed."""
    text = 'Merchant says <script>alert("x")</script> & more'
    html = parts(parse(channel.render(make_message(text=text)).body))["text/html"]
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more" in html


def test_non_ascii_is_seven_bit_safe(channel: EmailChannel, make_message: Callable[..., Message]) -> None:
    """Non-ASCII subject and text survive, encoded so the message itself is plain ASCII."""
    rendered = channel.render(make_message(subject="Pembayaran gagal — Rp 150.000", text="Saldo tidak cukup — ✓\n"))
    assert rendered.body.isascii()
    message = parse(rendered.body)
    assert message["Subject"] == "Pembayaran gagal — Rp 150.000"
    assert parts(message)["text/plain"] == "Saldo tidak cukup — ✓\n"


def test_deterministic_but_for_date(channel: EmailChannel, make_message: Callable[..., Message]) -> None:
    """Two renders of one delivery differ at most in the Date header, so retries keep one Message-ID."""
    first, second = (parse(channel.render(make_message()).body) for _ in range(2))
    for message in (first, second):
        del message["Date"]
    assert first.as_string() == second.as_string()


def test_message_id_domain_from_bare_sender(make_message: Callable[..., Message]) -> None:
    """A sender without a display name still gives the Message-ID its domain."""
    channel = EmailChannel(EmailConfig(sender="alerts@pay.example.co.id"))
    assert channel.render(make_message()).headers["message-id"] == "<dlv_01JNB6X4T2@pay.example.co.id>"


@pytest.mark.parametrize("recipient", ["ops@example.com", "risk.team+fraud@pay.example.co.id", "root@localhost"])
def test_recipient_accepted(recipient: str, channel: EmailChannel) -> None:
    """A single plain local@domain address is a usable recipient."""
    assert channel.validate_recipient(recipient) is None


@pytest.mark.parametrize(
    "recipient",
    [
        "not-an-email",
        "a@b@c",
        '"x" <a@b.c>, d@e.f',
        "Ops <ops@example.com>",
        "ops@",
        "@example.com",
        "ops@example..com",
        "ops @example.com",
        "",
        "ops@example.com\r\nBcc: x@evil.example",
    ],
)
def test_recipient_rejected(recipient: str, channel: EmailChannel) -> None:
    """Anything but one plain address is refused with a reason naming it."""
    problem = channel.validate_recipient(recipient)
    assert problem is not None and "address" in problem


def test_password_not_in_repr() -> None:
    """The config's repr hides the SMTP password."""
    config: Any = EmailConfig(username="u", password="s3cr3t")
    assert "s3cr3t" not in repr(config) and "password='***'" in repr(config)


def test_html_from_the_templates_is_sent_as_is(channel: EmailChannel, make_message: Callable[..., Message]) -> None:
    """When the engine rendered an HTML template, that HTML is the HTML part (the template escaped it)."""
    page = '<!DOCTYPE html>\n<html lang="id"><body><h1>Kartu ditolak</h1>&lt;b&gt;</body></html>\n'
    sent = parts(parse(channel.render(make_message(html=page)).body))
    assert sent["text/html"] == page
    assert "text/plain" in sent
