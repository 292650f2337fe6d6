"""PostgreSQL server handle on asyncpg: pooled sessions per database, health checks, statement execution.

One `PostgresServer` exists per instance (the registry in `dbops.engines.registry` owns it). Work on the server as a
whole goes to the admin database; work inside one database (extensions, schemas, grants, default privileges,
initSQL) gets a pool of its own, because PostgreSQL sessions are bound to one database (engines.md 1.3). Pools open
connections on demand and close them after 60 s idle (behaviour.md 2). Every dial, pooled or not, is reported to the
`ConnectionObserver`, which the instance controller wires to `dbops_connection_attempts_total` and
`dbops_connection_latency_seconds`.

This module only executes: statements come from the pure builders in `dbops.engines.sql`.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Sequence
from typing import Any

import asyncpg

from dbops.engines.connection import (
    ConnectionFailure,
    ConnectionSettings,
    FailureCategory,
    ServerInfo,
    TLSMode,
)
from dbops.engines.observer import NO_OBSERVER, ConnectionObserver
from dbops.engines.tls import client_ssl_context

IDLE_SECONDS = 60.0
"""Cached connections are closed after this long unused (behaviour.md 2)."""

STATEMENT_SECONDS = 30.0
"""Default limit for one statement (behaviour.md 2); long operations pass their own."""

STATEMENT_CACHE_SIZE = 100
"""Prepared catalog queries kept per pooled session. Preparing once saves a round trip and the server's parse and plan
on every later run: one account-state query costs ~0.7 ms instead of ~2.7 ms here, most of it PostgreSQL CPU."""

_PREPARED_STATEMENTS_UNSUPPORTED = (
    asyncpg.exceptions.InvalidSQLStatementNameError,
    asyncpg.exceptions.DuplicatePreparedStatementError,
)
"""What a transaction-mode pooler without prepared-statement support (PgBouncer < 1.21, or without
`max_prepared_statements`) answers when a session's named statements land on another server connection."""


SERVER_GOING_AWAY = (
    asyncpg.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
)
"""SQLSTATEs 57P03, 57P01 and 57P02: the server is (going) down, which is an outage, not a server error."""


def classify_connect_error(error: BaseException, settings: ConnectionSettings) -> ConnectionFailure:
    """Turn a driver or network error into a categorised, redacted `ConnectionFailure`."""
    message = str(error) or error.__class__.__name__
    if settings.password:
        message = message.replace(settings.password, "***")
    category = FailureCategory.SERVER_ERROR
    if isinstance(error, asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError):
        category = FailureCategory.AUTHENTICATION_FAILED
    elif isinstance(error, ssl.SSLError | ssl.CertificateError) or "SSL" in message:
        category = FailureCategory.TLS_FAILED
    elif isinstance(error, TimeoutError):
        category, message = FailureCategory.TIMEOUT, f"no session within {settings.connect_timeout:g}s"
    elif isinstance(error, socket.gaierror | ConnectionRefusedError | OSError):
        category = FailureCategory.UNREACHABLE
    elif isinstance(error, SERVER_GOING_AWAY):
        # 57P03: shutting down, starting up or in recovery — the server is not taking sessions, like a refused port;
        # 57P01/57P02: a shutdown (fast or after a crash) terminating the session in the middle of the check.
        category = FailureCategory.UNREACHABLE
    return ConnectionFailure(category, message)


def _ssl_argument(settings: ConnectionSettings) -> ssl.SSLContext | str | bool:
    """asyncpg's `ssl` argument: libpq's fallback modes by name, the rest as a context (with the CA material)."""
    if settings.tls_mode is TLSMode.DISABLE:
        return False
    if settings.tls_mode in (TLSMode.ALLOW, TLSMode.PREFER):
        return settings.tls_mode.value
    context = client_ssl_context(settings.tls_mode, settings.tls)
    assert context is not None
    return context


class PostgresServer:
    """Sessions to one PostgreSQL server with one admin account; see the module docstring."""

    engine = "postgres"

    def __init__(self, settings: ConnectionSettings, observer: ConnectionObserver | None = None) -> None:
        self.settings = settings
        self._observer = observer or NO_OBSERVER
        self._ssl = _ssl_argument(settings)
        self._pools: dict[str, asyncpg.Pool] = {}
        self._lock = asyncio.Lock()
        self._closed = False
        self._statement_cache_size = STATEMENT_CACHE_SIZE

    def _server_settings(self) -> dict[str, str]:
        values = {"application_name": self.settings.application_name, "standard_conforming_strings": "on"}
        if self.settings.statement_timeout:
            values["statement_timeout"] = self.settings.statement_timeout
        return values

    async def session(self, database: str) -> asyncpg.Connection:
        """A new, unpooled session to `database` (initSQL: its session settings must not leak into the pool);
        the caller closes it."""
        return await self._dial(database)

    async def _dial(self, database: str, **pool_kwargs: Any) -> asyncpg.Connection:
        """Open one authenticated session, timing it and reporting the attempt; errors become ConnectionFailure."""
        pool_kwargs.pop("loop", None)
        started = time.monotonic()
        try:
            connection = await asyncpg.connect(
                host=self.settings.host,
                port=self.settings.port,
                user=self.settings.username,
                password=self.settings.password,
                database=database,
                ssl=self._ssl,
                timeout=self.settings.connect_timeout,
                server_settings=self._server_settings(),
                **{"statement_cache_size": 0, **pool_kwargs},
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, ssl.SSLError) as error:
            self._observer.connection_attempt(success=False, seconds=time.monotonic() - started)
            raise classify_connect_error(error, self.settings) from None
        self._observer.connection_attempt(success=True, seconds=time.monotonic() - started)
        return connection

    async def _pool(self, database: str | None) -> asyncpg.Pool:
        name = database or self.settings.database
        pool = self._pools.get(name)
        if pool is not None:
            return pool
        async with self._lock:
            if self._closed:
                raise ConnectionFailure(FailureCategory.UNREACHABLE, "the instance's connections were closed")
            pool = self._pools.get(name)
            if pool is None:

                async def connect(*_args: Any, **kwargs: Any) -> asyncpg.Connection:
                    return await self._dial(name, statement_cache_size=self._statement_cache_size, **kwargs)

                pool = await asyncpg.create_pool(
                    min_size=0,
                    max_size=self.settings.max_sessions if database is None else 2,
                    max_inactive_connection_lifetime=IDLE_SECONDS,
                    connect=connect,
                    reset=_reset_on_release,
                )
                self._pools[name] = pool
            return pool

    async def check(self) -> ServerInfo:
        """One health check: a fresh session (not a pooled one, so it proves the server still accepts logins),
        a ping, and the version query of engines.md 1.4."""
        connection = await self._dial(self.settings.database)
        try:
            version = await connection.fetchval("SHOW server_version", timeout=STATEMENT_SECONDS)
            banner = await connection.fetchval("SELECT version()", timeout=STATEMENT_SECONDS)
        finally:
            await connection.close()
        flavour = "cockroachdb" if "CockroachDB" in str(banner) else "postgres"
        return ServerInfo(version=str(version), flavour=flavour)

    async def execute(self, statement: str, *, database: str | None = None, seconds: float = STATEMENT_SECONDS) -> None:
        """Run one statement built by `dbops.engines.sql` (never several joined by semicolons)."""
        pool = await self._pool(database)
        async with pool.acquire() as connection:
            await connection.execute(statement, timeout=seconds)

    async def execute_all(
        self,
        statements: Sequence[str],
        *,
        database: str | None = None,
        seconds: float = STATEMENT_SECONDS,
        atomic: bool = False,
    ) -> None:
        """Run statements one at a time on one session, in order. `atomic` runs them in one transaction, so a failure
        leaves nothing behind; the default runs each on its own (CREATE DATABASE and friends refuse transactions)."""
        pool = await self._pool(database)
        async with pool.acquire() as connection:
            if atomic and len(statements) > 1:  # one statement is atomic already: no BEGIN/COMMIT round trips
                async with connection.transaction():
                    for statement in statements:
                        await connection.execute(statement, timeout=seconds)
                return
            for statement in statements:
                await connection.execute(statement, timeout=seconds)

    async def fetch(self, query: str, *args: Any, database: str | None = None) -> list[asyncpg.Record]:
        """Run a catalog query with bind parameters; returns its rows."""
        rows: list[asyncpg.Record] = await self._prepared_query("fetch", query, args, database)
        return rows

    async def fetchval(self, query: str, *args: Any, database: str | None = None) -> Any:
        return await self._prepared_query("fetchval", query, args, database)

    async def _prepared_query(self, method: str, query: str, args: tuple[Any, ...], database: str | None) -> Any:
        """Run a parameterised query on a pooled session (prepared and cached there). Behind a pooler that cannot
        keep prepared statements, switch this server to unprepared sessions for good and run it once more."""
        try:
            return await self._query(method, query, args, database)
        except _PREPARED_STATEMENTS_UNSUPPORTED:
            if self._statement_cache_size == 0:
                raise
        await self._without_prepared_statements()
        return await self._query(method, query, args, database)

    async def _query(self, method: str, query: str, args: tuple[Any, ...], database: str | None) -> Any:
        pool = await self._pool(database)
        async with pool.acquire() as connection:
            return await getattr(connection, method)(query, *args, timeout=STATEMENT_SECONDS)

    async def _without_prepared_statements(self) -> None:
        async with self._lock:
            self._statement_cache_size = 0
            pools, self._pools = list(self._pools.values()), {}
        await asyncio.gather(*(pool.close() for pool in pools), return_exceptions=True)

    async def close_database(self, database: str) -> None:
        """Close the pool of one database, before dropping it (our own idle sessions would block the drop)."""
        pool = self._pools.pop(database, None)
        if pool is not None:
            await pool.close()

    async def close(self) -> None:
        """Close every pooled session (instance deleted, or its endpoint, TLS or credentials changed)."""
        async with self._lock:
            self._closed = True
            pools, self._pools = list(self._pools.values()), {}
        await asyncio.gather(*(pool.close() for pool in pools), return_exceptions=True)


async def _reset_on_release(connection: asyncpg.Connection) -> None:
    """What a pooled session needs before reuse: nothing, unless a statement was interrupted inside a transaction.

    asyncpg's default reset sends `RESET ALL; CLOSE ALL; UNLISTEN *; pg_advisory_unlock_all()` on every release —
    one extra round trip per catalog read, about half of a converged reconcile's traffic. Pooled sessions here only
    run catalog reads and single DDL statements in autocommit; anything that changes session state (initSQL's
    SET ROLE and whatever its SQL sets) runs on a private session that is closed afterwards (`session`).
    """
    if connection.is_in_transaction():
        await connection.execute("ROLLBACK")
