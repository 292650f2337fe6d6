"""DatabaseInstance and ClusterDatabaseInstance (api.md 6.1, 6.2): a database server the operator connects to.

Both kinds share spec and status; they differ in scope, in where their Secrets live by default and in which
children block their deletion.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from dbops.api.common import (
    HEALTH_CHECK_WHEN_ABSENT,
    CredentialSecretRef,
    DeletionConfirmation,
    DiscoveredResourcesStatus,
    DiscoveryConfig,
    DriftPolicy,
    Engine,
    HealthCheckConfig,
    ReconciledStatus,
    ResourceTrackingConfig,
    TLSConfig,
)
from dbops.api.meta import ApiModel, CelRule, Immutable, Int32, Resource

InstancePhase = Literal["Pending", "Ready", "Failed", "PendingDeletion", "Deleting"]
PostgresSSLMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
MySQLTLSMode = Literal["disabled", "preferred", "required", "skip-verify"]

NamespaceOrAll = Annotated[str, Field(max_length=63, pattern=r"^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$")]
"""A namespace name (DNS label) or `*`."""

#: Admin database per engine when ``connection.database`` is absent or empty (api.md 6.1).
DEFAULT_ADMIN_DATABASE: dict[str, str] = {
    "postgres": "postgres",
    "cockroachdb": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "clickhouse": "default",
}


class ConnectionConfig(ApiModel):
    """How to reach the server and which admin account to use."""

    cel_rules = (
        CelRule(
            rule="has(self.secretRef) != has(self.existingSecret)",
            message="exactly one of secretRef or existingSecret must be specified",
            check=lambda s: (s.secret_ref is not None) != (s.existing_secret is not None),
            field_path=".secretRef",
        ),
    )

    host: str = Field(min_length=1, description="Host name or address of the server.")
    port: Int32 = Field(ge=1, le=65535, description="Port of the server (ClickHouse: native protocol port).")
    database: str | None = Field(
        None,
        description=(
            "Admin database for the operator's sessions. Absent or empty: postgres (PostgreSQL, CockroachDB), "
            "mysql (MySQL, MariaDB), default (ClickHouse)."
        ),
    )
    ssl_mode: PostgresSSLMode | None = Field(
        None, description="Alias of postgres.sslMode, accepted because published examples put it here."
    )
    secret_ref: CredentialSecretRef | None = Field(
        None, description="Secret with the admin credentials; exactly one of secretRef and existingSecret."
    )
    existing_secret: CredentialSecretRef | None = Field(
        None, description="Same meaning as secretRef; exactly one of secretRef and existingSecret."
    )

    @property
    def credentials(self) -> CredentialSecretRef:
        """The admin Secret reference, whichever of the two equivalent fields carries it."""
        ref = self.secret_ref or self.existing_secret
        if ref is None:  # excluded by CEL rule 11; a hand-built model may still lack it
            raise ValueError("connection has neither secretRef nor existingSecret")
        return ref


class InstancePostgresConfig(ApiModel):
    """PostgreSQL and CockroachDB connection settings."""

    ssl_mode: PostgresSSLMode = Field("prefer", description="libpq sslmode when tls does not decide (api.md 5.3).")
    connect_timeout: Int32 = Field(10, ge=1, description="Connect timeout in seconds for every session.")
    statement_timeout: str | None = Field(
        None,
        description="Statement timeout of every operator session, as a PostgreSQL time value (30s, 5min, 1000).",
    )
    application_name: str = Field("db-provision-operator", description="Session application name.")


class InstanceMySQLConfig(ApiModel):
    """MySQL and MariaDB connection settings."""

    charset: str = Field("utf8mb4", description="Connection character set.")
    collation: str = Field("utf8mb4_unicode_ci", description="Connection collation.")
    parse_time: bool = Field(True, description="Accepted for compatibility; it has no effect outside the operator.")
    timeout: str = Field("10s", description="Connect timeout, as a duration.")
    read_timeout: str = Field("30s", description="Network read timeout, as a duration.")
    write_timeout: str = Field("30s", description="Network write timeout, as a duration.")
    tls: MySQLTLSMode = Field("preferred", description="TLS mode when tls does not decide (api.md 5.3).")


class InstanceClickHouseConfig(ApiModel):
    """ClickHouse connection settings."""

    http_port: Int32 | None = Field(
        None,
        ge=1,
        le=65535,
        description=(
            "HTTP interface port, used by backups and restores (default 8123, or 8443 when secure); when set, "
            "health checks also request /ping on it."
        ),
    )
    secure: bool = Field(False, description="TLS on the native protocol.")


def _engine_rule(block: str, engines: tuple[str, ...], message: str) -> CelRule:
    condition = " || ".join(f"self.engine == '{e}'" for e in engines)
    return CelRule(
        rule=f"!has(self.{block}) || {condition}",
        message=message,
        check=lambda s: getattr(s, block) is None or s.engine in engines,
        field_path=f".{block}",
    )


class DatabaseInstanceSpec(ApiModel):
    """Desired state of a DatabaseInstance or ClusterDatabaseInstance."""

    cel_rules: ClassVar[tuple[CelRule, ...]] = (
        _engine_rule(
            "postgres",
            ("postgres", "cockroachdb"),
            "postgres settings are only valid when engine is postgres or cockroachdb",
        ),
        _engine_rule("mysql", ("mysql", "mariadb"), "mysql settings are only valid when engine is mysql or mariadb"),
        _engine_rule("clickhouse", ("clickhouse",), "clickhouse settings are only valid when engine is clickhouse"),
    )

    engine: Annotated[Engine, Immutable("engine is immutable")] = Field(description="Server type; immutable.")
    connection: ConnectionConfig = Field(description="How to reach the server and the admin credentials.")
    tls: TLSConfig | None = Field(None, description="TLS towards the server (api.md 5.3).")
    health_check: HealthCheckConfig | None = Field(
        None, description="Health checks; when absent: enabled, every 60 s, 30 s timeout."
    )
    drift_policy: DriftPolicy | None = Field(None, description="Default drift policy for objects on this instance.")
    allowed_namespaces: list[NamespaceOrAll] | None = Field(
        None,
        description=(
            "Other namespaces whose objects may reference this instance, or * for every namespace; absent or "
            "empty: only this instance's own namespace (DatabaseInstance only)."
        ),
    )
    discovery: DiscoveryConfig | None = Field(None, description="Scanning for unmanaged databases, users and roles.")
    postgres: InstancePostgresConfig | None = Field(
        None, description="PostgreSQL and CockroachDB settings (engine postgres or cockroachdb only)."
    )
    mysql: InstanceMySQLConfig | None = Field(
        None, description="MySQL and MariaDB settings (engine mysql or mariadb only)."
    )
    clickhouse: InstanceClickHouseConfig | None = Field(
        None, description="ClickHouse settings (engine clickhouse only)."
    )
    resource_tracking: ResourceTrackingConfig | None = Field(
        None, description="Marking managed server objects with a tracking text; when absent, no tracking."
    )
    deletion_protection: bool = Field(True, description="Block deletion of this object until set to false.")

    @property
    def admin_database(self) -> str:
        """``connection.database``, or the engine's default admin database."""
        return self.connection.database or DEFAULT_ADMIN_DATABASE[self.engine]

    @property
    def effective_health_check(self) -> HealthCheckConfig:
        return self.health_check or HEALTH_CHECK_WHEN_ABSENT


class ClusterDatabaseInstanceSpec(DatabaseInstanceSpec):
    """Desired state of a ClusterDatabaseInstance: shared by design, so it has no allowedNamespaces."""

    cel_rules: ClassVar[tuple[CelRule, ...]] = (
        *DatabaseInstanceSpec.cel_rules,
        CelRule(
            rule="!has(self.allowedNamespaces)",
            message="allowedNamespaces is only valid on a DatabaseInstance: a ClusterDatabaseInstance is shared",
            check=lambda s: s.allowed_namespaces is None,
            field_path=".allowedNamespaces",
        ),
    )


class DatabaseInstanceStatus(ReconciledStatus):
    """Observed state of a DatabaseInstance or ClusterDatabaseInstance."""

    phase: InstancePhase | None = Field(None, description="Pending, Ready, Failed, PendingDeletion or Deleting.")
    version: str | None = Field(None, description="Server version string returned by the version query.")
    last_checked_at: datetime | None = Field(
        None, description="Last health check written to status (may lag the latest check by up to five minutes)."
    )
    discovered_resources: DiscoveredResourcesStatus | None = Field(
        None, description="Result of the latest discovery scan; absent while discovery is disabled."
    )
    deletion_confirmation: DeletionConfirmation | None = Field(None, description="Cascade-deletion confirmation state.")


class DatabaseInstance(Resource[DatabaseInstanceSpec, DatabaseInstanceStatus]):
    """A database server, namespaced."""

    kind: Literal["DatabaseInstance"] = "DatabaseInstance"


class ClusterDatabaseInstance(Resource[ClusterDatabaseInstanceSpec, DatabaseInstanceStatus]):
    """A database server, cluster-scoped; its Secrets default to the operator's namespace."""

    kind: Literal["ClusterDatabaseInstance"] = "ClusterDatabaseInstance"
