"""The engine-neutral contract of per-engine backup and restore methods (backup.md 4, 10.5).

The DatabaseBackup and DatabaseRestore runners stay engine-neutral: they build a :class:`DumpRequest` or
:class:`RestoreRequest`, ask :func:`dump_method` for the engine's :class:`DumpMethod`, and hand what it opens to
:func:`dbops.backup.pipeline.run_backup` / :func:`~dbops.backup.pipeline.run_restore`::

    method = dump_method(settings.engine)
    source = await method.open_dump(DumpRequest(settings, "app", postgres=spec.postgres, operator_compression=True))
    result = await run_backup(source, writer, compression=...)
    # status.backup.format = source.format; key extension = source.extension; warnings = source.warnings

    await prepare_target(adapter, target_spec, drop_existing=..., create_database=...)
    sink = await method.open_restore(RestoreRequest(settings, "app_copy", format="custom", postgres=spec.postgres))
    await run_restore(download, sink, ...)

Why a separate contract module: controllers may only reach engines through contracts (issue 14), and a process that
only manages MariaDB must never import asyncpg. :func:`dump_method` therefore imports the engine's module by name,
on first use, exactly like :func:`dbops.engines.registry.adapter_factory`.

Lifecycle of what ``open_*`` returns is the one of :mod:`dbops.backup.interfaces`: the pipeline calls ``finish()``
or ``complete()`` at most once and ``abort()`` exactly once on failure. An ``open_*`` call that raises has started
nothing and left nothing behind.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast, runtime_checkable

from dbops.api.backup import MySQLBackupConfig, PostgresBackupConfig
from dbops.api.restore import ClickHouseRestoreConfig, MySQLRestoreConfig, PostgresRestoreConfig
from dbops.backup.interfaces import Source, StreamSink
from dbops.engines.base import EngineError
from dbops.engines.connection import ConnectionSettings

if TYPE_CHECKING:
    from dbops.api.database import DatabaseSpec
    from dbops.engines.base import EngineAdapter

__all__ = [
    "DUMP_METHODS",
    "MAX_ERROR_CHARS",
    "MAX_WARNINGS",
    "DumpError",
    "DumpMethod",
    "DumpRequest",
    "DumpSource",
    "PreparedTarget",
    "RestoreRequest",
    "RestoreSink",
    "UnsupportedDumpEngine",
    "dump_method",
    "prepare_target",
]

MAX_ERROR_CHARS = 1024
"""``status.lastAttemptError`` and a restore's failure message hold at most this many characters (api.md 6.9)."""
MAX_WARNINGS = 50
"""``status.warnings`` holds at most 50 entries (api.md 6.11); a method never collects more."""
MAX_WARNING_CHARS = 512


class DumpError(EngineError):
    """A dump or restore failed: the tool exited with an error, the server is too new for the bundled tools, a
    format cannot be handled. The message is redacted, at most :data:`MAX_ERROR_CHARS` characters, and safe for
    status, events and logs."""


class UnsupportedDumpEngine(DumpError):
    """No dump method for this engine in this build."""


@dataclass(frozen=True)
class DumpRequest:
    """What to back up, and how (backup.md 4)."""

    settings: ConnectionSettings
    """The instance's admin connection (host, port, account, TLS); its ``database`` is ignored."""
    database: str
    """The database to dump (the Database resource's ``spec.name``)."""
    postgres: PostgresBackupConfig | None = None
    """``spec.postgres`` of the DatabaseBackup (PostgreSQL); ``None`` means the block's defaults."""
    mysql: MySQLBackupConfig | None = None
    """``spec.mysql`` of the DatabaseBackup (MySQL and MariaDB); ``None`` means the block's defaults."""
    operator_compression: bool = False
    """The pipeline compresses the stream: archives that compress themselves are told not to (``--compress=0``)."""
    scratch_dir: Path | None = None
    """``--scratch-dir``, for formats that need local files (PostgreSQL directory format)."""
    server_version: str | None = None
    """The server's version as the instance reports it (``status.version``); looked up when ``None``."""


@dataclass(frozen=True)
class RestoreRequest:
    """Where and how to restore a stream (backup.md 10.4, 10.5). The target database is prepared first
    (:func:`prepare_target`)."""

    settings: ConnectionSettings
    """The target instance's admin connection; its ``database`` is ignored."""
    database: str
    """The target database."""
    format: str
    """The backup's ``status.backup.format`` (``plain``, ``custom``, ``tar``, ``directory``, ``mysqldump``, …)."""
    postgres: PostgresRestoreConfig | None = None
    mysql: MySQLRestoreConfig | None = None
    clickhouse: ClickHouseRestoreConfig | None = None
    source_engine: str | None = None
    """Engine the backup was taken from, when known (MySQL ↔ MariaDB restores are allowed with a warning)."""
    scratch_dir: Path | None = None


@runtime_checkable
class DumpSource(Source, Protocol):
    """A :class:`~dbops.backup.interfaces.Source` producing a dump, with what the backup's status records."""

    @property
    def format(self) -> str:
        """``status.backup.format``: ``plain``, ``custom``, ``tar``, ``directory``, ``mysqldump``, …"""
        ...

    @property
    def extension(self) -> str:
        """Extension of the stored object before compression and encryption suffixes (``.dump``, ``.sql``, …)."""
        ...

    @property
    def warnings(self) -> list[str]:
        """Options that could not be honoured (``OptionsHonored=False``) and tool warnings; grows until the end."""
        ...


@runtime_checkable
class RestoreSink(StreamSink, Protocol):
    """A :class:`~dbops.backup.interfaces.StreamSink` loading a dump, with the warnings for ``status.warnings``."""

    @property
    def warnings(self) -> list[str]:
        """Unsupported options (``UnsupportedOption``) and tool warnings; complete once ``complete()`` returned."""
        ...


class DumpMethod(Protocol):
    """One engine's backup and restore method."""

    async def open_dump(self, request: DumpRequest) -> DumpSource:
        """Check what can be checked before any data moves (tool present, versions), then start the dump."""
        ...

    async def open_restore(self, request: RestoreRequest) -> RestoreSink:
        """Start the restore tool (or loader) on the prepared target database, waiting for the stream."""
        ...


DUMP_METHODS: dict[str, str] = {
    "postgres": "dbops.engines.postgres.dump:PostgresDumpMethod",
    "mysql": "dbops.engines.mysql.dump:MySQLDumpMethod",
    "mariadb": "dbops.engines.mysql.dump:MySQLDumpMethod",
}
"""Where each engine's method lives, imported on first use. CockroachDB (native ``BACKUP``) and ClickHouse (HTTP
dump) have pure statement builders in their packages but no method behind this protocol yet."""


def dump_method(engine: str) -> DumpMethod:
    """The dump method of ``engine``; :class:`UnsupportedDumpEngine` when this build has none."""
    target = DUMP_METHODS.get(engine)
    if target is None:
        raise UnsupportedDumpEngine(f"backups of engine {engine!r} are not supported by this build")
    module_name, _, class_name = target.partition(":")
    module = importlib.import_module(module_name)
    factory = getattr(module, class_name)
    return cast(DumpMethod, factory(engine))


def add_warning(warnings: list[str], text: str) -> None:
    """Append a warning within the limits of ``status.warnings`` (50 entries, 512 characters), without repeats."""
    text = text if len(text) <= MAX_WARNING_CHARS else text[: MAX_WARNING_CHARS - 1] + "…"
    if text not in warnings and len(warnings) < MAX_WARNINGS:
        warnings.append(text)


@dataclass(frozen=True)
class PreparedTarget:
    """What :func:`prepare_target` did."""

    existed: bool
    dropped: bool
    created: bool
    warnings: list[str] = field(default_factory=list)


async def prepare_target(
    adapter: EngineAdapter,
    spec: DatabaseSpec,
    *,
    drop_existing: bool,
    create_database: bool,
    owner: str | None = None,
) -> PreparedTarget:
    """Preparation of backup.md 10.5, through the instance's adapter: ``dropExisting`` ends the other sessions and
    drops the target (PostgreSQL ``WITH (FORCE)``, CockroachDB ``CASCADE``, ClickHouse as its adapter drops);
    ``createDatabase`` creates it when missing (an existing database is accepted) with the creation options of
    ``spec`` — the target Database resource's spec, or ``DatabaseSpec.model_construct(name=target)`` for the server
    defaults — owned by ``owner`` (PostgreSQL). A target that is missing and may not be created is an error.

    The data-loss guard (10.2 step 7) is the controller's, before this is called.
    """
    name = spec.name
    existed = await adapter.observe_database(name) is not None
    dropped = False
    if existed and drop_existing:
        await adapter.drop_database(name)
        dropped = True
    present = existed and not dropped
    created = False
    if not present:
        if not create_database:
            raise DumpError(f"the target database {name!r} does not exist and createDatabase is false")
        await adapter.create_database(spec, owner=owner, comment=None)
        created = True
    return PreparedTarget(existed=existed, dropped=dropped, created=created)
