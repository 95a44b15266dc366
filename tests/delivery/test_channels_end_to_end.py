"""Email and SMS through the whole gateway: rules → deliveries → real local peers, with retries."""

from __future__ import annotations

import email
import urllib.parse
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from support import (
    AUTH,
    JSON,
    api_client,
    arindo_body,
    make_settings,
    migrated_gateway,
    wait_for,
)

from notigate.testing import Receiver


class FlakySmtp:
    """Answers the first RCPT with 451, then accepts; keeps every message."""

    def __init__(self) -> None:
        self.rcpt_calls = 0
        self.messages: list[bytes] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.rcpt_calls += 1
        if self.rcpt_calls == 1:
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.messages.append(envelope.content)
        return "250 queued"


class _Controller(Controller):
    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


async def test_email_and_sms_deliver_with_retries(database_url: str, receiver: Receiver) -> None:
    """SMTP 451 then 250: two attempts, delivered, in Indonesian with both parts; SMS 429 with
    Retry-After 2: the next try waits ≥ 2 s."""
    smtp = FlakySmtp()
    controller = _Controller(smtp, hostname="127.0.0.1", port=0)
    controller.start()
    receiver.script((429, {"Retry-After": "2"}), (201, {}))
    settings = make_settings(
        database_url,
        delivery={"backoff_max": "5s"},
        channels={
            "email": {"host": "127.0.0.1", "port": controller.port, "sender": "Notigate <alerts@example.com>"},
            "sms": {
                "base_url": receiver.url.removesuffix("/hooks"),
                "account_sid": "AC123",
                "auth_token": "token-0123",
                "sender": "+15005550006",
            },
        },
        rules=[
            {
                "name": "ops",
                "match": {"min_severity": "warning"},
                "send": [
                    {"channel": "email", "to": ["ops@example.com"], "locale": "id"},
                    {"channel": "sms", "to": ["+6281200000001"]},
                ],
            }
        ],
    )
    gateway = await migrated_gateway(settings)
    try:
        async with api_client(gateway) as client:
            notification_id = (
                await client.post("/api/v1/platforms/arindo/callbacks", content=arindo_body(), headers=JSON)
            ).headers["notigate-notification-ids"]

            async def settled() -> dict[str, Any] | None:
                detail = (await client.get(f"/api/v1/notifications/{notification_id}", headers=AUTH)).json()
                return detail if detail["notification"]["status"] == "delivered" else None

            detail = await wait_for(settled, timeout=20)
            attempts = {d["channel"]: await gateway.repo.attempts_of(d["id"]) for d in detail["deliveries"]}
    finally:
        controller.stop()
    assert [a["outcome"] for a in attempts["email"]] == ["transient", "delivered"]
    assert attempts["email"][0]["status_code"] == 451 and "451" in attempts["email"][0]["error"]
    [message] = smtp.messages
    parsed = email.message_from_bytes(message)
    assert parsed["To"] == "ops@example.com" and parsed["Subject"].startswith("Kartu ditolak: ORD-")
    assert parsed.get_content_type() == "multipart/alternative"
    text, html = (part.get_payload(decode=True).decode() for part in parsed.get_payload())
    assert "Rp150.000" in text and "Kartu ditolak" in text and "10.15.30 WIB" in text  # ARINDO sends Jakarta time
    assert html.startswith("<!DOCTYPE html>") and '<html lang="id">' in html and "Rp150.000" in html
    sms = attempts["sms"]
    assert [a["outcome"] for a in sms] == ["transient", "delivered"]
    assert (sms[1]["started_at"] - sms[0]["finished_at"]).total_seconds() >= 1.9
    assert "To=%2B6281200000001" in receiver.requests[-1].body
    form = urllib.parse.parse_qs(receiver.requests[-1].body)
    [body] = form["Body"]  # the SMS template, whole: no email subject in front
    assert body.startswith("Card declined: ORD-") and "IDR150,000 on arindo at Aug 1 10:15 WIB" in body
