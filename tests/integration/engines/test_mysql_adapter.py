"""The MySQL-family adapter against the real local MariaDB 10.11: sessions, databases, accounts, roles, grants.

Everything the operator does goes through `MySQLAdapter` as the admin account `dbops_admin`; what the tests check
behind its back (logins as the new accounts, privileges actually enforced) uses separate sessions. Every test uses
its own names and drops what it created, also when it fails.
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiomysql
import pytest

from dbops.api.database import DatabaseMySQLConfig, DatabaseSpec
from dbops.api.grant import DatabaseGrantSpec
from dbops.api.role import DatabaseRoleSpec
from dbops.api.user import DatabaseUserSpec, PasswordRotationConfig, UserMySQLConfig
from dbops.engines.access import DeclaredAccess, drift_support
from dbops.engines.base import EngineError, database_drift_support, user_drift_support
from dbops.engines.connection import ConnectionFailure, ConnectionSettings, FailureCategory, TLSMode
from dbops.engines.errors import InvalidSpec
from dbops.engines.initsql import InitSQLRun, InitSQLRunner
from dbops.engines.mysql.adapter import MySQLAdapter, TrackingConfig
from dbops.engines.mysql.drift import MySQLAccessDrift, MySQLDatabaseDrift
from dbops.engines.mysql.grants import GRANT_OPTION, MySQLGrantEntry, Privilege, escape_db_pattern
from dbops.engines.mysql.server import MySQLServer, MySQLServerError
from dbops.engines.mysql.spec import account_drift, privilege_drift
from dbops.engines.mysql.sql import STRIP_NO_BACKSLASH_ESCAPES, Account
from dbops.engines.sql.privileges import MySQLLevel
from tests.support.env import DevEnv

L = MySQLLevel
ACCESS_DENIED_TABLE = 1142
ACCESS_DENIED_COLUMN = 1143
ACCESS_DENIED_DB = 1044


class CountingObserver:
    def __init__(self) -> None:
        self.attempts: list[bool] = []

    def connection_attempt(self, *, success: bool, seconds: float) -> None:
        assert seconds >= 0
        self.attempts.append(success)


def unique(prefix: str = "it") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def admin(dev_env: DevEnv) -> ConnectionSettings:
    db = dev_env.mariadb
    return ConnectionSettings(
        engine="mariadb",
        host=db.host,
        port=db.port,
        username=db.admin_user,
        password=db.admin_password,
        database="mysql",
        connect_timeout=5,
    )


@pytest.fixture
async def root(dev_env: DevEnv, admin: ConnectionSettings) -> AsyncIterator[MySQLServer]:
    """The superuser, for setting up and inspecting things behind the adapter's back."""
    db = dev_env.mariadb
    server = MySQLServer(dataclasses.replace(admin, username=db.superuser, password=db.superuser_password))
    yield server
    await server.close()


Cleanup = Callable[[str], None]


@pytest.fixture
async def cleanup(root: MySQLServer) -> AsyncIterator[Cleanup]:
    """Register statements that undo what a test created; they run at the end even when the test failed."""
    statements: list[str] = []
    yield statements.append
    for statement in reversed(statements):
        with contextlib.suppress(MySQLServerError):
            await root.execute(statement)


@pytest.fixture
async def adapter(admin: ConnectionSettings, root: MySQLServer, cleanup: Cleanup) -> AsyncIterator[MySQLAdapter]:
    """An adapter whose tracking table lives in a throw-away database (not in the `mysql` schema)."""
    tracking_db = unique("it_track")
    cleanup(f"DROP DATABASE IF EXISTS `{tracking_db}`")
    await root.execute(f"CREATE DATABASE `{tracking_db}`")
    adapter = MySQLAdapter(admin, tracking=TrackingConfig(database=tracking_db))
    yield adapter
    await adapter.close()


async def login(
    settings: ConnectionSettings, user: str, password: str, database: str = ""
) -> tuple[MySQLServer, aiomysql.Connection]:
    """A session as another account (raises ConnectionFailure when the server refuses it)."""
    server = MySQLServer(settings)
    return server, await server.dial(database, user=user, password=password)


async def query(connection: aiomysql.Connection, statement: str) -> list[tuple[Any, ...]]:
    async with connection.cursor() as cursor:
        await cursor.execute(statement)
        return list(await cursor.fetchall())


async def denied(connection: aiomysql.Connection, statement: str) -> int:
    """The error code the statement fails with (the test fails when it succeeds)."""
    with pytest.raises(aiomysql.Error) as info:
        await query(connection, statement)
    code = info.value.args[0]
    assert isinstance(code, int)
    return code


def user_spec(username: str, **mysql: Any) -> DatabaseUserSpec:
    return DatabaseUserSpec.model_validate(
        {"instanceRef": {"name": "i"}, "username": username, "mysql": UserMySQLConfig(**mysql).model_dump()}
    )


def database_spec(name: str, **mysql: Any) -> DatabaseSpec:
    return DatabaseSpec.model_validate(
        {"instanceRef": {"name": "i"}, "name": name, "mysql": DatabaseMySQLConfig(**mysql).model_dump()}
    )


# --------------------------------------------------------------------------------------------------------------------
# Health check, flavour, sessions


async def test_health_check_detects_mariadb_and_pools_sessions(admin: ConnectionSettings) -> None:
    observer = CountingObserver()
    adapter = MySQLAdapter(dataclasses.replace(admin, engine="mysql"), observer)
    try:
        assert adapter.engine == "mysql"
        info = await adapter.check()
        assert info.flavour == "mariadb" and info.version.startswith("10.11.") and "MariaDB" in info.version
        assert adapter.engine == "mariadb", "the detected flavour's rules are used (engines.md 1.4)"
        assert observer.attempts == [True], "the health check uses a fresh session"
        ids = {(await adapter.server.fetch("SELECT CONNECTION_ID() AS id"))[0]["id"] for _ in range(4)}
        assert len(ids) == 1 and observer.attempts == [True, True], "pooled sessions are reused"
        [row] = await adapter.server.fetch(
            "SELECT @@SESSION.character_set_connection AS cs, @@SESSION.autocommit AS ac, @@SESSION.sql_mode AS m"
        )
        assert row["cs"] == "utf8mb4" and row["ac"] == 1 and "NO_BACKSLASH_ESCAPES" not in row["m"]
    finally:
        await adapter.close()
    with pytest.raises(ConnectionFailure, match="closed"):
        await adapter.server.fetch("SELECT 1")


async def test_multi_statements_are_refused(adapter: MySQLAdapter, cleanup: Cleanup) -> None:
    name = unique()
    cleanup(f"DROP DATABASE IF EXISTS `{name}`")
    with pytest.raises(MySQLServerError) as info:
        await adapter.server.execute(f"SELECT 1; CREATE DATABASE `{name}`")
    assert info.value.code == 1064
    assert await adapter.observe_database(name) is None


async def test_sessions_run_without_no_backslash_escapes_whatever_the_server_default(
    admin: ConnectionSettings, root: MySQLServer
) -> None:
    [row] = await root.fetch("SELECT @@GLOBAL.sql_mode AS m")
    original = str(row["m"])
    await root.execute("SET GLOBAL sql_mode = CONCAT(@@GLOBAL.sql_mode, ',NO_BACKSLASH_ESCAPES')")
    server = MySQLServer(admin)
    try:
        [row] = await server.fetch("SELECT @@SESSION.sql_mode AS m, 'a\\\\b' AS lit")
        assert "NO_BACKSLASH_ESCAPES" not in row["m"] and "STRICT_TRANS_TABLES" in row["m"]
        assert row["lit"] == "a\\b", "a doubled backslash in a literal is one backslash"
    finally:
        await server.close()
        await root.execute("SET GLOBAL sql_mode = '" + original + "'")
    assert STRIP_NO_BACKSLASH_ESCAPES.startswith("SET SESSION sql_mode")


@pytest.mark.parametrize(
    ("change", "category"),
    [
        ({"password": "wrong-pass'word"}, FailureCategory.AUTHENTICATION_FAILED),
        ({"port": 1}, FailureCategory.UNREACHABLE),
        ({"tls_mode": TLSMode.REQUIRE}, FailureCategory.TLS_FAILED),  # the local MariaDB has no TLS
    ],
)
async def test_failures_are_categorised_and_redacted(
    admin: ConnectionSettings, change: dict[str, Any], category: FailureCategory
) -> None:
    observer = CountingObserver()
    adapter = MySQLAdapter(dataclasses.replace(admin, **change), observer)
    try:
        with pytest.raises(ConnectionFailure) as info:
            await adapter.check()
        assert info.value.category is category
        assert "wrong-pass" not in str(info.value) and admin.password not in str(info.value)
        assert observer.attempts == [False]
    finally:
        await adapter.close()


async def test_prefer_falls_back_to_plaintext(admin: ConnectionSettings) -> None:
    adapter = MySQLAdapter(dataclasses.replace(admin, tls_mode=TLSMode.PREFER))
    try:
        assert (await adapter.check()).flavour == "mariadb"
    finally:
        await adapter.close()


# --------------------------------------------------------------------------------------------------------------------
# Databases


async def test_create_observe_alter_and_drop_a_database(adapter: MySQLAdapter, cleanup: Cleanup) -> None:
    name = unique()
    cleanup(f"DROP DATABASE IF EXISTS `{name}`")
    assert await adapter.observe_database(name) is None
    spec = database_spec(name, charset="latin1", collation="latin1_bin")
    assert adapter.unsupported_database_fields(spec, None) == []
    await adapter.create_database(spec, owner=None, comment="managed-by:test")
    observed = await adapter.observe_database(name)
    assert observed is not None
    assert (observed.charset, observed.collation, observed.size_bytes) == ("latin1", "latin1_bin", 0)
    assert observed.comment == "managed-by:test"
    assert name in await adapter.database_sizes()
    assert await adapter.apply_database(spec, observed, owner=None) == []
    changed = database_spec(name, charset="utf8mb4", collation="utf8mb4_unicode_ci")
    assert await adapter.apply_database(changed, observed, owner=None) == ["spec.mysql.charset", "spec.mysql.collation"]
    observed = await adapter.observe_database(name)
    assert observed is not None and (observed.charset, observed.collation) == ("utf8mb4", "utf8mb4_unicode_ci")
    await adapter.drop_database(name)
    assert await adapter.observe_database(name) is None
    await adapter.drop_database(name)  # missing is not an error


async def test_a_charset_or_collation_the_server_refuses_is_a_spec_error_naming_the_field(
    adapter: MySQLAdapter, cleanup: Cleanup
) -> None:
    name = unique()
    cleanup(f"DROP DATABASE IF EXISTS `{name}`")
    for charset, collation, field in (
        ("latin1", "utf8mb4_bin", "spec.mysql.collation"),  # a collation of another character set
        ("latin1", "latin1_klingon_ci", "spec.mysql.collation"),  # unknown collation
        ("klingon", "klingon_bin", "spec.mysql.charset"),  # unknown character set
    ):
        with pytest.raises(InvalidSpec) as info:
            await adapter.create_database(
                database_spec(name, charset=charset, collation=collation), owner=None, comment=None
            )
        assert info.value.field == field
        assert await adapter.observe_database(name) is None
    await adapter.create_database(
        database_spec(name, charset="latin1", collation="latin1_bin"), owner=None, comment=None
    )
    observed = await adapter.observe_database(name)
    assert observed is not None
    with pytest.raises(InvalidSpec) as info:
        await adapter.apply_database(
            database_spec(name, charset="latin1", collation="utf8mb4_bin"), observed, owner=None
        )
    assert info.value.field == "spec.mysql.collation"
    observed = await adapter.observe_database(name)
    assert observed is not None and (observed.charset, observed.collation) == ("latin1", "latin1_bin")


async def test_owner_is_reported_unsupported(adapter: MySQLAdapter) -> None:
    spec = DatabaseSpec.model_validate({"instanceRef": {"name": "i"}, "name": "x", "owner": "someone"})
    assert adapter.unsupported_database_fields(spec, None) == ["spec.owner"]


async def test_verify_and_init_sessions_take_the_database_settings(adapter: MySQLAdapter, cleanup: Cleanup) -> None:
    name = unique()
    cleanup(f"DROP DATABASE IF EXISTS `{name}`")
    config = DatabaseMySQLConfig(sql_mode="ANSI_QUOTES,STRICT_ALL_TABLES", default_storage_engine="Aria")
    await adapter.create_database(database_spec(name, **config.model_dump()), owner=None, comment=None)
    await adapter.verify_database(name, config=config)
    done = await adapter.run_in_database(name, ['CREATE TABLE "t" (x INT)', "INSERT INTO t VALUES (1)"], config=config)
    assert done == 2
    [row] = await adapter.server.fetch(
        "SELECT ENGINE AS e FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = 't'", (name,)
    )
    assert row["e"] == "Aria", "the session's default storage engine was the Database's"
    with pytest.raises(MySQLServerError, match="statement 2"):
        await adapter.run_in_database(name, ["SELECT 1", "SELECT * FROM missing_table"], config=config)
    with pytest.raises(InvalidSpec) as info:
        await adapter.apply_database(
            database_spec(name, default_storage_engine="NoSuchEngine"),
            await adapter.observe_database(name),  # type: ignore[arg-type]
            owner=None,
        )
    assert info.value.field == "spec.mysql.defaultStorageEngine"


async def test_verify_fails_until_the_database_exists(adapter: MySQLAdapter) -> None:
    with pytest.raises(Exception, match="cannot open a session"):
        await adapter.verify_database(unique())


async def test_drop_database_ends_open_sessions(adapter: MySQLAdapter, admin: ConnectionSettings) -> None:
    name = unique()
    await adapter.create_database(database_spec(name), owner=None, comment=None)
    other = MySQLServer(admin)
    connection = await other.dial(name)
    try:
        assert await query(connection, "SELECT DATABASE()") == [(name,)]
        await adapter.drop_database(name)
        assert await adapter.observe_database(name) is None
        with pytest.raises(aiomysql.Error):
            await query(connection, "SELECT 1")
    finally:
        connection.close()
        await other.close()


# --------------------------------------------------------------------------------------------------------------------
# Accounts


async def test_user_with_two_hosts_logs_in_with_its_password_only(
    adapter: MySQLAdapter, admin: ConnectionSettings, cleanup: Cleanup
) -> None:
    username = unique("u")
    cleanup(f"DROP USER IF EXISTS '{username}'@'127.0.0.1'")
    cleanup(f"DROP USER IF EXISTS '{username}'@'10.20.%'")
    password = "p'a\"s`s\\w%o_rd é中"
    spec = user_spec(
        username,
        allowed_hosts=["127.0.0.1", "10.20.%"],
        max_queries_per_hour=100,
        max_user_connections=3,
        require_ssl=False,
    )
    assert adapter.unsupported_user_fields(spec, None) == []
    assert await adapter.observe_account(username) is None
    await adapter.create_account(spec, password=password, comment="managed-by:test,cr:ns/u")
    observed = await adapter.observe_account(username)
    assert observed is not None
    assert observed.hosts == {"127.0.0.1", "10.20.%"}
    assert observed.attributes["authPlugin"] == "mysql_native_password", "MariaDB's default plugin"
    assert observed.attributes["maxQueriesPerHour"] == 100 and observed.attributes["maxUserConnections"] == 3
    assert observed.attributes["accountLocked"] is False and observed.attributes["requireSSL"] is False
    assert observed.comment == "managed-by:test,cr:ns/u"
    assert await adapter.apply_account(spec, observed) == [], "nothing differs"

    server, connection = await login(admin, username, password)
    try:
        assert await query(connection, "SELECT CURRENT_USER()") == [(f"{username}@127.0.0.1",)]
    finally:
        connection.close()
        await server.close()
    with pytest.raises(ConnectionFailure) as info:
        await login(admin, username, password + "x")
    assert info.value.category is FailureCategory.AUTHENTICATION_FAILED
    assert password not in str(info.value)

    await adapter.drop_account(username)
    assert await adapter.observe_account(username) is None
    assert await adapter.read_tracking("DatabaseUser", username) is None
    await adapter.drop_account(username)  # missing is not an error


async def test_apply_account_alters_every_host_and_adds_hosts(
    adapter: MySQLAdapter, admin: ConnectionSettings, cleanup: Cleanup
) -> None:
    username = unique("u")
    for host in ("127.0.0.1", "10.1.%", "10.2.%"):
        cleanup(f"DROP USER IF EXISTS '{username}'@'{host}'")
    await adapter.create_account(user_spec(username, allowed_hosts=["10.1.%"]), password="pw1", comment=None)
    observed = await adapter.observe_account(username)
    assert observed is not None
    # A new host without the plaintext at hand: MariaDB's native hash is copied, so the password is the same.
    assert await adapter.apply_account(user_spec(username, allowed_hosts=["10.1.%", "127.0.0.1"]), observed) == [
        "spec.mysql.allowedHosts"
    ]
    server, connection = await login(admin, username, "pw1")
    connection.close()
    await server.close()

    observed = await adapter.observe_account(username)
    assert observed is not None and observed.hosts == {"127.0.0.1", "10.1.%"}
    changed_spec = user_spec(
        username,
        allowed_hosts=["127.0.0.1", "10.1.%", "10.2.%"],
        max_connections_per_hour=7,
        require_x509=True,
        account_locked=True,
    )
    changed = await adapter.apply_account(changed_spec, observed, password="pw1")
    assert set(changed) == {
        "spec.mysql.allowedHosts",
        "spec.mysql.maxConnectionsPerHour",
        "spec.mysql.requireX509",
        "spec.mysql.accountLocked",
    }
    observed = await adapter.observe_account(username)
    assert observed is not None and observed.hosts == {"127.0.0.1", "10.1.%", "10.2.%"}
    assert observed.attributes["maxConnectionsPerHour"] == 7, "the new host and the altered ones agree"
    assert observed.attributes["requireX509"] is True and observed.attributes["accountLocked"] is True
    # Limits go back to 0 and the lock is lifted when the spec says so.
    plain = user_spec(username, allowed_hosts=["127.0.0.1", "10.1.%", "10.2.%"])
    await adapter.apply_account(plain, observed)
    observed = await adapter.observe_account(username)
    assert observed is not None
    assert observed.attributes["maxConnectionsPerHour"] == 0 and observed.attributes["accountLocked"] is False
    assert observed.attributes["requireX509"] is False


async def test_lock_set_password_and_disable(
    adapter: MySQLAdapter, admin: ConnectionSettings, cleanup: Cleanup
) -> None:
    username = unique("u")
    cleanup(f"DROP USER IF EXISTS '{username}'@'127.0.0.1'")
    await adapter.create_account(user_spec(username, allowed_hosts=["127.0.0.1"]), password="old", comment=None)
    await adapter.set_password(username, "new\\'pw")
    with pytest.raises(ConnectionFailure):
        await login(admin, username, "old")
    server, connection = await login(admin, username, "new\\'pw")
    connection.close()
    await server.close()
    await adapter.disable_account(username)
    with pytest.raises(ConnectionFailure) as info:
        await login(admin, username, "new\\'pw")
    assert info.value.category is FailureCategory.AUTHENTICATION_FAILED
    observed = await adapter.observe_account(username)
    assert observed is not None and observed.attributes["accountLocked"] is True


async def test_mysql_only_account_features_are_reported_and_refused_on_mariadb(
    adapter: MySQLAdapter, cleanup: Cleanup
) -> None:
    await adapter.check()
    spec = user_spec(unique("u"), auth_plugin="sha256_password", failed_login_attempts=3, password_lock_time=2)
    spec = spec.model_copy(
        update={
            "password_rotation": PasswordRotationConfig(enabled=True, strategy="dual-password"),
            "roles": ["a", "b"],
        }
    )
    assert adapter.unsupported_user_fields(spec, None) == [
        "spec.mysql.authPlugin",
        "spec.mysql.failedLoginAttempts",
        "spec.mysql.passwordLockTime",
        "spec.passwordRotation.strategy",
        "spec.roles",
    ]
    username = unique("u")
    cleanup(f"DROP USER IF EXISTS '{username}'@'%'")
    await adapter.create_account(user_spec(username), password="pw", comment=None)
    with pytest.raises(InvalidSpec) as info:
        await adapter.rotate_password(username, "pw2")
    assert info.value.field == "spec.passwordRotation.strategy"


async def test_owned_objects_by_definer(adapter: MySQLAdapter, root: MySQLServer, cleanup: Cleanup) -> None:
    username, name = unique("u"), unique()
    cleanup(f"DROP DATABASE IF EXISTS `{name}`")
    cleanup(f"DROP USER IF EXISTS '{username}'@'%'")
    await adapter.create_account(user_spec(username), password="pw", comment=None)
    await adapter.create_database(database_spec(name), owner=None, comment=None)
    assert await adapter.owned_objects(username) == []
    await root.execute(f"CREATE DEFINER = '{username}'@'%' VIEW `{name}`.`v` AS SELECT 1 AS x")
    await root.execute(f"CREATE DEFINER = '{username}'@'%' PROCEDURE `{name}`.`p`() SELECT 1")
    owned = await adapter.owned_objects(username)
    assert [(o.database, o.kind, o.name) for o in owned] == [(name, "procedure", "p"), (name, "view", "v")]
    assert await adapter.owned_objects(username[:-1]) == [], "the user part must match exactly"


# --------------------------------------------------------------------------------------------------------------------
# Grants


@pytest.fixture
async def grant_setup(adapter: MySQLAdapter, root: MySQLServer, cleanup: Cleanup) -> tuple[str, str, str]:
    """Databases `<x>_a` (tables t1, t2) and `<x>_b` (table t), a procedure, and a user on 127.0.0.1."""
    base = unique("g")
    db_a, db_b, user = f"{base}_a", f"{base}_b", f"{base}_u"
    for db in (db_a, db_b):
        cleanup(f"DROP DATABASE IF EXISTS `{db}`")
    cleanup(f"DROP USER IF EXISTS '{user}'@'127.0.0.1'")
    for statement in (
        f"CREATE DATABASE `{db_a}`",
        f"CREATE DATABASE `{db_b}`",
        f"CREATE TABLE `{db_a}`.t1 (a INT, b INT)",
        f"CREATE TABLE `{db_a}`.t2 (a INT)",
        f"CREATE TABLE `{db_b}`.t (a INT)",
        f"CREATE PROCEDURE `{db_a}`.p() SELECT 42",
    ):
        await root.execute(statement)
    await adapter.create_account(user_spec(user, allowed_hosts=["127.0.0.1"]), password="pw", comment=None)
    return db_a, db_b, user


async def test_database_and_table_grants_are_enforced_and_revocable(
    adapter: MySQLAdapter, admin: ConnectionSettings, grant_setup: tuple[str, str, str]
) -> None:
    db_a, db_b, user = grant_setup
    entries = [
        MySQLGrantEntry(L.DATABASE, ["SELECT"], database=db_b),
        MySQLGrantEntry(L.TABLE, ["SELECT", "INSERT"], database=db_a, table="t1"),
    ]
    outcomes = await adapter.apply_grants(user, entries)
    assert [o.applied for o in outcomes] == [True, True]
    assert await adapter.grant_drift(user, entries) == []

    server, connection = await login(admin, user, "pw")
    try:
        assert await query(connection, f"SELECT COUNT(*) FROM `{db_b}`.t") == [(0,)]
        await query(connection, f"INSERT INTO `{db_a}`.t1 VALUES (1, 2)")
        assert await query(connection, f"SELECT a, b FROM `{db_a}`.t1") == [(1, 2)]
        assert await denied(connection, f"SELECT * FROM `{db_a}`.t2") == ACCESS_DENIED_TABLE
        assert await denied(connection, f"INSERT INTO `{db_b}`.t VALUES (1)") == ACCESS_DENIED_TABLE
    finally:
        connection.close()
        await server.close()

    revoked = await adapter.revoke_grants(user, entries)
    assert all(o.applied for o in revoked)
    assert all(o.applied for o in await adapter.revoke_grants(user, entries)), "revoking again is not an error"
    drift = await adapter.grant_drift(user, entries)
    assert {d.field for d in drift} == {f"grants.{db_b}.*", f"grants.{db_a}.t1"} and all(not d.extra for d in drift)
    server, connection = await login(admin, user, "pw")
    try:
        assert await denied(connection, f"SELECT * FROM `{db_a}`.t1") == ACCESS_DENIED_TABLE
        assert await denied(connection, f"SELECT * FROM `{db_b}`.t") == ACCESS_DENIED_TABLE
    finally:
        connection.close()
        await server.close()


async def test_column_routine_and_global_grants(
    adapter: MySQLAdapter, admin: ConnectionSettings, grant_setup: tuple[str, str, str]
) -> None:
    db_a, _, user = grant_setup
    entries = [
        MySQLGrantEntry(L.COLUMN, ["SELECT"], database=db_a, table="t1", columns=["a"], with_grant_option=True),
        MySQLGrantEntry(L.PROCEDURE, ["EXECUTE"], database=db_a, procedure="p"),
        MySQLGrantEntry(L.GLOBAL, ["PROCESS"]),
    ]
    assert all(o.applied for o in await adapter.apply_grants(user, entries))
    [held] = (await adapter.observe_privileges(user)).values()
    assert held == {
        Privilege("column", db_a, "t1", "a", "SELECT"),
        Privilege("table", db_a, "t1", "", GRANT_OPTION),
        Privilege("procedure", db_a, "p", "", "EXECUTE"),
        Privilege("global", "", "", "", "PROCESS"),
    }
    assert await adapter.grant_drift(user, entries) == []
    server, connection = await login(admin, user, "pw")
    try:
        assert await query(connection, f"SELECT a FROM `{db_a}`.t1") == []
        assert await denied(connection, f"SELECT b FROM `{db_a}`.t1") == ACCESS_DENIED_COLUMN
        assert await query(connection, f"CALL `{db_a}`.p()") == [(42,)]
    finally:
        connection.close()
        await server.close()
    # An out-of-band extra on a covered target is drift; the same privilege on an uncovered target is not.
    await adapter.server.execute(f"GRANT UPDATE (b) ON `{db_a}`.t1 TO '{user}'@'127.0.0.1'")
    await adapter.server.execute(f"GRANT SELECT ON `{db_a}`.t2 TO '{user}'@'127.0.0.1'")
    [diff] = await adapter.grant_drift(user, entries)
    assert diff.field == f"grants.{db_a}.t1" and diff.missing == ()
    assert diff.extra == (Privilege("column", db_a, "t1", "b", "UPDATE"),)


async def test_database_grant_does_not_cover_names_matching_the_pattern(
    adapter: MySQLAdapter, admin: ConnectionSettings, root: MySQLServer, cleanup: Cleanup
) -> None:
    base = unique("w")
    exact, lookalike, user = f"{base}_x", f"{base}Zx", f"{base}_u"
    for db in (exact, lookalike):
        cleanup(f"DROP DATABASE IF EXISTS `{db}`")
        await root.execute(f"CREATE DATABASE `{db}`")
        await root.execute(f"CREATE TABLE `{db}`.t (a INT)")
    cleanup(f"DROP USER IF EXISTS '{user}'@'127.0.0.1'")
    await adapter.create_account(user_spec(user, allowed_hosts=["127.0.0.1"]), password="pw", comment=None)
    entry = MySQLGrantEntry(L.DATABASE, ["SELECT"], database=exact)
    assert all(o.applied for o in await adapter.apply_grants(user, [entry]))
    assert await adapter.grant_drift(user, [entry]) == [], "the escaped pattern reads back as the name"
    server, connection = await login(admin, user, "pw")
    try:
        assert await query(connection, f"SELECT * FROM `{exact}`.t") == []
        assert await denied(connection, f"SELECT * FROM `{lookalike}`.t") == ACCESS_DENIED_TABLE
    finally:
        connection.close()
        await server.close()


async def test_invalid_entries_fail_before_any_sql(adapter: MySQLAdapter, grant_setup: tuple[str, str, str]) -> None:
    db_a, _, user = grant_setup
    entries = [
        MySQLGrantEntry(L.DATABASE, ["SELECT"], database=db_a),
        MySQLGrantEntry(L.TABLE, ["SUPER"], database=db_a, table="t1"),
    ]
    with pytest.raises(InvalidSpec) as info:
        await adapter.apply_grants(user, entries)
    assert info.value.field == "spec.mysql.grants[1].privileges[0]"
    [held] = (await adapter.observe_privileges(user)).values()
    assert held == frozenset(), "the valid first entry was not applied either"


async def test_failing_entries_do_not_stop_the_others(adapter: MySQLAdapter, grant_setup: tuple[str, str, str]) -> None:
    db_a, _, user = grant_setup
    entries = [
        MySQLGrantEntry(L.TABLE, ["SELECT"], database=db_a, table="no_such_table"),
        MySQLGrantEntry(L.TABLE, ["SELECT"], database=db_a, table="t2"),
    ]
    first, second = await adapter.apply_grants(user, entries)
    assert not first.applied and first.error is not None and first.error.startswith("1146")
    assert second.applied


# --------------------------------------------------------------------------------------------------------------------
# Roles (MariaDB)


async def test_native_roles_memberships_and_default_role(
    adapter: MySQLAdapter, admin: ConnectionSettings, grant_setup: tuple[str, str, str], cleanup: Cleanup
) -> None:
    db_a, db_b, user = grant_setup
    readers, writers = unique("r"), unique("r")
    cleanup(f"DROP ROLE IF EXISTS `{readers}`")
    cleanup(f"DROP ROLE IF EXISTS `{writers}`")
    assert await adapter.observe_role(readers) is None
    await adapter.create_role(readers)
    await adapter.create_role(writers)
    role = await adapter.observe_role(readers)
    assert role is not None and role.attributes["useNativeRoles"] is True and role.hosts == {""}
    assert await adapter.grantee_accounts(readers) == [Account(readers, None)], "a MariaDB role has no host part"
    assert await adapter.grantee_accounts(user) == [Account(user, "127.0.0.1")]
    read_a = MySQLGrantEntry(L.DATABASE, ["SELECT"], database=db_a)
    write_b = MySQLGrantEntry(L.TABLE, ["INSERT"], database=db_b, table="t")
    assert all(o.applied for o in await adapter.apply_grants(readers, [read_a]))
    assert all(o.applied for o in await adapter.apply_grants(writers, [write_b]))
    assert await adapter.grant_drift(readers, [read_a]) == []

    assert await adapter.grant_roles(user, [readers, writers]) == [readers, writers]
    assert await adapter.grant_roles(user, [readers, writers]) == [], "nothing new the second time"
    observed = await adapter.observe_account(user)
    assert observed is not None and observed.member_of == {readers, writers}
    assert observed.settings["defaultRoles"] == readers, "MariaDB: only the first role is active at login"

    server, connection = await login(admin, user, "pw")
    try:
        assert await query(connection, f"SELECT * FROM `{db_a}`.t1") == []
        assert await denied(connection, f"INSERT INTO `{db_b}`.t VALUES (1)") == ACCESS_DENIED_TABLE
        await query(connection, f"SET ROLE `{writers}`")
        await query(connection, f"INSERT INTO `{db_b}`.t VALUES (1)")
    finally:
        connection.close()
        await server.close()

    await adapter.revoke_roles(user, [readers])
    observed = await adapter.observe_account(user)
    assert observed is not None and observed.member_of == {writers}
    # MariaDB would keep the revoked role as the default (nothing active at login): the remaining one takes over.
    assert observed.settings["defaultRoles"] == writers
    server, connection = await login(admin, user, "pw")
    try:
        assert await query(connection, "SELECT CURRENT_ROLE()") == [(writers,)]
    finally:
        connection.close()
        await server.close()
    await adapter.drop_role(readers)
    assert await adapter.observe_role(readers) is None
    await adapter.drop_role(readers)  # missing is not an error

    # Dropping the default role itself leaves no stale default behind.
    await adapter.drop_role(writers)
    observed = await adapter.observe_account(user)
    assert observed is not None and observed.member_of == set() and observed.settings["defaultRoles"] == ""
    # A stale default left behind the operator's back (revoked by hand) is replaced when a role is granted again.
    await adapter.create_role(writers)
    await adapter.create_role(readers)
    await adapter.server.execute_all(  # by hand: the statements of a session of the admin account's
        [
            f"GRANT `{writers}` TO '{user}'@'127.0.0.1'",
            f"SET DEFAULT ROLE `{writers}` FOR '{user}'@'127.0.0.1'",
            f"REVOKE `{writers}` FROM '{user}'@'127.0.0.1'",
        ]
    )
    observed = await adapter.observe_account(user)
    assert observed is not None and observed.settings["defaultRoles"] == writers, "stale"
    await adapter.grant_roles(user, [readers])
    observed = await adapter.observe_account(user)
    assert observed is not None and observed.settings["defaultRoles"] == readers


async def test_stand_in_role_is_a_locked_account(
    adapter: MySQLAdapter, admin: ConnectionSettings, cleanup: Cleanup
) -> None:
    name = unique("s")
    cleanup(f"DROP USER IF EXISTS '{name}'@'%'")
    await adapter.create_role(name, native=False)
    role = await adapter.observe_role(name)
    assert role is not None
    assert role.attributes == {"accountLocked": True, "useNativeRoles": False} and role.hosts == {"%"}
    assert await adapter.observe_account(name) is not None, "a stand-in is an account"
    with pytest.raises(ConnectionFailure):
        await login(admin, name, "")
    # MariaDB grants only native roles: membership in a stand-in is refused, naming the field, before any SQL.
    member = unique("m")
    cleanup(f"DROP USER IF EXISTS '{member}'@'%'")
    await adapter.create_account(user_spec(member), password="pw", comment=None)
    with pytest.raises(InvalidSpec) as refused:
        await adapter.grant_roles(member, [name], field="spec.mysql.roles")
    assert refused.value.field == "spec.mysql.roles[0]" and "native roles" in str(refused.value)
    with pytest.raises(MySQLServerError, match="no role named"):
        await adapter.grant_roles(member, [unique("missing")], field="spec.mysql.roles")
    observed = await adapter.observe_account(member)
    assert observed is not None and observed.member_of == set()
    await adapter.drop_role(name, native=False)
    assert await adapter.observe_role(name) is None


# --------------------------------------------------------------------------------------------------------------------
# Hostile names and missing objects


HOSTILE = ["q`b't\\x", "é中'\"`", "a\\'; DROP DATABASE mysql; --", "%_x"]


@pytest.mark.parametrize("suffix", HOSTILE)
async def test_hostile_database_names_are_created_and_dropped_exactly(
    adapter: MySQLAdapter, root: MySQLServer, cleanup: Cleanup, suffix: str
) -> None:
    name = unique("h") + suffix
    cleanup("DROP DATABASE IF EXISTS `" + name.replace("`", "``") + "`")
    await adapter.create_database(database_spec(unique()).model_copy(update={"name": name}), owner=None, comment=None)
    rows = await root.fetch("SELECT SCHEMA_NAME AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'h\\_%'")
    assert name in [r["n"] for r in rows]
    observed = await adapter.observe_database(name)
    assert observed is not None and observed.name == name
    assert await root.fetch("SELECT SCHEMA_NAME AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'mysql'")
    await adapter.drop_database(name)
    assert await adapter.observe_database(name) is None


@pytest.mark.parametrize("suffix", HOSTILE)
async def test_hostile_account_and_role_names(
    adapter: MySQLAdapter, admin: ConnectionSettings, cleanup: Cleanup, suffix: str
) -> None:
    username, rolename = unique("u") + suffix, unique("r") + suffix
    quoted_user = username.replace("\\", "\\\\").replace("'", "''")
    quoted_role = rolename.replace("\\", "\\\\").replace("'", "''")
    cleanup(f"DROP USER IF EXISTS '{quoted_user}'@'127.0.0.1'")
    cleanup(f"DROP ROLE IF EXISTS '{quoted_role}'")
    spec = user_spec("placeholder", allowed_hosts=["127.0.0.1"]).model_copy(update={"username": username})
    await adapter.create_account(spec, password=suffix, comment=None)
    await adapter.create_role(rolename)
    await adapter.grant_roles(username, [rolename])
    observed = await adapter.observe_account(username)
    assert observed is not None and observed.hosts == {"127.0.0.1"} and observed.member_of == {rolename}
    server, connection = await login(admin, username, suffix)
    try:
        [(current,)] = await query(connection, "SELECT CURRENT_USER()")
        assert current == f"{username}@127.0.0.1"
        [(active,)] = await query(connection, "SELECT CURRENT_ROLE()")
        assert active == rolename
    finally:
        connection.close()
        await server.close()
    await adapter.drop_role(rolename)
    await adapter.drop_account(username)
    assert await adapter.observe_account(username) is None and await adapter.observe_role(rolename) is None


async def test_missing_objects_observe_as_none(adapter: MySQLAdapter) -> None:
    name = unique("missing")
    assert await adapter.observe_database(name) is None
    assert await adapter.observe_account(name) is None
    assert await adapter.observe_role(name) is None
    assert await adapter.grantee_accounts(name) == []
    assert await adapter.owned_objects(name) == []
    assert await adapter.read_tracking("Database", name) is None
    await adapter.drop_account(name)
    await adapter.drop_role(name)
    await adapter.drop_database(name)
    with pytest.raises(MySQLServerError, match="no account or role"):
        await adapter.apply_grants(name, [MySQLGrantEntry(L.GLOBAL, ["PROCESS"])])


# --------------------------------------------------------------------------------------------------------------------
# Drift read from the server, and its correction


async def test_account_and_grant_drift_detected_and_corrected(
    adapter: MySQLAdapter, root: MySQLServer, grant_setup: tuple[str, str, str], cleanup: Cleanup
) -> None:
    db_a, _, user = grant_setup
    cleanup(f"DROP USER IF EXISTS '{user}'@'10.9.%'")
    spec = user_spec(user, allowed_hosts=["127.0.0.1"])
    dialect = await adapter.server.detect()
    observed = await adapter.observe_account(user)
    assert observed is not None and account_drift(spec, observed, dialect) == []
    entries = [MySQLGrantEntry(L.TABLE, ["SELECT", "UPDATE"], database=db_a, table="t1")]
    await adapter.apply_grants(user, entries)

    # Behind the operator's back: an extra host, a changed limit, a revoked and an added privilege.
    await root.execute(f"CREATE USER '{user}'@'10.9.%' IDENTIFIED BY 'x'")
    await root.execute(f"ALTER USER '{user}'@'127.0.0.1' WITH MAX_UPDATES_PER_HOUR 9")
    await root.execute(f"REVOKE UPDATE ON `{db_a}`.t1 FROM '{user}'@'127.0.0.1'")
    await root.execute(f"GRANT DELETE ON `{db_a}`.t1 TO '{user}'@'127.0.0.1'")

    observed = await adapter.observe_account(user)
    assert observed is not None
    diffs = {d.field: d for d in account_drift(spec, observed, dialect)}
    assert set(diffs) == {"allowedHosts.extra", "maxUpdatesPerHour"}
    assert diffs["allowedHosts.extra"].actual == "10.9.%"
    [grant] = await adapter.grant_drift(user, entries)
    assert [d.field for d in privilege_drift([grant])] == [f"grants.{db_a}.t1.missing", f"grants.{db_a}.t1.extra"]

    await adapter.drop_hosts(user, ["10.9.%"])
    assert await adapter.apply_account(spec, await adapter.observe_account(user)) == ["spec.mysql.maxUpdatesPerHour"]  # type: ignore[arg-type]
    assert all(o.applied for o in await adapter.grant_privileges(user, grant.missing))
    assert all(o.applied for o in await adapter.revoke_privileges(user, grant.extra))
    observed = await adapter.observe_account(user)
    assert observed is not None and account_drift(spec, observed, dialect) == []
    assert await adapter.grant_drift(user, entries) == []


# --------------------------------------------------------------------------------------------------------------------
# The drift halves the controllers call (dbops.engines.mysql.drift), against the server


def grant_spec(grantee: str, *, roles: list[str] | None = None, **entry: Any) -> DatabaseGrantSpec:
    mysql: dict[str, Any] = {"grants": [entry]} if entry else {}
    if roles is not None:
        mysql["roles"] = roles
    return DatabaseGrantSpec.model_validate({"userRef": {"name": grantee}, "mysql": mysql})


async def test_database_drift_half_reads_schemata_and_corrects_with_alter_database(
    adapter: MySQLAdapter, root: MySQLServer, cleanup: Cleanup
) -> None:
    name = unique()
    cleanup(f"DROP DATABASE IF EXISTS `{name}`")
    spec = database_spec(name, charset="utf8mb4", collation="utf8mb4_bin")
    support = database_drift_support(adapter)
    assert isinstance(support, MySQLDatabaseDrift)
    assert await support.database_drift(spec, owner=None, names=None) == [], "no database: not drift"
    await adapter.create_database(spec, owner=None, comment=None)
    assert await support.database_drift(spec, owner=None, names=None) == []

    await root.execute(f"ALTER DATABASE `{name}` COLLATE utf8mb4_general_ci")
    [diff] = await support.database_drift(spec, owner=None, names=None)
    assert (diff.field, diff.expected, diff.actual, diff.destructive) == (
        "collation",
        "utf8mb4_bin",
        "utf8mb4_general_ci",
        False,
    )
    assert await support.correct_database_drift([diff]) == {}
    assert await support.database_drift(spec, owner=None, names=None) == []
    observed = await adapter.observe_database(name)
    assert observed is not None and observed.collation == "utf8mb4_bin"

    await root.execute(f"ALTER DATABASE `{name}` CHARACTER SET latin1")
    diffs = await support.database_drift(spec, owner=None, names=None)
    assert [d.field for d in diffs] == ["charset", "collation"]
    assert await support.correct_database_drift(diffs) == {}
    assert await support.database_drift(spec, owner=None, names=None) == []


async def test_access_drift_half_privileges_and_memberships_detected_and_corrected(
    adapter: MySQLAdapter, root: MySQLServer, grant_setup: tuple[str, str, str], cleanup: Cleanup
) -> None:
    db_a, db_b, user = grant_setup
    reader, stray = unique("r"), unique("r")
    for role in (reader, stray):
        cleanup(f"DROP ROLE IF EXISTS `{role}`")
        await adapter.create_role(role)
    support = drift_support(adapter)
    assert isinstance(support, MySQLAccessDrift)
    spec = grant_spec(
        user,
        roles=[reader],
        level="table",
        database=db_a,
        table="t1",
        privileges=["SELECT", "UPDATE"],
        withGrantOption=True,
    )
    assert (await adapter.apply_access(user, spec)).ok
    assert await support.access_drift(user, spec, DeclaredAccess()) == []

    # Behind the operator's back: a revoked privilege, an added one, a lost and an extra membership.
    await root.execute(f"REVOKE UPDATE ON `{db_a}`.t1 FROM '{user}'@'127.0.0.1'")
    await root.execute(f"GRANT DELETE ON `{db_a}`.t1 TO '{user}'@'127.0.0.1'")
    await root.execute(f"GRANT SELECT ON `{db_b}`.* TO '{user}'@'127.0.0.1'")  # a target this grant does not cover
    await adapter.server.execute(f"REVOKE `{reader}` FROM '{user}'@'127.0.0.1'")  # roles: as their admin
    await adapter.server.execute(f"GRANT `{stray}` TO '{user}'@'127.0.0.1'")
    diffs = await support.access_drift(user, spec, DeclaredAccess())
    assert [(d.field, d.expected, d.actual, d.destructive) for d in diffs] == [
        (f"grants.{db_a}.t1.extra", "GRANT OPTION, SELECT, UPDATE", "DELETE", True),
        (f"grants.{db_a}.t1.missing", "UPDATE", "DELETE, GRANT OPTION, SELECT", False),
        ("roles.extra", reader, stray, True),
        ("roles.missing", reader, stray, False),
    ]
    # Another resource declaring the membership and the privilege makes them not extra.
    declared = DeclaredAccess(memberships=frozenset({stray}))
    assert [d.field for d in await support.access_drift(user, spec, declared)] == [
        f"grants.{db_a}.t1.extra",
        f"grants.{db_a}.t1.missing",
        "roles.missing",
    ]

    assert await support.correct_drift(diffs) == {}
    assert await support.access_drift(user, spec, DeclaredAccess()) == []
    [held] = (await adapter.observe_privileges(user)).values()
    assert Privilege("table", db_a, "t1", "", "UPDATE") in held
    assert Privilege("table", db_a, "t1", "", "DELETE") not in held
    assert Privilege("database", db_b, "", "", "SELECT") in held, "targets outside the grant are left alone"
    observed = await adapter.observe_account(user)
    assert observed is not None and observed.member_of == {reader}
    assert observed.settings["defaultRoles"] == reader, "the restored membership is active at login again"


async def test_role_drift_half_native_and_stand_in_roles(
    adapter: MySQLAdapter, root: MySQLServer, grant_setup: tuple[str, str, str], cleanup: Cleanup
) -> None:
    db_a, _, _ = grant_setup
    support = drift_support(adapter)
    assert isinstance(support, MySQLAccessDrift)
    native, stand_in = unique("r"), unique("s")
    cleanup(f"DROP ROLE IF EXISTS `{native}`")
    cleanup(f"DROP USER IF EXISTS '{stand_in}'@'%'")
    for name, use_native, grantee in ((native, True, f"`{native}`"), (stand_in, False, f"'{stand_in}'@'%'")):
        spec = DatabaseRoleSpec.model_validate(
            {
                "instanceRef": {"name": "i"},
                "roleName": name,
                "mysql": {
                    "useNativeRoles": use_native,
                    "grants": [{"level": "database", "database": db_a, "privileges": ["SELECT", "INSERT"]}],
                },
            }
        )
        assert await support.role_drift(spec, DeclaredAccess()) == [], "no role yet: not drift"
        await adapter.create_managed_role(spec)
        assert await support.role_drift(spec, DeclaredAccess()) == []
        pattern = escape_db_pattern(db_a)  # database-level grants name LIKE patterns (the apply escapes them too)
        await root.execute(f"REVOKE INSERT ON `{pattern}`.* FROM {grantee}")
        await root.execute(f"GRANT DROP ON `{pattern}`.* TO {grantee}")
        diffs = await support.role_drift(spec, DeclaredAccess())
        assert [(d.field, d.actual, d.destructive) for d in diffs] == [
            (f"grants.{db_a}.*.extra", "DROP", True),
            (f"grants.{db_a}.*.missing", "DROP, SELECT", False),
        ], name
        # Detect-only corrections of the non-destructive half leave the extra in place.
        assert await support.correct_drift([d for d in diffs if not d.destructive]) == {}
        assert [d.field for d in await support.role_drift(spec, DeclaredAccess())] == [f"grants.{db_a}.*.extra"]
        assert await support.correct_drift(await support.role_drift(spec, DeclaredAccess())) == {}
        assert await support.role_drift(spec, DeclaredAccess()) == []


async def test_user_drift_half_hosts_limits_lock_ssl_and_roles(
    adapter: MySQLAdapter, root: MySQLServer, admin: ConnectionSettings, cleanup: Cleanup
) -> None:
    name, reader = unique("u"), unique("r")
    for host in ("127.0.0.1", "10.9.%", "localhost"):
        cleanup(f"DROP USER IF EXISTS '{name}'@'{host}'")
    cleanup(f"DROP ROLE IF EXISTS `{reader}`")
    await adapter.create_role(reader)
    spec = DatabaseUserSpec.model_validate(
        {
            "instanceRef": {"name": "i"},
            "username": name,
            "roles": [reader],
            "mysql": {"allowedHosts": ["127.0.0.1", "localhost"], "maxUserConnections": 3},
        }
    )
    support = user_drift_support(adapter)
    assert support is not None
    assert await support.user_drift(spec) == []
    await adapter.create_account(spec, password="pw-1", comment=None)
    assert await support.user_drift(spec) == []

    await root.execute(f"DROP USER '{name}'@'localhost'")
    await root.execute(f"CREATE USER '{name}'@'10.9.%' IDENTIFIED BY 'x'")
    await root.execute(f"ALTER USER '{name}'@'127.0.0.1' REQUIRE SSL WITH MAX_USER_CONNECTIONS 7 ACCOUNT LOCK")
    await adapter.server.execute(f"REVOKE `{reader}` FROM '{name}'@'127.0.0.1'")
    diffs = {d.field: d for d in await support.user_drift(spec)}
    assert set(diffs) == {
        "allowedHosts.missing",
        "allowedHosts.extra",
        "accountLocked",
        "maxUserConnections",
        "requireSSL",
        "roles.missing",
    }
    assert diffs["allowedHosts.extra"].destructive and diffs["allowedHosts.extra"].actual == "10.9.%"
    # The new host entry copies the stored mysql_native_password hash: no password needed.
    assert await support.correct_user_drift([d for d in diffs.values() if not d.destructive]) == {}
    assert [d.field for d in await support.user_drift(spec)] == ["allowedHosts.extra"]
    assert await support.correct_user_drift(await support.user_drift(spec)) == {}
    assert await support.user_drift(spec) == []
    server, connection = await login(admin, name, "pw-1")
    try:
        assert await query(connection, "SELECT CURRENT_ROLE()") == [(reader,)], "unlocked, no SSL, role active"
    finally:
        connection.close()
        await server.close()


# --------------------------------------------------------------------------------------------------------------------
# initSQL (dbops.engines.initsql.InitSQLRunner)


async def test_init_sql_runs_in_the_database_with_its_settings_and_counts_exactly(
    adapter: MySQLAdapter, cleanup: Cleanup
) -> None:
    name = unique()
    cleanup(f"DROP DATABASE IF EXISTS `{name}`")
    spec = database_spec(name, sql_mode="ANSI_QUOTES", default_storage_engine="Aria")
    await adapter.create_database(spec, owner=None, comment=None)
    assert isinstance(adapter, InitSQLRunner)
    statements = [
        'CREATE TABLE IF NOT EXISTS "t" (x INT)',
        "INSERT INTO t VALUES (1)",
        "SELECT COUNT(*) FROM t",
    ]
    assert await adapter.run_init_sql(spec, statements, role=None, sensitive=False) == InitSQLRun(executed=3)
    [row] = await adapter.server.fetch(
        "SELECT ENGINE AS e FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = 't'", (name,)
    )
    assert row["e"] == "Aria"

    run = await adapter.run_init_sql(
        spec,
        ["INSERT INTO t VALUES (2)", "INSERT INTO missing VALUES (1)", "INSERT INTO t VALUES (3)"],
        role=None,
        sensitive=False,
    )
    assert (run.executed, run.failed_at) == (1, 2)
    assert run.error is not None and run.error.startswith("1146:") and "missing" in run.error
    [count] = await adapter.server.fetch(f"SELECT COUNT(*) AS n FROM `{name}`.t")
    assert count["n"] == 2, "nothing after the failing statement ran"

    # Two statements in one piece are refused by the server (multi-statements off), not counted as one.
    run = await adapter.run_init_sql(spec, ["SELECT 1; SELECT 2"], role=None, sensitive=False)
    assert (run.executed, run.failed_at) == (0, 1)


async def test_init_sql_from_a_secret_redacts_the_failing_statements_literals(
    adapter: MySQLAdapter, cleanup: Cleanup
) -> None:
    name = unique()
    cleanup(f"DROP DATABASE IF EXISTS `{name}`")
    spec = database_spec(name)
    await adapter.create_database(spec, owner=None, comment=None)
    statement = "SELECT * FROM no_such_table_s3cr3t-token WHERE x = 's3cr3t-token'"
    plain = await adapter.run_init_sql(spec, [statement], role=None, sensitive=False)
    assert plain.error is not None and "s3cr3t-token" in plain.error
    run = await adapter.run_init_sql(spec, [statement], role=None, sensitive=True)
    assert run.failed_at == 1 and run.error is not None
    assert "s3cr3t-token" not in run.error


async def test_init_sql_on_a_missing_database_is_a_transient_error(adapter: MySQLAdapter) -> None:
    with pytest.raises(EngineError, match="cannot open a session"):
        await adapter.run_init_sql(database_spec(unique()), ["SELECT 1"], role=None, sensitive=False)
