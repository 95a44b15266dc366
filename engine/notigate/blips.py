"""Short blips, retried where they happen with stamina; anything longer is the durable schedule's.

A pooled database connection the server dropped (PostgreSQL restarting, or closing idle
connections), a database refusing connections for a moment, a Redis connection reset:
the step that meets one tries again a few times within a small budget, so a restart
during load costs some latency instead of a 503 or a spent delivery attempt. What still
fails once the budget is spent surfaces as before: the platform is asked to retry (503),
or the delivery waits on its durable schedule. One layer per failure kind: nothing here
retries a send (that is the schedule's), nor an error that says the request was wrong.

Retries are counted in ``stamina_retries_total`` (Prometheus) and logged with the step's
name and the error's type only, never the arguments (which may carry personal data).
"""

from __future__ import annotations

import logging

import asyncpg
import stamina
from redis import exceptions as redis_errors
from stamina.instrumentation import (
    PrometheusOnRetryHook,
    RetryDetails,
    set_on_retry_hooks,
)

log = logging.getLogger(__name__)

DATABASE_BUDGET = 3.0
"""Seconds a step keeps retrying the database: a callback is still answered within ARINDO's 5 s."""
REDIS_BUDGET = 2.0

_LOST = (
    "connection is closed",
    "another operation is in progress",
    "connection was closed",
    "cannot switch to state",
    "not connected",
)


def database_blip(exc: BaseException) -> bool:
    """A connection that broke or could not be had, not a statement that failed."""
    if isinstance(
        exc,
        asyncpg.PostgresConnectionError
        | asyncpg.CannotConnectNowError
        | asyncpg.AdminShutdownError
        | asyncpg.TooManyConnectionsError
        | ConnectionError,
    ):
        return True
    if isinstance(exc, asyncpg.InterfaceError | asyncpg.InternalClientError) and not isinstance(exc, asyncpg.DataError):
        return any(part in str(exc) for part in _LOST)
    return False


def redis_blip(exc: BaseException) -> bool:
    return isinstance(exc, redis_errors.ConnectionError | redis_errors.TimeoutError | redis_errors.BusyLoadingError)


def _caller(budget: float) -> stamina.AsyncRetryingCaller:
    return stamina.AsyncRetryingCaller(attempts=8, timeout=budget, wait_initial=0.05, wait_max=0.5, wait_jitter=0.05)


DATABASE = _caller(DATABASE_BUDGET).on(database_blip)
"""``await DATABASE(step, *args)``: ``step`` again after a connection blip (it must be safe to repeat)."""
REDIS = _caller(REDIS_BUDGET).on(redis_blip)


def _log_retry(details: RetryDetails) -> None:
    log.warning("retry %d in %.2fs after %s", details.retry_num, details.wait_for, type(details.caused_by).__name__)


set_on_retry_hooks([PrometheusOnRetryHook, _log_retry])
