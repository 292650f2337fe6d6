"""The PostgreSQL engine adapter: databases and login accounts on a PostgreSQL server (engines.md 2).

It owns one `PostgresServer` (pooled sessions per database) and only ever executes statements returned by the pure
builders of `dbops.engines.sql`; catalog reads bind every name as a parameter. Each operation first builds every
statement it may need, so a bad spec value fails with `InvalidSpec` naming the field before any SQL runs; server
failures become redacted `EngineError`s (`postgres.errors`), and `ConnectionFailure` passes through.

The admin account of engines.md 1.6 is not a superuser. PostgreSQL (15 as much as 16+) only lets it create a
database owned by another role, re-own databases and schemas, set default privileges FOR ROLE another role, and
REASSIGN/DROP OWNED of another role when it has that role's privileges; the adapter therefore grants itself
membership in such a role just before it needs it (`_ensure_privileges_of`). CREATEROLE allows that on 15; on 16+ it
works for roles the admin created (it holds their admin option), which is what engines.md 1.6 prescribes.

Besides the protocol the adapter has two capabilities (`dbops.engines.initsql.InitSQLRunner`,
`dbops.engines.ownership.OwnershipAdapter`): running a Database's initSQL on a session of its own under the database
owner's identity, and setting up auto-ownership (owner role, app user, default privileges both ways). A Database's
drift (`base.DatabaseDriftAdapter`) is the `PostgresDatabaseDrift` wrapper, registered for engine `postgres` only:
the CockroachDB subclass reads and alters databases differently and must not inherit it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from contextlib import suppress
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import asyncpg

from dbops.api.database import DatabaseSpec
from dbops.api.user import DatabaseUserSpec
from dbops.engines.access import AccessOutcome, Difference, GrantSpec, RoleGrantAdapter, RoleSpec
from dbops.engines.base import (
    DatabaseDriftAdapter,
    EngineAdapter,
    EngineError,
    ObservedAccount,
    ObservedDatabase,
    OwnedObject,
    register_database_drift,
    register_user_drift,
)
from dbops.engines.connection import ConnectionFailure, ConnectionSettings, FailureCategory, ServerInfo
from dbops.engines.initsql import POSTGRES as POSTGRES_SPLIT
from dbops.engines.initsql import InitSQLRun, InitSQLRunner, literal_contents
from dbops.engines.observer import ConnectionObserver
from dbops.engines.ownership import OwnershipAdapter, OwnershipNames
from dbops.engines.postgres import access, catalog, sql
from dbops.engines.postgres.errors import PostgresEngineError, describe, server_errors
from dbops.engines.postgres.mapping import (
    ATTRIBUTE_KEYS,
    attribute_differences,
    char_value,
    database_config,
    database_options,
    default_privilege_acl_code,
    desired_memberships,
    major_version,
    observed_account,
    role_attributes,
    rotated_spec,
    setting_matches,
    stored_setting,
    unsupported_database_fields,
    unsupported_user_fields,
    user_config,
    valid_until_text,
)
from dbops.engines.postgres.plan import (
    PRIVILEGES_FIELD,
    DatabaseFix,
    DefaultPrivilegeStep,
    ExtensionStep,
    OwnershipState,
    SchemaStep,
    database_drift,
    missing_ownership_privileges,
    plan_database,
    plan_ownership,
)
from dbops.engines.postgres.rotation import PostgresRotation
from dbops.engines.postgres.server import STATEMENT_SECONDS, PostgresServer
from dbops.engines.rotation import register_rotation
from dbops.engines.sql.quoting import pg_ident
from dbops.engines.tracking import ResourceType

__all__ = [
    "LONG_SECONDS",
    "USER_DRIFT_FIELDS",
    "PostgresAdapter",
    "PostgresDatabaseDrift",
    "PostgresUserDrift",
    "account_drift",
]

LONG_SECONDS = 600.0
"""Limit for long statements: creating (copying a template) or dropping a database, moving it to another
tablespace, reassigning ownership (behaviour.md 2: 10 min)."""


CONCURRENT_DROP_ATTEMPTS = 3
"""Attempts at dropping an account whose databases a cascade drops concurrently."""


INSUFFICIENT_PRIVILEGE: Final = "42501"


class PostgresAdapter:
    """`EngineAdapter` for PostgreSQL; see the module docstring. One per instance, shared by every controller."""

    engine = "postgres"
    atomic_account_creation = True
    """CREATE ROLE, its settings and comment in one transaction (PostgreSQL role DDL is transactional)."""

    def __init__(self, settings: ConnectionSettings, observer: ConnectionObserver | None = None) -> None:
        self.settings = settings
        self._server = PostgresServer(settings, observer)
        self._major: int | None = None
        self._password_encryption: str | None = None

    def __repr__(self) -> str:
        s = self.settings
        return f"PostgresAdapter(host={s.host!r}, port={s.port}, username={s.username!r}, database={s.database!r})"

    @property
    def server(self) -> PostgresServer:
        """The server handle, for callers with in-database work of their own (grants, initSQL) on the same pools."""
        return self._server

    @property
    def admin(self) -> str:
        return self.settings.username

    # Plumbing ----------------------------------------------------------------------------------------------------

    async def _fetch(self, query: catalog.CatalogQuery, *, database: str | None = None) -> list[Any]:
        text, params = query
        with server_errors():
            return await self._server.fetch(text, *params, database=database)

    async def _fetchval(self, query: catalog.CatalogQuery, *, database: str | None = None) -> Any:
        text, params = query
        with server_errors():
            return await self._server.fetchval(text, *params, database=database)

    async def _execute(
        self,
        statements: Sequence[str],
        *,
        database: str | None = None,
        seconds: float = STATEMENT_SECONDS,
        secrets: Sequence[str | None] = (),
        atomic: bool = False,
    ) -> None:
        if not statements:
            return
        with server_errors([s for s in secrets if s], seconds=seconds):
            await self._server.execute_all(statements, database=database, seconds=seconds, atomic=atomic)

    async def _dialect(self) -> sql.PgDialect:
        """The PostgreSQL dialect for the server's major version (read once, refreshed by `check`)."""
        if self._major is None:
            self._major = int(await self._fetchval((catalog.SERVER_VERSION_NUM, ()))) // 10000
        return sql.PgDialect(major_version=self._major)

    async def _ensure_privileges_of(self, role: str | None) -> None:
        """Make the admin able to act as `role` (engines.md 1.6): grant itself membership when it lacks it.

        Nothing happens for the admin itself, a predefined `pg_*` role (they cannot be, or must not be, granted this
        way: `pg_database_owner` has no explicit members), a missing role (the statement that follows reports that),
        or a role whose privileges the admin already has (member with inheritance, or superuser).
        """
        if role is None or role == self.admin or role.startswith("pg_"):
            return
        rows = await self._fetch(catalog.has_privileges_of_role(role))
        if not rows or rows[0]["has_privileges"]:
            return
        try:
            await self._execute([sql.grant_membership(role, self.admin)])
        except PostgresEngineError as error:
            if error.sqlstate != INSUFFICIENT_PRIVILEGE:
                raise
            # The bare server text ("must be superuser to alter superusers") does not say which role or why.
            raise PostgresEngineError(
                f"the admin account {self.admin} cannot act for role {role}, which owns the object ({error}); "
                f"use an object {role} does not own, or an admin account with its privileges",
                error.sqlstate,
            ) from None

    async def _password(self, password: str) -> sql.PgPassword:
        """A SCRAM verifier when the server stores SCRAM (engines.md 1.5), else the plaintext literal.

        `password_encryption` is read once and kept, like the major version (refreshed by `check`): it is a server
        setting that changes with a configuration reload, which the instance's health check follows."""
        if self._password_encryption is None:
            self._password_encryption = str(await self._fetchval((catalog.PASSWORD_ENCRYPTION, ()))).lower()
        if self._password_encryption == "scram-sha-256":
            # 4,096 PBKDF2 rounds (~4 ms): hashlib releases the GIL, so a worker thread keeps the event loop free.
            return await asyncio.to_thread(sql.PgPassword.scram, password)
        return sql.PgPassword.plaintext(password)

    # Server ------------------------------------------------------------------------------------------------------

    async def check(self) -> ServerInfo:
        """A fresh session, a ping and the version query; also refreshes the major version used for the dialect and
        forgets the cached `password_encryption` (read again at the next password)."""
        with server_errors():
            info = await self._server.check()
        self._password_encryption = None
        try:
            self._major = major_version(info.version)
        except ValueError:
            self._major = None
        return info

    async def close(self) -> None:
        await self._server.close()

    # Databases ---------------------------------------------------------------------------------------------------

    def unsupported_database_fields(self, spec: DatabaseSpec, server: ServerInfo | None) -> list[str]:
        """engines.md 1.7 has no PostgreSQL Database row; see `postgres.mapping.unsupported_database_fields` for what
        is still reported (other engines' blocks, auto-ownership until it is implemented)."""
        return unsupported_database_fields(spec)

    async def observe_database(self, name: str) -> ObservedDatabase | None:
        """pg_database attributes, size and comment; extensions and schemas read inside the database when it
        allows connections (left empty otherwise: nobody can connect, the operator included)."""
        pg_ident(name, "spec.name")  # a longer name would be truncated by the server and match another database
        rows = await self._fetch(catalog.database_attributes(name))
        if not rows:
            return None
        row = rows[0]
        size = await self._fetchval(catalog.database_size_permitted(name))
        comment = await self._fetchval(catalog.database_comment(name))
        extensions: dict[str, str] = {}
        schemas: dict[str, str] = {}
        if row["allow_connections"]:
            extensions, schemas = await self._in_database_state(name)
        return ObservedDatabase(
            name=row["name"],
            owner=row["owner"],
            encoding=row["encoding"],
            collation=row["lc_collate"],
            ctype=row["lc_ctype"],
            connection_limit=row["connection_limit"],
            is_template=row["is_template"],
            allow_connections=row["allow_connections"],
            tablespace=row["tablespace"],
            size_bytes=size,
            comment=comment,
            extensions=extensions,
            schemas=schemas,
        )

    async def _in_database_state(self, name: str) -> tuple[dict[str, str], dict[str, str]]:
        extensions = await self._fetch((catalog.EXTENSIONS, ()), database=name)
        schemas = await self._fetch((catalog.SCHEMAS, ()), database=name)
        return (
            {r["name"]: r["version"] for r in extensions},
            {r["name"]: r["owner"] for r in schemas},
        )

    async def create_database(self, spec: DatabaseSpec, *, owner: str | None, comment: str | None) -> None:
        """One CREATE DATABASE on the admin database with every creation option, then the tracking comment.

        The TABLESPACE clause is left out when the template already lives in the requested tablespace (the result
        is the same, and naming `pg_default` needs CREATE on it, which only superusers hold by default).
        """
        config = database_config(spec)
        sql.create_database(database_options(spec, owner))  # every option checked before any SQL
        comment_sql = sql.comment_on_database(spec.name, comment) if comment is not None else None
        template = await self._fetch(catalog.database_attributes(config.template))
        same_tablespace = bool(template) and template[0]["tablespace"] == config.tablespace
        statement = sql.create_database(database_options(spec, owner, tablespace=not same_tablespace))
        await self._ensure_privileges_of(owner)
        await self._execute([statement], seconds=LONG_SECONDS)
        if comment_sql is not None:
            await self._execute([comment_sql])

    async def _set_database_comment(self, name: str, comment: str | None) -> None:
        """COMMENT ON DATABASE, as a member of the database's owner (a non-superuser admin needs that)."""
        pg_ident(name, "spec.name")
        statement = sql.comment_on_database(name, comment)
        rows = await self._fetch(catalog.database_attributes(name))
        if rows:
            await self._ensure_privileges_of(rows[0]["owner"])
        await self._execute([statement])

    async def verify_database(self, name: str) -> None:
        """`SELECT 1` in a session to the database. A session the server refuses (database not there yet, or not
        accepting connections) is an EngineError, so the Database stays Creating; failures of the instance itself
        (authentication, TLS, unreachable, timeout) pass through as ConnectionFailure."""
        pg_ident(name, "spec.name")
        try:
            await self._fetchval((catalog.PING, ()), database=name)
        except ConnectionFailure as failure:
            if failure.category is not FailureCategory.SERVER_ERROR:
                raise
            raise EngineError(str(failure)) from None

    async def apply_database(self, spec: DatabaseSpec, observed: ObservedDatabase, *, owner: str | None) -> list[str]:
        """behaviour.md 7.5 for PostgreSQL, in this order: connection limit, is-template, tablespace, owner;
        allowConnections back to true when needed; inside the database schemas (created with their owner, else the
        database owner; an explicit schema owner is enforced), extensions (created, or updated to the listed
        version) and default privileges of the database owner; allowConnections false last. Nothing is dropped.

        While the database refuses connections (and is to keep refusing them) the in-database items are skipped:
        the controller reports them as waiting (`ConnectionsDisallowed`).
        """
        plan = plan_database(spec, owner=owner, admin=self.admin)  # every statement built: InvalidSpec before SQL
        name = spec.name
        changed: list[str] = []
        steps = plan.server_steps(observed)
        if steps:
            await self._ensure_privileges_of(observed.owner)
        for step in steps:
            if step is plan.tablespace:
                await self._server.close_database(name)  # moving needs no sessions, ours included
            if step is plan.owner:
                await self._ensure_privileges_of(owner)
            await self._execute([step.statement], seconds=LONG_SECONDS)
            changed.append(step.field)
        current_owner = owner if owner is not None else observed.owner

        allow = plan.allow_connections
        connectable = observed.allow_connections is not False
        if allow.value and not connectable:
            await self._ensure_privileges_of(current_owner)
            await self._execute([allow.statement])
            changed.append(allow.field)
            connectable = True
        if connectable:
            in_database = _InDatabase(self, name, current_owner)
            changed += await in_database.schemas(plan.schemas)
            changed += await in_database.extensions(plan.extensions)
            changed += await in_database.default_privileges(plan.default_privileges, plan.granted_by)
        if not allow.value and observed.allow_connections is not False:
            await self._ensure_privileges_of(current_owner)
            await self._execute([allow.statement])
            await self._server.close_database(name)  # no in-database work while connections are refused
            changed.append(allow.field)
        return changed

    async def drop_database(self, name: str) -> None:
        """Close our pool on it, end the other sessions (best effort: superuser sessions need a superuser), then DROP
        DATABASE IF EXISTS … WITH (FORCE) on 13+ (unmarking a template first). A missing database is not an error."""
        pg_ident(name, "spec.name")
        rows = await self._fetch(catalog.database_attributes(name))
        await self._server.close_database(name)
        if not rows:
            return
        statements = sql.drop_database(name, await self._dialect(), is_template=bool(rows[0]["is_template"]))
        await self._ensure_privileges_of(rows[0]["owner"])
        with suppress(EngineError):  # best effort: FORCE ends what it may, and the drop reports what is left
            await self._fetch(catalog.terminate_sessions(name))
        await self._execute(statements, seconds=LONG_SECONDS)

    async def user_object_count(self, name: str) -> int:
        """Counted inside the database; a database nobody may connect to counts as holding objects (it cannot be
        inspected, so it is treated as live data)."""
        pg_ident(name, "spec.name")
        rows = await self._fetch(catalog.database_attributes(name))
        if not rows:
            return 0
        if not rows[0]["allow_connections"]:
            return 1
        return int(await self._fetchval((catalog.USER_OBJECT_COUNT, ()), database=name) or 0)

    async def database_sizes(self) -> dict[str, int]:
        """Every database's size in one query; databases whose size the admin may not read are left out."""
        rows = await self._fetch((catalog.DATABASE_SIZES, ()))
        return {r["name"]: int(r["size_bytes"]) for r in rows if r["size_bytes"] is not None}

    # initSQL (InitSQLRunner) --------------------------------------------------------------------------------------

    async def run_init_sql(
        self, spec: DatabaseSpec, statements: Sequence[str], *, role: str | None, sensitive: bool
    ) -> InitSQLRun:
        """behaviour.md 12 on PostgreSQL: a session of its own to the database (never a pooled one: the statements
        may change session state, e.g. SET search_path, which must not leak into later operator work), the identity
        switch to ``role`` as its own statement, the statements one at a time in autocommit mode, RESET ROLE after the
        last, then the session is closed. Each statement has the usual 30 s limit.

        The statements are never logged. A server error or a time-out of statement k ends the run with
        ``executed = k - 1``; a lost connection or a failed identity switch raises (transient).
        """
        database = spec.name
        pg_ident(database, "spec.name")
        switch = sql.set_role(role) if role is not None else None  # built (and checked) before any SQL
        if role is not None:
            await self._ensure_privileges_of(role)
        # The server handle pools sessions; initSQL needs a private one (see the docstring).
        connection = await self._server.session(database)
        try:
            if switch is not None:
                with server_errors(seconds=STATEMENT_SECONDS):
                    await connection.execute(switch, timeout=STATEMENT_SECONDS)
            for index, statement in enumerate(statements, start=1):
                secrets = literal_contents(statement, POSTGRES_SPLIT) if sensitive else []
                try:
                    await connection.execute(statement, timeout=STATEMENT_SECONDS)
                except asyncpg.PostgresError as error:
                    return InitSQLRun(executed=index - 1, failed_at=index, error=describe(error, secrets))
                except TimeoutError:
                    message = f"the statement did not finish within {STATEMENT_SECONDS:g}s"
                    return InitSQLRun(executed=index - 1, failed_at=index, error=message)
                except (asyncpg.InterfaceError, OSError) as error:
                    raise EngineError(f"initSQL statement {index}: {describe(error, secrets)}") from None
            if switch is not None:
                with server_errors(seconds=STATEMENT_SECONDS):
                    await connection.execute(sql.reset_role(), timeout=STATEMENT_SECONDS)
            return InitSQLRun(executed=len(statements))
        finally:
            with suppress(Exception):
                await connection.close(timeout=5)

    # Auto-ownership (OwnershipAdapter) ---------------------------------------------------------------------------

    async def ensure_ownership_roles(self, names: OwnershipNames) -> list[str]:
        """The owner role (NOLOGIN, INHERIT) and the app user (LOGIN, INHERIT, no password) when missing, then the
        app user's membership in the owner role when missing (engines.md 2.1). Existing roles are not altered: a
        DatabaseUser that takes over the app user manages its attributes and password."""
        plan = plan_ownership(names, (), set_default_privileges=False, dialect=await self._dialect())
        created: list[str] = []
        if not await self._fetch(catalog.role_attributes(names.role)):
            await self._execute([plan.create_role])
            created.append(names.role)
        if not await self._fetch(catalog.role_attributes(names.user)):
            await self._execute([plan.create_user])
            created.append(names.user)
        members = {r["role"] for r in await self._fetch(catalog.role_memberships(names.user))}
        if names.role not in members:
            await self._execute([plan.membership])
        return created

    async def apply_ownership(self, spec: DatabaseSpec, names: OwnershipNames) -> list[str]:
        """With ``setDefaultPrivileges`` (default true): inside the database, in ``public`` and every listed schema,
        the default privileges FOR ROLE owner TO app user and FOR ROLE app user TO owner that `pg_default_acl` lacks.
        Setting them FOR ROLE x needs the admin to be a member of x (engines.md 1.6), which it grants itself."""
        config = database_config(spec)
        ownership = config.ownership
        plan = plan_ownership(
            names,
            [s.name for s in config.schemas or ()],
            set_default_privileges=ownership.set_default_privileges if ownership is not None else True,
            dialect=await self._dialect(),
        )
        if not plan.privileges:
            return []
        held = {
            grantee: await self._fetch(catalog.default_privileges(grantee), database=spec.name)
            for grantee in dict.fromkeys(step.grantee for step in plan.privileges)
        }
        missing = missing_ownership_privileges(plan, held)
        if not missing:
            return []
        for creator in dict.fromkeys(step.granted_by for step in missing):
            await self._ensure_privileges_of(creator)
        await self._execute([step.grant for step in missing], database=spec.name)
        return [PRIVILEGES_FIELD]

    # Login accounts ----------------------------------------------------------------------------------------------

    def unsupported_user_fields(self, spec: DatabaseUserSpec, server: ServerInfo | None) -> list[str]:
        """engines.md 1.7 PostgreSQL and "All" rows (dual-password, non-Kubernetes Secret formats) plus other
        engines' blocks."""
        return unsupported_user_fields(spec)

    async def observe_account(self, username: str) -> ObservedAccount | None:
        """pg_roles attributes under the spec's names (plus `defaultRole` from the per-role `role` setting), direct
        memberships, the other per-role settings that apply in every database, and the comment — in one catalog
        query (`ACCOUNT_STATE`): it runs on every user reconcile, so a converged user costs one round trip."""
        pg_ident(username, "spec.username")
        rows = await self._fetch(catalog.account_state(username))
        return observed_account(rows[0]) if rows else None

    def _account_statements(self, spec: DatabaseUserSpec, password: sql.PgPassword, comment: str | None) -> list[str]:
        config = user_config(spec)
        memberships = desired_memberships(spec)
        statements = [
            sql.create_role(
                spec.username, role_attributes(spec), password=password, in_roles=[m.role for m in memberships]
            )
        ]
        if config.default_role is not None:
            statements.append(sql.set_default_role(spec.username, config.default_role))
        statements += sql.set_role_parameters(spec.username, config.config_parameters or {})
        if comment is not None:
            statements.append(sql.comment_on_role(spec.username, comment))
        return statements

    async def create_account(self, spec: DatabaseUserSpec, *, password: str, comment: str | None) -> None:
        """CREATE ROLE with LOGIN (unless `login: false`), every attribute, the password (a SCRAM verifier when the
        server stores SCRAM) and IN ROLE for `roles`, `inRoles` and `defaultRole`; then the default role, the
        configuration parameters and the tracking comment."""
        self._account_statements(spec, sql.PgPassword.plaintext(password), comment)  # checks, password included
        secret = await self._password(password)
        statements = self._account_statements(spec, secret, comment)
        # One transaction: a parameter the server refuses must not leave a half-made role that the next attempt
        # would "take over" (and count as an adoption).
        await self._execute(statements, secrets=(password, secret.text), atomic=self.atomic_account_creation)

    async def apply_account(self, spec: DatabaseUserSpec, observed: ObservedAccount) -> list[str]:
        """ALTER ROLE with the attributes that differ (only those: a non-superuser admin may not even mention
        SUPERUSER/REPLICATION/BYPASSRLS), then missing memberships, the default role and configuration parameters
        that differ. Nothing is removed. Returns the changed field paths."""
        config = user_config(spec)
        attrs = role_attributes(spec)
        differing = attribute_differences(attrs, observed.attributes)
        alter = sql.alter_role_attributes(spec.username, attrs, differing) if differing else None
        grants = [(sql.grant_membership(m.role, spec.username), m) for m in desired_memberships(spec)]
        default_role = (
            sql.set_default_role(spec.username, config.default_role) if config.default_role is not None else None
        )
        parameters = config.config_parameters or {}
        settings = [(k, sql.set_role_parameter(spec.username, k, parameters[k])) for k in sorted(parameters)]

        changed: list[str] = []
        if alter is not None:
            await self._execute([alter])
            changed += [f"spec.postgres.{ATTRIBUTE_KEYS[f]}" for f in differing]
        for statement, membership in grants:
            if membership.role not in observed.member_of:
                await self._execute([statement])
                changed.append(membership.field)
        if default_role is not None and observed.attributes.get("defaultRole") != config.default_role:
            await self._execute([default_role])
            changed.append("spec.postgres.defaultRole")
        for key, statement in settings:
            if not setting_matches(key, parameters[key], stored_setting(observed.settings, key)):
                await self._execute([statement])
                changed.append(f"spec.postgres.configParameters.{key}")
        return list(dict.fromkeys(changed))

    async def set_password(self, username: str, password: str) -> None:
        """ALTER ROLE … PASSWORD with a SCRAM verifier (or the literal when the server does not store SCRAM)."""
        sql.alter_role_password(username, sql.PgPassword.plaintext(password))  # checks before any SQL
        secret = await self._password(password)
        await self._execute([sql.alter_role_password(username, secret)], secrets=(password, secret.text))

    async def _set_role_comment(self, role: str, comment: str | None) -> None:
        pg_ident(role, "spec.username")
        await self._execute([sql.comment_on_role(role, comment)])

    # Resource tracking (api.md 5.7, `dbops.engines.tracking`): comments on databases and roles ---------------------

    async def read_tracking(self, resource_type: ResourceType, name: str) -> str | None:
        """The comment of the database or role (users and roles are both roles here)."""
        if resource_type == "Database":
            pg_ident(name, "spec.name")
            value = await self._fetchval(catalog.database_comment(name))
        else:
            pg_ident(name, "spec.username")
            value = await self._fetchval(catalog.role_comment(name))
        return None if value is None else str(value)

    async def write_tracking(self, resource_type: ResourceType, name: str, text: str) -> None:
        if resource_type == "Database":
            await self._set_database_comment(name, text)
        else:
            await self._set_role_comment(name, text)

    async def remove_tracking(self, resource_type: ResourceType, name: str) -> None:
        if resource_type == "Database":
            if await self._fetch(catalog.database_attributes(name)):
                await self._set_database_comment(name, None)
        elif await self._fetch(catalog.role_attributes(name)):
            await self._set_role_comment(name, None)

    async def owned_objects(self, username: str) -> list[OwnedObject]:
        """engines.md 2.5: databases the role owns, then, in every database where pg_shdepend says it owns something,
        the named tables, views, sequences, functions, procedures, schemas and types.

        A database that refuses connections cannot be looked into; it is reported as one entry of kind `unknown`
        named `*`, so an ownership pre-check still blocks rather than passing on what it could not see.
        """
        pg_ident(username, "spec.username")
        out = [
            OwnedObject(database=r["database"], schema=None, kind="database", name=r["database"])
            for r in await self._fetch(catalog.databases_owned_by(username))
        ]
        for row in await self._fetch(catalog.role_dependency_databases(username)):
            database = row["database"]
            if not row["owns_objects"]:
                continue
            if not row["allow_connections"]:
                out.append(OwnedObject(database=database, schema=None, kind="unknown", name="*"))
                continue
            for obj in await self._fetch(catalog.objects_owned_by(username), database=database):
                out.append(OwnedObject(database=database, schema=obj["schema"], kind=obj["type"], name=obj["name"]))
        return out

    async def drop_account(self, username: str) -> None:
        """REASSIGN OWNED BY … TO <admin> and DROP OWNED BY … in the admin database (shared objects: databases it
        owns, database privileges) and in every other database where pg_shdepend lists the role, then DROP ROLE IF
        EXISTS. Databases refusing connections are skipped; the DROP ROLE then names what is left there."""
        pg_ident(username, "spec.username")
        for attempt in range(CONCURRENT_DROP_ATTEMPTS):
            try:
                await self._drop_account_once(username)
                return
            except PostgresEngineError as error:
                # "tuple concurrently deleted/updated": a cascade drops the account's databases at the same moment
                # (pg_shdepend rows vanish under REASSIGN/DROP OWNED). Done again, it finds a settled catalog.
                if attempt == CONCURRENT_DROP_ATTEMPTS - 1 or "concurrently" not in str(error):
                    raise
                await asyncio.sleep(0.5)

    async def _drop_account_once(self, username: str) -> None:
        cleanup = [sql.reassign_owned(username, self.admin), sql.drop_owned(username)]
        drop = sql.drop_role(username)
        if not await self._fetch(catalog.role_attributes(username)):
            return
        await self._ensure_privileges_of(username)
        await self._execute(cleanup, seconds=LONG_SECONDS)
        for row in await self._fetch(catalog.role_dependency_databases(username)):
            if row["allow_connections"] and row["database"] != self.settings.database:
                try:
                    await self._execute(cleanup, database=row["database"], seconds=LONG_SECONDS)
                except (EngineError, ConnectionFailure):
                    # A database dropped meanwhile (a cascade drops databases and accounts concurrently) holds
                    # nothing of the role any more; any other failure is real.
                    if await self._fetch(catalog.database_attributes(row["database"])):
                        raise
                    await self._server.close_database(row["database"])
        await self._execute([drop], seconds=LONG_SECONDS)

    # Roles and grants (RoleGrantAdapter; the work is in `postgres.access`) ----------------------------------------

    async def observe_role(self, name: str) -> ObservedAccount | None:
        """The role `name` as `observe_account` reads it, or None."""
        return await access.observe_role(self, name)

    async def create_managed_role(self, spec: RoleSpec) -> None:
        """CREATE ROLE (NOLOGIN unless `login`) with attributes and IN ROLE, then the role's own grants."""
        await access.create_role(self, spec)

    async def apply_managed_role(self, spec: RoleSpec, observed: ObservedAccount) -> list[str]:
        """Differing attributes, missing memberships, then the role's grants again (GRANT is idempotent)."""
        return await access.apply_role(self, spec, observed)

    async def drop_managed_role(self, spec: RoleSpec) -> None:
        """REASSIGN/DROP OWNED per database, then DROP ROLE IF EXISTS."""
        await access.drop_role(self, spec)

    async def apply_access(self, grantee: str, spec: GrantSpec) -> AccessOutcome:
        """Memberships, privileges and default privileges of a grant, every entry attempted."""
        return await access.apply_access(self, grantee, spec)

    async def revoke_access(self, grantee: str, spec: GrantSpec) -> AccessOutcome:
        """The REVOKEs mirroring `apply_access`."""
        return await access.revoke_access(self, grantee, spec)


class PostgresDatabaseDrift:
    """A Database's drift on PostgreSQL (behaviour.md 11, api.md 4.4): `postgres.plan.database_drift` over the
    catalogs of engines.md 2.4, corrected with the statements the apply uses."""

    def __init__(self, adapter: PostgresAdapter) -> None:
        self.adapter = adapter

    async def database_drift(
        self, spec: DatabaseSpec, *, owner: str | None, names: OwnershipNames | None
    ) -> list[Difference]:
        """pg_database and, when the database accepts connections, pg_extension / pg_namespace inside it; with
        auto-ownership also the two roles, the membership and (inside the database) pg_default_acl."""
        adapter = self.adapter
        observed = await adapter.observe_database(spec.name)
        if observed is None:
            return []
        ownership = state = None
        if names is not None:
            config = database_config(spec)
            settings = config.ownership
            ownership = plan_ownership(
                names,
                [s.name for s in config.schemas or ()],
                set_default_privileges=settings.set_default_privileges if settings is not None else True,
                dialect=await adapter._dialect(),
            )
            role_exists = bool(await adapter._fetch(catalog.role_attributes(names.role)))
            user_exists = bool(await adapter._fetch(catalog.role_attributes(names.user)))
            members = (
                {r["role"] for r in await adapter._fetch(catalog.role_memberships(names.user))}
                if user_exists
                else set()
            )
            held: dict[str, list[Any]] | None = None
            if observed.allow_connections and ownership.privileges:
                held = {
                    grantee: await adapter._fetch(catalog.default_privileges(grantee), database=spec.name)
                    for grantee in (names.role, names.user)
                }
            state = OwnershipState(role_exists, user_exists, names.role in members, held)
        return database_drift(spec, observed, owner=owner, admin=adapter.admin, ownership=ownership, state=state)

    async def correct_database_drift(self, diffs: Sequence[Difference]) -> dict[str, str]:
        """Each difference's `DatabaseFix`, in dependency order (roles, ALTER DATABASE, schemas, extensions, default
        privileges, connections refused last); every item is attempted."""
        adapter = self.adapter
        failures: dict[str, str] = {}
        fixes = [(d, d.fix) for d in diffs]
        for diff, fix in sorted(fixes, key=lambda item: item[1].order if isinstance(item[1], DatabaseFix) else 99):
            if not isinstance(fix, DatabaseFix):
                failures[diff.field] = "no correction is known for this difference"
                continue
            try:
                for role in fix.acting_for:
                    await adapter._ensure_privileges_of(role)
                if fix.close_before is not None:
                    await adapter.server.close_database(fix.close_before)
                seconds = LONG_SECONDS if fix.long else STATEMENT_SECONDS
                await adapter._execute(list(fix.statements), database=fix.database, seconds=seconds)
                if fix.close_after is not None:
                    await adapter.server.close_database(fix.close_after)
            except (EngineError, ConnectionFailure) as error:
                failures[diff.field] = str(error)
        return failures


register_database_drift("postgres", PostgresDatabaseDrift)


# DatabaseUser drift (behaviour.md 11.3, api.md 4.4 DatabaseUser row) ------------------------------------------------

#: RoleAttributes field → the api.md 4.4 DatabaseUser field name (the flags lower-case, as the table spells them).
USER_DRIFT_FIELDS: Final = {
    "login": "login",
    "connection_limit": "connectionLimit",
    "valid_until": "validUntil",
    "superuser": "superuser",
    "create_db": "createdb",
    "create_role": "createrole",
    "inherit": "inherit",
    "replication": "replication",
    "bypass_rls": "bypassrls",
}
#: Attributes whose correction is destructive (api.md 4.4 "D").
DESTRUCTIVE_USER_ATTRIBUTES: Final = frozenset({"superuser"})
#: Correction order: a missing membership before the default role that needs it; removals last.
_CORRECTION_ORDER: Final = ("inRoles.missing", "", "defaultRole", "configParameters.", "inRoles.extra")


def _shown(value: object) -> str:
    """An attribute value as `expected` / `actual` text (`true`, `-1`, RFC 3339, `infinity`, `none`)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, datetime):
        return valid_until_text(value) or "none"
    return str(value)


def account_drift(spec: DatabaseUserSpec, observed: ObservedAccount, declared: Iterable[str]) -> list[Difference]:
    """Every difference between the login account `spec.username` and the server (pure; api.md 4.4 DatabaseUser row).

    * one diff per differing role attribute, with the one-attribute ALTER ROLE that corrects it (`validUntil` only
      when the spec sets it; `superuser` destructive);
    * `inRoles.missing` — `roles`, `postgres.inRoles` and the default role's membership the account lacks — and
      `inRoles.extra` (destructive): memberships beyond those and everything else `declared` for the user (grants
      naming it, rotation's service role), so one resource never reports another's items;
    * `defaultRole` when the spec sets one and the account's `role` setting differs;
    * `configParameters.<key>` for each spec parameter whose stored value differs, and (destructive, reset by the
      correction) for each stored parameter the spec does not list (behaviour.md 8.4: removed keys are extra drift).

    The password is never compared: the server does not reveal it.
    """
    config = user_config(spec)
    login = spec.username
    attrs = role_attributes(spec)
    out: list[Difference] = []
    for name in attribute_differences(attrs, observed.attributes):
        statement = sql.alter_role_attributes(login, attrs, [name])
        out.append(
            Difference(
                USER_DRIFT_FIELDS[name],
                _shown(getattr(attrs, name)),
                _shown(observed.attributes.get(ATTRIBUTE_KEYS[name])),
                destructive=name in DESTRUCTIVE_USER_ATTRIBUTES,
                fix=access.Fix(
                    (statement,) if statement else (), error=None if statement else "not supported by the server"
                ),
            )
        )
    own = [m.role for m in desired_memberships(spec)]
    out += access.membership_drift("inRoles", login, own, declared, observed.member_of)
    default_role = observed.attributes.get("defaultRole")
    if config.default_role is not None and default_role != config.default_role:
        statement = sql.set_default_role(login, config.default_role)
        out.append(Difference("defaultRole", config.default_role, _shown(default_role), fix=access.Fix((statement,))))
    parameters = config.config_parameters or {}
    for key in sorted(parameters):
        stored = stored_setting(observed.settings, key)
        if not setting_matches(key, parameters[key], stored):
            statement = sql.set_role_parameter(login, key, parameters[key])
            actual = stored if stored is not None else "unset"
            out.append(Difference(f"configParameters.{key}", parameters[key], actual, fix=access.Fix((statement,))))
    listed = {k.lower() for k in parameters}
    for name in sorted(observed.settings):
        if name.lower() in listed:
            continue
        statement = sql.reset_role_parameter(login, name)
        out.append(
            Difference(
                f"configParameters.{name}",
                "unset",
                observed.settings[name],
                destructive=True,
                fix=access.Fix((statement,)),
            )
        )
    return sorted(out, key=lambda d: d.field)


def _correction_rank(diff: Difference) -> int:
    for rank, prefix in enumerate(_CORRECTION_ORDER):
        if prefix and diff.field.startswith(prefix):
            return rank
    return _CORRECTION_ORDER.index("")


class PostgresUserDrift:
    """A DatabaseUser's drift on PostgreSQL: `account_drift` over one `observe_account` (engines.md 2.4), corrected
    with the statements the apply uses. Only for engine `postgres` (the controller checks the exact engine name):
    CockroachDB shares the adapter class but not every role attribute, and is not assumed."""

    def __init__(self, adapter: PostgresAdapter) -> None:
        self.adapter = adapter

    async def user_drift(
        self, spec: DatabaseUserSpec, *, login: str, service_role: str | None, declared: Iterable[str]
    ) -> list[Difference]:
        """The differences of the login account `login`: `spec.username` itself, or, with role-inheritance rotation,
        the active generated account, compared with the spec as rotation applies it to that account (LOGIN, INHERIT,
        member of `service_role`). `service_role` also counts as declared for `spec.username`, which rotation makes
        a member. Empty when the account does not exist (existence is the reconcile's business)."""
        target = spec
        if login != spec.username:
            target = (
                rotated_spec(spec, login, service_role) if service_role else spec.model_copy(update={"username": login})
            )
        allowed = set(declared) | ({service_role} if service_role else set())
        observed = await self.adapter.observe_account(login)
        if observed is None:
            return []
        return account_drift(target, observed, allowed)

    async def correct_user_drift(self, diffs: Sequence[Difference]) -> dict[str, str]:
        """Each difference's statements (all attempted): memberships first, so a default role finds its membership,
        removals last; `{field: redacted error}` for those that failed."""
        return await access.correct_drift(self.adapter, sorted(diffs, key=_correction_rank))


class _InDatabase:
    """The in-database part of `apply_database`: reads the database's state once, acts on the differences.

    The admin's membership in the database owner is ensured once, before the first write (creating schemas or
    extensions needs CREATE on the database, which the owner has).
    """

    def __init__(self, adapter: PostgresAdapter, database: str, owner: str | None) -> None:
        self._adapter = adapter
        self._database = database
        self._owner = owner
        self._ready = False
        self._state: tuple[dict[str, str], dict[str, str]] | None = None

    async def _state_now(self) -> tuple[dict[str, str], dict[str, str]]:
        if self._state is None:
            self._state = await self._adapter._in_database_state(self._database)
        return self._state

    async def _run(self, statement: str, *, acting_for: Sequence[str | None] = ()) -> None:
        if not self._ready:
            await self._adapter._ensure_privileges_of(self._owner)
            self._ready = True
        for role in acting_for:
            await self._adapter._ensure_privileges_of(role)
        await self._adapter._execute([statement], database=self._database)

    async def schemas(self, steps: Sequence[SchemaStep]) -> list[str]:
        if not steps:
            return []
        _, observed = await self._state_now()
        changed: list[str] = []
        for step in steps:
            current = observed.get(step.name)
            if current is None:
                await self._run(step.create, acting_for=[step.owner])
            elif step.reown is not None and current != step.owner:
                await self._run(step.reown, acting_for=[current, step.owner])
            else:
                continue
            observed[step.name] = step.owner
            changed.append(step.field)
        return changed

    async def extensions(self, steps: Sequence[ExtensionStep]) -> list[str]:
        if not steps:
            return []
        observed, _ = await self._state_now()
        changed: list[str] = []
        for step in steps:
            installed = observed.get(step.name)
            if installed is None:
                await self._run(step.create)
            elif step.update is not None and installed != step.version:
                await self._run(step.update)
            else:
                continue
            observed[step.name] = step.version if step.version is not None else (installed or "")
            changed.append(step.field)
        return changed

    async def default_privileges(self, steps: Sequence[DefaultPrivilegeStep], granted_by: str) -> list[str]:
        changed: list[str] = []
        held: dict[str, list[Any]] = {}
        for step in steps:
            dp = step.desired
            if dp.role not in held:
                held[dp.role] = await self._adapter._fetch(catalog.default_privileges(dp.role), database=self._database)
            code = default_privilege_acl_code(dp.object_type)
            have = {
                r["privilege_type"]
                for r in held[dp.role]
                if r["granted_by"] == granted_by and r["schema"] == dp.schema and char_value(r["object_type"]) == code
            }
            if dp.privileges <= have:
                continue
            await self._run(step.grant, acting_for=[granted_by])
            changed.append(step.field)
        return changed


register_user_drift("postgres", PostgresUserDrift)
register_rotation("postgres", PostgresRotation)

if TYPE_CHECKING:

    def _conforms(adapter: PostgresAdapter) -> EngineAdapter:
        return adapter  # `mypy dbops` proves the class satisfies the protocol the registry casts it to

    def _grants_conform(adapter: PostgresAdapter) -> RoleGrantAdapter:
        return adapter

    def _initsql_conforms(adapter: PostgresAdapter) -> InitSQLRunner:
        return adapter

    def _ownership_conforms(adapter: PostgresAdapter) -> OwnershipAdapter:
        return adapter

    def _database_drift_conforms(adapter: PostgresAdapter) -> DatabaseDriftAdapter:
        return PostgresDatabaseDrift(adapter)
