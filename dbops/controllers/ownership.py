"""Auto-ownership of a Database, the controller side (behaviour.md 7.6 and 7.8): its status block and which of its
names a `dropOnDelete` may drop.

The server work is the adapter's (`dbops.engines.ownership.OwnershipAdapter`); this module decides from the
informer caches which names are spared at deletion: a name that a DatabaseUser or (Cluster)DatabaseRole on the same
instance manages belongs to that resource — typically the DatabaseUser declared to give the app user a password —
and is left for it to drop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dbops.controllers.instances import CLUSTER_INSTANCE, INSTANCE, InstanceTarget
from dbops.engines.ownership import OwnershipNames
from dbops.engines.registry import InstanceKey

__all__ = ["created_roles", "instance_of", "ownership_status", "spared_names", "with_created_roles"]


def ownership_status(names: OwnershipNames, phase: str, message: str, created: list[str] | None) -> dict[str, Any]:
    """status.postgres.ownership; `created` (None: not recorded) lists the roles the Database created."""
    status: dict[str, Any] = {"roleName": names.role, "userName": names.user, "phase": phase, "message": message}
    if created is not None:
        status["created"] = created
    return status


def created_roles(status: Mapping[str, Any] | None) -> list[str] | None:
    """The auto-ownership roles the Database recorded as created by it; None for a status from before the record."""
    ownership = ((status or {}).get("postgres") or {}).get("ownership") or {}
    created = ownership.get("created")
    return [str(name) for name in created] if isinstance(created, list) else None


def with_created_roles(status: Mapping[str, Any], names: OwnershipNames, created: list[str]) -> dict[str, Any]:
    """status.postgres with `created` extended by the roles just created. The record starts when the Database
    creates or takes over its database, so a role that existed before is never claimed; a Database from before the
    record keeps the old rule (both dropped)."""
    postgres = dict(status.get("postgres") or {})
    ownership = dict(postgres.get("ownership") or {"roleName": names.role, "userName": names.user})
    ownership["created"] = sorted({*(created_roles(status) or []), *created})
    postgres["ownership"] = ownership
    return postgres


def instance_of(raw: Mapping[str, Any]) -> InstanceKey | None:
    """The instance a DatabaseUser / role object points at, keyed as `target_of` keys it."""
    spec = raw.get("spec") or {}
    if ref := spec.get("clusterInstanceRef"):
        return InstanceKey(CLUSTER_INSTANCE.kind, "", str(ref.get("name") or ""))
    if ref := spec.get("instanceRef"):
        namespace = ref.get("namespace") or (raw.get("metadata") or {}).get("namespace") or ""
        return InstanceKey(INSTANCE.kind, str(namespace), str(ref.get("name") or ""))
    return None


def spared_names(
    names: OwnershipNames,
    target: InstanceTarget,
    users: Iterable[Mapping[str, Any]],
    roles: Iterable[Mapping[str, Any]],
) -> set[str]:
    """The names of `names` that another resource on the same instance manages: a DatabaseUser whose `username` is
    the name, or a DatabaseRole / ClusterDatabaseRole whose `roleName` is (behaviour.md 7.8). Objects being deleted
    still count: they drop the account themselves."""
    wanted = {names.role, names.user}
    spared: set[str] = set()
    for raw, field in [*((u, "username") for u in users), *((r, "roleName") for r in roles)]:
        name = (raw.get("spec") or {}).get(field)
        if name in wanted and instance_of(raw) == target.key:
            spared.add(str(name))
    return spared
