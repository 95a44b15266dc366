"""Standard Webhooks signatures, checked against the published vector and the reference package."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from notigate_channel_webhook._signing import headers, sign

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_published_example() -> None:
    """The example of the Standard Webhooks specification signs to its published value."""
    signature = sign(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_matches_reference_implementation() -> None:
    """A non-ASCII body signs exactly as the standardwebhooks package signs it."""
    body = '{"message":"Kartu ditolak — saldo tidak cukup","amount":"150000.00"}'
    expected = Webhook(SECRET).sign("dlv_1", datetime.fromtimestamp(1767225600, UTC), body)
    assert sign(SECRET, "dlv_1", 1767225600, body) == expected


def test_headers_verify_with_reference() -> None:
    """The three webhook-* headers are all a receiver needs to verify the body."""
    now = int(datetime.now(UTC).timestamp())
    signed = headers(SECRET, "dlv_1", now, "{}")
    assert set(signed) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert Webhook(SECRET).verify("{}", signed) == {}


@pytest.mark.parametrize("secret", ["whsec_", "whsec_not*base64!", "whsec_a"])
def test_invalid_secret_rejected(secret: str) -> None:
    """A secret that is empty or not base64 is refused rather than signing with garbage."""
    with pytest.raises(ValueError):
        sign(secret, "dlv_1", 0, "{}")
