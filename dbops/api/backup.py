"""DatabaseBackup (api.md 6.9): one logical backup of a Database into object storage or a PVC."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from dbops.api.common import POSTGRES_MYSQL_EXCLUSIVE, DatabaseReference, MessageStatus
from dbops.api.meta import ApiModel, Int32, Int64, Resource
from dbops.api.storage import CompressionConfig, EncryptionConfig, StorageConfig

BackupPhase = Literal["Pending", "Running", "Completed", "Failed", "Deleting"]
PostgresBackupMethod = Literal["pg_dump", "pg_basebackup"]
PostgresDumpFormat = Literal["plain", "custom", "directory", "tar"]
MySQLBackupMethod = Literal["mysqldump", "xtrabackup", "mysqlpump"]
GtidPurged = Literal["OFF", "ON", "AUTO"]
BackupProgressPhase = Literal["Starting", "Dumping", "Completed"]


class RetryPolicy(ApiModel):
    """Retries of failed attempts. Block absent: a failed attempt is final."""

    max_retries: Int32 = Field(0, ge=0, le=10, description="Further attempts after a failed one; 0 = no retry.")
    backoff_seconds: Int32 = Field(60, ge=1, description="Delay before the first retry, in seconds.")
    backoff_multiplier: Int32 = Field(2, ge=1, description="Factor applied to the delay for each further retry.")
    max_backoff_seconds: Int32 = Field(3600, ge=1, description="Upper bound of the delay, in seconds.")

    def delay_seconds(self, attempt: int) -> int:
        """Delay before the retry that follows failed attempt number ``attempt`` (1-based), api.md 6.9."""
        return int(min(self.backoff_seconds * self.backoff_multiplier ** max(attempt - 1, 0), self.max_backoff_seconds))


class PostgresBackupConfig(ApiModel):
    """PostgreSQL and CockroachDB dump options."""

    method: PostgresBackupMethod = Field(
        "pg_dump", description="pg_dump; pg_basebackup is reported and a logical dump is taken."
    )
    format: PostgresDumpFormat = Field("custom", description="Dump format (directory output is archived).")
    jobs: Int32 = Field(1, ge=1, description="Parallel dump jobs (directory format only).")
    data_only: bool = Field(False, description="Dump only the data.")
    schema_only: bool = Field(False, description="Dump only the schema.")
    no_owner: bool = Field(False, description="Do not dump ownership.")
    no_privileges: bool = Field(False, description="Do not dump privileges.")
    no_sync: bool = Field(False, description="Do not wait for the dump to be written safely to disk.")
    blobs: bool = Field(True, description="Include large objects.")
    schemas: list[str] | None = Field(None, description="Schemas to include.")
    exclude_schemas: list[str] | None = Field(None, description="Schemas to exclude.")
    tables: list[str] | None = Field(None, description="Tables to include.")
    exclude_tables: list[str] | None = Field(None, description="Tables to exclude.")
    lock_wait_timeout: str = Field("60s", description="Give up if a table lock is not obtained in time.")


class MySQLBackupConfig(ApiModel):
    """MySQL and MariaDB dump options."""

    method: MySQLBackupMethod = Field(
        "mysqldump", description="mysqldump; xtrabackup and mysqlpump are reported and a logical dump is taken."
    )
    single_transaction: bool = Field(True, description="Consistent snapshot in one transaction.")
    quick: bool = Field(True, description="Stream rows instead of buffering tables.")
    routines: bool = Field(True, description="Include stored procedures and functions.")
    triggers: bool = Field(True, description="Include triggers.")
    events: bool = Field(True, description="Include events.")
    extended_insert: bool = Field(True, description="Multi-row INSERT statements.")
    lock_tables: bool = Field(False, description="Lock tables during the dump.")
    set_gtid_purged: GtidPurged = Field("AUTO", description="GTID handling (MySQL only).")
    databases: list[str] | None = Field(
        None, description="Accepted for compatibility; the backup always covers exactly the referenced database."
    )
    tables: list[str] | None = Field(None, description="Tables to include.")
    exclude_tables: list[str] | None = Field(None, description="Tables to exclude.")


class DatabaseBackupSpec(ApiModel):
    """Desired state of a DatabaseBackup (also the template of a DatabaseBackupSchedule)."""

    cel_rules = (POSTGRES_MYSQL_EXCLUSIVE,)

    database_ref: DatabaseReference = Field(description="Database to back up (on either instance kind).")
    storage: StorageConfig = Field(description="Where the backup is stored.")
    compression: CompressionConfig | None = Field(None, description="Compression; when absent, none.")
    encryption: EncryptionConfig | None = Field(None, description="Encryption; when absent, none.")
    ttl: str | None = Field(
        None, description="Time after completion at which the backup is deleted, as a duration such as 168h."
    )
    active_deadline_seconds: Int64 = Field(3600, ge=1, description="Limit in seconds for one attempt.")
    retry_policy: RetryPolicy | None = Field(None, description="Retries of failed attempts; when absent, none.")
    postgres: PostgresBackupConfig | None = Field(None, description="PostgreSQL and CockroachDB options.")
    mysql: MySQLBackupConfig | None = Field(None, description="MySQL and MariaDB options.")


class BackupSource(ApiModel):
    """What was backed up."""

    instance: str | None = Field(None, description="Instance name.")
    database: str | None = Field(None, description="Database name on the server.")
    engine: str | None = Field(None, description="Engine of the instance.")
    version: str | None = Field(None, description="Server version.")
    timestamp: datetime | None = Field(None, description="Consistency point of the dump.")


class BackupInfo(ApiModel):
    """The stored backup object."""

    path: str | None = Field(None, description="Full key from the bucket, container or volume root.")
    size_bytes: Int64 | None = Field(None, description="Dump size before compression and encryption.")
    compressed_size_bytes: Int64 | None = Field(None, description="Bytes stored, after compression and encryption.")
    checksum: str | None = Field(None, description="sha256:<64 hex> of the stored bytes.")
    format: str | None = Field(
        None, description="plain, custom, tar, directory, mysqldump, cockroachdb-native or clickhouse-dump-v1."
    )
    compression: str | None = Field(None, description="Algorithm applied: none, gzip, lz4, zstd or native.")
    encryption: str | None = Field(None, description="none, aes-256-gcm or aes-256-cbc.")
    table_count: Int32 | None = Field(None, description="Tables in the dump's scope when known, else 0.")
    metadata_path: str | None = Field(None, description="Key of the metadata file.")


class BackupProgress(ApiModel):
    """Progress of a running backup."""

    bytes_processed: Int64 | None = Field(None, description="Bytes dumped so far.")
    estimated_total_bytes: Int64 | None = Field(None, description="Estimated total; 0 when unknown.")
    percentage: Int32 | None = Field(None, ge=0, le=100, description="0-100, capped at 99 until completion.")
    current_phase: BackupProgressPhase | None = Field(None, description="Starting, Dumping or Completed.")


class DatabaseBackupStatus(MessageStatus):
    """Observed state of a DatabaseBackup."""

    phase: BackupPhase | None = Field(None, description="Pending, Running, Completed, Failed or Deleting.")
    started_at: datetime | None = Field(None, description="Start of the current (or last) attempt.")
    completed_at: datetime | None = Field(None, description="Completion time.")
    attempts: Int32 | None = Field(None, description="Attempts started so far.")
    runner: str | None = Field(None, description="Identity of the operator leader that runs (or ran) the attempt.")
    last_attempt_error: str | None = Field(
        None, max_length=1024, description="Sanitised error of the last failed attempt."
    )
    source: BackupSource | None = Field(None, description="What was backed up.")
    backup: BackupInfo | None = Field(None, description="The stored object.")
    backup_size: str | None = Field(None, description="Stored size in binary units, e.g. 1.2 GiB.")
    progress: BackupProgress | None = Field(None, description="Progress while Running.")
    expires_at: datetime | None = Field(None, description="Completion plus ttl.")
    next_attempt_at: datetime | None = Field(
        None, description="Addition: when the next attempt starts after a failed one (retryPolicy)."
    )


class DatabaseBackup(Resource[DatabaseBackupSpec, DatabaseBackupStatus]):
    """A backup of one Database."""

    kind: Literal["DatabaseBackup"] = "DatabaseBackup"
