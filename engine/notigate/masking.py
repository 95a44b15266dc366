"""Masking of card numbers and personal data before anything is stored or logged.

The engine applies ``mask_metadata`` to every event's metadata, whatever the plugin
already did, so a plugin that forgets a field still cannot leak a card number.
"""

from __future__ import annotations

import re
from typing import Any

_PAN = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_SECRET_KEYS = ("password", "secret", "token", "signature", "server_key", "cvv", "cvc", "pin")
_EMAIL_KEYS = ("email", "mail")
_PHONE_KEYS = ("phone", "mobile", "msisdn", "telephone")
_NAME_KEYS = ("name",)
_CARD_KEYS = ("card", "pan")


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


def _mask_free_text(value: str) -> str:
    def card(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        return mask_card(digits) if _luhn_ok(digits) else match.group(0)

    value = _PAN.sub(card, value)
    return _EMAIL.sub(lambda m: mask_email(m.group(0)), value)


def _mask_value(key: str, value: str) -> str:
    k = key.lower()
    if any(s in k for s in _SECRET_KEYS):
        return "[redacted]"
    if any(s in k for s in _EMAIL_KEYS):
        return mask_email(value)
    if any(s in k for s in _PHONE_KEYS):
        return mask_phone(value)
    if any(s in k for s in _CARD_KEYS):
        return mask_card(value)
    if any(s in k for s in _NAME_KEYS) and "merchant" not in k and "bank" not in k:
        return mask_name(value)
    return _mask_free_text(value)


def mask_metadata(data: Any, key: str = "") -> Any:
    """Return a copy of ``data`` with personal data and card numbers masked.

    Keys decide first (``email``, ``phone``, ``*name``, ``*card*``, secrets); any other
    string is still scanned for Luhn-valid card numbers and email addresses.
    """
    if isinstance(data, dict):
        return {k: mask_metadata(v, str(k)) for k, v in data.items()}
    if isinstance(data, list):
        return [mask_metadata(v, key) for v in data]
    if isinstance(data, str):
        return _mask_value(key, data)
    return data
