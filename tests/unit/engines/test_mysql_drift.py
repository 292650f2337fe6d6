"""MySQL/MariaDB drift, pure parts (dbops.engines.mysql.drift): differences in api.md 4.4 terms, their flags and the
corrections they carry, and the registration for both engine names."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from dbops.api.database import DatabaseSpec
from dbops.api.grants import MySQLGrant
from dbops.api.user import DatabaseUserSpec
from dbops.engines.access import DeclaredAccess, drift_support
from dbops.engines.base import ObservedAccount, ObservedDatabase, database_drift_support, user_drift_support
from dbops.engines.clickhouse.adapter import ClickHouseAdapter
from dbops.engines.connection import ConnectionSettings
from dbops.engines.initsql import InitSQLRunner
from dbops.engines.mysql.adapter import MySQLAdapter
from dbops.engines.mysql.drift import (
    Action,
    MySQLAccessDrift,
    MySQLDatabaseDrift,
    MySQLFix,
    MySQLUserDrift,
    _declared_mysql,
    account_differences,
    database_differences,
    declared_privileges,
    membership_differences,
    privilege_differences,
)
from dbops.engines.mysql.grants import GRANT_OPTION, Privilege
from dbops.engines.mysql.sql import DEFAULT_MARIADB, Account
from dbops.engines.postgres.adapter import PostgresAdapter


def settings(engine: str) -> ConnectionSettings:
    return ConnectionSettings(engine=engine, host="127.0.0.1", port=1, username="admin", password="pw", database="d")


def grant(**fields: Any) -> MySQLGrant:
    return MySQLGrant.model_validate(fields)


def table(privilege: str, db: str = "app", name: str = "t") -> Privilege:
    return Privilege("table", db, name, "", privilege)


def test_both_engine_names_get_every_half_and_other_engines_none() -> None:
    for engine in ("mysql", "mariadb"):
        adapter = MySQLAdapter(settings(engine))
        assert isinstance(drift_support(adapter), MySQLAccessDrift)
        assert isinstance(database_drift_support(adapter), MySQLDatabaseDrift)
        assert isinstance(user_drift_support(adapter), MySQLUserDrift)
    assert not isinstance(user_drift_support(PostgresAdapter(settings("postgres"))), MySQLUserDrift)
    assert not isinstance(drift_support(ClickHouseAdapter(settings("clickhouse"))), MySQLAccessDrift)


def test_database_charset_and_collation_share_one_alter_with_both_clauses() -> None:
    spec = DatabaseSpec.model_validate(
        {"instanceRef": {"name": "i"}, "name": "app_db", "mysql": {"charset": "utf8mb4", "collation": "utf8mb4_bin"}}
    )
    assert database_differences(spec, ObservedDatabase(name="app_db", charset="UTF8MB4", collation="utf8mb4_BIN")) == []
    diffs = database_differences(spec, ObservedDatabase(name="app_db", charset="latin1", collation="latin1_swedish_ci"))
    assert [(d.field, d.expected, d.actual, d.destructive, d.immutable) for d in diffs] == [
        ("charset", "utf8mb4", "latin1", False, False),
        ("collation", "utf8mb4_bin", "latin1_swedish_ci", False, False),
    ]
    assert (
        diffs[0].fix
        == diffs[1].fix
        == MySQLFix(
            Action.STATEMENTS, statements=("ALTER DATABASE `app_db` CHARACTER SET = 'utf8mb4' COLLATE = 'utf8mb4_bin'",)
        )
    )
    [only] = database_differences(
        spec, ObservedDatabase(name="app_db", charset="utf8mb4", collation="utf8mb4_general_ci")
    )
    assert only.field == "collation"


def test_declared_privileges_expand_all_and_the_grant_option_and_skip_invalid_entries() -> None:
    entries = [
        ("a[0]", grant(level="table", database="app", table="t", privileges=["SELECT"], withGrantOption=True)),
        ("a[1]", grant(level="column", database="app", table="t", columns=["c"], privileges=["UPDATE"])),
        ("a[2]", grant(level="global", database="app", privileges=["SELECT"])),  # invalid: database at global level
    ]
    assert declared_privileges(entries) == {
        table("SELECT"),
        table(GRANT_OPTION),
        Privilege("column", "app", "t", "c", "UPDATE"),
    }


def test_privileges_missing_on_any_host_and_extras_only_beyond_everything_declared() -> None:
    own = frozenset({table("SELECT"), table("INSERT")})
    other = frozenset({table("DELETE"), Privilege("database", "other", "", "", "SELECT")})
    held = {
        Account("u", "10.0.0.1"): frozenset({table("SELECT"), table("INSERT"), table("DELETE"), table("UPDATE")}),
        Account("u", "%"): frozenset({table("SELECT"), Privilege("database", "elsewhere", "", "", "DROP")}),
    }
    diffs = privilege_differences("u", own, own | other, held)
    assert [(d.field, d.expected, d.actual, d.destructive) for d in diffs] == [
        ("grants.app.t.missing", "INSERT", "DELETE, INSERT, SELECT, UPDATE", False),
        ("grants.app.t.extra", "DELETE, INSERT, SELECT", "UPDATE", True),
    ]
    # Each fix names exactly the tuples concerned; corrections address every account of the grantee.
    assert diffs[0].fix == MySQLFix(Action.GRANT_PRIVILEGES, "u", privileges=(table("INSERT"),))
    assert diffs[1].fix == MySQLFix(Action.REVOKE_PRIVILEGES, "u", privileges=(table("UPDATE"),))
    # Targets the resource does not cover are never looked at (the DROP on `elsewhere`, another resource's DELETE).
    assert privilege_differences("u", own, own, {Account("u", "%"): own}) == []


def test_global_routine_and_column_targets_use_the_api_field_names() -> None:
    own = frozenset(
        {
            Privilege("global", "", "", "", "PROCESS"),
            Privilege("procedure", "app", "p", "", "EXECUTE"),
            Privilege("column", "app", "t", "c", "SELECT"),
        }
    )
    diffs = privilege_differences("r", own, own, {Account("r", None): frozenset()})
    assert [(d.field, d.expected, d.actual) for d in diffs] == [
        ("grants.*.*.missing", "PROCESS", "none"),
        ("grants.app.p.missing", "EXECUTE ON PROCEDURE", "none"),
        ("grants.app.t.missing", "SELECT (c)", "none"),
    ]


def test_memberships_missing_on_some_host_and_extras_relative_to_declared() -> None:
    held = {"%": frozenset({"reader", "stray", "from_other"}), "10.%": frozenset({"stray"})}
    diffs = membership_differences("u", ["reader", "writer"], {"from_other"}, held, ["%", "10.%"])
    assert [(d.field, d.expected, d.actual, d.destructive) for d in diffs] == [
        ("roles.missing", "reader, writer", "from_other, reader, stray", False),
        ("roles.extra", "from_other, reader, writer", "stray", True),
    ]
    assert diffs[0].fix == MySQLFix(Action.GRANT_ROLES, "u", names=("reader", "writer"))
    assert diffs[1].fix == MySQLFix(Action.REVOKE_ROLES, "u", names=("stray",))
    assert membership_differences("u", ["reader"], (), {"": frozenset({"reader"})}, [""]) == []


def user(**mysql: Any) -> DatabaseUserSpec:
    return DatabaseUserSpec.model_validate(
        {"instanceRef": {"name": "i"}, "username": "app", "roles": ["reader"], "mysql": mysql}
    )


def observed(**attributes: Any) -> ObservedAccount:
    base: dict[str, object] = {
        "authPlugin": "mysql_native_password",
        "requireSSL": False,
        "requireX509": False,
        "maxQueriesPerHour": 0,
        "maxUpdatesPerHour": 0,
        "maxConnectionsPerHour": 0,
        "maxUserConnections": 0,
        "accountLocked": False,
    }
    hosts = attributes.pop("hosts", frozenset({"%"}))
    member_of = attributes.pop("member_of", frozenset({"reader"}))
    return ObservedAccount(name="app", attributes={**base, **attributes}, member_of=member_of, hosts=hosts)


def test_account_differences_carry_one_alter_user_per_host_and_host_and_role_fixes() -> None:
    spec = user(allowedHosts=["%", "10.%"], maxUserConnections=5, requireSSL=True)
    current = observed(hosts=frozenset({"%", "192.168.%"}), member_of=frozenset({"reader", "granted", "stray"}))
    diffs = {d.field: d for d in account_differences(spec, current, DEFAULT_MARIADB, declared_roles=["granted"])}
    assert set(diffs) == {
        "allowedHosts.missing",
        "allowedHosts.extra",
        "maxUserConnections",
        "requireSSL",
        "roles.extra",
    }
    assert [diffs[f].destructive for f in ("allowedHosts.extra", "roles.extra")] == [True, True]
    assert not diffs["maxUserConnections"].destructive and not diffs["requireSSL"].destructive
    assert (diffs["maxUserConnections"].expected, diffs["maxUserConnections"].actual) == ("5", "0")
    alter = diffs["maxUserConnections"].fix
    assert alter is diffs["requireSSL"].fix or alter == diffs["requireSSL"].fix, "one ALTER USER corrects all"
    assert alter.action is Action.STATEMENTS
    assert [s.split(" REQUIRE")[0] for s in alter.statements] == [
        "ALTER USER 'app'@'%'",
        "ALTER USER 'app'@'192.168.%'",
    ]
    assert all("REQUIRE SSL" in s and "MAX_USER_CONNECTIONS 5" in s for s in alter.statements)
    assert diffs["allowedHosts.missing"].fix.names == ("10.%",)
    assert diffs["allowedHosts.missing"].fix.roles == ("reader",), "a new host entry gets the user's roles"
    assert diffs["allowedHosts.extra"].fix == MySQLFix(Action.DROP_HOSTS, "app", names=("192.168.%",))
    assert diffs["roles.extra"].fix == MySQLFix(Action.REVOKE_ROLES, "app", names=("stray",))


def test_account_in_line_has_no_differences_and_a_lost_role_is_missing() -> None:
    assert account_differences(user(), observed(), DEFAULT_MARIADB) == []
    [diff] = account_differences(user(), observed(member_of=frozenset()), DEFAULT_MARIADB)
    assert diff.field == "roles.missing" and diff.fix == MySQLFix(Action.GRANT_ROLES, "app", names=("reader",))


def test_a_locked_account_is_corrected_by_alter_user_and_unknown_plugins_are_not_fixable() -> None:
    [locked] = account_differences(user(), observed(accountLocked=True), DEFAULT_MARIADB)
    assert (locked.field, locked.expected, locked.actual) == ("accountLocked", "false", "true")
    assert locked.fix.statements == (
        "ALTER USER 'app'@'%' REQUIRE NONE WITH MAX_QUERIES_PER_HOUR 0 "
        "MAX_UPDATES_PER_HOUR 0 MAX_CONNECTIONS_PER_HOUR 0 MAX_USER_CONNECTIONS 0 "
        "ACCOUNT UNLOCK",
    )
    [plugin] = account_differences(user(), observed(authPlugin="ed25519"), DEFAULT_MARIADB)
    assert plugin.field == "authPlugin" and plugin.fix.action is Action.SET_PLUGIN and plugin.fix.error is None
    assert plugin.fix.plugin == "mysql_native_password"


def test_mysql_entries_declared_by_other_resources_count_when_the_controllers_pass_them() -> None:
    assert _declared_mysql(DeclaredAccess()) == [], "this build's DeclaredAccess has PostgreSQL entries only"
    other = grant(level="table", database="app", table="t", privileges=["DELETE"])
    declared = SimpleNamespace(memberships=frozenset(), mysql_grants=(other,))
    assert _declared_mysql(declared) == [("declared[0]", other)]  # type: ignore[arg-type]
    allowed = declared_privileges(_declared_mysql(declared))  # type: ignore[arg-type]
    own = frozenset({table("SELECT")})
    held = {Account("u", "%"): frozenset({table("SELECT"), table("DELETE")})}
    assert privilege_differences("u", own, own | allowed, held) == []
    assert [d.field for d in privilege_differences("u", own, own, held)] == ["grants.app.t.extra"]


def test_the_adapter_runs_init_sql_so_the_option_is_supported() -> None:
    assert isinstance(MySQLAdapter(settings("mariadb")), InitSQLRunner)
    assert isinstance(MySQLAdapter(settings("mysql")), InitSQLRunner)
