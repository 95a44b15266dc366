"""Standard Webhooks signatures (standardwebhooks.com), the only scheme subscribers verify.

The signed content is ``{id}.{timestamp}.{body}``; the key is the base64 part of a
``whsec_…`` secret. Kept free of I/O so that it is easy to check against the reference.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

_PREFIX = "whsec_"


def signing_key(secret: str) -> bytes:
    """The HMAC key inside ``secret``; ``ValueError`` if it is not (``whsec_``) base64."""
    encoded = secret.removeprefix(_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        raise ValueError("signing secret is not base64") from None
    if not key:
        raise ValueError("signing secret is empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """``v1,<base64 HMAC-SHA256>`` of ``{msg_id}.{timestamp}.{body}``."""
    content = f"{msg_id}.{timestamp}.{body}".encode()
    digest = hmac.new(signing_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(secret: str, msg_id: str, timestamp: int, body: str) -> dict[str, str]:
    """The three ``webhook-*`` headers a receiver needs to verify ``body``."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }
