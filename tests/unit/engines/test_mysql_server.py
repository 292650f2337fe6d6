"""The MySQL server handle's pure parts: failure categories, redaction, and the idle-closing session pool."""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any

import aiomysql
import pytest

from dbops.engines.base import EngineError
from dbops.engines.connection import ConnectionFailure, ConnectionSettings, FailureCategory
from dbops.engines.mysql.server import (
    CLIENT_MULTI_STATEMENTS,
    MySQLServerError,
    _Pool,
    classify_connect_error,
    server_error,
)

SETTINGS = ConnectionSettings(
    engine="mysql", host="db", port=3306, username="admin", password="s3cr'et", database="mysql", connect_timeout=4
)


def _wrapped(cause: BaseException, code: int = 2003) -> aiomysql.OperationalError:
    """How aiomysql reports a failure below the protocol: OperationalError 2003 raised from the cause."""
    try:
        try:
            raise cause
        except BaseException as inner:
            raise aiomysql.OperationalError(code, "Can't connect to MySQL server on 'db'") from inner
    except aiomysql.OperationalError as error:
        return error


@pytest.mark.parametrize(
    ("error", "category"),
    [
        (aiomysql.OperationalError(1045, "Access denied for user 'admin'@'x' (using password: YES)"), "auth"),
        (aiomysql.OperationalError(4151, "Access denied, this account is locked"), "auth"),
        (aiomysql.OperationalError(1044, "Access denied for user 'admin'@'%' to database 'x'"), "auth"),
        (_wrapped(ConnectionRefusedError(111, "refused")), "unreachable"),
        (_wrapped(socket.gaierror(-2, "Name or service not known")), "unreachable"),
        (_wrapped(ssl.SSLCertVerificationError(1, "certificate verify failed")), "tls"),
        (TimeoutError(), "timeout"),
        (_wrapped(TimeoutError()), "timeout"),
        (aiomysql.OperationalError(1040, "Too many connections"), "server"),
        (aiomysql.OperationalError(1049, "Unknown database 'x'"), "server"),
    ],
)
def test_connect_errors_are_categorised(error: BaseException, category: str) -> None:
    expected = {
        "auth": FailureCategory.AUTHENTICATION_FAILED,
        "unreachable": FailureCategory.UNREACHABLE,
        "tls": FailureCategory.TLS_FAILED,
        "timeout": FailureCategory.TIMEOUT,
        "server": FailureCategory.SERVER_ERROR,
    }[category]
    failure = classify_connect_error(error, SETTINGS)
    assert failure.category is expected
    if expected is FailureCategory.TIMEOUT:
        assert failure.detail == "no session within 4s"


def test_connect_errors_never_carry_the_password() -> None:
    failure = classify_connect_error(aiomysql.OperationalError(1045, "denied for s3cr'et"), SETTINGS)
    assert "s3cr" not in str(failure)
    same = ConnectionFailure(FailureCategory.TLS_FAILED, "the server does not offer TLS")
    assert classify_connect_error(same, SETTINGS) is same


def test_server_errors_keep_the_code_and_lose_secrets() -> None:
    error = server_error(
        aiomysql.ProgrammingError(1064, "syntax error near 'IDENTIFIED BY 'hunter2' REQUIRE'"), ["hunter2"]
    )
    assert isinstance(error, EngineError) and isinstance(error, MySQLServerError)
    assert error.code == 1064 and "hunter2" not in str(error) and str(error).startswith("1064: ")
    # Pattern redaction even when the caller did not know the secret.
    assert "pw9" not in str(server_error(aiomysql.ProgrammingError(1064, "near IDENTIFIED BY 'pw9'")))
    assert MySQLServerError(0, "statement timed out after 30s").code == 0


def test_multi_statement_flag_is_the_protocol_constant() -> None:
    assert CLIENT_MULTI_STATEMENTS == 65536


class FakeReader:
    def __init__(self) -> None:
        self.eof = False

    def at_eof(self) -> bool:
        return self.eof


class FakeConnection:
    def __init__(self, n: int) -> None:
        self.n = n
        self.closed = False
        self.quit = False
        self.said_goodbye = asyncio.Event()
        self._reader = FakeReader()

    def close(self) -> None:
        self.closed = True

    async def ensure_closed(self) -> None:
        self.quit = True
        self.closed = True
        self.said_goodbye.set()


class Dialer:
    def __init__(self) -> None:
        self.made: list[FakeConnection] = []

    async def __call__(self) -> Any:
        connection = FakeConnection(len(self.made))
        self.made.append(connection)
        return connection


async def test_pool_reuses_idle_sessions_and_closes_them_after_the_idle_time() -> None:
    dial = Dialer()
    pool = _Pool(dial, size=2, idle_seconds=0.05)
    first = await pool.acquire()
    pool.release(first)
    assert await pool.acquire() is first and len(dial.made) == 1
    loop = asyncio.get_running_loop()
    pool.release(first)
    released = loop.time()
    assert pool.idle_count == 1 and not first.closed
    await asyncio.wait_for(first.said_goodbye.wait(), 2)
    assert loop.time() - released >= 0.04, "not before the idle time"
    assert first.closed and first.quit and pool.idle_count == 0, "an idle session is closed politely"
    second = await pool.acquire()
    assert second is not first and len(dial.made) == 2
    pool.release(second)
    await pool.close()
    assert second.closed and second.quit


async def test_pool_discards_broken_sessions_and_bounds_concurrency() -> None:
    dial = Dialer()
    pool = _Pool(dial, size=1, idle_seconds=10)
    a = await pool.acquire()
    waiter = asyncio.ensure_future(pool.acquire())
    for _ in range(100):  # until the second acquire is parked on the only slot
        if pool._slots._waiters:
            break
        await asyncio.sleep(0)
    assert pool._slots._waiters and not waiter.done(), "a second session waits for the only slot"
    assert len(dial.made) == 1
    a._reader.eof = True  # the server hung up while it was checked out
    pool.release(a)
    b = await waiter
    assert a.closed and b is not a
    pool.release(b, discard=True)
    assert b.closed and not b.quit and pool.idle_count == 0, "a discarded session gets no goodbye"
    await pool.close()


async def test_pool_releases_the_slot_when_dialing_fails() -> None:
    async def failing() -> Any:
        raise ConnectionFailure(FailureCategory.UNREACHABLE, "down")

    pool = _Pool(failing, size=1, idle_seconds=10)
    for _ in range(2):
        with pytest.raises(ConnectionFailure):
            await asyncio.wait_for(pool.acquire(), timeout=1)
