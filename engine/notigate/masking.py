"""Masking of card numbers and personal data before anything is stored or logged.

The engine applies ``mask_metadata`` to every event's metadata, whatever the plugin
already did, so a plugin that forgets a field still cannot leak a card number.
"""

from __future__ import annotations

import functools
import itertools
import re
from typing import Any

_PAN = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE = re.compile(r"(?<![\w+])\+\d[\d -]{7,16}\d(?!\d)")
_SECRET_WORDS = frozenset({"password", "passwd", "secret", "token", "signature", "cvv", "cvv2", "cvc", "pin", "otp"})
_SECRET_PAIRS = frozenset({("server", "key"), ("api", "key"), ("private", "key"), ("auth", "key")})
_EMAIL_WORDS = frozenset({"email", "mail"})
_PHONE_WORDS = frozenset({"phone", "mobile", "msisdn", "telephone", "tel"})
_CARD_WORDS = frozenset({"card", "pan"})
_NOT_PERSONAL_NAME = frozenset({"merchant", "bank", "product", "item", "file", "host", "event", "channel"})
_REDACTED = "[redacted]"


@functools.lru_cache(maxsize=4096)
def _words(key: str) -> tuple[str, ...]:
    """``cardHolder_names`` → ``["card", "holder", "name"]``: keys match by whole (singular) words."""
    words = [w.lower() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", key)]
    return tuple(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def mask_card(value: str) -> str:
    """Keep at most the first six and last four digits: ``481111******1114``."""
    digits = re.sub(r"\D", "", value)
    if len(digits) <= 10:
        return value if "*" in value or "-" in value else "*" * len(value)
    return f"{digits[:6]}{'*' * (len(digits) - 10)}{digits[-4:]}"


def mask_email(value: str) -> str:
    """``budi@example.co.id`` → ``b***@example.co.id``."""
    local, sep, domain = value.partition("@")
    if not sep:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_phone(value: str) -> str:
    """``+6281234567890`` → ``+62*******7890``: country prefix and last four kept."""
    if len(value) <= 6:
        return "*" * len(value)
    return f"{value[:3]}{'*' * (len(value) - 7)}{value[-4:]}"


def mask_name(value: str) -> str:
    """``Budi`` → ``B***``."""
    return f"{value[:1]}***" if value else value


def mask_text(value: str) -> str:
    """Mask card numbers (Luhn-valid), email addresses and international phone numbers in free text."""
    return _mask_free_text(value)


def _mask_free_text(value: str) -> str:
    if "+" in value:
        value = _PHONE.sub(lambda m: mask_phone(re.sub(r"[ -]", "", m.group(0))), value)
    if len(value) >= 13 and sum(map(str.isdigit, value)) >= 13:

        def card(match: re.Match[str]) -> str:
            digits = re.sub(r"\D", "", match.group(0))
            return mask_card(digits) if _luhn_ok(digits) else match.group(0)

        value = _PAN.sub(card, value)
    if "@" in value:
        value = _EMAIL.sub(lambda m: mask_email(m.group(0)), value)
    return value


@functools.lru_cache(maxsize=4096)
def _kind(key: str) -> str | None:
    """What a key says its value is: secret, email, phone, card, name, or None (free text)."""
    words = _words(key)
    if any(w in _SECRET_WORDS for w in words) or any(p in _SECRET_PAIRS for p in itertools.pairwise(words)):
        return "secret"
    for kind, vocabulary in (("email", _EMAIL_WORDS), ("phone", _PHONE_WORDS), ("card", _CARD_WORDS)):
        if vocabulary.intersection(words):
            return kind
    if "name" in words and not _NOT_PERSONAL_NAME.intersection(words):
        return "name"
    return None


def is_secret_key(key: str) -> bool:
    """Whether a field named ``key`` holds a credential (``password``, ``auth_token``, ``server_key``…)."""
    return _kind(key) == "secret"


def _mask_value(kind: str | None, value: str) -> str:
    if kind is None:
        return _mask_free_text(value)
    if kind == "secret":
        return _REDACTED
    if kind == "email":
        return mask_email(value)
    if kind == "phone":
        return mask_phone(value)
    if kind == "card":
        return mask_card(value) if sum(map(str.isdigit, value)) >= 12 else value
    return mask_name(value)


def mask_metadata(data: Any, key: str = "") -> Any:
    """Return a copy of ``data`` with personal data and card numbers masked.

    Keys decide first, word by word (``email``, ``phone``, ``*_name``, ``card*``,
    secrets: everything under a secret key is redacted, even an object); any other
    string or integer is still scanned for Luhn-valid card numbers and email addresses.
    """
    return _mask(data, _kind(key) if key else None, 0)


MAX_DEPTH = 32
"""Deeper structures are replaced whole: no payment platform nests that far, and recursion must stay bounded."""


def _mask(data: Any, kind: str | None, depth: int) -> Any:
    if kind == "secret" and data is not None:
        return _REDACTED
    if isinstance(data, str):
        return _mask_value(kind, data)
    if isinstance(data, dict | list) and depth >= MAX_DEPTH:
        return "[removed: nested too deep]"
    if isinstance(data, dict):
        return {k: _mask(v, _kind(str(k)), depth + 1) for k, v in data.items()}
    if isinstance(data, list):
        return [_mask(v, kind, depth + 1) for v in data]
    if isinstance(data, int) and not isinstance(data, bool):
        text = str(data)
        masked = _mask_value(kind, text)
        return data if masked == text else masked
    return data
