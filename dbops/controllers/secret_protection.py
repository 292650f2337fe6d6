"""Admin-credential Secrets stay readable while an instance that uses them exists (a deliberate addition).

Deleting a namespace deletes everything in it at once. The Databases, users, roles and grants in it can only clean
up their server objects through their instance's admin credentials, and the instance waits for them (behaviour.md
5.3) — but the admin Secret has no such wait: once it is gone, an operator that restarts (or never built the
connection) cannot connect, every dependent ends in `DeleteFailed`, and the namespace never finishes terminating.

So, like Kubernetes' own `pvc-protection`, the instance controller puts the finalizer
`dbops.dbprovision.io/instance-credentials` on the admin Secret it reads, and removes it when the last instance
referencing that Secret has been finalized. A Secret deleted while in use stays readable (`Terminating`) until then.
When an instance's `secretRef` moves to another Secret, the old one is released at the next reconcile of the new
spec, unless another instance still references it (`release_unreferenced`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dbops.api.instance import DatabaseInstanceSpec
from dbops.controllers import annotations as ann
from dbops.runtime import SECRETS, KubeClient, NotFound, Store, add_finalizer, make_key, remove_finalizer, split_key

FINALIZER = ann.PREFIX + "instance-credentials"


def admin_secret_key(spec: DatabaseInstanceSpec, namespace: str | None, operator_namespace: str) -> str | None:
    """`namespace/name` of the instance's admin Secret, resolved as behaviour.md 6.1 says (None if unset)."""
    ref = spec.connection.secret_ref or spec.connection.existing_secret
    if ref is None:
        return None
    return make_key(ref.namespace or namespace or operator_namespace, ref.name)


async def protect(client: KubeClient, secrets: Store, key: str) -> bool:
    """Add the finalizer to the Secret (cached metadata) unless it has it or is already being deleted.

    Returns whether a write was made. A Secret being deleted is not protected after the fact: the finalizer could
    not stop a deletion that already started, and adding one to a terminating object is refused anyway.
    """
    meta = secrets.get(key)
    if meta is None:
        # Not cached yet (the Secret was just created): ask the API, so protection happens in this reconcile and
        # not in a later one that nothing else would cause.
        namespace, name = split_key(key)
        meta = await client.get_or_none(SECRETS, name, namespace)
        if meta is None:
            return False
    metadata = meta.get("metadata") or {}
    if FINALIZER in (metadata.get("finalizers") or []) or metadata.get("deletionTimestamp"):
        return False
    try:
        return await add_finalizer(client, SECRETS, meta, FINALIZER) is not None
    except NotFound:
        return False


async def release_unreferenced(client: KubeClient, secrets: Store, referenced: set[str]) -> list[str]:
    """Remove the finalizer from every cached Secret that carries it and that no instance references any more
    (`referenced`: the admin Secret keys of all cached instances of both kinds); returns the released keys."""
    released = []
    for meta in secrets.list():
        metadata = meta.get("metadata") or {}
        key = make_key(metadata.get("namespace") or "", metadata.get("name") or "")
        if FINALIZER not in (metadata.get("finalizers") or []) or key in referenced:
            continue
        try:
            if await remove_finalizer(client, SECRETS, meta, FINALIZER) is not None:
                released.append(key)
        except NotFound:
            continue
    return released


async def release(client: KubeClient, secrets: Store, key: str, users: Iterable[Any]) -> bool:
    """Remove the finalizer when no instance other than the one being finalized still references the Secret.

    `users` are the cache keys of the instances (of both kinds) that reference `key`, the finalizing one excluded.
    """
    if any(True for _ in users):
        return False
    meta = secrets.get(key)
    if meta is None or FINALIZER not in ((meta.get("metadata") or {}).get("finalizers") or []):
        return False
    try:
        return await remove_finalizer(client, SECRETS, meta, FINALIZER) is not None
    except NotFound:
        return False
