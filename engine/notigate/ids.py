"""Time-ordered, prefixed identifiers (``ntf_…``, ``dlv_…``).

ULID layout: 48 bits of milliseconds then 80 random bits, Crockford base32 (26
characters), so ids sort by creation time as plain strings in SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import os
import time

_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def new_id(prefix: str, *, now_ms: int | None = None) -> str:
    """A new id like ``ntf_01J9Z3…`` (26 base32 characters after the prefix)."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    # 4 zero bytes + 16 id bytes = 160 bits = exactly 32 base32 characters, right-aligned;
    # the first 6 characters are the zero padding.
    raw = base64.b32encode(b"\0\0\0\0" + ms.to_bytes(6, "big") + os.urandom(10))[6:]
    return f"{prefix}_{raw.translate(_CROCKFORD).decode()}"
