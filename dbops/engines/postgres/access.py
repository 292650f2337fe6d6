"""Roles, memberships and grants on PostgreSQL: the `RoleGrantAdapter` half of `PostgresAdapter` (engines.md 2.2, 2.3).

Functions over the adapter rather than methods, so the adapter module stays about databases and accounts; the
adapter exposes them as thin methods. Every statement comes from the pure builders (`sql.postgres`,
`sql.postgres_grants`), and every entry is planned before the first statement runs, so a bad privilege fails the
object with `InvalidSpec` naming the entry and nothing is half-applied.

Each grant entry runs in a session to its own database (object and schema privileges only exist there). The admin is
not a superuser (engines.md 1.6), so before granting in a database it acquires the privileges of that database's
owner — the usual owner of what is granted on — and, for default privileges, of `grantedBy`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from dbops.api.grants import PostgresDefaultPrivilegeGrant, PostgresGrant
from dbops.api.role import PostgresRoleConfig
from dbops.engines.access import (
    AccessOutcome,
    DeclaredAccess,
    Difference,
    GrantSpec,
    RoleSpec,
    register_drift_support,
)
from dbops.engines.base import EngineError, ObservedAccount
from dbops.engines.connection import ConnectionFailure
from dbops.engines.errors import InvalidSpec
from dbops.engines.postgres import catalog, sql
from dbops.engines.postgres.errors import PostgresEngineError
from dbops.engines.postgres.grants import (
    AccessDiff,
    CatalogObject,
    DesiredAccess,
    GrantTarget,
    PgDefaultPrivilege,
    PgGrantEntry,
    PgObject,
    access_differences,
    acl_tokens,
    correction_statements,
    desired_access,
    grant_default_privileges,
    object_target,
    plan_grant_entry,
    render_grants,
    render_revokes,
    revoke_default_privileges,
)
from dbops.engines.postgres.mapping import (
    ALL_EXPANSION,
    ATTRIBUTE_KEYS,
    attribute_differences,
    char_value,
    default_privilege_acl_code,
)
from dbops.engines.sql.privileges import PgDefaultObjectType, pg_canonical
from dbops.engines.sql.quoting import pg_ident


class PostgresAdapter(Protocol):
    """What these functions use of `dbops.engines.postgres.adapter.PostgresAdapter`, named by its shape: the adapter
    module imports this one (its role and grant methods delegate here), so this one cannot import it."""

    async def _dialect(self) -> sql.PgDialect: ...
    async def _ensure_privileges_of(self, role: str | None) -> None: ...
    async def _fetch(self, query: catalog.CatalogQuery, *, database: str | None = None) -> list[Any]: ...
    async def _fetchval(self, query: catalog.CatalogQuery, *, database: str | None = None) -> Any: ...
    async def _execute(
        self,
        statements: Sequence[str],
        *,
        database: str | None = None,
        seconds: float = ...,
        secrets: Sequence[str | None] = (),
        atomic: bool = False,
    ) -> None: ...
    async def observe_account(self, username: str) -> ObservedAccount | None: ...
    async def drop_account(self, username: str) -> None: ...


__all__ = [
    "PostgresAccessDrift",
    "access_drift",
    "apply_access",
    "apply_role",
    "attribute_drift",
    "correct_drift",
    "create_role",
    "default_privilege_drift",
    "drop_role",
    "membership_drift",
    "observe_role",
    "plan_entries",
    "privilege_drift",
    "revoke_access",
    "role_attributes",
    "role_drift",
]

#: Objects already gone when revoking: undefined table/column/function/object, missing schema.
GONE_SQLSTATES = frozenset({"42P01", "42703", "42883", "42704", "3F000"})


@dataclass(frozen=True)
class PlannedEntry:
    """One grant entry with its statements, built before any SQL runs."""

    field: str
    database: str
    grants: tuple[str, ...]
    revokes: tuple[str, ...]
    acting_for: str | None = None
    """`grantedBy` of a default-privilege entry: the admin must have that role's privileges."""


def role_attributes(config: PostgresRoleConfig) -> sql.RoleAttributes:
    """engines.md 2.2, roles column: NOLOGIN unless `login`, no connection limit or validity."""
    return sql.RoleAttributes(
        login=config.login,
        superuser=config.superuser,
        create_db=config.create_db,
        create_role=config.create_role,
        inherit=config.inherit,
        replication=config.replication,
        bypass_rls=config.bypass_rls,
    )


def _entry(grant: PostgresGrant) -> PgGrantEntry:
    return PgGrantEntry(
        database=grant.database,
        privileges=tuple(grant.privileges),
        schema=grant.schema_,
        tables=tuple(grant.tables or ()),
        sequences=tuple(grant.sequences or ()),
        functions=tuple(grant.functions or ()),
        with_grant_option=grant.with_grant_option,
    )


def plan_entries(
    grantee: str,
    grants: Sequence[PostgresGrant],
    defaults: Sequence[PostgresDefaultPrivilegeGrant] = (),
    *,
    prefix: str = "spec.postgres",
) -> tuple[list[PlannedEntry], list[PlannedEntry]]:
    """The direct and default-privilege entries as statements; `InvalidSpec` names the first invalid one."""
    pg_ident(grantee, "grantee")
    direct: list[PlannedEntry] = []
    for i, grant in enumerate(grants):
        field = f"{prefix}.grants[{i}]"
        entry = _entry(grant)
        pg_ident(entry.database, f"{field}.database")
        targets: list[GrantTarget] = plan_grant_entry(entry, field=field)
        direct.append(
            PlannedEntry(
                field,
                entry.database,
                tuple(render_grants(targets, grantee, with_grant_option=entry.with_grant_option)),
                tuple(render_revokes(targets, grantee)),
            )
        )
    default: list[PlannedEntry] = []
    for i, item in enumerate(defaults):
        field = f"{prefix}.defaultPrivileges[{i}]"
        pg_ident(item.database, f"{field}.database")
        dp = PgDefaultPrivilege(item.schema_, PgDefaultObjectType(item.object_type), item.privileges, item.granted_by)
        default.append(
            PlannedEntry(
                field,
                item.database,
                (grant_default_privileges(dp, grantee, field=field),),
                (revoke_default_privileges(dp, grantee, field=field),),
                acting_for=item.granted_by,
            )
        )
    return direct, default


async def _prepare(adapter: PostgresAdapter, entry: PlannedEntry, owners: dict[str, str | None]) -> None:
    """Acquire the privileges of the entry's database owner (and `grantedBy`), once per database per call."""
    if entry.database not in owners:
        rows = await adapter._fetch(catalog.database_attributes(entry.database))
        owners[entry.database] = rows[0]["owner"] if rows else None
        await adapter._ensure_privileges_of(owners[entry.database])
    await adapter._ensure_privileges_of(entry.acting_for)


async def _run_entries(
    adapter: PostgresAdapter, entries: Sequence[PlannedEntry], *, revoke: bool
) -> tuple[int, list[tuple[str, str]]]:
    """Run every entry (all are attempted, behaviour.md 10.2); returns the number that succeeded and the failures.
    When revoking, objects or databases that are already gone count as revoked."""
    owners: dict[str, str | None] = {}
    done = 0
    failures: list[tuple[str, str]] = []
    for entry in entries:
        try:
            await _prepare(adapter, entry, owners)
            if revoke and owners.get(entry.database) is None:
                done += 1  # the database is gone, and its privileges with it
                continue
            for statement in entry.revokes if revoke else entry.grants:
                try:
                    await adapter._execute([statement], database=entry.database)
                except PostgresEngineError as error:
                    if not (revoke and error.sqlstate in GONE_SQLSTATES):
                        raise
        except (EngineError, ConnectionFailure) as error:
            failures.append((entry.field, str(error)))
        else:
            done += 1
    return done, failures


async def _memberships(adapter: PostgresAdapter, grantee: str) -> frozenset[str]:
    rows = await adapter._fetch(catalog.role_memberships(grantee))
    return frozenset(r["role"] for r in rows)


async def _grant_memberships(
    adapter: PostgresAdapter, grantee: str, roles: Sequence[str], field: str
) -> tuple[list[str], list[tuple[str, str]]]:
    statements = [
        (r, f"{field}[{i}]", sql.grant_membership(pg_name(r, f"{field}[{i}]"), grantee)) for i, r in enumerate(roles)
    ]
    held = await _memberships(adapter, grantee)
    added: list[str] = []
    failures: list[tuple[str, str]] = []
    for role, path, statement in statements:
        if role in held:
            continue
        try:
            await adapter._execute([statement])
        except EngineError as error:
            failures.append((path, str(error)))
        else:
            added.append(role)
    return added, failures


def pg_name(name: str, field: str) -> str:
    """Check a role name with its field path and return it unchanged (the builder quotes it)."""
    pg_ident(name, field)
    return name


# Roles ------------------------------------------------------------------------------------------------------------


async def observe_role(adapter: PostgresAdapter, name: str) -> ObservedAccount | None:
    pg_ident(name, "spec.roleName")
    return await adapter.observe_account(name)


def _config(spec: RoleSpec) -> PostgresRoleConfig:
    return spec.postgres or PostgresRoleConfig()


async def _role_grants(adapter: PostgresAdapter, planned: Sequence[PlannedEntry]) -> None:
    _, failures = await _run_entries(adapter, planned, revoke=False)
    if failures:
        raise EngineError("; ".join(f"{f}: {e}" for f, e in failures))


async def create_role(adapter: PostgresAdapter, spec: RoleSpec) -> None:
    """CREATE ROLE with the attributes and IN ROLE, then the role's own grants (engines.md 2.2)."""
    config = _config(spec)
    in_roles = [pg_name(r, f"spec.postgres.inRoles[{i}]") for i, r in enumerate(config.in_roles or ())]
    statement = sql.create_role(
        spec.role_name,
        role_attributes(config),
        in_roles=in_roles,
        dialect=await adapter._dialect(),
        field="spec.roleName",
    )
    planned, _ = plan_entries(spec.role_name, config.grants or ())
    await adapter._execute([statement])
    await _role_grants(adapter, planned)


async def apply_role(adapter: PostgresAdapter, spec: RoleSpec, observed: ObservedAccount) -> list[str]:
    """ALTER ROLE for the attributes that differ, missing memberships, then (re-)grant `grants[]` (idempotent)."""
    config = _config(spec)
    attrs = role_attributes(config)
    differing = attribute_differences(attrs, observed.attributes)
    alter = sql.alter_role_attributes(spec.role_name, attrs, differing) if differing else None
    in_roles = [pg_name(r, f"spec.postgres.inRoles[{i}]") for i, r in enumerate(config.in_roles or ())]
    planned, _ = plan_entries(spec.role_name, config.grants or ())
    changed: list[str] = []
    if alter is not None:
        await adapter._execute([alter])
        changed += [f"spec.postgres.{ATTRIBUTE_KEYS[f]}" for f in differing]
    for i, role in enumerate(in_roles):
        if role not in observed.member_of:
            await adapter._execute([sql.grant_membership(role, spec.role_name)])
            changed.append(f"spec.postgres.inRoles[{i}]")
    await _role_grants(adapter, planned)
    return changed


async def drop_role(adapter: PostgresAdapter, spec: RoleSpec) -> None:
    """Reassign and drop what the role owns in every database, then DROP ROLE IF EXISTS (as for accounts)."""
    pg_ident(spec.role_name, "spec.roleName")
    await adapter.drop_account(spec.role_name)


# Grants -----------------------------------------------------------------------------------------------------------


async def apply_access(adapter: PostgresAdapter, grantee: str, spec: GrantSpec) -> AccessOutcome:
    """Memberships (`postgres.roles`), then every entry, then default privileges; all attempted (behaviour.md 10.2)."""
    config = spec.postgres
    if config is None:
        return AccessOutcome()
    roles = [pg_name(r, f"spec.postgres.roles[{i}]") for i, r in enumerate(config.roles or ())]
    direct, default = plan_entries(grantee, config.grants or (), config.default_privileges or ())
    if not await adapter._fetch(catalog.role_attributes(grantee)):
        raise EngineError(f"role {grantee} does not exist on the server")
    _, role_failures = await _grant_memberships(adapter, grantee, roles, "spec.postgres.roles")
    direct_done, direct_failures = await _run_entries(adapter, direct, revoke=False)
    default_done, default_failures = await _run_entries(adapter, default, revoke=False)
    failed_roles = {f for f, _ in role_failures}
    return AccessOutcome(
        roles=tuple(r for i, r in enumerate(roles) if f"spec.postgres.roles[{i}]" not in failed_roles),
        direct_grants=direct_done,
        default_privileges=default_done,
        failures=(*role_failures, *direct_failures, *default_failures),
    )


async def revoke_access(adapter: PostgresAdapter, grantee: str, spec: GrantSpec) -> AccessOutcome:
    """REVOKE mirroring every clause of `apply_access`; a missing grantee, database or object counts as revoked."""
    config = spec.postgres
    if config is None:
        return AccessOutcome()
    roles = [pg_name(r, f"spec.postgres.roles[{i}]") for i, r in enumerate(config.roles or ())]
    direct, default = plan_entries(grantee, config.grants or (), config.default_privileges or ())
    if not await adapter._fetch(catalog.role_attributes(grantee)):
        return AccessOutcome()
    default_done, default_failures = await _run_entries(adapter, default, revoke=True)
    direct_done, direct_failures = await _run_entries(adapter, direct, revoke=True)
    held = await _memberships(adapter, grantee)
    revoked: list[str] = []
    role_failures: list[tuple[str, str]] = []
    for i, role in enumerate(roles):
        if role not in held:
            continue
        try:
            await adapter._execute([sql.revoke_membership(role, grantee)])
        except EngineError as error:
            role_failures.append((f"spec.postgres.roles[{i}]", str(error)))
        else:
            revoked.append(role)
    return AccessOutcome(
        roles=tuple(revoked),
        direct_grants=direct_done,
        default_privileges=default_done,
        failures=(*role_failures, *direct_failures, *default_failures),
    )


# Drift (behaviour.md 11.3, 11.4; engines.md 2.4) -------------------------------------------------------------------

#: RoleAttributes field → the api.md 4.4 field name of a role attribute diff (lower-case, as the table spells it).
ROLE_DRIFT_FIELDS: Final = {
    "login": "login",
    "inherit": "inherit",
    "create_db": "createdb",
    "create_role": "createrole",
    "superuser": "superuser",
    "replication": "replication",
    "bypass_rls": "bypassrls",
}
#: Attributes whose correction is destructive (api.md 4.4 "D").
DESTRUCTIVE_ATTRIBUTES: Final = frozenset({"superuser"})


@dataclass(frozen=True)
class Fix:
    """How to correct one difference: statements run in `database` (None = the admin database) after the admin
    acquired the privileges of the database owner and of `acting_for` (a default-privilege entry's `grantedBy`).
    `error` instead says why it cannot be corrected (for example a named function that does not exist)."""

    statements: tuple[str, ...] = ()
    database: str | None = None
    acting_for: str | None = None
    error: str | None = None


def listed(values: Iterable[str]) -> str:
    """A readable comma list for `expected` / `actual`; `none` when empty."""
    items = list(values)
    return ", ".join(items) if items else "none"


def attribute_drift(role: str, desired: sql.RoleAttributes, observed: ObservedAccount) -> list[Difference]:
    """One diff per differing role attribute, with the one-attribute ALTER ROLE that corrects it."""
    out: list[Difference] = []
    for name in attribute_differences(desired, observed.attributes):
        drift_field = ROLE_DRIFT_FIELDS.get(name)
        if drift_field is None:
            continue
        have = observed.attributes.get(ATTRIBUTE_KEYS[name])
        statement = sql.alter_role_attributes(role, desired, [name], field="spec.roleName")
        out.append(
            Difference(
                drift_field,
                str(getattr(desired, name)).lower(),
                str(have).lower(),
                destructive=name in DESTRUCTIVE_ATTRIBUTES,
                fix=Fix((statement,) if statement else (), error=None if statement else "not supported by the server"),
            )
        )
    return out


def membership_drift(
    prefix: str,
    grantee: str,
    own: Sequence[str],
    declared: Iterable[str],
    held: Iterable[str],
    *,
    extras: bool = True,
) -> list[Difference]:
    """`<prefix>.missing` (granted back) and `<prefix>.extra` (destructive, revoked) for role memberships.

    Extras are memberships the server holds beyond everything declared for the grantee (`declared` and `own`)."""
    held_set = frozenset(held)
    allowed = frozenset(declared) | frozenset(own)
    missing = [r for r in dict.fromkeys(own) if r not in held_set]
    extra = sorted(held_set - allowed) if extras else []
    out: list[Difference] = []
    if missing:
        statements = tuple(sql.grant_membership(r, grantee) for r in missing)
        out.append(Difference(f"{prefix}.missing", listed(missing), listed(sorted(held_set)), fix=Fix(statements)))
    if extra:
        statements = tuple(sql.revoke_membership(r, grantee) for r in extra)
        out.append(
            Difference(f"{prefix}.extra", listed(sorted(allowed)), listed(extra), destructive=True, fix=Fix(statements))
        )
    return out


def privilege_drift(
    diffs: Sequence[AccessDiff], grantee: str, found: Mapping[PgObject, CatalogObject], owners: Mapping[str, str | None]
) -> list[Difference]:
    """`grants.<kind>.<db>….missing` / `.extra` (destructive) with the GRANT / REVOKE that corrects each."""
    out: list[Difference] = []
    for diff in diffs:
        obj = diff.obj
        try:
            target = object_target(found.get(obj, obj))
            error = None
        except InvalidSpec as problem:
            target, error = "", problem.message
        acting = owners.get(obj.database)
        if diff.missing:
            missing_fix = (
                Fix(error=error)
                if error is not None
                else Fix(tuple(correction_statements(target, grantee, diff.missing, ())), obj.database, acting)
            )
            out.append(Difference(f"{obj.field}.missing", listed(diff.missing), listed(diff.held), fix=missing_fix))
        if diff.extra:
            extra_fix = (
                Fix(error=error)
                if error is not None
                else Fix(tuple(correction_statements(target, grantee, (), diff.extra)), obj.database, acting)
            )
            out.append(
                Difference(
                    f"{obj.field}.extra", listed(diff.declared), listed(diff.extra), destructive=True, fix=extra_fix
                )
            )
    return out


def _entries(grants: Sequence[PostgresGrant], prefix: str) -> list[tuple[str, PgGrantEntry]]:
    return [(f"{prefix}[{i}]", _entry(g)) for i, g in enumerate(grants)]


async def _observe_scope(
    adapter: PostgresAdapter, grantee: str, own: Sequence[tuple[str, PgGrantEntry]], others: Sequence[PgGrantEntry]
) -> tuple[dict[tuple[str, str], list[CatalogObject]], dict[PgObject, set[str]], set[PgObject], dict[str, int | None]]:
    """Read what the own entries cover: ACLs of their databases, schemas, relations and functions for `grantee`,
    and resolve the function signatures the entries (own and others' in the same databases) name."""
    objects: dict[tuple[str, str], list[CatalogObject]] = {}
    held: dict[PgObject, set[str]] = {}
    owned: set[PgObject] = set()
    resolved: dict[str, int | None] = {}
    databases: dict[str, set[str]] = {}
    listings: dict[str, set[str]] = {}
    for field, entry in own:
        for target in plan_grant_entry(entry, field=field):
            schemas = databases.setdefault(entry.database, set())
            if target.kind in ("schema", "table", "sequence", "function"):
                schemas.add(target.schema)
            if target.kind in ("table", "sequence", "function"):
                listings.setdefault(entry.database, set()).add(target.schema)
    for database, schemas in sorted(databases.items()):
        rows = await adapter._fetch(catalog.database_acl(grantee, database))
        obj = PgObject("database", database)
        held[obj] = acl_tokens(rows)
        if rows and rows[0]["owned"]:
            owned.add(obj)
        for schema in sorted(schemas):
            rows = await adapter._fetch(catalog.schema_acl(grantee, schema), database=database)
            obj = PgObject("schema", database, schema)
            held[obj] = acl_tokens(rows)
            if rows and rows[0]["owned"]:
                owned.add(obj)
        for schema in sorted(listings.get(database, ())):
            found: dict[PgObject, CatalogObject] = {}
            for row in await adapter._fetch(catalog.relation_acl(grantee, schema), database=database):
                obj = PgObject(row["kind"], database, schema, row["name"])
                found.setdefault(obj, CatalogObject(obj, row["name"]))
                held.setdefault(obj, set()).update(acl_tokens([row]))
                if row["owned"]:
                    owned.add(obj)
            for row in await adapter._fetch(catalog.function_acl(grantee, schema), database=database):
                obj = PgObject("function", database, schema, f"{row['name']}({row['arg_types']})")
                found.setdefault(
                    obj, CatalogObject(obj, row["name"], row["arg_types"], int(row["oid"]), str(row["routine_kind"]))
                )
                held.setdefault(obj, set()).update(acl_tokens([row]))
                if row["owned"]:
                    owned.add(obj)
            objects[(database, schema)] = list(found.values())
        for entry in [e for _, e in own] + list(others):
            if entry.database != database or not entry.functions:
                continue
            for target in _quiet_plan(entry):
                for _, signature in target.objects or ():
                    if target.kind == "function" and signature.endswith(")") and signature not in resolved:
                        value = await adapter._fetchval(catalog.resolve_function(signature), database=database)
                        resolved[signature] = int(value) if value is not None else None
    return objects, held, owned, resolved


def _quiet_plan(entry: PgGrantEntry) -> list[GrantTarget]:
    """Another resource's entry may be invalid (it reports that itself); here it simply declares nothing."""
    try:
        return plan_grant_entry(entry)
    except (InvalidSpec, TypeError):
        return []


async def grants_drift(
    adapter: PostgresAdapter,
    grantee: str,
    grants: Sequence[PostgresGrant],
    declared: Sequence[PostgresGrant],
    *,
    prefix: str = "spec.postgres.grants",
) -> list[Difference]:
    """Privilege differences of `grants` for `grantee`; extras relative to `declared` (every resource's entries)."""
    own = _entries(grants, prefix)
    if not own:
        return []
    others = [_entry(g) for g in declared]
    objects, held, owned, resolved = await _observe_scope(adapter, grantee, own, others)
    want = DesiredAccess()
    for field, entry in own:
        want.merge(desired_access(entry, objects, resolved, field=field))
    everything = DesiredAccess()
    for entry in others:
        if _quiet_plan(entry):
            everything.merge(desired_access(entry, objects, resolved))
    found = {c.obj: c for listing in objects.values() for c in listing}
    owners: dict[str, str | None] = {}
    for database in sorted({e.database for _, e in own}):
        rows = await adapter._fetch(catalog.database_attributes(database))
        owners[database] = rows[0]["owner"] if rows else None
    return privilege_drift(access_differences(want, everything, held, owned=owned), grantee, found, owners)


def default_privilege_drift(
    grantee: str, entries: Sequence[PostgresDefaultPrivilegeGrant], held: Mapping[str, Sequence[Mapping[str, Any]]]
) -> list[Difference]:
    """`defaultPrivileges.<db>.<schema>.<grantedBy>.<objectType>.missing` per entry (api.md 4.4: no extras).

    `held` maps each database to its DEFAULT_PRIVILEGES rows for `grantee`."""
    out: list[Difference] = []
    for i, item in enumerate(entries):
        field = f"spec.postgres.defaultPrivileges[{i}]"
        object_type = PgDefaultObjectType(item.object_type)
        dp = PgDefaultPrivilege(item.schema_, object_type, item.privileges, item.granted_by)
        statement = grant_default_privileges(dp, grantee, field=field)
        wanted = {pg_canonical(p) for p in item.privileges}
        expanded = set(ALL_EXPANSION[object_type]) if "ALL" in wanted else wanted
        code = default_privilege_acl_code(object_type)
        have = {
            str(r["privilege_type"])
            for r in held.get(item.database, ())
            if r["granted_by"] == item.granted_by
            and r["schema"] == item.schema_
            and char_value(r["object_type"]) == code
        }
        missing = sorted(expanded - have)
        if missing:
            name = f"defaultPrivileges.{item.database}.{item.schema_}.{item.granted_by}.{object_type}.missing"
            fix = Fix((statement,), item.database, item.granted_by)
            out.append(Difference(name, listed(missing), listed(sorted(have)), fix=fix))
    return out


async def role_drift(adapter: PostgresAdapter, spec: RoleSpec, declared: DeclaredAccess) -> list[Difference]:
    """Attributes, memberships (`inRoles`) and the role's own `grants[]` (api.md 4.4 role row)."""
    config = _config(spec)
    role = spec.role_name
    observed = await observe_role(adapter, role)
    if observed is None:
        return []  # existence is the reconcile's business, not drift
    in_roles = [pg_name(r, f"spec.postgres.inRoles[{i}]") for i, r in enumerate(config.in_roles or ())]
    out = attribute_drift(role, role_attributes(config), observed)
    out += membership_drift("inRoles", role, in_roles, declared.memberships, observed.member_of)
    out += await grants_drift(adapter, role, config.grants or (), declared.postgres_grants or (config.grants or ()))
    return sorted(out, key=lambda d: d.field)


async def access_drift(
    adapter: PostgresAdapter, grantee: str, spec: GrantSpec, declared: DeclaredAccess
) -> list[Difference]:
    """Memberships (`roles`, only when the resource lists them), privileges and default privileges of one grant."""
    config = spec.postgres
    if config is None or not await adapter._fetch(catalog.role_attributes(grantee)):
        return []
    out: list[Difference] = []
    if config.roles is not None:
        roles = [pg_name(r, f"spec.postgres.roles[{i}]") for i, r in enumerate(config.roles)]
        out += membership_drift("roles", grantee, roles, declared.memberships, await _memberships(adapter, grantee))
    out += await grants_drift(adapter, grantee, config.grants or (), declared.postgres_grants or (config.grants or ()))
    defaults = config.default_privileges or ()
    held: dict[str, list[Any]] = {}
    for database in sorted({d.database for d in defaults}):
        held[database] = list(await adapter._fetch(catalog.default_privileges(grantee), database=database))
    out += default_privilege_drift(grantee, defaults, held)
    return sorted(out, key=lambda d: d.field)


async def correct_drift(adapter: PostgresAdapter, diffs: Sequence[Difference]) -> dict[str, str]:
    """Run each difference's `Fix` (all attempted); `{field: error}` for those that failed."""
    owners: dict[str, str | None] = {}
    failures: dict[str, str] = {}
    for diff in diffs:
        fix = diff.fix
        if not isinstance(fix, Fix):
            failures[diff.field] = "no correction is known for this difference"
            continue
        if fix.error is not None:
            failures[diff.field] = fix.error
            continue
        try:
            if fix.database is not None and fix.database not in owners:
                rows = await adapter._fetch(catalog.database_attributes(fix.database))
                owners[fix.database] = rows[0]["owner"] if rows else None
                await adapter._ensure_privileges_of(owners[fix.database])
            await adapter._ensure_privileges_of(fix.acting_for)
            await adapter._execute(list(fix.statements), database=fix.database)
        except (EngineError, ConnectionFailure) as error:
            failures[diff.field] = str(error)
    return failures


class PostgresAccessDrift:
    """The `AccessDriftAdapter` of a PostgreSQL adapter (registered below for engine `postgres` only: CockroachDB
    reads grants with SHOW GRANTS and needs its own)."""

    def __init__(self, adapter: PostgresAdapter) -> None:
        self.adapter = adapter

    async def role_drift(self, spec: RoleSpec, declared: DeclaredAccess) -> list[Difference]:
        return await role_drift(self.adapter, spec, declared)

    async def access_drift(self, grantee: str, spec: GrantSpec, declared: DeclaredAccess) -> list[Difference]:
        return await access_drift(self.adapter, grantee, spec, declared)

    async def correct_drift(self, diffs: Sequence[Difference]) -> dict[str, str]:
        return await correct_drift(self.adapter, diffs)


register_drift_support("postgres", PostgresAccessDrift)
