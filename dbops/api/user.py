"""DatabaseUser (api.md 6.4): a login account, its password source, credentials Secret and rotation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from dbops.api.common import (
    AT_MOST_ONE_ENGINE_BLOCK,
    INSTANCE_REF_RULES,
    ClusterInstanceReference,
    DeletionConfirmation,
    DriftPolicy,
    DriftStatus,
    InstanceReference,
    OwnedObject,
    ReconciledStatus,
)
from dbops.api.meta import ApiModel, CelRule, Identifier, Immutable, Int32, Resource

UserPhase = Literal["Pending", "Creating", "Ready", "Failed", "Deleting", "PendingDeletion"]
SecretFormat = Literal["kubernetes", "vault", "external-secrets"]
RotationStrategy = Literal["role-inheritance", "dual-password"]
OldUserAction = Literal["retain", "disable", "delete"]
PendingDeletionState = Literal["pending", "blocked", "deleted"]
MySQLAuthPlugin = Literal["mysql_native_password", "caching_sha2_password", "sha256_password"]


# --------------------------------------------------------------------------------------------------------------
# 5.10 PasswordConfig, SecretTemplate, ExistingPasswordSecret


class SecretTemplate(ApiModel):
    """Shape of the credentials Secret."""

    type: str = Field("Opaque", description="Secret type; a change makes the operator re-create the Secret.")
    labels: dict[str, str] | None = Field(None, description="Labels merged into the Secret's metadata.")
    annotations: dict[str, str] | None = Field(None, description="Annotations merged into the Secret's metadata.")
    data: dict[str, str] | None = Field(
        None,
        description=(
            "Data keys rendered from templates (.Username, .Password, .Host, .Port, .Database, ...); when "
            "non-empty the Secret holds exactly these keys, otherwise username, password, host and port."
        ),
    )


class PasswordConfig(ApiModel):
    """Password generation and the credentials Secret (api.md 5.10)."""

    generate: bool = Field(
        True, description="true: the operator generates the password; false: existingPasswordSecret supplies it."
    )
    length: Int32 = Field(32, ge=8, le=128, description="Generated password length.")
    include_special_chars: bool = Field(True, description="Add the URL-safe characters -_.~!*$& to the alphabet.")
    exclude_chars: str | None = Field(None, description="Characters removed from the alphabet.")
    secret_name: str = Field(description="Name of the credentials Secret.")
    secret_namespace: str | None = Field(
        None, description="Namespace of the credentials Secret; defaults to the user's namespace."
    )
    format: SecretFormat = Field(
        "kubernetes", description="kubernetes; vault and external-secrets are reported unsupported."
    )
    secret_template: SecretTemplate | None = Field(None, description="Type, metadata and data keys of the Secret.")


class ExistingPasswordSecret(ApiModel):
    """A Secret key holding the password to use instead of a generated one."""

    name: str = Field(description="Name of the Secret.")
    namespace: str | None = Field(None, description="Namespace of the Secret; defaults to the user's namespace.")
    key: str = Field(description="Data key holding the password.")


# --------------------------------------------------------------------------------------------------------------
# 5.11 PasswordRotationConfig


class ServiceRoleConfig(ApiModel):
    """The role that carries the user's privileges across account generations."""

    name: str | None = Field(None, description="Service role name; defaults to svc_<username>.")
    auto_create: bool = Field(True, description="Create the service role if missing; when false it must exist.")


class OldUserPolicy(ApiModel):
    """What happens to superseded accounts."""

    action: OldUserAction = Field("delete", description="Action after the grace period: retain, disable or delete.")
    grace_period_days: Int32 = Field(7, ge=0, description="Days between supersession and the action.")
    ownership_check: bool = Field(True, description="Before delete, block the deletion if the account owns objects.")


class RotationMySQLConfig(ApiModel):
    """MySQL settings of the dual-password strategy."""

    discard_old_password_after_days: Int32 = Field(
        7, ge=1, description="dual-password: days after which the retained old password is discarded."
    )


class PasswordRotationConfig(ApiModel):
    """Automatic password rotation (api.md 5.11)."""

    enabled: bool = Field(False, description="Automatic rotation.")
    schedule: str | None = Field(None, description="Cron expression of rotation slots, evaluated in UTC.")
    max_age: str | None = Field(None, description="Rotate when the password is older than this (e.g. 90d, 7d12h).")
    strategy: RotationStrategy = Field("role-inheritance", description="role-inheritance or dual-password.")
    service_role: ServiceRoleConfig | None = Field(None, description="Service role (role-inheritance).")
    user_naming: str = Field(
        "{{.Username}}_{{.Date}}", description="Name of each new account; {{.Username}}, {{.Date}}, {{.Timestamp}}."
    )
    old_user_policy: OldUserPolicy | None = Field(None, description="Handling of superseded accounts.")
    mysql: RotationMySQLConfig | None = Field(None, description="MySQL dual-password settings.")


class PendingDeletionEntry(ApiModel):
    """A superseded account waiting for its grace period to end."""

    user: str = Field(description="Account name.")
    deprecated_at: datetime | None = Field(None, description="When it was superseded.")
    delete_after: datetime | None = Field(None, description="When the old-user action is due.")
    status: PendingDeletionState | None = Field(None, description="pending, blocked or deleted.")
    blocked_reason: str | None = Field(None, description="Why the deletion is blocked.")
    owned_objects: list[OwnedObject] | None = Field(None, description="Objects the account owns.")
    resolution: str | None = Field(None, description="How to unblock the deletion.")
    reconcile_id: str | None = Field(None, alias="reconcileID", description="Reconcile that last changed the entry.")


class RotationStatus(ApiModel):
    """State of password rotation."""

    enabled: bool | None = Field(None, description="Whether rotation is enabled.")
    strategy: RotationStrategy | None = Field(None, description="Strategy in use.")
    last_rotated_at: datetime | None = Field(None, description="Time of the last rotation (or of the first enable).")
    next_rotation_at: datetime | None = Field(None, description="Next cron slot.")
    active_user: str | None = Field(None, description="Account that the credentials Secret describes.")
    service_role: str | None = Field(None, description="Service role in use.")
    old_password_discard_at: datetime | None = Field(
        None, description="dual-password: when the retained old password is discarded."
    )
    pending_deletion: list[PendingDeletionEntry] | None = Field(None, description="Superseded accounts.")


# --------------------------------------------------------------------------------------------------------------
# Engine blocks


class UserPostgresConfig(ApiModel):
    """PostgreSQL and CockroachDB account attributes."""

    connection_limit: Int32 = Field(-1, ge=-1, description="Connection limit; -1 means unlimited.")
    valid_until: str | None = Field(None, description="Password expiry, RFC 3339.")
    superuser: bool = Field(False, description="SUPERUSER attribute.")
    create_db: bool = Field(False, alias="createDB", description="CREATEDB attribute.")
    create_role: bool = Field(False, description="CREATEROLE attribute.")
    replication: bool = Field(False, description="REPLICATION attribute.")
    bypass_rls: bool = Field(False, alias="bypassRLS", description="BYPASSRLS attribute.")
    inherit: bool = Field(True, description="Inherit privileges of member roles.")
    login: bool = Field(True, description="Login allowed; false creates a no-login account.")
    in_roles: list[str] | None = Field(None, description="Role memberships.")
    default_role: str | None = Field(None, description="Role activated automatically at login.")
    config_parameters: dict[str, str] | None = Field(None, description="Per-account session defaults.")


class UserMySQLConfig(ApiModel):
    """MySQL and MariaDB account settings."""

    max_queries_per_hour: Int32 = Field(0, ge=0, description="Queries per hour; 0 = unlimited.")
    max_updates_per_hour: Int32 = Field(0, ge=0, description="Updates per hour; 0 = unlimited.")
    max_connections_per_hour: Int32 = Field(0, ge=0, description="Connections per hour; 0 = unlimited.")
    max_user_connections: Int32 = Field(0, ge=0, description="Simultaneous connections; 0 = unlimited.")
    auth_plugin: MySQLAuthPlugin = Field("caching_sha2_password", description="Authentication plugin.")
    require_ssl: bool = Field(False, alias="requireSSL", description="Require TLS.")
    require_x509: bool = Field(False, alias="requireX509", description="Require a client certificate.")
    allowed_hosts: list[str] = Field(["%"], description="Host patterns; one server account per pattern.")
    account_locked: bool = Field(False, description="Lock the account.")
    failed_login_attempts: Int32 = Field(
        0, ge=0, description="Consecutive failed logins before a temporary lock; 0 = no tracking."
    )
    password_lock_time: Int32 = Field(
        0, ge=0, description="Days locked once failedLoginAttempts is reached; 0 = until unlocked."
    )


class UserClickHouseConfig(ApiModel):
    """ClickHouse account settings."""

    allowed_hosts: list[str] | None = Field(None, description="Hosts the account may connect from; empty = any.")
    default_database: str | None = Field(None, description="Default database of the account.")


# --------------------------------------------------------------------------------------------------------------
# Spec and status


class DatabaseUserSpec(ApiModel):
    """Desired state of a DatabaseUser."""

    cel_rules = (
        *INSTANCE_REF_RULES,
        AT_MOST_ONE_ENGINE_BLOCK,
        CelRule(
            rule=(
                "!(has(self.existingPasswordSecret) && has(self.passwordSecret) && "
                "(!has(self.passwordSecret.generate) || self.passwordSecret.generate))"
            ),
            message="existingPasswordSecret requires passwordSecret.generate to be false",
            check=lambda s: (
                not (
                    s.existing_password_secret is not None
                    and s.password_secret is not None
                    and s.password_secret.generate
                )
            ),
            field_path=".passwordSecret.generate",
        ),
        CelRule(
            rule=(
                "!has(self.passwordSecret) || !has(self.passwordSecret.generate) || self.passwordSecret.generate "
                "|| has(self.existingPasswordSecret)"
            ),
            message="passwordSecret.generate=false requires existingPasswordSecret",
            check=lambda s: (
                s.password_secret is None or s.password_secret.generate or s.existing_password_secret is not None
            ),
            field_path=".existingPasswordSecret",
        ),
    )

    instance_ref: InstanceReference | None = Field(
        None, description="The DatabaseInstance; exactly one of instanceRef and clusterInstanceRef."
    )
    cluster_instance_ref: ClusterInstanceReference | None = Field(
        None, description="The ClusterDatabaseInstance; exactly one of instanceRef and clusterInstanceRef."
    )
    username: Annotated[Identifier, Immutable("username is immutable")] = Field(
        description="Account name on the server (1-63 characters, letters, digits, _); immutable."
    )
    password_secret: PasswordConfig | None = Field(
        None,
        description="Password generation and credentials Secret; when absent, a generated password in "
        "<username>-credentials.",
    )
    existing_password_secret: ExistingPasswordSecret | None = Field(
        None, description="Use this password instead of generating one (needs passwordSecret.generate=false)."
    )
    password_rotation: PasswordRotationConfig | None = Field(None, description="Automatic password rotation.")
    roles: list[str] | None = Field(None, description="Role memberships (server role names).")
    postgres: UserPostgresConfig | None = Field(None, description="PostgreSQL and CockroachDB settings.")
    mysql: UserMySQLConfig | None = Field(None, description="MySQL and MariaDB settings.")
    clickhouse: UserClickHouseConfig | None = Field(None, description="ClickHouse settings.")
    drift_policy: DriftPolicy | None = Field(None, description="Overrides the instance's drift policy.")

    @property
    def default_secret_name(self) -> str:
        """``<username>-credentials`` lower-cased with ``_`` replaced by ``-`` (a valid Secret name)."""
        return f"{self.username}-credentials".lower().replace("_", "-")


class UserInfo(ApiModel):
    """The account on the server."""

    username: str | None = Field(None, description="Account name.")
    created_at: datetime | None = Field(None, description="Creation or take-over time.")


class SecretInfo(ApiModel):
    """The credentials Secret."""

    name: str | None = Field(None, description="Secret name.")
    namespace: str | None = Field(None, description="Secret namespace.")
    last_rotated_at: datetime | None = Field(None, description="Last time its password changed.")


class OwnershipBlock(ApiModel):
    """Why deletion is blocked by objects the account owns."""

    blocked: bool = Field(description="Whether deletion is blocked.")
    last_checked_at: datetime | None = Field(None, description="Time of the last ownership check.")
    owned_objects: list[OwnedObject] | None = Field(None, description="Objects the account owns.")
    resolution: str | None = Field(None, description="What to run to unblock the deletion.")
    message: str | None = Field(None, description="Details.")


class DatabaseUserStatus(ReconciledStatus):
    """Observed state of a DatabaseUser."""

    phase: UserPhase | None = Field(None, description="Pending, Creating, Ready, Failed, Deleting or PendingDeletion.")
    user: UserInfo | None = Field(None, description="Account name and creation time.")
    secret: SecretInfo | None = Field(None, description="The credentials Secret.")
    rotation: RotationStatus | None = Field(None, description="State of password rotation.")
    ownership_block: OwnershipBlock | None = Field(None, description="Set while deletion is blocked by owned objects.")
    drift: DriftStatus | None = Field(None, description="Result of the latest drift check.")
    deletion_confirmation: DeletionConfirmation | None = Field(None, description="Cascade-deletion confirmation state.")


class DatabaseUser(Resource[DatabaseUserSpec, DatabaseUserStatus]):
    """A login account on a DatabaseInstance or ClusterDatabaseInstance."""

    kind: Literal["DatabaseUser"] = "DatabaseUser"
