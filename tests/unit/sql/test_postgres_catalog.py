"""Catalog queries (engines.md 2.4-2.7): bind parameters only, and the discovery exclusions."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from dbops.engines.postgres import catalog as cat

HELPERS: list[tuple[Callable[..., cat.CatalogQuery], tuple[str, ...]]] = [
    (cat.database_attributes, ("d",)),
    (cat.database_size, ("d",)),
    (cat.database_comment, ("d",)),
    (cat.role_attributes, ("r",)),
    (cat.account_state, ("r",)),
    (cat.role_settings, ("r",)),
    (cat.role_memberships, ("r",)),
    (cat.role_comment, ("r",)),
    (cat.database_privileges, ("g", "d")),
    (cat.schema_privileges, ("g",)),
    (cat.table_privileges, ("g", "s")),
    (cat.function_privileges, ("g", "s")),
    (cat.default_privileges, ("g",)),
    (cat.databases_with_dependencies, ("r",)),
    (cat.databases_owned_by, ("r",)),
    (cat.objects_owned_by, ("r",)),
    (cat.terminate_sessions, ("d",)),
]


@pytest.mark.parametrize(("helper", "args"), HELPERS, ids=[h.__name__ for h, _ in HELPERS])
def test_helpers_bind_every_value(helper: Callable[..., cat.CatalogQuery], args: tuple[str, ...]) -> None:
    hostile = tuple(f"x'); DROP ROLE {a}; --" for a in args)
    sql, params = helper(*hostile)
    assert params == hostile
    placeholders = {int(n) for n in re.findall(r"\$(\d+)", sql)}
    assert placeholders == set(range(1, len(params) + 1))
    for value in hostile:
        assert value not in sql


@pytest.mark.parametrize(
    "sql",
    [
        cat.SERVER_VERSION,
        cat.SERVER_VERSION_TEXT,
        cat.SERVER_VERSION_NUM,
        cat.PASSWORD_ENCRYPTION,
        cat.EXTENSIONS,
        cat.SCHEMAS,
        cat.LIST_DATABASES,
        cat.LIST_ROLES,
    ],
)
def test_parameterless_queries(sql: str) -> None:
    assert "$1" not in sql


def test_privilege_queries_count_only_direct_grants() -> None:
    for sql in (
        cat.DATABASE_PRIVILEGES,
        cat.SCHEMA_PRIVILEGES,
        cat.TABLE_PRIVILEGES,
        cat.FUNCTION_PRIVILEGES,
        cat.DEFAULT_PRIVILEGES,
    ):
        assert "aclexplode" in sql
        assert "JOIN pg_catalog.pg_roles g ON g.oid = a.grantee" in sql  # drops PUBLIC (grantee 0)
        assert "pg_auth_members" not in sql


def test_size_query_tolerates_missing_database() -> None:
    assert "FROM pg_catalog.pg_database d" in cat.DATABASE_SIZE
    assert "pg_database_size(d.oid)" in cat.DATABASE_SIZE


def test_terminate_spares_own_session() -> None:
    assert "pg_backend_pid()" in cat.TERMINATE_SESSIONS
    assert "pg_terminate_backend" in cat.TERMINATE_SESSIONS


@pytest.mark.parametrize(
    ("name", "is_template", "excluded"),
    [
        ("postgres", False, True),
        ("template0", False, True),
        ("template1", True, True),
        ("tmpl", True, True),
        ("app", False, False),
        ("defaultdb", False, False),
    ],
)
def test_excluded_databases(name: str, is_template: bool, excluded: bool) -> None:
    assert cat.is_excluded_database(name, is_template=is_template) is excluded


@pytest.mark.parametrize(
    ("name", "excluded"),
    [("system", True), ("defaultdb", True), ("postgres", True), ("app", False)],
)
def test_excluded_databases_cockroach(name: str, excluded: bool) -> None:
    assert cat.is_excluded_database(name, cockroach=True) is excluded


@pytest.mark.parametrize(
    ("name", "excluded"),
    [
        ("pg_monitor", True),
        ("postgres", True),
        ("rdsadmin", True),
        ("cloudsqlsuperuser", True),
        ("azure_pg_admin", True),
        ("alloydbadmin", True),
        ("dbops_admin", True),
        ("app", False),
        ("postgres_app", False),
        ("root", False),
    ],
)
def test_excluded_roles(name: str, excluded: bool) -> None:
    assert cat.is_excluded_role(name, admin="dbops_admin") is excluded


@pytest.mark.parametrize(
    ("name", "excluded"),
    [("root", True), ("admin", True), ("node", True), ("public", True), ("pg_x", False), ("app", False)],
)
def test_excluded_roles_cockroach(name: str, excluded: bool) -> None:
    assert cat.is_excluded_role(name, cockroach=True) is excluded


def test_cockroach_show_grants() -> None:
    assert cat.cockroach_show_grants_on_database("d", "u") == 'SHOW GRANTS ON DATABASE "d" FOR "u"'
    assert cat.cockroach_show_grants_on_schema("s", "u") == 'SHOW GRANTS ON SCHEMA "s" FOR "u"'
    assert cat.cockroach_show_grants_on_table("s", 't"x', "u") == 'SHOW GRANTS ON TABLE "s"."t""x" FOR "u"'
    assert cat.cockroach_show_grants_on_role("u") == 'SHOW GRANTS ON ROLE FOR "u"'


def test_account_state_reads_everything_in_one_query_for_one_role() -> None:
    sql, params = cat.account_state("app")
    assert params == ("app",) and sql.count("$1") == 1
    for part in ("pg_db_role_setting", "setdatabase = 0", "pg_auth_members", "shobj_description", "rolvaliduntil"):
        assert part in sql
