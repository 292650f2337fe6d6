"""Privilege allow-lists and object-type tables (engines.md 2.3, 4.4, 6.4)."""

from __future__ import annotations

import pytest

from dbops.engines.errors import InvalidSpec
from dbops.engines.sql.privileges import (
    CLICKHOUSE_PRIVILEGES,
    MYSQL_PRIVILEGE_LEVELS,
    MYSQL_PRIVILEGES,
    PG_DEFAULT_ACL_OBJTYPE,
    PG_DEFAULT_OBJECT_KEYWORD,
    PG_DEFAULT_PRIVILEGES,
    PG_PRIVILEGES,
    PG_TABLE_PRIVILEGES,
    ClickHouseLevel,
    MySQLLevel,
    PgDefaultObjectType,
    clickhouse_privileges,
    mysql_privileges,
    normalise_privilege,
    pg_canonical,
    pg_privileges,
    pg_privileges_for,
)


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("select", "SELECT"),
        ("  Select ", "SELECT"),
        ("all   privileges", "ALL PRIVILEGES"),
        ("\tlock\ntables", "LOCK TABLES"),
    ],
)
def test_normalise(raw: str, normal: str) -> None:
    assert normalise_privilege(raw) == normal


def test_list_sizes_match_the_spec() -> None:
    assert len(PG_PRIVILEGES) == 15
    assert len(MYSQL_PRIVILEGES) == 32
    assert len(CLICKHOUSE_PRIVILEGES) == 28


def test_pg_canonical_names_and_dedup() -> None:
    assert pg_privileges([" temp", "TEMPORARY", "connect", "all privileges"], "p") == ("TEMPORARY", "CONNECT", "ALL")
    assert pg_canonical("Temp") == "TEMPORARY"
    assert pg_canonical("select") == "SELECT"


@pytest.mark.parametrize("bad", ["DROP", "SUPERUSER", "SELECT;", "select, insert", "", "MAINTAIN"])
def test_pg_rejects_unknown_with_item_path(bad: str) -> None:
    with pytest.raises(InvalidSpec) as info:
        pg_privileges(["SELECT", bad], "spec.postgres.grants[0].privileges")
    assert info.value.field == "spec.postgres.grants[0].privileges[1]"


def test_pg_rejects_empty_list_and_bare_string() -> None:
    with pytest.raises(InvalidSpec, match="at least one"):
        pg_privileges([], "p")
    with pytest.raises(TypeError):
        pg_privileges("SELECT", "p")


def test_pg_privileges_for_level() -> None:
    assert pg_privileges_for(["select", "insert"], PG_TABLE_PRIVILEGES, "p", "table") == ("SELECT", "INSERT")
    assert pg_privileges_for(["select", "all"], PG_TABLE_PRIVILEGES, "p", "table") == ("ALL",)
    with pytest.raises(InvalidSpec, match="does not exist at table level") as info:
        pg_privileges_for(["select", "execute"], PG_TABLE_PRIVILEGES, "p", "table")
    assert info.value.field == "p[1]"


def test_pg_default_privilege_tables() -> None:
    assert PG_DEFAULT_OBJECT_KEYWORD[PgDefaultObjectType.SEQUENCES] == "SEQUENCES"
    assert PG_DEFAULT_ACL_OBJTYPE == {
        PgDefaultObjectType.TABLES: "r",
        PgDefaultObjectType.SEQUENCES: "S",
        PgDefaultObjectType.FUNCTIONS: "f",
        PgDefaultObjectType.TYPES: "T",
    }
    assert "EXECUTE" in PG_DEFAULT_PRIVILEGES[PgDefaultObjectType.FUNCTIONS]
    assert "SELECT" not in PG_DEFAULT_PRIVILEGES[PgDefaultObjectType.FUNCTIONS]
    assert PG_DEFAULT_PRIVILEGES[PgDefaultObjectType.TYPES] == frozenset({"USAGE", "ALL"})


@pytest.mark.parametrize(
    ("privilege", "ok_levels"),
    [
        ("SUPER", {MySQLLevel.GLOBAL}),
        ("REPLICATION SLAVE", {MySQLLevel.GLOBAL}),
        ("LOCK TABLES", {MySQLLevel.GLOBAL, MySQLLevel.DATABASE}),
        ("EXECUTE", {MySQLLevel.GLOBAL, MySQLLevel.DATABASE, MySQLLevel.PROCEDURE, MySQLLevel.FUNCTION}),
        ("SHOW VIEW", {MySQLLevel.GLOBAL, MySQLLevel.DATABASE, MySQLLevel.TABLE}),
        ("SELECT", {MySQLLevel.GLOBAL, MySQLLevel.DATABASE, MySQLLevel.TABLE, MySQLLevel.COLUMN}),
        ("USAGE", set(MySQLLevel) - {MySQLLevel.COLUMN}),
        ("ALL PRIVILEGES", set(MySQLLevel) - {MySQLLevel.COLUMN}),
    ],
)
def test_mysql_levels(privilege: str, ok_levels: set[MySQLLevel]) -> None:
    for level in MySQLLevel:
        if level in ok_levels:
            assert mysql_privileges([privilege.lower()], level, "p") == (privilege,)
        else:
            with pytest.raises(InvalidSpec, match=f"at {level} level"):
                mysql_privileges([privilege], level, "p")


def test_mysql_every_privilege_has_levels() -> None:
    assert all(MYSQL_PRIVILEGE_LEVELS[p] for p in MYSQL_PRIVILEGES)


def test_mysql_unknown() -> None:
    with pytest.raises(InvalidSpec, match="MySQL allow-list") as info:
        mysql_privileges(["SELECT", "ROLE_ADMIN"], MySQLLevel.GLOBAL, "spec.mysql.grants[2].privileges")
    assert info.value.field == "spec.mysql.grants[2].privileges[1]"


def test_clickhouse() -> None:
    assert clickhouse_privileges(["select", " kill  query ", "SELECT"], "p") == ("SELECT", "KILL QUERY")
    with pytest.raises(InvalidSpec, match="ClickHouse allow-list") as info:
        clickhouse_privileges(["ALL PRIVILEGES"], "p")
    assert info.value.field == "p[0]"
    assert {lv.value for lv in ClickHouseLevel} == {"global", "database", "table"}
