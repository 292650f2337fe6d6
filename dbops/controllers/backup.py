"""DatabaseBackup: gates, one runner per attempt, progress, outcome, retries, TTL and deletion (backup.md 1, 3).

The reconcile never waits for a dump. It starts a background runner (:mod:`runners`) and returns; the runner does
the work (:mod:`backup_attempt`) and wakes the object, and the next reconcile records what happened. While a
runner runs, the object is requeued every 15 s to record progress. So every status write and event lives here and
follows the recorded state (:mod:`transitions`): `Started` when a new attempt is recorded Running, `ProgressUpdated`
when a new 25/50/75 % milestone is recorded, `Completed` and `Failed` when the phase becomes one of them.

A `Running` backup without a runner in this process was interrupted (the operator restarted, or leadership moved):
that attempt is over and is handled as a failed attempt, retried when the retry policy allows (section 1).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dbops.api.backup import DatabaseBackup, DatabaseBackupSpec
from dbops.api.kinds import by_kind
from dbops.backup import CompressionSettings, EncryptionSettings, choose_part_size
from dbops.backup.errors import BackupError
from dbops.backup.metadata import BackupReference
from dbops.backup.naming import backup_name, candidate_keys, metadata_key, object_key
from dbops.config import parse_duration
from dbops.controllers import annotations as ann
from dbops.controllers.backup_attempt import AttemptOutcome, AttemptPlan, run_attempt
from dbops.controllers.backup_storage import StorageSetupProblem, backup_store, encryption_key
from dbops.controllers.base import KindReconciler, Obj, StatusDraft
from dbops.controllers.context import OperatorContext
from dbops.controllers.instances import (
    CLUSTER_INSTANCE,
    INSTANCE,
    InstanceProblem,
    ResolvedInstance,
    connection_settings,
    instance_is_ready,
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
from dbops.controllers.restore_targets import restore_running_into
from dbops.controllers.runners import Runner, Runners
from dbops.controllers.transitions import all_of, condition_state, field_state
from dbops.engines.base import EngineError
from dbops.engines.connection import ConnectionFailure
from dbops.engines.dump import DumpRequest, dump_method
from dbops.engines.errors import InvalidSpec
from dbops.metrics import metric_namespace
from dbops.runtime import Result, remove_finalizer
from dbops.runtime.leader import default_identity
from dbops.storage import ObjectStore, StorageError

PROGRESS_INTERVAL = 15.0
"""How often a running backup records its progress (backup.md 3.2 step 5)."""
DELETE_BACKOFF = (30.0, 300.0)
RETAIN = "Retain"
SNAPSHOT_LABEL = ann.PREFIX + "snapshot"


class AttemptFailed(Exception):
    """An attempt ended without a backup; ``reason`` is the Failed reason (BackupFailed, DeadlineExceeded…)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class BackupRun(OperationRun[DatabaseBackup]):
    """One reconcile of one backup."""

    @property
    def spec(self) -> DatabaseBackupSpec:
        return self.obj.spec


@dataclass(frozen=True)
class Target:
    """What the backup reads: the Database on the server, its Ready instance, and the engine's facts."""

    database: str
    """The name on the server."""
    instance: ResolvedInstance
    estimate: int
    version: str | None


def milestone(status: Mapping[str, Any]) -> int | None:
    """The highest 25/50/75 % milestone the recorded progress has crossed (None below 25 % or without estimate)."""
    progress = status.get("progress") or {}
    if not progress.get("estimatedTotalBytes") or progress.get("currentPhase") == "Completed":
        return None
    return crossed_milestone(int(progress.get("percentage") or 0))


class BackupReconciler(KindReconciler[DatabaseBackup]):
    """Reconciles DatabaseBackup objects; see the module docstring."""

    info_family = "backup_info"

    def __init__(self, ctx: OperatorContext) -> None:
        super().__init__(ctx, by_kind("DatabaseBackup"))
        self.databases = ctx.store(by_kind("Database"))
        self.restores = ctx.store(by_kind("DatabaseRestore"))
        self.instances, self.cluster_instances = ctx.store(INSTANCE), ctx.store(CLUSTER_INSTANCE)
        self.runners: Runners[AttemptOutcome] = Runners("backup", ctx.config.max_concurrent_backups)
        elector = getattr(ctx.manager, "elector", None)
        self.identity = getattr(elector, "identity", None) or default_identity()

    def info_labels(self, obj: DatabaseBackup, draft: StatusDraft) -> dict[str, str]:
        return {
            "backup": obj.metadata.name or "",
            "database_ref": obj.spec.database_ref.name,
            "storage_type": obj.spec.storage.type,
        }

    # The flow ---------------------------------------------------------------------------------------------------

    async def sync(self, obj: DatabaseBackup, raw: Obj, rid: str) -> Result | None:
        run = BackupRun(obj, raw, self.draft(raw), rid)
        runner = self.runners.get(run.key)
        if runner is not None:
            return await (self._record_outcome(run, runner) if runner.done else self._record_progress(run, runner))
        phase = run.draft.phase
        if phase == "Completed":
            return await self._expire_when_due(run)
        if phase == "Failed":
            self.publish(obj, run.draft)
            return None
        if phase == "Running":
            interrupted = AttemptFailed("Interrupted", "interrupted: the operator restarted during the backup")
            return await self._attempt_failed(run, interrupted)
        if (wait := self._retry_wait(run)) is not None:
            return Result(requeue_after=wait)
        return await self._start(run)

    async def _start(self, run: BackupRun) -> Result | None:
        """Checks, gates, then a runner: backup.md 3.2 steps 2-4."""
        try:
            self._report_options(run)
            target = self._gate(run)
            plan = await self._plan(run, target)
        except Waiting as waiting:
            self.runners.forget_waiting(run.key)
            return await self._pending(run, waiting.reason, str(waiting))
        except (InvalidSpec, StorageSetupProblem, StorageError) as problem:
            self.runners.forget_waiting(run.key)
            return await self._invalid_or_waiting(run, problem)
        go = asyncio.Event()
        created = (parse_time(run.raw["metadata"].get("creationTimestamp")) or datetime.now(UTC)).timestamp()
        attempt = int(run.status.get("attempts") or 0) + 1
        runner = self.runners.start(run.key, created, attempt, self._work(run, plan, target, go))
        if runner is None:
            await plan.store.close()
            return await self._pending(run, "WaitingForSlot", "Waiting for a free backup slot")
        try:
            await self._record_started(run, plan, target, attempt)
        except BaseException:
            await self.runners.cancel(run.key)
            raise
        go.set()
        return Result(requeue_after=PROGRESS_INTERVAL)

    # Checks and gates -------------------------------------------------------------------------------------------

    def _report_options(self, run: BackupRun) -> None:
        """Reported and the backup proceeds (3.2 step 2, first list)."""
        spec, fields = run.spec, []
        if spec.postgres is not None and spec.postgres.method == "pg_basebackup":
            fields.append("postgres.method")
        if spec.mysql is not None and spec.mysql.method in ("xtrabackup", "mysqlpump"):
            fields.append("mysql.method")
        if spec.postgres is not None and spec.postgres.jobs > 1 and spec.postgres.format != "directory":
            fields.append("postgres.jobs")
        if spec.ttl:
            try:
                parse_duration(spec.ttl)
            except ValueError:
                fields.append("ttl")
        self.report_options(run.raw, run.draft, fields, self._engine_hint(run))

    def _engine_hint(self, run: BackupRun) -> str:
        database = self._database(run)
        if database is None:
            return "this engine"
        spec = database.get("spec") or {}
        try:
            target = target_of(by_kind("Database").model.model_validate(database).spec, run.namespace)
        except ValueError:
            return "this engine"
        instance = self._instance_raw(target) or {}
        return str((instance.get("spec") or {}).get("engine") or spec.get("engine") or "this engine")

    def _database(self, run: BackupRun) -> Obj | None:
        ref = run.spec.database_ref
        return self.databases.get(f"{ref.namespace or run.namespace}/{ref.name}")

    def _instance_raw(self, target: Any) -> Obj | None:
        store = self.cluster_instances if target.key.kind == CLUSTER_INSTANCE.kind else self.instances
        return store.get(target.store_key)

    def _gate(self, run: BackupRun) -> Target:
        """The Database Ready (or being deleted, for its snapshot), its instance Ready, no restore into it."""
        ref = run.spec.database_ref
        namespace = ref.namespace or run.namespace
        database = self._database(run)
        description = f"Database {namespace}/{ref.name}"
        if database is None:
            raise Waiting("DependencyNotReady", f"Waiting for {description}: not found")
        snapshot = (run.raw["metadata"].get("labels") or {}).get(SNAPSHOT_LABEL) == "true"
        deleting = bool((database.get("metadata") or {}).get("deletionTimestamp"))
        if not instance_is_ready(database) and not (snapshot and deleting):
            phase = (database.get("status") or {}).get("phase") or "Pending"
            raise Waiting("DependencyNotReady", f"Waiting for {description}: it is {phase}")
        model = by_kind("Database").model.model_validate(database)
        target = target_of(model.spec, namespace)
        instance, problem = checked_gate(self.ctx.references, namespace, target, self.instances, self.cluster_instances)
        if instance is None:
            raise Waiting("InstanceNotReady", f"Waiting for {problem}")
        status = database.get("status") or {}
        server_name = (status.get("database") or {}).get("name") or model.spec.name
        instance_key = instance.target.store_key
        if restore_running_into(
            self.restores, resource=(namespace, ref.name), instance=instance_key, server_name=server_name
        ):
            raise Waiting("RestoreInProgress", f"Waiting for the restore into {description} to finish")
        estimate = int((status.get("database") or {}).get("sizeBytes") or 0)
        version = (instance.raw.get("status") or {}).get("version")
        return Target(server_name, instance, estimate, version)

    async def _plan(self, run: BackupRun, target: Target) -> AttemptPlan:
        """Everything the attempt needs; raises before anything starts (3.2 step 2, second list; step 3)."""
        spec, engine = run.spec, target.instance.engine
        if engine not in ("postgres", "mysql", "mariadb"):
            raise InvalidSpec("spec.databaseRef", f"backups of {engine} databases are not supported by this build")
        key_material = await encryption_key(self.ctx.client, self.ctx.references, spec.encryption, run.namespace)
        store = await backup_store(
            self.ctx.client,
            self.ctx.references,
            spec.storage,
            run.namespace,
            pvc_mount_root=self.ctx.config.pvc_mount_root,
        )
        if spec.storage.type == "pvc":
            try:
                store.check_mounted(for_write=True)  # type: ignore[attr-defined]
            except StorageError:
                await store.close()
                raise
        compression = (
            CompressionSettings(spec.compression.algorithm, spec.compression.level)
            if spec.compression is not None and spec.compression.enabled
            else None
        )
        encryption = (
            EncryptionSettings(key_material, spec.encryption.algorithm)
            if key_material is not None and spec.encryption is not None
            else None
        )
        started = datetime.now(UTC).replace(microsecond=0)
        dump_format = (spec.postgres.format if spec.postgres else "custom") if engine == "postgres" else "mysqldump"
        name = backup_name(
            target.database,
            run.name,
            started,
            format=dump_format,
            compression=compression.algorithm if compression else None,
            encrypted=encryption is not None,
        )
        key = object_key(spec.storage.prefix, name)
        instance = target.instance
        namespace = instance.target.key.namespace or None
        settings = await connection_settings(
            self.ctx.client, instance.spec, namespace, self.ctx.config.operator_namespace
        )
        request = DumpRequest(
            settings,
            target.database,
            postgres=spec.postgres,
            mysql=spec.mysql,
            operator_compression=compression is not None,
            scratch_dir=None,
            server_version=target.version,
        )
        method = dump_method(engine)
        return AttemptPlan(
            store=store,
            key=key,
            open_source=lambda: method.open_dump(request),
            engine=engine,
            server_version=target.version,
            database=target.database,
            backup=BackupReference(name=run.name, namespace=run.namespace, uid=run.obj.metadata.uid or ""),
            started_at=started,
            format=dump_format,
            compression=compression,
            encryption=encryption,
            part_size=choose_part_size(target.estimate, self.ctx.config.backup_part_size),
        )

    # The runner -------------------------------------------------------------------------------------------------

    def _work(
        self, run: BackupRun, plan: AttemptPlan, target: Target, go: asyncio.Event
    ) -> Callable[[Runner[AttemptOutcome]], Any]:
        deadline = float(run.spec.active_deadline_seconds)

        async def work(runner: Runner[AttemptOutcome]) -> AttemptOutcome:
            try:
                await go.wait()
            except BaseException:
                await plan.store.close()
                raise

            def progress(count: int) -> None:
                runner.processed = count

            async with self.ctx.servers.operation(target.instance.target.key):
                try:
                    async with asyncio.timeout(deadline):
                        return await run_attempt(plan, progress)
                except TimeoutError:
                    raise AttemptFailed(
                        "DeadlineExceeded",
                        f"the attempt did not finish within activeDeadlineSeconds ({int(deadline)} s)",
                    ) from None

        return work

    # Recording --------------------------------------------------------------------------------------------------

    async def _record_started(self, run: BackupRun, plan: AttemptPlan, target: Target, attempt: int) -> None:
        draft, spec = run.draft, run.spec
        retries = spec.retry_policy.max_retries if spec.retry_policy else 0
        of = f" (attempt {attempt} of {retries + 1})" if spec.retry_policy else ""
        location = self._location(run)
        draft.set(
            phase="Running",
            message=f"Backing up database {target.database}",
            startedAt=rfc3339(plan.started_at),
            completedAt=None,
            nextAttemptAt=None,
            attempts=attempt,
            runner=self.identity,
            source={
                "instance": target.instance.name,
                "database": target.database,
                "engine": plan.engine,
                "version": target.version,
                "timestamp": rfc3339(plan.started_at),
            },
            backup={"path": plan.key},
            progress={
                "bytesProcessed": 0,
                "estimatedTotalBytes": target.estimate,
                "percentage": 0,
                "currentPhase": "Starting",
            },
        )
        draft.condition("Ready", False, "Running", f"Backing up database {target.database}")
        draft.condition("Synced", False, "Running", "the backup is running")
        draft.normal_on_change(
            "Started",
            f"Started backup of database {target.database} ({plan.engine}, instance {target.instance.name}) to "
            f"{spec.storage.type} {location}/{plan.key}{of}",
            when=all_of(field_state("phase"), field_state("attempts")),
        )
        await self.write_status(run.raw, draft, run.rid)
        self.publish(run.obj, draft)

    async def _record_progress(self, run: BackupRun, runner: Runner[AttemptOutcome]) -> Result:
        draft = run.draft
        progress = dict(run.status.get("progress") or {})
        estimate = int(progress.get("estimatedTotalBytes") or 0)
        processed = runner.processed
        percentage = min(99, processed * 100 // estimate) if estimate else 0
        progress.update(
            bytesProcessed=processed,
            percentage=percentage,
            currentPhase="Dumping" if processed else "Starting",
        )
        draft.set(progress=progress)
        if (reached := milestone(draft.data)) is not None:
            database = (run.status.get("source") or {}).get("database") or run.spec.database_ref.name
            draft.normal_on_change(
                "ProgressUpdated",
                f"Backup of {database} at {reached}% ({human_size(processed)} of about {human_size(estimate)})",
                when=milestone,
            )
        await self.write_status(run.raw, draft, run.rid)
        return Result(requeue_after=PROGRESS_INTERVAL)

    async def _record_outcome(self, run: BackupRun, runner: Runner[AttemptOutcome]) -> Result | None:
        self.runners.take(run.key)
        outcome = runner.outcome()
        if isinstance(outcome, AttemptOutcome):
            return await self._completed(run, runner, outcome)
        if isinstance(outcome, AttemptFailed):
            return await self._attempt_failed(run, outcome)
        if isinstance(outcome, (BackupError, EngineError, ConnectionFailure, InstanceProblem, OSError)):
            return await self._attempt_failed(run, AttemptFailed("BackupFailed", sanitised(outcome)))
        if isinstance(outcome, asyncio.CancelledError):
            return await self._attempt_failed(run, AttemptFailed("BackupFailed", "the backup was cancelled"))
        self.log.error("backup runner crashed", backup=run.key, error=repr(outcome))
        return await self._attempt_failed(run, AttemptFailed("BackupFailed", f"internal error: {sanitised(outcome)}"))

    async def _completed(self, run: BackupRun, runner: Runner[AttemptOutcome], outcome: AttemptOutcome) -> Result:
        draft, meta = run.draft, outcome.metadata
        result = outcome.result
        key = str((run.status.get("backup") or {}).get("path"))
        started = parse_time(run.status.get("startedAt")) or meta.started_at
        duration = max(0.0, (outcome.completed_at - started).total_seconds())
        expires = self._expiry(run, outcome.completed_at)
        draft.set(
            phase="Completed",
            message=f"Backup completed: {human_size(result.stored_bytes)} at {key}",
            completedAt=rfc3339(outcome.completed_at),
            expiresAt=rfc3339(expires) if expires else None,
            lastAttemptError=None,
            backup={
                "path": key,
                "sizeBytes": result.size_bytes,
                "compressedSizeBytes": result.stored_bytes,
                "checksum": result.checksum,
                "format": meta.format,
                "compression": meta.compression.algorithm,
                "encryption": meta.encryption.algorithm,
                "tableCount": meta.table_count or 0,
                "metadataPath": metadata_key(key),
            },
            backupSize=human_size(result.stored_bytes),
            progress={
                "bytesProcessed": result.size_bytes,
                "estimatedTotalBytes": int((run.status.get("progress") or {}).get("estimatedTotalBytes") or 0),
                "percentage": 100,
                "currentPhase": "Completed",
            },
        )
        draft.condition("Ready", True, "BackupCompleted", f"{human_size(result.stored_bytes)} stored at {key}")
        draft.condition("Synced", True, "BackupCompleted", "the backup completed")
        draft.normal_on_change(
            "Completed",
            f"Backup of {meta.database} completed in {duration:.0f}s: {human_size(result.stored_bytes)} stored "
            f"({human_size(result.size_bytes)} raw), checksum {result.checksum[:19]}…, at {key}",
            when=field_state("phase"),
        )
        await self.write_status(run.raw, draft, run.rid)
        self._count(run, meta.engine, "success")
        namespace = metric_namespace(run.namespace)
        metrics = self.ctx.metrics
        metrics.backup_duration.labels(meta.engine, namespace).observe(duration)
        database = run.spec.database_ref.name
        metrics.backup_size.labels(database, meta.engine, namespace).set(result.stored_bytes)
        metrics.backup_last_success.labels(database, meta.engine, namespace).set(outcome.completed_at.timestamp())
        self.publish(run.obj, draft)
        return Result(requeue_after=self._until(expires)) if expires else Result()

    async def _attempt_failed(self, run: BackupRun, failure: AttemptFailed) -> Result | None:
        """A failed attempt (3.2 step 7): retried when the policy allows, else final."""
        draft, policy = run.draft, run.spec.retry_policy
        attempts = int(run.status.get("attempts") or 0)
        message = sanitised(failure)
        draft.set(lastAttemptError=message, runner=None)
        if policy is not None and failure.reason != "InvalidSpec" and attempts <= policy.max_retries:
            retry_at = datetime.now(UTC) + timedelta(seconds=policy.delay_seconds(max(attempts, 1)))
            text = f"attempt {attempts} failed: {message}; retry at {rfc3339(retry_at)}"
            draft.set(phase="Pending", message=text, nextAttemptAt=rfc3339(retry_at))
            draft.condition("Ready", False, "RetryScheduled", text)
            draft.condition("Synced", False, "RetryScheduled", text)
            await self.write_status(run.raw, draft, run.rid)
            self.publish(run.obj, draft)
            return Result(requeue_after=self._until(retry_at))
        await self._failed(run, failure.reason, message, attempts)
        return None

    async def _failed(self, run: BackupRun, reason: str, message: str, attempts: int) -> None:
        draft = run.draft
        draft.set(phase="Failed", message=message, nextAttemptAt=None)
        draft.condition("Ready", False, reason, message)
        draft.condition("Synced", False, reason, message)
        database = (run.status.get("source") or {}).get("database") or run.spec.database_ref.name
        draft.warning_on_change(
            "Failed",
            f"Backup of {database} failed after {attempts} attempt(s): {message}",
            when=field_state("phase"),
        )
        await self.write_status(run.raw, draft, run.rid)
        self._count(run, self._engine_hint(run), "failure")
        self.publish(run.obj, draft)

    async def _invalid_or_waiting(self, run: BackupRun, problem: Exception) -> Result | None:
        reason = getattr(problem, "reason", "InvalidSpec")
        if reason == "SecretNotFound":
            return await self._pending(run, reason, f"Waiting for {problem}")
        if isinstance(problem, StorageError):
            # An unmounted PVC fails at once (3.2 step 3): waiting would never succeed without a redeploy.
            reason = "BackupFailed"
        await self._failed(
            run,
            reason if reason != "InvalidOptionValue" else "InvalidSpec",
            str(problem),
            int(run.status.get("attempts") or 0),
        )
        return None

    async def _pending(self, run: BackupRun, reason: str, message: str) -> Result | None:
        draft = run.draft
        draft.set(phase="Pending", message=message)
        draft.condition("Ready", False, reason, message)
        await self.write_status(run.raw, draft, run.rid)
        self.publish(run.obj, draft)
        # Secrets and slots wake nobody by watch in this build: look again.
        return Result(requeue_after=10.0) if reason in ("SecretNotFound", "WaitingForSlot") else None

    def _count(self, run: BackupRun, engine: str, status: str) -> None:
        self.ctx.metrics.backup_operations.labels(engine, status, metric_namespace(run.namespace)).inc()

    # Retries and expiry -----------------------------------------------------------------------------------------

    def _retry_wait(self, run: BackupRun) -> float | None:
        """Seconds until a scheduled retry, None when it is due (or none is scheduled)."""
        at = parse_time(run.status.get("nextAttemptAt"))
        if at is None or run.draft.phase != "Pending":
            return None
        remaining = self._until(at)
        return remaining if remaining > 0.5 else None

    def _expiry(self, run: BackupRun, completed_at: datetime) -> datetime | None:
        labels = run.raw["metadata"].get("labels") or {}
        if not run.spec.ttl or labels.get(SNAPSHOT_LABEL) == "true":
            return None
        try:
            return completed_at + timedelta(seconds=parse_duration(run.spec.ttl))
        except ValueError:
            return None

    @staticmethod
    def _until(moment: datetime) -> float:
        return max(0.0, moment.timestamp() - time.time())

    async def _expire_when_due(self, run: BackupRun) -> Result | None:
        """TTL (3.4): at `expiresAt` the resource is deleted; the finalizer removes the stored files."""
        self.publish(run.obj, run.draft)
        expires = parse_time(run.status.get("expiresAt"))
        if expires is None:
            return None
        if (remaining := self._until(expires)) > 0:
            return Result(requeue_after=remaining)
        self.normal(run.raw, "Expired", f"Backup {run.name} expired at {rfc3339(expires)} (ttl {run.spec.ttl})")
        await self.ctx.client.delete(self.resource, run.name, run.namespace)
        return None

    def _location(self, run: BackupRun) -> str:
        storage = run.spec.storage
        if storage.s3 is not None:
            return storage.s3.bucket
        if storage.gcs is not None:
            return storage.gcs.bucket
        if storage.azure is not None:
            return storage.azure.container
        return storage.pvc.claim_name if storage.pvc is not None else ""

    # Deletion ---------------------------------------------------------------------------------------------------

    async def finalize(self, obj: DatabaseBackup, raw: Obj, rid: str) -> Result | None:
        """3.5: cancel a running attempt, Deleting, remove the stored object and metadata unless Retain."""
        run = BackupRun(obj, raw, self.draft(raw), rid)
        await self.runners.cancel(run.key)
        annotations = raw["metadata"].get("annotations") or {}
        draft = run.draft
        if draft.phase != "Deleting":
            draft.set(phase="Deleting", message="Deleting the backup")
            draft.condition("Ready", False, "Deleting", "the backup is being deleted")
            await self.write_status(raw, draft, rid)
        key = (run.status.get("backup") or {}).get("path")
        if key and annotations.get(ann.DELETION_POLICY) != RETAIN:
            try:
                await self._delete_stored(run, str(key))
            except (StorageError, StorageSetupProblem) as error:
                if not ann.is_true(annotations, ann.FORCE_DELETE):
                    message = f"Failed to delete stored backup {key}: {error}"
                    draft.condition("Synced", False, "DeleteFailed", message)
                    draft.warning_on_change("DeleteFailed", message, when=condition_state("Synced", "message"))
                    await self.write_status(raw, draft, rid)
                    return Result(requeue=True)
        self.forget(obj.metadata.namespace, obj.metadata.name or "")
        await remove_finalizer(self.ctx.client, self.resource, raw, self.info.finalizer)
        return None

    async def _delete_stored(self, run: BackupRun, key: str) -> None:
        store: ObjectStore = await backup_store(
            self.ctx.client,
            self.ctx.references,
            run.spec.storage,
            run.namespace,
            pvc_mount_root=self.ctx.config.pvc_mount_root,
        )
        try:
            for candidate in candidate_keys(key, run.spec.storage.prefix):
                if await store.stat(candidate) is not None or await store.stat(metadata_key(candidate)) is not None:
                    await store.delete(candidate)
                    await store.delete(metadata_key(candidate))
                    return
        finally:
            await store.close()
