"""Keeping a text within one SMS segment: GSM-7 (160 septets) where it can, else UCS-2 (70).

A provider splits a longer body into several billed segments that may arrive out of
order, so the channel cuts the text itself. GSM-7 is the GSM 03.38 basic character set;
characters of its extension table take an escape septet, so they count twice. Any other
character forces UCS-2 for the whole message, where a character outside the Basic
Multilingual Plane (most emoji) takes two UTF-16 code units.
"""

from __future__ import annotations

from typing import Literal

import msgspec

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
LIMITS = {"GSM-7": 160, "UCS-2": 70}

# Typographic look-alikes (the engine's texts use an em dash) that would otherwise force
# UCS-2 and cut the room in a segment from 160 to 70 characters.
_LOOKALIKES = str.maketrans(
    {
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2033": '"',
        "\u2026": "...",
        "\u2022": "*",
    }
)
_DANGLING = "\u200d\ufe0e\ufe0f"  # joiners and variation selectors left alone by a cut

Encoding = Literal["GSM-7", "UCS-2"]


class Fitted(msgspec.Struct, frozen=True, kw_only=True):
    """A text that fits one segment; ``units`` is what counts against the encoding's limit."""

    text: str
    encoding: Encoding
    units: int
    truncated: bool


def units(text: str, encoding: Encoding) -> int:
    """Septets (GSM-7) or UTF-16 code units (UCS-2) that ``text`` takes."""
    return sum(_unit(c, encoding) for c in text)


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def fit_one_segment(text: str) -> Fitted:
    """``text`` with its whitespace collapsed, cut with an ellipsis if it exceeds one segment.

    Look-alike punctuation is replaced only when that makes the whole text GSM-7; a text
    that needs UCS-2 anyway keeps its own characters.
    """
    text = " ".join(text.split())
    plain = text.translate(_LOOKALIKES)
    if is_gsm7(plain):
        return _cut(plain, "GSM-7", "...")
    return _cut(text, "UCS-2", "…")


def _unit(char: str, encoding: Encoding) -> int:
    if encoding == "GSM-7":
        return 2 if char in GSM7_EXTENSION else 1
    return 2 if ord(char) > 0xFFFF else 1


def _cut(text: str, encoding: Encoding, ellipsis: str) -> Fitted:
    limit = LIMITS[encoding]
    total = units(text, encoding)
    if total <= limit:
        return Fitted(text=text, encoding=encoding, units=total, truncated=False)
    room, used, end = limit - units(ellipsis, encoding), 0, 0
    while end < len(text) and used + _unit(text[end], encoding) <= room:
        used += _unit(text[end], encoding)
        end += 1
    kept = text[:end].rstrip().rstrip(_DANGLING).rstrip() + ellipsis
    return Fitted(text=kept, encoding=encoding, units=units(kept, encoding), truncated=True)
