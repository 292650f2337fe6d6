"""Database drift on PostgreSQL, pure part (api.md 4.4 Database row): which differences, with which flags and which
correcting statements, from a spec and catalog state given as values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from dbops.api.database import (
    DatabasePostgresConfig,
    DatabaseSpec,
    PostgresExtension,
    PostgresOwnershipConfig,
    PostgresSchema,
)
from dbops.api.grants import PostgresDefaultPrivilege
from dbops.engines.access import Difference
from dbops.engines.base import EngineError, ObservedDatabase
from dbops.engines.connection import ConnectionSettings
from dbops.engines.ownership import OwnershipNames
from dbops.engines.postgres.adapter import PostgresAdapter, PostgresDatabaseDrift
from dbops.engines.postgres.mapping import same_encoding, same_locale
from dbops.engines.postgres.plan import (
    ORDER_CONNECT,
    ORDER_DISCONNECT,
    ORDER_MEMBERSHIP,
    ORDER_PRIVILEGES,
    ORDER_ROLES,
    ORDER_SCHEMAS,
    ORDER_SERVER,
    DatabaseFix,
    OwnershipState,
    database_drift,
    missing_ownership_privileges,
    plan_ownership,
)

CONFIG = DatabasePostgresConfig(
    connection_limit=5,
    schemas=[PostgresSchema(name="s"), PostgresSchema(name="t", owner="t_owner")],
    extensions=[PostgresExtension(name="citext", version="1.6"), PostgresExtension(name="hstore")],
    default_privileges=[PostgresDefaultPrivilege(role="r", schema_="s", object_type="tables", privileges=["SELECT"])],
)
SPEC = DatabaseSpec.model_construct(name="app", postgres=CONFIG)
CONVERGED = ObservedDatabase(
    name="app",
    owner="o",
    encoding="UTF8",
    collation="C.UTF-8",
    ctype="C.UTF-8",
    connection_limit=5,
    is_template=False,
    allow_connections=True,
    tablespace="pg_default",
    extensions={"plpgsql": "1.0", "citext": "1.6", "hstore": "1.8"},
    schemas={"public": "pg_database_owner", "s": "o", "t": "t_owner"},
)


def drift(
    observed: ObservedDatabase, spec: DatabaseSpec = SPEC, owner: str | None = "o", **kw: Any
) -> list[Difference]:
    return database_drift(spec, observed, owner=owner, admin="admin", **kw)


def fix(diff: Difference) -> DatabaseFix:
    assert isinstance(diff.fix, DatabaseFix)
    return diff.fix


def test_a_converged_database_has_no_differences() -> None:
    assert drift(CONVERGED) == []
    # No owner declared: whoever owns it is fine (apply does not re-own either).
    assert drift(replace(CONVERGED, owner="someone"), owner=None) == []
    # Spellings the server canonicalises are the same setting.
    spec = DatabaseSpec.model_construct(
        name="app", postgres=CONFIG.model_copy(update={"encoding": "utf-8", "lc_collate": "C.utf8"})
    )
    assert drift(CONVERGED, spec) == []


def test_server_settings_one_diff_each_with_flags_and_statement() -> None:
    observed = replace(CONVERGED, owner="mallory", connection_limit=50, is_template=True, tablespace="fast")
    diffs = drift(observed)
    assert [d.status() for d in diffs] == [
        {"field": "connectionLimit", "expected": "5", "actual": "50", "destructive": False, "immutable": False},
        {"field": "isTemplate", "expected": "false", "actual": "true", "destructive": False, "immutable": False},
        {"field": "owner", "expected": "o", "actual": "mallory", "destructive": True, "immutable": False},
        {"field": "tablespace", "expected": "pg_default", "actual": "fast", "destructive": True, "immutable": False},
    ]
    by_field = {d.field: fix(d) for d in diffs}
    assert by_field["connectionLimit"].statements == ('ALTER DATABASE "app" WITH CONNECTION LIMIT 5',)
    assert by_field["isTemplate"].statements == ('ALTER DATABASE "app" WITH IS_TEMPLATE false',)
    assert by_field["owner"].statements == ('ALTER DATABASE "app" OWNER TO "o"',)
    # The admin acts for the current (drifted) owner and for the one it hands the database to.
    assert by_field["owner"].acting_for == ("mallory", "o")
    assert by_field["owner"].database is None and by_field["owner"].order == ORDER_SERVER
    move = by_field["tablespace"]
    assert move.statements == ('ALTER DATABASE "app" SET TABLESPACE "pg_default"',)
    assert move.close_before == "app" and move.long


def test_immutable_settings_are_reported_without_a_correction() -> None:
    spec = DatabaseSpec.model_construct(
        name="app", postgres=CONFIG.model_copy(update={"lc_collate": "en_US.UTF-8", "lc_ctype": "C.UTF-8"})
    )
    observed = replace(CONVERGED, encoding="LATIN1", collation="C", ctype="C.utf8")
    diffs = drift(observed, spec)
    assert [(d.field, d.expected, d.actual, d.immutable, d.destructive, d.fix) for d in diffs] == [
        ("encoding", "UTF8", "LATIN1", True, False, None),
        ("lcCollate", "en_US.UTF-8", "C", True, False, None),
    ]


def test_locale_fields_the_spec_leaves_out_and_the_template_are_not_compared() -> None:
    spec = DatabaseSpec.model_construct(name="app", postgres=CONFIG.model_copy(update={"template": "template1"}))
    assert drift(replace(CONVERGED, collation="de_DE.UTF-8", ctype="de_DE.UTF-8"), spec) == []


def test_an_absent_postgres_block_means_the_schema_defaults() -> None:
    spec = DatabaseSpec.model_construct(name="app", postgres=None)
    observed = replace(CONVERGED, connection_limit=3, is_template=True)
    assert [(d.field, d.expected, d.actual) for d in drift(observed, spec, owner=None)] == [
        ("connectionLimit", "-1", "3"),
        ("isTemplate", "false", "true"),
    ]


def test_allow_connections_both_ways_in_the_right_place_of_the_correction_order() -> None:
    (enable,) = drift(replace(CONVERGED, allow_connections=False, extensions={}, schemas={}))
    assert (enable.field, enable.expected, enable.actual) == ("allowConnections", "true", "false")
    assert fix(enable).order == ORDER_CONNECT and fix(enable).close_after is None
    # Nobody can look inside while connections are refused: no in-database diffs from the empty observation.
    refusing = DatabaseSpec.model_construct(name="app", postgres=CONFIG.model_copy(update={"allow_connections": False}))
    (disable,) = drift(CONVERGED, refusing)
    assert (disable.field, disable.expected, disable.actual) == ("allowConnections", "false", "true")
    assert fix(disable).order == ORDER_DISCONNECT and fix(disable).close_after == "app"
    assert fix(disable).statements == ('ALTER DATABASE "app" WITH ALLOW_CONNECTIONS false',)


def test_missing_schemas_and_extensions_and_a_version_change() -> None:
    observed = replace(
        CONVERGED,
        extensions={"plpgsql": "1.0", "citext": "1.5", "postgis": "3"},
        schemas={"public": "pg_database_owner", "extra": "x"},
    )
    diffs = {d.field: d for d in drift(observed)}
    assert sorted(diffs) == ["extensions.citext.version", "extensions.missing", "schemas.missing"]
    assert (diffs["schemas.missing"].expected, diffs["schemas.missing"].actual) == ("s, t", "extra, public")
    schemas = fix(diffs["schemas.missing"])
    assert schemas.statements == (
        'CREATE SCHEMA IF NOT EXISTS "s" AUTHORIZATION "o"',
        'CREATE SCHEMA IF NOT EXISTS "t" AUTHORIZATION "t_owner"',
    )
    assert schemas.database == "app" and schemas.acting_for == ("o", "t_owner") and schemas.order == ORDER_SCHEMAS
    assert diffs["extensions.missing"].expected == "hstore"
    assert diffs["extensions.missing"].actual == "citext, plpgsql, postgis"
    assert fix(diffs["extensions.missing"]).statements == (
        'CREATE EXTENSION IF NOT EXISTS "hstore" WITH SCHEMA "public"',
    )
    version = diffs["extensions.citext.version"]
    assert (version.expected, version.actual, version.destructive) == ("1.6", "1.5", False)
    assert fix(version).statements == ("ALTER EXTENSION \"citext\" UPDATE TO '1.6'",)
    # Extras (postgis, schema "extra") are not drift; schema owners and defaultPrivileges are not compared.
    assert not any(d.destructive for d in diffs.values())
    assert drift(replace(CONVERGED, schemas={**CONVERGED.schemas, "t": "someone"})) == []


def test_a_missing_extension_is_not_also_reported_by_version() -> None:
    observed = replace(CONVERGED, extensions={"hstore": "1.8"})
    assert [d.field for d in drift(observed)] == ["extensions.missing"]


NAMES = OwnershipNames("db_app_owner", "db_app_app")
AUTO = DatabaseSpec.model_construct(
    name="app", postgres=DatabasePostgresConfig(ownership=PostgresOwnershipConfig(auto_ownership=True))
)


def granted_both_ways(schemas: tuple[str, ...] = ("public",)) -> dict[str, list[dict[str, Any]]]:
    """DEFAULT_PRIVILEGES rows as the server reports them once the ownership model is complete."""
    rows: dict[str, list[dict[str, Any]]] = {NAMES.role: [], NAMES.user: []}
    for step in plan_ownership(NAMES, list(schemas)).privileges:
        for privilege in step.privileges:
            rows[step.grantee].append(
                {
                    "granted_by": step.granted_by,
                    "schema": step.schema,
                    "object_type": step.acl_code.encode(),  # asyncpg gives "char" columns as bytes
                    "privilege_type": privilege,
                }
            )
    return rows


def test_ownership_model_complete_has_no_differences() -> None:
    observed = replace(CONVERGED, owner=NAMES.role, extensions={}, schemas={"public": NAMES.role}, connection_limit=-1)
    state = OwnershipState(True, True, True, granted_both_ways())
    plan = plan_ownership(NAMES, [])
    assert database_drift(AUTO, observed, owner=NAMES.role, admin="admin", ownership=plan, state=state) == []


def test_ownership_model_lost_roles_membership_and_privileges() -> None:
    observed = replace(CONVERGED, owner=NAMES.role, extensions={}, schemas={"public": NAMES.role}, connection_limit=-1)
    held = granted_both_ways()
    held[NAMES.user] = [r for r in held[NAMES.user] if r["privilege_type"] != "DELETE"]
    plan = plan_ownership(NAMES, [])
    state = OwnershipState(False, False, False, held)
    diffs = {
        d.field: d for d in database_drift(AUTO, observed, owner=NAMES.role, admin="admin", ownership=plan, state=state)
    }
    assert sorted(diffs) == ["ownership.defaultPrivileges", "ownership.membership", "ownership.role", "ownership.user"]
    assert (diffs["ownership.role"].expected, diffs["ownership.role"].actual) == ("db_app_owner", "absent")
    assert fix(diffs["ownership.role"]).statements == (plan.create_role,)
    assert fix(diffs["ownership.user"]).statements == (plan.create_user,)
    assert fix(diffs["ownership.role"]).order == fix(diffs["ownership.user"]).order == ORDER_ROLES
    assert fix(diffs["ownership.membership"]).statements == ('GRANT "db_app_owner" TO "db_app_app"',)
    assert fix(diffs["ownership.membership"]).order == ORDER_MEMBERSHIP
    privileges = diffs["ownership.defaultPrivileges"]
    assert privileges.expected == "public.tables db_app_owner->db_app_app" and privileges.actual == "missing"
    assert fix(privileges).statements == (
        'ALTER DEFAULT PRIVILEGES FOR ROLE "db_app_owner" IN SCHEMA "public" '
        'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "db_app_app"',
    )
    assert fix(privileges).database == "app" and fix(privileges).order == ORDER_PRIVILEGES
    assert NAMES.role in fix(privileges).acting_for
    assert not any(d.destructive or d.immutable for d in diffs.values())


def test_ownership_privileges_are_not_compared_when_unreadable() -> None:
    observed = replace(CONVERGED, owner=NAMES.role, extensions={}, schemas={}, connection_limit=-1)
    plan = plan_ownership(NAMES, [])
    unreadable = OwnershipState(True, True, True, None)
    assert database_drift(AUTO, observed, owner=NAMES.role, admin="admin", ownership=plan, state=unreadable) == []
    refusing = replace(observed, allow_connections=False)
    state = OwnershipState(True, True, True, {})
    diffs = database_drift(AUTO, refusing, owner=NAMES.role, admin="admin", ownership=plan, state=state)
    assert [d.field for d in diffs] == ["allowConnections"]


def test_missing_ownership_privileges_needs_every_privilege_of_a_step() -> None:
    plan = plan_ownership(NAMES, ["s"])
    held = granted_both_ways(("public", "s"))
    assert missing_ownership_privileges(plan, held) == []
    assert len(missing_ownership_privileges(plan, {})) == len(plan.privileges)
    wrong_schema = {g: [{**r, "schema": "other"} for r in rows] for g, rows in held.items()}
    assert len(missing_ownership_privileges(plan, wrong_schema)) == len(plan.privileges)


def test_a_bad_value_fails_as_invalid_spec_naming_the_field() -> None:
    from dbops.engines.errors import InvalidSpec

    bad = DatabaseSpec.model_construct(
        name="app", postgres=CONFIG.model_copy(update={"schemas": [PostgresSchema(name="x" * 64)]})
    )
    with pytest.raises(InvalidSpec, match=r"spec\.postgres\.schemas\[0\]"):
        drift(CONVERGED, bad)


@pytest.mark.parametrize(
    ("desired", "observed", "same"),
    [
        ("UTF8", "UTF8", True),
        ("utf-8", "UTF8", True),
        ("Unicode", "UTF8", True),
        ("LATIN1", "UTF8", False),
        ("UTF8", None, False),
    ],
)
def test_same_encoding(desired: str, observed: str | None, same: bool) -> None:
    assert same_encoding(desired, observed) is same


@pytest.mark.parametrize(
    ("desired", "observed", "same"),
    [
        ("C", "C", True),
        ("en_US.UTF-8", "en_US.utf8", True),
        ("en_US.UTF-8", "en_GB.UTF-8", False),
        ("en_US", "en_US.UTF-8", False),
        ("C", None, False),
    ],
)
def test_same_locale(desired: str, observed: str | None, same: bool) -> None:
    assert same_locale(desired, observed) is same


# Correction, with the adapter's I/O recorded instead of sent ---------------------------------------------------------


class Recording(PostgresAdapter):
    """Records what the correction would run; statements containing `FAIL` raise like a refusing server."""

    def __init__(self) -> None:
        super().__init__(
            ConnectionSettings(
                engine="postgres", host="127.0.0.1", port=1, username="admin", password="pw", database="postgres"
            )
        )
        self.log: list[tuple[str, Any]] = []

    async def _ensure_privileges_of(self, role: str | None) -> None:
        self.log.append(("act", role))

    async def _execute(self, statements: Sequence[str], *, database: str | None = None, **_: Any) -> None:
        for statement in statements:
            if "FAIL" in statement:
                raise EngineError(f"permission denied in {database}")
            self.log.append(("run", (database, statement)))


async def test_corrections_run_in_dependency_order_and_every_item_is_attempted() -> None:
    observed = replace(CONVERGED, owner=NAMES.role, extensions={}, schemas={"public": NAMES.role}, connection_limit=20)
    spec = DatabaseSpec.model_construct(
        name="app",
        postgres=DatabasePostgresConfig(
            ownership=PostgresOwnershipConfig(auto_ownership=True),
            schemas=[PostgresSchema(name="s")],
            allow_connections=False,
        ),
    )
    plan = plan_ownership(NAMES, ["s"])
    diffs = database_drift(
        spec, observed, owner=NAMES.role, admin="admin", ownership=plan, state=OwnershipState(False, True, False, {})
    )
    assert [d.field for d in diffs] == [
        "allowConnections",
        "connectionLimit",
        "ownership.defaultPrivileges",
        "ownership.membership",
        "ownership.role",
        "schemas.missing",
    ]
    adapter = Recording()
    assert await PostgresDatabaseDrift(adapter).correct_database_drift(diffs) == {}
    ran = [item for kind, item in adapter.log if kind == "run"]
    # Role, membership, ALTER DATABASE, schema, default privileges, connections refused last.
    assert ran[0] == (None, plan.create_role)
    assert ran[1] == (None, 'GRANT "db_app_owner" TO "db_app_app"')
    assert ran[2] == (None, 'ALTER DATABASE "app" WITH CONNECTION LIMIT -1')
    assert ran[3] == ("app", 'CREATE SCHEMA IF NOT EXISTS "s" AUTHORIZATION "db_app_owner"')
    privileges = ran[4:-1]
    assert privileges and all(db == "app" and s.startswith("ALTER DEFAULT PRIVILEGES") for db, s in privileges)
    assert ran[-1] == (None, 'ALTER DATABASE "app" WITH ALLOW_CONNECTIONS false')

    failing = Difference("connectionLimit", "5", "20", fix=DatabaseFix(ORDER_SERVER, ("FAIL",)))
    unknown = Difference("tablespace", "a", "b", destructive=True)
    fine = Difference("isTemplate", "false", "true", fix=DatabaseFix(ORDER_SERVER, ("ALTER DATABASE x",)))
    adapter = Recording()
    failures = await PostgresDatabaseDrift(adapter).correct_database_drift([failing, unknown, fine])
    assert failures == {
        "connectionLimit": "permission denied in None",
        "tablespace": "no correction is known for this difference",
    }
    assert ("run", (None, "ALTER DATABASE x")) in adapter.log
