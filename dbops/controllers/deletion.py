"""The deletion gates shared by every kind with dependents (behaviour.md 5.1-5.4).

Order: deletion protection (unless force-delete), then dependents: without force-delete they block; with it, the
confirmation hash must be set as an annotation before the cascade deletes them. The state that decides whether an
event is due (the Ready reason, the dependent list, the hash) is read back from status, so a restart re-emits
nothing. `run_gates` returns a Result while deletion must wait, or None when cleanup may proceed.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dbops.controllers import annotations as ann
from dbops.controllers.base import KindReconciler, Obj
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


_CASCADE_TOTAL = re.compile(r"of (\d+) dependents remain")


def _cascade_total(confirmation: dict[str, Any]) -> int:
    """How many dependents the running cascade started with; kept in its progress message, since
    `deletionConfirmation` has no field for it and `remainingCount` shrinks as they go."""
    match = _CASCADE_TOTAL.search(str(confirmation.get("message") or ""))
    return int(match.group(1)) if match else int(confirmation.get("remainingCount") or 0)


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
    force = ann.is_true(annotations, ann.FORCE_DELETE)
    draft = reconciler.draft(raw)
    previous_ready = draft.previous_condition("Ready") or {}

    if protected and not force:
        draft.set(phase="Failed", message=f"deletion blocked by deletion protection; {protection_hint}")
        draft.condition("Ready", False, "DeletionProtected", draft.data["message"])
        if previous_ready.get("reason") != "DeletionProtected":
            reconciler.warning(
                raw,
                "DeletionBlocked",
                f"Deletion of {kind} {name} is blocked by deletion protection; {protection_hint} or annotate "
                f"{ann.FORCE_DELETE}=true",
                rid,
            )
        await reconciler.write_status(raw, draft, rid)
        return Result(requeue_after=PROTECTION_RETRY_SECONDS)

    identifiers = [d.identifier(namespace) for d in dependents]
    confirmation = (draft.before.get("deletionConfirmation") or {}) if draft.before else {}
    if identifiers and not force:
        listed = listing(identifiers)
        message = f"deletion blocked by {len(identifiers)} dependents: {listed}"
        draft.set(phase="Failed", message=message)
        draft.condition("Ready", False, "DependenciesExist", message)
        if previous_ready.get("reason") != "DependenciesExist" or previous_ready.get("message") != message:
            reconciler.warning(
                raw,
                "DeletionBlocked",
                f"Deletion of {kind} {name} is blocked by {len(identifiers)} dependents: {listed}; delete them "
                f"first or annotate {ann.FORCE_DELETE}=true",
                rid,
            )
        await reconciler.write_status(raw, draft, rid)
        return Result(requeue_after=DEPENDENTS_RECHECK_SECONDS)

    if identifiers:
        digest = confirmation_hash(identifiers)
        listed = listing(identifiers)
        if annotations.get(ann.CONFIRM_FORCE_DELETE) != digest:
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
            if confirmation.get("hash") != digest or previous_ready.get("reason") != "PendingDeletionConfirmation":
                reconciler.warning(
                    raw,
                    "ForceDeletePending",
                    f"Force delete of {kind} {name} would delete {len(identifiers)} dependents: {listed}. "
                    f"Confirm with annotation {ann.CONFIRM_FORCE_DELETE}={digest}",
                    rid,
                )
            await reconciler.write_status(raw, draft, rid)
            return Result(requeue_after=DEPENDENTS_RECHECK_SECONDS)
        for dependent in dependents:
            with contextlib.suppress(NotFound):
                await reconciler.ctx.client.delete(dependent.resource, dependent.name, dependent.namespace or None)
        total = max(len(identifiers), _cascade_total(confirmation))
        message = f"cascade deleting: {len(identifiers)} of {total} dependents remain: {listed}"
        draft.set(
            phase="Deleting",
            message=message,
            deletionConfirmation={
                "required": False,
                "hash": digest,
                "children": sorted(identifiers)[:10],
                "remainingCount": len(identifiers),
                "message": message,
            },
        )
        draft.condition("Ready", False, "CascadeDeleting", message)
        await reconciler.write_status(raw, draft, rid)
        return Result(requeue_after=CASCADE_RECHECK_SECONDS)

    if confirmation.get("required") is False:
        total = _cascade_total(confirmation)
        reconciler.normal(
            raw, "CascadeDeleteComplete", f"Cascade delete of {kind} {name} finished: {total} dependents deleted"
        )
    return None


async def cleanup_failed(
    reconciler: KindReconciler[Any],
    raw: Obj,
    rid: str,
    error: Exception,
    what: str,
    *,
    force: bool,
    retry_seconds: float = CLEANUP_RETRY_SECONDS,
) -> Result | None:
    """behaviour.md 5.6: server-side cleanup failed. One DeleteFailed per first or different error; without
    force-delete the finalizer stays (phase Deleting, retry); with it, None tells the caller to release anyway."""
    draft = reconciler.draft(raw)
    previous = draft.previous_condition("Ready") or {}
    if previous.get("reason") != "DeleteFailed" or previous.get("message") != str(error):
        suffix = "; finalizer removed because force-delete is set" if force else ""
        reconciler.warning(raw, "DeleteFailed", f"Failed to drop {what}: {error}{suffix}", rid)
    if force:
        return None
    draft.set(phase="Deleting", message=str(error))
    draft.condition("Ready", False, "DeleteFailed", str(error))
    await reconciler.write_status(raw, draft, rid)
    return Result(requeue_after=retry_seconds)
