"""The database connection: Piccolo on PostgreSQL (pooled) or SQLite (the embedded default).

One ``Database`` per process binds Notigate's tables to its engine. Every write goes
through ``write()``: a transaction, and on SQLite an in-process lock plus an
``IMMEDIATE`` transaction so concurrent writers queue instead of failing with
"database is locked".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType
from piccolo.querystring import QueryString

from notigate.config.urls import database_url_problem
from notigate.errors import ConfigError, UnavailableError
from notigate.storage.tables import TABLES

logging.getLogger("aiosqlite").setLevel(logging.INFO)
"""Its DEBUG lines carry every statement with its parameters: secrets and personal data never reach a log."""


async def _rollback_if_needed(connection: Any) -> None:
    """Pool release without asyncpg's default reset query (a round trip per checkout).

    Notigate sets no session state: no LISTEN, no session advisory locks (only
    transaction-scoped ones), no SET. Only an interrupted transaction needs undoing.
    """
    if connection.is_in_transaction():
        await connection.execute("ROLLBACK")


class _PostgresEngine(PostgresEngine):
    async def check_version(self) -> None:
        """Skipped: Piccolo would connect while the engine is built, only to warn (on stderr) about
        old servers or failed connections; ``Database.start`` reports a failure as one line."""


class Database:
    """Owns the Piccolo engine (and the asyncpg pool) for the process."""

    def __init__(self, url: str, *, pool_min_size: int = 2, pool_max_size: int = 20) -> None:
        if problem := database_url_problem(url):
            raise ConfigError([f"database.url: {problem}"])
        self.url = url
        self.is_sqlite = url.startswith("sqlite:///")
        if self.is_sqlite:
            self.path = Path(url.removeprefix("sqlite:///"))
            self.engine: PostgresEngine | SQLiteEngine = SQLiteEngine(path=str(self.path), timeout=30)
        else:
            self.engine = _PostgresEngine(config={"dsn": url})
        self._pool = (pool_min_size, pool_max_size)
        self._write_lock = asyncio.Lock()

    async def start(self) -> None:
        """Bind the tables and open the pool (PostgreSQL) or switch on WAL (SQLite).

        A database that cannot be reached or opened raises UnavailableError: one line naming
        ``database.url`` and why, without the URL's password.
        """
        for table in TABLES:
            table._meta.db = self.engine
        if isinstance(self.engine, PostgresEngine):
            min_size, max_size = self._pool
            try:
                await self.engine.start_connection_pool(
                    min_size=min(min_size, max_size), max_size=max_size, reset=_rollback_if_needed
                )
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                raise UnavailableError.connecting("database.url", self.url, exc) from None
        else:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                await self.engine.run_ddl("PRAGMA journal_mode=WAL")
            except OSError as exc:
                raise UnavailableError(
                    f"database.url: cannot create {exc.filename or self.path} ({exc.strerror})"
                ) from None
            except sqlite3.Error as exc:
                raise UnavailableError(f"database.url: cannot open {self.path} ({exc})") from None

    async def close(self) -> None:
        """Close the pool, waiting up to 10 s for connections still in use, then terminating them."""
        if isinstance(self.engine, PostgresEngine) and self.engine.pool is not None:
            pool = self.engine.pool
            try:
                await asyncio.wait_for(pool.close(), 10)
            except TimeoutError:
                pool.terminate()
            self.engine.pool = None

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[None]:
        """A write transaction; on SQLite, serialised within the process and IMMEDIATE."""
        if isinstance(self.engine, SQLiteEngine):
            async with self._write_lock, self.engine.transaction(transaction_type=TransactionType.immediate):
                yield
        else:
            async with self.engine.transaction():
                yield

    async def write_one(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """One writing statement, atomic on its own: no BEGIN/COMMIT round trips on PostgreSQL;
        on SQLite still serialised with the other writers."""
        if self.is_sqlite:
            async with self.write():
                return await self._run(sql, args)
        return await self._run(sql, args)

    async def execute(self, sql: str, *args: Any) -> None:
        """Run one statement (``{}`` placeholders); joins the current transaction if any."""
        await self._run(sql, args)

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Run a query and return its rows as dicts (``{}`` placeholders)."""
        return await self._run(sql, args)

    async def _run(self, sql: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
        return await self.engine.run_querystring(QueryString(sql, *args))  # type: ignore[no-any-return]

    async def fetchrow_pg(self, sql: str, *args: Any) -> Any:
        """One asyncpg round trip on a pooled connection (``$n`` placeholders; PostgreSQL only).

        For the ingest hot path, where Piccolo's query building cost more than the query.
        """
        assert isinstance(self.engine, PostgresEngine) and self.engine.pool is not None
        async with self.engine.pool.acquire() as connection:
            return await connection.fetchrow(sql, *args)

    async def fetch_pg(self, sql: str, *args: Any) -> list[Any]:
        """Like ``fetchrow_pg``, every row."""
        assert isinstance(self.engine, PostgresEngine) and self.engine.pool is not None
        async with self.engine.pool.acquire() as connection:
            return await connection.fetch(sql, *args)  # type: ignore[no-any-return]

    async def ping(self) -> None:
        """Raise if the database does not answer."""
        await self.fetch("SELECT 1 AS ok")
