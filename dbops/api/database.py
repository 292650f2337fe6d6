"""Database (api.md 6.3): a database on an instance, with its engine settings, initSQL and deletion policy."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from dbops.api.common import (
    AT_MOST_ONE_ENGINE_BLOCK,
    INSTANCE_REF_RULES,
    ClusterInstanceReference,
    ConfigMapKeySelector,
    DeletionConfirmation,
    DriftPolicy,
    DriftStatus,
    InstanceReference,
    ReconciledStatus,
    SecretKeySelector,
)
from dbops.api.grants import PostgresDefaultPrivilege
from dbops.api.meta import IDENTIFIER_PATTERN, ApiModel, CelRule, Identifier, Immutable, Int32, Int64, Resource
from dbops.api.storage import StorageConfig

DatabasePhase = Literal["Pending", "Creating", "Ready", "Failed", "Deleting", "PendingDeletion"]
DeletionPolicy = Literal["Retain", "Delete", "Snapshot"]
InitSQLFailurePolicy = Literal["Continue", "Block"]
OwnershipPhase = Literal["Pending", "Ready", "Failed"]


# --------------------------------------------------------------------------------------------------------------
# 5.13 InitSQL


class InitSQLConfig(ApiModel):
    """SQL run on the database after creation and whenever it changes (api.md 5.13); exactly one source."""

    cel_rules = (
        CelRule(
            rule=("(has(self.inline) ? 1 : 0) + (has(self.configMapRef) ? 1 : 0) + (has(self.secretRef) ? 1 : 0) == 1"),
            message="exactly one of inline, configMapRef, or secretRef must be specified",
            check=lambda s: sum(x is not None for x in (s.inline, s.config_map_ref, s.secret_ref)) == 1,
        ),
    )

    inline: list[str] | None = Field(None, max_length=50, description="Statements, run in order (at most 50).")
    config_map_ref: ConfigMapKeySelector | None = Field(
        None, description="ConfigMap key whose text holds statements separated by lines of ---."
    )
    secret_ref: SecretKeySelector | None = Field(
        None, description="Secret key whose text holds statements separated by lines of ---."
    )
    failure_policy: InitSQLFailurePolicy = Field(
        "Block", description="Block: the Database fails and the run is retried; Continue: it becomes Ready anyway."
    )


class InitSQLStatus(ApiModel):
    """Outcome of the latest initSQL run."""

    applied: bool = Field(description="Whether the last run succeeded.")
    applied_at: datetime | None = Field(None, description="Time of the last successful run.")
    hash: str | None = Field(None, description="SHA-256 (hex) of the statements of the last successful run.")
    attempt_hash: str | None = Field(None, description="SHA-256 (hex) of the last failed run; empty after a success.")
    error: str | None = Field(None, description="Redacted server message of the failed statement.")
    statements_executed: Int32 = Field(description="Statements that succeeded in the last run.")


# --------------------------------------------------------------------------------------------------------------
# Engine blocks


class PostgresExtension(ApiModel):
    """An extension to install."""

    name: str = Field(description="Extension name.")
    schema_: str = Field("public", alias="schema", description="Schema to install it in.")
    version: str | None = Field(None, description="Version; a change updates the extension.")


class PostgresSchema(ApiModel):
    """A schema to create."""

    name: str = Field(description="Schema name.")
    owner: str | None = Field(None, description="Owner; defaults to the database owner.")


class PostgresOwnershipConfig(ApiModel):
    """A dedicated owner role and app login for the database (api.md 5.14; PostgreSQL, CockroachDB)."""

    auto_ownership: bool = Field(False, description="Create a dedicated owner role and app login for the database.")
    role_name: str | None = Field(
        None,
        max_length=63,
        pattern=IDENTIFIER_PATTERN,
        description="Owner role (no login); defaults to db_<name>_owner.",
    )
    user_name: str | None = Field(
        None,
        max_length=63,
        pattern=IDENTIFIER_PATTERN,
        description="App login, member of the owner role; defaults to db_<name>_app.",
    )
    drop_on_delete: bool = Field(False, description="Drop the owner role and app login when the database is dropped.")
    set_default_privileges: bool = Field(
        True, description="Default privileges in both directions between the owner role and the app user."
    )


class DatabasePostgresConfig(ApiModel):
    """PostgreSQL and CockroachDB database settings."""

    encoding: str = Field("UTF8", description="Encoding at creation (immutable afterwards).")
    lc_collate: str | None = Field(None, description="LC_COLLATE at creation (immutable afterwards).")
    lc_ctype: str | None = Field(None, description="LC_CTYPE at creation (immutable afterwards).")
    tablespace: str = Field("pg_default", description="Default tablespace.")
    template: str = Field("template0", description="Template database at creation.")
    connection_limit: Int32 = Field(-1, ge=-1, description="Connection limit; -1 means unlimited.")
    is_template: bool = Field(False, description="Mark as a template database.")
    allow_connections: bool = Field(
        True, description="false: new connections are refused once the operator's in-database setup is done."
    )
    extensions: list[PostgresExtension] | None = Field(None, description="Extensions to install.")
    schemas: list[PostgresSchema] | None = Field(None, description="Schemas to create.")
    default_privileges: list[PostgresDefaultPrivilege] | None = Field(
        None, description="Default privileges on future objects of the database owner."
    )
    ownership: PostgresOwnershipConfig | None = Field(None, description="Dedicated owner role and app login.")


class DatabaseMySQLConfig(ApiModel):
    """MySQL and MariaDB database settings."""

    charset: str = Field("utf8mb4", pattern=r"^[a-zA-Z0-9_]+$", description="Default character set.")
    collation: str = Field("utf8mb4_unicode_ci", pattern=r"^[a-zA-Z0-9_]+$", description="Default collation.")
    sql_mode: str | None = Field(None, description="SQL mode of every operator session on this database.")
    default_storage_engine: str = Field(
        "InnoDB", description="Default storage engine of every operator session on this database."
    )


class DatabaseClickHouseConfig(ApiModel):
    """ClickHouse database settings."""

    engine: str = Field("Atomic", description="Database engine at creation (immutable afterwards).")


# --------------------------------------------------------------------------------------------------------------
# Spec and status


class DatabaseSpec(ApiModel):
    """Desired state of a Database."""

    cel_rules = (*INSTANCE_REF_RULES, AT_MOST_ONE_ENGINE_BLOCK)

    instance_ref: InstanceReference | None = Field(
        None, description="The DatabaseInstance; exactly one of instanceRef and clusterInstanceRef."
    )
    cluster_instance_ref: ClusterInstanceReference | None = Field(
        None, description="The ClusterDatabaseInstance; exactly one of instanceRef and clusterInstanceRef."
    )
    name: Annotated[Identifier, Immutable("database name is immutable")] = Field(
        description="Database name on the server (1-63 characters, letters, digits, _); immutable."
    )
    owner: str | None = Field(
        None,
        max_length=63,
        pattern=IDENTIFIER_PATTERN,
        description="Owning role (PostgreSQL family); a change reassigns ownership.",
    )
    deletion_policy: DeletionPolicy = Field(
        "Delete", description="On deletion: Delete drops the database, Retain keeps it, Snapshot backs it up first."
    )
    deletion_protection: bool = Field(True, description="Block deletion of this object until set to false.")
    snapshot_storage: StorageConfig | None = Field(
        None, description="Where the Snapshot deletion policy writes its backup."
    )
    drift_policy: DriftPolicy | None = Field(None, description="Overrides the instance's drift policy.")
    init_sql: InitSQLConfig | None = Field(None, alias="initSQL", description="SQL to run on the database.")
    postgres: DatabasePostgresConfig | None = Field(None, description="PostgreSQL and CockroachDB settings.")
    mysql: DatabaseMySQLConfig | None = Field(None, description="MySQL and MariaDB settings.")
    clickhouse: DatabaseClickHouseConfig | None = Field(None, description="ClickHouse settings.")


class DatabaseInfo(ApiModel):
    """Observed database on the server."""

    name: str | None = Field(None, description="Name on the server.")
    owner: str | None = Field(None, description="Owner on the server.")
    size_bytes: Int64 | None = Field(None, description="Size in bytes.")
    created_at: datetime | None = Field(None, description="When the operator created (or first took over) it.")


class InstalledExtension(ApiModel):
    """An installed extension."""

    name: str = Field(description="Extension name.")
    version: str = Field(description="Installed version.")


class OwnershipStatus(ApiModel):
    """State of the auto-ownership roles."""

    role_name: str | None = Field(None, description="Owner role.")
    user_name: str | None = Field(None, description="App login.")
    phase: OwnershipPhase | None = Field(None, description="Pending, Ready or Failed.")
    message: str | None = Field(None, description="Details.")
    created: list[str] | None = Field(
        None,
        description="Which of the two this Database created (an addition): dropOnDelete drops only those, never a "
        "role that existed before. Absent on objects from before the field: both are dropped, as before.",
    )


class DatabasePostgresStatus(ApiModel):
    """Observed PostgreSQL-family settings."""

    encoding: str | None = Field(None, description="Encoding.")
    collation: str | None = Field(None, description="Collation.")
    installed_extensions: list[InstalledExtension] | None = Field(None, description="Installed extensions.")
    schemas: list[str] | None = Field(None, description="Schemas.")
    ownership: OwnershipStatus | None = Field(None, description="Auto-ownership state.")


class DatabaseMySQLStatus(ApiModel):
    """Observed MySQL-family settings."""

    charset: str | None = Field(None, description="Default character set.")
    collation: str | None = Field(None, description="Default collation.")


class DeletionSnapshotStatus(ApiModel):
    """The snapshot backup taken for a Snapshot-policy deletion."""

    backup_name: str | None = Field(None, description="Name of the DatabaseBackup.")
    phase: str | None = Field(None, description="Mirrors the backup's phase.")
    message: str | None = Field(None, description="Details.")


class DatabaseStatus(ReconciledStatus):
    """Observed state of a Database."""

    phase: DatabasePhase | None = Field(
        None, description="Pending, Creating, Ready, Failed, Deleting or PendingDeletion."
    )
    database: DatabaseInfo | None = Field(None, description="Observed name, owner and size.")
    postgres: DatabasePostgresStatus | None = Field(None, description="Observed PostgreSQL-family settings.")
    mysql: DatabaseMySQLStatus | None = Field(None, description="Observed MySQL-family settings.")
    drift: DriftStatus | None = Field(None, description="Result of the latest drift check.")
    init_sql: InitSQLStatus | None = Field(None, alias="initSQL", description="Outcome of the latest initSQL run.")
    deletion_snapshot: DeletionSnapshotStatus | None = Field(
        None, description="Snapshot taken for a Snapshot-policy deletion."
    )
    deletion_confirmation: DeletionConfirmation | None = Field(None, description="Cascade-deletion confirmation state.")


class Database(Resource[DatabaseSpec, DatabaseStatus]):
    """A database on a DatabaseInstance or ClusterDatabaseInstance."""

    kind: Literal["Database"] = "Database"
