"""Finalizer add/remove with conflict-safe JSON patches (``runtime.md`` 8).

A merge patch of ``metadata.finalizers`` replaces the whole list and would silently drop a finalizer another
controller added in between. Instead each write is a JSON patch that first ``test``s the list it was computed from
(or the resourceVersion, when there is no list yet), so a concurrent change makes the server reject the patch; the
helper then re-reads the object and tries again, up to three times, before giving up with a transient error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dbops.runtime.client import ApiError, Conflict, Invalid, KubeClient, NotFound, Resource

Obj = dict[str, Any]

MAX_ATTEMPTS = 3


def has_finalizer(obj: Mapping[str, Any], name: str) -> bool:
    return name in ((obj.get("metadata") or {}).get("finalizers") or [])


def _is_precondition_failure(exc: ApiError) -> bool:
    # A failed JSON-patch "test" is answered with 422 (Invalid); older servers used 400 or 409.
    return isinstance(exc, Invalid | Conflict) or exc.status == 400


def _add_ops(meta: Mapping[str, Any], name: str) -> list[Obj]:
    finalizers = list(meta.get("finalizers") or [])
    if finalizers:
        return [
            {"op": "test", "path": "/metadata/finalizers", "value": finalizers},
            {"op": "add", "path": "/metadata/finalizers/-", "value": name},
        ]
    return [
        {"op": "test", "path": "/metadata/resourceVersion", "value": meta.get("resourceVersion")},
        {"op": "add", "path": "/metadata/finalizers", "value": [name]},
    ]


def _remove_ops(meta: Mapping[str, Any], name: str) -> list[Obj]:
    finalizers = list(meta.get("finalizers") or [])
    return [
        {"op": "test", "path": "/metadata/finalizers", "value": finalizers},
        {"op": "remove", "path": f"/metadata/finalizers/{finalizers.index(name)}"},
    ]


async def _update(
    client: KubeClient, resource: Resource, obj: Mapping[str, Any], name: str, *, add: bool
) -> Obj | None:
    current: Mapping[str, Any] = obj
    meta = current.get("metadata") or {}
    ns, obj_name = meta.get("namespace"), meta["name"]
    for attempt in range(MAX_ATTEMPTS):
        meta = current.get("metadata") or {}
        if has_finalizer(current, name) == add:
            return dict(current)
        ops = _add_ops(meta, name) if add else _remove_ops(meta, name)
        try:
            return await client.patch(resource, obj_name, ops, ns, patch_type="json")
        except NotFound:
            return None
        except ApiError as exc:
            if not _is_precondition_failure(exc) or attempt == MAX_ATTEMPTS - 1:
                if _is_precondition_failure(exc):
                    raise Conflict(409, "Conflict", f"finalizer {name!r} on {obj_name}: {exc.message}") from exc
                raise
        fresh = await client.get_or_none(resource, obj_name, ns)
        if fresh is None:
            return None
        current = fresh
    raise AssertionError("unreachable")


async def add_finalizer(client: KubeClient, resource: Resource, obj: Mapping[str, Any], name: str) -> Obj | None:
    """Ensure ``name`` is among ``obj``'s finalizers; returns the updated object (``None`` if it no longer exists).

    No request is made when the finalizer is already present.
    """
    return await _update(client, resource, obj, name, add=True)


async def remove_finalizer(client: KubeClient, resource: Resource, obj: Mapping[str, Any], name: str) -> Obj | None:
    """Ensure ``name`` is not among ``obj``'s finalizers; ``None`` if the object is gone (e.g. deletion completed)."""
    return await _update(client, resource, obj, name, add=False)
