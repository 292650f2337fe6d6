"""One DatabaseRestore as its runner executes it (backup.md 10.5, 10.7): prepare the target, stream, load.

Order matters for "no partial damage": everything that can be checked without touching the target (the object
exists, the key, the engine, the data-loss guard) was checked by the reconciler before the runner started. The
runner then drops or creates the target database, starts the engine's loader on it, and only then opens the stored
object and streams it through :func:`dbops.backup.run_restore` (checksum, decryption, decompression, hold-back).
A failure at any point aborts the loader (PostgreSQL: one transaction or ``--exit-on-error``; MySQL: the client
is killed); a target database this run created is dropped again; the store is closed in every case.

Like :mod:`backup_attempt`, it knows nothing of Kubernetes, so it is testable against real stores and servers alone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from dbops.api.database import DatabaseSpec
from dbops.api.storage import CompressionAlgorithm, EncryptionAlgorithm
from dbops.backup import RestoreResult, run_restore
from dbops.backup.keys import EncryptionKey
from dbops.engines.base import EngineAdapter
from dbops.engines.dump import DumpMethod, PreparedTarget, RestoreRequest, RestoreSink, add_warning, prepare_target
from dbops.storage import ObjectStore

__all__ = ["RestoreOutcome", "RestorePlan", "run_restore_attempt"]


@dataclass(frozen=True)
class RestorePlan:
    """Everything the restore needs, resolved and checked by the reconciler before the runner starts."""

    store: ObjectStore
    key: str
    """The stored object, as resolved (``status.restore.resolvedPath``)."""
    adapter: EngineAdapter
    """The target instance's adapter (drop and create)."""
    method: DumpMethod
    request: RestoreRequest
    target_spec: DatabaseSpec
    """Creation options of the target: its Database resource's spec, or the server defaults."""
    owner: str | None
    drop_existing: bool
    create_database: bool
    key_material: EncryptionKey | None = None
    legacy_encryption: EncryptionAlgorithm | None = None
    expected_compression: CompressionAlgorithm | Literal["none"] | None = None
    expected_checksum: str | None = None
    expected_size: int | None = None
    warnings: tuple[str, ...] = ()
    """Found while planning (MySQL ↔ MariaDB, options of another engine): recorded with the restore's own."""


@dataclass(frozen=True)
class RestoreOutcome:
    """What a completed restore did (status and the `Completed` event)."""

    result: RestoreResult
    prepared: PreparedTarget
    completed_at: datetime
    warnings: list[str] = field(default_factory=list)


async def run_restore_attempt(plan: RestorePlan, on_progress: Callable[[int], None]) -> RestoreOutcome:
    """Prepare, start the loader, stream the object into it; ``on_progress`` receives stored bytes read."""
    try:
        prepared = await prepare_target(
            plan.adapter,
            plan.target_spec,
            drop_existing=plan.drop_existing,
            create_database=plan.create_database,
            owner=plan.owner,
        )
        try:
            sink, result = await _load(plan, on_progress)
        except BaseException:
            if prepared.created and not prepared.existed:
                await _drop_created(plan)
            raise
        warnings: list[str] = []
        for text in (*plan.warnings, *prepared.warnings, *sink.warnings, *result.warnings):
            add_warning(warnings, text)
        return RestoreOutcome(result, prepared, datetime.now(UTC), warnings)
    finally:
        await plan.store.close()


async def _load(plan: RestorePlan, on_progress: Callable[[int], None]) -> tuple[RestoreSink, RestoreResult]:
    sink = await plan.method.open_restore(plan.request)
    try:
        source = await plan.store.open_reader(plan.key)
    except BaseException:
        await sink.abort()
        raise
    result = await run_restore(
        source,
        sink,
        key=plan.key_material,
        legacy_encryption=plan.legacy_encryption,
        expected_compression=plan.expected_compression,
        expected_checksum=plan.expected_checksum,
        expected_size=plan.expected_size,
        on_progress=on_progress,
    )
    return sink, result


async def _drop_created(plan: RestorePlan) -> None:
    """A failed load into a database this run created leaves nothing behind: the database is ours (created moments
    ago, it did not exist before), and a half-loaded copy would look like a restored one. Best effort, shielded from
    the cancellation that may have caused the failure."""
    with contextlib.suppress(Exception):
        await asyncio.shield(plan.adapter.drop_database(plan.request.database))
