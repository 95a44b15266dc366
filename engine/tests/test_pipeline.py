"""pipeline.normalize: what every event goes through before it is stored."""

from __future__ import annotations

from datetime import UTC, datetime

from notigate.events import Event
from notigate.pipeline import normalize


def _event(**fields: object) -> Event:
    base: dict[str, object] = {"platform": "arindo", "key": "k", "code": "timeout", "message": "m",
                               "platform_code": "failure/504", "occurred_at": datetime(2024, 8, 1, tzinfo=UTC)}
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
