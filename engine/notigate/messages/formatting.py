"""CLDR formatting of money and times for one locale and time zone, independent of the Babel release.

Babel's own currency precision comes from CLDR data that changes between releases
(Babel 2.18 printed ``Rp1.500.000,00``, 2.19 ``Rp1.500.000``), so the number of
decimals shown is decided here: a fixed table of display digits, extended when the
amount itself carries more (an amount is never rounded away). Amounts stay Decimal.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import (
    format_date,
    format_datetime,
    format_skeleton,
    format_time,
    format_timedelta,
)

from notigate.clock import utcnow

# Decimals shown for a currency; anything not listed shows 2. Not ISO 4217's minor
# unit: IDR has two minor units on paper, but nobody writes rupiah cents.
_DISPLAY_DIGITS: Final[dict[str, int]] = {
    **dict.fromkeys(("IDR", "JPY", "KRW", "VND", "CLP", "ISK", "PYG", "UGX", "XAF", "XOF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}

# Indonesia's zones go by their official abbreviations in every language; CLDR has
# them for ``id`` only (``en`` would print ``+0700``).
_ZONE_ABBREVIATIONS: Final[dict[str, str]] = {
    "Asia/Jakarta": "WIB",
    "Asia/Pontianak": "WIB",
    "Asia/Makassar": "WITA",
    "Asia/Jayapura": "WIT",
}
_NAMED = ("short", "medium", "long", "full")
_COMPACT = ("MMMd", "Hm")  # CLDR skeletons: "Aug 1 10:15" / "1 Agu 10.15", short, 24-hour, ASCII

DEFAULT_TIMEZONE = "Asia/Jakarta"


def locale_problem(tag: str) -> str | None:
    """None if Babel knows the locale ``tag`` (``en``, ``id``, ``en_US``, ``pt-BR``), else why not."""
    try:
        parse_locale(tag)
    except (ValueError, TypeError, UnknownLocaleError):
        return f"unknown locale {tag!r} (expected a tag such as 'en', 'id' or 'en_US')"
    return None


def timezone_problem(name: str) -> str | None:
    """None if ``name`` is an IANA time zone (``Asia/Jakarta``), else why not."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return f"unknown time zone {name!r} (expected an IANA name such as 'Asia/Jakarta')"
    return None


@lru_cache(maxsize=64)
def parse_locale(tag: str) -> Locale:
    """The Babel locale for ``tag``; ``-`` and ``_`` both separate the parts."""
    return Locale.parse(tag.replace("-", "_"))


@dataclass(frozen=True, slots=True)
class Formatter:
    """Formats for one recipient: the locale and time zone of the render in progress."""

    locale: Locale
    zone: ZoneInfo
    now: dt.datetime | None = None
    """What ``timeago`` counts from: one moment per render, so its parts agree; None: the clock at each call."""

    @classmethod
    def for_recipient(cls, locale: str, timezone: str, now: dt.datetime | None = None) -> Formatter:
        return cls(parse_locale(locale), ZoneInfo(timezone), now)

    def money(self, amount: Decimal | int | str | None, currency: str | None = None) -> str:
        """``amount`` in ``currency`` as the locale writes it: ``Rp150.000`` (id), ``IDR150,000`` (en)."""
        if amount is None or amount == "":
            return ""
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
        if not value.is_finite():
            return str(value)
        code = currency.upper() if currency else None
        digits = _DISPLAY_DIGITS.get(code, 2) if code else 0
        exponent = value.normalize().as_tuple().exponent
        carried = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        pattern = copy.copy(self.locale.currency_formats["standard"] if code else self.locale.decimal_formats[None])
        pattern.frac_prec = (digits, max(digits, carried))
        text: str = pattern.apply(value, self.locale, currency=code, currency_digits=False)
        return text

    def datetime(self, value: dt.datetime | None, format: str = "medium") -> str:
        """``value`` in the recipient's zone: a CLDR name, ``short_tz``/``medium_tz``/``compact``, or a pattern."""
        if value is None:
            return ""
        local = self._local(value)
        base, zone = _split_zone(format)
        if base == "compact":
            text = " ".join(format_skeleton(part, local, locale=self.locale) for part in _COMPACT)
        else:
            text = format_datetime(local, base, tzinfo=self.zone, locale=self.locale)
        return f"{text} {self.zone_label(local)}" if zone else text

    def date(self, value: dt.datetime | dt.date | None, format: str = "medium") -> str:
        """The calendar date of ``value`` in the recipient's zone."""
        if value is None:
            return ""
        day = self._local(value).date() if isinstance(value, dt.datetime) else value
        return format_date(day, format, locale=self.locale)

    def time(self, value: dt.datetime | None, format: str = "short") -> str:
        """The wall-clock time of ``value`` in the recipient's zone (``short_tz`` adds the zone)."""
        if value is None:
            return ""
        local = self._local(value)
        base, zone = _split_zone(format)
        text = format_time(local, base, tzinfo=self.zone, locale=self.locale)
        return f"{text} {self.zone_label(local)}" if zone else text

    def timeago(self, value: dt.datetime | None, now: dt.datetime | None = None) -> str:
        """How long ago (or until) ``value`` is: ``5 minutes ago``, ``5 menit yang lalu``."""
        if value is None:
            return ""
        now = now or self.now or utcnow()
        return format_timedelta(_aware(value) - now, add_direction=True, locale=self.locale)

    def zone_label(self, value: dt.datetime) -> str:
        """The zone's short name at ``value``: WIB/WITA/WIT in Indonesia, CLDR's elsewhere."""
        key = getattr(self.zone, "key", "")
        return _ZONE_ABBREVIATIONS.get(key) or format_datetime(value, "z", tzinfo=self.zone, locale=self.locale)

    def _local(self, value: dt.datetime) -> dt.datetime:
        return _aware(value).astimezone(self.zone)


def _aware(value: dt.datetime) -> dt.datetime:
    """Naive times are UTC, as everywhere inside Notigate."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _split_zone(format: str) -> tuple[str, bool]:
    """``short_tz`` -> (``short``, True); a name without ``_tz`` or a pattern -> (format, False)."""
    if format.endswith("_tz") and format[:-3] in (*_NAMED, "compact"):
        return format[:-3], True
    return format, False
