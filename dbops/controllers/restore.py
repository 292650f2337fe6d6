"""DatabaseRestore: validation, gates, one runner, progress, outcome, deadline (backup.md 10).

A restore is one-shot: `Completed` and `Failed` are final and never retried. Its reconcile reads top-down as the
flow of 10.2 — static validation, the backup gate, target resolution and the instance gate, the Secrets gate, the
busy gate, server-side validation (the object exists, engines match, the data-loss guard), a slot, the start — and
everything that can refuse the restore does so **before the target is touched**. The work itself runs in a
background runner (:mod:`runners`, :mod:`restore_attempt`) exactly like a backup's: the reconcile records progress
every 15 s and the outcome when the runner ends, so every status write and event lives here.

A `Running` restore without a runner in this process was interrupted (operator restart, leadership moved): it is
`Failed` with reason `Interrupted` — a half-loaded database cannot be resumed, and re-running a destructive load
unasked would be worse; the user creates a new DatabaseRestore.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from dbops.api.backup import DatabaseBackup
from dbops.api.database import Database, DatabaseSpec
from dbops.api.kinds import by_kind
from dbops.api.meta import DATA_LOSS_ACK
from dbops.api.restore import DatabaseRestore, DatabaseRestoreSpec
from dbops.api.storage import CompressionAlgorithm, EncryptionConfig, StorageConfig
from dbops.backup.errors import BackupError
from dbops.backup.keys import EncryptionKey
from dbops.backup.metadata import BackupMetadata, MetadataError
from dbops.backup.naming import candidate_keys, format_of_key, metadata_key
from dbops.controllers.backup_storage import StorageSetupProblem, backup_store, encryption_key
from dbops.controllers.base import KindReconciler, Obj, StatusDraft
from dbops.controllers.context import OperatorContext, adapter_for
from dbops.controllers.instances import (
    CLUSTER_INSTANCE,
    INSTANCE,
    InstanceProblem,
    InstanceTarget,
    ResolvedInstance,
    connection_settings,
    target_of,
)
from dbops.controllers.operations import (
    OperationRun,
    Waiting,
    crossed_milestone,
    human_size,
    parse_time,
    rfc3339,
    sanitised,
)
from dbops.controllers.references import checked_gate
from dbops.controllers.restore_attempt import RestoreOutcome, RestorePlan, run_restore_attempt
from dbops.controllers.restore_targets import restore_running_into
from dbops.controllers.runners import Runner, Runners
from dbops.controllers.transitions import field_state
from dbops.engines.base import EngineError
from dbops.engines.connection import ConnectionFailure
from dbops.engines.dump import RestoreRequest, UnsupportedDumpEngine, dump_method
from dbops.metrics import metric_namespace
from dbops.runtime import Result, remove_finalizer
from dbops.runtime.leader import default_identity
from dbops.storage import ObjectStore, StorageError

PROGRESS_INTERVAL = 15.0
"""How often a running restore records its progress (backup.md 10.6)."""
RECHECK_SECONDS = 10.0
"""Gates that no watch opens in this build (Secrets, slots, instances, the busy target) are looked at again."""
METADATA_LIMIT = 1 << 20
"""A metadata file is a few hundred bytes; anything larger is not one (and is not read into memory)."""


class Invalid(Exception):
    """Validation refused the restore: phase Failed, reason ValidationFailed, event ValidationFailed."""


class RunFailed(Exception):
    """The run ended without a restore; ``reason`` is the Failed reason (RestoreFailed, DeadlineExceeded)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class SourceSpec:
    """Where the stored object is and what is known of it before the store is opened (10.2 step 3)."""

    storage: StorageConfig
    secrets_namespace: str
    """Namespace whose Secrets the storage and encryption blocks name: the backup's, or the restore's."""
    key: str
    description: str
    """``status.restore.sourceBackup``: ``namespace/name`` of the backup, or the path."""
    encryption: EncryptionConfig | None
    engine: str | None = None
    database: str | None = None
    format: str | None = None
    checksum: str | None = None
    size: int | None = None
    table_count: int | None = None
    compression: CompressionAlgorithm | Literal["none"] | None = None


@dataclass(frozen=True)
class TargetSpec:
    """Where the restore writes, once resolved (10.3); ``database`` may still come from the metadata file."""

    instance: ResolvedInstance
    database: str | None
    resource: Database | None
    """The Database resource managing the target on that instance, when there is one."""


class RestoreRun(OperationRun[DatabaseRestore]):
    """One reconcile of one restore."""

    @property
    def spec(self) -> DatabaseRestoreSpec:
        return self.obj.spec


@dataclass(frozen=True)
class Started:
    """What the start recorded (``status.restore``) besides the plan the runner executes."""

    plan: RestorePlan
    source: SourceSpec
    instance: ResolvedInstance
    database: str
    stored_size: int
    warnings: list[str] = field(default_factory=list)


def static_problem(spec: DatabaseRestoreSpec) -> str | None:
    """The first problem of 10.2 step 2 that the schema may have let through (objects stored before its rules, or
    rules it cannot express), naming the field; None when the spec is consistent."""
    if (spec.backup_ref is None) == (spec.from_path is None):
        return "exactly one of spec.backupRef and spec.fromPath must be set"
    if spec.from_path is not None:
        storage = spec.from_path.storage
        if getattr(storage, storage.type, None) is None:
            return f"spec.fromPath.storage.type is {storage.type} but spec.fromPath.storage.{storage.type} is not set"
        if not spec.from_path.backup_path.strip():
            return "spec.fromPath.backupPath must not be empty"
    target = spec.target
    has_instance = target.instance_ref is not None or target.cluster_instance_ref is not None
    if target.instance_ref is not None and target.cluster_instance_ref is not None:
        return "spec.target: instanceRef and clusterInstanceRef are mutually exclusive"
    if target.in_place:
        if target.database_ref is None and not has_instance:
            return "spec.target.inPlace needs spec.target.databaseRef or an instance reference"
        acknowledged = spec.confirmation is not None and spec.confirmation.acknowledge_data_loss == DATA_LOSS_ACK
        if not acknowledged:
            return f"spec.target.inPlace requires spec.confirmation.acknowledgeDataLoss: {DATA_LOSS_ACK}"
    elif not has_instance:
        return "spec.target needs instanceRef or clusterInstanceRef (or inPlace with databaseRef)"
    return None


def engine_blocks_not_applying(spec: DatabaseRestoreSpec, engine: str) -> list[str]:
    """Option blocks written for another engine (10.4: reported, the restore proceeds without them)."""
    applies = {
        "postgres": ("postgres", "cockroachdb"),
        "mysql": ("mysql", "mariadb"),
        "clickhouse": ("clickhouse",),
    }
    return [f"spec.{block}" for block, engines in applies.items() if getattr(spec, block) and engine not in engines]


def engines_compatible(source: str | None, target: str) -> tuple[bool, str | None]:
    """(allowed, warning): equal engines, or MySQL ↔ MariaDB with a warning (10.2 step 7)."""
    if source is None or source == target:
        return True, None
    if {source, target} == {"mysql", "mariadb"}:
        return True, f"restoring a {source} backup into {target}: check the dump's features are supported"
    return False, None


class RestoreReconciler(KindReconciler[DatabaseRestore]):
    """Reconciles DatabaseRestore objects; see the module docstring."""

    info_family = "restore_info"

    def __init__(self, ctx: OperatorContext) -> None:
        super().__init__(ctx, by_kind("DatabaseRestore"))
        self.backups = ctx.store(by_kind("DatabaseBackup"))
        self.databases = ctx.store(by_kind("Database"))
        self.instances, self.cluster_instances = ctx.store(INSTANCE), ctx.store(CLUSTER_INSTANCE)
        self.runners: Runners[RestoreOutcome] = Runners("restore", ctx.config.max_concurrent_backups)
        self.wake_database: Callable[[str], None] = lambda key: None
        """Enqueue a Database (set by the controller setup): it skips its work while a restore runs into it."""
        self._stored_sizes: dict[str, int] = {}
        """Stored size of each running restore's object: the denominator of its percentage."""
        elector = getattr(ctx.manager, "elector", None)
        self.identity = getattr(elector, "identity", None) or default_identity()

    def info_labels(self, obj: DatabaseRestore, draft: StatusDraft) -> dict[str, str]:
        spec = obj.spec
        source = spec.backup_ref.name if spec.backup_ref else (spec.from_path.backup_path if spec.from_path else "")
        recorded = (draft.data.get("restore") or {}).get("targetInstance")
        ref = spec.target.instance_ref or spec.target.cluster_instance_ref
        return {
            "restore": obj.metadata.name or "",
            "backup_ref": source,
            "target_instance": recorded or (ref.name if ref else ""),
        }

    # The flow ---------------------------------------------------------------------------------------------------

    async def sync(self, obj: DatabaseRestore, raw: Obj, rid: str) -> Result | None:
        run = RestoreRun(obj, raw, self.draft(raw), rid)
        runner = self.runners.get(run.key)
        if runner is not None:
            return await (self._record_outcome(run, runner) if runner.done else self._record_progress(run, runner))
        phase = run.draft.phase
        if phase in ("Completed", "Failed"):
            self.publish(obj, run.draft)
            return None
        if phase == "Running":
            await self._failed(run, RunFailed("Interrupted", "interrupted: the operator restarted during the restore"))
            return None
        return await self._start(run)

    async def _start(self, run: RestoreRun) -> Result | None:
        """10.2 steps 2-8: every check before anything is written, then a runner."""
        store: ObjectStore | None = None
        try:
            if (problem := static_problem(run.spec)) is not None:
                raise Invalid(problem)
            source = self._source(run)
            target = self._target(run)
            store = await backup_store(
                self.ctx.client,
                self.ctx.references,
                source.storage,
                source.secrets_namespace,
                pvc_mount_root=self.ctx.config.pvc_mount_root,
            )
            key_material = await encryption_key(
                self.ctx.client, self.ctx.references, source.encryption, source.secrets_namespace
            )
            started = await self._plan(run, source, target, store, key_material)
        except Waiting as waiting:
            await self._close(store)
            self.runners.forget_waiting(run.key)
            return await self._pending(run, waiting.reason, str(waiting))
        except StorageSetupProblem as problem:
            await self._close(store)
            if problem.reason == "SecretNotFound":
                return await self._pending(run, "SecretNotFound", f"Waiting for {problem}")
            await self._validation_failed(run, str(problem))
            return None
        except (Invalid, StorageError) as problem:
            await self._close(store)
            self.runners.forget_waiting(run.key)
            await self._validation_failed(run, str(problem))
            return None
        except (EngineError, ConnectionFailure, InstanceProblem) as problem:
            await self._close(store)
            return await self._pending(run, "InstanceNotReady", f"Waiting for the target server: {sanitised(problem)}")
        go = asyncio.Event()
        created = (parse_time(run.raw["metadata"].get("creationTimestamp")) or datetime.now(UTC)).timestamp()
        runner = self.runners.start(run.key, created, 1, self._work(run, started, go))
        if runner is None:
            await started.plan.store.close()
            return await self._pending(run, "WaitingForSlot", "Waiting for a free restore slot")
        try:
            await self._record_started(run, started)
        except BaseException:
            await self.runners.cancel(run.key)
            raise
        go.set()
        return Result(requeue_after=PROGRESS_INTERVAL)

    # Gates and resolution ---------------------------------------------------------------------------------------

    def _source(self, run: RestoreRun) -> SourceSpec:
        """The backup gate (step 3) for ``backupRef``; the written path for ``fromPath``."""
        spec = run.spec
        if spec.from_path is not None:
            from_path = spec.from_path
            compression = from_path.compression
            return SourceSpec(
                storage=from_path.storage,
                secrets_namespace=run.namespace,
                key=from_path.backup_path,
                description=from_path.backup_path,
                encryption=from_path.encryption,
                compression=(compression.algorithm if compression.enabled else "none") if compression else None,
            )
        assert spec.backup_ref is not None
        ref = spec.backup_ref
        namespace = ref.namespace or run.namespace
        self.ctx.references.namespaced_object(run.namespace, "DatabaseBackup", namespace, ref.name, "spec.backupRef")
        raw = self.backups.get(f"{namespace}/{ref.name}")
        description = f"{namespace}/{ref.name}"
        if raw is None:
            raise Waiting("DependencyNotReady", f"Waiting for DatabaseBackup {description} to exist")
        phase = (raw.get("status") or {}).get("phase")
        if phase == "Failed":
            raise Invalid(f"backup {description} failed; there is nothing to restore")
        recorded = (raw.get("status") or {}).get("backup") or {}
        if phase != "Completed" or not recorded.get("path"):
            raise Waiting("DependencyNotReady", f"Waiting for DatabaseBackup {description} to complete")
        backup: DatabaseBackup = by_kind("DatabaseBackup").model.model_validate(raw)  # type: ignore[assignment]
        status_source = (raw.get("status") or {}).get("source") or {}
        return SourceSpec(
            storage=backup.spec.storage,
            secrets_namespace=namespace,
            key=str(recorded["path"]),
            description=description,
            encryption=backup.spec.encryption,
            engine=status_source.get("engine"),
            database=status_source.get("database"),
            format=recorded.get("format"),
            checksum=recorded.get("checksum"),
            size=recorded.get("compressedSizeBytes"),
            table_count=recorded.get("tableCount"),
            compression=recorded.get("compression"),
        )

    def _target(self, run: RestoreRun) -> TargetSpec:
        """Target resolution and the instance gate (step 4, 10.3)."""
        target = run.spec.target
        if target.in_place and target.database_ref is not None:
            ref = target.database_ref
            namespace = ref.namespace or run.namespace
            self.ctx.references.namespaced_object(
                run.namespace, "Database", namespace, ref.name, "spec.target.databaseRef"
            )
            raw = self.databases.get(f"{namespace}/{ref.name}")
            if raw is None:
                raise Waiting("DependencyNotReady", f"Waiting for Database {namespace}/{ref.name}: not found")
            database: Database = by_kind("Database").model.model_validate(raw)  # type: ignore[assignment]
            instance = self._instance(namespace, target_of(database.spec, namespace), "spec.target.databaseRef")
            server_name = ((raw.get("status") or {}).get("database") or {}).get("name") or database.spec.name
            return TargetSpec(instance, server_name, database)
        field_name = "spec.target.clusterInstanceRef" if target.cluster_instance_ref else "spec.target.instanceRef"
        instance = self._instance(run.namespace, target_of(target, run.namespace), field_name)
        return TargetSpec(instance, target.database_name, None)

    def _instance(self, referrer: str, target: InstanceTarget, field_name: str) -> ResolvedInstance:
        instance, problem = checked_gate(
            self.ctx.references, referrer, target, self.instances, self.cluster_instances, field=field_name
        )
        if instance is None:
            raise Waiting("InstanceNotReady", f"Waiting for {problem}")
        return instance

    def _managing_database(self, instance: ResolvedInstance, name: str) -> Database | None:
        """The Database resource that manages ``name`` on ``instance``, if any (its options create the target)."""
        for raw in self.databases.list():
            meta = raw.get("metadata") or {}
            if meta.get("deletionTimestamp") or ((raw.get("spec") or {}).get("name")) != name:
                continue
            try:
                database: Database = by_kind("Database").model.model_validate(raw)  # type: ignore[assignment]
            except ValueError:
                continue
            if target_of(database.spec, meta.get("namespace")).key == instance.target.key:
                return database
        return None

    async def _plan(
        self,
        run: RestoreRun,
        source: SourceSpec,
        target: TargetSpec,
        store: ObjectStore,
        key_material: EncryptionKey | None,
    ) -> Started:
        """The busy gate (step 6) and server-side validation (step 7); raises before anything is written."""
        key = await self._resolve_key(store, source)
        if source.checksum is None:
            source = await self._with_metadata(store, key, source)
        engine = target.instance.engine
        allowed, engine_warning = engines_compatible(source.engine, engine)
        if not allowed:
            raise Invalid(f"the backup is of a {source.engine} database; the target instance runs {engine}")
        database = target.database or source.database
        if not database:
            raise Invalid(
                f"spec.target.databaseName is required: {source.description} has no metadata file naming "
                "the source database"
            )
        instance_key = target.instance.target.store_key
        busy = restore_running_into(self.store, instance=instance_key, server_name=database)
        if busy is not None and busy != run.key:
            raise Waiting("TargetBusy", f"Waiting for restore {busy} into database {database} to finish")
        dump_format = source.format or format_of_key(key, engine)
        if dump_format is None:
            raise Invalid(f"cannot tell the format of {key}: restore it through its DatabaseBackup or a metadata file")
        try:
            method = dump_method(engine)
        except UnsupportedDumpEngine as error:
            raise Invalid(str(error)) from None
        resource = target.resource or self._managing_database(target.instance, database)
        adapter = await adapter_for(self.ctx, target.instance)
        async with self.ctx.servers.operation(target.instance.target.key):
            objects = await adapter.user_object_count(database)
        spec = run.spec
        acknowledged = spec.confirmation is not None and spec.confirmation.acknowledge_data_loss == DATA_LOSS_ACK
        if objects and not acknowledged:
            raise Invalid(
                f"the target database {database} on instance {target.instance.name} holds {objects} user object(s); "
                f"set spec.confirmation.acknowledgeDataLoss: {DATA_LOSS_ACK} to restore into it"
            )
        options = spec.postgres if engine in ("postgres", "cockroachdb") else None
        mysql = spec.mysql if engine in ("mysql", "mariadb") else None
        clickhouse = spec.clickhouse if engine == "clickhouse" else None
        block = options or mysql or clickhouse
        drop_existing = spec.target.in_place or bool(block and block.drop_existing)
        create_database = block.create_database if block is not None else True
        self.report_options(run.raw, run.draft, engine_blocks_not_applying(spec, engine), engine)
        namespace = target.instance.target.key.namespace or None
        settings = await connection_settings(
            self.ctx.client, target.instance.spec, namespace, self.ctx.config.operator_namespace
        )
        request = RestoreRequest(
            settings,
            database,
            format=dump_format,
            postgres=options,
            mysql=mysql,
            clickhouse=clickhouse,
            source_engine=source.engine,
        )
        target_spec = resource.spec if resource is not None else DatabaseSpec.model_construct(name=database)
        if resource is not None and resource.spec.name != database:
            target_spec = resource.spec.model_copy(update={"name": database})
        plan = RestorePlan(
            store=store,
            key=key,
            adapter=adapter,
            method=method,
            request=request,
            target_spec=target_spec,
            owner=resource.spec.owner if resource is not None and engine == "postgres" else None,
            drop_existing=drop_existing,
            create_database=create_database,
            key_material=key_material,
            legacy_encryption=None,
            expected_compression=source.compression,
            expected_checksum=source.checksum,
            expected_size=source.size,
            warnings=(engine_warning,) if engine_warning else (),
        )
        info = await store.stat(key)
        size = source.size or (info.size if info is not None else 0)
        return Started(plan, source, target.instance, database, int(size or 0))

    async def _resolve_key(self, store: ObjectStore, source: SourceSpec) -> str:
        """The stored object (6.2): the key as written, then under the prefix."""
        for candidate in candidate_keys(source.key, source.storage.prefix):
            if await store.stat(candidate) is not None:
                return candidate
        raise Invalid(f"the stored object {source.key} was not found ({store.backend})")

    async def _with_metadata(self, store: ObjectStore, key: str, source: SourceSpec) -> SourceSpec:
        """Facts from the metadata file next to a ``fromPath`` object, when there is one (6.3)."""
        info = await store.stat(metadata_key(key))
        if info is None:
            return source
        if info.size > METADATA_LIMIT:
            raise Invalid(f"{metadata_key(key)} is not a metadata file ({info.size} bytes)")
        reader = await store.open_reader(metadata_key(key))
        data = bytearray()
        try:
            while chunk := await reader.read(65536):
                data += chunk
            await reader.finish()
        except BaseException:
            await reader.abort()
            raise
        try:
            meta = BackupMetadata.from_json(bytes(data))
        except MetadataError as error:
            raise Invalid(f"{metadata_key(key)}: {error}") from None
        return _merge_metadata(source, meta)

    # The runner -------------------------------------------------------------------------------------------------

    def _work(self, run: RestoreRun, started: Started, go: asyncio.Event) -> Callable[[Runner[RestoreOutcome]], Any]:
        deadline = float(run.spec.active_deadline_seconds)
        plan = started.plan

        async def work(runner: Runner[RestoreOutcome]) -> RestoreOutcome:
            try:
                await go.wait()
            except BaseException:
                await plan.store.close()
                raise

            def progress(count: int) -> None:
                runner.processed = count

            async with self.ctx.servers.operation(started.instance.target.key):
                try:
                    async with asyncio.timeout(deadline):
                        return await run_restore_attempt(plan, progress)
                except TimeoutError:
                    raise RunFailed(
                        "DeadlineExceeded",
                        f"the restore did not finish within activeDeadlineSeconds ({int(deadline)} s)",
                    ) from None

        return work

    # Recording --------------------------------------------------------------------------------------------------

    async def _record_started(self, run: RestoreRun, started: Started) -> None:
        draft, plan = run.draft, started.plan
        instance = started.instance.target.store_key
        draft.set(
            phase="Running",
            message=f"Restoring {started.source.description} into database {started.database}",
            startedAt=rfc3339(datetime.now(UTC)),
            completedAt=None,
            runner=self.identity,
            restore={
                "sourceBackup": started.source.description,
                "targetInstance": instance,
                "targetDatabase": started.database,
                "resolvedPath": plan.key,
            },
            progress={
                "percentage": 0,
                "currentPhase": "Starting",
                "bytesProcessed": 0,
                "tablesRestored": 0,
                "tablesTotal": int(started.source.table_count or 0),
            },
        )
        self._stored_sizes[run.key] = started.stored_size
        draft.condition("Ready", False, "Running", f"Restoring into database {started.database}")
        draft.condition("Synced", False, "Running", "the restore is running")
        draft.normal_on_change(
            "Started",
            f"Started restore of {started.source.description} ({plan.request.format}, {plan.key}) into database "
            f"{started.database} on instance {started.instance.name}",
            when=field_state("phase"),
        )
        await self.write_status(run.raw, draft, run.rid)
        self.publish(run.obj, draft)
        self._wake_target(run, started.database, instance)

    async def _record_progress(self, run: RestoreRun, runner: Runner[RestoreOutcome]) -> Result:
        draft = run.draft
        progress = dict(run.status.get("progress") or {})
        size = self._stored_sizes.get(run.key, 0)
        processed = runner.processed
        percentage = min(99, processed * 100 // size) if size else 0
        progress.update(
            bytesProcessed=processed, percentage=percentage, currentPhase="Restoring" if processed else "Starting"
        )
        draft.set(progress=progress)
        if (reached := _milestone(draft.data)) is not None:
            database = (run.status.get("restore") or {}).get("targetDatabase")
            draft.normal_on_change(
                "ProgressUpdated",
                f"Restore into {database} at {reached}% ({human_size(processed)} of {human_size(size)} read)",
                when=_milestone,
            )
        await self.write_status(run.raw, draft, run.rid)
        return Result(requeue_after=PROGRESS_INTERVAL)

    async def _record_outcome(self, run: RestoreRun, runner: Runner[RestoreOutcome]) -> Result | None:
        self.runners.take(run.key)
        self._stored_sizes.pop(run.key, None)
        outcome = runner.outcome()
        if isinstance(outcome, RestoreOutcome):
            await self._completed(run, runner, outcome)
        elif isinstance(outcome, RunFailed):
            await self._failed(run, outcome)
        elif isinstance(outcome, (BackupError, EngineError, ConnectionFailure, InstanceProblem, OSError)):
            await self._failed(run, RunFailed("RestoreFailed", sanitised(outcome)))
        elif isinstance(outcome, asyncio.CancelledError):
            await self._failed(run, RunFailed("RestoreFailed", "the restore was cancelled"))
        else:
            self.log.error("restore runner crashed", restore=run.key, error=repr(outcome))
            await self._failed(run, RunFailed("RestoreFailed", f"internal error: {sanitised(outcome)}"))
        return None

    async def _completed(self, run: RestoreRun, runner: Runner[RestoreOutcome], outcome: RestoreOutcome) -> None:
        draft, result = run.draft, outcome.result
        recorded = run.status.get("restore") or {}
        database, instance = recorded.get("targetDatabase"), recorded.get("targetInstance")
        started = parse_time(run.status.get("startedAt")) or datetime.fromtimestamp(runner.started, UTC)
        duration = max(0.0, (outcome.completed_at - started).total_seconds())
        progress = dict(run.status.get("progress") or {})
        progress.update(percentage=100, currentPhase="Completed", bytesProcessed=result.stored_bytes)
        message = (
            f"Restored {recorded.get('sourceBackup')} into database {database} on instance {instance} in "
            f"{duration:.0f}s ({human_size(result.restored_bytes)} loaded from {human_size(result.stored_bytes)})"
        )
        draft.set(
            phase="Completed",
            message=message,
            completedAt=rfc3339(outcome.completed_at),
            runner=None,
            progress=progress,
            warnings=outcome.warnings or None,
        )
        draft.condition("Ready", True, "RestoreCompleted", message)
        draft.condition("Synced", True, "RestoreCompleted", "the restore completed")
        if outcome.warnings:
            draft.condition("OptionsHonored", False, "UnsupportedOption", "; ".join(outcome.warnings)[:1024])
        draft.normal_on_change("Completed", message, when=field_state("phase"))
        await self.write_status(run.raw, draft, run.rid)
        engine = self._engine(run)
        self._count(run, engine, "success")
        self.ctx.metrics.restore_duration.labels(engine, metric_namespace(run.namespace)).observe(duration)
        self.publish(run.obj, draft)
        self._wake_target(run, database, instance)

    async def _failed(self, run: RestoreRun, failure: RunFailed) -> None:
        draft, message = run.draft, sanitised(failure)
        draft.set(phase="Failed", message=message, runner=None)
        draft.condition("Ready", False, failure.reason, message)
        draft.condition("Synced", False, failure.reason, message)
        event = "DeadlineExceeded" if failure.reason == "DeadlineExceeded" else "Failed"
        draft.warning_on_change(event, f"Restore {run.name} failed: {message}", when=field_state("phase"))
        await self.write_status(run.raw, draft, run.rid)
        self._count(run, self._engine(run), "failure")
        self.publish(run.obj, draft)
        recorded = run.status.get("restore") or {}
        self._wake_target(run, recorded.get("targetDatabase"), recorded.get("targetInstance"))

    async def _validation_failed(self, run: RestoreRun, message: str) -> None:
        draft = run.draft
        draft.set(phase="Failed", message=message)
        draft.condition("Ready", False, "ValidationFailed", message)
        draft.condition("Synced", False, "ValidationFailed", message)
        draft.warning_on_change("ValidationFailed", f"Restore {run.name}: {message}", when=field_state("phase"))
        await self.write_status(run.raw, draft, run.rid)
        self._count(run, self._engine(run), "failure")
        self.publish(run.obj, draft)

    async def _pending(self, run: RestoreRun, reason: str, message: str) -> Result | None:
        draft = run.draft
        draft.set(phase="Pending", message=message)
        draft.condition("Ready", False, reason, message)
        await self.write_status(run.raw, draft, run.rid)
        self.publish(run.obj, draft)
        # The backup's watch opens DependencyNotReady; the other gates are looked at again.
        return None if reason == "DependencyNotReady" else Result(requeue_after=RECHECK_SECONDS)

    def _engine(self, run: RestoreRun) -> str:
        target = run.spec.target
        if target.instance_ref is None and target.cluster_instance_ref is None:
            return "unknown"
        instance = self._instance_raw(target_of(target, run.namespace)) or {}
        return str((instance.get("spec") or {}).get("engine") or "unknown")

    def _instance_raw(self, target: InstanceTarget) -> Obj | None:
        store = self.cluster_instances if target.key.kind == CLUSTER_INSTANCE.kind else self.instances
        return store.get(target.store_key)

    def _count(self, run: RestoreRun, engine: str, status: str) -> None:
        self.ctx.metrics.restore_operations.labels(engine, status, metric_namespace(run.namespace)).inc()

    def _wake_target(self, run: RestoreRun, database: str | None, instance: str | None) -> None:
        """The Database resource managing the target learns that a restore started or ended (10.3)."""
        ref = run.spec.target.database_ref
        if ref is not None:
            self.wake_database(f"{ref.namespace or run.namespace}/{ref.name}")
            return
        if database is None or instance is None:
            return
        for raw in self.databases.list():
            meta = raw.get("metadata") or {}
            if (raw.get("spec") or {}).get("name") == database:
                self.wake_database(f"{meta.get('namespace')}/{meta.get('name')}")

    @staticmethod
    async def _close(store: ObjectStore | None) -> None:
        if store is not None:
            with contextlib.suppress(StorageError):
                await store.close()

    # Deletion ---------------------------------------------------------------------------------------------------

    async def finalize(self, obj: DatabaseRestore, raw: Obj, rid: str) -> Result | None:
        """10.7: a running restore is cancelled (nothing is rolled back); series dropped; finalizer removed."""
        key = f"{obj.metadata.namespace}/{obj.metadata.name}"
        runner = await self.runners.cancel(key)
        self._stored_sizes.pop(key, None)
        if runner is not None:
            self.log.info("restore cancelled because the resource was deleted", restore=key)
            recorded = (raw.get("status") or {}).get("restore") or {}
            run = RestoreRun(obj, raw, self.draft(raw), rid)
            self._wake_target(run, recorded.get("targetDatabase"), recorded.get("targetInstance"))
        self.forget(obj.metadata.namespace, obj.metadata.name or "")
        await remove_finalizer(self.ctx.client, self.resource, raw, self.info.finalizer)
        return None


def _milestone(status: Mapping[str, Any]) -> int | None:
    progress = status.get("progress") or {}
    if progress.get("currentPhase") == "Completed":
        return None
    return crossed_milestone(int(progress.get("percentage") or 0))


def _merge_metadata(source: SourceSpec, meta: BackupMetadata) -> SourceSpec:
    """What a metadata file says, for the fields the spec left open."""
    compression = meta.compression.algorithm
    return SourceSpec(
        storage=source.storage,
        secrets_namespace=source.secrets_namespace,
        key=source.key,
        description=source.description,
        encryption=source.encryption,
        engine=meta.engine,
        database=meta.database,
        format=meta.format,
        checksum=meta.checksum,
        size=meta.compressed_size_bytes,
        table_count=meta.table_count,
        compression=source.compression or compression,  # type: ignore[arg-type]
    )
