"""ASSASTA's legacy signature: SHA1 over the hex MD5 of credentials and two fields.

Weak by today's standards, but it is what ASSASTA sends, and the only proof that a
notification comes from ASSASTA for this merchant and was not altered on the way.
"""

from __future__ import annotations

import hashlib
import hmac


def md5_hex(user_id: str, password: str, bill_no: str, payment_status_code: str) -> str:
    """The inner hash: ``hex(MD5(user_id + password + bill_no + payment_status_code))``."""
    text = user_id + password + bill_no + payment_status_code
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def sign(user_id: str, password: str, bill_no: str, payment_status_code: str) -> str:
    """``hex(SHA1(hex(MD5(...))))``, lower case, as the guide defines it."""
    inner = md5_hex(user_id, password, bill_no, payment_status_code)
    return hashlib.sha1(inner.encode("ascii"), usedforsecurity=False).hexdigest()


def verify(user_id: str, password: str, bill_no: str, payment_status_code: str, signature: str) -> bool:
    """True when ``signature`` matches, compared in constant time.

    Bytes are compared because ``hmac.compare_digest`` rejects non-ASCII ``str``.
    """
    expected = sign(user_id, password, bill_no, payment_status_code).encode("ascii")
    return hmac.compare_digest(expected, signature.encode("utf-8", "replace"))
