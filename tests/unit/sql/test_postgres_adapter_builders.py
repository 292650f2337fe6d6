"""Builders and catalog queries added for the PostgreSQL adapter: partial ALTER ROLE, list-parameter elements,
permission-safe sizes, dependency databases and the admin's role privileges.

The statements were also run against the local PostgreSQL 15 by tests/integration/engines/test_postgres_adapter.py.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from dbops.engines.errors import InvalidSpec
from dbops.engines.postgres import catalog as cat
from dbops.engines.postgres import sql as pg
from dbops.engines.postgres.sql import COCKROACHDB, INFINITY, RoleAttributes

ATTRS = RoleAttributes(
    login=False,
    superuser=False,
    create_db=True,
    create_role=False,
    inherit=False,
    replication=False,
    bypass_rls=True,
    connection_limit=3,
    valid_until=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
)


def test_alter_role_attributes_sends_only_the_named_attributes_in_clause_order() -> None:
    assert pg.alter_role_attributes("u", ATTRS, ["connection_limit", "login"]) == (
        'ALTER ROLE "u" WITH NOLOGIN CONNECTION LIMIT 3'
    )
    assert pg.alter_role_attributes("u", ATTRS, ["create_db", "valid_until"]) == (
        "ALTER ROLE \"u\" WITH CREATEDB VALID UNTIL '2030-01-02 03:04:05+00:00'"
    )
    assert "SUPERUSER" not in (pg.alter_role_attributes("u", ATTRS, ["inherit", "bypass_rls"]) or "")


def test_alter_role_attributes_with_every_field_equals_the_full_alter() -> None:
    assert pg.alter_role_attributes("u", ATTRS, pg.ROLE_ATTRIBUTE_FIELDS) == pg.alter_role("u", ATTRS)
    assert pg.alter_role_attributes("u", ATTRS, pg.ROLE_ATTRIBUTE_FIELDS, dialect=COCKROACHDB) == pg.alter_role(
        "u", ATTRS, dialect=COCKROACHDB
    )


def test_alter_role_attributes_without_clauses_is_none() -> None:
    assert pg.alter_role_attributes("u", ATTRS, []) is None
    assert pg.alter_role_attributes("u", ATTRS, ["superuser", "inherit"], dialect=COCKROACHDB) is None
    unmanaged = RoleAttributes(login=True, connection_limit=None, valid_until=None)
    assert pg.alter_role_attributes("u", unmanaged, ["connection_limit", "valid_until"]) is None
    assert pg.alter_role_attributes("u", RoleAttributes(login=True, valid_until=INFINITY), ["valid_until"]) == (
        "ALTER ROLE \"u\" WITH VALID UNTIL 'infinity'"
    )


def test_alter_role_attributes_checks_names_and_values() -> None:
    with pytest.raises(ValueError, match="unknown role attributes"):
        pg.alter_role_attributes("u", ATTRS, ["password"])
    with pytest.raises(InvalidSpec) as info:
        pg.alter_role_attributes('x"' * 32, ATTRS, ["login"])
    assert info.value.field == "spec.username"
    with pytest.raises(InvalidSpec) as info:
        pg.alter_role_attributes("u", RoleAttributes(login=True, connection_limit=-5), ["connection_limit"])
    assert info.value.field == "spec.postgres.connectionLimit"
    assert pg.alter_role_attributes('we"ird', ATTRS, ["login"]) == 'ALTER ROLE "we""ird" WITH NOLOGIN'


@pytest.mark.parametrize(
    ("value", "elements"),
    [
        ('"$user", public', ["$user", "public"]),
        ("$user,public", ["$user", "public"]),
        ('"a""b", c', ['a"b', "c"]),
        ("", []),
    ],
)
def test_list_parameter_elements(value: str, elements: list[str]) -> None:
    assert pg.list_parameter_elements(value) == elements


def test_list_parameter_elements_read_back_what_set_role_parameter_sends() -> None:
    statement = pg.set_role_parameter("u", "search_path", '"$user", public')
    assert statement.endswith("TO '$user', 'public'")


@pytest.mark.parametrize(
    ("helper", "sql"),
    [
        (cat.database_size_permitted, cat.DATABASE_SIZE_PERMITTED),
        (cat.role_dependency_databases, cat.ROLE_DEPENDENCY_DATABASES),
        (cat.has_privileges_of_role, cat.HAS_PRIVILEGES_OF_ROLE),
    ],
)
def test_new_catalog_helpers_bind_their_value(helper: object, sql: str) -> None:
    hostile = "x'); DROP ROLE y; --"
    assert callable(helper)
    text, params = helper(hostile)
    assert text == sql and params == (hostile,) and hostile not in text
    assert set(re.findall(r"\$\d+", text)) == {"$1"}


def test_sizes_never_fail_on_a_database_the_admin_may_not_read() -> None:
    for query in (cat.DATABASE_SIZES, cat.DATABASE_SIZE_PERMITTED):
        assert "has_database_privilege(d.oid, 'CONNECT')" in query and "pg_read_all_stats" in query
    assert "$1" not in cat.DATABASE_SIZES and "$1" not in cat.PING
