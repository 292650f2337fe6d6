"""Status helpers: ``metav1.Condition`` bookkeeping and change-only status patches.

Conventions (``behaviour.md`` section 1, Kubernetes API conventions):

* ``lastTransitionTime`` moves only when a condition's ``status`` changes; reason, message and
  ``observedGeneration`` updates keep it. That makes it a truthful "since when" and lets the event helpers detect
  transitions from status alone.
* A converged object costs zero API writes: :func:`patch_status` compares the desired status with what the object
  carries and sends nothing when they are equal. When they differ it sends a JSON merge patch (RFC 7386) of just the
  difference to the ``status`` subresource, so it never conflicts with spec or metadata writers.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, MutableSequence, Sequence
from typing import Any

from dbops.runtime.client import KubeClient, Resource

Obj = dict[str, Any]

TRUE = "True"
FALSE = "False"
UNKNOWN = "Unknown"
_REASON = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
_MAX_MESSAGE = 32768


def now_rfc3339() -> str:
    """The current time as a ``metav1.Time`` string (second precision, UTC)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def find_condition(conditions: Sequence[Mapping[str, Any]] | None, ctype: str) -> Obj | None:
    for cond in conditions or ():
        if cond.get("type") == ctype:
            return dict(cond)
    return None


def set_condition(
    conditions: MutableSequence[Obj],
    ctype: str,
    status: str,
    reason: str,
    message: str = "",
    observed_generation: int | None = None,
    *,
    now: str | None = None,
) -> bool:
    """Set condition ``ctype`` in place following ``metav1.Condition`` rules; returns whether anything changed."""
    if status not in (TRUE, FALSE, UNKNOWN):
        raise ValueError(f"condition status must be True, False or Unknown, not {status!r}")
    if not _REASON.match(reason):
        raise ValueError(f"condition reason {reason!r} must be CamelCase (metav1.Condition)")
    message = message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 1] + "…"
    for cond in conditions:
        if cond.get("type") != ctype:
            continue
        changed = False
        if cond.get("status") != status:
            cond["status"] = status
            cond["lastTransitionTime"] = now or now_rfc3339()
            changed = True
        elif not cond.get("lastTransitionTime"):
            cond["lastTransitionTime"] = now or now_rfc3339()
            changed = True
        for field, value in (("reason", reason), ("message", message)):
            if cond.get(field) != value:
                cond[field] = value
                changed = True
        if observed_generation is not None and cond.get("observedGeneration") != observed_generation:
            cond["observedGeneration"] = observed_generation
            changed = True
        return changed
    new: Obj = {
        "type": ctype,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": now or now_rfc3339(),
    }
    if observed_generation is not None:
        new["observedGeneration"] = observed_generation
    conditions.append(new)
    return True


def remove_condition(conditions: MutableSequence[Obj], ctype: str) -> bool:
    for i, cond in enumerate(conditions):
        if cond.get("type") == ctype:
            del conditions[i]
            return True
    return False


def is_condition_true(obj: Mapping[str, Any], ctype: str, *, current_generation: bool = False) -> bool:
    """Whether ``obj`` has condition ``ctype`` True; with ``current_generation`` also for its current generation."""
    cond = find_condition((obj.get("status") or {}).get("conditions"), ctype)
    if cond is None or cond.get("status") != TRUE:
        return False
    if current_generation:
        return bool(cond.get("observedGeneration") == (obj.get("metadata") or {}).get("generation"))
    return True


def condition_transitioned(
    before: Sequence[Mapping[str, Any]] | None, after: Sequence[Mapping[str, Any]] | None, ctype: str
) -> tuple[str | None, str | None] | None:
    """``(old status, new status)`` if condition ``ctype`` changed status between two condition lists, else ``None``."""
    old = find_condition(before, ctype)
    new = find_condition(after, ctype)
    old_status = old.get("status") if old else None
    new_status = new.get("status") if new else None
    return None if old_status == new_status else (old_status, new_status)


def merge_patch(old: Any, new: Any) -> Any:
    """The RFC 7386 merge patch that turns ``old`` into ``new`` (removed keys become ``null``, lists are replaced)."""
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return new
    patch: Obj = {}
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            if isinstance(old[key], Mapping) and isinstance(value, Mapping):
                patch[key] = merge_patch(old[key], value)
            else:
                patch[key] = value
    for key in old:
        if key not in new:
            patch[key] = None
    return patch


async def patch_status(
    client: KubeClient, resource: Resource, obj: Mapping[str, Any], status: Mapping[str, Any]
) -> Obj | None:
    """Make ``obj``'s status equal ``status`` with one merge patch of the difference; no request when equal.

    Returns the updated object, or ``None`` when nothing had to be written. ``obj`` is the object as read at the
    start of the reconcile (its status is the baseline of the diff).
    """
    current = obj.get("status") or {}
    if current == status:
        return None
    meta = obj.get("metadata") or {}
    patch = {"status": merge_patch(current, dict(status))}
    return await client.patch_status(resource, meta["name"], patch, meta.get("namespace"))
