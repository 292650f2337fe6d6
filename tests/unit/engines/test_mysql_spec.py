"""From API specs to MySQL builder parameters (dbops.engines.mysql.spec) and the adapter's synchronous reports."""

from __future__ import annotations

from typing import Any

import pytest

from dbops.api.database import DatabaseSpec
from dbops.api.grants import MySQLGrant
from dbops.api.user import DatabaseUserSpec, PasswordRotationConfig
from dbops.engines.base import ObservedAccount, ObservedDatabase
from dbops.engines.connection import ConnectionSettings, ServerInfo
from dbops.engines.errors import InvalidSpec
from dbops.engines.mysql.adapter import MySQLAdapter
from dbops.engines.mysql.grants import Privilege, PrivilegeDiff
from dbops.engines.mysql.spec import (
    account_drift,
    account_options,
    database_config,
    database_drift,
    desired_attributes,
    effective_plugin,
    grant_entries,
    hosts_of,
    privilege_drift,
    user_config,
    uses_dual_password,
)
from dbops.engines.mysql.sql import DEFAULT_MARIADB, DEFAULT_MYSQL, MySQLDialect, Require
from dbops.engines.sql.privileges import MySQLLevel


def user(**mysql: Any) -> DatabaseUserSpec:
    body: dict[str, Any] = {"instanceRef": {"name": "i"}, "username": "app"}
    if mysql:
        body["mysql"] = mysql
    return DatabaseUserSpec.model_validate(body)


def test_defaults_without_a_block() -> None:
    spec = user()
    assert user_config(spec).allowed_hosts == ["%"]
    assert (
        database_config(DatabaseSpec.model_validate({"instanceRef": {"name": "i"}, "name": "d"})).charset == "utf8mb4"
    )
    opts = account_options(user_config(spec))
    assert opts.auth_plugin == "caching_sha2_password" and opts.require is Require.NONE and not opts.locked


def test_account_options_map_every_field() -> None:
    config = user_config(
        user(
            maxQueriesPerHour=1,
            maxUpdatesPerHour=2,
            maxConnectionsPerHour=3,
            maxUserConnections=4,
            authPlugin="mysql_native_password",
            requireSSL=True,
            requireX509=True,
            accountLocked=True,
            failedLoginAttempts=5,
            passwordLockTime=6,
        )
    )
    opts = account_options(config, attribute="t")
    assert (opts.max_queries_per_hour, opts.max_updates_per_hour) == (1, 2)
    assert (opts.max_connections_per_hour, opts.max_user_connections) == (3, 4)
    assert opts.auth_plugin == "mysql_native_password" and opts.require is Require.X509 and opts.locked
    assert (opts.failed_login_attempts, opts.password_lock_time, opts.attribute) == (5, 6, "t")


def test_hosts_are_checked_and_deduplicated() -> None:
    assert hosts_of(user(allowedHosts=["%", "10.%", "%"]), DEFAULT_MYSQL) == ["%", "10.%"]
    with pytest.raises(InvalidSpec) as info:
        hosts_of(user(allowedHosts=[]), DEFAULT_MYSQL)
    assert info.value.field == "spec.mysql.allowedHosts"
    with pytest.raises(InvalidSpec) as info:
        hosts_of(user(allowedHosts=["%", "h" * 256]), DEFAULT_MYSQL)
    assert info.value.field == "spec.mysql.allowedHosts[1]"
    with pytest.raises(InvalidSpec):
        hosts_of(user(allowedHosts=["a\x00b"]), DEFAULT_MYSQL)


def test_effective_plugin_and_desired_attributes_per_server() -> None:
    assert effective_plugin("caching_sha2_password", DEFAULT_MARIADB) == "mysql_native_password"
    assert effective_plugin("caching_sha2_password", DEFAULT_MYSQL) == "caching_sha2_password"
    config = user_config(user(failedLoginAttempts=3))
    mysql = desired_attributes(config, DEFAULT_MYSQL)
    assert mysql["failedLoginAttempts"] == 3 and mysql["accountLocked"] is False
    mariadb = desired_attributes(config, DEFAULT_MARIADB)
    assert "failedLoginAttempts" not in mariadb and mariadb["authPlugin"] == "mysql_native_password"
    old = desired_attributes(config, MySQLDialect(version=(5, 7, 5)))
    assert "accountLocked" not in old


def test_dual_password_detection() -> None:
    spec = user()
    assert not uses_dual_password(spec)
    spec.password_rotation = PasswordRotationConfig(enabled=True, strategy="dual-password")
    assert uses_dual_password(spec)
    spec.password_rotation = PasswordRotationConfig(enabled=False, strategy="dual-password")
    assert not uses_dual_password(spec)


def test_grant_entries() -> None:
    grants = [
        MySQLGrant(level="column", database="d", table="t", columns=["a"], privileges=["SELECT"]),
        MySQLGrant(level="global", privileges=["PROCESS"], with_grant_option=True),
    ]
    column, glob = grant_entries(grants)
    assert column.level is MySQLLevel.COLUMN and column.columns == ("a",) and not column.with_grant_option
    assert glob.level is MySQLLevel.GLOBAL and glob.with_grant_option and glob.database is None
    assert grant_entries(None) == []


SETTINGS = ConnectionSettings(engine="mariadb", host="h", port=3306, username="admin", password="pw", database="mysql")


def test_adapter_reports_without_a_server() -> None:
    adapter = MySQLAdapter(SETTINGS)
    assert adapter.engine == "mariadb"
    spec = user(authPlugin="sha256_password")
    assert adapter.unsupported_user_fields(spec, None) == ["spec.mysql.authPlugin"]
    mysql8 = ServerInfo(version="8.0.36", flavour="mysql")
    assert adapter.unsupported_user_fields(spec, mysql8) == []
    assert adapter.unsupported_user_fields(user(failedLoginAttempts=2), ServerInfo("8.0.18", "mysql")) == [
        "spec.mysql.failedLoginAttempts"
    ]
    db = DatabaseSpec.model_validate({"instanceRef": {"name": "i"}, "name": "d", "owner": "o"})
    assert adapter.unsupported_database_fields(db, mysql8) == ["spec.owner"]


# --------------------------------------------------------------------------------------------------------------------
# Drift in api.md 4.4 terms


def test_database_drift_ignores_case() -> None:
    spec = DatabaseSpec.model_validate(
        {"instanceRef": {"name": "i"}, "name": "d", "mysql": {"charset": "latin1", "collation": "latin1_bin"}}
    )
    assert database_drift(spec, ObservedDatabase(name="d", charset="LATIN1", collation="latin1_bin")) == []
    [diff] = database_drift(spec, ObservedDatabase(name="d", charset="latin1", collation="latin1_swedish_ci"))
    assert (diff.field, diff.expected, diff.actual, diff.destructive) == (
        "collation",
        "latin1_bin",
        "latin1_swedish_ci",
        False,
    )


def test_account_drift_fields() -> None:
    spec = user(allowedHosts=["%", "10.%"], maxQueriesPerHour=5).model_copy(update={"roles": ["a", "b"]})
    expected = desired_attributes(user_config(spec), DEFAULT_MARIADB)
    observed = ObservedAccount(
        name="app",
        attributes={**expected, "maxQueriesPerHour": {"%": 5, "192.%": 0}, "accountLocked": True},
        member_of=frozenset({"a", "c", "from_grant"}),
        hosts=frozenset({"%", "192.%"}),
    )
    diffs = {d.field: d for d in account_drift(spec, observed, DEFAULT_MARIADB, declared_roles=["from_grant"])}
    assert set(diffs) == {
        "allowedHosts.missing",
        "allowedHosts.extra",
        "maxQueriesPerHour",
        "accountLocked",
        "roles.missing",
        "roles.extra",
    }
    assert diffs["allowedHosts.missing"].expected == "10.%" and not diffs["allowedHosts.missing"].destructive
    assert diffs["allowedHosts.extra"].actual == "192.%" and diffs["allowedHosts.extra"].destructive
    assert diffs["maxQueriesPerHour"].actual == "%=5,192.%=0" and diffs["maxQueriesPerHour"].expected == "5"
    assert (diffs["accountLocked"].expected, diffs["accountLocked"].actual) == ("false", "true")
    assert diffs["roles.missing"].expected == "b"
    assert diffs["roles.extra"].actual == "c" and diffs["roles.extra"].destructive
    clean = ObservedAccount(
        name="app", attributes=expected, member_of=frozenset({"a", "b"}), hosts=frozenset({"%", "10.%"})
    )
    assert account_drift(spec, clean, DEFAULT_MARIADB) == []


def test_privilege_drift_fields() -> None:
    missing = Privilege("database", "d", "", "", "SELECT")
    extra = Privilege("column", "d", "t", "c", "UPDATE")
    diffs = privilege_drift([PrivilegeDiff("grants.d.*", (missing,), ()), PrivilegeDiff("grants.d.t", (), (extra,))])
    assert [(d.field, d.expected, d.actual, d.destructive) for d in diffs] == [
        ("grants.d.*.missing", "SELECT", "", False),
        ("grants.d.t.extra", "", "UPDATE (c)", True),
    ]


def test_other_engine_blocks_and_secret_format_are_reported() -> None:
    adapter = MySQLAdapter(SETTINGS)
    spec = DatabaseUserSpec.model_validate(
        {
            "instanceRef": {"name": "i"},
            "username": "app",
            "postgres": {"login": True},
            "passwordSecret": {"secretName": "s", "format": "vault"},
        }
    )
    assert adapter.unsupported_user_fields(spec, None) == ["spec.passwordSecret.format", "spec.postgres"]
    db = DatabaseSpec.model_validate({"instanceRef": {"name": "i"}, "name": "d", "clickhouse": {"engine": "Atomic"}})
    assert adapter.unsupported_database_fields(db, None) == ["spec.clickhouse"]
