"""Status patches and finalizers against the real API server."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY

from dbops.runtime.client import KubeClient
from dbops.runtime.finalizers import add_finalizer, has_finalizer, remove_finalizer
from dbops.runtime.status import patch_status, set_condition
from tests.integration.runtime.conftest import WIDGETS, widget
from tests.support.env import DevEnv

FIN = "dbops.dbprovision.io/finalizer"


def _rejected_patches() -> float:
    return sum(
        REGISTRY.get_sample_value(
            "rest_client_requests_total", {"code": code, "method": "PATCH", "host": DevEnv.load().apiserver_host}
        )
        or 0.0
        for code in ("409", "422")
    )


async def test_patch_status_writes_only_changes_and_keeps_transition_time(kube: KubeClient, namespace: str) -> None:
    obj = await kube.create(WIDGETS, widget("st", namespace, size=1))
    status: dict[str, Any] = {"phase": "Pending", "conditions": [], "extra": {"a": 1}}
    set_condition(status["conditions"], "Ready", "False", "Waiting", "waiting", obj["metadata"]["generation"])
    written = await patch_status(kube, WIDGETS, obj, status)
    assert written is not None and written["status"] == status
    rv = written["metadata"]["resourceVersion"]

    # Same content: no request, no new resourceVersion.
    assert await patch_status(kube, WIDGETS, written, dict(status)) is None
    assert (await kube.get(WIDGETS, "st", namespace))["metadata"]["resourceVersion"] == rv

    # A reason change keeps lastTransitionTime; a removed key is removed on the server (merge-patch null).
    new_status: dict[str, Any] = {"phase": "Pending", "conditions": [dict(c) for c in status["conditions"]]}
    first_transition = new_status["conditions"][0]["lastTransitionTime"]
    assert set_condition(
        new_status["conditions"], "Ready", "False", "StillWaiting", "still", 1, now="2099-01-01T00:00:00Z"
    )
    written2 = await patch_status(kube, WIDGETS, written, new_status)
    assert written2 is not None
    assert written2["status"] == new_status and "extra" not in written2["status"]
    assert written2["status"]["conditions"][0]["lastTransitionTime"] == first_transition
    # The status subresource does not touch spec.
    assert written2["spec"] == {"size": 1}
    assert written2["metadata"]["generation"] == obj["metadata"]["generation"]


async def test_finalizer_add_remove_is_conflict_safe(kube: KubeClient, namespace: str) -> None:
    await kube.create(WIDGETS, widget("fin", namespace))
    try:
        obj = await kube.get(WIDGETS, "fin", namespace)
        rejected_before = _rejected_patches()
        stale = dict(obj)
        # Another writer adds its own finalizer after we read the object.
        await kube.patch(WIDGETS, "fin", {"metadata": {"finalizers": ["other.io/keep"]}}, namespace)
        updated = await add_finalizer(kube, WIDGETS, stale, FIN)
        assert updated is not None
        assert updated["metadata"]["finalizers"] == ["other.io/keep", FIN]
        assert _rejected_patches() == rejected_before + 1  # the stale patch was refused by its test op, then retried
        # Idempotent: no request needed when present.
        assert await add_finalizer(kube, WIDGETS, updated, FIN) == updated

        # Removal from a stale copy keeps the other writers' finalizers.
        await kube.patch(WIDGETS, "fin", {"metadata": {"finalizers": ["first.io/x", "other.io/keep", FIN]}}, namespace)
        after = await remove_finalizer(kube, WIDGETS, updated, FIN)
        assert after is not None and after["metadata"]["finalizers"] == ["first.io/x", "other.io/keep"]
        assert not has_finalizer(after, FIN)
        assert _rejected_patches() == rejected_before + 2
    finally:
        # Leave nothing that would block the namespace's deletion.
        await kube.patch(WIDGETS, "fin", {"metadata": {"finalizers": None}}, namespace)


async def test_removing_last_finalizer_of_deleted_object(kube: KubeClient, namespace: str) -> None:
    created = await kube.create(WIDGETS, widget("gone", namespace))
    assert await add_finalizer(kube, WIDGETS, created, FIN) is not None
    await kube.delete(WIDGETS, "gone", namespace)
    deleting = await kube.get(WIDGETS, "gone", namespace)
    assert deleting["metadata"].get("deletionTimestamp")
    await remove_finalizer(kube, WIDGETS, deleting, FIN)
    assert await kube.get_or_none(WIDGETS, "gone", namespace) is None
    # On an object that no longer exists the helper reports None instead of failing.
    assert await add_finalizer(kube, WIDGETS, deleting, "x.io/y") is None
