"""DatabaseBackupSchedule (api.md 6.10): DatabaseBackups created from a template on a cron schedule, with
retention."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from dbops.api.backup import BackupPhase, DatabaseBackupSpec
from dbops.api.common import StatusBase
from dbops.api.meta import ApiModel, Int32, Int64, Resource

SchedulePhase = Literal["Active", "Paused", "Failed"]
ConcurrencyPolicy = Literal["Allow", "Forbid", "Replace"]


class RetentionPolicy(ApiModel):
    """Which completed backups of the schedule are kept (api.md 5.12). Block absent: nothing is deleted."""

    keep_last: Int32 | None = Field(None, ge=0, description="Keep the N newest completed backups.")
    keep_hourly: Int32 | None = Field(None, ge=0, description="Keep the newest backup in each of the N latest hours.")
    keep_daily: Int32 | None = Field(None, ge=0, description="Keep the newest backup in each of the N latest days.")
    keep_weekly: Int32 | None = Field(
        None, ge=0, description="Keep the newest backup in each of the N latest ISO weeks."
    )
    keep_monthly: Int32 | None = Field(None, ge=0, description="Keep the newest backup in each of the N latest months.")
    keep_yearly: Int32 | None = Field(None, ge=0, description="Keep the newest backup in each of the N latest years.")
    min_age: str | None = Field(None, description="Never delete a backup younger than this duration.")


class BackupTemplateMetadata(ApiModel):
    """Labels and annotations copied onto created backups."""

    labels: dict[str, str] | None = Field(None, description="Labels copied onto created backups.")
    annotations: dict[str, str] | None = Field(None, description="Annotations copied onto created backups.")


class BackupTemplate(ApiModel):
    """Template of the DatabaseBackups the schedule creates."""

    metadata: BackupTemplateMetadata | None = Field(None, description="Labels and annotations of created backups.")
    spec: DatabaseBackupSpec = Field(description="Spec of created backups.")


class DatabaseBackupScheduleSpec(ApiModel):
    """Desired state of a DatabaseBackupSchedule."""

    schedule: str = Field(min_length=1, description="Cron expression (five fields) of the backup slots.")
    timezone: str = Field("UTC", description="IANA time zone of the cron expression and of retention buckets.")
    paused: bool = Field(False, description="Suspend the schedule.")
    concurrency_policy: ConcurrencyPolicy = Field(
        "Forbid", description="When a slot comes while a backup of this schedule runs: Allow, Forbid or Replace."
    )
    starting_deadline_seconds: Int64 | None = Field(
        None, ge=1, description="A due slot older than this many seconds is dropped instead of fired."
    )
    template: BackupTemplate = Field(description="Template of created backups.")
    retention: RetentionPolicy | None = Field(None, description="Which completed backups are kept.")
    successful_backups_history_limit: Int32 = Field(
        5, ge=0, description="Completed entries kept in status.recentBackups."
    )
    failed_backups_history_limit: Int32 = Field(3, ge=0, description="Failed entries kept in status.recentBackups.")
    deletion_protection: bool = Field(True, description="Block deletion of this object until set to false.")


class LastBackup(ApiModel):
    """The newest backup of the schedule."""

    name: str | None = Field(None, description="Backup name.")
    status: BackupPhase | None = Field(None, description="The backup's phase.")
    started_at: datetime | None = Field(None, description="Start of the backup.")
    completed_at: datetime | None = Field(None, description="Completion of the backup.")


class ScheduleStatistics(ApiModel):
    """Statistics over the schedule's existing backups."""

    total_backups: Int64 | None = Field(None, description="successfulBackups + failedBackups.")
    successful_backups: Int64 | None = Field(None, description="Completed backups.")
    failed_backups: Int64 | None = Field(None, description="Failed backups.")
    average_duration_seconds: Int64 | None = Field(None, description="Average duration of completed backups.")
    average_size_bytes: Int64 | None = Field(None, description="Average stored size of completed backups.")
    total_storage_bytes: Int64 | None = Field(None, description="Total stored size.")


class RecentBackup(ApiModel):
    """One entry of the recent-backups history."""

    name: str | None = Field(None, description="Backup name.")
    status: BackupPhase | None = Field(None, description="The backup's phase.")


class DatabaseBackupScheduleStatus(StatusBase):
    """Observed state of a DatabaseBackupSchedule."""

    phase: SchedulePhase | None = Field(None, description="Active, Paused or Failed.")
    last_backup: LastBackup | None = Field(None, description="Newest backup of this schedule.")
    last_schedule_time: datetime | None = Field(None, description="Last slot the schedule acted on.")
    next_backup_time: datetime | None = Field(None, description="Next slot; cleared while paused or failed.")
    statistics: ScheduleStatistics | None = Field(None, description="Counts and sizes of existing backups.")
    recent_backups: list[RecentBackup] | None = Field(None, description="Recent backups, newest first.")


class DatabaseBackupSchedule(Resource[DatabaseBackupScheduleSpec, DatabaseBackupScheduleStatus]):
    """Backups of one Database on a cron schedule."""

    kind: Literal["DatabaseBackupSchedule"] = "DatabaseBackupSchedule"
