"""Database: existence (create / take over / recreate), verify, apply, status, deletion (behaviour.md 7).

Events follow the state recorded in status: `Created` only when this reconcile created, took over or recreated the
database; `CreateFailed` / `ReconcileFailed` / `DeleteFailed` only for a first or different error (the last error is
kept in the `Synced` condition's message). A converged Database costs one catalog read per existence check and no
API write. Not yet in this build (noted in the issue): drift detection, initSQL and auto-ownership (issue 6), and the
Snapshot deletion policy, which needs backups.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from dbops.api.database import Database
from dbops.api.kinds import by_kind
from dbops.controllers import annotations as ann
from dbops.controllers.base import KindReconciler, Obj, StatusDraft
from dbops.controllers.context import OperatorContext, adapter_for, resource_of
from dbops.controllers.deletion import Dependent, cleanup_failed, run_gates
from dbops.controllers.instances import CLUSTER_INSTANCE, INSTANCE, InstanceProblem, ResolvedInstance, gate, target_of
from dbops.engines.base import EngineAdapter, EngineError, ObservedDatabase
from dbops.engines.connection import ConnectionFailure
from dbops.engines.errors import InvalidSpec
from dbops.metrics import metric_namespace
from dbops.runtime import Result, TransientError, remove_finalizer

CREATING_RECHECK_SECONDS = 2.0
GRANT_KINDS = ("DatabaseGrant",)


class DatabaseReconciler(KindReconciler[Database]):
    """Reconciles Database objects on every engine through the instance's adapter."""

    def __init__(self, ctx: OperatorContext) -> None:
        super().__init__(ctx, by_kind("Database"))
        self.instances = ctx.store(INSTANCE)
        self.cluster_instances = ctx.store(CLUSTER_INSTANCE)
        self.grant_stores = {k: ctx.store(by_kind(k)) for k in GRANT_KINDS}

    # Helpers ----------------------------------------------------------------------------------------------------

    def _operation(self, operation: str, engine: str, namespace: str, ok: bool, started: float) -> None:
        metrics = self.ctx.metrics
        metrics.database_operations.labels(operation, engine, "success" if ok else "failure", namespace).inc()
        metrics.database_operation_duration.labels(operation, engine, namespace).observe(time.monotonic() - started)

    def _fail_once(self, raw: Obj, draft: StatusDraft, rid: str, reason: str, message: str, event_message: str) -> None:
        """Record an error in Synced/Ready; emit its Warning only for a first or different error."""
        previous = draft.previous_condition("Synced") or {}
        if previous.get("reason") != reason or previous.get("message") != message:
            self.warning(raw, reason, event_message, rid)
        draft.condition("Synced", False, reason, message)

    async def _pending(self, raw: Obj, draft: StatusDraft, rid: str, message: str) -> None:
        draft.set(phase="Pending", message=message)
        draft.condition("Ready", False, "InstanceNotReady", message)
        await self.write_status(raw, draft, rid)

    # Reconcile --------------------------------------------------------------------------------------------------

    async def sync(self, obj: Database, raw: Obj, rid: str) -> Result | None:
        spec, name = obj.spec, obj.metadata.name or ""
        namespace = metric_namespace(obj.metadata.namespace)
        draft = self.draft(raw)
        target = target_of(spec, obj.metadata.namespace)
        instance, waiting = gate(target, self.instances, self.cluster_instances)
        if instance is None:
            await self._pending(raw, draft, rid, waiting)
            self._publish(obj, draft, target.key.name)
            return None  # woken by the instance's watch when it becomes Ready
        engine = instance.engine
        try:
            adapter = await adapter_for(self.ctx, instance)
            self.report_options(raw, draft, rid, adapter.unsupported_database_fields(spec, None), engine)
            async with self.ctx.servers.operation(instance.target.key):
                observed = await adapter.observe_database(spec.name)
                observed, fresh = await self._existence(obj, raw, draft, rid, adapter, observed, instance)
                if observed is None:
                    draft.set(phase="Creating", message="Database is initializing")
                    draft.condition("Ready", False, "Creating", "Database is initializing")
                    await self.write_status(raw, draft, rid)
                    return Result(requeue_after=CREATING_RECHECK_SECONDS)
                if fresh or draft.before.get("observedGeneration") != obj.metadata.generation:
                    started = time.monotonic()
                    try:
                        await adapter.apply_database(spec, observed, owner=spec.owner)
                    except (EngineError, InvalidSpec):
                        self._operation("update", engine, namespace, False, started)
                        raise
                    self._operation("update", engine, namespace, True, started)
                    observed = await adapter.observe_database(spec.name) or observed
        except InvalidSpec as error:
            message = str(error)
            draft.set(phase="Failed", message=message)
            draft.condition("Ready", False, "InvalidSpec", message)
            self._fail_once(raw, draft, rid, "InvalidSpec", message, f"Database {name}: {message}")
            await self.write_status(raw, draft, rid)
            self._publish(obj, draft, instance.name)
            return None  # permanent: woken by a spec change
        except (EngineError, ConnectionFailure, InstanceProblem) as error:
            draft.set(phase="Failed", message=str(error))
            draft.condition("Ready", False, "ReconcileFailed", str(error))
            self._fail_once(raw, draft, rid, "ReconcileFailed", str(error), f"Database {name}: apply failed: {error}")
            await self.write_status(raw, draft, rid)
            self._publish(obj, draft, instance.name)
            raise TransientError(str(error)) from None

        draft.set(
            phase="Ready",
            message="Database is ready",
            observedGeneration=obj.metadata.generation,
            database=self._database_status(draft, observed),
        )
        if observed.encoding is not None or observed.extensions or observed.schemas:
            draft.set(
                postgres={
                    "encoding": observed.encoding,
                    "collation": observed.collation,
                    "installedExtensions": [{"name": k, "version": v} for k, v in sorted(observed.extensions.items())],
                    "schemas": sorted(observed.schemas),
                }
            )
        if observed.charset is not None:
            draft.set(mysql={"charset": observed.charset, "collation": observed.collation})
        draft.condition("Synced", True, "ReconcileSuccess", "spec applied")
        draft.condition("Ready", True, "ReconcileSuccess", "Database is ready")
        await self.write_status(raw, draft, rid)
        self._publish(obj, draft, instance.name, observed)
        return Result(requeue_after=self.drift_interval(obj, instance))

    async def _existence(
        self,
        obj: Database,
        raw: Obj,
        draft: StatusDraft,
        rid: str,
        adapter: EngineAdapter,
        observed: ObservedDatabase | None,
        instance: ResolvedInstance,
    ) -> tuple[ObservedDatabase | None, bool]:
        """behaviour.md 7.3; returns the observed database (None while it does not accept sessions yet) and
        whether it was created, taken over or recreated by this reconcile."""
        spec = obj.spec
        namespace = metric_namespace(obj.metadata.namespace)
        created_at = (draft.before.get("database") or {}).get("createdAt")
        if observed is not None and created_at:
            return observed, False
        if observed is not None:
            self.ctx.metrics.adoptions.labels("Database", "success", namespace).inc()
            draft.set(database={**(draft.data.get("database") or {}), "createdAt": _now()})
            self.normal(raw, "Created", f"Took over existing database {spec.name} on instance {instance.name}")
            return observed, True
        started = time.monotonic()
        try:
            await adapter.create_database(spec, owner=spec.owner, comment=None)
        except (EngineError, ConnectionFailure, InstanceProblem) as error:
            self._operation("create", instance.engine, namespace, False, started)
            draft.set(phase="Failed", message=str(error))
            draft.condition("Ready", False, "CreateFailed", str(error))
            self._fail_once(
                raw,
                draft,
                rid,
                "CreateFailed",
                str(error),
                f"Failed to create database {spec.name} on instance {instance.name}: {error}",
            )
            await self.write_status(raw, draft, rid)
            raise TransientError(str(error)) from None
        self._operation("create", instance.engine, namespace, True, started)
        draft.set(database={**(draft.data.get("database") or {}), "createdAt": _now()})
        if created_at:
            self.normal(
                raw,
                "Created",
                f"Recreated database {spec.name} on instance {instance.name}; it had disappeared from the server",
            )
        else:
            self.normal(raw, "Created", f"Created database {spec.name} on instance {instance.name}")
        try:
            await adapter.verify_database(spec.name)
        except (EngineError, ConnectionFailure):
            return None, True
        return await adapter.observe_database(spec.name), True

    @staticmethod
    def _database_status(draft: StatusDraft, observed: ObservedDatabase) -> dict[str, Any]:
        status = dict(draft.data.get("database") or {})
        status.update({"name": observed.name, "owner": observed.owner, "sizeBytes": observed.size_bytes})
        return {k: v for k, v in status.items() if v is not None}

    def publish_stored(self, obj: Database, draft: StatusDraft) -> None:
        self._publish(obj, draft, target_of(obj.spec, obj.metadata.namespace).key.name)
        size = (draft.data.get("database") or {}).get("sizeBytes")
        instance = gate(target_of(obj.spec, obj.metadata.namespace), self.instances, self.cluster_instances)[0]
        if size is not None:
            engine = instance.engine if instance else "unknown"
            self.ctx.metrics.database_size.labels(
                obj.metadata.name,
                target_of(obj.spec, obj.metadata.namespace).key.name,
                engine,
                metric_namespace(obj.metadata.namespace),
            ).set(size)

    def _publish(
        self, obj: Database, draft: StatusDraft, instance: str, observed: ObservedDatabase | None = None
    ) -> None:
        metrics, name = self.ctx.metrics, obj.metadata.name or ""
        namespace = metric_namespace(obj.metadata.namespace)
        metrics.info.set(
            metrics.database_info,
            (namespace, name),
            {
                "database": name,
                "namespace": namespace,
                "instance_ref": instance,
                "db_name": obj.spec.name,
                "phase": draft.phase or "Pending",
            },
        )
        metrics.resources.observe(self.info.kind, self.info.phases, namespace, name, draft.phase)
        if observed is not None and observed.size_bytes is not None:
            engine = self.ctx.servers.cached(target_of(obj.spec, obj.metadata.namespace).key)
            metrics.database_size.labels(name, instance, engine.engine if engine else "unknown", namespace).set(
                observed.size_bytes
            )

    # Deletion ---------------------------------------------------------------------------------------------------

    def dependents(self, obj: Database) -> list[Dependent]:
        found = []
        for kind, store in self.grant_stores.items():
            info = by_kind(kind)
            for raw in store.list(obj.metadata.namespace):
                ref = (raw.get("spec") or {}).get("databaseRef") or {}
                if (
                    ref.get("name") == obj.metadata.name
                    and (ref.get("namespace") or raw["metadata"].get("namespace")) == obj.metadata.namespace
                ):
                    found.append(
                        Dependent(
                            kind, raw["metadata"].get("namespace") or "", raw["metadata"]["name"], resource_of(info)
                        )
                    )
        return sorted(found)

    async def finalize(self, obj: Database, raw: Obj, rid: str) -> Result | None:
        spec, name = obj.spec, obj.metadata.name or ""
        waiting = await run_gates(
            self,
            raw,
            rid,
            protected=spec.deletion_protection,
            protection_hint="set spec.deletionProtection=false",
            dependents=self.dependents(obj),
        )
        if waiting is not None:
            return waiting
        force = ann.is_true(obj.metadata.annotations, ann.FORCE_DELETE)
        target = target_of(spec, obj.metadata.namespace)
        namespace = metric_namespace(obj.metadata.namespace)
        draft = self.draft(raw)
        if spec.deletion_policy == "Retain":
            self.normal(
                raw,
                "Deleted",
                f"Released Database {name}; database {spec.name} kept on the server (deletionPolicy Retain)",
            )
        elif spec.deletion_policy == "Snapshot":
            message = "deletionPolicy Snapshot needs backups, which this build does not implement; the database is kept"
            if not force:
                draft.set(phase="Failed", message=message)
                draft.condition("Ready", False, "SnapshotStorageMissing", message)
                if (draft.previous_condition("Ready") or {}).get("reason") != "SnapshotStorageMissing":
                    self.warning(raw, "DeletionBlocked", f"Deletion of Database {name} is blocked: {message}", rid)
                await self.write_status(raw, draft, rid)
                return Result(requeue_after=60)
        else:
            instance, waiting_message = gate(target, self.instances, self.cluster_instances, for_cleanup=True)
            started = time.monotonic()
            try:
                if instance is None:
                    raise EngineError(waiting_message)
                adapter = await adapter_for(self.ctx, instance)
                async with self.ctx.servers.operation(instance.target.key):
                    await adapter.drop_database(spec.name)
            except (EngineError, ConnectionFailure, InstanceProblem) as error:
                engine = instance.engine if instance else "unknown"
                self._operation("delete", engine, namespace, False, started)
                what = f"database {spec.name} on instance {target.key.name}"
                retry = await cleanup_failed(self, raw, rid, error, what, force=force)
                if retry is not None:
                    return retry
            else:
                self._operation("delete", instance.engine, namespace, True, started)
                self.normal(raw, "Deleted", f"Dropped database {spec.name} from instance {instance.name}")
        self.forget(obj.metadata.namespace, name)
        await remove_finalizer(self.ctx.client, self.resource, raw, self.info.finalizer)
        return None

    def forget(self, namespace: str | None, name: str) -> None:
        metrics, label_namespace = self.ctx.metrics, metric_namespace(namespace)
        metrics.info.forget(metrics.database_info, (label_namespace, name))
        metrics.forget_object(database=name, namespace=label_namespace)
        metrics.resources.forget(self.info.kind, label_namespace, name)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
