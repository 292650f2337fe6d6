"""DatabaseRestore (api.md 6.11): loading a backup into a database, once."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from dbops.api.common import (
    AT_MOST_ONE_ENGINE_BLOCK,
    BackupReference,
    ClusterInstanceReference,
    DatabaseReference,
    InstanceReference,
    MessageStatus,
)
from dbops.api.meta import DATA_LOSS_ACK, ApiModel, CelRule, Int32, Int64, Resource
from dbops.api.storage import CompressionConfig, EncryptionConfig, StorageConfig

RestorePhase = Literal["Pending", "Running", "Completed", "Failed"]
RestoreProgressPhase = Literal["Starting", "Downloading", "Restoring", "Analyzing", "Completed"]


class RestoreFromPath(ApiModel):
    """A stored backup object addressed directly rather than through a DatabaseBackup."""

    storage: StorageConfig = Field(description="Where the object is.")
    backup_path: str = Field(
        min_length=1, description="Key of the object: the full key, or a key relative to the configured prefix."
    )
    compression: CompressionConfig | None = Field(
        None, description="Compression used when the object was written (when it has no metadata file)."
    )
    encryption: EncryptionConfig | None = Field(
        None, description="Encryption used when the object was written; its secretRef supplies the key."
    )


class RestoreTarget(ApiModel):
    """Where the backup is restored to."""

    cel_rules = (
        CelRule(
            rule="!(has(self.instanceRef) && has(self.clusterInstanceRef))",
            message="instanceRef and clusterInstanceRef are mutually exclusive",
            check=lambda s: not (s.instance_ref is not None and s.cluster_instance_ref is not None),
            field_path=".clusterInstanceRef",
        ),
    )

    instance_ref: InstanceReference | None = Field(None, description="Target DatabaseInstance.")
    cluster_instance_ref: ClusterInstanceReference | None = Field(None, description="Target ClusterDatabaseInstance.")
    database_name: str | None = Field(
        None, description="Target database; defaults to the source database name of the backup."
    )
    in_place: bool = Field(
        False, description="Replace the target database's contents; requires confirmation.acknowledgeDataLoss."
    )
    database_ref: DatabaseReference | None = Field(None, description="Target Database object for an in-place restore.")


class RestoreConfirmation(ApiModel):
    """Safety confirmations for destructive restores."""

    acknowledge_data_loss: str | None = Field(
        None,
        description=(
            f"Must be {DATA_LOSS_ACK} for an in-place restore, and whenever the target database already holds "
            "user objects."
        ),
    )


class PostgresRestoreConfig(ApiModel):
    """PostgreSQL (and, for dropExisting, CockroachDB) restore options."""

    drop_existing: bool = Field(False, description="Terminate sessions and drop the target first (forced by inPlace).")
    create_database: bool = Field(True, description="Create the target if missing.")
    data_only: bool = Field(False, description="Restore only the data.")
    schema_only: bool = Field(False, description="Restore only the schema.")
    no_owner: bool = Field(True, description="Do not restore ownership.")
    no_privileges: bool = Field(False, description="Do not restore privileges.")
    disable_triggers: bool = Field(False, description="Disable triggers while loading data.")
    role_mapping: dict[str, str] | None = Field(
        None, description="Ownership held by each source role is reassigned to the mapped role."
    )
    schemas: list[str] | None = Field(None, description="Restore only these schemas.")
    tables: list[str] | None = Field(None, description="Restore only these tables.")
    jobs: Int32 = Field(1, ge=1, description="Parallel restore jobs.")
    analyze: bool = Field(True, description="Refresh planner statistics afterwards.")


class MySQLRestoreConfig(ApiModel):
    """MySQL and MariaDB restore options."""

    drop_existing: bool = Field(False, description="Drop the target first (forced by inPlace).")
    create_database: bool = Field(True, description="Create the target if missing.")
    routines: bool = Field(True, description="false is reported; everything in the dump is restored.")
    triggers: bool = Field(True, description="false is reported; everything in the dump is restored.")
    events: bool = Field(True, description="false is reported; everything in the dump is restored.")
    disable_foreign_key_checks: bool = Field(True, description="Foreign-key checks off for the restoring session.")
    disable_binlog: bool = Field(True, description="Binary logging off for the restoring session.")


class ClickHouseRestoreConfig(ApiModel):
    """ClickHouse restore options."""

    drop_existing: bool = Field(False, description="Drop the target first (forced by inPlace).")
    create_database: bool = Field(True, description="Create the target if missing.")


class DatabaseRestoreSpec(ApiModel):
    """Desired state of a DatabaseRestore."""

    cel_rules = (
        CelRule(
            rule="has(self.backupRef) != has(self.fromPath)",
            message="exactly one of backupRef or fromPath must be specified",
            check=lambda s: (s.backup_ref is not None) != (s.from_path is not None),
            field_path=".backupRef",
        ),
        CelRule(
            rule=(
                "!(has(self.target.inPlace) && self.target.inPlace) || (has(self.confirmation) && "
                "has(self.confirmation.acknowledgeDataLoss) && "
                f"self.confirmation.acknowledgeDataLoss == '{DATA_LOSS_ACK}')"
            ),
            message=f"target.inPlace requires confirmation.acknowledgeDataLoss to be {DATA_LOSS_ACK}",
            check=lambda s: (
                not s.target.in_place
                or (s.confirmation is not None and s.confirmation.acknowledge_data_loss == DATA_LOSS_ACK)
            ),
            field_path=".confirmation.acknowledgeDataLoss",
        ),
        AT_MOST_ONE_ENGINE_BLOCK,
    )

    backup_ref: BackupReference | None = Field(
        None, description="The DatabaseBackup to restore; exactly one of backupRef and fromPath."
    )
    from_path: RestoreFromPath | None = Field(
        None, description="A stored object to restore; exactly one of backupRef and fromPath."
    )
    target: RestoreTarget = Field(description="Where to restore to.")
    confirmation: RestoreConfirmation | None = Field(None, description="Safety confirmations.")
    active_deadline_seconds: Int64 = Field(
        7200, ge=1, description="Limit in seconds from startedAt; a running restore is cancelled when exceeded."
    )
    postgres: PostgresRestoreConfig | None = Field(None, description="PostgreSQL options.")
    mysql: MySQLRestoreConfig | None = Field(None, description="MySQL and MariaDB options.")
    clickhouse: ClickHouseRestoreConfig | None = Field(None, description="ClickHouse options.")


class RestoreInfo(ApiModel):
    """What is restored where."""

    source_backup: str | None = Field(None, description="Source backup (name, or the path for fromPath).")
    target_instance: str | None = Field(None, description="Target instance.")
    target_database: str | None = Field(None, description="Target database.")
    resolved_path: str | None = Field(None, description="Key actually read.")


class RestoreProgress(ApiModel):
    """Progress of a running restore."""

    percentage: Int32 | None = Field(None, ge=0, le=100, description="0-100, capped at 99 until completion.")
    current_phase: RestoreProgressPhase | None = Field(
        None, description="Starting, Downloading, Restoring, Analyzing or Completed."
    )
    tables_restored: Int32 | None = Field(None, description="Tables restored so far.")
    tables_total: Int32 | None = Field(None, description="Tables in the backup when known, else 0.")
    bytes_processed: Int64 | None = Field(None, description="Bytes read so far.")


class DatabaseRestoreStatus(MessageStatus):
    """Observed state of a DatabaseRestore."""

    phase: RestorePhase | None = Field(None, description="Pending, Running, Completed or Failed.")
    started_at: datetime | None = Field(None, description="Start of the restore.")
    completed_at: datetime | None = Field(None, description="End of the restore.")
    runner: str | None = Field(None, description="Identity of the operator leader that runs (or ran) the restore.")
    restore: RestoreInfo | None = Field(None, description="What is restored where.")
    progress: RestoreProgress | None = Field(None, description="Progress while Running.")
    warnings: list[Annotated[str, Field(max_length=512)]] | None = Field(
        None, max_length=50, description="Warnings (at most 50 entries of at most 512 characters)."
    )


class DatabaseRestore(Resource[DatabaseRestoreSpec, DatabaseRestoreStatus]):
    """A one-off restore of a backup into a database."""

    kind: Literal["DatabaseRestore"] = "DatabaseRestore"
