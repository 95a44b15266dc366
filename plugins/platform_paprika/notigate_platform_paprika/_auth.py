"""Authentication from the headers, before the body is even decoded.

Everything here answers 401 (``SignatureError``): a missing header, an unknown
``Client-Id``, a signature that does not match, a timestamp outside the window. The
signature is checked before the timestamp, so only an authentic (replayed or delayed)
notification is told that its clock is off.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from notigate import SignatureError, seconds
from notigate_platform_paprika._config import PaprikaConfig
from notigate_platform_paprika._signature import PREFIX, verify

REQUIRED = ("Client-Id", "Request-Id", "Request-Timestamp", "Signature")
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?Z")


def authenticate(headers: Mapping[str, str], body: bytes, config: PaprikaConfig, now: datetime) -> str:
    """Check the four headers against ``config`` and ``now``; return the verified Request-Id.

    Raises SignatureError when any check fails. ``headers`` keys are lower case.
    """
    values = {name: headers.get(name.lower(), "") for name in REQUIRED}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise SignatureError(f"missing header{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
    client_id, request_id, timestamp, signature = values.values()
    if client_id != config.client_id:
        raise SignatureError(f"unknown Client-Id {client_id[:100]!r}")
    if not signature.startswith(PREFIX):
        raise SignatureError(f"Signature must be {PREFIX} followed by a base64 HMAC-SHA256")
    if not verify(config.secret_key, client_id, request_id, timestamp, config.public_path, body, signature):
        raise SignatureError(f"Signature does not match (signed with Request-Target {config.public_path})")
    _check_window(timestamp, now, config.max_clock_skew)
    return request_id


def _check_window(timestamp: str, now: datetime, max_clock_skew: str) -> None:
    """``Request-Timestamp`` is ISO 8601 UTC with ``Z`` and within ``max_clock_skew`` of ``now``."""
    skew = timedelta(seconds=seconds(max_clock_skew))
    sent = parse_utc(timestamp)
    if sent is None:
        raise SignatureError(
            f"Request-Timestamp must be ISO 8601 UTC with Z, such as 2024-08-01T03:15:30Z, got {timestamp[:40]!r}"
        )
    if sent < now - skew:
        raise SignatureError(
            f"Request-Timestamp {timestamp} is stale: more than {max_clock_skew} before the gateway's clock"
        )
    if sent > now + skew:
        raise SignatureError(
            f"Request-Timestamp {timestamp} is in the future: more than {max_clock_skew} after the gateway's clock"
        )


def parse_utc(text: str) -> datetime | None:
    """``2024-08-01T03:15:30Z`` as an aware UTC datetime; None if it is not exactly that form."""
    if not _TIMESTAMP.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    except ValueError:  # 2024-02-30, 24:00:00
        return None
