"""ARINDO's ``signature_key``: SHA512 over three body fields and the merchant's secret.

ARINDO sends no authentication header; this hash is the only proof that a
notification comes from ARINDO and was not altered on the way.
"""

from __future__ import annotations

import hashlib
import hmac


def sign(order_id: str, status_code: str, gross_amount: str, server_key: str) -> str:
    """``hex(SHA512(order_id + status_code + gross_amount + server_key))``, lower case."""
    text = order_id + status_code + gross_amount + server_key
    return hashlib.sha512(text.encode("utf-8")).hexdigest()


def verify(order_id: str, status_code: str, gross_amount: str, server_key: str, signature_key: str) -> bool:
    """True when ``signature_key`` matches, compared in constant time.

    Bytes are compared because ``hmac.compare_digest`` rejects non-ASCII ``str``.
    """
    expected = sign(order_id, status_code, gross_amount, server_key).encode("ascii")
    return hmac.compare_digest(expected, signature_key.encode("utf-8"))
