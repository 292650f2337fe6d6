"""What a process does on becoming leader, before its workers start (runtime.md 3, step 7).

Gauges derived from stored status (info metrics, resource counts, instance health and last check, database sizes)
are rebuilt from the caches, so a new leader's dashboards are right at once, including for objects that are paused
or waiting and will not be reconciled soon (observability.md 2.2).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dbops.controllers import annotations as ann
from dbops.controllers.base import KindReconciler


def rebuild_status_metrics(reconcilers: Iterable[KindReconciler[Any]], instance_id: str) -> int:
    """Publish every handled object's status-derived gauges; returns how many objects were published."""
    published = 0
    for reconciler in reconcilers:
        for raw in reconciler.store.list():
            meta = raw.get("metadata") or {}
            if not ann.in_partition(meta.get("labels"), instance_id):
                continue
            reconciler.publish_stored(reconciler.info.model.model_validate(raw), reconciler.draft(raw))
            published += 1
    return published
