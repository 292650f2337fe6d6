"""The statements `PostgresAdapter.apply_database` may run, built up front from the spec (pure, no I/O).

Building every statement before the first one runs is what makes a bad spec value fail with `InvalidSpec` naming
its field before any SQL reaches the server; the adapter then runs only the steps whose observed state differs.
Each step carries the field path it reports when it runs (`spec.postgres.schemas[1]`, …).

The same plan drives drift (behaviour.md 11, api.md 4.4 Database row): `database_drift` compares it with what the
catalogs say and returns one `Difference` per api.md field, each carrying the statements that correct it
(`DatabaseFix`), so detection and correction can never disagree with apply about what "in line with the spec" means.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dbops.api.database import DatabaseSpec
from dbops.engines.access import Difference
from dbops.engines.base import ObservedDatabase
from dbops.engines.ownership import OwnershipNames
from dbops.engines.postgres import sql
from dbops.engines.postgres.grants import PgDefaultPrivilege, grant_default_privileges
from dbops.engines.postgres.mapping import (
    DesiredDefaultPrivilege,
    char_value,
    database_config,
    desired_default_privileges,
    same_encoding,
    same_locale,
)
from dbops.engines.sql.privileges import PG_DEFAULT_ACL_OBJTYPE, PgDefaultObjectType

__all__ = [
    "OWNERSHIP_DEFAULT_PRIVILEGES",
    "DatabaseFix",
    "DatabasePlan",
    "DefaultPrivilegeStep",
    "ExtensionStep",
    "OwnershipPlan",
    "OwnershipPrivilegeStep",
    "OwnershipState",
    "SchemaStep",
    "ServerStep",
    "database_drift",
    "missing_ownership_privileges",
    "plan_database",
    "plan_ownership",
]


@dataclass(frozen=True)
class ServerStep:
    """An ALTER DATABASE run on the admin database, needed when the observed ``attribute`` (of ObservedDatabase)
    differs from ``value``."""

    statement: str
    field: str
    attribute: str
    value: object

    def differs(self, observed: ObservedDatabase) -> bool:
        return bool(getattr(observed, self.attribute) != self.value)


@dataclass(frozen=True)
class SchemaStep:
    """`postgres.schemas[i]`: created with ``owner`` when missing; re-owned only when the spec names an owner."""

    name: str
    owner: str
    create: str
    reown: str | None
    field: str


@dataclass(frozen=True)
class ExtensionStep:
    """`postgres.extensions[i]`: created when missing; updated when a version is listed and differs."""

    name: str
    version: str | None
    create: str
    update: str | None
    field: str


@dataclass(frozen=True)
class DefaultPrivilegeStep:
    """`postgres.defaultPrivileges[i]`: granted when `pg_default_acl` lacks one of its privileges."""

    desired: DesiredDefaultPrivilege
    grant: str

    @property
    def field(self) -> str:
        return self.desired.field


@dataclass(frozen=True)
class DatabasePlan:
    """Everything one apply may run. ``granted_by`` is the database owner whose future objects the default privileges
    cover (``spec.owner``, else the admin account)."""

    connection_limit: ServerStep
    is_template: ServerStep
    tablespace: ServerStep
    owner: ServerStep | None
    allow_connections: ServerStep
    schemas: tuple[SchemaStep, ...]
    extensions: tuple[ExtensionStep, ...]
    default_privileges: tuple[DefaultPrivilegeStep, ...]
    granted_by: str

    def server_steps(self, observed: ObservedDatabase) -> list[ServerStep]:
        """The ALTER DATABASE steps whose setting differs, in behaviour.md 7.5 order (limit, template, tablespace,
        owner). allowConnections is not among them: it is ordered around the in-database work."""
        steps = (self.connection_limit, self.is_template, self.tablespace, self.owner)
        return [step for step in steps if step is not None and step.differs(observed)]


def plan_database(spec: DatabaseSpec, *, owner: str | None, admin: str) -> DatabasePlan:
    """Build every statement of an apply; raises InvalidSpec (with the field path) for a value that cannot be sent."""
    config = database_config(spec)
    name = spec.name
    db_owner = owner or admin
    schemas = tuple(
        SchemaStep(
            name=schema.name,
            owner=schema.owner or db_owner,
            create=sql.create_schema(schema.name, schema.owner or db_owner, field=f"spec.postgres.schemas[{i}]"),
            reown=(
                sql.alter_schema_owner(schema.name, schema.owner, field=f"spec.postgres.schemas[{i}]")
                if schema.owner
                else None
            ),
            field=f"spec.postgres.schemas[{i}]",
        )
        for i, schema in enumerate(config.schemas or ())
    )
    extensions = tuple(
        ExtensionStep(
            name=ext.name,
            version=ext.version,
            create=sql.create_extension(ext.name, ext.schema_, ext.version, field=f"spec.postgres.extensions[{i}]"),
            update=(
                sql.alter_extension_version(ext.name, ext.version, field=f"spec.postgres.extensions[{i}]")
                if ext.version is not None
                else None
            ),
            field=f"spec.postgres.extensions[{i}]",
        )
        for i, ext in enumerate(config.extensions or ())
    )
    default_privileges = tuple(
        DefaultPrivilegeStep(
            dp,
            grant_default_privileges(
                PgDefaultPrivilege(dp.schema, dp.object_type, dp.requested, db_owner), dp.role, field=dp.field
            ),
        )
        for dp in desired_default_privileges(config)
    )
    return DatabasePlan(
        connection_limit=ServerStep(
            sql.alter_database_connection_limit(name, config.connection_limit),
            "spec.postgres.connectionLimit",
            "connection_limit",
            config.connection_limit,
        ),
        is_template=ServerStep(
            sql.alter_database_is_template(name, config.is_template),
            "spec.postgres.isTemplate",
            "is_template",
            config.is_template,
        ),
        tablespace=ServerStep(
            sql.alter_database_tablespace(name, config.tablespace),
            "spec.postgres.tablespace",
            "tablespace",
            config.tablespace,
        ),
        owner=(
            ServerStep(sql.alter_database_owner(name, owner), "spec.owner", "owner", owner)
            if owner is not None
            else None
        ),
        allow_connections=ServerStep(
            sql.alter_database_allow_connections(name, config.allow_connections),
            "spec.postgres.allowConnections",
            "allow_connections",
            config.allow_connections,
        ),
        schemas=schemas,
        extensions=extensions,
        default_privileges=default_privileges,
        granted_by=db_owner,
    )


# --------------------------------------------------------------------------------------------------------------------
# Auto-ownership (behaviour.md 7.6, engines.md 2.1)

OWNERSHIP_DEFAULT_PRIVILEGES: tuple[tuple[PgDefaultObjectType, tuple[str, ...]], ...] = (
    (PgDefaultObjectType.TABLES, ("SELECT", "INSERT", "UPDATE", "DELETE")),
    (PgDefaultObjectType.SEQUENCES, ("USAGE", "SELECT")),
    (PgDefaultObjectType.FUNCTIONS, ("EXECUTE",)),
)
"""What each side of the auto-ownership pair gets on the other's future objects (engines.md 2.1)."""

ROLE_FIELD = "spec.postgres.ownership.roleName"
USER_FIELD = "spec.postgres.ownership.userName"
PRIVILEGES_FIELD = "spec.postgres.ownership.setDefaultPrivileges"


@dataclass(frozen=True)
class OwnershipPrivilegeStep:
    """One ALTER DEFAULT PRIVILEGES of the pair: future ``acl_code`` objects ``granted_by`` creates in ``schema`` give
    ``privileges`` to ``grantee``; needed when `pg_default_acl` lacks one of them."""

    granted_by: str
    grantee: str
    schema: str
    acl_code: str
    privileges: frozenset[str]
    grant: str
    object_type: PgDefaultObjectType = PgDefaultObjectType.TABLES

    def describe(self) -> str:
        """Short readable form for a drift diff: ``public.tables db_x_owner->db_x_app``."""
        return f"{self.schema}.{self.object_type} {self.granted_by}->{self.grantee}"


@dataclass(frozen=True)
class OwnershipPlan:
    """Everything auto-ownership may run: the two roles (created when missing), the membership, the default
    privileges (empty without ``setDefaultPrivileges``)."""

    names: OwnershipNames
    create_role: str
    create_user: str
    membership: str
    privileges: tuple[OwnershipPrivilegeStep, ...]


def plan_ownership(
    names: OwnershipNames,
    schemas: Sequence[str],
    *,
    set_default_privileges: bool = True,
    dialect: sql.PgDialect = sql.POSTGRES,
) -> OwnershipPlan:
    """Build every auto-ownership statement (InvalidSpec naming the field before any SQL runs).

    The owner role has no login and inherits; the app user logs in, inherits and has no password (a DatabaseUser
    naming it takes it over and sets one, behaviour.md 7.6). CockroachDB does not accept IN ROLE, so the membership
    is always its own GRANT.
    """
    create_role = sql.create_role(
        names.role, sql.RoleAttributes(login=False, inherit=True), dialect=dialect, field=ROLE_FIELD
    )
    create_user = sql.create_role(
        names.user, sql.RoleAttributes(login=True, inherit=True), dialect=dialect, field=USER_FIELD
    )
    ordered = dict.fromkeys(["public", *schemas])
    steps: list[OwnershipPrivilegeStep] = []
    if set_default_privileges:
        for schema in ordered:
            for creator, grantee in ((names.role, names.user), (names.user, names.role)):
                for object_type, privileges in OWNERSHIP_DEFAULT_PRIVILEGES:
                    entry = PgDefaultPrivilege(schema, object_type, privileges, creator)
                    steps.append(
                        OwnershipPrivilegeStep(
                            granted_by=creator,
                            grantee=grantee,
                            schema=schema,
                            acl_code=PG_DEFAULT_ACL_OBJTYPE[object_type],
                            privileges=frozenset(privileges),
                            grant=grant_default_privileges(entry, grantee, field=PRIVILEGES_FIELD),
                            object_type=object_type,
                        )
                    )
    return OwnershipPlan(
        names=names,
        create_role=create_role,
        create_user=create_user,
        membership=sql.grant_membership(names.role, names.user),
        privileges=tuple(steps),
    )


def missing_ownership_privileges(
    plan: OwnershipPlan, held: Mapping[str, Iterable[Mapping[str, Any]]]
) -> list[OwnershipPrivilegeStep]:
    """The steps of ``plan.privileges`` that `pg_default_acl` lacks (one of their privileges is not granted).

    ``held`` maps each grantee to its DEFAULT_PRIVILEGES rows in the database (``granted_by``, ``schema``,
    ``object_type``, ``privilege_type``); a grantee without rows holds nothing."""
    rows = {grantee: list(found) for grantee, found in held.items()}
    missing = []
    for step in plan.privileges:
        have = {
            str(r["privilege_type"])
            for r in rows.get(step.grantee, ())
            if r["granted_by"] == step.granted_by
            and r["schema"] == step.schema
            and char_value(r["object_type"]) == step.acl_code
        }
        if not step.privileges <= have:
            missing.append(step)
    return missing


# --------------------------------------------------------------------------------------------------------------------
# Drift (behaviour.md 11, api.md 4.4 Database row for postgres)

#: Correction order: the auto-ownership roles before anything that names them, the ALTER DATABASE settings (owner
#: included) before in-database work, connections allowed before and refused after it, schemas before the
#: extensions and default privileges that may live in them.
ORDER_ROLES = 0
ORDER_MEMBERSHIP = 1
ORDER_SERVER = 2
ORDER_CONNECT = 3
ORDER_SCHEMAS = 4
ORDER_EXTENSIONS = 5
ORDER_PRIVILEGES = 6
ORDER_DISCONNECT = 7


@dataclass(frozen=True)
class DatabaseFix:
    """How one database difference is corrected: ``statements`` run on ``database`` (None: the admin database)
    after the admin has acquired the privileges of every role in ``acting_for`` (engines.md 1.6).

    ``close`` names the database whose pooled sessions the operator closes: before the statements when moving the
    tablespace (the move needs no sessions, ours included), after them when connections become refused (no
    in-database work while they are). ``long`` selects the long statement limit (moving a database copies it)."""

    order: int
    statements: tuple[str, ...]
    database: str | None = None
    acting_for: tuple[str, ...] = ()
    close_before: str | None = None
    close_after: str | None = None
    long: bool = False


@dataclass(frozen=True)
class OwnershipState:
    """What the server holds of the auto-ownership model (behaviour.md 7.6).

    ``held`` maps each of the two roles to its DEFAULT_PRIVILEGES rows inside the database; None when they could not
    be read (the database refuses connections), in which case default privileges are not compared."""

    role_exists: bool
    user_exists: bool
    member: bool
    held: Mapping[str, Sequence[Mapping[str, Any]]] | None = field(default=None)


def _listed(values: Iterable[str]) -> str:
    items = list(values)
    return ", ".join(items) if items else "none"


def _flag(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def database_drift(
    spec: DatabaseSpec,
    observed: ObservedDatabase,
    *,
    owner: str | None,
    admin: str,
    ownership: OwnershipPlan | None = None,
    state: OwnershipState | None = None,
) -> list[Difference]:
    """Every api.md 4.4 difference of a PostgreSQL database, sorted by field, each with its `DatabaseFix`.

    * ``owner`` (destructive): only when an owner is declared (``spec.owner`` or the auto-ownership role, passed as
      ``owner``); without one the database belongs to whoever created it, as apply leaves it.
    * ``encoding``, ``lcCollate``, ``lcCtype`` (immutable, reported only): the locale fields only when the spec sets
      them; ``template`` is never compared.
    * ``connectionLimit``, ``isTemplate``, ``allowConnections``, ``tablespace`` (destructive: the move rewrites the
      database and needs it idle).
    * Inside the database, only when it accepts connections (``observed.allow_connections``; otherwise nobody can
      look): ``schemas.missing``, ``extensions.missing`` (comma lists of names), ``extensions.<name>.version`` for
      installed extensions with a listed version. Extra schemas and extensions are not drift, and schema owners
      and the database's ``postgres.defaultPrivileges`` are not compared (api.md 4.4 lists neither).
    * With auto-ownership (``ownership`` and ``state``): ``ownership.role``, ``ownership.user``,
      ``ownership.membership`` and ``ownership.defaultPrivileges`` (the latter only when it could be read).
    """
    plan = plan_database(spec, owner=owner, admin=admin)
    config = database_config(spec)
    name = spec.name
    current = observed.owner
    acting = tuple(dict.fromkeys(r for r in (current, owner) if r is not None))
    out: list[Difference] = []

    if plan.owner is not None and plan.owner.differs(observed):
        fix = DatabaseFix(ORDER_SERVER, (plan.owner.statement,), acting_for=acting)
        out.append(Difference("owner", str(owner), str(current), destructive=True, fix=fix))
    if not same_encoding(config.encoding, observed.encoding):
        out.append(Difference("encoding", config.encoding, str(observed.encoding), immutable=True))
    for drift_field, desired, actual in (
        ("lcCollate", config.lc_collate, observed.collation),
        ("lcCtype", config.lc_ctype, observed.ctype),
    ):
        if desired is not None and not same_locale(desired, actual):
            out.append(Difference(drift_field, desired, str(actual), immutable=True))
    for drift_field, step in (("connectionLimit", plan.connection_limit), ("isTemplate", plan.is_template)):
        if step.differs(observed):
            fix = DatabaseFix(ORDER_SERVER, (step.statement,), acting_for=acting)
            actual_value = getattr(observed, step.attribute)
            out.append(Difference(drift_field, _flag(step.value), _flag(actual_value), fix=fix))
    if plan.tablespace.differs(observed):
        fix = DatabaseFix(ORDER_SERVER, (plan.tablespace.statement,), acting_for=acting, close_before=name, long=True)
        out.append(Difference("tablespace", config.tablespace, str(observed.tablespace), destructive=True, fix=fix))
    allow = plan.allow_connections
    if allow.differs(observed):
        fix = (
            DatabaseFix(ORDER_CONNECT, (allow.statement,), acting_for=acting)
            if allow.value
            else DatabaseFix(ORDER_DISCONNECT, (allow.statement,), acting_for=acting, close_after=name)
        )
        out.append(Difference("allowConnections", _flag(allow.value), _flag(observed.allow_connections), fix=fix))

    connectable = observed.allow_connections is True
    if connectable:
        out += _in_database(plan, observed, name, acting)
    if ownership is not None and state is not None:
        out += _ownership_drift(ownership, state, name, acting if connectable else None)
    return sorted(out, key=lambda d: d.field)


def _in_database(
    plan: DatabasePlan, observed: ObservedDatabase, name: str, acting: tuple[str, ...]
) -> list[Difference]:
    out: list[Difference] = []
    missing_schemas = [s for s in plan.schemas if s.name not in observed.schemas]
    if missing_schemas:
        roles = tuple(dict.fromkeys([*acting, *(s.owner for s in missing_schemas)]))
        fix = DatabaseFix(ORDER_SCHEMAS, tuple(s.create for s in missing_schemas), name, roles)
        out.append(
            Difference(
                "schemas.missing",
                _listed(s.name for s in missing_schemas),
                _listed(sorted(observed.schemas)),
                fix=fix,
            )
        )
    missing_extensions = [e for e in plan.extensions if e.name not in observed.extensions]
    if missing_extensions:
        fix = DatabaseFix(ORDER_EXTENSIONS, tuple(e.create for e in missing_extensions), name, acting)
        out.append(
            Difference(
                "extensions.missing",
                _listed(e.name for e in missing_extensions),
                _listed(sorted(observed.extensions)),
                fix=fix,
            )
        )
    for ext in plan.extensions:
        installed = observed.extensions.get(ext.name)
        if ext.update is not None and installed is not None and installed != ext.version:
            fix = DatabaseFix(ORDER_EXTENSIONS, (ext.update,), name, acting)
            out.append(Difference(f"extensions.{ext.name}.version", str(ext.version), installed, fix=fix))
    return out


def _ownership_drift(
    plan: OwnershipPlan, state: OwnershipState, name: str, acting: tuple[str, ...] | None
) -> list[Difference]:
    """The auto-ownership items; ``acting`` is None when the database cannot be looked into."""
    names = plan.names
    out: list[Difference] = []
    if not state.role_exists:
        out.append(
            Difference("ownership.role", names.role, "absent", fix=DatabaseFix(ORDER_ROLES, (plan.create_role,)))
        )
    if not state.user_exists:
        out.append(
            Difference("ownership.user", names.user, "absent", fix=DatabaseFix(ORDER_ROLES, (plan.create_user,)))
        )
    if not state.member:
        # Reported (and granted) whatever the reason, ordered after the roles: one correction repairs a lost role.
        fix = DatabaseFix(ORDER_MEMBERSHIP, (plan.membership,))
        out.append(Difference("ownership.membership", f"{names.user} member of {names.role}", "not a member", fix=fix))
    if acting is not None and state.held is not None and plan.privileges:
        missing = missing_ownership_privileges(plan, state.held)
        if missing:
            creators = tuple(dict.fromkeys(s.granted_by for s in missing))
            fix = DatabaseFix(
                ORDER_PRIVILEGES, tuple(s.grant for s in missing), name, tuple(dict.fromkeys([*acting, *creators]))
            )
            out.append(
                Difference(
                    "ownership.defaultPrivileges",
                    _listed(s.describe() for s in missing),
                    "missing",
                    fix=fix,
                )
            )
    return out
