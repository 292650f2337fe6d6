"""The apply plan of a PostgreSQL database: every statement built up front, only differing steps selected."""

from __future__ import annotations

import pytest

from dbops.api.database import DatabasePostgresConfig, DatabaseSpec, PostgresExtension, PostgresSchema
from dbops.api.grants import PostgresDefaultPrivilege
from dbops.engines.base import ObservedDatabase
from dbops.engines.errors import InvalidSpec
from dbops.engines.postgres.plan import plan_database

CONFIG = DatabasePostgresConfig(
    connection_limit=5,
    schemas=[PostgresSchema(name="s"), PostgresSchema(name="t", owner="t_owner")],
    extensions=[PostgresExtension(name="citext", version="1.6"), PostgresExtension(name="hstore")],
    default_privileges=[
        PostgresDefaultPrivilege(role="r", schema_="s", object_type="tables", privileges=["SELECT"]),
    ],
)
SPEC = DatabaseSpec.model_construct(name="app", postgres=CONFIG)
SAME = ObservedDatabase(
    name="app", owner="o", connection_limit=5, is_template=False, allow_connections=True, tablespace="pg_default"
)


def test_every_statement_is_built_with_its_field() -> None:
    plan = plan_database(SPEC, owner=None, admin="admin")
    assert plan.granted_by == "admin" and plan.owner is None
    assert plan.connection_limit.statement == 'ALTER DATABASE "app" WITH CONNECTION LIMIT 5'
    assert [(s.field, s.create, s.reown) for s in plan.schemas] == [
        ("spec.postgres.schemas[0]", 'CREATE SCHEMA IF NOT EXISTS "s" AUTHORIZATION "admin"', None),
        (
            "spec.postgres.schemas[1]",
            'CREATE SCHEMA IF NOT EXISTS "t" AUTHORIZATION "t_owner"',
            'ALTER SCHEMA "t" OWNER TO "t_owner"',
        ),
    ]
    assert [(e.field, e.update) for e in plan.extensions] == [
        ("spec.postgres.extensions[0]", "ALTER EXTENSION \"citext\" UPDATE TO '1.6'"),
        ("spec.postgres.extensions[1]", None),
    ]
    (grant,) = plan.default_privileges
    assert grant.field == "spec.postgres.defaultPrivileges[0]"
    assert grant.grant == ('ALTER DEFAULT PRIVILEGES FOR ROLE "admin" IN SCHEMA "s" GRANT SELECT ON TABLES TO "r"')
    assert plan.allow_connections.statement == 'ALTER DATABASE "app" WITH ALLOW_CONNECTIONS true'


def test_the_owner_is_the_default_for_schemas_and_default_privileges() -> None:
    plan = plan_database(SPEC, owner="o", admin="admin")
    assert plan.granted_by == "o" and plan.schemas[0].owner == "o"
    assert plan.owner is not None and plan.owner.statement == 'ALTER DATABASE "app" OWNER TO "o"'


def test_only_differing_server_settings_are_selected_in_order() -> None:
    plan = plan_database(SPEC, owner="o", admin="admin")
    assert plan.server_steps(SAME) == []
    other = ObservedDatabase(name="app", owner="x", connection_limit=-1, is_template=True, tablespace="fast")
    assert [s.field for s in plan.server_steps(other)] == [
        "spec.postgres.connectionLimit",
        "spec.postgres.isTemplate",
        "spec.postgres.tablespace",
        "spec.owner",
    ]
    assert plan_database(SPEC, owner=None, admin="admin").server_steps(other)[-1].field == "spec.postgres.tablespace"


def test_a_bad_value_fails_the_whole_plan() -> None:
    bad = DatabaseSpec.model_construct(
        name="app", postgres=CONFIG.model_copy(update={"schemas": [PostgresSchema(name="x" * 64)]})
    )
    with pytest.raises(InvalidSpec) as info:
        plan_database(bad, owner=None, admin="admin")
    assert info.value.field == "spec.postgres.schemas[0].name"
