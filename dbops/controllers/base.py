"""The common reconcile flow every kind follows (behaviour.md section 1), with the kind-specific parts as hooks.

Steps 1-6 and 10 are the same for all kinds and live here: draw the reconcile ID, read the object from the cache,
check the partition label, honour skip/pause, dispatch deletion, add the finalizer before any side effect, and
write status only when it differs from what is stored (ignoring `reconcileID` and `lastReconcileTime`). A kind
implements `sync` (the object exists and is not being deleted) and `finalize` (deletion), and `forget` (the object
vanished from the cache: drop its metric series).
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Mapping
from typing import Any, Generic, Protocol, TypeVar

from dbops.api.kinds import KindInfo
from dbops.api.meta import Resource as ApiObject
from dbops.config import parse_duration
from dbops.controllers import annotations as ann
from dbops.controllers.context import OperatorContext, adapter_for, resource_of
from dbops.controllers.instances import CLUSTER_INSTANCE, INSTANCE, InstanceProblem, InstanceTarget, ResolvedInstance
from dbops.controllers.references import checked_gate
from dbops.controllers.refusal import Refused
from dbops.controllers.server_ownership import ServerOwnership
from dbops.controllers.transitions import (
    READY_REASON_AND_MESSAGE,
    SYNCED_REASON_AND_MESSAGE,
    Announcement,
    Selector,
    condition_state,
    due,
)
from dbops.engines.base import EngineError
from dbops.engines.connection import ConnectionFailure
from dbops.metrics import metric_namespace
from dbops.runtime import (
    NORMAL,
    WARNING,
    EventRecorder,
    Request,
    Result,
    Store,
    add_finalizer,
    get_logger,
    patch_status,
    remove_finalizer,
    set_condition,
)
from dbops.runtime.status import now_rfc3339

Obj = dict[str, Any]
ModelT = TypeVar("ModelT", bound=ApiObject[Any, Any])

VOLATILE_STATUS_FIELDS = ("reconcileID", "lastReconcileTime")


class StatusDraft:
    """The status a reconcile is computing, started from a copy of the stored one so unknown fields survive.

    It also carries the events this reconcile announces on a change of state (`transitions`): each is said once,
    with the status write that records the change (`KindReconciler.write_status` / `say_due`).
    """

    def __init__(self, stored: Mapping[str, Any] | None, generation: int | None) -> None:
        self.before: Obj = copy.deepcopy(dict(stored or {}))
        self.data: Obj = copy.deepcopy(self.before)
        self.data.setdefault("conditions", [])
        self.generation = generation
        self.announcements: list[Announcement] = []

    def warning_on_change(self, reason: str, message: str, *, when: Selector) -> None:
        """A Warning to say if the part of status `when` selects differs between the stored and the written status."""
        self.announcements.append(Announcement(WARNING, reason, message, when))

    def normal_on_change(self, reason: str, message: str, *, when: Selector) -> None:
        """A Normal event to say on a change of the part of status `when` selects."""
        self.announcements.append(Announcement(NORMAL, reason, message, when))

    def take_due(self) -> list[Announcement]:
        """The announcements whose state changed, each handed out once."""
        found = due(self.announcements, self.before, self.data)
        self.announcements.clear()
        return found

    def condition(self, ctype: str, status: bool | str, reason: str, message: str = "") -> None:
        """Set a condition by metav1.Condition rules, stamped with the object's generation."""
        value = status if isinstance(status, str) else ("True" if status else "False")
        set_condition(self.data["conditions"], ctype, value, reason, message, self.generation)

    def previous_condition(self, ctype: str) -> Obj | None:
        for cond in self.before.get("conditions") or ():
            if cond.get("type") == ctype:
                return dict(cond)
        return None

    def set(self, **fields: Any) -> None:
        """Set top-level status fields (camelCase keys); None removes the field."""
        for key, value in fields.items():
            if value is None:
                self.data.pop(key, None)
            else:
                self.data[key] = value

    @property
    def phase(self) -> str | None:
        value = self.data.get("phase")
        return str(value) if value is not None else None

    def changed(self) -> bool:
        """Whether anything but the volatile fields differs from the stored status."""

        def strip(status: Obj) -> Obj:
            result = {k: v for k, v in status.items() if k not in VOLATILE_STATUS_FIELDS}
            if not result.get("conditions"):
                result.pop("conditions", None)
            return result

        return strip(self.data) != strip(self.before)


class DriftGauges(Protocol):
    """The drift gauge bookkeeping of `drift.DriftChecker` (named here: `drift` imports this module)."""

    def forget(self, namespace: str, name: str) -> None: ...

    def publish_stored(self, namespace: str, name: str, status: Mapping[str, Any] | None) -> None: ...


class KindReconciler(Generic[ModelT]):
    """Base of every kind's reconciler; see the module docstring."""

    def __init__(self, ctx: OperatorContext, info: KindInfo) -> None:
        self.ctx = ctx
        self.info = info
        self.resource = resource_of(info)
        self.store: Store = ctx.store(info)
        self.controller_name = info.kind.lower()
        self.recorder: EventRecorder = ctx.manager.recorder(f"{self.controller_name}-controller")
        self.log = get_logger(self.controller_name)

    # The flow -------------------------------------------------------------------------------------------------

    async def reconcile(self, request: Request) -> Result | None:
        rid = request.reconcile_id or secrets.token_hex(4)
        raw = self.store.get(request.key)
        if raw is None:
            self.forget(request.namespace, request.name)
            return None
        meta = raw.get("metadata") or {}
        if not ann.in_partition(meta.get("labels"), self.ctx.config.instance_id):
            self.forget(request.namespace, request.name)
            return None
        if ann.skipped(meta.get("annotations")):
            return None
        obj: ModelT = self.info.model.model_validate(raw)  # type: ignore[assignment]
        if meta.get("deletionTimestamp"):
            try:
                return await self.finalize(obj, raw, rid)
            except Refused as refused:
                await self.release_refused(obj, raw, refused)
                return None
        if self.info.finalizer not in (meta.get("finalizers") or []):
            updated = await add_finalizer(self.ctx.client, self.resource, raw, self.info.finalizer)
            if updated is not None:
                raw = updated
        try:
            return await self.sync(obj, raw, rid)
        except Refused as refused:
            await self.refuse(obj, raw, rid, refused)
            return None  # permanent: woken by a change of the object, the instance or the namespace's consent

    async def refuse(self, obj: ModelT, raw: Obj, rid: str, refused: Refused) -> None:
        """A permanent refusal (`refusal.Refused`: a reference this operator may not follow, a server object that
        is not ours). Ready=False with the reason, one ReconcileFailed Warning per new message; nothing was created,
        read or deleted."""
        draft = self.draft(raw)
        message = str(refused)
        draft.set(phase="Failed", message=message)
        draft.condition("Ready", False, refused.reason, message)
        draft.warning_on_change(
            "ReconcileFailed", f"{self.info.kind} {obj.metadata.name}: {message}", when=READY_REASON_AND_MESSAGE
        )
        await self.write_status(raw, draft, rid)
        self.publish_stored(obj, draft)

    async def release_refused(self, obj: ModelT, raw: Obj, refused: Refused) -> None:
        """Deleting a refused object (its reference is not allowed, its server object is not ours): its finalizer
        goes, and nothing behind the refusal is touched — what is there stays, as with deletion-policy Retain."""
        self.normal(
            raw,
            "Deleted",
            f"Released {self.info.kind} {obj.metadata.name} without cleaning up on the server, because "
            f"{refused.released_because}: {refused}",
        )
        self.forget(obj.metadata.namespace, obj.metadata.name or "")
        await remove_finalizer(self.ctx.client, self.resource, raw, self.info.finalizer)

    async def sync(self, obj: ModelT, raw: Obj, rid: str) -> Result | None:
        raise NotImplementedError

    async def finalize(self, obj: ModelT, raw: Obj, rid: str) -> Result | None:
        raise NotImplementedError

    # Per-object metric series -----------------------------------------------------------------------------------
    # One place for the bookkeeping every kind shares: its `dbops_<kind>_info` series (the labels are the kind's own,
    # `info_labels`), its `dbops_resources` phase, and its drift gauge. A kind with more series extends these.

    info_family: str | None = None
    """The attribute of `ctx.metrics` holding this kind's info gauge (`database_info`…); None: the kind has none."""

    drift_gauges: DriftGauges | None = None
    """The kind's drift checker, for its `dbops_drift_detected` series; None: the kind has no drift."""

    def info_labels(self, obj: ModelT, draft: StatusDraft) -> dict[str, str]:
        """The kind's own labels of its info series (besides `namespace` and `phase`)."""
        return {}

    def publish(self, obj: ModelT, draft: StatusDraft) -> None:
        """The info series and the phase, as this reconcile leaves them."""
        metrics, name = self.ctx.metrics, obj.metadata.name or ""
        namespace = metric_namespace(obj.metadata.namespace)
        if self.info_family is not None:
            labels = {**self.info_labels(obj, draft), "namespace": namespace, "phase": draft.phase or "Pending"}
            metrics.info.set(getattr(metrics, self.info_family), (namespace, name), labels)
        metrics.resources.observe(self.info.kind, self.info.phases, namespace, name, draft.phase)

    def forget(self, namespace: str | None, name: str) -> None:
        """Drop the object's per-object metric series (it is gone, or no longer ours)."""
        metrics, label_namespace = self.ctx.metrics, metric_namespace(namespace)
        if self.info_family is not None:
            metrics.info.forget(getattr(metrics, self.info_family), (label_namespace, name))
        metrics.resources.forget(self.info.kind, label_namespace, name)
        if self.drift_gauges is not None:
            self.drift_gauges.forget(label_namespace, name)

    def publish_stored(self, obj: ModelT, draft: StatusDraft) -> None:
        """Set the object's status-derived gauges from its stored status (observability.md 2.2: rebuilt by a new
        leader before its workers start, so paused and waiting objects are shown too)."""
        self.publish(obj, draft)
        if self.drift_gauges is not None:
            namespace = metric_namespace(obj.metadata.namespace)
            self.drift_gauges.publish_stored(namespace, obj.metadata.name or "", draft.before)

    # Helpers ----------------------------------------------------------------------------------------------------

    def cleanup_instance(self, obj: Any, target: InstanceTarget) -> tuple[ResolvedInstance | None, str]:
        """The instance a deletion drops its server object on: in any phase (`instances.gate`, for_cleanup), and
        only behind the consent rule (`ReferenceRefused` releases the object without touching the server)."""
        instances, cluster_instances = self.ctx.store(INSTANCE), self.ctx.store(CLUSTER_INSTANCE)
        namespace = obj.metadata.namespace
        return checked_gate(self.ctx.references, namespace, target, instances, cluster_instances, for_cleanup=True)

    async def remove_marker(self, obj: Any, raw: Obj, target: InstanceTarget, server_objects: ServerOwnership) -> None:
        """Deleted with the server object retained: its tracking marker goes (api.md 5.7). Best effort: an
        unreachable server must not hold up a deletion that changes nothing else there, and a marker left behind
        still names this resource, so it blocks nobody but a resource of another name."""
        try:
            instance, _ = self.cleanup_instance(obj, target)
            if instance is None:
                return
            adapter = await adapter_for(self.ctx, instance)
            async with self.ctx.servers.operation(instance.target.key):
                await server_objects.unmark(adapter, raw, instance)
        except (EngineError, ConnectionFailure, InstanceProblem) as error:
            self.log.info("tracking marker not removed", kind=self.info.kind, error=str(error))

    def draft(self, raw: Obj) -> StatusDraft:
        return StatusDraft(raw.get("status"), (raw.get("metadata") or {}).get("generation"))

    async def write_status(self, raw: Obj, draft: StatusDraft, rid: str, *, force: bool = False) -> Obj | None:
        """Patch the status subresource when it changed (or `force`); stamps reconcileID and lastReconcileTime.
        Then says the events announced on the changes it recorded (a failed write says nothing: the next reconcile
        derives the same transitions again)."""
        if not (force or draft.changed()):
            self.say_due(raw, draft, rid)
            return None
        draft.data["reconcileID"] = rid
        draft.data["lastReconcileTime"] = now_rfc3339()
        written = await patch_status(self.ctx.client, self.resource, raw, draft.data)
        self.say_due(raw, draft, rid)
        return written

    def say_due(self, raw: Obj, draft: StatusDraft, rid: str) -> None:
        """Say the draft's announcements whose state changed. `write_status` calls it; a path that ends without
        writing (the object is released right after) calls it itself."""
        for announcement in draft.take_due():
            if announcement.etype == WARNING:
                self.warning(raw, announcement.reason, announcement.message, rid)
            else:
                self.normal(raw, announcement.reason, announcement.message)

    def synced_failed(self, draft: StatusDraft, reason: str, message: str, event_message: str) -> None:
        """An apply failed: Synced=False with `reason`, and a `reason` Warning for a first or different error."""
        draft.condition("Synced", False, reason, message)
        draft.warning_on_change(reason, event_message, when=SYNCED_REASON_AND_MESSAGE)

    def warning(self, raw: Mapping[str, Any], reason: str, message: str, rid: str) -> None:
        """A Warning event; its message starts with the reconcile ID (observability.md 1.1)."""
        self.recorder.warning(raw, reason, f"[{rid}] {message}")

    def normal(self, raw: Mapping[str, Any], reason: str, message: str) -> None:
        self.recorder.normal(raw, reason, message)

    def drift_interval(self, obj: Any, instance: ResolvedInstance | None) -> float:
        """Effective drift interval: resource → instance → operator default (behaviour.md 11.1)."""
        policies = (getattr(obj.spec, "drift_policy", None), instance.spec.drift_policy if instance else None)
        for policy in policies:
            if policy is not None and policy.interval:
                try:
                    return parse_duration(policy.interval)
                except ValueError:
                    continue
        return self.ctx.config.default_drift_interval

    def report_options(self, raw: Obj, draft: StatusDraft, fields: list[str], engine: str) -> None:
        """OptionsHonored, and an UnsupportedOption Warning when the set of unhonoured fields changes (api.md 1.5)."""
        if fields:
            listed = ", ".join(sorted(fields))
            draft.condition("OptionsHonored", False, "UnsupportedOption", listed)
            draft.warning_on_change(
                "UnsupportedOption",
                f"{self.info.kind} {raw['metadata']['name']}: not applied on {engine}: {listed}",
                when=condition_state("OptionsHonored", "reason", "message"),
            )
        else:
            draft.condition("OptionsHonored", True, "AllOptionsHonored", "every option in the spec is in effect")
