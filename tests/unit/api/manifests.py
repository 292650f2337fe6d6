"""Valid minimal manifests per kind and the table of bad manifests.

Shared by the unit tests (Python validation must reject each bad manifest) and the integration tests (the real
apiserver must reject each one). Every case names the field(s) the rejection message must mention.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

API_VERSION = "dbops.dbprovision.io/v1alpha1"

Manifest = dict[str, Any]
Mutation = Callable[[Manifest], None]

S3_STORAGE: Manifest = {
    "type": "s3",
    "s3": {"bucket": "b", "region": "us-east-1", "secretRef": {"name": "s3-credentials"}},
}

_SPECS: dict[str, Manifest] = {
    "DatabaseInstance": {
        "engine": "postgres",
        "connection": {"host": "127.0.0.1", "port": 15432, "secretRef": {"name": "admin"}},
    },
    "ClusterDatabaseInstance": {
        "engine": "mysql",
        "connection": {"host": "127.0.0.1", "port": 13306, "existingSecret": {"name": "admin", "namespace": "ops"}},
    },
    "Database": {"instanceRef": {"name": "pg"}, "name": "app_db"},
    "DatabaseUser": {"instanceRef": {"name": "pg"}, "username": "app_user"},
    "DatabaseRole": {"instanceRef": {"name": "pg"}, "roleName": "app_ro"},
    "ClusterDatabaseRole": {"clusterInstanceRef": {"name": "shared"}, "roleName": "reporting"},
    "DatabaseGrant": {"userRef": {"name": "app-user"}},
    "ClusterDatabaseGrant": {"clusterInstanceRef": {"name": "shared"}, "userRef": {"name": "u", "namespace": "team"}},
    "DatabaseBackup": {"databaseRef": {"name": "app"}, "storage": S3_STORAGE},
    "DatabaseBackupSchedule": {
        "schedule": "0 2 * * *",
        "template": {"spec": {"databaseRef": {"name": "app"}, "storage": S3_STORAGE}},
    },
    "DatabaseRestore": {
        "backupRef": {"name": "app-backup"},
        "target": {"instanceRef": {"name": "pg"}, "databaseName": "restored"},
    },
}

CLUSTER_SCOPED = frozenset({"ClusterDatabaseInstance", "ClusterDatabaseRole", "ClusterDatabaseGrant"})


def base(kind: str, name: str = "sample") -> Manifest:
    """A valid minimal manifest of ``kind`` (no namespace; kubectl -n supplies it)."""
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name}, "spec": copy.deepcopy(_SPECS[kind])}


def _walk(obj: Any, path: str) -> tuple[Any, str | int]:
    keys: list[str | int] = [int(p) if p.isdigit() else p for p in path.split(".")]
    for key in keys[:-1]:
        obj = obj.setdefault(key, {}) if isinstance(obj, dict) and isinstance(key, str) else obj[key]
    return obj, keys[-1]


def set_(path: str, value: Any) -> Mutation:
    """Set a dotted path (list indices as numbers), creating missing objects."""

    def mutate(manifest: Manifest) -> None:
        parent, key = _walk(manifest, path)
        parent[key] = copy.deepcopy(value)

    return mutate


def drop(path: str) -> Mutation:
    """Remove a dotted path."""

    def mutate(manifest: Manifest) -> None:
        parent, key = _walk(manifest, path)
        del parent[key]

    return mutate


def both(*mutations: Mutation) -> Mutation:
    def mutate(manifest: Manifest) -> None:
        for m in mutations:
            m(manifest)

    return mutate


@dataclass(frozen=True)
class Case:
    """A manifest the apiserver must reject; ``fields`` must all appear in the rejection message.

    With ``update=True`` the base object is created first and the mutated one is an update of it (transition rules).
    """

    id: str
    kind: str
    mutation: Mutation
    fields: tuple[str, ...]
    update: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def manifest(self) -> Manifest:
        manifest = base(self.kind)
        self.mutation(manifest)
        return manifest


GRANT = {"database": "app", "privileges": ["SELECT"]}

BAD_CASES: tuple[Case, ...] = (
    # --- DatabaseInstance / ClusterDatabaseInstance
    Case("instance-missing-engine", "DatabaseInstance", drop("spec.engine"), ("spec.engine",)),
    Case("instance-unknown-engine", "DatabaseInstance", set_("spec.engine", "oracle"), ("spec.engine",)),
    Case("instance-port-zero", "DatabaseInstance", set_("spec.connection.port", 0), ("spec.connection.port",)),
    Case("instance-port-too-big", "DatabaseInstance", set_("spec.connection.port", 65536), ("spec.connection.port",)),
    Case("instance-missing-host", "DatabaseInstance", drop("spec.connection.host"), ("spec.connection.host",)),
    Case("instance-empty-host", "DatabaseInstance", set_("spec.connection.host", ""), ("spec.connection.host",)),
    Case(
        "instance-both-secrets",
        "DatabaseInstance",
        set_("spec.connection.existingSecret", {"name": "other"}),
        ("spec.connection.secretRef", "exactly one of secretRef or existingSecret"),
    ),
    Case(
        "instance-no-secret",
        "DatabaseInstance",
        drop("spec.connection.secretRef"),
        ("spec.connection.secretRef", "exactly one of secretRef or existingSecret"),
    ),
    Case(
        "instance-mysql-block-on-postgres",
        "DatabaseInstance",
        set_("spec.mysql", {"tls": "required"}),
        ("spec.mysql", "mysql settings are only valid"),
    ),
    Case(
        "instance-postgres-block-on-clickhouse",
        "DatabaseInstance",
        both(set_("spec.engine", "clickhouse"), set_("spec.postgres", {})),
        ("spec.postgres", "postgres settings are only valid"),
    ),
    Case(
        "instance-clickhouse-block-on-mariadb",
        "DatabaseInstance",
        both(set_("spec.engine", "mariadb"), set_("spec.clickhouse", {"secure": True})),
        ("spec.clickhouse", "clickhouse settings are only valid"),
    ),
    Case(
        "instance-health-interval-too-small",
        "DatabaseInstance",
        set_("spec.healthCheck", {"intervalSeconds": 4}),
        ("spec.healthCheck.intervalSeconds",),
    ),
    Case("instance-bad-tls-mode", "DatabaseInstance", set_("spec.tls", {"mode": "strict"}), ("spec.tls.mode",)),
    Case(
        "instance-bad-postgres-sslmode",
        "DatabaseInstance",
        set_("spec.postgres", {"sslMode": "always"}),
        ("spec.postgres.sslMode",),
    ),
    Case(
        "instance-bad-connection-sslmode",
        "DatabaseInstance",
        set_("spec.connection.sslMode", "on"),
        ("spec.connection.sslMode",),
    ),
    Case(
        "instance-bad-drift-mode",
        "DatabaseInstance",
        set_("spec.driftPolicy", {"mode": "fix"}),
        ("spec.driftPolicy.mode",),
    ),
    Case(
        "instance-bad-mysql-tls",
        "ClusterDatabaseInstance",
        set_("spec.mysql", {"tls": "verify-full"}),
        ("spec.mysql.tls",),
    ),
    Case(
        "instance-http-port-zero",
        "DatabaseInstance",
        both(set_("spec.engine", "clickhouse"), set_("spec.clickhouse", {"httpPort": 0})),
        ("spec.clickhouse.httpPort",),
    ),
    Case(
        "cluster-instance-missing-connection", "ClusterDatabaseInstance", drop("spec.connection"), ("spec.connection",)
    ),
    Case(
        "instance-allowed-namespace-not-a-name",
        "DatabaseInstance",
        set_("spec.allowedNamespaces", ["team-a", "Team_B"]),
        ("spec.allowedNamespaces[1]",),
    ),
    Case(
        "cluster-instance-allowed-namespaces",
        "ClusterDatabaseInstance",
        set_("spec.allowedNamespaces", ["team-a"]),
        ("spec.allowedNamespaces", "only valid on a DatabaseInstance"),
    ),
    Case(
        "instance-engine-immutable",
        "DatabaseInstance",
        set_("spec.engine", "cockroachdb"),
        ("spec.engine", "engine is immutable"),
        update=True,
    ),
    Case(
        "cluster-instance-engine-immutable",
        "ClusterDatabaseInstance",
        set_("spec.engine", "mariadb"),
        ("spec.engine", "engine is immutable"),
        update=True,
    ),
    # --- Database
    Case("database-missing-spec", "Database", drop("spec"), ("spec",)),
    Case("database-missing-name", "Database", drop("spec.name"), ("spec.name",)),
    Case("database-name-starts-with-digit", "Database", set_("spec.name", "1app"), ("spec.name",)),
    Case("database-name-with-dash", "Database", set_("spec.name", "app-db"), ("spec.name",)),
    Case("database-name-too-long", "Database", set_("spec.name", "a" * 64), ("spec.name",)),
    Case(
        "database-both-instance-refs",
        "Database",
        set_("spec.clusterInstanceRef", {"name": "shared"}),
        ("spec.clusterInstanceRef", "mutually exclusive"),
    ),
    Case(
        "database-no-instance-ref",
        "Database",
        drop("spec.instanceRef"),
        ("spec.instanceRef", "either instanceRef or clusterInstanceRef"),
    ),
    Case("database-empty-instance-name", "Database", set_("spec.instanceRef.name", ""), ("spec.instanceRef.name",)),
    Case("database-bad-deletion-policy", "Database", set_("spec.deletionPolicy", "Purge"), ("spec.deletionPolicy",)),
    Case(
        "database-two-engine-blocks",
        "Database",
        both(set_("spec.postgres", {}), set_("spec.mysql", {})),
        ("spec", "at most one of postgres, mysql or clickhouse"),
    ),
    Case(
        "database-initsql-two-sources",
        "Database",
        set_("spec.initSQL", {"inline": ["SELECT 1"], "configMapRef": {"name": "sql", "key": "init.sql"}}),
        ("spec.initSQL", "exactly one of inline, configMapRef, or secretRef"),
    ),
    Case(
        "database-initsql-no-source",
        "Database",
        set_("spec.initSQL", {"failurePolicy": "Continue"}),
        ("spec.initSQL", "exactly one of inline, configMapRef, or secretRef"),
    ),
    Case(
        "database-initsql-too-many-statements",
        "Database",
        set_("spec.initSQL", {"inline": ["SELECT 1"] * 51}),
        ("spec.initSQL.inline",),
    ),
    Case(
        "database-initsql-bad-failure-policy",
        "Database",
        set_("spec.initSQL", {"inline": ["SELECT 1"], "failurePolicy": "Ignore"}),
        ("spec.initSQL.failurePolicy",),
    ),
    Case(
        "database-connection-limit-below-minus-one",
        "Database",
        set_("spec.postgres", {"connectionLimit": -2}),
        ("spec.postgres.connectionLimit",),
    ),
    Case("database-bad-owner", "Database", set_("spec.owner", "app owner"), ("spec.owner",)),
    Case("database-bad-charset", "Database", set_("spec.mysql", {"charset": "utf8-mb4"}), ("spec.mysql.charset",)),
    Case(
        "database-bad-ownership-role-name",
        "Database",
        set_("spec.postgres", {"ownership": {"autoOwnership": True, "roleName": "owner-role"}}),
        ("spec.postgres.ownership.roleName",),
    ),
    Case(
        "database-extension-without-name",
        "Database",
        set_("spec.postgres", {"extensions": [{"schema": "public"}]}),
        ("spec.postgres.extensions[0].name",),
    ),
    Case(
        "database-snapshot-storage-type-mismatch",
        "Database",
        set_("spec.snapshotStorage", {"type": "gcs", **{k: v for k, v in S3_STORAGE.items() if k != "type"}}),
        ("spec.snapshotStorage.type", "storage.type must name the one storage block"),
    ),
    Case("database-unknown-field", "Database", set_("spec.nmae", "typo"), ("spec.nmae",)),
    Case(
        "database-name-immutable",
        "Database",
        set_("spec.name", "other_db"),
        ("spec.name", "database name is immutable"),
        update=True,
    ),
    # --- DatabaseUser
    Case("user-missing-username", "DatabaseUser", drop("spec.username"), ("spec.username",)),
    Case("user-bad-username", "DatabaseUser", set_("spec.username", "app.user"), ("spec.username",)),
    Case(
        "user-both-instance-refs",
        "DatabaseUser",
        set_("spec.clusterInstanceRef", {"name": "shared"}),
        ("spec.clusterInstanceRef", "mutually exclusive"),
    ),
    Case(
        "user-existing-secret-with-generate",
        "DatabaseUser",
        both(
            set_("spec.passwordSecret", {"secretName": "creds"}),
            set_("spec.existingPasswordSecret", {"name": "pw", "key": "password"}),
        ),
        ("spec.passwordSecret.generate", "existingPasswordSecret requires passwordSecret.generate to be false"),
    ),
    Case(
        "user-generate-false-without-existing-secret",
        "DatabaseUser",
        set_("spec.passwordSecret", {"secretName": "creds", "generate": False}),
        ("spec.existingPasswordSecret", "passwordSecret.generate=false requires existingPasswordSecret"),
    ),
    Case(
        "user-password-too-short",
        "DatabaseUser",
        set_("spec.passwordSecret", {"secretName": "creds", "length": 7}),
        ("spec.passwordSecret.length",),
    ),
    Case(
        "user-password-too-long",
        "DatabaseUser",
        set_("spec.passwordSecret", {"secretName": "creds", "length": 129}),
        ("spec.passwordSecret.length",),
    ),
    Case(
        "user-password-secret-without-name",
        "DatabaseUser",
        set_("spec.passwordSecret", {"length": 16}),
        ("spec.passwordSecret.secretName",),
    ),
    Case(
        "user-bad-secret-format",
        "DatabaseUser",
        set_("spec.passwordSecret", {"secretName": "creds", "format": "aws"}),
        ("spec.passwordSecret.format",),
    ),
    Case(
        "user-existing-secret-without-key",
        "DatabaseUser",
        both(
            set_("spec.passwordSecret", {"secretName": "creds", "generate": False}),
            set_("spec.existingPasswordSecret", {"name": "pw"}),
        ),
        ("spec.existingPasswordSecret.key",),
    ),
    Case(
        "user-bad-auth-plugin",
        "DatabaseUser",
        set_("spec.mysql", {"authPlugin": "ed25519"}),
        ("spec.mysql.authPlugin",),
    ),
    Case(
        "user-negative-mysql-limit",
        "DatabaseUser",
        set_("spec.mysql", {"maxUserConnections": -1}),
        ("spec.mysql.maxUserConnections",),
    ),
    Case(
        "user-bad-rotation-strategy",
        "DatabaseUser",
        set_("spec.passwordRotation", {"enabled": True, "strategy": "blue-green"}),
        ("spec.passwordRotation.strategy",),
    ),
    Case(
        "user-bad-old-user-action",
        "DatabaseUser",
        set_("spec.passwordRotation", {"oldUserPolicy": {"action": "archive"}}),
        ("spec.passwordRotation.oldUserPolicy.action",),
    ),
    Case(
        "user-discard-old-password-zero",
        "DatabaseUser",
        set_("spec.passwordRotation", {"mysql": {"discardOldPasswordAfterDays": 0}}),
        ("spec.passwordRotation.mysql.discardOldPasswordAfterDays",),
    ),
    Case(
        "user-engine-blocks-clash",
        "DatabaseUser",
        both(set_("spec.postgres", {}), set_("spec.clickhouse", {})),
        ("spec", "at most one of postgres, mysql or clickhouse"),
    ),
    Case(
        "user-username-immutable",
        "DatabaseUser",
        set_("spec.username", "other_user"),
        ("spec.username", "username is immutable"),
        update=True,
    ),
    # --- DatabaseRole / ClusterDatabaseRole
    Case("role-missing-role-name", "DatabaseRole", drop("spec.roleName"), ("spec.roleName",)),
    Case("role-bad-role-name", "DatabaseRole", set_("spec.roleName", "app ro"), ("spec.roleName",)),
    Case(
        "role-no-instance-ref",
        "DatabaseRole",
        drop("spec.instanceRef"),
        ("spec.instanceRef", "either instanceRef or clusterInstanceRef"),
    ),
    Case(
        "role-lowercase-privilege",
        "DatabaseRole",
        set_("spec.postgres", {"grants": [{"database": "app", "privileges": ["select"]}]}),
        ("spec.postgres.grants[0].privileges[0]",),
    ),
    Case(
        "role-empty-privileges",
        "DatabaseRole",
        set_("spec.postgres", {"grants": [{"database": "app", "privileges": []}]}),
        ("spec.postgres.grants[0].privileges",),
    ),
    Case(
        "role-too-many-privileges",
        "DatabaseRole",
        set_("spec.postgres", {"grants": [{"database": "app", "privileges": ["SELECT"] * 21}]}),
        ("spec.postgres.grants[0].privileges",),
    ),
    Case(
        "role-grant-without-database",
        "DatabaseRole",
        set_("spec.postgres", {"grants": [{"privileges": ["SELECT"]}]}),
        ("spec.postgres.grants[0].database",),
    ),
    Case(
        "role-bad-mysql-grant-level",
        "DatabaseRole",
        set_("spec.mysql", {"grants": [{"level": "schema", "privileges": ["SELECT"]}]}),
        ("spec.mysql.grants[0].level",),
    ),
    Case(
        "role-role-name-immutable",
        "DatabaseRole",
        set_("spec.roleName", "app_rw"),
        ("spec.roleName", "roleName is immutable"),
        update=True,
    ),
    Case(
        "cluster-role-missing-instance-ref",
        "ClusterDatabaseRole",
        drop("spec.clusterInstanceRef"),
        ("spec.clusterInstanceRef",),
    ),
    Case(
        "cluster-role-postgres-and-mysql",
        "ClusterDatabaseRole",
        both(set_("spec.postgres", {}), set_("spec.mysql", {})),
        ("spec.mysql", "postgres and mysql settings are mutually exclusive"),
    ),
    Case(
        "cluster-role-role-name-immutable",
        "ClusterDatabaseRole",
        set_("spec.roleName", "reports"),
        ("spec.roleName", "roleName is immutable"),
        update=True,
    ),
    # --- DatabaseGrant / ClusterDatabaseGrant
    Case(
        "grant-user-and-role",
        "DatabaseGrant",
        set_("spec.roleRef", {"name": "app-ro"}),
        ("spec.roleRef", "userRef and roleRef are mutually exclusive"),
    ),
    Case(
        "grant-no-grantee",
        "DatabaseGrant",
        drop("spec.userRef"),
        ("spec.userRef", "either userRef or roleRef must be specified"),
    ),
    Case(
        "grant-bad-clickhouse-level",
        "DatabaseGrant",
        set_("spec.clickhouse", {"grants": [{"level": "column", "privileges": ["SELECT"]}]}),
        ("spec.clickhouse.grants[0].level",),
    ),
    Case(
        "grant-mysql-and-clickhouse",
        "DatabaseGrant",
        both(set_("spec.mysql", {}), set_("spec.clickhouse", {})),
        ("spec", "at most one of postgres, mysql or clickhouse"),
    ),
    Case(
        "grant-bad-default-privilege-object-type",
        "DatabaseGrant",
        set_(
            "spec.postgres",
            {
                "defaultPrivileges": [
                    {
                        "database": "app",
                        "schema": "public",
                        "grantedBy": "owner",
                        "objectType": "views",
                        "privileges": ["SELECT"],
                    }
                ]
            },
        ),
        ("spec.postgres.defaultPrivileges[0].objectType",),
    ),
    Case(
        "cluster-grant-no-grantee",
        "ClusterDatabaseGrant",
        drop("spec.userRef"),
        ("spec.userRef", "exactly one of userRef or roleRef"),
    ),
    Case(
        "cluster-grant-user-and-role",
        "ClusterDatabaseGrant",
        set_("spec.roleRef", {"name": "reporting"}),
        ("spec.userRef", "exactly one of userRef or roleRef"),
    ),
    Case(
        "cluster-grant-user-without-namespace",
        "ClusterDatabaseGrant",
        drop("spec.userRef.namespace"),
        ("spec.userRef.namespace",),
    ),
    Case(
        "cluster-grant-missing-instance",
        "ClusterDatabaseGrant",
        drop("spec.clusterInstanceRef"),
        ("spec.clusterInstanceRef",),
    ),
    Case(
        "cluster-grant-postgres-and-mysql",
        "ClusterDatabaseGrant",
        both(set_("spec.postgres", {"grants": [GRANT]}), set_("spec.mysql", {})),
        ("spec.mysql", "postgres and mysql settings are mutually exclusive"),
    ),
    # --- DatabaseBackup
    Case("backup-missing-database-ref", "DatabaseBackup", drop("spec.databaseRef"), ("spec.databaseRef",)),
    Case("backup-missing-storage", "DatabaseBackup", drop("spec.storage"), ("spec.storage",)),
    Case(
        "backup-storage-type-mismatch",
        "DatabaseBackup",
        set_("spec.storage.type", "gcs"),
        ("spec.storage.type", "storage.type must name the one storage block"),
    ),
    Case(
        "backup-storage-block-missing",
        "DatabaseBackup",
        set_("spec.storage", {"type": "azure"}),
        ("spec.storage.type", "storage.type must name the one storage block"),
    ),
    Case(
        "backup-storage-two-blocks",
        "DatabaseBackup",
        set_("spec.storage.pvc", {"claimName": "backups"}),
        ("spec.storage.type", "storage.type must name the one storage block"),
    ),
    Case("backup-unknown-storage-type", "DatabaseBackup", set_("spec.storage.type", "ftp"), ("spec.storage.type",)),
    Case("backup-s3-without-bucket", "DatabaseBackup", drop("spec.storage.s3.bucket"), ("spec.storage.s3.bucket",)),
    Case(
        "backup-encryption-without-key",
        "DatabaseBackup",
        set_("spec.encryption", {"enabled": True}),
        ("spec.encryption.secretRef", "encryption.secretRef is required when encryption is enabled"),
    ),
    Case(
        "backup-bad-encryption-algorithm",
        "DatabaseBackup",
        set_("spec.encryption", {"algorithm": "chacha20"}),
        ("spec.encryption.algorithm",),
    ),
    Case(
        "backup-compression-level-ten",
        "DatabaseBackup",
        set_("spec.compression", {"level": 10}),
        ("spec.compression.level",),
    ),
    Case(
        "backup-compression-level-zero",
        "DatabaseBackup",
        set_("spec.compression", {"level": 0}),
        ("spec.compression.level",),
    ),
    Case(
        "backup-bad-compression-algorithm",
        "DatabaseBackup",
        set_("spec.compression", {"algorithm": "brotli"}),
        ("spec.compression.algorithm",),
    ),
    Case(
        "backup-zero-deadline", "DatabaseBackup", set_("spec.activeDeadlineSeconds", 0), ("spec.activeDeadlineSeconds",)
    ),
    Case(
        "backup-too-many-retries",
        "DatabaseBackup",
        set_("spec.retryPolicy", {"maxRetries": 11}),
        ("spec.retryPolicy.maxRetries",),
    ),
    Case(
        "backup-bad-dump-format", "DatabaseBackup", set_("spec.postgres", {"format": "zip"}), ("spec.postgres.format",)
    ),
    Case(
        "backup-bad-gtid-purged",
        "DatabaseBackup",
        set_("spec.mysql", {"setGtidPurged": "MAYBE"}),
        ("spec.mysql.setGtidPurged",),
    ),
    Case(
        "backup-postgres-and-mysql",
        "DatabaseBackup",
        both(set_("spec.postgres", {}), set_("spec.mysql", {})),
        ("spec.mysql", "postgres and mysql settings are mutually exclusive"),
    ),
    # --- DatabaseBackupSchedule
    Case("schedule-missing-schedule", "DatabaseBackupSchedule", drop("spec.schedule"), ("spec.schedule",)),
    Case("schedule-empty-schedule", "DatabaseBackupSchedule", set_("spec.schedule", ""), ("spec.schedule",)),
    Case("schedule-missing-template", "DatabaseBackupSchedule", drop("spec.template"), ("spec.template",)),
    Case(
        "schedule-template-without-spec",
        "DatabaseBackupSchedule",
        drop("spec.template.spec"),
        ("spec.template.spec",),
    ),
    Case(
        "schedule-bad-concurrency-policy",
        "DatabaseBackupSchedule",
        set_("spec.concurrencyPolicy", "Queue"),
        ("spec.concurrencyPolicy",),
    ),
    Case(
        "schedule-template-storage-mismatch",
        "DatabaseBackupSchedule",
        set_("spec.template.spec.storage.type", "pvc"),
        ("spec.template.spec.storage.type", "storage.type must name the one storage block"),
    ),
    Case(
        "schedule-template-encryption-without-key",
        "DatabaseBackupSchedule",
        set_("spec.template.spec.encryption", {"enabled": True}),
        ("spec.template.spec.encryption.secretRef", "encryption.secretRef is required"),
    ),
    Case(
        "schedule-template-postgres-and-mysql",
        "DatabaseBackupSchedule",
        both(set_("spec.template.spec.postgres", {}), set_("spec.template.spec.mysql", {})),
        ("spec.template.spec.mysql", "postgres and mysql settings are mutually exclusive"),
    ),
    Case(
        "schedule-negative-keep-last",
        "DatabaseBackupSchedule",
        set_("spec.retention", {"keepLast": -1}),
        ("spec.retention.keepLast",),
    ),
    Case(
        "schedule-zero-starting-deadline",
        "DatabaseBackupSchedule",
        set_("spec.startingDeadlineSeconds", 0),
        ("spec.startingDeadlineSeconds",),
    ),
    Case(
        "schedule-negative-history-limit",
        "DatabaseBackupSchedule",
        set_("spec.failedBackupsHistoryLimit", -1),
        ("spec.failedBackupsHistoryLimit",),
    ),
    # --- DatabaseRestore
    Case(
        "restore-backup-ref-and-from-path",
        "DatabaseRestore",
        set_("spec.fromPath", {"storage": S3_STORAGE, "backupPath": "app/x.dump"}),
        ("spec.backupRef", "exactly one of backupRef or fromPath"),
    ),
    Case(
        "restore-no-source",
        "DatabaseRestore",
        drop("spec.backupRef"),
        ("spec.backupRef", "exactly one of backupRef or fromPath"),
    ),
    Case(
        "restore-in-place-without-acknowledgement",
        "DatabaseRestore",
        set_("spec.target.inPlace", True),
        ("spec.confirmation.acknowledgeDataLoss", "target.inPlace requires confirmation.acknowledgeDataLoss"),
    ),
    Case(
        "restore-in-place-wrong-acknowledgement",
        "DatabaseRestore",
        both(set_("spec.target.inPlace", True), set_("spec.confirmation", {"acknowledgeDataLoss": "yes"})),
        ("spec.confirmation.acknowledgeDataLoss", "I-UNDERSTAND-DATA-LOSS"),
    ),
    Case(
        "restore-target-both-instance-refs",
        "DatabaseRestore",
        set_("spec.target.clusterInstanceRef", {"name": "shared"}),
        ("spec.target.clusterInstanceRef", "mutually exclusive"),
    ),
    Case("restore-missing-target", "DatabaseRestore", drop("spec.target"), ("spec.target",)),
    Case(
        "restore-empty-backup-path",
        "DatabaseRestore",
        both(drop("spec.backupRef"), set_("spec.fromPath", {"storage": S3_STORAGE, "backupPath": ""})),
        ("spec.fromPath.backupPath",),
    ),
    Case(
        "restore-from-path-storage-mismatch",
        "DatabaseRestore",
        both(
            drop("spec.backupRef"),
            set_("spec.fromPath", {"storage": {**S3_STORAGE, "type": "azure"}, "backupPath": "x.dump"}),
        ),
        ("spec.fromPath.storage.type", "storage.type must name the one storage block"),
    ),
    Case(
        "restore-from-path-encryption-without-key",
        "DatabaseRestore",
        both(
            drop("spec.backupRef"),
            set_("spec.fromPath", {"storage": S3_STORAGE, "backupPath": "x", "encryption": {"enabled": True}}),
        ),
        ("spec.fromPath.encryption.secretRef", "encryption.secretRef is required"),
    ),
    Case("restore-zero-jobs", "DatabaseRestore", set_("spec.postgres", {"jobs": 0}), ("spec.postgres.jobs",)),
    Case(
        "restore-two-engine-blocks",
        "DatabaseRestore",
        both(set_("spec.mysql", {}), set_("spec.clickhouse", {})),
        ("spec", "at most one of postgres, mysql or clickhouse"),
    ),
)

#: Manifests that are valid and exercise the edges of the rules (must be accepted).
GOOD_CASES: tuple[Case, ...] = (
    Case(
        "instance-existing-secret-instead-of-secret-ref",
        "DatabaseInstance",
        both(drop("spec.connection.secretRef"), set_("spec.connection.existingSecret", {"name": "admin"})),
        (),
    ),
    Case(
        "instance-cockroachdb-with-postgres-block",
        "DatabaseInstance",
        both(set_("spec.engine", "cockroachdb"), set_("spec.postgres", {"sslMode": "require"})),
        (),
    ),
    Case(
        "user-existing-secret-with-generate-false",
        "DatabaseUser",
        both(
            set_("spec.passwordSecret", {"secretName": "creds", "generate": False}),
            set_("spec.existingPasswordSecret", {"name": "pw", "key": "password"}),
        ),
        (),
    ),
    Case(
        "user-existing-secret-without-password-secret",
        "DatabaseUser",
        set_("spec.existingPasswordSecret", {"name": "pw", "key": "password"}),
        (),
    ),
    Case(
        "restore-in-place-acknowledged",
        "DatabaseRestore",
        both(
            set_("spec.target", {"inPlace": True, "databaseRef": {"name": "app"}}),
            set_("spec.confirmation", {"acknowledgeDataLoss": "I-UNDERSTAND-DATA-LOSS"}),
        ),
        (),
    ),
    Case(
        "restore-from-path",
        "DatabaseRestore",
        both(drop("spec.backupRef"), set_("spec.fromPath", {"storage": S3_STORAGE, "backupPath": "app/x.dump"})),
        (),
    ),
    Case("backup-encryption-disabled-without-key", "DatabaseBackup", set_("spec.encryption", {"enabled": False}), ()),
    Case(
        "database-cluster-instance-ref",
        "Database",
        both(drop("spec.instanceRef"), set_("spec.clusterInstanceRef", {"name": "shared"})),
        (),
    ),
    Case("grant-role-ref", "DatabaseGrant", both(drop("spec.userRef"), set_("spec.roleRef", {"name": "ro"})), ()),
    Case(
        "cluster-grant-cluster-role-ref",
        "ClusterDatabaseGrant",
        both(drop("spec.userRef"), set_("spec.roleRef", {"name": "reporting"})),
        (),
    ),
    Case("database-mutable-owner-change", "Database", set_("spec.owner", "new_owner"), (), update=True),
)


# --------------------------------------------------------------------------------------------------------------
# Schema defaults (api.md sections 5 and 6), transcribed from the spec independently of the models.

ABSENT = object()


def get_path(obj: Any, path: str) -> Any:
    """Value at a dotted path (list indices as numbers), or ABSENT."""
    for part in path.split("."):
        key: str | int = int(part) if part.isdigit() else part
        try:
            obj = obj[key]
        except (KeyError, IndexError, TypeError):
            return ABSENT
    return obj


@dataclass(frozen=True)
class DefaultCase:
    """After creating ``base(kind)`` with ``mutation`` applied, each path holds the value (or is ABSENT)."""

    id: str
    kind: str
    mutation: Mutation
    expected: dict[str, Any]

    def manifest(self) -> Manifest:
        manifest = base(self.kind)
        self.mutation(manifest)
        return manifest


DEFAULT_CASES: tuple[DefaultCase, ...] = (
    DefaultCase(
        "instance-blocks-absent",
        "DatabaseInstance",
        lambda m: None,
        {
            "spec.deletionProtection": True,
            # Blocks that are absent stay absent: their runtime defaults differ from the schema defaults.
            "spec.healthCheck": ABSENT,
            "spec.tls": ABSENT,
            "spec.postgres": ABSENT,
            "spec.resourceTracking": ABSENT,
            "spec.connection.secretRef.keys": ABSENT,
            "spec.connection.database": ABSENT,
        },
    ),
    DefaultCase(
        "instance-postgres-blocks-present",
        "DatabaseInstance",
        both(
            set_("spec.connection.secretRef.keys", {}),
            set_("spec.tls", {"secretRef": {"name": "tls", "keys": {}}}),
            set_("spec.healthCheck", {}),
            set_("spec.driftPolicy", {}),
            set_("spec.discovery", {}),
            set_("spec.postgres", {}),
            set_("spec.resourceTracking", {"mysql": {}}),
        ),
        {
            "spec.connection.secretRef.keys.username": "username",
            "spec.connection.secretRef.keys.password": "password",
            "spec.tls.enabled": False,
            "spec.tls.mode": "disable",
            "spec.tls.secretRef.keys.ca": "ca.crt",
            "spec.tls.secretRef.keys.cert": ABSENT,
            "spec.tls.secretRef.keys.key": ABSENT,
            "spec.healthCheck.enabled": True,
            "spec.healthCheck.intervalSeconds": 30,
            "spec.healthCheck.timeoutSeconds": 5,
            "spec.driftPolicy.mode": "detect",
            "spec.driftPolicy.interval": "8h",
            "spec.discovery.enabled": False,
            "spec.discovery.interval": "30m",
            "spec.postgres.sslMode": "prefer",
            "spec.postgres.connectTimeout": 10,
            "spec.postgres.applicationName": "db-provision-operator",
            "spec.postgres.statementTimeout": ABSENT,
            "spec.resourceTracking.enabled": True,
            "spec.resourceTracking.commentFormat": "managed-by:{{.Operator}},cr:{{.Namespace}}/{{.Name}}",
            "spec.resourceTracking.mysql.useUserAttributes": True,
            "spec.resourceTracking.mysql.metadataTableName": "_dbops_metadata",
            "spec.resourceTracking.mysql.metadataDatabase": ABSENT,
        },
    ),
    DefaultCase(
        "cluster-instance-mysql-block",
        "ClusterDatabaseInstance",
        set_("spec.mysql", {}),
        {
            "spec.deletionProtection": True,
            "spec.mysql.charset": "utf8mb4",
            "spec.mysql.collation": "utf8mb4_unicode_ci",
            "spec.mysql.parseTime": True,
            "spec.mysql.timeout": "10s",
            "spec.mysql.readTimeout": "30s",
            "spec.mysql.writeTimeout": "30s",
            "spec.mysql.tls": "preferred",
        },
    ),
    DefaultCase(
        "instance-clickhouse-block",
        "DatabaseInstance",
        both(set_("spec.engine", "clickhouse"), set_("spec.clickhouse", {})),
        {"spec.clickhouse.secure": False, "spec.clickhouse.httpPort": ABSENT},
    ),
    DefaultCase(
        "database-postgres",
        "Database",
        both(
            set_("spec.postgres", {"extensions": [{"name": "pgcrypto"}], "ownership": {}}),
            set_("spec.initSQL", {"inline": ["SELECT 1"]}),
        ),
        {
            "spec.deletionPolicy": "Delete",
            "spec.deletionProtection": True,
            "spec.postgres.encoding": "UTF8",
            "spec.postgres.lcCollate": ABSENT,
            "spec.postgres.tablespace": "pg_default",
            "spec.postgres.template": "template0",
            "spec.postgres.connectionLimit": -1,
            "spec.postgres.isTemplate": False,
            "spec.postgres.allowConnections": True,
            "spec.postgres.extensions.0.schema": "public",
            "spec.postgres.ownership.autoOwnership": False,
            "spec.postgres.ownership.dropOnDelete": False,
            "spec.postgres.ownership.setDefaultPrivileges": True,
            "spec.postgres.ownership.roleName": ABSENT,
            "spec.initSQL.failurePolicy": "Block",
        },
    ),
    DefaultCase(
        "database-mysql",
        "Database",
        set_("spec.mysql", {}),
        {
            "spec.mysql.charset": "utf8mb4",
            "spec.mysql.collation": "utf8mb4_unicode_ci",
            "spec.mysql.defaultStorageEngine": "InnoDB",
            "spec.mysql.sqlMode": ABSENT,
        },
    ),
    DefaultCase("database-clickhouse", "Database", set_("spec.clickhouse", {}), {"spec.clickhouse.engine": "Atomic"}),
    DefaultCase(
        "user-postgres",
        "DatabaseUser",
        both(
            set_("spec.passwordSecret", {"secretName": "creds", "secretTemplate": {}}),
            set_("spec.passwordRotation", {"serviceRole": {}, "oldUserPolicy": {}, "mysql": {}}),
            set_("spec.postgres", {}),
        ),
        {
            "spec.passwordSecret.generate": True,
            "spec.passwordSecret.length": 32,
            "spec.passwordSecret.includeSpecialChars": True,
            "spec.passwordSecret.format": "kubernetes",
            "spec.passwordSecret.secretNamespace": ABSENT,
            "spec.passwordSecret.secretTemplate.type": "Opaque",
            "spec.passwordRotation.enabled": False,
            "spec.passwordRotation.strategy": "role-inheritance",
            "spec.passwordRotation.userNaming": "{{.Username}}_{{.Date}}",
            "spec.passwordRotation.serviceRole.autoCreate": True,
            "spec.passwordRotation.serviceRole.name": ABSENT,
            "spec.passwordRotation.oldUserPolicy.action": "delete",
            "spec.passwordRotation.oldUserPolicy.gracePeriodDays": 7,
            "spec.passwordRotation.oldUserPolicy.ownershipCheck": True,
            "spec.passwordRotation.mysql.discardOldPasswordAfterDays": 7,
            "spec.postgres.connectionLimit": -1,
            "spec.postgres.superuser": False,
            "spec.postgres.createDB": False,
            "spec.postgres.createRole": False,
            "spec.postgres.replication": False,
            "spec.postgres.bypassRLS": False,
            "spec.postgres.inherit": True,
            "spec.postgres.login": True,
        },
    ),
    DefaultCase(
        "user-mysql",
        "DatabaseUser",
        set_("spec.mysql", {}),
        {
            "spec.passwordSecret": ABSENT,
            "spec.mysql.maxQueriesPerHour": 0,
            "spec.mysql.maxUpdatesPerHour": 0,
            "spec.mysql.maxConnectionsPerHour": 0,
            "spec.mysql.maxUserConnections": 0,
            "spec.mysql.authPlugin": "caching_sha2_password",
            "spec.mysql.requireSSL": False,
            "spec.mysql.requireX509": False,
            "spec.mysql.allowedHosts": ["%"],
            "spec.mysql.accountLocked": False,
            "spec.mysql.failedLoginAttempts": 0,
            "spec.mysql.passwordLockTime": 0,
        },
    ),
    DefaultCase(
        "role-postgres",
        "DatabaseRole",
        set_("spec.postgres", {"grants": [GRANT]}),
        {
            "spec.postgres.login": False,
            "spec.postgres.inherit": True,
            "spec.postgres.createDB": False,
            "spec.postgres.createRole": False,
            "spec.postgres.superuser": False,
            "spec.postgres.replication": False,
            "spec.postgres.bypassRLS": False,
            "spec.postgres.grants.0.withGrantOption": False,
            "spec.postgres.grants.0.schema": ABSENT,
        },
    ),
    DefaultCase(
        "cluster-role-mysql",
        "ClusterDatabaseRole",
        set_("spec.mysql", {"grants": [{"level": "global", "privileges": ["SELECT"]}]}),
        {"spec.mysql.useNativeRoles": True, "spec.mysql.grants.0.withGrantOption": ABSENT},
    ),
    DefaultCase("grant", "DatabaseGrant", lambda m: None, {"spec.deletionProtection": True}),
    DefaultCase("cluster-grant", "ClusterDatabaseGrant", lambda m: None, {"spec.deletionProtection": True}),
    DefaultCase(
        "backup-postgres",
        "DatabaseBackup",
        both(
            set_("spec.storage.s3.secretRef.keys", {}),
            set_("spec.compression", {}),
            set_("spec.encryption", {}),
            set_("spec.retryPolicy", {}),
            set_("spec.postgres", {}),
        ),
        {
            "spec.activeDeadlineSeconds": 3600,
            "spec.ttl": ABSENT,
            "spec.storage.s3.forcePathStyle": False,
            "spec.storage.s3.secretRef.keys.accessKey": "AWS_ACCESS_KEY_ID",
            "spec.storage.s3.secretRef.keys.secretKey": "AWS_SECRET_ACCESS_KEY",
            "spec.compression.enabled": True,
            "spec.compression.algorithm": "gzip",
            "spec.compression.level": 6,
            "spec.encryption.enabled": False,
            "spec.encryption.algorithm": "aes-256-gcm",
            "spec.retryPolicy.maxRetries": 0,
            "spec.retryPolicy.backoffSeconds": 60,
            "spec.retryPolicy.backoffMultiplier": 2,
            "spec.retryPolicy.maxBackoffSeconds": 3600,
            "spec.postgres.method": "pg_dump",
            "spec.postgres.format": "custom",
            "spec.postgres.jobs": 1,
            "spec.postgres.dataOnly": False,
            "spec.postgres.schemaOnly": False,
            "spec.postgres.noOwner": False,
            "spec.postgres.noPrivileges": False,
            "spec.postgres.noSync": False,
            "spec.postgres.blobs": True,
            "spec.postgres.lockWaitTimeout": "60s",
        },
    ),
    DefaultCase(
        "backup-mysql-without-blocks",
        "DatabaseBackup",
        set_("spec.mysql", {}),
        {
            "spec.compression": ABSENT,
            "spec.encryption": ABSENT,
            "spec.retryPolicy": ABSENT,
            "spec.mysql.method": "mysqldump",
            "spec.mysql.singleTransaction": True,
            "spec.mysql.quick": True,
            "spec.mysql.routines": True,
            "spec.mysql.triggers": True,
            "spec.mysql.events": True,
            "spec.mysql.extendedInsert": True,
            "spec.mysql.lockTables": False,
            "spec.mysql.setGtidPurged": "AUTO",
        },
    ),
    DefaultCase(
        "schedule",
        "DatabaseBackupSchedule",
        set_("spec.retention", {}),
        {
            "spec.timezone": "UTC",
            "spec.paused": False,
            "spec.concurrencyPolicy": "Forbid",
            "spec.startingDeadlineSeconds": ABSENT,
            "spec.successfulBackupsHistoryLimit": 5,
            "spec.failedBackupsHistoryLimit": 3,
            "spec.deletionProtection": True,
            "spec.retention.keepLast": ABSENT,
            "spec.template.spec.activeDeadlineSeconds": 3600,
        },
    ),
    DefaultCase(
        "restore-postgres",
        "DatabaseRestore",
        set_("spec.postgres", {}),
        {
            "spec.activeDeadlineSeconds": 7200,
            "spec.target.inPlace": False,
            "spec.postgres.dropExisting": False,
            "spec.postgres.createDatabase": True,
            "spec.postgres.dataOnly": False,
            "spec.postgres.schemaOnly": False,
            "spec.postgres.noOwner": True,
            "spec.postgres.noPrivileges": False,
            "spec.postgres.disableTriggers": False,
            "spec.postgres.jobs": 1,
            "spec.postgres.analyze": True,
        },
    ),
    DefaultCase(
        "restore-mysql",
        "DatabaseRestore",
        set_("spec.mysql", {}),
        {
            "spec.mysql.dropExisting": False,
            "spec.mysql.createDatabase": True,
            "spec.mysql.routines": True,
            "spec.mysql.triggers": True,
            "spec.mysql.events": True,
            "spec.mysql.disableForeignKeyChecks": True,
            "spec.mysql.disableBinlog": True,
        },
    ),
    DefaultCase(
        "restore-clickhouse",
        "DatabaseRestore",
        set_("spec.clickhouse", {}),
        {"spec.clickhouse.dropExisting": False, "spec.clickhouse.createDatabase": True},
    ),
)
