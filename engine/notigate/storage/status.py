"""A notification's status, decided in one place: when it is stored, from what its routes became
(``initial_status``), and afterwards from its deliveries' statuses, as SQL that the SQLite recount
(``repository``) and the batched finish on PostgreSQL (``deliveries_pg``) both run.

Cancelled deliveries (muted, endpoint deleted) do not count, and only cancelled ones make it
``silenced``; ``no_route`` and ``grouped`` are kept as they were stored.
"""

from __future__ import annotations

from notigate.events import NotificationStatus
from notigate.storage.plans import Plan


def initial_status(plans: list[Plan]) -> NotificationStatus:
    """``delivering`` if anything goes out on its own, else ``grouped`` (folded into digests),
    ``silenced`` (every route muted) or ``no_route``."""
    if any(p.digest is None and p.status == "pending" for p in plans):
        return "delivering"
    if any(p.digest is not None and p.status == "pending" for p in plans):
        return "grouped"
    return "silenced" if plans else "no_route"


def notification_status_from(rows: str) -> str:
    """The status rule over ``rows``: a table name or a parenthesised subquery with an alias."""
    return (
        f"CASE WHEN EXISTS (SELECT 1 FROM {rows} WHERE status IN ('pending', 'sending', 'retrying')) THEN 'delivering' "
        f"WHEN NOT EXISTS (SELECT 1 FROM {rows} WHERE status <> 'cancelled') THEN 'silenced' "
        f"WHEN NOT EXISTS (SELECT 1 FROM {rows} WHERE status NOT IN ('delivered', 'cancelled')) THEN 'delivered' "
        f"WHEN NOT EXISTS (SELECT 1 FROM {rows} WHERE status = 'delivered') THEN 'failed' "
        "ELSE 'partially_delivered' END"
    )


NOTIFICATION_STATUS_FROM_S = notification_status_from("s")
STATUSES_KEPT = "('no_route', 'grouped')"
