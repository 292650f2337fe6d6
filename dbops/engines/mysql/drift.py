"""Drift on MySQL and MariaDB (behaviour.md 11; api.md 4.4 "mysql, mariadb" rows; engines.md 4.5): the Database,
role/grant and account halves the shared drift checker calls, registered for engines `mysql` and `mariadb`.

Reading goes through the adapter's own observation (`observe_database`, `observe_account`, the grant tables via
`observe_privileges`, `mysql.roles_mapping` / `mysql.role_edges`), so drift compares exactly what the apply wrote.
Each `Difference` carries a `MySQLFix`: what corrects it, in adapter terms (GRANT/REVOKE of the privilege tuples
found missing or extra, GRANT/REVOKE of roles, ALTER DATABASE / ALTER USER statements, host entries added or
dropped). The pure part — turning observations into differences — is separate from the reading, so it is
unit-testable without a server.

"Extra" is relative to everything the operator declares for the grantee (behaviour.md 11.3). `DeclaredAccess`
carries PostgreSQL entries only in this build; MySQL entries declared by other resources are taken from its
`mysql.grants` attribute when the controllers provide one, else only the resource's own entries count. Extras are
only looked for on targets the resource's own entries cover, and only the resource's own entries can be missing.

Account drift (DatabaseUser) has no registry in `dbops.engines.base` / `access` yet; `MySQLUserDrift` offers it with
the shape of `PostgresUserDrift` (`user_drift(spec, login=, service_role=, declared=)` / `correct_user_drift(diffs)`,
plus an optional `password` for the two corrections that need it), and `user_drift_support(adapter)` finds it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from dbops.api.database import DatabaseSpec
from dbops.api.grants import MySQLGrant
from dbops.api.user import DatabaseUserSpec
from dbops.engines.access import DeclaredAccess, Difference, GrantSpec, RoleSpec, register_drift_support
from dbops.engines.base import (
    EngineError,
    ObservedAccount,
    ObservedDatabase,
    register_database_drift,
    register_user_drift,
)
from dbops.engines.connection import ConnectionFailure
from dbops.engines.errors import InvalidSpec
from dbops.engines.mysql import sql
from dbops.engines.mysql.access import EntryOutcome
from dbops.engines.mysql.grants import Privilege, expand_entry
from dbops.engines.mysql.server import MySQLServer
from dbops.engines.mysql.spec import (
    account_drift,
    account_options,
    database_config,
    database_drift,
    effective_plugin,
    grant_entries,
    hosts_of,
    user_config,
)
from dbops.engines.mysql.sql import PLUGINS, Account, MySQLDialect

if TYPE_CHECKING:
    from dbops.engines.ownership import OwnershipNames


class MySQLAdapter(Protocol):
    """What the drift halves use of `dbops.engines.mysql.adapter.MySQLAdapter`, named by its shape: the adapter
    module imports this one (it registers the halves), so this one cannot import it."""

    server: MySQLServer

    async def observe_database(self, name: str) -> ObservedDatabase | None: ...
    async def observe_account(self, username: str) -> ObservedAccount | None: ...
    async def observe_privileges(self, grantee: str) -> dict[Account, frozenset[Privilege]]: ...
    async def grantee_accounts(self, name: str) -> list[Account]: ...
    async def grant_roles(self, grantee: str, roles: Sequence[str], *, field: str = ...) -> list[str]: ...
    async def revoke_roles(self, grantee: str, roles: Sequence[str], *, field: str = ...) -> None: ...
    async def grant_privileges(self, grantee: str, privileges: Sequence[Privilege]) -> list[EntryOutcome]: ...
    async def revoke_privileges(self, grantee: str, privileges: Sequence[Privilege]) -> list[EntryOutcome]: ...
    async def drop_hosts(self, username: str, hosts: Sequence[str]) -> None: ...
    async def _memberships(self, grantee: str) -> dict[str, frozenset[str]]: ...
    async def _add_hosts(
        self,
        username: str,
        hosts: Sequence[str],
        opts: sql.AccountOptions,
        observed: ObservedAccount,
        password: str | None,
    ) -> None: ...


__all__ = [
    "Action",
    "MySQLAccessDrift",
    "MySQLDatabaseDrift",
    "MySQLFix",
    "MySQLUserDrift",
    "account_differences",
    "database_differences",
    "declared_privileges",
    "listed",
    "membership_differences",
    "privilege_differences",
    "register",
]

#: Errors a correction reports per field instead of raising (the checker records them as failed corrections).
_FIX_ERRORS = (EngineError, ConnectionFailure, InvalidSpec)


class Action(StrEnum):
    """What a `MySQLFix` does."""

    STATEMENTS = "statements"
    """Run `statements` in order (ALTER DATABASE, ALTER USER per host entry)."""
    GRANT_PRIVILEGES = "grant-privileges"
    REVOKE_PRIVILEGES = "revoke-privileges"
    GRANT_ROLES = "grant-roles"
    """GRANT each of `names` to every account of `grantee`, made active at login as the apply does."""
    REVOKE_ROLES = "revoke-roles"
    ADD_HOSTS = "add-hosts"
    """New host entries `names` for the user `grantee` with the account's password, then its `roles`."""
    DROP_HOSTS = "drop-hosts"
    SET_PLUGIN = "set-plugin"
    """ALTER USER … IDENTIFIED WITH `plugin` on every host entry: needs the account's password."""


@dataclass(frozen=True)
class MySQLFix:
    """How to correct one difference (opaque to controllers, never written to status).

    `error` instead says why it cannot be corrected; the correction then reports that text for the field.
    """

    action: Action
    grantee: str = ""
    statements: tuple[str, ...] = ()
    privileges: tuple[Privilege, ...] = ()
    names: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    options: sql.AccountOptions | None = None
    plugin: str | None = None
    error: str | None = None


def listed(values: Iterable[str]) -> str:
    """A readable comma list for `expected` / `actual`; `none` when empty (as on PostgreSQL)."""
    items = list(values)
    return ", ".join(items) if items else "none"


def _described(privileges: Iterable[Privilege]) -> str:
    return listed(sorted(dict.fromkeys(p.describe() for p in sorted(privileges))))


# Databases (api.md 4.4 "Database (mysql, mariadb)": charset, collation) ---------------------------------------------


def database_differences(spec: DatabaseSpec, observed: ObservedDatabase) -> list[Difference]:
    """`charset` and `collation`, each corrected by one ALTER DATABASE with both clauses (a character set alone
    would reset the collation to the set's default; the same statement as the apply)."""
    config = database_config(spec)
    diffs = database_drift(spec, observed)
    if not diffs:
        return []
    statement = sql.alter_database(spec.name, charset=config.charset, collation=config.collation)
    fix = MySQLFix(Action.STATEMENTS, statements=(statement,))
    return [Difference(d.field, d.expected, d.actual, fix=fix) for d in diffs]


# Privileges (api.md 4.4 `grants.<db>.<table or *>.missing` / `.extra`) -------------------------------------------


def declared_privileges(entries: Iterable[tuple[str, MySQLGrant]]) -> frozenset[Privilege]:
    """The privilege tuples of `(field, entry)` pairs. Entries of other resources that cannot be expanded (invalid
    specs, reported by their own resource) simply declare nothing."""
    out: set[Privilege] = set()
    for field, grant in entries:
        [entry] = grant_entries([grant])
        try:
            out |= expand_entry(entry, field=field)
        except InvalidSpec:
            continue
    return frozenset(out)


def privilege_differences(
    grantee: str,
    own: frozenset[Privilege],
    allowed: frozenset[Privilege],
    held: Mapping[Account, frozenset[Privilege]],
) -> list[Difference]:
    """Per target of the resource's own entries (`own`): privileges missing on any account of the grantee, and
    privileges held on any account beyond `allowed` (everything declared for the grantee, `own` included; extras
    are destructive). Each difference carries the GRANT or REVOKE of exactly those tuples, sent to every account
    (GRANT is idempotent; a REVOKE of something an account does not hold is skipped)."""
    allowed = allowed | own
    out: list[Difference] = []
    for target in sorted({p.target_key for p in own}):
        want = {p for p in own if p.target_key == target}
        permitted = {p for p in allowed if p.target_key == target}
        missing: set[Privilege] = set()
        extra: set[Privilege] = set()
        have: set[Privilege] = set()
        for privileges in held.values():
            on_target = {p for p in privileges if p.target_key == target}
            have |= on_target
            missing |= want - on_target
            extra |= on_target - permitted
        field = f"grants.{target}"
        if missing:
            fix = MySQLFix(Action.GRANT_PRIVILEGES, grantee, privileges=tuple(sorted(missing)))
            out.append(Difference(f"{field}.missing", _described(missing), _described(have), fix=fix))
        if extra:
            fix = MySQLFix(Action.REVOKE_PRIVILEGES, grantee, privileges=tuple(sorted(extra)))
            out.append(
                Difference(f"{field}.extra", _described(permitted), _described(extra), destructive=True, fix=fix)
            )
    return out


# Memberships (`roles.missing` / `roles.extra`) --------------------------------------------------------------------


def membership_differences(
    grantee: str,
    own: Sequence[str],
    declared: Iterable[str],
    held: Mapping[str, frozenset[str]],
    hosts: Iterable[str],
) -> list[Difference]:
    """`roles.missing`: a role of `own` that some host entry of the grantee lacks (granted again to every entry and
    made active at login); `roles.extra` (destructive): a role held on some entry that nothing declares (revoked).
    `held` maps host (empty for a MariaDB role grantee) to the roles granted to that entry."""
    entries = list(hosts)
    allowed = frozenset(declared) | frozenset(own)
    union = frozenset().union(*(held.get(h, frozenset()) for h in entries)) if entries else frozenset()
    missing = [r for r in dict.fromkeys(own) if any(r not in held.get(h, frozenset()) for h in entries)]
    extra = sorted(union - allowed)
    out: list[Difference] = []
    if missing:
        fix = MySQLFix(Action.GRANT_ROLES, grantee, names=tuple(missing))
        out.append(Difference("roles.missing", listed(missing), listed(sorted(union)), fix=fix))
    if extra:
        fix = MySQLFix(Action.REVOKE_ROLES, grantee, names=tuple(extra))
        out.append(Difference("roles.extra", listed(sorted(allowed)), listed(extra), destructive=True, fix=fix))
    return out


# Accounts (api.md 4.4 "DatabaseUser (mysql, mariadb)") ------------------------------------------------------------


def account_differences(
    spec: DatabaseUserSpec,
    observed: ObservedAccount,
    dialect: MySQLDialect,
    *,
    declared_roles: Iterable[str] = (),
) -> list[Difference]:
    """Hosts, attributes (resource limits, lock, REQUIRE SSL/X509, plugin, failed-login locking) and memberships
    of a user, each with its correction. Every attribute difference is corrected by the same ALTER USER with the
    whole setting set on every host entry (limits can go back to 0); the plugin needs the password."""
    username = spec.username
    config = user_config(spec)
    options = account_options(config)
    existing = [Account(username, h) for h in sorted(observed.hosts)]
    alter = tuple(sql.alter_user(a, options, dialect) for a in existing)
    roles = tuple(spec.roles or ())
    out: list[Difference] = []
    declared = list(declared_roles)
    wanted_hosts = hosts_of(spec, dialect)
    for diff in account_drift(spec, observed, dialect, declared_roles=declared):
        field = diff.field
        if field == "allowedHosts.missing":
            hosts = tuple(h for h in wanted_hosts if h not in observed.hosts)
            fix = MySQLFix(Action.ADD_HOSTS, username, names=hosts, roles=roles, options=options)
        elif field == "allowedHosts.extra":
            fix = MySQLFix(Action.DROP_HOSTS, username, names=tuple(sorted(observed.hosts - set(wanted_hosts))))
        elif field == "roles.missing":
            fix = MySQLFix(Action.GRANT_ROLES, username, names=tuple(r for r in roles if r not in observed.member_of))
        elif field == "roles.extra":
            extra = sorted(observed.member_of - set(roles) - set(declared))
            fix = MySQLFix(Action.REVOKE_ROLES, username, names=tuple(extra))
        elif field == "authPlugin":
            plugin = effective_plugin(config.auth_plugin, dialect)
            error = None if plugin in PLUGINS else f"plugin {plugin!r} cannot be set by the operator"
            fix = MySQLFix(Action.SET_PLUGIN, username, names=tuple(sorted(observed.hosts)), plugin=plugin, error=error)
        else:
            fix = MySQLFix(Action.STATEMENTS, username, statements=alter)
        out.append(Difference(field, diff.expected, diff.actual, destructive=bool(diff.destructive), fix=fix))
    return sorted(out, key=lambda d: d.field)


# Correction ---------------------------------------------------------------------------------------------------------


def _outcome_error(outcomes: Sequence[Any]) -> str | None:
    errors = [str(o.error) for o in outcomes if not o.applied]
    return "; ".join(dict.fromkeys(errors)) or None


async def _apply_fix(adapter: MySQLAdapter, fix: MySQLFix, password: str | None, done: set[MySQLFix]) -> str | None:
    """Run one fix; the error text when it failed. A fix shared by several differences (one ALTER for both charset
    and collation, one ALTER USER for every attribute) runs once."""
    if fix.error is not None:
        return fix.error
    if fix in done:
        return None
    action = fix.action
    if action is Action.STATEMENTS:
        await adapter.server.execute_all(list(fix.statements))
    elif action is Action.GRANT_PRIVILEGES:
        error = _outcome_error(await adapter.grant_privileges(fix.grantee, fix.privileges))
        if error is not None:
            return error
    elif action is Action.REVOKE_PRIVILEGES:
        error = _outcome_error(await adapter.revoke_privileges(fix.grantee, fix.privileges))
        if error is not None:
            return error
    elif action is Action.GRANT_ROLES:
        await adapter.grant_roles(fix.grantee, fix.names)
    elif action is Action.REVOKE_ROLES:
        await adapter.revoke_roles(fix.grantee, fix.names)
    elif action is Action.DROP_HOSTS:
        await adapter.drop_hosts(fix.grantee, fix.names)
    elif action is Action.ADD_HOSTS:
        observed = await adapter.observe_account(fix.grantee)
        if observed is None:
            return f"account {fix.grantee!r} does not exist"
        missing = [h for h in fix.names if h not in observed.hosts]
        if missing:
            await adapter._add_hosts(fix.grantee, missing, fix.options or sql.AccountOptions(), observed, password)
        if fix.roles:
            await adapter.grant_roles(fix.grantee, fix.roles)
    elif action is Action.SET_PLUGIN:
        if password is None:
            return "changing the authentication plugin needs the account's password"
        dialect = await adapter.server.detect()
        statements = [
            sql.alter_user_password(Account(fix.grantee, h), password, dialect, plugin=fix.plugin)
            for h in sorted(fix.names)
        ]
        await adapter.server.execute_all(statements, secrets=[password])
    done.add(fix)
    return None


async def correct(adapter: MySQLAdapter, diffs: Sequence[Difference], *, password: str | None = None) -> dict[str, str]:
    """Apply the `MySQLFix` of each difference (all attempted, in order); `{field: redacted error}` for failures."""
    failures: dict[str, str] = {}
    done: set[MySQLFix] = set()
    for diff in diffs:
        fix = diff.fix
        if not isinstance(fix, MySQLFix):
            failures[diff.field] = "no correction is known for this difference"
            continue
        try:
            error = await _apply_fix(adapter, fix, password, done)
        except _FIX_ERRORS as problem:
            error = str(problem)
        if error is not None:
            failures[diff.field] = error
    return failures


# The halves the controllers find through the registries -----------------------------------------------------------


class MySQLDatabaseDrift:
    """A Database's drift (`base.DatabaseDriftAdapter`): character set and collation from
    `information_schema.SCHEMATA`, corrected with ALTER DATABASE."""

    def __init__(self, adapter: MySQLAdapter) -> None:
        self.adapter = adapter

    async def database_drift(
        self, spec: DatabaseSpec, *, owner: str | None, names: OwnershipNames | None
    ) -> list[Difference]:
        """`owner` and `names` do not apply (MySQL has no database owners; reported unsupported)."""
        observed = await self.adapter.observe_database(spec.name)
        if observed is None:
            return []  # existence is the reconcile's business
        return database_differences(spec, observed)

    async def correct_database_drift(self, diffs: Sequence[Difference]) -> dict[str, str]:
        return await correct(self.adapter, diffs)


def _own_entries(grants: Sequence[MySQLGrant] | None, prefix: str) -> list[tuple[str, MySQLGrant]]:
    return [(f"{prefix}[{i}]", g) for i, g in enumerate(grants or ())]


def _declared_mysql(declared: DeclaredAccess) -> list[tuple[str, MySQLGrant]]:
    """MySQL entries other resources declare for the grantee, when the controllers pass them (module docstring)."""
    entries = getattr(declared, "mysql_grants", None) or ()
    return [(f"declared[{i}]", g) for i, g in enumerate(entries) if isinstance(g, MySQLGrant)]


class MySQLAccessDrift:
    """Roles and grants (`access.AccessDriftAdapter`): privileges from the grant tables per account (native roles,
    MariaDB's host-less roles, stand-in accounts and every host entry of a user alike), memberships from
    `mysql.roles_mapping` / `mysql.role_edges`."""

    def __init__(self, adapter: MySQLAdapter) -> None:
        self.adapter = adapter

    async def _privileges(
        self, grantee: str, own: list[tuple[str, MySQLGrant]], declared: DeclaredAccess
    ) -> list[Difference]:
        if not own:
            return []
        # The resource's own entries are expanded strictly: an invalid one is its spec error (InvalidSpec), not drift.
        mine = frozenset().union(*(expand_entry(grant_entries([g])[0], field=f) for f, g in own))
        allowed = mine | declared_privileges(_declared_mysql(declared))
        held = await self.adapter.observe_privileges(grantee)
        return privilege_differences(grantee, mine, allowed, held)

    async def role_drift(self, spec: RoleSpec, declared: DeclaredAccess) -> list[Difference]:
        """The role's own `mysql.grants` (api.md 4.4: a MySQL role has only grant fields). Memberships granted to a
        role come from grant resources, which report them as their `roles.*` fields."""
        role = spec.role_name
        if not await self.adapter.grantee_accounts(role):
            return []  # existence is the reconcile's business
        grants = spec.mysql.grants if spec.mysql else None
        return sorted(
            await self._privileges(role, _own_entries(grants, "spec.mysql.grants"), declared), key=lambda d: d.field
        )

    async def access_drift(self, grantee: str, spec: GrantSpec, declared: DeclaredAccess) -> list[Difference]:
        """Memberships (`roles`, only when the resource lists them) and privileges of one grant resource."""
        config = spec.mysql
        if config is None:
            return []
        accounts = await self.adapter.grantee_accounts(grantee)
        if not accounts:
            return []
        out: list[Difference] = []
        if config.roles is not None:
            held = await self.adapter._memberships(grantee)
            hosts = [a.host if a.host is not None else "" for a in accounts]
            out += membership_differences(grantee, list(config.roles), declared.memberships, held, hosts)
        out += await self._privileges(grantee, _own_entries(config.grants, "spec.mysql.grants"), declared)
        return sorted(out, key=lambda d: d.field)

    async def correct_drift(self, diffs: Sequence[Difference]) -> dict[str, str]:
        return await correct(self.adapter, diffs)


class MySQLUserDrift:
    """A DatabaseUser's drift: host entries, account settings from `mysql.user`, memberships (api.md 4.4
    "DatabaseUser (mysql, mariadb)"). For the user controller; see the module docstring."""

    def __init__(self, adapter: MySQLAdapter) -> None:
        self.adapter = adapter

    async def user_drift(
        self,
        spec: DatabaseUserSpec,
        *,
        login: str | None = None,
        service_role: str | None = None,
        declared: Iterable[str] = (),
    ) -> list[Difference]:
        """Every difference of the account `login` (default `spec.username`; a rotated account otherwise, compared
        with the same settings). `declared` are the roles other resources give it (grants, rotation's
        `service_role`), which are not `roles.extra`. Empty when the account does not exist."""
        target = spec if login is None or login == spec.username else spec.model_copy(update={"username": login})
        observed = await self.adapter.observe_account(target.username)
        if observed is None:
            return []
        dialect = await self.adapter.server.detect()
        allowed = set(declared) | ({service_role} if service_role else set())
        return account_differences(target, observed, dialect, declared_roles=sorted(allowed))

    async def correct_user_drift(self, diffs: Sequence[Difference], *, password: str | None = None) -> dict[str, str]:
        """Apply the corrections; `password` (the managed one) is needed to add a host entry when the stored hash
        cannot be copied and to change the authentication plugin. It only travels inside statements as an
        escaped literal and is redacted from every error."""
        return await correct(self.adapter, diffs, password=password)


def register() -> None:
    """Register the role/grant, Database and account halves for engines `mysql` and `mariadb` (the adapter module
    calls this when it is loaded, so the halves exist whenever a MySQL-family adapter does)."""
    for engine in ("mysql", "mariadb"):
        register_drift_support(engine, MySQLAccessDrift)
        register_database_drift(engine, MySQLDatabaseDrift)
        register_user_drift(engine, MySQLUserDrift)
