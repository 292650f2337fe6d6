"""PostgreSQL drift diffing without a server (behaviour.md 11.3, api.md 4.4): catalog rows in, differences and their
corrections out."""

from __future__ import annotations

from typing import Any

import pytest

from dbops.api.grants import PostgresDefaultPrivilegeGrant
from dbops.engines.base import ObservedAccount
from dbops.engines.errors import InvalidSpec
from dbops.engines.postgres import sql
from dbops.engines.postgres.access import (
    Fix,
    attribute_drift,
    default_privilege_drift,
    membership_drift,
    privilege_drift,
)
from dbops.engines.postgres.grants import (
    CatalogObject,
    DesiredAccess,
    PgGrantEntry,
    PgObject,
    access_differences,
    acl_tokens,
    correction_statements,
    desired_access,
    object_target,
    signature_display,
)

T = PgObject("table", "db", "public", "t")
U = PgObject("table", "db", "public", "u")
V = PgObject("sequence", "db", "public", "s")
F = PgObject("function", "db", "public", "f(integer)")
LISTING = {
    ("db", "public"): [
        CatalogObject(T, "t"),
        CatalogObject(U, "u"),
        CatalogObject(V, "s"),
        CatalogObject(F, "f", "integer", 42, "f"),
        CatalogObject(PgObject("function", "db", "public", "p()"), "p", "", 43, "p"),
    ]
}


def tokens(entry: PgGrantEntry, resolved: dict[str, int | None] | None = None) -> dict[PgObject, set[str]]:
    return desired_access(entry, LISTING, resolved or {}).tokens


# Expansion ----------------------------------------------------------------------------------------------------------


def test_named_tables_expand_with_the_implicit_schema_usage() -> None:
    got = tokens(PgGrantEntry("db", ["SELECT", "INSERT"], schema="public", tables=["t"]))
    assert got == {PgObject("schema", "db", "public"): {"USAGE"}, T: {"SELECT", "INSERT"}}


def test_grant_option_adds_option_tokens_but_not_on_the_implicit_usage() -> None:
    got = tokens(PgGrantEntry("db", ["SELECT"], schema="public", tables=["t"], with_grant_option=True))
    assert got[T] == {"SELECT", "SELECT WITH GRANT OPTION"}
    assert got[PgObject("schema", "db", "public")] == {"USAGE"}


def test_schema_level_entry_covers_every_existing_table_and_function_but_not_procedures() -> None:
    got = tokens(PgGrantEntry("db", ["SELECT", "EXECUTE"], schema="public"))
    assert got[T] == got[U] == {"SELECT"}
    assert got[F] == {"EXECUTE"}
    assert V not in got  # sequences are not ALL TABLES
    assert PgObject("function", "db", "public", "p()") not in got


def test_star_lists_all_objects_of_that_kind() -> None:
    got = tokens(PgGrantEntry("db", ["USAGE"], schema="public", sequences=["*"]))
    assert got[V] == {"USAGE"}
    assert T not in got


def test_database_level_all_is_expanded() -> None:
    access = desired_access(PgGrantEntry("db", ["ALL"]), LISTING, {})
    database = PgObject("database", "db")
    assert access.tokens == {database: {"CREATE", "CONNECT", "TEMPORARY"}}
    assert database in access.all_declared


def test_functions_match_by_name_or_by_resolved_signature() -> None:
    by_name = tokens(PgGrantEntry("db", ["EXECUTE"], schema="public", functions=["f"]))
    assert by_name[F] == {"EXECUTE"}
    by_signature = tokens(
        PgGrantEntry("db", ["EXECUTE"], schema="public", functions=["f(int4)"]), {'"public"."f"(int4)': 42}
    )
    assert by_signature[F] == {"EXECUTE"}
    missing = tokens(
        PgGrantEntry("db", ["EXECUTE"], schema="public", functions=["g(text)"]), {'"public"."g"(text)': None}
    )
    assert PgObject("function", "db", "public", "g(text)") in missing


def test_a_missing_named_table_is_still_expected() -> None:
    got = tokens(PgGrantEntry("db", ["SELECT"], schema="public", tables=["gone"]))
    assert got[PgObject("table", "db", "public", "gone")] == {"SELECT"}


def test_acl_rows_become_tokens_and_null_rows_mean_nothing_held() -> None:
    rows: list[dict[str, Any]] = [
        {"privilege_type": "SELECT", "is_grantable": True},
        {"privilege_type": "INSERT", "is_grantable": False},
        {"privilege_type": None, "is_grantable": None},
    ]
    assert acl_tokens(rows) == {"SELECT", "SELECT WITH GRANT OPTION", "INSERT"}


# Differences ----------------------------------------------------------------------------------------------------------


def access(entry: PgGrantEntry) -> DesiredAccess:
    return desired_access(entry, LISTING, {})


def test_missing_and_extra_per_object() -> None:
    own = access(PgGrantEntry("db", ["SELECT"], schema="public", tables=["t"]))
    held = {PgObject("schema", "db", "public"): {"USAGE"}, T: {"INSERT"}}
    (diff,) = access_differences(own, own, held)
    assert diff.obj == T and diff.missing == ("SELECT",) and diff.extra == ("INSERT",)
    assert diff.held == ("INSERT",) and diff.declared == ("SELECT",)


def test_extras_are_relative_to_everything_declared_and_only_on_covered_objects() -> None:
    own = access(PgGrantEntry("db", ["SELECT"], schema="public", tables=["t"]))
    everything = access(PgGrantEntry("db", ["SELECT"], schema="public", tables=["t"]))
    everything.merge(access(PgGrantEntry("db", ["INSERT"], schema="public", tables=["t"])))
    held = {PgObject("schema", "db", "public"): {"USAGE"}, T: {"SELECT", "INSERT"}, U: {"DELETE"}}
    assert access_differences(own, everything, held) == []  # INSERT is another grant's; u is not covered


def test_grant_option_held_but_not_declared_is_extra() -> None:
    own = access(PgGrantEntry("db", ["SELECT"], schema="public", tables=["t"]))
    held = {PgObject("schema", "db", "public"): {"USAGE"}, T: {"SELECT", "SELECT WITH GRANT OPTION"}}
    (diff,) = access_differences(own, own, held)
    assert diff.missing == () and diff.extra == ("SELECT WITH GRANT OPTION",)


def test_all_declared_tolerates_newer_privileges() -> None:
    own = access(PgGrantEntry("db", ["ALL"], schema="public", tables=["t"]))
    everything = set(own.tokens[T]) | {"MAINTAIN"}
    assert access_differences(own, own, {PgObject("schema", "db", "public"): {"USAGE"}, T: everything}) == []


def test_owned_objects_are_skipped() -> None:
    own = access(PgGrantEntry("db", ["SELECT"], schema="public", tables=["t"]))
    assert [d.obj for d in access_differences(own, own, {}, owned=[T])] == [PgObject("schema", "db", "public")]


# Corrections ---------------------------------------------------------------------------------------------------------


def test_correction_statements() -> None:
    target = object_target(T)
    assert target == 'TABLE "public"."t"'
    assert correction_statements(target, "app", ["SELECT", "INSERT WITH GRANT OPTION", "INSERT"], []) == [
        'GRANT SELECT ON TABLE "public"."t" TO "app"',
        'GRANT INSERT ON TABLE "public"."t" TO "app" WITH GRANT OPTION',
    ]
    assert correction_statements(target, "app", [], ["DELETE", "SELECT WITH GRANT OPTION"]) == [
        'REVOKE DELETE ON TABLE "public"."t" FROM "app"',
        'REVOKE GRANT OPTION FOR SELECT ON TABLE "public"."t" FROM "app"',
    ]
    # Revoking the privilege takes its option with it: no separate REVOKE GRANT OPTION.
    assert correction_statements(target, "app", [], ["DELETE", "DELETE WITH GRANT OPTION"]) == [
        'REVOKE DELETE ON TABLE "public"."t" FROM "app"'
    ]


def test_object_targets_quote_names_and_check_server_type_lists() -> None:
    assert object_target(PgObject("database", 'we"ird')) == 'DATABASE "we""ird"'
    assert object_target(PgObject("schema", "db", "S")) == 'SCHEMA "S"'
    assert object_target(CatalogObject(F, "f", "integer, character varying", 42)) == (
        'FUNCTION "public"."f"(integer, character varying)'
    )
    with pytest.raises(InvalidSpec):
        object_target(CatalogObject(F, "f", "integer); DROP TABLE x; --", 42))
    with pytest.raises(InvalidSpec):
        object_target(PgObject("function", "db", "public", "g(text)"))  # not on the server


def test_signature_display() -> None:
    assert signature_display('"public"."f"(int4, text)') == "f(int4, text)"
    assert signature_display('"public"."f"') == "f()"


def test_field_names_carry_database_and_schema() -> None:
    assert PgObject("database", "db").field == "grants.database.db"
    assert PgObject("schema", "db", "s").field == "grants.schema.db.s"
    assert T.field == "grants.table.db.public.t"
    assert F.field == "grants.function.db.public.f(integer)"


def test_privilege_drift_builds_diffs_with_fixes() -> None:
    own = access(PgGrantEntry("db", ["SELECT"], schema="public", tables=["t"]))
    diffs = access_differences(own, own, {PgObject("schema", "db", "public"): {"USAGE"}, T: {"UPDATE"}})
    missing, extra = privilege_drift(diffs, "app", {}, {"db": "owner"})
    assert missing.status() == {
        "field": "grants.table.db.public.t.missing",
        "expected": "SELECT",
        "actual": "UPDATE",
        "destructive": False,
        "immutable": False,
    }
    assert missing.fix == Fix(('GRANT SELECT ON TABLE "public"."t" TO "app"',), "db", "owner")
    assert (extra.field, extra.expected, extra.actual, extra.destructive) == (
        "grants.table.db.public.t.extra",
        "SELECT",
        "UPDATE",
        True,
    )
    assert extra.fix.statements == ('REVOKE UPDATE ON TABLE "public"."t" FROM "app"',)


# Roles and memberships ------------------------------------------------------------------------------------------------


def test_attribute_drift_uses_the_api_field_names_and_one_alter_each() -> None:
    desired = sql.RoleAttributes(login=False, superuser=False, create_db=False, inherit=True)
    observed = ObservedAccount(
        "r",
        attributes={
            "login": False,
            "superuser": True,
            "createDB": True,
            "createRole": False,
            "inherit": True,
            "replication": False,
            "bypassRLS": False,
            "connectionLimit": -1,
            "validUntil": None,
        },
    )
    diffs = attribute_drift("r", desired, observed)
    assert [(d.field, d.expected, d.actual, d.destructive) for d in diffs] == [
        ("superuser", "false", "true", True),
        ("createdb", "false", "true", False),
    ]
    assert diffs[1].fix.statements == ('ALTER ROLE "r" WITH NOCREATEDB',)


def test_membership_drift() -> None:
    diffs = membership_drift("inRoles", "r", ["a", "b"], declared={"c"}, held={"a", "c", "x"})
    assert [d.status() for d in diffs] == [
        {"field": "inRoles.missing", "expected": "b", "actual": "a, c, x", "destructive": False, "immutable": False},
        {"field": "inRoles.extra", "expected": "a, b, c", "actual": "x", "destructive": True, "immutable": False},
    ]
    assert diffs[0].fix.statements == ('GRANT "b" TO "r"',)
    assert diffs[1].fix.statements == ('REVOKE "x" FROM "r"',)
    assert membership_drift("roles", "r", ["a"], declared=(), held={"a"}) == []


def test_default_privilege_drift_reports_only_missing() -> None:
    entry = PostgresDefaultPrivilegeGrant.model_validate(
        {
            "database": "db",
            "schema": "public",
            "grantedBy": "owner",
            "objectType": "tables",
            "privileges": ["SELECT", "INSERT"],
        }
    )
    held = {
        "db": [
            {"granted_by": "owner", "schema": "public", "object_type": b"r", "privilege_type": "SELECT"},
            {"granted_by": "owner", "schema": "public", "object_type": b"r", "privilege_type": "DELETE"},
            {"granted_by": "other", "schema": "public", "object_type": b"r", "privilege_type": "INSERT"},
        ]
    }
    (diff,) = default_privilege_drift("app", [entry], held)
    assert (diff.field, diff.expected, diff.actual) == (
        "defaultPrivileges.db.public.owner.tables.missing",
        "INSERT",
        "DELETE, SELECT",
    )
    assert diff.fix == Fix(
        ('ALTER DEFAULT PRIVILEGES FOR ROLE "owner" IN SCHEMA "public" GRANT SELECT, INSERT ON TABLES TO "app"',),
        "db",
        "owner",
    )
