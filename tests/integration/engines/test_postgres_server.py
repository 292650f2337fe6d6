"""The PostgreSQL server handle against the real local PostgreSQL: TLS, failure categories, pooling, registry."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dbops.engines.connection import ConnectionFailure, ConnectionSettings, FailureCategory, TLSMaterial, TLSMode
from dbops.engines.postgres.server import PostgresServer
from dbops.engines.registry import InstanceKey, ServerRegistry, UnsupportedEngine, adapter_factory
from tests.support.env import DevEnv


class CountingObserver:
    def __init__(self) -> None:
        self.attempts: list[bool] = []

    def connection_attempt(self, *, success: bool, seconds: float) -> None:
        assert seconds >= 0
        self.attempts.append(success)


@pytest.fixture
def admin(dev_env: DevEnv) -> ConnectionSettings:
    pg = dev_env.postgres
    assert pg.ca_file is not None
    return ConnectionSettings(
        engine="postgres",
        host=pg.host,
        port=pg.port,
        username=pg.admin_user,
        password=pg.admin_password,
        database="postgres",
        tls_mode=TLSMode.VERIFY_FULL,
        tls=TLSMaterial(ca_pem=Path(pg.ca_file).read_text()),
        connect_timeout=5,
    )


async def test_health_check_over_verified_tls_reports_version(admin: ConnectionSettings) -> None:
    observer = CountingObserver()
    server = PostgresServer(admin, observer)
    try:
        info = await server.check()
        assert info.version.startswith("15.") and info.flavour == "postgres"
        assert await server.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") is True
        assert await server.fetchval("SHOW application_name") == "db-provision-operator"
        assert observer.attempts == [True, True], "one dial for the check, one for the pool"
    finally:
        await server.close()


async def test_pooled_sessions_are_reused(admin: ConnectionSettings) -> None:
    observer = CountingObserver()
    server = PostgresServer(admin, observer)
    try:
        pids = {await server.fetchval("SELECT pg_backend_pid()") for _ in range(5)}
        assert len(pids) == 1 and observer.attempts == [True]
        await server.fetchval("SELECT 1", database="template1")
        assert observer.attempts == [True, True], "another database gets its own session"
    finally:
        await server.close()


async def test_catalog_queries_are_prepared_once_per_session(admin: ConnectionSettings) -> None:
    server = PostgresServer(admin)
    query = "SELECT rolname FROM pg_roles WHERE rolname = $1"
    try:
        for _ in range(3):
            assert await server.fetchval(query, admin.username) == admin.username
        prepared = await server.fetch("SELECT statement FROM pg_prepared_statements")
        assert [row["statement"] for row in prepared].count(query) == 1
    finally:
        await server.close()


async def test_a_pooler_that_loses_prepared_statements_switches_the_server_to_unprepared_queries(
    admin: ConnectionSettings,
) -> None:
    """PgBouncer in transaction mode (< 1.21) hands a session's next query to another server connection, where its
    prepared statement does not exist; `DEALLOCATE ALL` behind the driver's back reproduces exactly that answer."""
    observer = CountingObserver()
    server = PostgresServer(admin, observer)
    query = "SELECT count(*) FROM pg_roles WHERE rolname = $1"
    try:
        assert await server.fetchval(query, admin.username) == 1
        await server.execute("DEALLOCATE ALL")  # the one pooled session forgets the cached statement
        assert await server.fetchval(query, admin.username) == 1, "answered after switching to unprepared queries"
        assert observer.attempts == [True, True], "the pool was replaced once"
        await server.fetchval(query, admin.username)
        assert await server.fetch("SELECT name FROM pg_prepared_statements") == []
    finally:
        await server.close()


@pytest.mark.parametrize(
    ("change", "category"),
    [
        ({"password": "wrong-password"}, FailureCategory.AUTHENTICATION_FAILED),
        ({"port": 1}, FailureCategory.UNREACHABLE),
        ({"tls": TLSMaterial(ca_pem=None)}, FailureCategory.TLS_FAILED),  # system trust store: our CA is unknown
        ({"host": "localhost", "tls_mode": TLSMode.VERIFY_FULL}, None),  # the certificate names localhost too
    ],
)
async def test_failures_are_categorised_and_redacted(
    admin: ConnectionSettings, change: dict[str, object], category: FailureCategory | None
) -> None:
    observer = CountingObserver()
    server = PostgresServer(dataclasses.replace(admin, **change), observer)  # type: ignore[arg-type]
    try:
        if category is None:
            await server.check()
            assert observer.attempts == [True]
            return
        with pytest.raises(ConnectionFailure) as failure:
            await server.check()
        assert failure.value.category is category
        assert str(failure.value).startswith(category.value + ": ")
        assert admin.password not in str(failure.value) and "wrong-password" not in str(failure.value)
        assert observer.attempts == [False]
    finally:
        await server.close()


async def test_statement_timeout_applies_to_every_session(admin: ConnectionSettings) -> None:
    server = PostgresServer(dataclasses.replace(admin, statement_timeout="150ms"))
    try:
        assert await server.fetchval("SHOW statement_timeout") == "150ms"
        with pytest.raises(Exception, match="statement timeout"):
            await server.execute("SELECT pg_sleep(2)")
    finally:
        await server.close()


def test_an_engine_without_adapter_module_is_unsupported() -> None:
    with pytest.raises(UnsupportedEngine):
        adapter_factory("nosuch")


async def test_registry_reuses_and_replaces_handles(admin: ConnectionSettings) -> None:
    registry = ServerRegistry(max_operations_per_instance=2, factories={"postgres": PostgresServer})  # type: ignore[dict-item]
    key = InstanceKey("DatabaseInstance", "ns", "pg")
    try:
        first = await registry.adapter(key, admin)
        assert await registry.adapter(key, dataclasses.replace(admin)) is first
        assert isinstance(first, PostgresServer)
        await first.fetchval("SELECT 1")
        second = await registry.adapter(key, dataclasses.replace(admin, application_name="renamed"))
        assert second is not first and registry.cached(key) is second
        await registry.replaced_closed()  # no operation was running on it: closed at once
        with pytest.raises(ConnectionFailure):
            await first.fetchval("SELECT 1")  # the replaced handle was closed
        await registry.forget(key)
        assert registry.cached(key) is None
    finally:
        await registry.close()
