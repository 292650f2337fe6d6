"""One attempt of one DatabaseBackup, as a runner executes it (backup.md 3.2 steps 5-6): the work, no bookkeeping.

The attempt streams the engine's dump into the store (:func:`dbops.backup.run_backup`), then writes the metadata
file — last, so its presence marks a complete backup (6.3). If anything fails or the attempt is cancelled, the
pipeline has aborted the upload (no object remains) and the metadata file was never written; if the metadata write
itself fails, the completed object is deleted again, so a half-recorded backup never looks complete to a restore.

It knows nothing of Kubernetes: the reconciler resolves everything first (:class:`AttemptPlan`), and records the
:class:`AttemptOutcome` afterwards, so the attempt is testable against real stores and dump tools alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from dbops.backup import BackupMetadata, BackupResult, CompressionSettings, EncryptionSettings, Source, run_backup
from dbops.backup.metadata import BackupReference, CompressionInfo, EncryptionInfo
from dbops.backup.naming import metadata_key
from dbops.storage import ObjectStore, StorageError

__all__ = ["AttemptOutcome", "AttemptPlan", "run_attempt"]


@dataclass(frozen=True)
class AttemptPlan:
    """Everything one attempt needs, resolved by the reconciler before the runner starts."""

    store: ObjectStore
    key: str
    open_source: Callable[[], Awaitable[Source]]
    """Starts the dump (the tool, or the engine stream); called once, inside the runner."""
    engine: str
    server_version: str | None
    database: str
    backup: BackupReference
    started_at: datetime
    format: str
    compression: CompressionSettings | None
    encryption: EncryptionSettings | None
    part_size: int
    table_count: int | None = None
    tool: str | None = None

    @property
    def metadata_key(self) -> str:
        return metadata_key(self.key)


@dataclass(frozen=True)
class AttemptOutcome:
    """What a completed attempt produced (status ``backup.*``)."""

    result: BackupResult
    completed_at: datetime
    metadata: BackupMetadata


async def run_attempt(plan: AttemptPlan, on_progress: Callable[[int], None]) -> AttemptOutcome:
    """Dump, store, write the metadata file; the store is closed in every case."""
    try:
        writer = await plan.store.open_writer(plan.key)
        try:
            source = await plan.open_source()
        except BaseException:
            await writer.abort()
            raise
        result = await run_backup(
            source,
            writer,
            compression=plan.compression,
            encryption=plan.encryption,
            part_size=plan.part_size,
            on_progress=on_progress,
        )
        metadata = _metadata(plan, result, datetime.now(UTC))
        try:
            await _write_small(plan.store, plan.metadata_key, metadata.to_json())
        except BaseException:
            with contextlib.suppress(StorageError):
                await plan.store.delete(plan.key)
            raise
        return AttemptOutcome(result, metadata.completed_at, metadata)
    finally:
        await plan.store.close()


async def _write_small(store: ObjectStore, key: str, data: bytes) -> None:
    """A one-part object (the metadata file): written whole, aborted on any failure."""
    writer = await store.open_writer(key, size_hint=len(data))
    try:
        await writer.write_part(1, data, last=True)
        await writer.complete()
    except BaseException:
        await writer.abort()
        raise


def _metadata(plan: AttemptPlan, result: BackupResult, completed_at: datetime) -> BackupMetadata:
    compression = plan.compression
    encryption = plan.encryption
    return BackupMetadata(
        engine=plan.engine,
        server_version=plan.server_version,
        database=plan.database,
        backup=plan.backup,
        started_at=plan.started_at,
        completed_at=completed_at,
        tool=plan.tool,
        format=plan.format,
        compression=CompressionInfo(
            algorithm=compression.algorithm if compression else "none",
            level=compression.level if compression else None,
        ),
        encryption=EncryptionInfo(
            algorithm=encryption.algorithm if encryption else "none",
            format="dbops-v2" if encryption else None,
        ),
        size_bytes=result.size_bytes,
        compressed_size_bytes=result.stored_bytes,
        checksum=result.checksum,
        table_count=plan.table_count,
    )
