"""ClickHouse statement builders (engines.md 6), statement by statement, and hostile-input properties."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from dbops.engines.clickhouse import sql as ch
from dbops.engines.clickhouse.sql import ClickHouseGrantEntry
from dbops.engines.errors import InvalidSpec
from dbops.engines.sql.privileges import ClickHouseLevel
from dbops.engines.sql.redact import redact
from tests.unit.sql.lexers import clickhouse_token

L = ClickHouseLevel


def tokens(statement: str) -> tuple[list[str], list[str]]:
    """(quoted values, bare words and punctuation) of a ClickHouse statement, read with the reference lexer."""
    values: list[str] = []
    bare: list[str] = []
    i = 0
    while i < len(statement):
        c = statement[i]
        if c.isspace():
            i += 1
        elif c in "`'":
            value, end = clickhouse_token(statement[i:], c)
            values.append(value)
            i += end
        elif c.isalnum() or c == "_":
            j = i
            while j < len(statement) and (statement[j].isalnum() or statement[j] == "_"):
                j += 1
            bare.append(statement[i:j])
            i = j
        else:
            bare.append(c)
            i += 1
    return values, bare


# --------------------------------------------------------------------------------------------------------------------
# Databases


@pytest.mark.parametrize(
    ("value", "emitted"),
    [
        ("Atomic", "Atomic"),
        (" Ordinary ", "Ordinary"),
        ("Memory", "Memory"),
        ("Lazy(60)", "Lazy(60)"),
        ("Lazy( 0060 )", "Lazy(60)"),
        ("Replicated", "Replicated"),
        (
            "Replicated('/ch/{shard}/db', '{shard}', '{replica}')",
            "Replicated('/ch/{shard}/db', '{shard}', '{replica}')",
        ),
        ("Replicated('a\\'b','c\\\\d','e')", "Replicated('a\\'b', 'c\\\\d', 'e')"),
    ],
)
def test_database_engines_are_reemitted(value: str, emitted: str) -> None:
    assert ch.database_engine(value) == emitted


@pytest.mark.parametrize(
    "value",
    [
        "MySQL('host:3306', 'db', 'user', 'password')",
        "PostgreSQL('h', 'd', 'u', 'p')",
        "S3('https://bucket')",
        "Atomic()",
        "Lazy()",
        "Lazy('60')",
        "Lazy(1, 2)",
        "Lazy(1,)",
        "Replicated('a', 'b')",
        "Replicated(1, 2, 3)",
        "Atomic; DROP DATABASE x",
        "Lazy(60) SETTINGS x = 1",
        "",
    ],
)
def test_other_engines_are_refused(value: str) -> None:
    with pytest.raises(InvalidSpec) as info:
        ch.database_engine(value)
    assert info.value.field == "spec.clickhouse.engine"


def test_database_statements() -> None:
    assert ch.create_database("app") == "CREATE DATABASE IF NOT EXISTS `app`"
    assert ch.create_database("a`b", "Lazy(5)") == "CREATE DATABASE IF NOT EXISTS `a\\`b` ENGINE = Lazy(5)"
    assert ch.drop_database("app") == "DROP DATABASE IF EXISTS `app` SYNC"
    assert ch.kill_queries_in_database("o'k") == "KILL QUERY WHERE current_database = 'o\\'k' ASYNC"


# --------------------------------------------------------------------------------------------------------------------
# Users


@pytest.mark.parametrize(
    ("hosts", "clause"),
    [
        (None, "HOST ANY"),
        ([], "HOST ANY"),
        (["%"], "HOST ANY"),
        (["10.0.0.0/8", "::/0"], "HOST ANY"),
        (["localhost"], "HOST LOCAL"),
        (["10.0.0.0/8", "192.168.1.7", "fe80::1"], "HOST IP '10.0.0.0/8', IP '192.168.1.7', IP 'fe80::1'"),
        (["%.example.com", "app_host"], "HOST LIKE '%.example.com', LIKE 'app_host'"),
        (["db.example.com", "db.example.com"], "HOST NAME 'db.example.com'"),
    ],
)
def test_host_clause(hosts: list[str] | None, clause: str) -> None:
    assert ch.host_clause(hosts) == clause


def test_user_statements() -> None:
    assert ch.create_user("app", "p'w\\", hosts=["localhost"], default_database="db") == (
        "CREATE USER IF NOT EXISTS `app` IDENTIFIED WITH sha256_password BY 'p\\'w\\\\' HOST LOCAL "
        "DEFAULT DATABASE `db`"
    )
    assert ch.alter_user("app", hosts=None) == "ALTER USER `app` HOST ANY"
    assert ch.set_password("app", "x") == "ALTER USER `app` IDENTIFIED WITH sha256_password BY 'x'"
    assert ch.disable_user("app") == "ALTER USER `app` HOST NONE"
    assert ch.drop_user("app") == "DROP USER IF EXISTS `app`"
    assert "hunter2" not in redact(ch.create_user("app", "hunter2"))


def test_host_errors_name_the_entry() -> None:
    with pytest.raises(InvalidSpec) as info:
        ch.host_clause(["ok", "bad\x00"])
    assert info.value.field == "spec.clickhouse.allowedHosts[1]"


# --------------------------------------------------------------------------------------------------------------------
# Roles, memberships, grants


def test_role_statements() -> None:
    assert ch.create_role("r") == "CREATE ROLE IF NOT EXISTS `r`"
    assert ch.create_role("r", {"max_threads": "8", "readonly": "1", "load_balancing": "random"}) == (
        "CREATE ROLE IF NOT EXISTS `r` SETTINGS load_balancing = 'random', max_threads = 8, readonly = 1"
    )
    assert ch.alter_role_settings("r", {"max_memory_usage": "1.5"}) == "ALTER ROLE `r` SETTINGS max_memory_usage = 1.5"
    with pytest.raises(ValueError, match="at least one"):
        ch.alter_role_settings("r", {})
    with pytest.raises(InvalidSpec) as info:
        ch.create_role("r", {"max threads; DROP": "1"})
    assert info.value.field == "spec.clickhouse.settings.max threads; DROP"
    assert ch.drop_role("r") == "DROP ROLE IF EXISTS `r`"
    assert ch.grant_role("r", "u") == "GRANT `r` TO `u`"
    assert ch.revoke_role("r", "u") == "REVOKE `r` FROM `u`"
    assert ch.set_default_roles_all("u") == "SET DEFAULT ROLE ALL TO `u`"


def test_grants_at_every_level() -> None:
    assert ch.grant_entry(ClickHouseGrantEntry(L.GLOBAL, ["show databases"]), "u") == (
        "GRANT SHOW DATABASES ON *.* TO `u`"
    )
    assert ch.grant_entry(ClickHouseGrantEntry(L.DATABASE, ["SELECT", "INSERT"], database="d"), "u") == (
        "GRANT SELECT, INSERT ON `d`.* TO `u`"
    )
    entry = ClickHouseGrantEntry(L.TABLE, ["SELECT"], database="d", table="t", with_grant_option=True)
    assert ch.grant_entry(entry, "u") == "GRANT SELECT ON `d`.`t` TO `u` WITH GRANT OPTION"
    assert ch.revoke_entry(entry, "u") == "REVOKE SELECT ON `d`.`t` FROM `u`"


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        (ClickHouseGrantEntry(L.DATABASE, ["SELECT"]), "spec.clickhouse.grants[0].database"),
        (ClickHouseGrantEntry(L.TABLE, ["SELECT"], database="d"), "spec.clickhouse.grants[0].table"),
        (ClickHouseGrantEntry(L.GLOBAL, ["SELECT"], database="d"), "spec.clickhouse.grants[0].database"),
        (ClickHouseGrantEntry(L.DATABASE, ["SELECT"], database="d", table="t"), "spec.clickhouse.grants[0].table"),
        (ClickHouseGrantEntry(L.GLOBAL, ["SELECT", "GRANT"]), "spec.clickhouse.grants[0].privileges[1]"),
    ],
)
def test_grant_errors(entry: ClickHouseGrantEntry, field: str) -> None:
    with pytest.raises(InvalidSpec) as info:
        ch.grant_entry(entry, "u", field="spec.clickhouse.grants[0]")
    assert info.value.field == field


# --------------------------------------------------------------------------------------------------------------------
# Tracking and catalog


def test_tracking_statements() -> None:
    create = ch.create_metadata_table("default")
    assert create.startswith("CREATE TABLE IF NOT EXISTS `default`.`_dbops_metadata` (")
    assert "ReplacingMergeTree(version)" in create
    upsert = ch.upsert_tracking("default", "_dbops_metadata", "Database", "a'b", "t")
    values, _ = tokens(upsert)
    assert values[:5] == ["default", "_dbops_metadata", "Database", "a'b", "t"]
    assert "FINAL" in ch.select_tracking("default", "_dbops_metadata")
    assert ch.delete_tracking("d", "t", "Database", "x") == (
        "DELETE FROM `d`.`t` WHERE resource_type = 'Database' AND resource_name = 'x'"
    )


def test_catalog_queries_bind_values_on_the_server() -> None:
    for query in (ch.DATABASE, ch.USER, ch.ROLE, ch.ROLE_SETTINGS, ch.SETTING_EXISTS, ch.GRANTS, ch.ROLE_GRANTS):
        assert "{name:String}" in query and "'" not in query, "values are parameters, never literals"
    assert "system.parts" in ch.DATABASE_SIZES
    assert {"system", "default", "information_schema", "INFORMATION_SCHEMA"} == ch.EXCLUDED_DATABASES


# --------------------------------------------------------------------------------------------------------------------
# Properties

_NASTY = st.sampled_from(list("'\"`\\ \n;-/*#%_@é中{}"))
_ANY = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
NAME = st.text(st.one_of(_NASTY, _ANY), min_size=1, max_size=25)
TEXT = st.text(st.one_of(_NASTY, _ANY), max_size=25)


@given(NAME, TEXT, NAME)
@example("u`", "p'\\", "d\\`")
@example("\\", "\\'", "`;DROP USER x;--")
def test_user_statement_keeps_values_quoted(name: str, password: str, database: str) -> None:
    values, bare = tokens(ch.create_user(name, password, hosts=["db.example"], default_database=database))
    assert values == [name, password, "db.example", database]
    assert bare == [
        "CREATE", "USER", "IF", "NOT", "EXISTS", "IDENTIFIED", "WITH", "sha256_password", "BY", "HOST", "NAME",
        "DEFAULT", "DATABASE",
    ]  # fmt: skip


@given(NAME, NAME, NAME)
def test_grant_statement_keeps_names_quoted(database: str, table: str, grantee: str) -> None:
    statement = ch.grant_entry(ClickHouseGrantEntry(L.TABLE, ["SELECT"], database=database, table=table), grantee)
    values, bare = tokens(statement)
    assert values == [database, table, grantee]
    assert bare == ["GRANT", "SELECT", "ON", ".", "TO"]


@given(TEXT, TEXT, TEXT)
@example("'", "\\", "x')")
def test_replicated_arguments_are_requoted(path: str, shard: str, replica: str) -> None:
    quoted = ", ".join("'" + a.replace("\\", "\\\\").replace("'", "\\'") + "'" for a in (path, shard, replica))
    emitted = ch.database_engine(f"Replicated({quoted})")
    values, bare = tokens(emitted)
    assert values == [path, shard, replica]
    assert bare == ["Replicated", "(", ",", ",", ")"]
