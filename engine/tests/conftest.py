"""Fixtures shared by the engine's unit tests: a clean configuration environment,
SQLite URLs under ``tmp_path``, and builders for events and notifications."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from notigate.events import TAXONOMY, Event, Notification
from notigate.ids import new_id

_CONFIG_VARS = ("NOTIGATE_CONFIG", "NOTIGATE_DATABASE_URL", "NOTIGATE_QUEUE_URL", "NOTIGATE_API_KEY")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No NOTIGATE_* variables and a working directory without ``notigate.toml``."""
    for var in _CONFIG_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'notigate.db'}"


_counter = itertools.count()


@pytest.fixture
def make_event() -> Callable[..., Event]:
    """An ``Event`` with a unique key unless one is given."""

    def build(**fields: Any) -> Event:
        n = next(_counter)
        values: dict[str, Any] = {
            "platform": "arindo",
            "key": f"tx-{n}:deny",
            "code": "card_declined",
            "message": "Card declined",
            "platform_code": "202",
            "occurred_at": datetime(2024, 8, 1, 3, 15, 30, tzinfo=UTC),
            "amount": Decimal("150000.00"),
            "currency": "IDR",
            "reference": f"ORD-{n}",
            "merchant_id": "M-ARD-000123",
            "metadata": {"payment_type": "credit_card"},
        }
        values.update(fields)
        return Event(**values)

    return build


@pytest.fixture
def make_notification() -> Callable[..., Notification]:
    """A ``Notification`` as rules see it; severity defaults from the taxonomy."""

    def build(**fields: Any) -> Notification:
        code = fields.get("code", "card_declined")
        values: dict[str, Any] = {
            "id": new_id("ntf"),
            "platform": "arindo",
            "code": code,
            "severity": TAXONOMY.get(code, "error"),
            "message": "m",
            "platform_code": "202",
            "occurred_at": datetime(2024, 8, 1, tzinfo=UTC),
            "received_at": datetime(2024, 8, 1, tzinfo=UTC),
            "amount": Decimal("150000.00"),
            "currency": "IDR",
            "merchant_id": "M-1",
        }
        values.update(fields)
        return Notification(**values)

    return build
