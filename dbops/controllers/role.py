"""DatabaseRole and ClusterDatabaseRole: existence (create, take over, recreate), apply, deletion (behaviour.md 9).

One reconciler for both kinds, parameterised by kind like the instance controller: the cluster kind only differs in
its reference (`clusterInstanceRef` only), its dependents (cluster grants naming it without a namespace) and its
metric namespace (`_cluster`). Events follow the state recorded in status, as for Database: `Created` only when this
reconcile created, took over or recreated the role; `CreateFailed` / `ReconcileFailed` / `DeleteFailed` only for a
first or different error. Not yet in this build: drift detection, tracking comments and the ownership pre-check
before a drop (the drop reassigns what the role owns to the admin, as for users).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dbops.api.kinds import by_kind
from dbops.controllers import annotations as ann
from dbops.controllers.base import KindReconciler, Obj, StatusDraft
from dbops.controllers.context import OperatorContext, adapter_for, resource_of
from dbops.controllers.deletion import Dependent, cleanup_failed, run_gates
from dbops.controllers.instances import CLUSTER_INSTANCE, INSTANCE, InstanceProblem, gate, target_of
from dbops.engines.access import RoleGrantAdapter
from dbops.engines.base import EngineAdapter, EngineError
from dbops.engines.connection import ConnectionFailure
from dbops.engines.errors import InvalidSpec
from dbops.metrics import metric_namespace
from dbops.runtime import Result, TransientError, remove_finalizer

GRANT_KINDS = ("DatabaseGrant", "ClusterDatabaseGrant")
DELETE_RETRY_SECONDS = 30.0


class UnsupportedEngine(Exception):
    """The instance's engine has no role operations in this build (permanent until the spec changes)."""


def role_adapter(adapter: EngineAdapter, engine: str) -> RoleGrantAdapter:
    """The adapter's role and grant half, or `UnsupportedEngine` when it has none."""
    if not isinstance(adapter, RoleGrantAdapter):
        raise UnsupportedEngine(f"roles and grants are not supported on engine {engine} in this build")
    return adapter


class RoleReconciler(KindReconciler[Any]):
    """Reconciles DatabaseRole or ClusterDatabaseRole objects through the instance's adapter."""

    def __init__(self, ctx: OperatorContext, kind: str) -> None:
        super().__init__(ctx, by_kind(kind))
        self.instances = ctx.store(INSTANCE)
        self.cluster_instances = ctx.store(CLUSTER_INSTANCE)
        self.grant_stores = {k: ctx.store(by_kind(k)) for k in GRANT_KINDS}

    # Helpers ----------------------------------------------------------------------------------------------------

    def _operation(self, operation: str, engine: str, namespace: str, ok: bool) -> None:
        status = "success" if ok else "failure"
        self.ctx.metrics.role_operations.labels(operation, engine, status, namespace).inc()

    def _fail_once(self, raw: Obj, draft: StatusDraft, rid: str, reason: str, message: str, event_message: str) -> None:
        """Record an error in Synced; emit its Warning only for a first or different error."""
        previous = draft.previous_condition("Synced") or {}
        if previous.get("reason") != reason or previous.get("message") != message:
            self.warning(raw, reason, event_message, rid)
        draft.condition("Synced", False, reason, message)

    # Reconcile --------------------------------------------------------------------------------------------------

    async def sync(self, obj: Any, raw: Obj, rid: str) -> Result | None:
        spec, name = obj.spec, obj.metadata.name or ""
        role = spec.role_name
        namespace = metric_namespace(obj.metadata.namespace)
        draft = self.draft(raw)
        target = target_of(spec, obj.metadata.namespace)
        instance, waiting = gate(target, self.instances, self.cluster_instances)
        if instance is None:
            draft.set(phase="Pending", message=waiting)
            draft.condition("Ready", False, "InstanceNotReady", waiting)
            await self.write_status(raw, draft, rid)
            self._publish(obj, draft, target.key.name)
            return None  # woken by the instance's watch when it becomes Ready
        engine = instance.engine
        created_at = (draft.before.get("role") or {}).get("createdAt")
        step = "create"
        try:
            adapter = role_adapter(await adapter_for(self.ctx, instance), engine)
            async with self.ctx.servers.operation(instance.target.key):
                observed = await adapter.observe_role(role)
                fresh = observed is None or not created_at
                if observed is None:
                    await adapter.create_managed_role(spec)
                    self._operation("create", engine, namespace, True)
                    if created_at:
                        message = (
                            f"Recreated role {role} on instance {instance.name}; it had disappeared from the server"
                        )
                    else:
                        message = f"Created role {role} on instance {instance.name}"
                    self.normal(raw, "Created", message)
                elif not created_at:
                    await adapter.apply_managed_role(spec, observed)
                    self._operation("create", engine, namespace, True)
                    self.ctx.metrics.adoptions.labels(self.info.kind, "success", namespace).inc()
                    self.normal(raw, "Created", f"Took over existing role {role} on instance {instance.name}")
                elif draft.before.get("observedGeneration") != obj.metadata.generation:
                    step = "update"
                    await adapter.apply_managed_role(spec, observed)
                    self._operation("update", engine, namespace, True)
                if fresh:
                    draft.set(role={"name": role, "createdAt": _now()})
        except (InvalidSpec, UnsupportedEngine) as error:
            reason = "InvalidSpec" if isinstance(error, InvalidSpec) else "UnsupportedEngine"
            message = str(error)
            draft.set(phase="Failed", message=message)
            draft.condition("Ready", False, reason, message)
            self._fail_once(raw, draft, rid, "ReconcileFailed", message, f"{self.info.kind} {name}: {message}")
            await self.write_status(raw, draft, rid)
            self._publish(obj, draft, instance.name)
            return None  # permanent: woken by a spec change
        except (EngineError, ConnectionFailure, InstanceProblem) as error:
            self._operation(step, engine, namespace, False)
            reason = "CreateFailed" if step == "create" else "ReconcileFailed"
            event = (
                f"Failed to create role {role} on instance {instance.name}: {error}"
                if step == "create"
                else f"{self.info.kind} {name}: apply failed: {error}"
            )
            draft.set(phase="Failed", message=str(error))
            draft.condition("Ready", False, reason, str(error))
            self._fail_once(raw, draft, rid, reason, str(error), event)
            await self.write_status(raw, draft, rid)
            self._publish(obj, draft, instance.name)
            raise TransientError(str(error)) from None

        if not draft.data.get("role"):
            draft.set(role={"name": role})
        draft.set(phase="Ready", message="Role is ready", observedGeneration=obj.metadata.generation)
        draft.condition("Synced", True, "ReconcileSuccess", "spec applied")
        draft.condition("Ready", True, "ReconcileSuccess", "Role is ready")
        await self.write_status(raw, draft, rid)
        self._publish(obj, draft, instance.name)
        return Result(requeue_after=self.drift_interval(obj, instance))

    def publish_stored(self, obj: Any, draft: StatusDraft) -> None:
        self._publish(obj, draft, target_of(obj.spec, obj.metadata.namespace).key.name)

    def _publish(self, obj: Any, draft: StatusDraft, instance: str) -> None:
        metrics, name = self.ctx.metrics, obj.metadata.name or ""
        namespace = metric_namespace(obj.metadata.namespace)
        metrics.info.set(
            metrics.role_info,
            (namespace, name),
            {
                "role": name,
                "namespace": namespace,
                "instance_ref": instance,
                "role_name": obj.spec.role_name,
                "phase": draft.phase or "Pending",
            },
        )
        metrics.resources.observe(self.info.kind, self.info.phases, namespace, name, draft.phase)

    # Deletion ---------------------------------------------------------------------------------------------------

    def dependents(self, obj: Any) -> list[Dependent]:
        """Grants and cluster grants whose roleRef names this role (api.md 3.2), in every namespace."""
        role_namespace = obj.metadata.namespace or ""
        found = []
        for kind, store in self.grant_stores.items():
            info = by_kind(kind)
            for grant in store.list():
                ref = (grant.get("spec") or {}).get("roleRef") or {}
                grant_ns = grant["metadata"].get("namespace") or ""
                if ref.get("name") != obj.metadata.name:
                    continue
                # A DatabaseGrant's roleRef defaults to its own namespace; a cluster grant's empty one means a
                # ClusterDatabaseRole.
                ref_namespace = ref.get("namespace") or (grant_ns if kind == "DatabaseGrant" else "")
                if ref_namespace == role_namespace:
                    found.append(Dependent(kind, grant_ns, grant["metadata"]["name"], resource_of(info)))
        return sorted(found)

    async def finalize(self, obj: Any, raw: Obj, rid: str) -> Result | None:
        annotations = obj.metadata.annotations
        waiting = await run_gates(
            self,
            raw,
            rid,
            protected=ann.is_true(annotations, ann.DELETION_PROTECTION),
            protection_hint=f"remove the {ann.DELETION_PROTECTION} annotation",
            dependents=self.dependents(obj),
        )
        if waiting is not None:
            return waiting
        spec, name = obj.spec, obj.metadata.name or ""
        force = ann.is_true(annotations, ann.FORCE_DELETE)
        policy = annotations.get(ann.DELETION_POLICY, "Delete")
        namespace = metric_namespace(obj.metadata.namespace)
        if policy != "Delete":
            self.normal(
                raw,
                "Deleted",
                f"Released {self.info.kind} {name}; role {spec.role_name} kept on the server (deletion-policy Retain)",
            )
        else:
            target = target_of(spec, obj.metadata.namespace)
            instance, waiting_message = gate(target, self.instances, self.cluster_instances, for_cleanup=True)
            try:
                if instance is None:
                    raise EngineError(waiting_message)
                adapter = role_adapter(await adapter_for(self.ctx, instance), instance.engine)
                async with self.ctx.servers.operation(instance.target.key):
                    await adapter.drop_managed_role(spec)
            except (EngineError, ConnectionFailure, InstanceProblem, UnsupportedEngine, InvalidSpec) as error:
                self._operation("delete", instance.engine if instance else "unknown", namespace, False)
                retry = await cleanup_failed(
                    self, raw, rid, error, f"role {spec.role_name}", force=force, retry_seconds=DELETE_RETRY_SECONDS
                )
                if retry is not None:
                    return retry
            else:
                self._operation("delete", instance.engine, namespace, True)
                self.normal(raw, "Deleted", f"Dropped role {spec.role_name} from instance {instance.name}")
        self.forget(obj.metadata.namespace, name)
        await remove_finalizer(self.ctx.client, self.resource, raw, self.info.finalizer)
        return None

    def forget(self, namespace: str | None, name: str) -> None:
        metrics, label_namespace = self.ctx.metrics, metric_namespace(namespace)
        metrics.info.forget(metrics.role_info, (label_namespace, name))
        metrics.resources.forget(self.info.kind, label_namespace, name)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
