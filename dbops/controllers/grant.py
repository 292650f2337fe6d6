"""DatabaseGrant and ClusterDatabaseGrant: grantee resolution, gating, apply, revoke on delete (behaviour.md 10).

One reconciler for both kinds. The grantee is resolved from the cache (10.1) and must be Ready, as must its instance
and the Database of `databaseRef` (section 4: `DependencyNotReady`, re-checked every 10 s besides the watches).

"Applied set changed" (10.3) needs the set recorded before this reconcile. The status schema has no field for it, so
a short digest of the normalised set (grantee name, memberships, entries, default privileges) is kept in the message
of the `Synced` condition, which is persisted with the status and survives restarts: `Applied` is emitted only when
the digest differs, so resyncs and unrelated spec edits (deletionProtection) stay silent.

Drift (behaviour.md 11) goes through the shared `DriftChecker` after the apply step: the engine's drift half reads
the grantee's memberships, privileges and default privileges back for the objects this grant's entries cover; "extra"
is relative to everything the operator declares for the grantee (`declared_for_grantee`: the user's or role's own
spec and every grant resource of either kind naming it). While drift is recorded `Synced` is False with reason
`DriftDetected`, and its message still carries the applied-set digest, so a grant with drift is not re-applied (which
would silently correct drift in `detect` mode).

Not yet in this build: on deletion, the exception for items another grant still declares for the same grantee
(everything the spec declares is revoked).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from dbops.api.kinds import by_kind
from dbops.controllers.base import KindReconciler, Obj, StatusDraft
from dbops.controllers.context import OperatorContext, adapter_for
from dbops.controllers.declared_prerequisites import PrerequisiteGate
from dbops.controllers.deletion import cleanup_failed, force_in_effect, run_gates
from dbops.controllers.drift import DriftChecker, DriftOutcome
from dbops.controllers.instances import (
    CLUSTER_INSTANCE,
    INSTANCE,
    InstanceProblem,
    InstanceTarget,
    ResolvedInstance,
    gate,
    instance_is_ready,
    target_of,
)
from dbops.controllers.references import checked_gate
from dbops.controllers.role import (
    GRANT_KINDS,
    SlotSubject,
    UnsupportedEngine,
    combine,
    declared_for_role,
    drift_policy,
    role_adapter,
)
from dbops.controllers.rotation import grantee_name
from dbops.controllers.transitions import READY_REASON_AND_MESSAGE, SYNCED_REASON_AND_MESSAGE
from dbops.engines.access import AccessOutcome, DeclaredAccess, drift_support
from dbops.engines.base import EngineError
from dbops.engines.connection import ConnectionFailure
from dbops.engines.errors import InvalidSpec
from dbops.metrics import metric_namespace
from dbops.runtime import Result, TransientError, remove_finalizer

DEPENDENCY_RECHECK_SECONDS = 10.0
REVOKE_RETRY_SECONDS = 30.0
_DIGEST = re.compile(r"\(set ([0-9a-f]{12})\)")


@dataclass(frozen=True)
class Grantee:
    """The resolved grantee: its object, server-side name and instance."""

    kind: str
    namespace: str
    name: str
    server_name: str
    target: InstanceTarget

    @property
    def type(self) -> str:
        return "user" if self.kind == "DatabaseUser" else "role"

    @property
    def description(self) -> str:
        return f"{self.kind} {self.namespace + '/' if self.namespace else ''}{self.name}"


class Waiting(Exception):
    """A prerequisite is missing or not Ready (section 4); `reason` is the Ready reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Mismatch(Exception):
    """The grantee or Database is on another instance (permanent, `InstanceMismatch`)."""


def grantee_ref(kind: str, spec: Any, namespace: str | None) -> tuple[str, str, str] | None:
    """(kind, namespace, name) of the grantee object the spec names (behaviour.md 10.1)."""
    if spec.user_ref is not None:
        return "DatabaseUser", spec.user_ref.namespace or namespace or "", spec.user_ref.name
    if spec.role_ref is not None:
        ref_namespace = spec.role_ref.namespace
        if kind == "ClusterDatabaseGrant":
            return (
                ("DatabaseRole", ref_namespace, spec.role_ref.name)
                if ref_namespace
                else (
                    "ClusterDatabaseRole",
                    "",
                    spec.role_ref.name,
                )
            )
        return "DatabaseRole", ref_namespace or namespace or "", spec.role_ref.name
    return None


def grantee_index_value(obj: Obj) -> list[str]:
    """Index values of a grant: its grantee and its Database, as `Kind/namespace/name` (setup's wake-up watches)."""
    kind = obj.get("kind") or ""
    spec = obj.get("spec") or {}
    namespace = (obj.get("metadata") or {}).get("namespace") or ""
    out: list[str] = []
    if ref := spec.get("userRef"):
        out.append(f"DatabaseUser/{ref.get('namespace') or namespace}/{ref.get('name')}")
    if ref := spec.get("roleRef"):
        ref_namespace = ref.get("namespace") or ("" if kind == "ClusterDatabaseGrant" else namespace)
        role_kind = "DatabaseRole" if ref_namespace else "ClusterDatabaseRole"
        out.append(f"{role_kind}/{ref_namespace}/{ref.get('name')}")
    if ref := spec.get("databaseRef"):
        out.append(f"Database/{ref.get('namespace') or namespace}/{ref.get('name')}")
    return out


def applied_digest(grantee: str, instance: str, spec: Any) -> str:
    """12 hex characters over the normalised applied set (behaviour.md 10.3): what would be granted, to whom."""

    def block(value: Any) -> Any:
        if value is None:
            return None
        data = value.model_dump(mode="json", by_alias=True, exclude_none=True)
        for key in ("roles",):
            if key in data:
                data[key] = sorted(set(data[key]))
        for key in ("grants", "defaultPrivileges"):
            if key in data:
                for item in data[key]:
                    item["privileges"] = sorted(set(item.get("privileges") or ()))
                data[key] = sorted(data[key], key=lambda i: json.dumps(i, sort_keys=True))
        return data

    payload = {
        "grantee": grantee,
        "instance": instance,
        "postgres": block(getattr(spec, "postgres", None)),
        "mysql": block(getattr(spec, "mysql", None)),
        "clickhouse": block(getattr(spec, "clickhouse", None)),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


def recorded_digest(draft: StatusDraft) -> str | None:
    """The digest of the last successful apply: in a True Synced, or in a DriftDetected one (the apply succeeded,
    the server drifted since)."""
    previous = draft.previous_condition("Synced") or {}
    if previous.get("status") != "True" and previous.get("reason") != "DriftDetected":
        return None
    match = _DIGEST.search(str(previous.get("message") or ""))
    return match.group(1) if match else None


def counts(outcome: AccessOutcome) -> str:
    return (
        f"{len(outcome.roles)} roles, {outcome.direct_grants} direct grants, "
        f"{outcome.default_privileges} default privileges"
    )


class GrantReconciler(KindReconciler[Any]):
    """Reconciles DatabaseGrant or ClusterDatabaseGrant objects through the grantee's instance."""

    info_family = "grant_info"

    def __init__(self, ctx: OperatorContext, kind: str) -> None:
        super().__init__(ctx, by_kind(kind))
        self.instances = ctx.store(INSTANCE)
        self.cluster_instances = ctx.store(CLUSTER_INSTANCE)
        self.stores = {
            k: ctx.store(by_kind(k)) for k in ("DatabaseUser", "DatabaseRole", "ClusterDatabaseRole", "Database")
        }
        self.grant_stores = {k: ctx.store(by_kind(k)) for k in GRANT_KINDS}
        self.prerequisites = PrerequisiteGate(
            lambda k: ctx.store(by_kind(k)), self.instances, self.cluster_instances, ctx.references
        )
        self.drift = self.drift_gauges = DriftChecker(self)

    @property
    def cluster(self) -> bool:
        return self.info.kind == "ClusterDatabaseGrant"

    # Resolution -------------------------------------------------------------------------------------------------

    def _object(self, kind: str, namespace: str, name: str) -> Obj | None:
        return self.stores[kind].get(f"{namespace}/{name}" if namespace else name)

    def resolve(self, obj: Any, *, require_ready: bool = True) -> Grantee:
        """The grantee (10.1); `Waiting` while it is missing or not Ready, `Mismatch` when on another instance."""
        ref = grantee_ref(self.info.kind, obj.spec, obj.metadata.namespace)
        if ref is None:
            raise InvalidSpec("spec.userRef", "either userRef or roleRef must be specified")
        kind, namespace, name = ref
        description = f"{kind} {namespace + '/' if namespace else ''}{name}"
        raw = self._object(kind, namespace, name)
        if raw is None:
            raise Waiting("DependencyNotReady", f"Waiting for {description}: not found")
        if require_ready and not instance_is_ready(raw):
            phase = (raw.get("status") or {}).get("phase") or "Pending"
            raise Waiting("DependencyNotReady", f"Waiting for {description}: it is {phase}")
        model = by_kind(kind).model.model_validate(raw)
        server_name = grantee_name(raw.get("status"), model.spec) if kind == "DatabaseUser" else model.spec.role_name
        target = target_of(model.spec, namespace or None)
        if self.cluster and target.key != target_of(obj.spec, None).key:
            raise Mismatch(f"{description} is on {target.description}, not on {target_of(obj.spec, None).description}")
        return Grantee(kind, namespace, name, server_name, target)

    def _check_database(self, obj: Any, grantee: Grantee) -> None:
        ref = getattr(obj.spec, "database_ref", None)
        if ref is None:
            return
        namespace = ref.namespace or obj.metadata.namespace or ""
        raw = self._object("Database", namespace, ref.name)
        if raw is None:
            raise Waiting("DependencyNotReady", f"Waiting for Database {namespace}/{ref.name}: not found")
        if not instance_is_ready(raw):
            phase = (raw.get("status") or {}).get("phase") or "Pending"
            raise Waiting("DependencyNotReady", f"Waiting for Database {namespace}/{ref.name}: it is {phase}")
        model = by_kind("Database").model.model_validate(raw)
        target = target_of(model.spec, namespace)
        if target.key != grantee.target.key:
            raise Mismatch(
                f"Database {namespace}/{ref.name} is on {target.description}, the grantee on "
                f"{grantee.target.description}"
            )

    def declared_for_grantee(self, grantee: Grantee) -> DeclaredAccess:
        """Everything the operator declares for the grantee (behaviour.md 11.3): the user's memberships (`roles`,
        `postgres.inRoles`, `postgres.defaultRole`) or the role's `inRoles` and `grants[]`, plus what every grant
        resource of either kind that resolves to the same grantee declares (this one included)."""
        naming: list[Obj] = []
        for kind, store in self.grant_stores.items():
            for raw in store.list():
                try:
                    model = by_kind(kind).model.model_validate(raw)
                except ValueError:
                    continue
                ref = grantee_ref(kind, model.spec, (raw.get("metadata") or {}).get("namespace"))
                if ref == (grantee.kind, grantee.namespace, grantee.name):
                    naming.append(raw)
        raw_grantee = self._object(grantee.kind, grantee.namespace, grantee.name) or {}
        try:
            spec = by_kind(grantee.kind).model.model_validate(raw_grantee).spec if raw_grantee else None
        except ValueError:
            spec = None
        if grantee.kind != "DatabaseUser":
            return declared_for_role(spec, naming)
        memberships: set[str] = set(getattr(spec, "roles", None) or ())
        config = getattr(spec, "postgres", None)
        memberships.update(getattr(config, "in_roles", None) or ())
        if getattr(config, "default_role", None):
            memberships.add(config.default_role)  # type: ignore[union-attr]
        return combine(DeclaredAccess(frozenset(memberships)), naming)

    # Helpers ----------------------------------------------------------------------------------------------------

    def _operation(self, operation: str, engine: str, namespace: str, ok: bool) -> None:
        status = "success" if ok else "failure"
        self.ctx.metrics.grant_operations.labels(operation, engine, status, namespace).inc()

    async def _pending(self, obj: Any, raw: Obj, draft: StatusDraft, rid: str, reason: str, message: str) -> None:
        """A wait (section 4): only phase, Ready and message change; the applied record is kept."""
        draft.set(phase="Pending", message=message)
        draft.condition("Ready", False, reason, message)
        await self.write_status(raw, draft, rid)
        self.publish(obj, draft)

    async def _permanent(self, obj: Any, raw: Obj, draft: StatusDraft, rid: str, reason: str, message: str) -> None:
        draft.set(phase="Failed", message=message)
        draft.condition("Ready", False, reason, message)
        draft.warning_on_change(
            "ReconcileFailed", f"{self.info.kind} {obj.metadata.name}: {message}", when=READY_REASON_AND_MESSAGE
        )
        await self.write_status(raw, draft, rid)
        self.publish(obj, draft)

    # Reconcile --------------------------------------------------------------------------------------------------

    async def sync(self, obj: Any, raw: Obj, rid: str) -> Result | None:
        draft = self.draft(raw)
        namespace = metric_namespace(obj.metadata.namespace)
        try:
            grantee = self.resolve(obj)
            self._check_database(obj, grantee)
            if (prerequisite := self.prerequisites.waiting(raw, grantee.target)) is not None:
                raise Waiting("DependencyNotReady", prerequisite)
        except Waiting as waiting:
            await self._pending(obj, raw, draft, rid, waiting.reason, str(waiting))
            return Result(requeue_after=DEPENDENCY_RECHECK_SECONDS)
        except Mismatch as mismatch:
            await self._permanent(obj, raw, draft, rid, "InstanceMismatch", str(mismatch))
            return None
        except InvalidSpec as error:
            await self._permanent(obj, raw, draft, rid, "InvalidSpec", str(error))
            return None
        # behaviour.md 13: a grant reaches its grantee's instance, with that instance's consent.
        instance, waiting_message = checked_gate(
            self.ctx.references,
            obj.metadata.namespace,
            grantee.target,
            self.instances,
            self.cluster_instances,
            field="spec.userRef" if obj.spec.user_ref is not None else "spec.roleRef",
        )
        if instance is None:
            await self._pending(obj, raw, draft, rid, "InstanceNotReady", waiting_message)
            return Result(requeue_after=DEPENDENCY_RECHECK_SECONDS)
        if self.cluster:
            draft.set(
                targetInfo={
                    "type": grantee.type,
                    "name": grantee.name,
                    "namespace": grantee.namespace,
                    "resolvedUsername": grantee.server_name,
                }
            )

        digest = applied_digest(grantee.server_name, instance.target.store_key, obj.spec)
        previous_digest = recorded_digest(draft)
        due = (
            previous_digest != digest
            or draft.before.get("observedGeneration") != obj.metadata.generation
            or draft.before.get("phase") != "Ready"
        )
        if due:
            if draft.before.get("phase") != "Ready" and not draft.before.get("appliedGrants"):
                draft.set(phase="Creating", message="Applying grants")
            operation = "create" if not draft.before.get("appliedGrants") else "update"
            try:
                adapter = role_adapter(await adapter_for(self.ctx, instance), instance.engine)
                async with self.ctx.servers.operation(instance.target.key):
                    outcome = await adapter.apply_access(grantee.server_name, obj.spec)
            except InvalidSpec as error:
                await self._permanent(obj, raw, draft, rid, "InvalidSpec", str(error))
                return None
            except UnsupportedEngine as error:
                await self._permanent(obj, raw, draft, rid, "UnsupportedEngine", str(error))
                return None
            except (EngineError, ConnectionFailure, InstanceProblem) as error:
                self._operation(operation, instance.engine, namespace, False)
                await self._apply_failed(obj, raw, draft, rid, grantee, str(error), str(error))
                raise TransientError(str(error)) from None
            if not outcome.ok:
                self._operation(operation, instance.engine, namespace, False)
                total = len(outcome.failures) + outcome.direct_grants + outcome.default_privileges
                listed = "; ".join(f"{f}: {e}" for f, e in outcome.failures)
                message = f"{len(outcome.failures)} of {total} grant entries failed: {listed}"
                event = (
                    f"Failed to apply {len(outcome.failures)} of {total} grant entries to {grantee.server_name}: "
                    f"{listed}"
                )
                self._record(draft, outcome, grantee, failed=True)
                await self._apply_failed(obj, raw, draft, rid, grantee, message, event)
                raise TransientError(message)
            self._operation(operation, instance.engine, namespace, True)
            self._record(draft, outcome, grantee, failed=False)
            if previous_digest != digest:
                self.normal(
                    raw,
                    "Applied",
                    f"Applied grants to {grantee.type} {grantee.server_name} on instance {instance.name}: "
                    f"{counts(outcome)}",
                )
        draft.set(phase="Ready", message="Grants applied", observedGeneration=obj.metadata.generation)
        draft.condition("Ready", True, "ReconcileSuccess", "Grants applied")
        drift = await self._check_drift(obj, raw, draft, rid, instance, grantee, digest, applied=due)
        await self.write_status(raw, draft, rid)
        self.publish(obj, draft)
        if drift.error is not None:
            raise TransientError(drift.error)
        return Result(requeue_after=drift.requeue_after) if drift.requeue_after is not None else None

    async def _check_drift(
        self,
        obj: Any,
        raw: Obj,
        draft: StatusDraft,
        rid: str,
        instance: ResolvedInstance,
        grantee: Grantee,
        digest: str,
        *,
        applied: bool,
    ) -> DriftOutcome:
        """behaviour.md 10.2 step 6 / 11: drift of this grant's items through the shared checker."""
        base = f"grants applied (set {digest})"
        policy = drift_policy(self.ctx, obj.spec, instance)
        self.drift.report_interval(raw, draft, policy)
        try:
            support = drift_support(await adapter_for(self.ctx, instance))
        except (EngineError, ConnectionFailure, InstanceProblem) as error:
            return DriftOutcome(checked=False, error=str(error))
        if support is None:
            draft.condition("Synced", True, "ReconcileSuccess", base)
            return DriftOutcome(checked=False)
        spec, name = obj.spec, grantee.server_name
        declared = self.declared_for_grantee(grantee)
        subject = SlotSubject(
            self.ctx, instance.target.key, lambda: support.access_drift(name, spec, declared), support.correct_drift
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
            base=base,
            operation=lambda op, ok: self._operation(op, instance.engine, namespace, ok),
        )

    def _record(self, draft: StatusDraft, outcome: AccessOutcome, grantee: Grantee, *, failed: bool) -> None:
        """status.appliedGrants (api.md 6.7/6.8); the cluster kind adds applied/failed counts and per-entry details."""
        applied: dict[str, Any] = {
            "roles": list(outcome.roles),
            "directGrants": outcome.direct_grants,
            "defaultPrivileges": outcome.default_privileges,
        }
        if self.cluster:
            applied["applied"] = outcome.direct_grants + len(outcome.roles)
            applied["failed"] = len(outcome.failures)
            applied["details"] = [
                {"status": "Failed", "message": f"{field}: {error}"} for field, error in outcome.failures
            ] or None
            applied = {k: v for k, v in applied.items() if v is not None}
        if failed and draft.before.get("appliedGrants"):
            return  # keep the last successful record while failing
        draft.set(appliedGrants=applied)

    async def _apply_failed(
        self, obj: Any, raw: Obj, draft: StatusDraft, rid: str, grantee: Grantee, message: str, event: str
    ) -> None:
        draft.set(phase="Failed", message=message)
        draft.condition("Synced", False, "ReconcileFailed", message)
        draft.condition("Ready", False, "ReconcileFailed", message)
        draft.warning_on_change("ApplyFailed", event, when=SYNCED_REASON_AND_MESSAGE)
        await self.write_status(raw, draft, rid)
        self.publish(obj, draft)

    def info_labels(self, obj: Any, draft: StatusDraft) -> dict[str, str]:
        spec = obj.spec
        user_ref = spec.user_ref.name if spec.user_ref is not None else (spec.role_ref.name if spec.role_ref else "")
        database_ref = getattr(spec, "database_ref", None)
        privileges = sorted(
            {p for block in (spec.postgres, spec.mysql) if block for g in block.grants or () for p in g.privileges}
        )
        return {
            "grant": obj.metadata.name or "",
            "user_ref": user_ref,
            "database_ref": database_ref.name if database_ref is not None else "",
            "privileges": ",".join(privileges),
        }

    # Deletion ---------------------------------------------------------------------------------------------------

    async def finalize(self, obj: Any, raw: Obj, rid: str) -> Result | None:
        waiting = await run_gates(
            self,
            raw,
            rid,
            protected=obj.spec.deletion_protection,
            protection_hint="set spec.deletionProtection=false",
            dependents=[],
        )
        if waiting is not None:
            return waiting
        name = obj.metadata.name or ""
        namespace = metric_namespace(obj.metadata.namespace)
        force = force_in_effect(self, raw)
        skipped: str | None = None
        grantee: Grantee | None = None
        instance: ResolvedInstance | None = None
        try:
            grantee = self.resolve(obj)
        except Waiting as waiting_for:
            ref = grantee_ref(self.info.kind, obj.spec, obj.metadata.namespace)
            what = f"{ref[0]} {ref[1] + '/' if ref and ref[1] else ''}{ref[2]}" if ref else "the grantee"
            skipped = f"the {what} no longer exists" if "not found" in str(waiting_for) else f"the {what} is not Ready"
        except (Mismatch, InvalidSpec) as error:
            skipped = str(error)
        if grantee is not None:
            instance, _ = gate(grantee.target, self.instances, self.cluster_instances)
            if instance is None:
                raw_instance = (
                    self.cluster_instances if grantee.target.key.kind == CLUSTER_INSTANCE.kind else self.instances
                ).get(grantee.target.store_key)
                skipped = (
                    "the instance is gone" if raw_instance is None else f"{grantee.target.description} is not Ready"
                )
        label = grantee.server_name if grantee else name
        if skipped is not None or grantee is None or instance is None:
            self.normal(raw, "RevokeSkipped", f"Skipped revoking grants of {label}: {skipped}")
        else:
            try:
                adapter = role_adapter(await adapter_for(self.ctx, instance), instance.engine)
                async with self.ctx.servers.operation(instance.target.key):
                    outcome = await adapter.revoke_access(grantee.server_name, obj.spec)
                if not outcome.ok:
                    raise EngineError("; ".join(f"{f}: {e}" for f, e in outcome.failures))
            except (EngineError, ConnectionFailure, InstanceProblem, UnsupportedEngine, InvalidSpec) as error:
                self._operation("delete", instance.engine, namespace, False)
                what = f"grants of {grantee.server_name}"
                retry = await cleanup_failed(
                    self,
                    raw,
                    rid,
                    error,
                    what,
                    force=force,
                    retry_seconds=REVOKE_RETRY_SECONDS,
                    verb="revoke",
                    event_reason="RevokeFailed",
                )
                if retry is not None:
                    return retry
            else:
                self._operation("delete", instance.engine, namespace, True)
                self.normal(
                    raw,
                    "Revoked",
                    f"Revoked grants of {grantee.server_name} on instance {instance.name}: {counts(outcome)}",
                )
        self.forget(obj.metadata.namespace, name)
        await remove_finalizer(self.ctx.client, self.resource, raw, self.info.finalizer)
        return None
