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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dbops.api.grants import PostgresDefaultPrivilegeGrant, PostgresGrant
from dbops.api.role import PostgresRoleConfig
from dbops.engines.access import AccessOutcome, GrantSpec, RoleSpec
from dbops.engines.base import EngineError, ObservedAccount
from dbops.engines.connection import ConnectionFailure
from dbops.engines.postgres_errors import PostgresEngineError
from dbops.engines.postgres_mapping import ATTRIBUTE_KEYS, attribute_differences
from dbops.engines.sql import postgres as sql
from dbops.engines.sql import postgres_catalog as catalog
from dbops.engines.sql.postgres_grants import (
    GrantTarget,
    PgDefaultPrivilege,
    PgGrantEntry,
    grant_default_privileges,
    plan_grant_entry,
    render_grants,
    render_revokes,
    revoke_default_privileges,
)
from dbops.engines.sql.privileges import PgDefaultObjectType
from dbops.engines.sql.quoting import pg_ident

if TYPE_CHECKING:
    from dbops.engines.postgres_adapter import PostgresAdapter

__all__ = [
    "apply_access",
    "apply_role",
    "create_role",
    "drop_role",
    "observe_role",
    "plan_entries",
    "revoke_access",
    "role_attributes",
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
