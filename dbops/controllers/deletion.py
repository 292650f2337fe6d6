"""The deletion gates shared by every kind with dependents (behaviour.md 5.1-5.4).

Order: deletion protection (unless force-delete), then dependents: without force-delete they block; with it, the
confirmation hash must be set as an annotation before the cascade deletes them. The state that decides whether an
event is due (the Ready reason, the dependent list, the hash) is read back from status, so a restart re-emits
nothing. `run_gates` returns a Result while deletion must wait, or None when cleanup may proceed.

Cascade authority (5.4) is decided here too, once for every kind: `under_cascade` walks an object's ancestors in the
informer caches (its instance; for a grant also its grantee and its Database) and finds one being deleted under a
confirmed cascade. Such an object behaves as if force-delete were set; nothing is written on it. Kinds that make
further force-delete decisions after the gates (ownership pre-check, cleanup failures) ask `force_in_effect`.

Once a cascade is confirmed, its dependents shrink as they go, so the hash over the remaining ones no longer matches
the annotation. The recorded hash therefore stays in force while every remaining dependent is already being deleted;
only a dependent that is not (one that appeared after confirmation) recomputes the hash and asks for confirmation
again.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dbops.api.kinds import by_kind
from dbops.controllers import annotations as ann
from dbops.controllers.base import KindReconciler, Obj, StatusDraft
from dbops.controllers.context import OperatorContext
from dbops.controllers.transitions import READY_REASON_AND_MESSAGE, all_of, condition_state, field_state
from dbops.runtime import NotFound, Resource, Result

PROTECTION_RETRY_SECONDS = 30.0
DEPENDENTS_RECHECK_SECONDS = 10.0
CASCADE_RECHECK_SECONDS = 5.0
CLEANUP_RETRY_SECONDS = 30.0


@dataclass(frozen=True, order=True)
class Dependent:
    """One resource that must go before its parent can (api.md 3.2)."""

    kind: str
    namespace: str
    name: str
    resource: Resource

    def identifier(self, parent_namespace: str | None) -> str:
        """`Kind/name` when cluster-scoped or in the parent's namespace, else `Kind/namespace/name` (5.3)."""
        if not self.namespace or self.namespace == parent_namespace:
            return f"{self.kind}/{self.name}"
        return f"{self.kind}/{self.namespace}/{self.name}"


def listing(items: Sequence[str], limit: int = 10) -> str:
    """Sorted, cut to `limit` entries followed by `and N more` (observability.md 1.1)."""
    ordered = sorted(items)
    text = ", ".join(ordered[:limit])
    return f"{text} and {len(ordered) - limit} more" if len(ordered) > limit else text


def confirmation_hash(identifiers: Sequence[str]) -> str:
    """First 8 hex characters of SHA-256 over the sorted identifiers joined by newlines (5.4)."""
    return hashlib.sha256("\n".join(sorted(identifiers)).encode()).hexdigest()[:8]


def _cascade_total(confirmation: dict[str, Any]) -> int:
    """How many dependents the running cascade started with: `totalCount`, recorded when it was confirmed
    (`remainingCount` shrinks as they go); a cascade confirmed before that field existed falls back to it."""
    return int(confirmation.get("totalCount") or confirmation.get("remainingCount") or 0)


Lookup = Callable[[str, str, str], Obj | None]
"""(kind, namespace, name) → the cached object or None; namespace empty for cluster-scoped kinds."""

_MAX_ANCESTRY = 3
"""Grant → grantee → instance is the longest chain of ancestors."""


def store_lookup(ctx: OperatorContext) -> Lookup:
    """A `Lookup` over the informer caches the reconcilers already keep."""

    def lookup(kind: str, namespace: str, name: str) -> Obj | None:
        store = ctx.store(by_kind(kind))
        return store.get(f"{namespace}/{name}" if namespace else name)

    return lookup


def _instance_ref(spec: Obj, namespace: str) -> tuple[str, str, str] | None:
    cluster = spec.get("clusterInstanceRef") or {}
    if cluster.get("name"):
        return "ClusterDatabaseInstance", "", str(cluster["name"])
    ref = spec.get("instanceRef") or {}
    if ref.get("name"):
        return "DatabaseInstance", str(ref.get("namespace") or namespace), str(ref["name"])
    return None


def ancestors(kind: str, raw: Obj, lookup: Lookup) -> list[tuple[str, str, str]]:
    """(kind, namespace, name) of the objects whose confirmed cascade covers `raw` (api.md 3.1): its instance; for a
    grant also its grantee and its Database (a DatabaseGrant's instance is its grantee's, read from the cache)."""
    spec = raw.get("spec") or {}
    namespace = str((raw.get("metadata") or {}).get("namespace") or "")
    found: list[tuple[str, str, str]] = []
    if kind in ("DatabaseGrant", "ClusterDatabaseGrant"):
        user, role = spec.get("userRef") or {}, spec.get("roleRef") or {}
        grantee: tuple[str, str, str] | None = None
        if user.get("name"):
            grantee = "DatabaseUser", str(user.get("namespace") or namespace), str(user["name"])
        elif role.get("name"):
            role_namespace = str(role.get("namespace") or "")
            if kind == "ClusterDatabaseGrant" and not role_namespace:
                grantee = "ClusterDatabaseRole", "", str(role["name"])
            else:
                grantee = "DatabaseRole", role_namespace or namespace, str(role["name"])
        if grantee is not None:
            found.append(grantee)
        database = spec.get("databaseRef") or {}
        if kind == "DatabaseGrant" and database.get("name"):
            found.append(("Database", str(database.get("namespace") or namespace), str(database["name"])))
        instance = _instance_ref(spec, namespace)
        if instance is None and grantee is not None:
            grantee_raw = lookup(*grantee)
            if grantee_raw is not None:
                grantee_namespace = str((grantee_raw.get("metadata") or {}).get("namespace") or "")
                instance = _instance_ref(grantee_raw.get("spec") or {}, grantee_namespace)
        if instance is not None:
            found.append(instance)
    elif kind in ("Database", "DatabaseUser", "DatabaseRole", "ClusterDatabaseRole"):
        instance = _instance_ref(spec, namespace)
        if instance is not None:
            found.append(instance)
    return found


def confirmed_cascade(raw: Obj) -> bool:
    """Being deleted with force-delete set and `confirm-force-delete` equal to the hash recorded in status."""
    meta = raw.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    recorded = ((raw.get("status") or {}).get("deletionConfirmation") or {}).get("hash")
    return bool(
        meta.get("deletionTimestamp")
        and ann.is_true(annotations, ann.FORCE_DELETE)
        and recorded
        and annotations.get(ann.CONFIRM_FORCE_DELETE) == recorded
    )


def under_cascade(kind: str, raw: Obj, lookup: Lookup, _depth: int = 0) -> str | None:
    """behaviour.md 5.4 cascade authority: the description of the ancestor whose confirmed cascade covers `raw`, or
    None. An ancestor that is itself covered counts too (a grant under a user under an instance cascade)."""
    if _depth >= _MAX_ANCESTRY:
        return None
    for parent_kind, namespace, name in ancestors(kind, raw, lookup):
        parent = lookup(parent_kind, namespace, name)
        if parent is None or not (parent.get("metadata") or {}).get("deletionTimestamp"):
            continue
        if confirmed_cascade(parent) or under_cascade(parent_kind, parent, lookup, _depth + 1) is not None:
            return f"{parent_kind} {namespace + '/' if namespace else ''}{name}"
    return None


def _force_pending(kind: str, raw: Obj, lookup: Lookup) -> bool:
    """An ancestor is being deleted with force-delete set but no confirmed cascade (yet): worth a quick re-check."""
    for parent_kind, namespace, name in ancestors(kind, raw, lookup):
        parent = lookup(parent_kind, namespace, name)
        meta = (parent or {}).get("metadata") or {}
        if meta.get("deletionTimestamp") and ann.is_true(meta.get("annotations"), ann.FORCE_DELETE):
            return True
    return False


def force_in_effect(reconciler: KindReconciler[Any], raw: Obj) -> bool:
    """Force-delete is set on the object, or a confirmed cascade of an ancestor covers it (behaviour.md 5.4, 5.6)."""
    annotations = (raw.get("metadata") or {}).get("annotations") or {}
    if ann.is_true(annotations, ann.FORCE_DELETE):
        return True
    return under_cascade(reconciler.info.kind, raw, store_lookup(reconciler.ctx)) is not None


def _being_deleted(dependent: Dependent, lookup: Lookup) -> bool:
    """The dependent already has a deletionTimestamp (or has left the cache)."""
    cached = lookup(dependent.kind, dependent.namespace, dependent.name)
    return cached is None or bool((cached.get("metadata") or {}).get("deletionTimestamp"))


async def run_gates(
    reconciler: KindReconciler[Any],
    raw: Obj,
    rid: str,
    *,
    protected: bool,
    protection_hint: str,
    dependents: Sequence[Dependent],
) -> Result | None:
    """Apply protection and dependents checks; None means the kind may clean up and remove its finalizer."""
    meta = raw.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    name, namespace = meta.get("name", ""), meta.get("namespace")
    kind = reconciler.info.kind
    lookup = store_lookup(reconciler.ctx)
    covered = under_cascade(kind, raw, lookup)
    force = ann.is_true(annotations, ann.FORCE_DELETE) or covered is not None
    draft = reconciler.draft(raw)

    if protected and not force:
        draft.set(phase="Failed", message=f"deletion blocked by deletion protection; {protection_hint}")
        draft.condition("Ready", False, "DeletionProtected", draft.data["message"])
        draft.warning_on_change(
            "DeletionBlocked",
            f"Deletion of {kind} {name} is blocked by deletion protection; {protection_hint} or annotate "
            f"{ann.FORCE_DELETE}=true",
            when=condition_state("Ready", "reason"),
        )
        await reconciler.write_status(raw, draft, rid)
        # An ancestor awaiting its confirmation may cover this object any moment: look again soon.
        pending = _force_pending(kind, raw, lookup)
        return Result(requeue_after=CASCADE_RECHECK_SECONDS if pending else PROTECTION_RETRY_SECONDS)

    identifiers = [d.identifier(namespace) for d in dependents]
    confirmation = (draft.before.get("deletionConfirmation") or {}) if draft.before else {}
    if identifiers and not force:
        listed = listing(identifiers)
        message = f"deletion blocked by {len(identifiers)} dependents: {listed}"
        draft.set(phase="Failed", message=message)
        draft.condition("Ready", False, "DependenciesExist", message)
        draft.warning_on_change(
            "DeletionBlocked",
            f"Deletion of {kind} {name} is blocked by {len(identifiers)} dependents: {listed}; delete them "
            f"first or annotate {ann.FORCE_DELETE}=true",
            when=READY_REASON_AND_MESSAGE,
        )
        await reconciler.write_status(raw, draft, rid)
        pending = _force_pending(kind, raw, lookup)
        return Result(requeue_after=CASCADE_RECHECK_SECONDS if pending else DEPENDENTS_RECHECK_SECONDS)

    if identifiers:
        listed = listing(identifiers)
        recorded = str(confirmation.get("hash") or "")
        # A confirmed cascade keeps its hash while what remains of it is going; a dependent that is not being
        # deleted appeared after confirmation and needs a new one.
        continuing = (
            confirmation.get("required") is False
            and bool(recorded)
            and annotations.get(ann.CONFIRM_FORCE_DELETE) == recorded
            and all(_being_deleted(d, lookup) for d in dependents)
        )
        digest = recorded if continuing else confirmation_hash(identifiers)
        if covered is None and annotations.get(ann.CONFIRM_FORCE_DELETE) != digest:
            message = (
                f"force delete would delete {len(identifiers)} dependents: {listed}; confirm with annotation "
                f"{ann.CONFIRM_FORCE_DELETE}={digest}"
            )
            draft.set(
                phase="PendingDeletion",
                message=message,
                deletionConfirmation={
                    "required": True,
                    "hash": digest,
                    "children": sorted(identifiers)[:10],
                    "remainingCount": len(identifiers),
                    "message": message,
                },
            )
            draft.condition("Ready", False, "PendingDeletionConfirmation", message)
            draft.warning_on_change(
                "ForceDeletePending",
                f"Force delete of {kind} {name} would delete {len(identifiers)} dependents: {listed}. "
                f"Confirm with annotation {ann.CONFIRM_FORCE_DELETE}={digest}",
                when=all_of(field_state("deletionConfirmation", "hash"), condition_state("Ready", "reason")),
            )
            await reconciler.write_status(raw, draft, rid)
            return Result(requeue_after=DEPENDENTS_RECHECK_SECONDS)
        total = max(len(identifiers), _cascade_total(confirmation) if confirmation.get("required") is False else 0)
        message = f"cascade deleting: {len(identifiers)} of {total} dependents remain: {listed}"
        if covered is not None:
            message += f" (cascade of {covered})"
        draft.set(
            phase="Deleting",
            message=message,
            deletionConfirmation={
                "required": False,
                "hash": digest,
                "children": sorted(identifiers)[:10],
                "remainingCount": len(identifiers),
                "totalCount": total,
                "message": message,
            },
        )
        draft.condition("Ready", False, "CascadeDeleting", message)
        # Status first: dependents decide on cascade authority from this recorded hash when their deletion arrives.
        await reconciler.write_status(raw, draft, rid)
        for dependent in dependents:
            if _being_deleted(dependent, lookup):
                continue
            with contextlib.suppress(NotFound):
                await reconciler.ctx.client.delete(dependent.resource, dependent.name, dependent.namespace or None)
        return Result(requeue_after=CASCADE_RECHECK_SECONDS)

    if confirmation.get("required") is False:
        await _record_completion(reconciler, raw, draft, rid, confirmation)
    return None


async def _record_completion(
    reconciler: KindReconciler[Any], raw: Obj, draft: StatusDraft, rid: str, confirmation: Obj
) -> None:
    """The confirmed cascade has no dependents left: `remainingCount` 0 is recorded and CascadeDeleteComplete is
    said with that write. The object may be reconciled again before its finalizer removal shows in the cache (its
    own cleanup wakes it); that reconcile reads 0 back and says nothing."""
    meta = raw.get("metadata") or {}
    total = _cascade_total(confirmation)
    message = f"cascade delete finished: {total} dependents deleted"
    draft.set(
        phase="Deleting",
        message=message,
        deletionConfirmation={
            **confirmation,
            "children": [],
            "remainingCount": 0,
            "totalCount": total,
            "message": message,
        },
    )
    draft.normal_on_change(
        "CascadeDeleteComplete",
        f"Cascade delete of {reconciler.info.kind} {meta.get('name', '')} finished: {total} dependents deleted",
        when=field_state("deletionConfirmation", "remainingCount"),
    )
    await reconciler.write_status(raw, draft, rid)


async def blocked_by_owned_objects(
    reconciler: KindReconciler[Any], raw: Obj, rid: str, message: str, hint: str, retry_seconds: float
) -> Result:
    """behaviour.md 8.7 / 9: the account or role still owns objects and force-delete is not in effect. Phase
    Failed, Ready=False OwnershipBlocks, one DeletionBlocked per new finding (`hint`: what resolves it); re-checked
    after `retry_seconds`."""
    draft = reconciler.draft(raw)
    name = (raw.get("metadata") or {}).get("name", "")
    draft.set(phase="Failed", message=message)
    draft.condition("Ready", False, "OwnershipBlocks", message)
    draft.warning_on_change(
        "DeletionBlocked",
        f"Deletion of {reconciler.info.kind} {name} is blocked: {message}; {hint}, or annotate {ann.FORCE_DELETE}=true",
        when=condition_state("Ready", "message"),
    )
    await reconciler.write_status(raw, draft, rid)
    return Result(requeue_after=retry_seconds)


async def cleanup_failed(
    reconciler: KindReconciler[Any],
    raw: Obj,
    rid: str,
    error: Exception,
    what: str,
    *,
    force: bool,
    retry_seconds: float = CLEANUP_RETRY_SECONDS,
    verb: str = "drop",
    event_reason: str = "DeleteFailed",
) -> Result | None:
    """behaviour.md 5.6: server-side cleanup failed. One `event_reason` Warning ("Failed to <verb> <what>") per
    first or different error; without force-delete the finalizer stays (phase Deleting, Ready=False DeleteFailed,
    retry); with it, None tells the caller to release anyway."""
    draft = reconciler.draft(raw)
    draft.set(phase="Deleting", message=str(error))
    draft.condition("Ready", False, "DeleteFailed", str(error))
    suffix = "; finalizer removed because force-delete is set" if force else ""
    draft.warning_on_change(event_reason, f"Failed to {verb} {what}: {error}{suffix}", when=READY_REASON_AND_MESSAGE)
    if force:
        reconciler.say_due(raw, draft, rid)  # released now: the failure is recorded in the event only
        return None
    await reconciler.write_status(raw, draft, rid)
    return Result(requeue_after=retry_seconds)
