"""GRANT/REVOKE and default privileges (engines.md 2.3, api.md 5.16)."""

from __future__ import annotations

import pytest

from dbops.engines.errors import InvalidSpec
from dbops.engines.postgres.grants import (
    GrantTarget,
    PgDefaultPrivilege,
    PgGrantEntry,
    auto_ownership_default_privileges,
    grant_default_privileges,
    grant_entry,
    plan_grant_entry,
    render_revokes,
    revoke_default_privileges,
    revoke_entry,
)
from dbops.engines.sql.privileges import PgDefaultObjectType

G = '"app"'

# --------------------------------------------------------------------------------------------------------------------
# Database level


def test_database_level() -> None:
    entry = PgGrantEntry("AppDb", ["connect", "temp", "create"], with_grant_option=True)
    assert grant_entry(entry, "app") == [
        f'GRANT CONNECT, TEMPORARY, CREATE ON DATABASE "AppDb" TO {G} WITH GRANT OPTION'
    ]
    assert revoke_entry(entry, "app") == [f'REVOKE CONNECT, TEMPORARY, CREATE ON DATABASE "AppDb" FROM {G}']


def test_database_level_all() -> None:
    assert grant_entry(PgGrantEntry("d", ["ALL PRIVILEGES"]), "app") == [f'GRANT ALL ON DATABASE "d" TO {G}']
    assert grant_entry(PgGrantEntry("d", ["connect", "all"]), "app") == [f'GRANT ALL ON DATABASE "d" TO {G}']


@pytest.mark.parametrize("bad", ["SELECT", "USAGE", "EXECUTE"])
def test_database_level_rejects_object_privileges(bad: str) -> None:
    with pytest.raises(InvalidSpec, match="database level") as info:
        grant_entry(PgGrantEntry("d", ["CONNECT", bad]), "app", field="spec.postgres.grants[4]")
    assert info.value.field == "spec.postgres.grants[4].privileges[1]"


def test_not_on_allow_list() -> None:
    with pytest.raises(InvalidSpec, match="allow-list") as info:
        grant_entry(PgGrantEntry("d", ["CONNECT", "DROP"]), "app", field="spec.postgres.grants[0]")
    assert info.value.field == "spec.postgres.grants[0].privileges[1]"


# --------------------------------------------------------------------------------------------------------------------
# Schema level


def test_schema_level_mapping() -> None:
    entry = PgGrantEntry("d", ["select", "insert", "execute"], schema="Sales")
    assert grant_entry(entry, "app") == [
        f'GRANT USAGE ON SCHEMA "Sales" TO {G}',
        f'GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA "Sales" TO {G}',
        f'GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA "Sales" TO {G}',
    ]


def test_schema_level_usage_and_create_are_schema_privileges() -> None:
    entry = PgGrantEntry("d", ["create", "usage", "select"], schema="s", with_grant_option=True)
    assert grant_entry(entry, "app") == [
        f'GRANT CREATE, USAGE ON SCHEMA "s" TO {G} WITH GRANT OPTION',
        f'GRANT SELECT ON ALL TABLES IN SCHEMA "s" TO {G} WITH GRANT OPTION',
    ]


def test_schema_level_implicit_usage_has_no_grant_option() -> None:
    entry = PgGrantEntry("d", ["create"], schema="s", with_grant_option=True)
    assert grant_entry(entry, "app") == [
        f'GRANT USAGE ON SCHEMA "s" TO {G}',
        f'GRANT CREATE ON SCHEMA "s" TO {G} WITH GRANT OPTION',
    ]


def test_schema_level_all_goes_to_schema_and_tables() -> None:
    assert grant_entry(PgGrantEntry("d", ["ALL", "SELECT"], schema="s"), "app") == [
        f'GRANT ALL ON SCHEMA "s" TO {G}',
        f'GRANT ALL ON ALL TABLES IN SCHEMA "s" TO {G}',
    ]


@pytest.mark.parametrize("bad", ["CONNECT", "TEMPORARY", "temp"])
def test_schema_level_rejects_database_privileges(bad: str) -> None:
    with pytest.raises(InvalidSpec, match="schema level") as info:
        grant_entry(PgGrantEntry("d", ["usage", bad], schema="s"), "app")
    assert info.value.field == "privileges[1]"


# --------------------------------------------------------------------------------------------------------------------
# Objects


def test_object_entry_all_kinds() -> None:
    entry = PgGrantEntry(
        "d",
        ["SELECT", "UPDATE", "USAGE", "EXECUTE"],
        schema="Sales",
        tables=["t1", "v1"],
        sequences=["t1_id_seq"],
        functions=["f(integer, character varying)", "g()", "h( text[] )", "plain"],
        with_grant_option=True,
    )
    assert grant_entry(entry, "app") == [
        f'GRANT USAGE ON SCHEMA "Sales" TO {G}',
        f'GRANT SELECT, UPDATE ON TABLE "Sales"."t1" TO {G} WITH GRANT OPTION',
        f'GRANT SELECT, UPDATE ON TABLE "Sales"."v1" TO {G} WITH GRANT OPTION',
        f'GRANT SELECT, UPDATE, USAGE ON SEQUENCE "Sales"."t1_id_seq" TO {G} WITH GRANT OPTION',
        f'GRANT EXECUTE ON FUNCTION "Sales"."f"(integer, character varying) TO {G} WITH GRANT OPTION',
        f'GRANT EXECUTE ON FUNCTION "Sales"."g"() TO {G} WITH GRANT OPTION',
        f'GRANT EXECUTE ON FUNCTION "Sales"."h"(text[]) TO {G} WITH GRANT OPTION',
        f'GRANT EXECUTE ON FUNCTION "Sales"."plain" TO {G} WITH GRANT OPTION',
    ]


def test_object_entry_defaults_to_public_and_star() -> None:
    entry = PgGrantEntry("d", ["select"], tables=["*"], sequences=["*"])
    assert grant_entry(entry, "app") == [
        f'GRANT USAGE ON SCHEMA "public" TO {G}',
        f'GRANT SELECT ON ALL TABLES IN SCHEMA "public" TO {G}',
        f'GRANT SELECT ON ALL SEQUENCES IN SCHEMA "public" TO {G}',
    ]
    assert grant_entry(PgGrantEntry("d", ["execute"], functions=["*", "f"]), "app")[1] == (
        f'GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA "public" TO {G}'
    )


def test_object_names_are_quoted() -> None:
    stmts = grant_entry(PgGrantEntry("d", ["select"], schema='s"x', tables=['t"; DROP TABLE x; --']), "app")
    assert stmts[1] == f'GRANT SELECT ON TABLE "s""x"."t""; DROP TABLE x; --" TO {G}'


def test_privilege_valid_for_no_listed_kind() -> None:
    with pytest.raises(InvalidSpec, match="not valid for any of the listed objects") as info:
        grant_entry(PgGrantEntry("d", ["SELECT", "EXECUTE"], tables=["t"]), "app", field="spec.postgres.grants[1]")
    assert info.value.field == "spec.postgres.grants[1].privileges[1]"
    with pytest.raises(InvalidSpec):
        grant_entry(PgGrantEntry("d", ["CONNECT"], tables=["t"]), "app")


@pytest.mark.parametrize(
    "spec",
    ["f(int); DROP TABLE x", "f(int", "f(a)(b)", "(int)", "f('x')", 'f("int")', "f(int, 1x)", "f(int,)"],
)
def test_bad_function_signatures(spec: str) -> None:
    with pytest.raises(InvalidSpec) as info:
        grant_entry(PgGrantEntry("d", ["EXECUTE"], functions=["ok", spec]), "app", field="spec.postgres.grants[0]")
    assert info.value.field == "spec.postgres.grants[0].functions[1]"


def test_bad_names_in_lists() -> None:
    with pytest.raises(InvalidSpec) as info:
        grant_entry(PgGrantEntry("d", ["SELECT"], tables=["a", "b\x00"]), "app")
    assert info.value.field == "tables[1]"
    with pytest.raises(TypeError):
        grant_entry(PgGrantEntry("d", ["SELECT"], tables="t"), "app")


# --------------------------------------------------------------------------------------------------------------------
# Revocation mirrors the plan


def test_revoke_mirrors_grant() -> None:
    entry = PgGrantEntry("d", ["select", "execute", "usage"], schema="s")
    grants = grant_entry(entry, "app")
    revokes = revoke_entry(entry, "app")
    assert len(grants) == len(revokes)
    for g, r in zip(grants, revokes, strict=True):
        assert r == g.replace("GRANT", "REVOKE", 1).replace(f" TO {G}", f" FROM {G}")


def test_revoke_options() -> None:
    targets = [GrantTarget(("USAGE",), 'SCHEMA "s"', implicit=True), GrantTarget(("SELECT",), 'TABLE "s"."t"')]
    assert render_revokes(targets, "app", grant_option_only=True, cascade=True) == [
        f'REVOKE GRANT OPTION FOR USAGE ON SCHEMA "s" FROM {G} CASCADE',
        f'REVOKE GRANT OPTION FOR SELECT ON TABLE "s"."t" FROM {G} CASCADE',
    ]
    assert render_revokes(targets, "app", include_implicit=False) == [f'REVOKE SELECT ON TABLE "s"."t" FROM {G}']
    assert revoke_entry(PgGrantEntry("d", ["CONNECT"]), "app", cascade=True) == [
        f'REVOKE CONNECT ON DATABASE "d" FROM {G} CASCADE'
    ]


def test_plan_marks_implicit_usage() -> None:
    plan = plan_grant_entry(PgGrantEntry("d", ["SELECT"], tables=["t"]))
    assert plan[0] == GrantTarget(("USAGE",), 'SCHEMA "public"', implicit=True)
    assert not plan[1].implicit


# --------------------------------------------------------------------------------------------------------------------
# Default privileges


@pytest.mark.parametrize(
    ("object_type", "privs", "keyword", "canonical"),
    [
        (PgDefaultObjectType.TABLES, ["select", "insert"], "TABLES", "SELECT, INSERT"),
        (PgDefaultObjectType.SEQUENCES, ["usage", "select"], "SEQUENCES", "USAGE, SELECT"),
        (PgDefaultObjectType.FUNCTIONS, ["execute"], "FUNCTIONS", "EXECUTE"),
        (PgDefaultObjectType.TYPES, ["usage"], "TYPES", "USAGE"),
        (PgDefaultObjectType.TABLES, ["all privileges", "select"], "TABLES", "ALL"),
    ],
)
def test_default_privileges(object_type: PgDefaultObjectType, privs: list[str], keyword: str, canonical: str) -> None:
    dp = PgDefaultPrivilege("Sales", object_type, privs, "Owner")
    head = 'ALTER DEFAULT PRIVILEGES FOR ROLE "Owner" IN SCHEMA "Sales"'
    assert grant_default_privileges(dp, "app") == f"{head} GRANT {canonical} ON {keyword} TO {G}"
    assert grant_default_privileges(dp, "app", with_grant_option=True).endswith(" WITH GRANT OPTION")
    assert revoke_default_privileges(dp, "app") == f"{head} REVOKE {canonical} ON {keyword} FROM {G}"


def test_default_privileges_accept_plain_strings_for_object_type() -> None:
    dp = PgDefaultPrivilege("s", "tables", ["SELECT"], "o")  # type: ignore[arg-type]
    assert grant_default_privileges(dp, "g").endswith('GRANT SELECT ON TABLES TO "g"')


@pytest.mark.parametrize(
    ("object_type", "bad"),
    [
        (PgDefaultObjectType.FUNCTIONS, "SELECT"),
        (PgDefaultObjectType.TYPES, "EXECUTE"),
        (PgDefaultObjectType.SEQUENCES, "DELETE"),
        (PgDefaultObjectType.TABLES, "USAGE"),
    ],
)
def test_default_privileges_invalid_for_type(object_type: PgDefaultObjectType, bad: str) -> None:
    dp = PgDefaultPrivilege("s", object_type, [bad], "o")
    with pytest.raises(InvalidSpec) as info:
        grant_default_privileges(dp, "g", field="spec.postgres.defaultPrivileges[2]")
    assert info.value.field == "spec.postgres.defaultPrivileges[2].privileges[0]"


def test_default_privileges_unknown_object_type() -> None:
    dp = PgDefaultPrivilege("s", "views", ["SELECT"], "o")  # type: ignore[arg-type]
    with pytest.raises(InvalidSpec, match="one of tables") as info:
        grant_default_privileges(dp, "g", field="spec.postgres.defaultPrivileges[0]")
    assert info.value.field == "spec.postgres.defaultPrivileges[0].objectType"


def test_auto_ownership_default_privileges() -> None:
    stmts = auto_ownership_default_privileges("db_x_owner", "db_x_app", ["Sales", "public"])
    assert len(stmts) == 12  # (public, Sales) x (two directions) x (tables, sequences, functions)
    assert stmts[:6] == [
        'ALTER DEFAULT PRIVILEGES FOR ROLE "db_x_owner" IN SCHEMA "public" GRANT SELECT, INSERT, UPDATE, DELETE '
        'ON TABLES TO "db_x_app"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "db_x_owner" IN SCHEMA "public" GRANT USAGE, SELECT ON SEQUENCES '
        'TO "db_x_app"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "db_x_owner" IN SCHEMA "public" GRANT EXECUTE ON FUNCTIONS TO "db_x_app"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "db_x_app" IN SCHEMA "public" GRANT SELECT, INSERT, UPDATE, DELETE '
        'ON TABLES TO "db_x_owner"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "db_x_app" IN SCHEMA "public" GRANT USAGE, SELECT ON SEQUENCES '
        'TO "db_x_owner"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "db_x_app" IN SCHEMA "public" GRANT EXECUTE ON FUNCTIONS TO "db_x_owner"',
    ]
    assert all('IN SCHEMA "Sales"' in s for s in stmts[6:])
