"""ISO 4217 minor units: the number of decimals an amount in each currency is stored with.

Not Babel's display precision (CLDR data that changes between releases: Babel 2.19
shows IDR without decimals, ISO 4217 gives it two) nor ``formatting``'s table of what
people write; those decide what a message shows, this decides what is stored and sent.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Final

# The currencies of ISO 4217 list one whose exponent is not 2 (checked against the
# January 2026 list); the codes without a minor unit (XAU, XDR, …) and unknown ones get 2.
MINOR_UNITS: Final[dict[str, int]] = {
    **dict.fromkeys(
        (
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}
DEFAULT_MINOR_UNITS: Final = 2


def minor_units(currency: str) -> int:
    """The ISO 4217 exponent of ``currency`` (any case): IDR 2, JPY 0, KWD 3; 2 for a code it does not list."""
    return MINOR_UNITS.get(currency.upper(), DEFAULT_MINOR_UNITS)


def in_currency_decimals(amount: Decimal | None, currency: str | None) -> Decimal | None:
    """``amount`` written with its currency's decimals: ``150000`` IDR is ``150000.00``, ``1500.00`` JPY ``1500``.

    Only zeros are added or dropped, so every platform's amounts look alike. An amount more
    precise than its currency (``0.005`` IDR: a fee, a rate) keeps its digits: rounding money
    away is never the gateway's call. Without a currency there are no decimals to follow.
    """
    if amount is None or currency is None or not amount.is_finite():
        return amount
    try:
        fitted = amount.quantize(Decimal(1).scaleb(-minor_units(currency)))
    except InvalidOperation:  # more digits than a Decimal context holds: leave it as it came
        return amount
    return fitted if fitted == amount else amount
