"""PAPRIKA's ``Signature`` header: an HMAC-SHA256 over the request's identity and body digest.

The digest covers the exact received bytes, so nothing here ever re-serializes JSON.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

PREFIX = "HMACSHA256="


def digest(body: bytes) -> str:
    """``base64(SHA-256(body))``."""
    return base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def component_string(client_id: str, request_id: str, timestamp: str, target: str, body: bytes) -> str:
    """The guide's five lines joined by ``\\n``, no trailing newline."""
    return "\n".join(
        (
            f"Client-Id:{client_id}",
            f"Request-Id:{request_id}",
            f"Request-Timestamp:{timestamp}",
            f"Request-Target:{target}",
            f"Digest:{digest(body)}",
        )
    )


def sign(secret_key: str, client_id: str, request_id: str, timestamp: str, target: str, body: bytes) -> str:
    """The full ``Signature`` header value: ``HMACSHA256=`` + base64 HMAC-SHA256."""
    components = component_string(client_id, request_id, timestamp, target, body)
    mac = hmac.new(_utf8(secret_key), _utf8(components), hashlib.sha256).digest()
    return PREFIX + base64.b64encode(mac).decode("ascii")


def verify(
    secret_key: str, client_id: str, request_id: str, timestamp: str, target: str, body: bytes, signature: str
) -> bool:
    """True when ``signature`` (the header value) matches, compared in constant time.

    Bytes are compared because ``hmac.compare_digest`` rejects non-ASCII ``str``.
    """
    expected = sign(secret_key, client_id, request_id, timestamp, target, body)
    return hmac.compare_digest(expected.encode("ascii"), _utf8(signature))


def _utf8(text: str) -> bytes:
    """UTF-8 that never raises: a header holding a lone surrogate simply fails to match."""
    return text.encode("utf-8", "surrogatepass")
