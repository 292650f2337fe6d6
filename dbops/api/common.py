"""Shared sub-types of api.md section 5: references, credentials, TLS, health checks, drift, discovery, resource
tracking and deletion confirmation.

Runtime defaults (values the operator uses when a whole block is absent) are not schema defaults; where a
controller needs them they are exposed as ``effective_*`` helpers or constants here, next to the schema defaults
they differ from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from dbops.api.meta import ApiModel, CelRule, Condition, Conditions, Int32, Int64

# --------------------------------------------------------------------------------------------------------------
# 5.1 References


class InstanceReference(ApiModel):
    """Points at a DatabaseInstance."""

    name: str = Field(min_length=1, description="Name of the DatabaseInstance.")
    namespace: str | None = Field(
        None, description="Namespace of the DatabaseInstance; defaults to the namespace of the referencing object."
    )


class ClusterInstanceReference(ApiModel):
    """Points at a ClusterDatabaseInstance."""

    name: str = Field(min_length=1, description="Name of the ClusterDatabaseInstance.")


class DatabaseReference(ApiModel):
    """Points at a Database object."""

    name: str = Field(min_length=1, description="Name of the Database object.")
    namespace: str | None = Field(
        None, description="Namespace of the Database; defaults to the namespace of the referencing object."
    )


class UserReference(ApiModel):
    """Points at a DatabaseUser object."""

    name: str = Field(min_length=1, description="Name of the DatabaseUser object.")
    namespace: str | None = Field(
        None, description="Namespace of the DatabaseUser; defaults to the namespace of the referencing object."
    )


class RoleReference(ApiModel):
    """Points at a DatabaseRole object."""

    name: str = Field(min_length=1, description="Name of the DatabaseRole object.")
    namespace: str | None = Field(
        None, description="Namespace of the DatabaseRole; defaults to the namespace of the referencing object."
    )


class BackupReference(ApiModel):
    """Points at a DatabaseBackup object."""

    name: str = Field(min_length=1, description="Name of the DatabaseBackup object.")
    namespace: str | None = Field(
        None, description="Namespace of the DatabaseBackup; defaults to the namespace of the referencing object."
    )


class NamespacedUserReference(ApiModel):
    """Points at a DatabaseUser from a cluster-scoped object, so the namespace is required."""

    name: str = Field(description="Name of the DatabaseUser object.")
    namespace: str = Field(description="Namespace of the DatabaseUser.")


class NamespacedRoleReference(ApiModel):
    """Points at a ClusterDatabaseRole (no namespace) or a DatabaseRole (namespace given)."""

    name: str = Field(description="Name of the ClusterDatabaseRole, or of the DatabaseRole when namespace is set.")
    namespace: str | None = Field(
        None, description="Namespace of a DatabaseRole; leave empty to reference a ClusterDatabaseRole."
    )


class ConfigMapKeySelector(ApiModel):
    """One key of a ConfigMap."""

    name: str = Field(description="Name of the ConfigMap.")
    namespace: str | None = Field(
        None, description="Namespace of the ConfigMap; defaults to the namespace of the referencing object."
    )
    key: str = Field(description="Key within the ConfigMap.")


class SecretKeySelector(ApiModel):
    """One key of a Secret."""

    name: str = Field(description="Name of the Secret.")
    namespace: str | None = Field(
        None, description="Namespace of the Secret; defaults to the namespace of the referencing object."
    )
    key: str = Field(description="Key within the Secret.")


class SecretReference(ApiModel):
    """A whole Secret."""

    name: str = Field(description="Name of the Secret.")
    namespace: str | None = Field(
        None, description="Namespace of the Secret; defaults to the namespace of the referencing object."
    )


# --------------------------------------------------------------------------------------------------------------
# 5.2 CredentialSecretRef


class CredentialSecretKeys(ApiModel):
    """Data keys of the admin credentials Secret."""

    username: str = Field("username", description="Data key holding the user name.")
    password: str = Field("password", description="Data key holding the password.")


class CredentialSecretRef(ApiModel):
    """The Secret holding an instance's admin account (``connection.secretRef`` / ``connection.existingSecret``)."""

    name: str = Field(description="Name of the Secret holding the admin account.")
    namespace: str | None = Field(
        None,
        description=(
            "Namespace of the Secret (and of the TLS Secret). Defaults to the instance's namespace, or for a "
            "ClusterDatabaseInstance to the operator's namespace."
        ),
    )
    keys: CredentialSecretKeys | None = Field(None, description="Data keys holding the user name and password.")

    @property
    def effective_keys(self) -> CredentialSecretKeys:
        return self.keys or CredentialSecretKeys()


# --------------------------------------------------------------------------------------------------------------
# 5.3 TLSConfig

TLSMode = Literal["disable", "require", "verify-ca", "verify-full"]


class TLSSecretKeys(ApiModel):
    """Data keys of the TLS Secret."""

    ca: str = Field("ca.crt", description="Data key of the CA bundle used by the verify modes.")
    cert: str | None = Field(
        None, description="Data key of the client certificate (mutual TLS); the operator uses tls.crt when empty."
    )
    key: str | None = Field(
        None, description="Data key of the client private key; the operator uses tls.key when empty."
    )


class TLSSecretRef(ApiModel):
    """The Secret with certificate material, read from the credentials Secret's namespace."""

    name: str = Field(description="Name of the Secret with certificate material.")
    keys: TLSSecretKeys | None = Field(None, description="Data keys of the CA bundle, client certificate and key.")

    @property
    def effective_keys(self) -> TLSSecretKeys:
        keys = self.keys or TLSSecretKeys()
        return TLSSecretKeys(ca=keys.ca, cert=keys.cert or "tls.crt", key=keys.key or "tls.key")


class TLSConfig(ApiModel):
    """TLS towards the database server (api.md 5.3)."""

    enabled: bool = Field(False, description="Turns on the TLS settings below.")
    mode: TLSMode = Field("disable", description="Verification level when enabled.")
    secret_ref: TLSSecretRef | None = Field(
        None, description="Secret with certificate material, read from the credentials Secret's namespace."
    )


# --------------------------------------------------------------------------------------------------------------
# 5.4 HealthCheckConfig


class HealthCheckConfig(ApiModel):
    """Periodic connection and version checks of an instance (api.md 5.4)."""

    enabled: bool = Field(
        True,
        description=(
            "Periodic checks. When false the instance is checked only on creation, on spec, annotation and Secret "
            "changes and at the resync period, and Healthy is Unknown."
        ),
    )
    interval_seconds: Int32 = Field(
        30, ge=5, description="Seconds between checks after a successful one; failures back off up to this interval."
    )
    timeout_seconds: Int32 = Field(
        5, ge=1, description="Limit in seconds for one whole check (connect, ping, version)."
    )


#: Runtime default when ``spec.healthCheck`` is absent (api.md 5.4: not the schema defaults).
HEALTH_CHECK_WHEN_ABSENT = HealthCheckConfig(enabled=True, interval_seconds=60, timeout_seconds=30)


# --------------------------------------------------------------------------------------------------------------
# 5.5 DriftPolicy and DriftStatus

DriftMode = Literal["ignore", "detect", "correct"]


class DriftPolicy(ApiModel):
    """How differences between the spec and the server are handled (api.md section 4)."""

    mode: DriftMode = Field(
        "detect", description="ignore: not checked; detect: reported only; correct: mutable differences corrected."
    )
    interval: str = Field("8h", description="Time between drift checks, as a duration such as 8h or 30m.")


class DriftDiff(ApiModel):
    """One difference between the spec and the server."""

    field: str = Field(description="Name of the differing setting (api.md 4.4).")
    expected: str = Field(description="Value the spec asks for.")
    actual: str = Field(description="Value found on the server.")
    destructive: bool | None = Field(None, description="Correcting it would remove something from the server.")
    immutable: bool | None = Field(None, description="It cannot be corrected on an existing server object.")


class DriftStatus(ApiModel):
    """Result of the latest drift check."""

    detected: bool | None = Field(None, description="Whether differences remain.")
    last_checked: datetime | None = Field(None, description="Time of the last check.")
    last_corrected: datetime | None = Field(None, description="Time of the last check that corrected something.")
    diffs: list[DriftDiff] | None = Field(None, description="Differences that remain.")


# --------------------------------------------------------------------------------------------------------------
# 5.6 Discovery


class DiscoveryConfig(ApiModel):
    """Scanning the server for unmanaged databases, users and roles (api.md 5.6)."""

    enabled: bool = Field(False, description="Scan the server for unmanaged databases, users and roles.")
    interval: str = Field("30m", description="Time between scans, as a duration such as 30m.")


class DiscoveredResource(ApiModel):
    """One unmanaged server object found by discovery."""

    name: str = Field(description="Name on the server.")
    discovered: datetime | None = Field(None, description="When the name was first seen.")
    adopted: bool | None = Field(None, description="Whether an object was created for it from the adopt annotations.")


class DiscoveredResourcesStatus(ApiModel):
    """Result of the latest discovery scan."""

    databases: list[DiscoveredResource] | None = Field(None, description="Unmanaged databases, sorted by name.")
    users: list[DiscoveredResource] | None = Field(None, description="Unmanaged login accounts, sorted by name.")
    roles: list[DiscoveredResource] | None = Field(None, description="Unmanaged roles, sorted by name.")
    last_scan: datetime | None = Field(None, description="Completion time of the last successful scan.")


# --------------------------------------------------------------------------------------------------------------
# 5.7 ResourceTrackingConfig

DEFAULT_COMMENT_FORMAT = "managed-by:{{.Operator}},cr:{{.Namespace}}/{{.Name}}"


class ResourceTrackingMySQL(ApiModel):
    """Where MySQL-family servers keep the tracking text."""

    use_user_attributes: bool = Field(
        True, description="MySQL: store the text as a user attribute where the server supports it."
    )
    metadata_table_name: str = Field(
        "_dbops_metadata", description="Table used where comments or attributes are unavailable."
    )
    metadata_database: str | None = Field(
        None, description="Database holding that table; defaults to the instance's connection.database."
    )


class ResourceTrackingConfig(ApiModel):
    """Marking managed server objects with a tracking text (api.md 5.7)."""

    enabled: bool = Field(True, description="Mark managed server objects with a tracking text.")
    comment_format: str = Field(
        DEFAULT_COMMENT_FORMAT,
        description="Template of the tracking text; variables .Operator, .Namespace, .Name, .Kind and .UID.",
    )
    mysql: ResourceTrackingMySQL | None = Field(None, description="MySQL and MariaDB storage of the tracking text.")


# --------------------------------------------------------------------------------------------------------------
# 5.11 OwnedObject (used by users' rotation and ownership blocks)


class OwnedObject(ApiModel):
    """A server object owned by an account, which blocks dropping it."""

    database: str | None = Field(None, description="Database containing the object; empty for server-wide objects.")
    schema_: str | None = Field(None, alias="schema", description="Schema containing the object.")
    name: str = Field(description="Name of the object.")
    type: str = Field(description="Object type, e.g. table, view, sequence, function, procedure, trigger, event.")


# --------------------------------------------------------------------------------------------------------------
# 5.15 DeletionConfirmation


class DeletionConfirmation(ApiModel):
    """Cascade-deletion confirmation state (api.md 3.2)."""

    required: bool = Field(description="Whether the confirm-force-delete annotation must still be set to the hash.")
    hash: str = Field(description="Confirmation hash: 8 hex characters over the sorted child identifiers.")
    children: list[str] = Field(description="Identifiers of the children that block or are removed by the deletion.")
    remaining_count: Int32 = Field(description="Number of children that still exist.")
    total_count: Int32 | None = Field(
        default=None,
        description="Number of children the confirmed cascade started with (a dbops addition: the "
        "CascadeDeleteComplete event reports it, and it is recorded, not parsed back from the message).",
    )
    message: str = Field(description="What to do to confirm, or the cascade's progress.")


# --------------------------------------------------------------------------------------------------------------
# Engines (api.md 1.5)

Engine = Literal["postgres", "mysql", "mariadb", "cockroachdb", "clickhouse"]


# --------------------------------------------------------------------------------------------------------------
# Rules shared by the kinds that reference either instance kind, or carry engine blocks (CEL rules 5, 6, 15).

INSTANCE_REF_RULES = (
    CelRule(
        rule="has(self.instanceRef) || has(self.clusterInstanceRef)",
        message="either instanceRef or clusterInstanceRef must be specified",
        check=lambda s: s.instance_ref is not None or s.cluster_instance_ref is not None,
        field_path=".instanceRef",
    ),
    CelRule(
        rule="!(has(self.instanceRef) && has(self.clusterInstanceRef))",
        message="instanceRef and clusterInstanceRef are mutually exclusive",
        check=lambda s: not (s.instance_ref is not None and s.cluster_instance_ref is not None),
        field_path=".clusterInstanceRef",
    ),
)

AT_MOST_ONE_ENGINE_BLOCK = CelRule(
    rule="(has(self.postgres) ? 1 : 0) + (has(self.mysql) ? 1 : 0) + (has(self.clickhouse) ? 1 : 0) <= 1",
    message="at most one of postgres, mysql or clickhouse may be set",
    check=lambda s: sum(getattr(s, b) is not None for b in ("postgres", "mysql", "clickhouse")) <= 1,
)


#: CEL rule 16: the cluster kinds and backups have no ClickHouse block, so only these two can clash.
POSTGRES_MYSQL_EXCLUSIVE = CelRule(
    rule="!(has(self.postgres) && has(self.mysql))",
    message="postgres and mysql settings are mutually exclusive",
    check=lambda s: not (s.postgres is not None and s.mysql is not None),
    field_path=".mysql",
)


# --------------------------------------------------------------------------------------------------------------
# 1.6 Status conventions


class StatusBase(ApiModel):
    """Fields every kind's status carries: the generation it describes and its conditions."""

    observed_generation: Int64 | None = Field(None, description="The metadata.generation that this status describes.")
    conditions: Conditions | None = Field(
        None, description="Standard conditions keyed by type (Ready, Synced, OptionsHonored, ...)."
    )

    def condition(self, type_: str) -> Condition | None:
        """The condition of that type, if present."""
        return next((c for c in self.conditions or () if c.type == type_), None)


class MessageStatus(StatusBase):
    """Status with a human-readable summary of the latest outcome."""

    message: str | None = Field(None, description="Human-readable summary of the latest outcome.")


class ReconciledStatus(MessageStatus):
    """Status of the kinds that record each reconcile's ID and time (api.md 1.6)."""

    reconcile_id: str | None = Field(
        None,
        alias="reconcileID",
        description="ID (8 lowercase hex characters) of the reconcile that wrote this status.",
    )
    last_reconcile_time: datetime | None = Field(None, description="Time of the reconcile that wrote this status.")
