"""DatabaseRole and ClusterDatabaseRole: existence (create, take over, recreate), apply, deletion (behaviour.md 9).

One reconciler for both kinds, parameterised by kind like the instance controller: the cluster kind only differs in
its reference (`clusterInstanceRef` only), its dependents (cluster grants naming it without a namespace) and its
metric namespace (`_cluster`). Events follow the state recorded in status, as for Database: `Created` only when this
reconcile created, took over or recreated the role; `CreateFailed` / `ReconcileFailed` / `DeleteFailed` only for a
first or different error.

Drift (behaviour.md 9, 11) goes through the shared `DriftChecker`: the engine's drift half reads attributes,
memberships and the role's own `grants[]` back; "extra" memberships and privileges are relative to everything the
operator declares for the role — its own spec and every grant resource whose `roleRef` names it
(`declared_for_role`). Engines without drift support get no check (Synced reflects the apply only).

Deletion with policy Delete runs the ownership pre-check of users (behaviour.md 8.7 step 3) for the role name: owned
objects block with `OwnershipBlocks` unless force-delete or cascade authority is in effect, in which case the drop
reassigns and drops what the role owns per database before dropping it.

Not yet in this build: tracking comments.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dbops.api.kinds import by_kind
from dbops.controllers import annotations as ann
from dbops.controllers.base import KindReconciler, Obj, StatusDraft
from dbops.controllers.context import OperatorContext, adapter_for, resource_of
from dbops.controllers.declared_prerequisites import PrerequisiteGate
from dbops.controllers.deletion import (
    Dependent,
    blocked_by_owned_objects,
    cleanup_failed,
    force_in_effect,
    listing,
    run_gates,
)
from dbops.controllers.drift import DriftChecker, DriftOutcome, EffectivePolicy, effective_policy
from dbops.controllers.instances import (
    CLUSTER_INSTANCE,
    INSTANCE,
    InstanceProblem,
    InstanceTarget,
    ResolvedInstance,
    target_of,
)
from dbops.controllers.references import refuse_admin_account
from dbops.controllers.server_ownership import ROLES
from dbops.engines.access import DeclaredAccess, Difference, RoleGrantAdapter, drift_support
from dbops.engines.base import EngineAdapter, EngineError, OwnedObject
from dbops.engines.connection import ConnectionFailure
from dbops.engines.errors import InvalidSpec
from dbops.engines.registry import InstanceKey
from dbops.metrics import metric_namespace
from dbops.runtime import ApiError, Result, TransientError, remove_finalizer

GRANT_KINDS = ("DatabaseGrant", "ClusterDatabaseGrant")
DELETE_RETRY_SECONDS = 30.0
OWNERSHIP_RECHECK_SECONDS = 30.0
DROP_RETRY_PAUSE_SECONDS = 1.0


class UnsupportedEngine(Exception):
    """The instance's engine has no role operations in this build (permanent until the spec changes)."""


def role_adapter(adapter: EngineAdapter, engine: str) -> RoleGrantAdapter:
    """The adapter's role and grant half, or `UnsupportedEngine` when it has none."""
    if not isinstance(adapter, RoleGrantAdapter):
        raise UnsupportedEngine(f"roles and grants are not supported on engine {engine} in this build")
    return adapter


def grant_declares(raw: Obj) -> DeclaredAccess:
    """The memberships and grant entries (PostgreSQL and MySQL family) a grant object of either kind declares;
    nothing when invalid."""
    try:
        model = by_kind(str(raw.get("kind") or "DatabaseGrant")).model.model_validate(raw)
    except ValueError:
        return DeclaredAccess()
    postgres, mysql = getattr(model.spec, "postgres", None), getattr(model.spec, "mysql", None)
    roles = [*(getattr(postgres, "roles", None) or ()), *(getattr(mysql, "roles", None) or ())]
    return DeclaredAccess(
        frozenset(roles),
        tuple(getattr(postgres, "grants", None) or ()),
        tuple(getattr(mysql, "grants", None) or ()),
    )


def combine(own: DeclaredAccess, grants: Iterable[Obj]) -> DeclaredAccess:
    """`own` plus what every grant object in `grants` declares (behaviour.md 11.3: extras are relative to all)."""
    memberships, postgres, mysql = set(own.memberships), list(own.postgres_grants), list(own.mysql_grants)
    for raw in grants:
        declared = grant_declares(raw)
        memberships.update(declared.memberships)
        postgres.extend(declared.postgres_grants)
        mysql.extend(declared.mysql_grants)
    return DeclaredAccess(frozenset(memberships), tuple(postgres), tuple(mysql))


def declared_for_role(spec: Any, grants: Iterable[Obj]) -> DeclaredAccess:
    """Everything declared for a role: its `inRoles` and `grants[]`, and what each grant naming it adds."""
    config = getattr(spec, "postgres", None)
    own = DeclaredAccess(
        frozenset(getattr(config, "in_roles", None) or ()),
        tuple(getattr(config, "grants", None) or ()),
        tuple(getattr(getattr(spec, "mysql", None), "grants", None) or ()),
    )
    return combine(own, grants)


def drift_policy(ctx: OperatorContext, spec: Any, instance: ResolvedInstance) -> EffectivePolicy:
    """behaviour.md 11.1 for an object on `instance` (grants pass their grantee's instance)."""
    return effective_policy(
        getattr(spec, "drift_policy", None),
        instance.spec.drift_policy,
        ctx.config.default_drift_interval,
        instance_path=f"{instance.target.description} spec.driftPolicy.interval",
    )


@dataclass
class SlotSubject:
    """A `DriftSubject` over an engine's drift half; each read and correction holds one of the instance's
    operation slots (behaviour.md 2)."""

    ctx: OperatorContext
    key: InstanceKey
    read: Callable[[], Awaitable[list[Difference]]]
    fix: Callable[[Sequence[Difference]], Awaitable[dict[str, str]]]

    async def observe(self) -> list[Difference]:
        async with self.ctx.servers.operation(self.key):
            return await self.read()

    async def correct(self, diffs: Sequence[Difference]) -> dict[str, str]:
        async with self.ctx.servers.operation(self.key):
            return await self.fix(diffs)


class RoleReconciler(KindReconciler[Any]):
    """Reconciles DatabaseRole or ClusterDatabaseRole objects through the instance's adapter."""

    info_family = "role_info"

    def __init__(self, ctx: OperatorContext, kind: str) -> None:
        super().__init__(ctx, by_kind(kind))
        self.instances = ctx.store(INSTANCE)
        self.cluster_instances = ctx.store(CLUSTER_INSTANCE)
        self.grant_stores = {k: ctx.store(by_kind(k)) for k in GRANT_KINDS}
        self.prerequisites = PrerequisiteGate(
            lambda k: ctx.store(by_kind(k)), self.instances, self.cluster_instances, ctx.references
        )
        self.drift = self.drift_gauges = DriftChecker(self)
        self.server_objects = ctx.server_ownership(ROLES)

    # Helpers ----------------------------------------------------------------------------------------------------

    def _operation(self, operation: str, engine: str, namespace: str, ok: bool) -> None:
        status = "success" if ok else "failure"
        self.ctx.metrics.role_operations.labels(operation, engine, status, namespace).inc()

    # Reconcile --------------------------------------------------------------------------------------------------

    async def sync(self, obj: Any, raw: Obj, rid: str) -> Result | None:
        spec, name = obj.spec, obj.metadata.name or ""
        role = spec.role_name
        namespace = metric_namespace(obj.metadata.namespace)
        draft = self.draft(raw)
        target = target_of(spec, obj.metadata.namespace)
        instance, waiting, reason = self.prerequisites.gate(raw, target)
        if instance is None:
            draft.set(phase="Pending", message=waiting)
            draft.condition("Ready", False, reason, waiting)
            await self.write_status(raw, draft, rid)
            self.publish(obj, draft)
            return None  # woken by the watch on the instance, Database or role when it becomes Ready
        engine = instance.engine
        created_at = (draft.before.get("role") or {}).get("createdAt")
        # A creation whose role exists but whose grants failed (a database that does not exist yet) is finished by
        # the next reconcile: still a creation, not a take-over of a role somebody else made.
        finishing = bool(created_at) and (draft.previous_condition("Ready") or {}).get("reason") in (
            "CreateFailed",
            "DependencyNotReady",  # a creation that found its database declared but not yet seen
        )
        step = "create"
        attempted_create = False
        applied = False
        try:
            engine_adapter = await adapter_for(self.ctx, instance)
            adapter = role_adapter(engine_adapter, engine)
            refuse_admin_account(adapter, role, "spec.roleName")
            async with self.ctx.servers.operation(instance.target.key):
                observed = await adapter.observe_role(role)
                fresh = observed is None or not created_at
                if observed is None:
                    attempted_create = True
                    await adapter.create_managed_role(spec)
                    await self.server_objects.mark(engine_adapter, raw, instance)
                    self._operation("create", engine, namespace, True)
                    if created_at:
                        message = (
                            f"Recreated role {role} on instance {instance.name}; it had disappeared from the server"
                        )
                    else:
                        message = f"Created role {role} on instance {instance.name}"
                    self.normal(raw, "Created", message)
                elif not created_at:
                    await self.server_objects.claim(engine_adapter, raw, instance)  # OwnershipConflict: another's
                    await adapter.apply_managed_role(spec, observed)
                    self._operation("create", engine, namespace, True)
                    self.ctx.metrics.adoptions.labels(self.info.kind, "success", namespace).inc()
                    self.normal(raw, "Created", f"Took over existing role {role} on instance {instance.name}")
                elif finishing:
                    await adapter.apply_managed_role(spec, observed)
                    self._operation("create", engine, namespace, True)
                    self.normal(raw, "Created", f"Created role {role} on instance {instance.name}")
                elif draft.before.get("observedGeneration") != obj.metadata.generation:
                    step = "update"
                    await adapter.apply_managed_role(spec, observed)
                    await self.server_objects.mark(engine_adapter, raw, instance)
                    self._operation("update", engine, namespace, True)
                applied = fresh or finishing or draft.before.get("observedGeneration") != obj.metadata.generation
                if fresh:
                    draft.set(role={"name": role, "createdAt": _now()})
        except (InvalidSpec, UnsupportedEngine) as error:
            reason = "InvalidSpec" if isinstance(error, InvalidSpec) else "UnsupportedEngine"
            message = str(error)
            draft.set(phase="Failed", message=message)
            draft.condition("Ready", False, reason, message)
            self.synced_failed(draft, "ReconcileFailed", message, f"{self.info.kind} {name}: {message}")
            await self.write_status(raw, draft, rid)
            self.publish(obj, draft)
            return None  # permanent: woken by a spec change
        except (EngineError, ConnectionFailure, InstanceProblem) as error:
            if attempted_create and await self._exists(adapter, role):
                draft.set(role={"name": role, "createdAt": _now()})  # ours: the retry finishes the creation
            if step == "create" and (unseen := await self._declared_but_unseen(raw, target)) is not None:
                draft.set(phase="Pending", message=unseen)
                draft.condition("Ready", False, "DependencyNotReady", unseen)
                await self.write_status(raw, draft, rid)
                self.publish(obj, draft)
                return None  # woken by the declaring object's watch when it becomes Ready
            self._operation(step, engine, namespace, False)
            reason = "CreateFailed" if step == "create" else "ReconcileFailed"
            event = (
                f"Failed to create role {role} on instance {instance.name}: {error}"
                if step == "create"
                else f"{self.info.kind} {name}: apply failed: {error}"
            )
            draft.set(phase="Failed", message=str(error))
            draft.condition("Ready", False, reason, str(error))
            self.synced_failed(draft, reason, str(error), event)
            await self.write_status(raw, draft, rid)
            self.publish(obj, draft)
            raise TransientError(str(error)) from None

        if not draft.data.get("role"):
            draft.set(role={"name": role})
        draft.set(phase="Ready", message="Role is ready", observedGeneration=obj.metadata.generation)
        draft.condition("Ready", True, "ReconcileSuccess", "Role is ready")
        outcome = await self._check_drift(obj, raw, draft, rid, instance, adapter, applied=applied)
        await self.write_status(raw, draft, rid)
        self.publish(obj, draft)
        if outcome.error is not None:
            raise TransientError(outcome.error)
        return Result(requeue_after=outcome.requeue_after) if outcome.requeue_after is not None else None

    async def _declared_but_unseen(self, raw: Obj, target: InstanceTarget) -> str | None:
        """A creation the server refused may only have been too early: `PrerequisiteGate.waiting_now`."""
        try:
            return await self.prerequisites.waiting_now(raw, target, self.ctx.client)
        except ApiError:
            return None

    @staticmethod
    async def _exists(adapter: Any, role: str) -> bool:
        """Whether a creation that failed part-way left the role on the server (False when that cannot be told)."""
        try:
            return await adapter.observe_role(role) is not None
        except (EngineError, ConnectionFailure, InstanceProblem):
            return False

    async def _check_drift(
        self,
        obj: Any,
        raw: Obj,
        draft: StatusDraft,
        rid: str,
        instance: ResolvedInstance,
        adapter: Any,
        *,
        applied: bool,
    ) -> DriftOutcome:
        """behaviour.md 9 "Drift check after an apply, or when due" through the shared checker."""
        spec = obj.spec
        policy = drift_policy(self.ctx, spec, instance)
        self.drift.report_interval(raw, draft, policy)
        support = drift_support(adapter)
        if support is None:
            draft.condition("Synced", True, "ReconcileSuccess", "spec applied")
            return DriftOutcome(checked=False)
        grants = [
            self.grant_stores[d.kind].get(f"{d.namespace}/{d.name}" if d.namespace else d.name)
            for d in self.dependents(obj)
        ]
        declared = declared_for_role(spec, [g for g in grants if g is not None])
        subject = SlotSubject(
            self.ctx, instance.target.key, lambda: support.role_drift(spec, declared), support.correct_drift
        )
        namespace = metric_namespace(obj.metadata.namespace)
        return await self.drift.check(
            raw,
            draft,
            rid,
            namespace=namespace,
            policy=policy,
            subject=subject,
            applied=applied,
            base="spec applied",
            operation=lambda name, ok: self._operation(name, instance.engine, namespace, ok),
        )

    def info_labels(self, obj: Any, draft: StatusDraft) -> dict[str, str]:
        return {
            "role": obj.metadata.name or "",
            "instance_ref": target_of(obj.spec, obj.metadata.namespace).key.name,
            "role_name": obj.spec.role_name,
        }

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
        force = force_in_effect(self, raw)
        policy = annotations.get(ann.DELETION_POLICY, "Delete")
        namespace = metric_namespace(obj.metadata.namespace)
        if policy != "Delete":
            await self.remove_marker(obj, raw, target_of(spec, obj.metadata.namespace), self.server_objects)
            self.normal(
                raw,
                "Deleted",
                f"Released {self.info.kind} {name}; role {spec.role_name} kept on the server (deletion-policy Retain)",
            )
        else:
            target = target_of(spec, obj.metadata.namespace)
            instance, waiting_message = self.cleanup_instance(obj, target)
            try:
                if instance is None:
                    raise EngineError(waiting_message)
                engine_adapter = await adapter_for(self.ctx, instance)
                adapter = role_adapter(engine_adapter, instance.engine)
                async with self.ctx.servers.operation(instance.target.key):
                    kept = await self.server_objects.not_ours(engine_adapter, raw, instance)
                    if kept is None:
                        if not force and (owned := await engine_adapter.owned_objects(spec.role_name)):
                            return await self._ownership_blocks(raw, rid, spec.role_name, owned)
                        await drop_with_retry(adapter, spec)
            except (EngineError, ConnectionFailure, InstanceProblem, UnsupportedEngine, InvalidSpec) as error:
                self._operation("delete", instance.engine if instance else "unknown", namespace, False)
                retry = await cleanup_failed(
                    self, raw, rid, error, f"role {spec.role_name}", force=force, retry_seconds=DELETE_RETRY_SECONDS
                )
                if retry is not None:
                    return retry
            else:
                if kept is not None:
                    self.normal(raw, "Deleted", f"Released {self.info.kind} {name}; role {spec.role_name} kept: {kept}")
                else:
                    self._operation("delete", instance.engine, namespace, True)
                    self.normal(raw, "Deleted", f"Dropped role {spec.role_name} from instance {instance.name}")
        self.forget(obj.metadata.namespace, name)
        await remove_finalizer(self.ctx.client, self.resource, raw, self.info.finalizer)
        return None

    async def _ownership_blocks(self, raw: Obj, rid: str, role: str, owned: Sequence[OwnedObject]) -> Result:
        """The role still owns objects (the role status has no `ownershipBlock` field, api.md 6.5; the condition
        message carries the list)."""
        databases = ", ".join(sorted({o.database for o in owned}))
        hint = f"reassign or drop them in {databases}"
        message = ownership_message(role, owned)
        return await blocked_by_owned_objects(self, raw, rid, message, hint, OWNERSHIP_RECHECK_SECONDS)


async def drop_with_retry(adapter: RoleGrantAdapter, spec: Any) -> None:
    """Drop the role, once more after a short pause if the first attempt fails. Under a cascade the role's databases
    are dropped concurrently, and a database vanishing between listing the role's databases and cleaning up in it
    fails the first attempt; with force-delete in effect that failure would otherwise leave the role behind."""
    try:
        await adapter.drop_managed_role(spec)
    except EngineError:
        await asyncio.sleep(DROP_RETRY_PAUSE_SECONDS)
        await adapter.drop_managed_role(spec)


def ownership_message(role: str, owned: Sequence[OwnedObject]) -> str:
    """`<role> owns <n> objects: <db.schema.name, …>` (sorted, cut to 10), as for users."""
    names = [f"{o.database}.{o.schema}.{o.name}" if o.schema else f"{o.database}.{o.name}" for o in owned]
    return f"{role} owns {len(owned)} objects: {listing(names)}"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
