"""Piccolo tables: notifications, deliveries and their attempts.

The other tables (breakers, webhook endpoints, digests, silences, inhibitions) are read
and written with plain SQL by their modules; ``migrations.py`` holds every table's schema.

The schema avoids what SQLite through Piccolo cannot do (composite unique constraints,
PostgreSQL-only indexes): the (platform, platform key) pair is one unique column,
``dedupe_key``, and an attempt's primary key encodes (delivery, number). Money is a
decimal string, JSON is text, times are timezone-aware UTC.
"""

from __future__ import annotations

from piccolo.columns import Integer, Real, Text, Timestamptz, Varchar
from piccolo.table import Table


class NotificationRow(Table, tablename="notifications"):
    id = Varchar(length=32, primary_key=True)
    dedupe_key = Varchar(length=64, unique=True)
    platform = Varchar(length=64, index=True)
    code = Varchar(length=64, index=True)
    severity = Varchar(length=16)
    message = Text()
    platform_code = Varchar(length=128)
    amount = Varchar(length=40, null=True, default=None)
    currency = Varchar(length=3, null=True, default=None)
    reference = Varchar(length=128, null=True, default=None, index=True)
    merchant_id = Varchar(length=128, null=True, default=None)
    occurred_at = Timestamptz()
    received_at = Timestamptz(index=True)
    status = Varchar(length=24, index=True)
    metadata = Text()
    matched_rules = Text()
    request_fingerprint = Varchar(length=64, null=True, default=None)
    """SHA-256 of the error API request behind an ``Idempotency-Key``: a repeat must carry the same."""


class DeliveryRow(Table, tablename="deliveries"):
    id = Varchar(length=32, primary_key=True)
    notification_id = Varchar(length=32, index=True)
    channel = Varchar(length=64)
    recipient = Varchar(length=320)
    rule = Varchar(length=200)
    locale = Varchar(length=16)
    timezone = Varchar(length=64)
    status = Varchar(length=16, index=True)
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(null=True, default=None, index=True)
    lease_until = Timestamptz(null=True, default=None)
    last_error = Text(null=True, default=None)
    captured = Text(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    delivered_at = Timestamptz(null=True, default=None)
    budget_from = Integer(default=0)
    budget_since = Timestamptz(null=True, default=None)
    group_key = Varchar(length=64, null=True, default=None)
    note = Text(null=True, default=None)


class AttemptRow(Table, tablename="delivery_attempts"):
    id = Varchar(length=48, primary_key=True)
    delivery_id = Varchar(length=32, index=True)
    number = Integer()
    outcome = Varchar(length=16)
    status_code = Integer(null=True, default=None)
    error = Text(null=True, default=None)
    started_at = Timestamptz()
    finished_at = Timestamptz()
    duration_ms = Real()


TABLES: tuple[type[Table], ...] = (NotificationRow, DeliveryRow, AttemptRow)
