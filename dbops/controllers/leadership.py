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
from dbops.runtime import DELETED, Event, Manager


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


def follow_informer_stream(manager: Manager, reconciler: KindReconciler[Any], instance_id: str) -> None:
    """Keep the object-describing gauges of one kind in step with its informer on the leader (observability.md 2.2):
    adds and updates publish from the stored status, deletes and partition changes drop the series. Paused objects
    and objects waiting for a dependency are therefore shown as they are stored, without a reconcile."""

    def handle(event: Event) -> None:
        if not manager.is_leader:
            return
        meta = event.obj.get("metadata") or {}
        if event.type == DELETED or not ann.in_partition(meta.get("labels"), instance_id):
            reconciler.forget(meta.get("namespace"), meta.get("name", ""))
            return
        try:
            model = reconciler.info.model.model_validate(event.obj)
        except ValueError:
            return  # an object the schema would not admit today; its reconcile reports it
        reconciler.publish_stored(model, reconciler.draft(event.obj))

    manager.informer(reconciler.resource).add_handler(handle)
