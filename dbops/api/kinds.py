"""The registry of the 11 kinds (api.md 1.1 and the printer columns of section 6).

Controllers and the runtime address kinds through :class:`KindInfo` (group, version, plural, scope, finalizer,
model class), never through string literals of their own; the CRD generator reads the same table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from dbops.api.backup import BackupPhase, DatabaseBackup
from dbops.api.database import Database, DatabasePhase
from dbops.api.grant import ClusterDatabaseGrant, DatabaseGrant, GrantPhase
from dbops.api.instance import ClusterDatabaseInstance, DatabaseInstance, InstancePhase
from dbops.api.meta import API_VERSION, GROUP, VERSION, Resource
from dbops.api.restore import DatabaseRestore, RestorePhase
from dbops.api.role import ClusterDatabaseRole, DatabaseRole, RolePhase
from dbops.api.schedule import DatabaseBackupSchedule, SchedulePhase
from dbops.api.user import DatabaseUser, UserPhase

#: ``kubectl get dbops`` lists every kind (requested by the issue; api.md 1.1 says "no categories").
CATEGORIES: tuple[str, ...] = ("dbops",)

ColumnType = Literal["string", "integer", "number", "boolean", "date"]


@dataclass(frozen=True)
class PrinterColumn:
    """One ``additionalPrinterColumns`` entry."""

    name: str
    type: ColumnType
    json_path: str

    def to_schema(self) -> dict[str, str]:
        return {"jsonPath": self.json_path, "name": self.name, "type": self.type}


PHASE = PrinterColumn("Phase", "string", ".status.phase")
AGE = PrinterColumn("Age", "date", ".metadata.creationTimestamp")


@dataclass(frozen=True)
class KindInfo:
    """Everything about one kind that is not a field of its spec or status."""

    kind: str
    plural: str
    short_name: str
    namespaced: bool
    finalizer: str
    phases: tuple[str, ...]
    printer_columns: tuple[PrinterColumn, ...]
    model: type[Resource[Any, Any]]
    description: str

    group: str = GROUP
    version: str = VERSION

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{self.group}"

    @property
    def short_names(self) -> tuple[str, ...]:
        return (self.short_name,)


def _phases(literal: Any) -> tuple[str, ...]:
    return tuple(get_args(literal))


_F = f"{GROUP}/"

KINDS: tuple[KindInfo, ...] = (
    KindInfo(
        kind="DatabaseInstance",
        plural="databaseinstances",
        short_name="dbi",
        namespaced=True,
        finalizer=_F + "instance-protection",
        phases=_phases(InstancePhase),
        printer_columns=(
            PrinterColumn("Engine", "string", ".spec.engine"),
            PrinterColumn("Host", "string", ".spec.connection.host"),
            PrinterColumn("Port", "integer", ".spec.connection.port"),
            PHASE,
            PrinterColumn("Version", "string", ".status.version"),
            AGE,
        ),
        model=DatabaseInstance,
        description="DatabaseInstance is a database server (PostgreSQL, MySQL, MariaDB, CockroachDB or ClickHouse) "
        "that the operator connects to with an admin account.",
    ),
    KindInfo(
        kind="ClusterDatabaseInstance",
        plural="clusterdatabaseinstances",
        short_name="cdbi",
        namespaced=False,
        finalizer=_F + "clusterdatabaseinstance-finalizer",
        phases=_phases(InstancePhase),
        printer_columns=(
            PrinterColumn("Engine", "string", ".spec.engine"),
            PrinterColumn("Host", "string", ".spec.connection.host"),
            PrinterColumn("Port", "integer", ".spec.connection.port"),
            PHASE,
            PrinterColumn("Version", "string", ".status.version"),
            AGE,
        ),
        model=ClusterDatabaseInstance,
        description="ClusterDatabaseInstance is a cluster-scoped database server usable from every namespace; its "
        "Secrets default to the operator's namespace.",
    ),
    KindInfo(
        kind="Database",
        plural="databases",
        short_name="db",
        namespaced=True,
        finalizer=_F + "database-protection",
        phases=_phases(DatabasePhase),
        printer_columns=(
            PrinterColumn("Instance", "string", ".spec.instanceRef.name"),
            PrinterColumn("Database", "string", ".spec.name"),
            PHASE,
            PrinterColumn("Size", "string", ".status.database.sizeBytes"),
            AGE,
        ),
        model=Database,
        description="Database is a database on a DatabaseInstance or ClusterDatabaseInstance.",
    ),
    KindInfo(
        kind="DatabaseUser",
        plural="databaseusers",
        short_name="dbu",
        namespaced=True,
        finalizer=_F + "user-protection",
        phases=_phases(UserPhase),
        printer_columns=(
            PrinterColumn("Instance", "string", ".spec.instanceRef.name"),
            PrinterColumn("Username", "string", ".spec.username"),
            PHASE,
            PrinterColumn("Secret", "string", ".status.secret.name"),
            AGE,
        ),
        model=DatabaseUser,
        description="DatabaseUser is a login account with a managed password and credentials Secret.",
    ),
    KindInfo(
        kind="DatabaseRole",
        plural="databaseroles",
        short_name="dbr",
        namespaced=True,
        finalizer=_F + "role-protection",
        phases=_phases(RolePhase),
        printer_columns=(
            PrinterColumn("Instance", "string", ".spec.instanceRef.name"),
            PrinterColumn("Role", "string", ".spec.roleName"),
            PHASE,
            AGE,
        ),
        model=DatabaseRole,
        description="DatabaseRole is a role on a database server and the privileges it holds.",
    ),
    KindInfo(
        kind="ClusterDatabaseRole",
        plural="clusterdatabaseroles",
        short_name="cdbr",
        namespaced=False,
        finalizer=_F + "cluster-role-protection",
        phases=_phases(RolePhase),
        printer_columns=(
            PrinterColumn("Instance", "string", ".spec.clusterInstanceRef.name"),
            PrinterColumn("Role", "string", ".spec.roleName"),
            PHASE,
            AGE,
        ),
        model=ClusterDatabaseRole,
        description="ClusterDatabaseRole is a cluster-scoped role on a ClusterDatabaseInstance.",
    ),
    KindInfo(
        kind="DatabaseGrant",
        plural="databasegrants",
        short_name="dbg",
        namespaced=True,
        finalizer=_F + "grant-protection",
        phases=_phases(GrantPhase),
        printer_columns=(
            PrinterColumn("User", "string", ".spec.userRef.name"),
            PrinterColumn("Database", "string", ".spec.databaseRef.name"),
            PHASE,
            AGE,
        ),
        model=DatabaseGrant,
        description="DatabaseGrant gives role memberships and privileges to a DatabaseUser or DatabaseRole.",
    ),
    KindInfo(
        kind="ClusterDatabaseGrant",
        plural="clusterdatabasegrants",
        short_name="cdbg",
        namespaced=False,
        finalizer=_F + "cluster-grant-protection",
        phases=_phases(GrantPhase),
        printer_columns=(
            PrinterColumn("Target", "string", ".status.targetInfo.name"),
            PrinterColumn("Type", "string", ".status.targetInfo.type"),
            PrinterColumn("Applied", "integer", ".status.appliedGrants.applied"),
            PHASE,
            AGE,
        ),
        model=ClusterDatabaseGrant,
        description="ClusterDatabaseGrant gives role memberships and privileges on a ClusterDatabaseInstance to a "
        "user or role in any namespace.",
    ),
    KindInfo(
        kind="DatabaseBackup",
        plural="databasebackups",
        short_name="dbbak",
        namespaced=True,
        finalizer=_F + "backup-protection",
        phases=_phases(BackupPhase),
        printer_columns=(
            PrinterColumn("Database", "string", ".spec.databaseRef.name"),
            PHASE,
            PrinterColumn("Size", "string", ".status.backup.compressedSizeBytes"),
            PrinterColumn("Started", "date", ".status.startedAt"),
            PrinterColumn("Completed", "date", ".status.completedAt"),
            AGE,
        ),
        model=DatabaseBackup,
        description="DatabaseBackup is one logical backup of a Database into object storage or a volume.",
    ),
    KindInfo(
        kind="DatabaseBackupSchedule",
        plural="databasebackupschedules",
        short_name="dbbaksched",
        namespaced=True,
        finalizer=_F + "schedule-protection",
        phases=_phases(SchedulePhase),
        printer_columns=(
            PrinterColumn("Schedule", "string", ".spec.schedule"),
            PrinterColumn("Paused", "boolean", ".spec.paused"),
            PHASE,
            PrinterColumn("Last Backup", "string", ".status.lastBackup.name"),
            PrinterColumn("Next Backup", "date", ".status.nextBackupTime"),
            AGE,
        ),
        model=DatabaseBackupSchedule,
        description="DatabaseBackupSchedule creates DatabaseBackups from a template on a cron schedule and applies "
        "retention.",
    ),
    KindInfo(
        kind="DatabaseRestore",
        plural="databaserestores",
        short_name="dbrestore",
        namespaced=True,
        finalizer=_F + "restore-protection",
        phases=_phases(RestorePhase),
        printer_columns=(
            PrinterColumn("Backup", "string", ".spec.backupRef.name"),
            PrinterColumn("Target", "string", ".status.restore.targetDatabase"),
            PHASE,
            PrinterColumn("Progress", "integer", ".status.progress.percentage"),
            AGE,
        ),
        model=DatabaseRestore,
        description="DatabaseRestore loads a backup into a database, once.",
    ),
)

_BY_KIND = {k.kind: k for k in KINDS}
_BY_PLURAL = {k.plural: k for k in KINDS}
_BY_MODEL = {k.model: k for k in KINDS}


def by_kind(kind: str) -> KindInfo:
    """The kind named ``kind`` (e.g. ``Database``); KeyError when unknown."""
    return _BY_KIND[kind]


def by_plural(plural: str) -> KindInfo:
    """The kind whose resource name is ``plural`` (e.g. ``databases``); KeyError when unknown."""
    return _BY_PLURAL[plural]


def info_for(model: type[Resource[Any, Any]]) -> KindInfo:
    """The kind a model class represents."""
    return _BY_MODEL[model]


def parse(obj: dict[str, Any]) -> Resource[Any, Any]:
    """Parse an object of any of the 11 kinds, chosen by its ``kind`` field."""
    return by_kind(str(obj.get("kind"))).model.model_validate(obj)


__all__ = [
    "API_VERSION",
    "CATEGORIES",
    "GROUP",
    "KINDS",
    "VERSION",
    "KindInfo",
    "PrinterColumn",
    "by_kind",
    "by_plural",
    "info_for",
    "parse",
]
