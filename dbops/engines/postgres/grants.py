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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

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
    "GRANT_OPTION",
    "PG_ALL_EXPANSION",
    "AccessDiff",
    "CatalogObject",
    "DesiredAccess",
    "GrantTarget",
    "PgDefaultPrivilege",
    "PgGrantEntry",
    "PgObject",
    "access_differences",
    "acl_tokens",
    "auto_ownership_default_privileges",
    "correction_statements",
    "desired_access",
    "grant_default_privileges",
    "grant_entry",
    "object_target",
    "plan_grant_entry",
    "render_grants",
    "render_revokes",
    "revoke_default_privileges",
    "revoke_entry",
    "signature_display",
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
    kind: str = field(default="", compare=False)
    """``database``, ``schema``, ``table``, ``sequence`` or ``function``: what drift expands the target to."""
    schema: str = field(default="", compare=False)
    objects: tuple[tuple[str, str], ...] | None = field(default=(), compare=False)
    """The named objects as (name, SQL) pairs — for functions the bare name and the rendered signature — or None
    for "all of that kind in the schema"."""


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


def _function_name(spec: str) -> str:
    """The bare name of a function spec already checked by :func:`_function_signature`."""
    m = _FUNCTION.fullmatch(spec.strip())
    return m.group("name") if m is not None else spec.strip()


def _object_targets(
    names: Sequence[str], kind_sql: str, all_sql: str, schema_sql: str, field: str, *, functions: bool = False
) -> list[tuple[str, tuple[str, str] | None]]:
    """(ON clause, (name, SQL) of the object or None for ALL … IN SCHEMA) per target."""
    if isinstance(names, str):
        raise TypeError(f"{field} must be a sequence of names, not a string")
    if any(n.strip() == ALL_OBJECTS for n in names):
        return [(f"ALL {all_sql} IN SCHEMA {schema_sql}", None)]
    out: list[tuple[str, tuple[str, str] | None]] = []
    for i, name in enumerate(names):
        item_field = f"{field}[{i}]"
        if functions:
            signature = _function_signature(name, schema_sql, item_field)
            out.append((f"FUNCTION {signature}", (_function_name(name), signature)))
        else:
            out.append((f"{kind_sql} {schema_sql}.{pg_ident(name, item_field)}", (name, "")))
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
        return [
            GrantTarget(
                _collapse([p for _, p in privs]),
                f"DATABASE {pg_ident(entry.database, path('database'))}",
                kind="database",
            )
        ]

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
            targets.append(GrantTarget(("USAGE",), on_schema, implicit=True, kind="schema", schema=schema_name))
        if schema_privs:
            targets.append(GrantTarget(_collapse(schema_privs), on_schema, kind="schema", schema=schema_name))
        if table_privs:
            targets.append(
                GrantTarget(
                    _collapse(table_privs),
                    f"ALL TABLES IN SCHEMA {schema_sql}",
                    kind="table",
                    schema=schema_name,
                    objects=None,
                )
            )
        if function_privs:
            targets.append(
                GrantTarget(
                    tuple(function_privs),
                    f"ALL FUNCTIONS IN SCHEMA {schema_sql}",
                    kind="function",
                    schema=schema_name,
                    objects=None,
                )
            )
        return targets

    kinds: list[tuple[str, frozenset[str], list[tuple[str, tuple[str, str] | None]]]] = []
    if entry.tables:
        kinds.append(
            ("table", PG_TABLE_PRIVILEGES, _object_targets(entry.tables, "TABLE", "TABLES", schema_sql, path("tables")))
        )
    if entry.sequences:
        kinds.append(
            (
                "sequence",
                PG_SEQUENCE_PRIVILEGES,
                _object_targets(entry.sequences, "SEQUENCE", "SEQUENCES", schema_sql, path("sequences")),
            )
        )
    if entry.functions:
        kinds.append(
            (
                "function",
                PG_FUNCTION_PRIVILEGES,
                _object_targets(
                    entry.functions, "FUNCTION", "FUNCTIONS", schema_sql, path("functions"), functions=True
                ),
            )
        )
    for i, p in privs:
        if not any(p in valid for _, valid, _ in kinds):
            raise InvalidSpec(f"{priv_field}[{i}]", f"privilege {p!r} is not valid for any of the listed objects")
    targets = [GrantTarget(("USAGE",), on_schema, implicit=True, kind="schema", schema=schema_name)]
    for kind, valid, clauses in kinds:
        kind_privs = _collapse([p for _, p in privs if p in valid])
        if kind_privs:
            targets.extend(
                GrantTarget(
                    kind_privs,
                    clause,
                    kind=kind,
                    schema=schema_name,
                    objects=None if obj is None else (obj,),
                )
                for clause, obj in clauses
            )
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


# --------------------------------------------------------------------------------------------------------------------
# Privilege model for drift (behaviour.md 11.3, api.md 4.4)
#
# The server side is read per object (``aclexplode`` rows of the grantee, engines.md 2.4) and turned into *tokens*:
# ``SELECT`` for a privilege held, plus ``SELECT WITH GRANT OPTION`` when it is held grantable. The spec side is
# expanded the same way from the planned targets, against the objects that exist now (``ALL TABLES IN SCHEMA``
# covers the tables existing at the time of the check). Missing and extra are then set differences per object.

#: The token suffix of a privilege held with the grant option.
GRANT_OPTION = " WITH GRANT OPTION"

#: What ALL stands for per object kind (PostgreSQL 15's ACL bits). A newer server may hold more under ALL (17 adds
#: MAINTAIN on tables), so an object where ALL is declared never reports plain extras.
PG_ALL_EXPANSION: dict[str, frozenset[str]] = {
    "database": frozenset({"CREATE", "CONNECT", "TEMPORARY"}),
    "schema": frozenset({"USAGE", "CREATE"}),
    "table": frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"}),
    "sequence": frozenset({"USAGE", "SELECT", "UPDATE"}),
    "function": frozenset({"EXECUTE"}),
}

_SERVER_TYPE_LIST = re.compile(r"[A-Za-z0-9_ ,.\[\]\"$]*")


@dataclass(frozen=True, order=True)
class PgObject:
    """One object privileges are held on. ``name`` is the relation name, or for a function ``name(arg types)``."""

    kind: str
    database: str
    schema: str = ""
    name: str = ""

    @property
    def field(self) -> str:
        """The api.md 4.4 field name without the ``.missing`` / ``.extra`` suffix."""
        parts = [p for p in (self.database, self.schema, self.name) if p]
        return f"grants.{self.kind}." + ".".join(parts)


@dataclass(frozen=True)
class CatalogObject:
    """An object found in a schema by the drift queries, with what drift needs to match entries against it."""

    obj: PgObject
    base_name: str
    """Relation name, or the function's name without arguments."""
    arg_types: str = ""
    """Functions: the server's argument type list (``integer, text``), used to address it in GRANT/REVOKE."""
    oid: int = 0
    routine_kind: str = "f"
    """``pg_proc.prokind``: ALL FUNCTIONS IN SCHEMA covers functions, aggregates and window functions only."""


@dataclass
class DesiredAccess:
    """Tokens the spec wants per object, and the objects where ALL is declared (plain extras never reported)."""

    tokens: dict[PgObject, set[str]] = field(default_factory=dict)
    all_declared: set[PgObject] = field(default_factory=set)

    def add(self, obj: PgObject, privileges: Iterable[str], *, grant_option: bool) -> None:
        bucket = self.tokens.setdefault(obj, set())
        for p in privileges:
            expanded = PG_ALL_EXPANSION[obj.kind] if p == "ALL" else frozenset({p})
            if p == "ALL":
                self.all_declared.add(obj)
            for q in expanded:
                bucket.add(q)
                if grant_option:
                    bucket.add(q + GRANT_OPTION)

    def merge(self, other: DesiredAccess) -> None:
        for obj, tokens in other.tokens.items():
            self.tokens.setdefault(obj, set()).update(tokens)
        self.all_declared |= other.all_declared


def acl_tokens(rows: Iterable[Mapping[str, Any]]) -> set[str]:
    """``aclexplode`` rows (``privilege_type``, ``is_grantable``; NULL type = nothing held) as tokens."""
    out: set[str] = set()
    for row in rows:
        privilege = row.get("privilege_type")
        if privilege is None:
            continue
        out.add(str(privilege))
        if row.get("is_grantable"):
            out.add(f"{privilege}{GRANT_OPTION}")
    return out


def desired_access(
    entry: PgGrantEntry,
    objects: Mapping[tuple[str, str], Sequence[CatalogObject]],
    resolved: Mapping[str, int | None],
    *,
    field: str = "",
) -> DesiredAccess:
    """The tokens one entry asks for, per concrete object.

    ``objects`` lists the relations and functions of each (database, schema) the entry names; ``resolved`` maps a
    rendered function signature with arguments (``"s"."f"(int)``) to the oid the server resolves it to (None when
    there is no such function). Named objects that do not exist are still expected (under their spec name), so
    a dropped table shows up as missing drift instead of disappearing silently.
    """
    out = DesiredAccess()
    grant_option = entry.with_grant_option
    for target in plan_grant_entry(entry, field=field):
        option = grant_option and not target.implicit
        if target.kind == "database":
            out.add(PgObject("database", entry.database), target.privileges, grant_option=option)
            continue
        if target.kind == "schema":
            out.add(PgObject("schema", entry.database, target.schema), target.privileges, grant_option=option)
            continue
        listed = objects.get((entry.database, target.schema), ())
        if target.objects is None:
            for found in listed:
                if found.obj.kind != target.kind:
                    continue
                if target.kind == "function" and found.routine_kind not in ("f", "a", "w"):
                    continue
                out.add(found.obj, target.privileges, grant_option=option)
            continue
        for name, signature in target.objects:
            matches: list[PgObject] = []
            if target.kind == "function":
                if signature.endswith(")"):
                    oid = resolved.get(signature)
                    matches = [f.obj for f in listed if f.obj.kind == "function" and oid and f.oid == oid]
                    if not matches:
                        matches = [PgObject("function", entry.database, target.schema, signature_display(signature))]
                else:
                    matches = [f.obj for f in listed if f.obj.kind == "function" and f.base_name == name]
                    if not matches:
                        matches = [PgObject("function", entry.database, target.schema, f"{name}()")]
            else:
                matches = [f.obj for f in listed if f.obj.kind == target.kind and f.base_name == name]
                if not matches:
                    matches = [PgObject(target.kind, entry.database, target.schema, name)]
            for obj in matches:
                out.add(obj, target.privileges, grant_option=option)
    return out


def signature_display(signature: str) -> str:
    """``"s"."f"(int)`` → ``f(int)``: the name part of a field for a function the server does not know."""
    head, _, args = signature.partition("(")
    name = head.rsplit(".", 1)[-1].strip('"').replace('""', '"')
    return f"{name}({args}" if args else f"{name}()"


@dataclass(frozen=True)
class AccessDiff:
    """Missing and extra tokens on one object (``.extra`` is destructive)."""

    obj: PgObject
    missing: tuple[str, ...]
    extra: tuple[str, ...]
    held: tuple[str, ...]
    declared: tuple[str, ...]


def access_differences(
    own: DesiredAccess, declared: DesiredAccess, held: Mapping[PgObject, set[str]], *, owned: Iterable[PgObject] = ()
) -> list[AccessDiff]:
    """Compare per object (behaviour.md 11.3).

    Missing: what this resource asks for and the server lacks. Extra: what the server holds beyond everything the
    operator's resources declare for the grantee (``declared``), looked for only on objects this resource covers.
    Objects the grantee owns are skipped: the owner holds every privilege implicitly.
    """
    skip = set(owned)
    out: list[AccessDiff] = []
    for obj in sorted(own.tokens):
        if obj in skip:
            continue
        want = own.tokens[obj]
        allowed = declared.tokens.get(obj, set()) | want
        have = set(held.get(obj, set()))
        missing = want - have
        extra = have - allowed
        if obj in declared.all_declared or obj in own.all_declared:
            extra = {t for t in extra if t.endswith(GRANT_OPTION)}
        if missing or extra:
            out.append(
                AccessDiff(
                    obj,
                    tuple(_ordered(missing)),
                    tuple(_ordered(extra)),
                    tuple(_ordered(have)),
                    tuple(_ordered(allowed)),
                )
            )
    return out


def _ordered(tokens: Iterable[str]) -> list[str]:
    return sorted(tokens, key=lambda t: (t.removesuffix(GRANT_OPTION), t.endswith(GRANT_OPTION)))


def object_target(found: CatalogObject | PgObject, *, field: str = "drift") -> str:
    """The ON clause addressing one concrete object, for drift corrections.

    Function argument types come from the server's own type formatting; they are checked against a conservative
    pattern (no statement separators or other punctuation) before being used.
    """
    obj = found.obj if isinstance(found, CatalogObject) else found
    if obj.kind == "database":
        return f"DATABASE {pg_ident(obj.database, field)}"
    schema_sql = pg_ident(obj.schema, field)
    if obj.kind == "schema":
        return f"SCHEMA {schema_sql}"
    if obj.kind == "function":
        if not isinstance(found, CatalogObject):
            raise InvalidSpec(field, f"function {obj.name} does not exist on the server")
        if _SERVER_TYPE_LIST.fullmatch(found.arg_types) is None:
            raise InvalidSpec(field, f"cannot address function {obj.name} safely")
        return f"FUNCTION {schema_sql}.{pg_ident(found.base_name, field)}({found.arg_types})"
    return f"{obj.kind.upper()} {schema_sql}.{pg_ident(obj.name, field)}"


def correction_statements(target: str, grantee: str, missing: Iterable[str], extra: Iterable[str]) -> list[str]:
    """GRANT for missing tokens and REVOKE for extra ones on one ON clause.

    A missing ``X WITH GRANT OPTION`` is one GRANT … WITH GRANT OPTION (which also gives X); an extra plain X is a
    REVOKE X (which also takes the option); an extra option alone is REVOKE GRANT OPTION FOR X.
    """
    to = pg_ident(grantee, "grantee")
    missing_set, extra_set = set(missing), set(extra)
    plain = sorted(
        {t for t in missing_set if not t.endswith(GRANT_OPTION)}
        - {t.removesuffix(GRANT_OPTION) for t in missing_set if t.endswith(GRANT_OPTION)}
    )
    optioned = sorted({t.removesuffix(GRANT_OPTION) for t in missing_set if t.endswith(GRANT_OPTION)})
    revoke = sorted(t for t in extra_set if not t.endswith(GRANT_OPTION))
    revoke_option = sorted(t.removesuffix(GRANT_OPTION) for t in extra_set if t.endswith(GRANT_OPTION))
    revoke_option = [p for p in revoke_option if p not in revoke]
    out: list[str] = []
    if plain:
        out.append(f"GRANT {', '.join(plain)} ON {target} TO {to}")
    if optioned:
        out.append(f"GRANT {', '.join(optioned)} ON {target} TO {to} WITH GRANT OPTION")
    if revoke:
        out.append(f"REVOKE {', '.join(revoke)} ON {target} FROM {to}")
    if revoke_option:
        out.append(f"REVOKE GRANT OPTION FOR {', '.join(revoke_option)} ON {target} FROM {to}")
    return out
