"""MySQL and MariaDB server handle on aiomysql: pooled sessions, health checks, statement execution.

One `MySQLServer` exists per instance (behind the `MySQLAdapter` the registry owns). MySQL sessions are not bound to a
database the way PostgreSQL's are, so nearly all work goes through one pool of admin-database sessions; a session
on a specific database (verification, initSQL) is a dedicated connection opened for that purpose. Pooled
connections open on demand and are closed after 60 s idle (behaviour.md 2). Every dial, pooled or not, is reported
to the `ConnectionObserver` for `dbops_connection_attempts_total` and `dbops_connection_latency_seconds`.

Every session is set up as engines.md 1.3 asks, before it is used:

* TLS per the instance's effective mode. aiomysql silently continues in plaintext when the server offers no TLS,
  so for `require`/`verify-ca`/`verify-full` the session is checked to be encrypted and refused otherwise;
  `prefer` (MySQL `preferred`) and `allow` accept the plaintext fallback.
* Multi-statement execution off: aiomysql always asks for it, so the flag is cleared before the handshake.
* Character set and collation of the connection (`SET NAMES`), autocommit on.
* `NO_BACKSLASH_ESCAPES` removed from the session SQL mode, which the literal quoting of every builder relies on.
* Statement time limits are enforced on the client (aiomysql has no read/write timeouts); a session whose statement
  timed out is closed, never returned to the pool.

This module only executes: statements come from the pure builders in `dbops.engines.mysql.sql*`. Server errors
become `MySQLServerError` (an `EngineError`) with the server's error code and a redacted message.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiomysql

from dbops.engines.base import EngineError
from dbops.engines.connection import ConnectionFailure, ConnectionSettings, FailureCategory, ServerInfo, TLSMode
from dbops.engines.mysql.catalog import AUTH_PLUGINS, PARTIAL_REVOKES, SERVER_VERSION
from dbops.engines.mysql.sql import STRIP_NO_BACKSLASH_ESCAPES, Flavour, MySQLDialect, detect_dialect, set_names
from dbops.engines.observer import NO_OBSERVER, ConnectionObserver
from dbops.engines.sql.redact import redact
from dbops.engines.tls import client_ssl_context

IDLE_SECONDS = 60.0
"""Pooled connections are closed after this long unused (behaviour.md 2)."""

STATEMENT_SECONDS = 30.0
"""Default limit for one statement (behaviour.md 2); long operations pass their own."""

POOL_SIZE = 4
"""Sessions per instance; the registry's operation slots (default 4) bound the concurrency anyway."""

CLIENT_MULTI_STATEMENTS = 1 << 16
"""The handshake capability flag that lets one COM_QUERY carry several statements (MySQL protocol constant)."""

#: Client-library error codes (CR_*) that mean the session is gone rather than that the statement failed.
SESSION_LOST = frozenset({2006, 2013, 2055})
_AUTH_CODES = frozenset({1044, 1045, 1251, 1698, 2059, 4151})
_TLS_REQUIRED = frozenset({TLSMode.REQUIRE, TLSMode.VERIFY_CA, TLSMode.VERIFY_FULL})


class MySQLServerError(EngineError):
    """A statement failed on the server. `code` is the MySQL error number (1142 access denied, 1141 no such grant,
    …) or 0 when there is none (a client-side timeout); the message is redacted."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.code = code
        self.detail = message


class _QuietCursor(aiomysql.Cursor):  # type: ignore[misc]
    """aiomysql turns every server note (DROP … IF EXISTS of a missing object, CREATE … IF NOT EXISTS of an existing
    one) into an extra SHOW WARNINGS round trip and a Python warning; the operator's statements expect those notes."""

    async def _show_warnings(self, conn: Any) -> None:
        return None


class _QuietDictCursor(aiomysql.DictCursor):  # type: ignore[misc]
    async def _show_warnings(self, conn: Any) -> None:
        return None


@dataclass(frozen=True)
class SessionOptions:
    """Session settings of engines.md 1.3 that `ConnectionSettings` does not carry (the instance's `mysql` block).

    Defaults are the values used "without the block": utf8mb4, the server's default collation for it, 30 s per
    statement.
    """

    charset: str = "utf8mb4"
    collation: str | None = None
    statement_seconds: float = STATEMENT_SECONDS


def _cause_chain(error: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def classify_connect_error(error: BaseException, settings: ConnectionSettings) -> ConnectionFailure:
    """Turn a driver or network error into a categorised, redacted `ConnectionFailure`."""
    if isinstance(error, ConnectionFailure):
        return error
    chain = list(_cause_chain(error))
    code = error.args[0] if error.args and isinstance(error.args[0], int) else 0
    message = str(error.args[1]) if code and len(error.args) > 1 else (str(error) or error.__class__.__name__)
    message = redact(message, [settings.password] if settings.password else [])
    if code in _AUTH_CODES:
        return ConnectionFailure(FailureCategory.AUTHENTICATION_FAILED, message)
    if any(isinstance(e, ssl.SSLError | ssl.CertificateError) for e in chain):
        tls = next(e for e in chain if isinstance(e, ssl.SSLError | ssl.CertificateError))
        return ConnectionFailure(FailureCategory.TLS_FAILED, redact(str(tls) or tls.__class__.__name__))
    if any(isinstance(e, TimeoutError) for e in chain):
        return ConnectionFailure(FailureCategory.TIMEOUT, f"no session within {settings.connect_timeout:g}s")
    if code == 2003 or any(isinstance(e, socket.gaierror | ConnectionError) for e in chain):
        return ConnectionFailure(FailureCategory.UNREACHABLE, message)
    if not code and any(isinstance(e, OSError) for e in chain):
        return ConnectionFailure(FailureCategory.UNREACHABLE, message)
    return ConnectionFailure(FailureCategory.SERVER_ERROR, message)


def server_error(error: BaseException, secrets: Sequence[str] = ()) -> MySQLServerError:
    """A driver error raised by a statement, as a redacted `MySQLServerError` carrying the error code."""
    code = error.args[0] if error.args and isinstance(error.args[0], int) else 0
    message = str(error.args[1]) if code and len(error.args) > 1 else (str(error) or error.__class__.__name__)
    return MySQLServerError(code, redact(message, secrets))


class _Pool:
    """At most `size` sessions to one database; idle ones are closed `idle_seconds` after their last use.

    A plain pool instead of aiomysql's: aiomysql's pool dials through its own `connect()`, which would turn the
    multi-statement flag back on and skip the observer.
    """

    def __init__(self, dial: Callable[[], Awaitable[aiomysql.Connection]], size: int, idle_seconds: float) -> None:
        self._dial = dial
        self._slots = asyncio.Semaphore(size)
        self._idle: list[tuple[aiomysql.Connection, asyncio.TimerHandle]] = []
        self._idle_seconds = idle_seconds
        self._closed = False

    @property
    def idle_count(self) -> int:
        return len(self._idle)

    async def acquire(self) -> aiomysql.Connection:
        await self._slots.acquire()
        try:
            while self._idle:
                connection, timer = self._idle.pop()
                timer.cancel()
                if _usable(connection):
                    return connection
                connection.close()
            return await self._dial()
        except BaseException:
            self._slots.release()
            raise

    def release(self, connection: aiomysql.Connection, *, discard: bool = False) -> None:
        """Return a session; `discard` drops it without a goodbye (its state is unknown after a timeout)."""
        try:
            if discard or not _usable(connection):
                connection.close()
                return
            if self._closed:
                _quit_soon(connection)
                return
            loop = asyncio.get_running_loop()
            timer = loop.call_later(self._idle_seconds, self._expire, connection)
            self._idle.append((connection, timer))
        finally:
            self._slots.release()

    def _expire(self, connection: aiomysql.Connection) -> None:
        for i, (idle, timer) in enumerate(self._idle):
            if idle is connection:
                timer.cancel()
                del self._idle[i]
                _quit_soon(connection)
                return

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for _connection, timer in idle:
            timer.cancel()
        await asyncio.gather(*(quit_connection(connection) for connection, _ in idle))


_QUITTING: set[asyncio.Task[None]] = set()
"""Sessions being closed in the background (a reference keeps each task alive until it is done)."""


async def quit_connection(connection: aiomysql.Connection) -> None:
    """Close a healthy session politely (COM_QUIT), so the server does not count and log an aborted connection;
    a session that does not answer within a second is simply dropped."""
    try:
        await asyncio.wait_for(connection.ensure_closed(), timeout=1.0)
    except (OSError, TimeoutError, aiomysql.Error):
        connection.close()


def _quit_soon(connection: aiomysql.Connection) -> None:
    task = asyncio.get_running_loop().create_task(quit_connection(connection))
    _QUITTING.add(task)
    task.add_done_callback(_QUITTING.discard)


def _usable(connection: aiomysql.Connection) -> bool:
    """Open, and the server has not hung up on it while it sat idle (wait_timeout, restart)."""
    if connection.closed:
        return False
    reader = getattr(connection, "_reader", None)
    return reader is None or not reader.at_eof()


class MySQLServer:
    """Sessions to one MySQL or MariaDB server with one admin account; see the module docstring."""

    def __init__(
        self,
        settings: ConnectionSettings,
        observer: ConnectionObserver | None = None,
        options: SessionOptions | None = None,
    ) -> None:
        self.settings = settings
        self.options = options or SessionOptions()
        self._observer = observer or NO_OBSERVER
        self._ssl = client_ssl_context(settings.tls_mode, settings.tls)
        self._pool: _Pool | None = None
        self._closed = False
        self.dialect: MySQLDialect | None = None
        """Set by `check()` (or the first `detect()`), from the server's version string."""

    # Sessions ------------------------------------------------------------------------------------------------------

    def _session_setup(self) -> list[str]:
        return [set_names(self.options.charset, self.options.collation), STRIP_NO_BACKSLASH_ESCAPES]

    async def dial(
        self,
        database: str | None = None,
        *,
        user: str | None = None,
        password: str | None = None,
        setup: Sequence[str] = (),
    ) -> aiomysql.Connection:
        """Open one set-up session (admin account unless `user` is given), timing it and reporting the attempt.

        `database=None` means the instance's admin database and `""` no default database; `setup` statements run
        after the standard session setup (per-database SQL mode and storage engine). The caller closes the session
        (`quit_connection`). Errors become `ConnectionFailure`.
        """
        started = time.monotonic()
        try:
            connection = await asyncio.wait_for(
                self._connect(database, user, password, setup), timeout=self.settings.connect_timeout
            )
        except (OSError, TimeoutError, aiomysql.Error, ssl.SSLError, ConnectionFailure) as error:
            self._observer.connection_attempt(success=False, seconds=time.monotonic() - started)
            settings = self.settings if password is None else _with_password(self.settings, password)
            raise classify_connect_error(error, settings) from None
        self._observer.connection_attempt(success=True, seconds=time.monotonic() - started)
        return connection

    async def _connect(
        self, database: str | None, user: str | None, password: str | None, setup: Sequence[str]
    ) -> aiomysql.Connection:
        secret = self.settings.password if password is None else password
        connection = aiomysql.Connection(
            host=self.settings.host,
            port=self.settings.port,
            user=user or self.settings.username,
            # PyMySQL sends the password as latin-1 bytes; the server compares UTF-8 bytes, so pass UTF-8 bytes
            # spelled as latin-1 text to make non-ASCII passwords work.
            password=secret.encode("utf-8").decode("latin-1"),
            db=self.settings.database if database is None else database,
            charset=self.options.charset,
            ssl=self._ssl,
            connect_timeout=self.settings.connect_timeout,
            autocommit=True,
            program_name=self.settings.application_name,
        )
        connection.client_flag &= ~CLIENT_MULTI_STATEMENTS
        await connection._connect()
        try:
            if self.settings.tls_mode in _TLS_REQUIRED and not getattr(connection, "_secure", False):
                raise ConnectionFailure(FailureCategory.TLS_FAILED, "the server does not offer TLS")
            async with connection.cursor(_QuietCursor) as cursor:
                for statement in (*self._session_setup(), *setup):
                    await cursor.execute(statement)
        except BaseException:
            connection.close()
            raise
        return connection

    def _pool_for_admin(self) -> _Pool:
        if self._closed:
            raise ConnectionFailure(FailureCategory.UNREACHABLE, "the instance's connections were closed")
        if self._pool is None:
            self._pool = _Pool(lambda: self.dial(None), POOL_SIZE, IDLE_SECONDS)
        return self._pool

    @asynccontextmanager
    async def session(self) -> AsyncIterator[aiomysql.Connection]:
        """A pooled admin session for several statements that must share one connection (CONNECTION_ID())."""
        pool = self._pool_for_admin()
        connection = await pool.acquire()
        discard = True
        try:
            yield connection
            discard = False
        except MySQLServerError as error:
            # A statement the server refused leaves a healthy session; a lost session or a client-side timeout
            # (code 0: the statement may still be running) does not.
            discard = error.code == 0 or error.code in SESSION_LOST
            raise
        finally:
            pool.release(connection, discard=discard)

    # Health check and flavour ------------------------------------------------------------------------------------

    async def check(self) -> ServerInfo:
        """One health check: a fresh session (proving the server still accepts logins), a ping, `SELECT VERSION()`,
        then what decides the dialect: MySQL's `partial_revokes` and active authentication plugins."""
        connection = await self.dial(None)
        try:
            await self._timed(connection.ping(reconnect=False), self.options.statement_seconds)
            version = str((await self._rows(connection, SERVER_VERSION, ()))[0][0])
            dialect = detect_dialect(version)
            if dialect.flavour is Flavour.MYSQL:
                dialect = await self._mysql_details(connection, version)
        finally:
            await quit_connection(connection)
        self.dialect = dialect
        return ServerInfo(version=version, flavour=dialect.flavour.value)

    async def _mysql_details(self, connection: aiomysql.Connection, version: str) -> MySQLDialect:
        partial = False
        try:
            rows = await self._rows(connection, PARTIAL_REVOKES, ())
            partial = bool(int(rows[0][0] or 0))
        except MySQLServerError:
            pass  # before 8.0.16 the variable does not exist: names in grants are always patterns
        dialect = detect_dialect(version, partial_revokes=partial)
        try:
            plugins = [str(r[0]) for r in await self._rows(connection, AUTH_PLUGINS, ())]
        except MySQLServerError:
            return dialect
        return MySQLDialect(dialect.flavour, dialect.version, dialect.escape_db_wildcards, frozenset(plugins))

    async def detect(self) -> MySQLDialect:
        """The dialect, running a health check first when none ran yet."""
        if self.dialect is None:
            await self.check()
        assert self.dialect is not None
        return self.dialect

    # Execution ---------------------------------------------------------------------------------------------------

    async def _timed(self, awaitable: Awaitable[Any], seconds: float) -> Any:
        try:
            return await asyncio.wait_for(awaitable, timeout=seconds)
        except TimeoutError:
            raise MySQLServerError(0, f"statement timed out after {seconds:g}s") from None

    async def _rows(
        self, connection: aiomysql.Connection, query: str, params: Sequence[object] | None, *, dicts: bool = False
    ) -> list[Any]:
        cursor_class = _QuietDictCursor if dicts else _QuietCursor
        # Without parameters the query goes as written: aiomysql only %-interpolates (and needs %%) when given some.
        bound = tuple(params) if params else None
        try:
            async with connection.cursor(cursor_class) as cursor:
                await self._timed(cursor.execute(query, bound), self.options.statement_seconds)
                return list(await cursor.fetchall())
        except aiomysql.Error as error:
            raise server_error(error) from None

    async def execute(self, statement: str, *, seconds: float | None = None, secrets: Sequence[str] = ()) -> None:
        """Run one statement built by `dbops.engines.mysql.sql*` (never several joined by semicolons).

        `secrets` are values in the statement (passwords) to cut out of any error message.
        """
        await self.execute_all([statement], seconds=seconds, secrets=secrets)

    async def execute_all(
        self, statements: Sequence[str], *, seconds: float | None = None, secrets: Sequence[str] = ()
    ) -> None:
        """Run statements one at a time on one session, in order; the first failure stops the rest."""
        async with self.session() as connection:
            await self.run(connection, statements, seconds=seconds, secrets=secrets)

    async def run(
        self,
        connection: aiomysql.Connection,
        statements: Sequence[str],
        *,
        seconds: float | None = None,
        secrets: Sequence[str] = (),
    ) -> None:
        """Run statements on a session the caller holds (from `session()` or `dial()`)."""
        limit = self.options.statement_seconds if seconds is None else seconds
        async with connection.cursor(_QuietCursor) as cursor:
            for statement in statements:
                try:
                    # args=None: no client-side %-interpolation, so '%' hosts and names stay as built.
                    await self._timed(cursor.execute(statement, None), limit)
                except aiomysql.Error as error:
                    raise server_error(error, secrets) from None
                except MySQLServerError as error:
                    raise MySQLServerError(error.code, redact(error.detail, secrets)) from None

    async def fetch(self, query: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
        """Run a catalog query with `%s` bind parameters; rows as dicts keyed by column alias. Without parameters
        the query is sent as written (aiomysql only interpolates, and so only needs `%%`, when there are some)."""
        async with self.session() as connection:
            return await self._rows(connection, query, params, dicts=True)

    async def fetch_on(
        self, connection: aiomysql.Connection, query: str, params: Sequence[object] = ()
    ) -> list[dict[str, Any]]:
        """`fetch` on a session the caller holds."""
        return await self._rows(connection, query, params, dicts=True)

    async def close(self) -> None:
        """Close every pooled session (instance deleted, or its endpoint, TLS or credentials changed)."""
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()


def _with_password(settings: ConnectionSettings, password: str) -> ConnectionSettings:
    """Settings whose password is `password`, only so that error messages redact the password actually sent."""
    return ConnectionSettings(
        engine=settings.engine,
        host=settings.host,
        port=settings.port,
        username=settings.username,
        password=password,
        database=settings.database,
    )


__all__ = [
    "IDLE_SECONDS",
    "SESSION_LOST",
    "STATEMENT_SECONDS",
    "MySQLServer",
    "MySQLServerError",
    "SessionOptions",
    "classify_connect_error",
    "quit_connection",
    "server_error",
]
