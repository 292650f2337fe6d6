"""The statements `PostgresAdapter.apply_database` may run, built up front from the spec (pure, no I/O).

Building every statement before the first one runs is what makes a bad spec value fail with `InvalidSpec` naming
its field before any SQL reaches the server; the adapter then runs only the steps whose observed state differs.
Each step carries the field path it reports when it runs (`spec.postgres.schemas[1]`, …).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dbops.api.database import DatabaseSpec
from dbops.engines.base import ObservedDatabase
from dbops.engines.ownership import OwnershipNames
from dbops.engines.postgres_mapping import DesiredDefaultPrivilege, database_config, desired_default_privileges
from dbops.engines.sql import postgres as sql
from dbops.engines.sql.postgres_grants import PgDefaultPrivilege, grant_default_privileges
from dbops.engines.sql.privileges import PG_DEFAULT_ACL_OBJTYPE, PgDefaultObjectType

__all__ = [
    "OWNERSHIP_DEFAULT_PRIVILEGES",
    "DatabasePlan",
    "DefaultPrivilegeStep",
    "ExtensionStep",
    "OwnershipPlan",
    "OwnershipPrivilegeStep",
    "SchemaStep",
    "ServerStep",
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
                        )
                    )
    return OwnershipPlan(
        names=names,
        create_role=create_role,
        create_user=create_user,
        membership=sql.grant_membership(names.role, names.user),
        privileges=tuple(steps),
    )
