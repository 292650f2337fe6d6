"""DatabaseRole and ClusterDatabaseRole (api.md 6.5, 6.6): a role on the server and the privileges it holds."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from dbops.api.common import (
    AT_MOST_ONE_ENGINE_BLOCK,
    INSTANCE_REF_RULES,
    POSTGRES_MYSQL_EXCLUSIVE,
    ClusterInstanceReference,
    DeletionConfirmation,
    DriftPolicy,
    DriftStatus,
    InstanceReference,
    ReconciledStatus,
)
from dbops.api.grants import MySQLGrant, PostgresGrant
from dbops.api.meta import ApiModel, Identifier, Immutable, Resource

RolePhase = Literal["Pending", "Creating", "Ready", "Failed", "Deleting", "PendingDeletion"]

RoleName = Annotated[Identifier, Immutable("roleName is immutable")]


class PostgresRoleConfig(ApiModel):
    """PostgreSQL and CockroachDB role attributes, memberships and privileges."""

    login: bool = Field(False, description="Login allowed (no password is managed for roles).")
    inherit: bool = Field(True, description="Inherit privileges of member roles.")
    create_db: bool = Field(False, alias="createDB", description="CREATEDB attribute.")
    create_role: bool = Field(False, description="CREATEROLE attribute.")
    superuser: bool = Field(False, description="SUPERUSER attribute.")
    replication: bool = Field(False, description="REPLICATION attribute.")
    bypass_rls: bool = Field(False, alias="bypassRLS", description="BYPASSRLS attribute.")
    in_roles: list[str] | None = Field(None, description="Roles this role is a member of.")
    grants: list[PostgresGrant] | None = Field(None, description="Privileges held by the role.")


class MySQLRoleConfig(ApiModel):
    """MySQL and MariaDB role settings and privileges."""

    use_native_roles: bool = Field(
        True, description="true: a server role; false: a locked account <roleName>@% stands in for the role."
    )
    grants: list[MySQLGrant] | None = Field(None, description="Privileges held by the role.")


class ClickHouseRoleConfig(ApiModel):
    """ClickHouse role settings."""

    settings: dict[str, str] | None = Field(None, description="Settings profile values attached to the role.")


class DatabaseRoleSpec(ApiModel):
    """Desired state of a DatabaseRole."""

    cel_rules = (*INSTANCE_REF_RULES, AT_MOST_ONE_ENGINE_BLOCK)

    instance_ref: InstanceReference | None = Field(
        None, description="The DatabaseInstance; exactly one of instanceRef and clusterInstanceRef."
    )
    cluster_instance_ref: ClusterInstanceReference | None = Field(
        None, description="The ClusterDatabaseInstance; exactly one of instanceRef and clusterInstanceRef."
    )
    role_name: RoleName = Field(description="Role name on the server (1-63 characters, letters, digits, _); immutable.")
    postgres: PostgresRoleConfig | None = Field(None, description="PostgreSQL and CockroachDB settings.")
    mysql: MySQLRoleConfig | None = Field(None, description="MySQL and MariaDB settings.")
    clickhouse: ClickHouseRoleConfig | None = Field(None, description="ClickHouse settings.")
    drift_policy: DriftPolicy | None = Field(None, description="Overrides the instance's drift policy.")


class ClusterDatabaseRoleSpec(ApiModel):
    """Desired state of a ClusterDatabaseRole."""

    cel_rules = (POSTGRES_MYSQL_EXCLUSIVE,)

    cluster_instance_ref: ClusterInstanceReference = Field(description="The ClusterDatabaseInstance.")
    role_name: RoleName = Field(description="Role name on the server (1-63 characters, letters, digits, _); immutable.")
    postgres: PostgresRoleConfig | None = Field(None, description="PostgreSQL and CockroachDB settings.")
    mysql: MySQLRoleConfig | None = Field(None, description="MySQL and MariaDB settings.")
    drift_policy: DriftPolicy | None = Field(None, description="Overrides the cluster instance's drift policy.")
    managed_resource_comment: str | None = Field(
        None, description="Tracking text for this role; takes precedence over the instance's commentFormat."
    )


class RoleInfo(ApiModel):
    """The role on the server."""

    name: str | None = Field(None, description="Role name.")
    created_at: datetime | None = Field(None, description="Creation or take-over time.")


class DatabaseRoleStatus(ReconciledStatus):
    """Observed state of a DatabaseRole or ClusterDatabaseRole."""

    phase: RolePhase | None = Field(None, description="Pending, Creating, Ready, Failed, Deleting or PendingDeletion.")
    role: RoleInfo | None = Field(None, description="The role on the server.")
    drift: DriftStatus | None = Field(None, description="Result of the latest drift check.")
    deletion_confirmation: DeletionConfirmation | None = Field(None, description="Cascade-deletion confirmation state.")


class DatabaseRole(Resource[DatabaseRoleSpec, DatabaseRoleStatus]):
    """A role on a DatabaseInstance or ClusterDatabaseInstance."""

    kind: Literal["DatabaseRole"] = "DatabaseRole"


class ClusterDatabaseRole(Resource[ClusterDatabaseRoleSpec, DatabaseRoleStatus]):
    """A role on a ClusterDatabaseInstance, cluster-scoped."""

    kind: Literal["ClusterDatabaseRole"] = "ClusterDatabaseRole"
