"""DatabaseGrant and ClusterDatabaseGrant (api.md 6.7, 6.8): memberships and privileges given to a user or role."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from dbops.api.common import (
    AT_MOST_ONE_ENGINE_BLOCK,
    POSTGRES_MYSQL_EXCLUSIVE,
    ClusterInstanceReference,
    DatabaseReference,
    DriftPolicy,
    DriftStatus,
    NamespacedRoleReference,
    NamespacedUserReference,
    ReconciledStatus,
    RoleReference,
    UserReference,
)
from dbops.api.grants import ClickHouseGrant, MySQLGrant, PostgresDefaultPrivilegeGrant, PostgresGrant
from dbops.api.meta import ApiModel, CelRule, Int32, Resource

GrantPhase = Literal["Pending", "Creating", "Ready", "Failed", "Deleting"]
GrantDetailState = Literal["Applied", "Failed"]
GrantTargetType = Literal["user", "role"]


class PostgresGrantConfig(ApiModel):
    """PostgreSQL and CockroachDB memberships, privileges and default privileges."""

    roles: list[str] | None = Field(None, description="Role memberships given to the grantee.")
    grants: list[PostgresGrant] | None = Field(None, description="Privileges.")
    default_privileges: list[PostgresDefaultPrivilegeGrant] | None = Field(
        None, description="Default privileges on future objects."
    )


class MySQLGrantConfig(ApiModel):
    """MySQL and MariaDB memberships and privileges."""

    roles: list[str] | None = Field(None, description="Role memberships (made active at login).")
    grants: list[MySQLGrant] | None = Field(None, description="Privileges.")


class ClickHouseGrantConfig(ApiModel):
    """ClickHouse memberships and privileges."""

    roles: list[str] | None = Field(None, description="Role memberships.")
    grants: list[ClickHouseGrant] | None = Field(None, description="Privileges.")


class DatabaseGrantSpec(ApiModel):
    """Desired state of a DatabaseGrant."""

    cel_rules = (
        CelRule(
            rule="has(self.userRef) || has(self.roleRef)",
            message="either userRef or roleRef must be specified",
            check=lambda s: s.user_ref is not None or s.role_ref is not None,
            field_path=".userRef",
        ),
        CelRule(
            rule="!(has(self.userRef) && has(self.roleRef))",
            message="userRef and roleRef are mutually exclusive",
            check=lambda s: not (s.user_ref is not None and s.role_ref is not None),
            field_path=".roleRef",
        ),
        AT_MOST_ONE_ENGINE_BLOCK,
    )

    user_ref: UserReference | None = Field(
        None, description="Grantee: a DatabaseUser (any namespace); exactly one of userRef and roleRef."
    )
    role_ref: RoleReference | None = Field(
        None, description="Grantee: a DatabaseRole (any namespace); exactly one of userRef and roleRef."
    )
    database_ref: DatabaseReference | None = Field(
        None, description="Optional Database the grant waits for; it must be on the grantee's instance."
    )
    postgres: PostgresGrantConfig | None = Field(None, description="PostgreSQL and CockroachDB grants.")
    mysql: MySQLGrantConfig | None = Field(None, description="MySQL and MariaDB grants.")
    clickhouse: ClickHouseGrantConfig | None = Field(None, description="ClickHouse grants.")
    drift_policy: DriftPolicy | None = Field(None, description="Overrides the instance's drift policy.")
    deletion_protection: bool = Field(True, description="Block deletion of this object until set to false.")


class ClusterDatabaseGrantSpec(ApiModel):
    """Desired state of a ClusterDatabaseGrant."""

    cel_rules = (
        CelRule(
            rule="has(self.userRef) != has(self.roleRef)",
            message="exactly one of userRef or roleRef must be specified",
            check=lambda s: (s.user_ref is not None) != (s.role_ref is not None),
            field_path=".userRef",
        ),
        POSTGRES_MYSQL_EXCLUSIVE,
    )

    cluster_instance_ref: ClusterInstanceReference = Field(description="The ClusterDatabaseInstance.")
    user_ref: NamespacedUserReference | None = Field(
        None, description="Grantee: a DatabaseUser in the given namespace; exactly one of userRef and roleRef."
    )
    role_ref: NamespacedRoleReference | None = Field(
        None,
        description="Grantee: a ClusterDatabaseRole (no namespace) or a DatabaseRole; one of userRef, roleRef.",
    )
    postgres: PostgresGrantConfig | None = Field(None, description="PostgreSQL and CockroachDB grants.")
    mysql: MySQLGrantConfig | None = Field(None, description="MySQL and MariaDB grants.")
    drift_policy: DriftPolicy | None = Field(None, description="Overrides the cluster instance's drift policy.")
    deletion_protection: bool = Field(True, description="Block deletion of this object until set to false.")


class AppliedGrants(ApiModel):
    """What a DatabaseGrant applied."""

    roles: list[str] | None = Field(None, description="Memberships applied.")
    direct_grants: Int32 | None = Field(None, description="Privilege entries applied.")
    default_privileges: Int32 | None = Field(None, description="Default-privilege entries applied.")


class GrantDetail(ApiModel):
    """Outcome of one entry of a ClusterDatabaseGrant."""

    database: str | None = Field(None, description="Database of the entry.")
    schema_: str | None = Field(None, alias="schema", description="Schema of the entry.")
    privileges: list[str] | None = Field(None, description="Privileges of the entry.")
    applied_at: datetime | None = Field(None, description="When it was applied.")
    status: GrantDetailState | None = Field(None, description="Applied or Failed.")
    message: str | None = Field(None, description="Error of a failed entry.")


class ClusterAppliedGrants(AppliedGrants):
    """What a ClusterDatabaseGrant applied."""

    applied: Int32 | None = Field(None, description="directGrants plus the number of roles.")
    failed: Int32 | None = Field(None, description="Entries that failed.")
    details: list[GrantDetail] | None = Field(None, description="One item per entry.")


class TargetInfo(ApiModel):
    """The resolved grantee of a ClusterDatabaseGrant."""

    type: GrantTargetType | None = Field(None, description="user or role.")
    name: str | None = Field(None, description="Name of the DatabaseUser, DatabaseRole or ClusterDatabaseRole.")
    namespace: str | None = Field(None, description="Namespace of the object; empty for a ClusterDatabaseRole.")
    resolved_username: str | None = Field(None, description="Server-side name the privileges go to.")


class DatabaseGrantStatus(ReconciledStatus):
    """Observed state of a DatabaseGrant."""

    phase: GrantPhase | None = Field(None, description="Pending, Creating, Ready, Failed or Deleting.")
    applied_grants: AppliedGrants | None = Field(None, description="What was applied.")
    drift: DriftStatus | None = Field(None, description="Result of the latest drift check.")


class ClusterDatabaseGrantStatus(ReconciledStatus):
    """Observed state of a ClusterDatabaseGrant."""

    phase: GrantPhase | None = Field(None, description="Pending, Creating, Ready, Failed or Deleting.")
    applied_grants: ClusterAppliedGrants | None = Field(None, description="What was applied, per entry.")
    target_info: TargetInfo | None = Field(None, description="The resolved grantee.")
    drift: DriftStatus | None = Field(None, description="Result of the latest drift check.")


class DatabaseGrant(Resource[DatabaseGrantSpec, DatabaseGrantStatus]):
    """Memberships and privileges for a DatabaseUser or DatabaseRole."""

    kind: Literal["DatabaseGrant"] = "DatabaseGrant"


class ClusterDatabaseGrant(Resource[ClusterDatabaseGrantSpec, ClusterDatabaseGrantStatus]):
    """Memberships and privileges on a ClusterDatabaseInstance, cluster-scoped."""

    kind: Literal["ClusterDatabaseGrant"] = "ClusterDatabaseGrant"
