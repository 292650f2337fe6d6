"""PostgreSQL-family GRANT / REVOKE and ALTER DEFAULT PRIVILEGES builders (engines.md 2.3, api.md 5.16).

A grant entry is first *planned* into targets — (privileges, ON-clause) pairs — by :func:`plan_grant_entry`, and the
plan is then rendered as GRANT or REVOKE statements. Planning is where all validation happens (allow-list, level,
function signatures), so granting and revoking the same entry always touch exactly the same clauses ("Revocation
mirrors each clause").

Every entry runs in a session to its own ``database``; the statements returned here do not name that database
except for database-level entries (ON DATABASE).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from dbops.engines.errors import InvalidSpec
from dbops.engines.sql.privileges import (
    PG_DATABASE_PRIVILEGES,
    PG_DEFAULT_OBJECT_KEYWORD,
    PG_DEFAULT_PRIVILEGES,
    PG_FUNCTION_PRIVILEGES,
    PG_SEQUENCE_PRIVILEGES,
    PG_TABLE_PRIVILEGES,
    PgDefaultObjectType,
    pg_canonical,
    pg_privileges,
    pg_privileges_for,
)
from dbops.engines.sql.quoting import pg_ident

__all__ = [
    "ALL_OBJECTS",
    "GrantTarget",
    "PgDefaultPrivilege",
    "PgGrantEntry",
    "auto_ownership_default_privileges",
    "grant_default_privileges",
    "grant_entry",
    "plan_grant_entry",
    "render_grants",
    "render_revokes",
    "revoke_default_privileges",
    "revoke_entry",
]

#: The object-list value meaning "all of that kind in the schema".
ALL_OBJECTS = "*"

_ARG_TYPE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_ .\[\]]*")
_FUNCTION = re.compile(r"(?P<name>[^()]*?)\s*(?:\((?P<args>[^()]*)\))?", re.DOTALL)


@dataclass(frozen=True)
class PgGrantEntry:
    """One ``postgres.grants[]`` entry (api.md 5.16)."""

    database: str
    privileges: Sequence[str]
    schema: str | None = None
    tables: Sequence[str] = ()
    sequences: Sequence[str] = ()
    functions: Sequence[str] = ()
    with_grant_option: bool = False


@dataclass(frozen=True)
class GrantTarget:
    """Privileges granted ON one target clause.

    ``implicit`` marks the USAGE ON SCHEMA the operator adds for schema and object entries; it is granted without
    the grant option, since the user did not ask for it.
    """

    privileges: tuple[str, ...]
    target: str
    implicit: bool = False


# --------------------------------------------------------------------------------------------------------------------
# Planning


def _canonical(privileges: Sequence[str], field: str) -> list[tuple[int, str]]:
    """(index, canonical privilege) pairs, so later errors can name the list item."""
    pg_privileges(privileges, field)  # allow-list check with item paths
    out: list[tuple[int, str]] = []
    seen: set[str] = set()
    for i, raw in enumerate(privileges):
        p = pg_canonical(raw)
        if p not in seen:
            seen.add(p)
            out.append((i, p))
    return out


def _collapse(privs: list[str]) -> tuple[str, ...]:
    """ALL cannot be combined with other privileges in one statement and already includes them."""
    return ("ALL",) if "ALL" in privs else tuple(privs)


def _function_signature(spec: str, schema_sql: str, field: str) -> str:
    """``name`` or ``name(type, type)`` → ``"schema"."name"(type, type)``; types checked against the spec's pattern.

    Type names are emitted as written (after trimming): they are type syntax (``character varying``, ``int[]``),
    not identifiers, and the pattern admits no quote, parenthesis, comma or semicolon.
    """
    m = _FUNCTION.fullmatch(spec.strip())
    if m is None or not m.group("name"):
        raise InvalidSpec(field, "must be a function name, optionally followed by (argument types)")
    name_sql = pg_ident(m.group("name"), field)
    args = m.group("args")
    if args is None:
        return f"{schema_sql}.{name_sql}"
    types: list[str] = []
    if args.strip():
        for j, raw in enumerate(args.split(",")):
            t = " ".join(raw.split())
            if _ARG_TYPE.fullmatch(t) is None:
                raise InvalidSpec(field, f"argument type {j + 1} must match ^[a-zA-Z_][a-zA-Z0-9_ .\\[\\]]*$")
            types.append(t)
    return f"{schema_sql}.{name_sql}({', '.join(types)})"


def _object_targets(
    names: Sequence[str], kind_sql: str, all_sql: str, schema_sql: str, field: str, *, functions: bool = False
) -> list[str]:
    if isinstance(names, str):
        raise TypeError(f"{field} must be a sequence of names, not a string")
    if any(n.strip() == ALL_OBJECTS for n in names):
        return [f"ALL {all_sql} IN SCHEMA {schema_sql}"]
    out: list[str] = []
    for i, name in enumerate(names):
        item_field = f"{field}[{i}]"
        if functions:
            out.append(f"FUNCTION {_function_signature(name, schema_sql, item_field)}")
        else:
            out.append(f"{kind_sql} {schema_sql}.{pg_ident(name, item_field)}")
    return out


def plan_grant_entry(entry: PgGrantEntry, *, field: str = "") -> list[GrantTarget]:
    """Validate an entry and map it to its targets (engines.md 2.3 table).

    ``field`` is the entry's path (``spec.postgres.grants[2]``); errors name ``<field>.privileges[i]`` and the like.

    * no schema, no objects: ON DATABASE (CONNECT, CREATE, TEMPORARY, ALL);
    * schema, no objects: USAGE/CREATE ON SCHEMA, table privileges ON ALL TABLES IN SCHEMA, EXECUTE ON ALL FUNCTIONS
      IN SCHEMA, ALL on both schema and tables, USAGE ON SCHEMA always;
    * objects: each privilege on the listed kinds where it is valid (an error if valid for none), plus USAGE ON
      SCHEMA; ``schema`` defaults to ``public``.
    """

    def path(sub: str) -> str:
        return f"{field}.{sub}" if field else sub

    priv_field = path("privileges")
    privs = _canonical(entry.privileges, priv_field)
    has_objects = bool(entry.tables or entry.sequences or entry.functions)

    if entry.schema is None and not has_objects:
        for i, p in privs:
            if p not in PG_DATABASE_PRIVILEGES:
                raise InvalidSpec(f"{priv_field}[{i}]", f"privilege {p!r} does not exist at database level")
        return [GrantTarget(_collapse([p for _, p in privs]), f"DATABASE {pg_ident(entry.database, path('database'))}")]

    schema_name = entry.schema if entry.schema is not None else "public"
    schema_sql = pg_ident(schema_name, path("schema"))
    on_schema = f"SCHEMA {schema_sql}"

    if not has_objects:
        schema_privs: list[str] = []
        table_privs: list[str] = []
        function_privs: list[str] = []
        for i, p in privs:
            if p in ("USAGE", "CREATE"):
                schema_privs.append(p)
            elif p == "ALL":
                schema_privs.append(p)
                table_privs.append(p)
            elif p in PG_TABLE_PRIVILEGES:
                table_privs.append(p)
            elif p == "EXECUTE":
                function_privs.append(p)
            else:
                raise InvalidSpec(f"{priv_field}[{i}]", f"privilege {p!r} does not exist at schema level")
        targets: list[GrantTarget] = []
        if "USAGE" not in schema_privs and "ALL" not in schema_privs:
            targets.append(GrantTarget(("USAGE",), on_schema, implicit=True))
        if schema_privs:
            targets.append(GrantTarget(_collapse(schema_privs), on_schema))
        if table_privs:
            targets.append(GrantTarget(_collapse(table_privs), f"ALL TABLES IN SCHEMA {schema_sql}"))
        if function_privs:
            targets.append(GrantTarget(tuple(function_privs), f"ALL FUNCTIONS IN SCHEMA {schema_sql}"))
        return targets

    kinds: list[tuple[frozenset[str], list[str]]] = []
    if entry.tables:
        kinds.append(
            (PG_TABLE_PRIVILEGES, _object_targets(entry.tables, "TABLE", "TABLES", schema_sql, path("tables")))
        )
    if entry.sequences:
        kinds.append(
            (
                PG_SEQUENCE_PRIVILEGES,
                _object_targets(entry.sequences, "SEQUENCE", "SEQUENCES", schema_sql, path("sequences")),
            )
        )
    if entry.functions:
        kinds.append(
            (
                PG_FUNCTION_PRIVILEGES,
                _object_targets(
                    entry.functions, "FUNCTION", "FUNCTIONS", schema_sql, path("functions"), functions=True
                ),
            )
        )
    for i, p in privs:
        if not any(p in valid for valid, _ in kinds):
            raise InvalidSpec(f"{priv_field}[{i}]", f"privilege {p!r} is not valid for any of the listed objects")
    targets = [GrantTarget(("USAGE",), on_schema, implicit=True)]
    for valid, clauses in kinds:
        kind_privs = _collapse([p for _, p in privs if p in valid])
        if kind_privs:
            targets.extend(GrantTarget(kind_privs, clause) for clause in clauses)
    return targets


# --------------------------------------------------------------------------------------------------------------------
# Rendering


def render_grants(targets: Sequence[GrantTarget], grantee: str, *, with_grant_option: bool = False) -> list[str]:
    """One GRANT per target; WITH GRANT OPTION on every target the user asked for (not the implicit USAGE)."""
    to = pg_ident(grantee, "grantee")
    out: list[str] = []
    for t in targets:
        sql = f"GRANT {', '.join(t.privileges)} ON {t.target} TO {to}"
        if with_grant_option and not t.implicit:
            sql += " WITH GRANT OPTION"
        out.append(sql)
    return out


def render_revokes(
    targets: Sequence[GrantTarget],
    grantee: str,
    *,
    grant_option_only: bool = False,
    cascade: bool = False,
    include_implicit: bool = True,
) -> list[str]:
    """One REVOKE per target, mirroring :func:`render_grants`.

    ``grant_option_only`` revokes just the grant option (``withGrantOption`` turned off); ``cascade`` also revokes
    what the grantee passed on; ``include_implicit=False`` keeps the implicit USAGE ON SCHEMA, for when another
    entry of the same grantee still needs it.
    """
    frm = pg_ident(grantee, "grantee")
    head = "REVOKE GRANT OPTION FOR" if grant_option_only else "REVOKE"
    tail = " CASCADE" if cascade else ""
    return [
        f"{head} {', '.join(t.privileges)} ON {t.target} FROM {frm}{tail}"
        for t in targets
        if include_implicit or not t.implicit
    ]


def grant_entry(entry: PgGrantEntry, grantee: str, *, field: str = "") -> list[str]:
    """The GRANT statements of one entry (:func:`plan_grant_entry` then :func:`render_grants`)."""
    return render_grants(plan_grant_entry(entry, field=field), grantee, with_grant_option=entry.with_grant_option)


def revoke_entry(entry: PgGrantEntry, grantee: str, *, field: str = "", cascade: bool = False) -> list[str]:
    """The REVOKE statements that undo :func:`grant_entry` for the same entry."""
    return render_revokes(plan_grant_entry(entry, field=field), grantee, cascade=cascade)


# --------------------------------------------------------------------------------------------------------------------
# Default privileges


@dataclass(frozen=True)
class PgDefaultPrivilege:
    """A default-privilege entry: future objects of ``object_type`` that ``granted_by`` creates in ``schema``.

    For a DatabaseGrant entry ``granted_by`` is its ``grantedBy``; for a Database entry it is the database owner
    (``spec.owner``, else the auto-ownership role, else the admin account).
    """

    schema: str
    object_type: PgDefaultObjectType
    privileges: Sequence[str]
    granted_by: str


def _default_privileges(dp: PgDefaultPrivilege, field: str) -> tuple[str, str, str]:
    def path(sub: str) -> str:
        return f"{field}.{sub}" if field else sub

    try:
        object_type = PgDefaultObjectType(dp.object_type)
    except ValueError:
        raise InvalidSpec(path("objectType"), "must be one of tables, sequences, functions, types") from None
    privs = pg_privileges_for(
        dp.privileges, PG_DEFAULT_PRIVILEGES[object_type], path("privileges"), f"default privileges on {object_type}"
    )
    head = (
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {pg_ident(dp.granted_by, path('grantedBy'))} "
        f"IN SCHEMA {pg_ident(dp.schema, path('schema'))}"
    )
    return head, ", ".join(privs), PG_DEFAULT_OBJECT_KEYWORD[object_type]


def grant_default_privileges(
    dp: PgDefaultPrivilege, grantee: str, *, field: str = "", with_grant_option: bool = False
) -> str:
    """ALTER DEFAULT PRIVILEGES FOR ROLE … IN SCHEMA … GRANT … ON TABLES|SEQUENCES|FUNCTIONS|TYPES TO …"""
    head, privs, objects = _default_privileges(dp, field)
    sql = f"{head} GRANT {privs} ON {objects} TO {pg_ident(grantee, 'grantee')}"
    return sql + " WITH GRANT OPTION" if with_grant_option else sql


def revoke_default_privileges(dp: PgDefaultPrivilege, grantee: str, *, field: str = "") -> str:
    """ALTER DEFAULT PRIVILEGES FOR ROLE … IN SCHEMA … REVOKE … ON … FROM …"""
    head, privs, objects = _default_privileges(dp, field)
    return f"{head} REVOKE {privs} ON {objects} FROM {pg_ident(grantee, 'grantee')}"


def auto_ownership_default_privileges(owner_role: str, app_user: str, schemas: Sequence[str]) -> list[str]:
    """Default privileges of auto-ownership with ``setDefaultPrivileges`` (engines.md 2.1, api.md 5.14).

    In ``public`` and every listed schema, in both directions (owner → app user, app user → owner): SELECT, INSERT,
    UPDATE, DELETE ON TABLES; USAGE, SELECT ON SEQUENCES; EXECUTE ON FUNCTIONS.
    """
    grants = (
        (PgDefaultObjectType.TABLES, ("SELECT", "INSERT", "UPDATE", "DELETE")),
        (PgDefaultObjectType.SEQUENCES, ("USAGE", "SELECT")),
        (PgDefaultObjectType.FUNCTIONS, ("EXECUTE",)),
    )
    ordered: dict[str, None] = {"public": None}
    for s in schemas:
        ordered.setdefault(s, None)
    out: list[str] = []
    for schema in ordered:
        for creator, grantee in ((owner_role, app_user), (app_user, owner_role)):
            for object_type, privs in grants:
                dp = PgDefaultPrivilege(schema, object_type, privs, creator)
                out.append(grant_default_privileges(dp, grantee))
    return out
