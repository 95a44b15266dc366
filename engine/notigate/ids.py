"""Time-ordered, prefixed identifiers (``ntf_…``, ``dlv_…``).

ULID layout: 48 bits of milliseconds then 80 random bits, Crockford base32, so ids
sort by creation time as plain strings in both SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id(prefix: str, *, now_ms: int | None = None) -> str:
    """A new id like ``ntf_01J9Z3…`` (26 base32 characters after the prefix)."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return f"{prefix}_{''.join(reversed(chars))}"
