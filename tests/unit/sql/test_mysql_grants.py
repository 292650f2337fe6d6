"""MySQL-family GRANT / REVOKE at every level (engines.md 4.4) and the privilege model used for drift."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from dbops.engines.errors import InvalidSpec
from dbops.engines.mysql.grants import (
    GRANT_OPTION,
    LEVEL_ALL,
    MySQLGrantEntry,
    Privilege,
    entry_for,
    escape_db_pattern,
    expand_entry,
    grant_entry,
    plan_grant,
    privilege_diff,
    revoke_entry,
    unescape_db_pattern,
)
from dbops.engines.mysql.sql import DEFAULT_MARIADB, DEFAULT_MYSQL, Account, MySQLDialect, role_account
from dbops.engines.sql.privileges import MySQLLevel
from tests.unit.sql.mysql_lexer import bare, quoted

L = MySQLLevel
APP = [Account("app", "%"), Account("app", "10.0.0.%")]
NO_ESCAPE = MySQLDialect(escape_db_wildcards=False)


def test_global() -> None:
    entry = MySQLGrantEntry(L.GLOBAL, ["process", "show  databases"])
    assert grant_entry(entry, APP[:1]) == ["GRANT PROCESS, SHOW DATABASES ON *.* TO 'app'@'%'"]


def test_database_escapes_wildcards() -> None:
    entry = MySQLGrantEntry(L.DATABASE, ["SELECT", "INSERT"], database="app_db%\\")
    assert grant_entry(entry, APP) == [
        "GRANT SELECT, INSERT ON `app\\_db\\%\\\\`.* TO 'app'@'%'",
        "GRANT SELECT, INSERT ON `app\\_db\\%\\\\`.* TO 'app'@'10.0.0.%'",
    ]
    assert grant_entry(entry, APP[:1], NO_ESCAPE) == ["GRANT SELECT, INSERT ON `app_db%\\`.* TO 'app'@'%'"]


def test_wildcard_escaping_round_trips() -> None:
    for name in ("app_db", "a%b", "back\\slash", "plain", "\\_"):
        assert unescape_db_pattern(escape_db_pattern(name)) == name
    assert unescape_db_pattern("a_b") == "a_b"  # an unescaped pattern written by someone else stays as it is


def test_table_level() -> None:
    entry = MySQLGrantEntry(L.TABLE, ["SELECT", "DELETE"], database="app_db", table="t`1", with_grant_option=True)
    assert grant_entry(entry, APP[:1]) == ["GRANT SELECT, DELETE ON `app_db`.`t``1` TO 'app'@'%' WITH GRANT OPTION"]


def test_column_level_lists_columns_per_privilege() -> None:
    entry = MySQLGrantEntry(L.COLUMN, ["SELECT", "UPDATE"], database="d", table="t", columns=["a", "b`", "a"])
    assert grant_entry(entry, APP[:1]) == ["GRANT SELECT (`a`, `b```), UPDATE (`a`, `b```) ON `d`.`t` TO 'app'@'%'"]


def test_routines() -> None:
    proc = MySQLGrantEntry(L.PROCEDURE, ["EXECUTE"], database="d", procedure="p")
    func = MySQLGrantEntry(L.FUNCTION, ["EXECUTE", "ALTER ROUTINE"], database="d", function="f")
    assert grant_entry(proc, APP[:1]) == ["GRANT EXECUTE ON PROCEDURE `d`.`p` TO 'app'@'%'"]
    assert grant_entry(func, APP[:1]) == ["GRANT EXECUTE, ALTER ROUTINE ON FUNCTION `d`.`f` TO 'app'@'%'"]


def test_grantee_roles() -> None:
    entry = MySQLGrantEntry(L.DATABASE, ["SELECT"], database="d")
    assert grant_entry(entry, [role_account("r")]) == ["GRANT SELECT ON `d`.* TO 'r'@'%'"]
    mariadb_role = role_account("r", DEFAULT_MARIADB)
    assert grant_entry(entry, [mariadb_role], DEFAULT_MARIADB) == ["GRANT SELECT ON `d`.* TO 'r'"]


def test_privilege_normalisation() -> None:
    assert plan_grant(MySQLGrantEntry(L.DATABASE, ["ALL PRIVILEGES", "SELECT"], database="d")).privileges == ("ALL",)
    plan = plan_grant(MySQLGrantEntry(L.DATABASE, ["SELECT", "GRANT OPTION"], database="d"))
    assert plan.privileges == ("SELECT",) and plan.with_grant_option
    plan = plan_grant(MySQLGrantEntry(L.DATABASE, ["GRANT OPTION"], database="d"))
    assert plan.privileges == ("USAGE",) and plan.with_grant_option
    assert plan_grant(MySQLGrantEntry(L.DATABASE, ["USAGE", "SELECT"], database="d")).privileges == ("SELECT",)
    assert plan_grant(MySQLGrantEntry(L.GLOBAL, ["USAGE"])).privileges == ("USAGE",)


@pytest.mark.parametrize(
    ("entry", "field", "message"),
    [
        (MySQLGrantEntry(L.DATABASE, ["SELECT"]), "spec.mysql.grants[1].database", "required"),
        (MySQLGrantEntry(L.TABLE, ["SELECT"], database="d"), "spec.mysql.grants[1].table", "required"),
        (MySQLGrantEntry(L.COLUMN, ["SELECT"], database="d", table="t"), "spec.mysql.grants[1].columns", "required"),
        (MySQLGrantEntry(L.PROCEDURE, ["EXECUTE"], database="d"), "spec.mysql.grants[1].procedure", "required"),
        (MySQLGrantEntry(L.FUNCTION, ["EXECUTE"], database="d"), "spec.mysql.grants[1].function", "required"),
        (MySQLGrantEntry(L.DATABASE, ["SELECT"], database="d", table="t"), "spec.mysql.grants[1].table", "not used"),
        (MySQLGrantEntry(L.GLOBAL, ["SELECT"], database="d"), "spec.mysql.grants[1].database", "not used"),
        (MySQLGrantEntry(L.GLOBAL, ["SELECT", "DROP TABLE"]), "spec.mysql.grants[1].privileges[1]", "allow-list"),
        (MySQLGrantEntry(L.DATABASE, ["SUPER"], database="d"), "spec.mysql.grants[1].privileges[0]", "database level"),
        (
            MySQLGrantEntry(L.COLUMN, ["DELETE"], database="d", table="t", columns=["c"]),
            "spec.mysql.grants[1].privileges[0]",
            "column level",
        ),
        (
            MySQLGrantEntry(L.PROCEDURE, ["SELECT"], database="d", procedure="p"),
            "spec.mysql.grants[1].privileges[0]",
            "procedure level",
        ),
        (MySQLGrantEntry(L.DATABASE, ["SELECT"], database="d" * 65), "spec.mysql.grants[1].database", "longer"),
    ],
)
def test_entry_errors_name_the_field(entry: MySQLGrantEntry, field: str, message: str) -> None:
    with pytest.raises(InvalidSpec, match=message) as info:
        plan_grant(entry, field="spec.mysql.grants[1]")
    assert info.value.field == field


def test_escaped_pattern_may_exceed_the_name_limit() -> None:
    name = "_" * 64
    assert grant_entry(MySQLGrantEntry(L.DATABASE, ["SELECT"], database=name), APP[:1])


def test_revoke_mirrors_the_grant() -> None:
    entry = MySQLGrantEntry(L.TABLE, ["SELECT", "INSERT"], database="d", table="t", with_grant_option=True)
    assert revoke_entry(entry, APP) == [
        "REVOKE SELECT, INSERT, GRANT OPTION ON `d`.`t` FROM 'app'@'%'",
        "REVOKE SELECT, INSERT, GRANT OPTION ON `d`.`t` FROM 'app'@'10.0.0.%'",
    ]
    col = MySQLGrantEntry(L.COLUMN, ["SELECT"], database="d", table="t", columns=["c"])
    assert revoke_entry(col, APP[:1]) == ["REVOKE SELECT (`c`) ON `d`.`t` FROM 'app'@'%'"]
    assert revoke_entry(MySQLGrantEntry(L.DATABASE, ["ALL"], database="a_b"), APP[:1]) == [
        "REVOKE ALL ON `a\\_b`.* FROM 'app'@'%'"
    ]


def test_revoke_of_usage() -> None:
    assert revoke_entry(MySQLGrantEntry(L.GLOBAL, ["USAGE"]), APP[:1]) == []
    assert revoke_entry(MySQLGrantEntry(L.GLOBAL, ["USAGE"], with_grant_option=True), APP[:1]) == [
        "REVOKE GRANT OPTION ON *.* FROM 'app'@'%'"
    ]


# --------------------------------------------------------------------------------------------------------------------
# Drift model


def P(level: str, db: str, name: str, privilege: str, column: str = "") -> Privilege:
    return Privilege(level, db, name, column, privilege)


def test_expand_all_per_level() -> None:
    expanded = expand_entry(MySQLGrantEntry(L.DATABASE, ["ALL"], database="d"))
    assert {p.privilege for p in expanded} == LEVEL_ALL[L.DATABASE]
    assert "SUPER" not in LEVEL_ALL[L.DATABASE] and "EVENT" in LEVEL_ALL[L.DATABASE]
    assert LEVEL_ALL[L.TABLE] >= {"SELECT", "TRIGGER", "SHOW VIEW"} and "EXECUTE" not in LEVEL_ALL[L.TABLE]
    assert LEVEL_ALL[L.PROCEDURE] == {"EXECUTE", "ALTER ROUTINE"}
    assert GRANT_OPTION not in LEVEL_ALL[L.GLOBAL] and "USAGE" not in LEVEL_ALL[L.GLOBAL]


def test_expand_grant_option_and_columns() -> None:
    entry = MySQLGrantEntry(L.COLUMN, ["SELECT"], database="d", table="t", columns=["a", "b"], with_grant_option=True)
    assert expand_entry(entry) == {
        P("column", "d", "t", "SELECT", "a"),
        P("column", "d", "t", "SELECT", "b"),
        P("table", "d", "t", GRANT_OPTION),
    }
    assert expand_entry(MySQLGrantEntry(L.GLOBAL, ["USAGE"])) == frozenset()
    assert expand_entry(MySQLGrantEntry(L.FUNCTION, ["EXECUTE"], database="d", function="f")) == {
        P("function", "d", "f", "EXECUTE")
    }


def test_target_keys_and_descriptions() -> None:
    assert P("global", "", "", "SELECT").target_key == "*.*"
    assert P("database", "d", "", "SELECT").target_key == "d.*"
    assert P("column", "d", "t", "SELECT", "c").target_key == "d.t"
    assert P("column", "d", "t", "SELECT", "c").describe() == "SELECT (c)"
    assert P("procedure", "d", "p", "EXECUTE").describe() == "EXECUTE ON PROCEDURE"


def test_privilege_diff_only_looks_for_extras_on_covered_targets() -> None:
    desired = expand_entry(MySQLGrantEntry(L.DATABASE, ["SELECT", "INSERT"], database="d"))
    actual = {P("database", "d", "", "SELECT"), P("database", "d", "", "DELETE"), P("database", "other", "", "DROP")}
    [diff] = privilege_diff(desired, actual)
    assert diff.field == "grants.d.*"
    assert diff.missing == (P("database", "d", "", "INSERT"),)
    assert diff.extra == (P("database", "d", "", "DELETE"),)
    assert privilege_diff(desired, desired) == []


# --------------------------------------------------------------------------------------------------------------------
# Properties

_NASTY = st.sampled_from(list("'\"`\\ \n;-/*#%_@é中"))
_BMP = st.characters(exclude_categories=["Cs"], exclude_characters="\x00", max_codepoint=0xFFFF)
NAME = st.text(st.one_of(_NASTY, _BMP), min_size=1, max_size=20).filter(lambda s: not s.endswith(" "))
HOST = st.text(st.one_of(_NASTY, _BMP), max_size=20)


@given(NAME, NAME, NAME, NAME, HOST)
@example("d`", "t'", "c\\", "u'", "%'")
@example("a_b%", "`;--", "*/", "\\'", "\\")
def test_grant_statements_keep_every_name_quoted(db: str, table: str, column: str, user: str, host: str) -> None:
    account = Account(user, host)
    entry = MySQLGrantEntry(L.COLUMN, ["SELECT", "UPDATE"], database=db, table=table, columns=[column])
    [sql] = grant_entry(entry, [account], DEFAULT_MYSQL)
    assert quoted(sql) == [column, column, db, table, user, host]
    assert bare(sql) == ["GRANT", "SELECT", "(", ")", ",", "UPDATE", "(", ")", "ON", ".", "TO", "@"]
    [sql] = grant_entry(MySQLGrantEntry(L.DATABASE, ["SELECT"], database=db), [account])
    assert quoted(sql) == [escape_db_pattern(db), user, host]
    assert bare(sql) == ["GRANT", "SELECT", "ON", ".", "*", "TO", "@"]
    [sql] = revoke_entry(MySQLGrantEntry(L.PROCEDURE, ["EXECUTE"], database=db, procedure=table), [account])
    assert quoted(sql) == [db, table, user, host]
    assert bare(sql) == ["REVOKE", "EXECUTE", "ON", "PROCEDURE", ".", "FROM", "@"]


@given(st.text(st.one_of(_NASTY, _BMP), max_size=30))
def test_db_pattern_escaping_is_invertible(name: str) -> None:
    assert unescape_db_pattern(escape_db_pattern(name)) == name


@pytest.mark.parametrize(
    ("privilege", "statement"),
    [
        (P("global", "", "", "PROCESS"), "GRANT PROCESS ON *.* TO 'app'@'%'"),
        (P("database", "a_b", "", "SELECT"), "GRANT SELECT ON `a\\_b`.* TO 'app'@'%'"),
        (P("table", "d", "t", GRANT_OPTION), "GRANT USAGE ON `d`.`t` TO 'app'@'%' WITH GRANT OPTION"),
        (P("column", "d", "t", "UPDATE", "c"), "GRANT UPDATE (`c`) ON `d`.`t` TO 'app'@'%'"),
        (P("procedure", "d", "p", "EXECUTE"), "GRANT EXECUTE ON PROCEDURE `d`.`p` TO 'app'@'%'"),
        (P("function", "d", "f", "ALTER ROUTINE"), "GRANT ALTER ROUTINE ON FUNCTION `d`.`f` TO 'app'@'%'"),
    ],
)
def test_entry_for_one_privilege_round_trips(privilege: Privilege, statement: str) -> None:
    entry = entry_for(privilege)
    assert grant_entry(entry, APP[:1]) == [statement]
    assert expand_entry(entry) == {privilege}
