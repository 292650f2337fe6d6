"""Informer + controller against the real API server: an API-server restart, and an etcd compaction that forces 410
Gone. After each disruption every change must be reconciled, and no (object, resourceVersion) twice."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from typing import Any

import pytest

from dbops.runtime.client import KubeClient, NotFound
from dbops.runtime.controller import Controller, ControllerSpec, Request, Result
from dbops.runtime.informer import Informer
from tests.integration.runtime.conftest import WIDGETS, eventually, widget


class RecordingReconciler:
    """Records the resourceVersion of the cached object each reconcile saw (``None``: the object was gone)."""

    def __init__(self, informer: Informer) -> None:
        self.store = informer.store
        self.seen: list[tuple[str, str | None]] = []

    async def reconcile(self, request: Request) -> Result | None:
        obj = self.store.get(request.key)
        self.seen.append((request.key, obj["metadata"]["resourceVersion"] if obj else None))
        return None

    def duplicates(self) -> list[tuple[str, str | None]]:
        return [pair for pair, n in Counter(self.seen).items() if n > 1]


class Harness:
    def __init__(self, kube: KubeClient, namespace: str, name: str) -> None:
        self.kube = kube
        self.namespace = namespace
        # Short server timeouts so that the test also exercises ordinary watch restarts.
        self.informer = Informer(kube, WIDGETS, namespaces=[namespace], server_timeout=20, inactivity_timeout=30)
        self.reconciler = RecordingReconciler(self.informer)
        self.controller = Controller(
            ControllerSpec(name=name, resource=WIDGETS, reconciler=self.reconciler, max_concurrency=2),
            self.informer.store,
        )
        self.controller.watch_primary(self.informer)
        self.informer_task: asyncio.Task[None] | None = None
        self.controller_task: asyncio.Task[None] | None = None

    def start_informer(self) -> None:
        self.informer_task = asyncio.create_task(self.informer.run())

    async def stop_informer(self) -> None:
        assert self.informer_task is not None
        self.informer_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.informer_task

    async def __aenter__(self) -> Harness:
        self.start_informer()
        self.controller_task = asyncio.create_task(self.controller.run())
        assert await self.informer.wait_synced(30)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.controller.stop(5)
        if self.informer_task is not None and not self.informer_task.done():
            await self.stop_informer()

    async def server_state(self) -> dict[str, str]:
        items, _ = await self.kube.list_all(WIDGETS, self.namespace)
        return {f"{self.namespace}/{o['metadata']['name']}": o["metadata"]["resourceVersion"] for o in items}

    async def wait_reconciled(self, expected: dict[str, str | None], within: float = 60) -> None:
        def done() -> bool:
            seen = set(self.reconciler.seen)
            return all((k, rv) in seen for k, rv in expected.items())

        await eventually(done, within=within, what=f"reconciled {expected}")


async def create(kube: KubeClient, namespace: str, name: str, **spec: Any) -> str:
    out = await kube.create(WIDGETS, widget(name, namespace, **spec))
    return str(out["metadata"]["resourceVersion"])


async def patch(kube: KubeClient, namespace: str, name: str, **spec: Any) -> str:
    out = await kube.patch(WIDGETS, name, {"spec": spec}, namespace)
    return str(out["metadata"]["resourceVersion"])


async def retrying(fn: Any, *args: Any, **kw: Any) -> Any:
    """Writes right after an API-server restart may meet a not-yet-ready server; retry briefly."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        try:
            return await fn(*args, **kw)
        except NotFound:
            raise
        except Exception:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.5)


async def test_watch_survives_apiserver_restart(kube: KubeClient, namespace: str, control_plane: Any) -> None:
    async with Harness(kube, namespace, "widget-restart") as h:
        rvs = {f"{namespace}/w{i}": await create(kube, namespace, f"w{i}", n=i) for i in range(5)}
        await h.wait_reconciled(dict(rvs))
        watches_before = h.informer.stats["watches"]

        await asyncio.to_thread(control_plane.restart_apiserver)

        expected: dict[str, str | None] = dict(rvs)
        expected[f"{namespace}/w0"] = await retrying(patch, kube, namespace, "w0", n=100)
        await retrying(kube.delete, WIDGETS, "w1", namespace)
        expected[f"{namespace}/w1"] = None
        expected[f"{namespace}/w5"] = await retrying(create, kube, namespace, "w5", n=5)
        await h.wait_reconciled(expected)

        # The informer noticed the broken stream and watched again; the cache equals the server.
        assert h.informer.stats["watches"] > watches_before
        assert await h.server_state() == {k: h.informer.store.resource_version(k) for k in h.informer.store.list_keys()}
        assert h.reconciler.duplicates() == []


async def test_compaction_410_relists_without_missing_or_duplicating(
    kube: KubeClient, namespace: str, control_plane: Any
) -> None:
    async with Harness(kube, namespace, "widget-410") as h:
        rvs = {f"{namespace}/w{i}": await create(kube, namespace, f"w{i}", n=i) for i in range(4)}
        await h.wait_reconciled(dict(rvs))
        relists_before = h.informer.stats["relists"]

        # The informer goes away (its last resourceVersion is kept); meanwhile the world changes ...
        await h.stop_informer()
        await patch(kube, namespace, "w0", n=10)
        expected: dict[str, str | None] = dict(rvs)
        expected[f"{namespace}/w0"] = await patch(kube, namespace, "w0", n=11)  # the intermediate version is skipped
        await kube.delete(WIDGETS, "w1", namespace)
        expected[f"{namespace}/w1"] = None
        expected[f"{namespace}/w4"] = await create(kube, namespace, "w4", n=4)
        # ... and the history it would need is destroyed: compact etcd, restart the API server (fresh watch cache).
        await asyncio.to_thread(control_plane.compact_etcd)
        await asyncio.to_thread(control_plane.restart_apiserver)

        h.start_informer()  # resumes from the old resourceVersion → 410 Gone → relist and diff
        await h.wait_reconciled(expected)

        assert h.informer.stats["relists"] > relists_before, "the resumed watch should have been answered with 410"
        assert await h.server_state() == {k: h.informer.store.resource_version(k) for k in h.informer.store.list_keys()}
        assert h.reconciler.duplicates() == []
        # Unchanged objects were not reconciled again by the relist.
        for key in (f"{namespace}/w2", f"{namespace}/w3"):
            assert [rv for k, rv in h.reconciler.seen if k == key] == [rvs[key]]


@pytest.mark.parametrize("metadata_only", [True])
async def test_metadata_only_informer_keeps_no_data(kube: KubeClient, namespace: str, metadata_only: bool) -> None:
    from dbops.runtime.client import SECRETS

    await kube.create(
        SECRETS,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "s1", "namespace": namespace},
            "stringData": {"k": "v"},
        },
    )
    informer = Informer(kube, SECRETS, namespaces=[namespace], metadata_only=metadata_only)
    task = asyncio.create_task(informer.run())
    try:
        assert await informer.wait_synced(30)
        cached = informer.store.get(f"{namespace}/s1")
        assert cached is not None and cached["kind"] == "PartialObjectMetadata"
        assert "data" not in cached and "stringData" not in cached
        assert "managedFields" not in cached["metadata"]
        await kube.patch(SECRETS, "s1", {"metadata": {"labels": {"changed": "yes"}}}, namespace)
        await eventually(
            lambda: (
                (informer.store.get(f"{namespace}/s1") or {}).get("metadata", {}).get("labels") == {"changed": "yes"}
            )
        )
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
