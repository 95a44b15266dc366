"""pipeline.normalize: what every event goes through before it is stored."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from notigate.events import Event
from notigate.ingest.pipeline import normalize


def _event(**fields: object) -> Event:
    base: dict[str, object] = {
        "platform": "arindo",
        "key": "k",
        "code": "timeout",
        "message": "m",
        "platform_code": "failure/504",
        "occurred_at": datetime(2024, 8, 1, tzinfo=UTC),
    }
    return Event(**{**base, **fields})  # type: ignore[arg-type]


def test_ids_times_and_default_severity() -> None:
    """A stored event gets an ntf_ id, an aware acceptance time and the taxonomy's severity."""
    n = normalize(_event())
    assert n.id.startswith("ntf_") and n.received_at.tzinfo is not None and n.severity == "error"


def test_over_long_identifiers_are_clipped_to_their_columns() -> None:
    """References, merchant ids and platform codes longer than their columns are clipped, not refused."""
    n = normalize(_event(platform_code="x" * 500, reference="r" * 500, merchant_id="m" * 500))
    assert (len(n.platform_code), len(n.reference or ""), len(n.merchant_id or "")) == (128, 128, 128)


def test_metadata_is_masked_whatever_the_plugin_did() -> None:
    """The engine masks metadata itself: a plugin that forgets cannot leak a card number or an email."""
    n = normalize(_event(metadata={"note": "card 4811 1111 1111 1114", "customer": {"email": "budi@example.co.id"}}))
    assert "4811 1111 1111 1114" not in repr(n.metadata) and "budi@" not in repr(n.metadata)


@pytest.mark.parametrize(
    ("amount", "currency", "stored"),
    [
        ("150000", "IDR", "150000.00"),  # ISO 4217 gives rupiah two decimals, whatever Babel displays
        ("150000.5", "IDR", "150000.50"),
        ("150000.000", "IDR", "150000.00"),
        ("1500.00", "JPY", "1500"),
        ("1.5", "KWD", "1.500"),
        ("1", "CLF", "1.0000"),
        ("7", "ZZZ", "7.00"),  # a code ISO 4217 does not list: two decimals
        ("7", "XAU", "7.00"),  # no minor unit in ISO 4217: two decimals as well
        ("-3", "IDR", "-3.00"),
    ],
)
def test_amounts_get_their_currency_decimals(amount: str, currency: str, stored: str) -> None:
    """Amounts are written with their currency's ISO 4217 minor units, zeros added or dropped."""
    assert str(normalize(_event(amount=Decimal(amount), currency=currency)).amount) == stored


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        ("150000.005", "IDR"),
        ("1500.5", "JPY"),
        ("0.0001", "KWD"),
        ("150000", None),
        ("1E+40", "IDR"),
    ],
)
def test_amounts_are_never_rounded(amount: str, currency: str | None) -> None:
    """An amount more precise than its currency (or without one, or beyond a Decimal context) keeps its digits."""
    assert str(normalize(_event(amount=Decimal(amount), currency=currency)).amount) == amount
