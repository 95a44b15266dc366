"""What routing asks storage to keep for one route: a delivery, due now or later, perhaps in a digest."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from notigate.plugin.route import Route


class Grouping(msgspec.Struct, frozen=True, kw_only=True):
    """How a route joins a digest group: its key, its values, and the rule's windows (seconds)."""

    key: str
    values: dict[str, str]
    window: float
    repeat: float | None


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    """What to store for one route."""

    route: Route
    status: Literal["pending", "cancelled"] = "pending"
    due: datetime
    note: str | None = None
    digest: Grouping | None = None
