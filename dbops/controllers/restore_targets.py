"""Which database a running restore writes into, as other kinds ask it (backup.md 10.3).

While a restore loads a database, the Database resource that manages it must not apply or correct drift (it would
fight the load), and backups of it must wait (they would capture half a restore). Both ask the same question of
the DatabaseRestore cache: is a restore Running into this database? A restore records its target in
``status.restore`` when it starts (instance as its cache key, database as named on the server), and an in-place
restore names its Database resource in ``spec.target.databaseRef``, so either identifies it.
"""

from __future__ import annotations

from typing import Any

from dbops.runtime import Store

__all__ = ["restore_running_into"]


def restore_running_into(
    restores: Store,
    *,
    resource: tuple[str, str] | None = None,
    instance: str | None = None,
    server_name: str | None = None,
) -> str | None:
    """The ``namespace/name`` of a Running restore into the Database resource ``resource`` (namespace, name), or
    into ``server_name`` on the instance whose cache key is ``instance``; None when there is none."""
    for restore in restores.list():
        status: dict[str, Any] = restore.get("status") or {}
        if status.get("phase") != "Running":
            continue
        meta = restore.get("metadata") or {}
        ref = ((restore.get("spec") or {}).get("target") or {}).get("databaseRef") or {}
        by_reference = resource is not None and (ref.get("namespace") or meta.get("namespace"), ref.get("name")) == (
            resource
        )
        recorded = status.get("restore") or {}
        by_target = (
            instance is not None
            and server_name is not None
            and recorded.get("targetInstance") == instance
            and recorded.get("targetDatabase") == server_name
        )
        if by_reference or by_target:
            return f"{meta.get('namespace')}/{meta.get('name')}"
    return None
