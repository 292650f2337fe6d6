"""MySQL-family catalog queries (engines.md 4.5, 4.6, 4.8) and the parsers that turn their rows into spec terms."""

from __future__ import annotations

import json
import re

import pytest

from dbops.engines.mysql import catalog as c
from dbops.engines.mysql.grants import GRANT_OPTION, LEVEL_ALL, MySQLGrantEntry, Privilege, expand_entry
from dbops.engines.mysql.sql import DEFAULT_MARIADB, DEFAULT_MYSQL, Account, MySQLDialect, Require
from dbops.engines.sql.privileges import MySQLLevel

MARIADB_103 = MySQLDialect(flavour=DEFAULT_MARIADB.flavour, version=(10, 3, 0))
MYSQL_57 = MySQLDialect(version=(5, 7, 44))


def _queries() -> list[str]:
    out = [v for v in vars(c).values() if isinstance(v, str) and v.lstrip().upper().startswith("SELECT")]
    for dialect in (DEFAULT_MYSQL, DEFAULT_MARIADB, MARIADB_103, MYSQL_57):
        out += [
            c.account_rows("u", dialect)[0],
            c.memberships("u", dialect)[0],
            c.default_roles("u", dialect)[0],
        ]
        holders = c.default_role_holders("r", dialect)
        out += [holders[0]] if holders else []
    return [*out, c.global_privileges_query(), c.owned_objects("u")[0]]


@pytest.mark.parametrize("query", _queries())
def test_parameterised_queries_have_no_literal_percent(query: str) -> None:
    """aiomysql interpolates ``%s`` on the client: any other ``%`` would break the query or change its meaning."""
    assert re.sub(r"%s", "", query).count("%") == 0
    assert ";" not in query


def test_account_rows_per_server() -> None:
    sql, params = c.account_rows("app", DEFAULT_MYSQL)
    assert params == ("app",)
    assert "account_locked AS account_locked" in sql and "User_attributes AS attributes" in sql
    sql, _ = c.account_rows("app", MYSQL_57)
    assert "NULL AS attributes" in sql
    sql, _ = c.account_rows("app", DEFAULT_MARIADB)
    assert "mysql.global_priv" in sql and "JSON_VALUE(g.Priv, '$.account_locked')" in sql and "u.is_role" in sql
    sql, _ = c.account_rows("app", MARIADB_103)
    assert "global_priv" not in sql and "NULL AS account_locked" in sql


def _row(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "host": "%",
        "plugin": "caching_sha2_password",
        "ssl_type": "",
        "max_questions": 0,
        "max_updates": 0,
        "max_connections": 0,
        "max_user_connections": 0,
        "account_locked": "N",
        "no_password": 0,
        "attributes": None,
        "is_role": "N",
    }
    row.update(overrides)
    return row


def test_parse_mysql_account_row() -> None:
    attributes = json.dumps(
        {
            "Password_locking": {"failed_login_attempts": 3, "password_lock_time_days": -1},
            "metadata": {"dbops": "managed-by:x"},
        }
    )
    row = c.parse_account_row(
        _row(ssl_type="ANY", max_questions=5, max_user_connections=2, account_locked="Y", attributes=attributes)
    )
    assert row.require is Require.SSL and row.locked and row.tracking == "managed-by:x"
    assert row.failed_login_attempts == 3 and row.password_lock_time == 0  # UNBOUNDED reads as the spec's 0
    assert row.attributes() == {
        "authPlugin": "caching_sha2_password",
        "requireSSL": True,
        "requireX509": False,
        "maxQueriesPerHour": 5,
        "maxUpdatesPerHour": 0,
        "maxConnectionsPerHour": 0,
        "maxUserConnections": 2,
        "accountLocked": True,
        "failedLoginAttempts": 3,
        "passwordLockTime": 0,
    }


def test_parse_mariadb_account_rows() -> None:
    assert c.parse_account_row(_row(account_locked="1")).locked
    assert c.parse_account_row(_row(account_locked="true")).locked
    assert not c.parse_account_row(_row(account_locked=None)).locked
    role = c.parse_account_row(_row(host="", plugin="", is_role="Y", no_password=1))
    assert role.is_role and role.no_password


@pytest.mark.parametrize(("ssl_type", "require"), [("", Require.NONE), ("ANY", Require.SSL), ("X509", Require.X509)])
def test_ssl_types(ssl_type: str, require: Require) -> None:
    assert c.parse_account_row(_row(ssl_type=ssl_type)).require is require


def test_specified_tls_requirement_reads_as_x509_and_bad_json_is_ignored() -> None:
    row = c.parse_account_row(_row(ssl_type="SPECIFIED", attributes="{not json"))
    assert row.require is Require.X509 and row.tracking is None


def test_memberships_and_default_roles() -> None:
    sql, params = c.memberships("app", DEFAULT_MYSQL)
    assert "mysql.role_edges" in sql and params == ("app",)
    sql, _ = c.memberships("app", DEFAULT_MARIADB)
    assert "mysql.roles_mapping" in sql
    rows = [{"host": "%", "role": "a"}, {"host": "%", "role": "b"}, {"host": "10.%", "role": "a"}]
    assert c.parse_memberships(rows) == {"%": {"a", "b"}, "10.%": {"a"}}
    assert "mysql.default_roles" in c.default_roles("app", DEFAULT_MYSQL)[0]
    assert "default_role" in c.default_roles("app", DEFAULT_MARIADB)[0]
    assert c.parse_default_roles([{"host": "%", "role": ""}, {"host": "h", "role": "r"}]) == {"%": set(), "h": {"r"}}


def test_default_role_holders_only_on_mariadb() -> None:
    """MariaDB keeps a revoked or dropped role in `mysql.user.default_role`; MySQL has no single login role."""
    query = c.default_role_holders("reader", DEFAULT_MARIADB)
    assert query is not None
    sql, params = query
    assert "default_role = %s" in sql and "is_role = 'N'" in sql and params == ("reader",)
    assert c.default_role_holders("reader", DEFAULT_MYSQL) is None
    assert c.default_role_holders("reader", MYSQL_57) is None


def P(level: str, db: str, name: str, privilege: str, column: str = "") -> Privilege:
    return Privilege(level, db, name, column, privilege)


def test_global_privileges_from_user_columns() -> None:
    row = {column: "N" for column in c.PRIVILEGE_COLUMNS}
    row.update(Select_priv="Y", Grant_priv="Y", Super_priv="Y")
    assert c.global_privileges([row]) == {
        P("global", "", "", "SELECT"),
        P("global", "", "", GRANT_OPTION),
        P("global", "", "", "SUPER"),
    }
    all_row = {column: "Y" for column in c.PRIVILEGE_COLUMNS}
    assert c.global_privileges([all_row]) == expand_entry(MySQLGrantEntry(MySQLLevel.GLOBAL, ["ALL"], None)) | {
        P("global", "", "", GRANT_OPTION)
    }


def test_database_privileges_unescape_patterns() -> None:
    row = {"Db": "a\\_b", "Select_priv": "Y", "Insert_priv": "N", "Grant_priv": "Y", "Delete_history_priv": "Y"}
    assert c.database_privileges([row]) == {P("database", "a_b", "", "SELECT"), P("database", "a_b", "", GRANT_OPTION)}
    assert c.database_privileges([row], escaped=False) == {
        P("database", "a\\_b", "", "SELECT"),
        P("database", "a\\_b", "", GRANT_OPTION),
    }
    assert "Delete_history_priv" not in c.DATABASE_PRIVILEGES and "Super_priv" not in c.DATABASE_PRIVILEGES


def test_database_all_round_trips_through_the_columns() -> None:
    row = {"Db": "d", **{column: "Y" for column in c.PRIVILEGE_COLUMNS if column in c.DATABASE_PRIVILEGES}}
    expected = expand_entry(MySQLGrantEntry(MySQLLevel.DATABASE, ["ALL"], database="d", with_grant_option=True))
    assert c.database_privileges([row]) == expected
    assert {p.privilege for p in expected} == LEVEL_ALL[MySQLLevel.DATABASE] | {GRANT_OPTION}


def test_table_column_and_routine_privileges() -> None:
    tables = [
        {"Db": "d", "Table_name": "t", "Table_priv": "Select,Show view,Grant,Delete versioning rows"},
        {"Db": "d", "Table_name": "u", "Table_priv": ""},
    ]
    assert c.table_privileges(tables) == {
        P("table", "d", "t", "SELECT"),
        P("table", "d", "t", "SHOW VIEW"),
        P("table", "d", "t", GRANT_OPTION),
    }
    columns = [{"Db": "d", "Table_name": "t", "Column_name": "a", "Column_priv": {"Select", "Update"}}]
    assert c.column_privileges(columns) == {P("column", "d", "t", "SELECT", "a"), P("column", "d", "t", "UPDATE", "a")}
    routines = [
        {"Db": "d", "Routine_name": "p", "Routine_type": "PROCEDURE", "Proc_priv": "Execute,Alter Routine"},
        {"Db": "d", "Routine_name": "f", "Routine_type": "FUNCTION", "Proc_priv": "Grant"},
    ]
    assert c.routine_privileges(routines) == {
        P("procedure", "d", "p", "EXECUTE"),
        P("procedure", "d", "p", "ALTER ROUTINE"),
        P("function", "d", "f", GRANT_OPTION),
    }


def test_grant_table_params() -> None:
    assert c.grant_table_params(Account("u", "%")) == ("u", "%")
    assert c.grant_table_params(Account("r", None)) == ("r", "")


def test_owned_objects_query() -> None:
    sql, params = c.owned_objects("a_b%\\")
    assert params == ("a\\_b\\%\\\\@%",) * 4
    for table in ("VIEWS", "ROUTINES", "TRIGGERS", "EVENTS"):
        assert f"information_schema.{table}" in sql
    assert c.definer_user("app@%") == "app"
    assert c.definer_user("a@b@localhost") == "a@b"


def test_discovery_exclusions() -> None:
    assert all(c.is_excluded_database(d) for d in ("mysql", "sys", "information_schema", "performance_schema"))
    assert not c.is_excluded_database("app")
    for name in ("root", "mysql.sys", "mariadb.sys", "debian-sys-maint", "PUBLIC", "admin"):
        assert c.is_excluded_account(name, admin="admin")
    assert not c.is_excluded_account("app", admin="admin")
