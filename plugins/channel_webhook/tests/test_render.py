"""What the webhook channel would send: the Standard Webhooks envelope of product.md."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from notigate import Message
from notigate_channel_webhook import WebhookChannel

URL = "https://merchant.example.com/hooks/payments"


def test_envelope(channel: WebhookChannel, make_message: Callable[..., Message]) -> None:
    """The body is {type, timestamp, data}: data is the normalized event without its status."""
    rendered = channel.render(make_message(URL))
    payload = json.loads(rendered.body)
    assert list(payload) == ["type", "timestamp", "data"]
    assert payload["type"] == "payment.card_declined"
    assert payload["timestamp"] == "2026-03-01T08:30:00Z"
    assert payload["data"] == {
        "id": "ntf_01JNB6X4S5M2Q8Y7Z3W9V1T0RK",
        "platform": "arindo",
        "code": "card_declined",
        "severity": "warning",
        "message": "Card declined by the issuer",
        "platform_code": "202/05",
        "occurred_at": "2026-03-01T08:30:00Z",
        "received_at": "2026-03-01T08:30:02Z",
        "amount": "150000.00",
        "currency": "IDR",
        "reference": "INV-2026-0001",
        "merchant_id": "M-31835",
        "metadata": {"bank": "bni", "card": "411111******1111"},
    }


def test_compact_json_unsigned(channel: WebhookChannel, make_message: Callable[..., Message]) -> None:
    """The rendered copy is compact JSON with no signature headers (those depend on send time)."""
    rendered = channel.render(make_message(URL))
    assert rendered.content_type == "application/json"
    assert rendered.headers == {}
    assert rendered.body == json.dumps(json.loads(rendered.body), separators=(",", ":"), ensure_ascii=False)


def test_deterministic(channel: WebhookChannel, make_message: Callable[..., Message]) -> None:
    """The same message renders to the same bytes, whatever the order of its metadata keys."""
    first = channel.render(make_message(URL, metadata={"a": 1, "b": {"y": 2, "x": 3}}))
    again = channel.render(make_message(URL, metadata={"a": 1, "b": {"y": 2, "x": 3}}))
    reordered = channel.render(make_message(URL, metadata={"b": {"x": 3, "y": 2}, "a": 1}))
    assert first.body == again.body == reordered.body


def test_status_does_not_change_body(channel: WebhookChannel, make_message: Callable[..., Message]) -> None:
    """The notification's status moving on does not change what a retry sends."""
    assert channel.render(make_message(URL, status="received")) == channel.render(make_message(URL, status="failed"))


def test_times_in_utc(channel: WebhookChannel, make_message: Callable[..., Message]) -> None:
    """Times in another zone (or naive, taken as UTC) are sent as RFC 3339 UTC."""
    jakarta = timezone(timedelta(hours=7))
    message = make_message(
        URL, occurred_at=datetime(2026, 3, 1, 15, 30, tzinfo=jakarta), received_at=datetime(2026, 3, 1, 8, 30, 2)
    )
    payload = json.loads(channel.render(message).body)
    assert payload["timestamp"] == payload["data"]["occurred_at"] == "2026-03-01T08:30:00Z"
    assert payload["data"]["received_at"] == "2026-03-01T08:30:02Z"


def test_optional_fields_are_null(channel: WebhookChannel, make_message: Callable[..., Message]) -> None:
    """An event without an amount sends null fields, so receivers see one stable schema."""
    payload = json.loads(channel.render(make_message(URL, amount=None, currency=None)).body)
    assert payload["data"]["amount"] is None and payload["data"]["currency"] is None
