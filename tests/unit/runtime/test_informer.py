"""Informer protocol logic (paging, bookmarks, duplicate suppression, 410 relist-with-diff, backoff) against a scripted
fake of list/watch. The same behaviour is exercised against the real API server in tests/integration/runtime."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Any, cast

from dbops.runtime.client import ApiError, Gone, KubeClient, Resource
from dbops.runtime.informer import ADDED, DELETED, MODIFIED, Event, Informer

THINGS = Resource("test.dbops.io", "v1", "things", "Thing")


def thing(name: str, rv: int, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": str(rv), "managedFields": [{"m": 1}]},
        "spec": spec,
    }


class FakeApi:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.list_rv = 0
        self.sessions: list[list[dict[str, Any]] | Exception] = []
        self.watch_rvs: list[str | None] = []
        self.list_calls = 0
        self.idle = asyncio.Event()

    async def list(self, resource: Resource, namespace: str | None = None, **kw: Any) -> dict[str, Any]:
        self.list_calls += 1
        names = sorted(self.objects)
        start = int(kw.get("continue_token") or 0)
        limit = kw.get("limit") or len(names)
        page = names[start : start + limit]
        meta: dict[str, Any] = {"resourceVersion": str(self.list_rv)}
        if start + limit < len(names):
            meta["continue"] = str(start + limit)
        return {"metadata": meta, "items": [dict(self.objects[n]) for n in page]}

    async def watch(
        self, resource: Resource, namespace: str | None = None, **kw: Any
    ) -> AsyncGenerator[dict[str, Any], None]:
        self.watch_rvs.append(kw.get("resource_version"))
        if not self.sessions:
            self.idle.set()
            await asyncio.Event().wait()
        session = self.sessions.pop(0)
        if isinstance(session, Exception):
            raise session
        for ev in session:
            yield ev


async def start(api: FakeApi, **kw: Any) -> tuple[Informer, list[Event], asyncio.Task[None]]:
    inf = Informer(cast(KubeClient, api), THINGS, page_size=2, backoff_base=0.001, backoff_cap=0.002, **kw)
    seen: list[Event] = []
    inf.add_handler(seen.append)
    task = asyncio.create_task(inf.run())
    return inf, seen, task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def summary(events: list[Event]) -> list[tuple[str, str, str]]:
    return [(e.type, e.obj["metadata"]["name"], e.obj["metadata"]["resourceVersion"]) for e in events]


async def test_initial_paged_list_then_watch_with_bookmarks_and_duplicates() -> None:
    api = FakeApi()
    for i, n in enumerate("abc"):
        api.objects[n] = thing(n, 10 + i)
    api.list_rv = 12
    api.sessions = [
        [
            {"type": "MODIFIED", "object": thing("a", 13, x=1)},
            {"type": "MODIFIED", "object": thing("a", 13, x=1)},  # replayed: dropped
            {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "20"}}},
            {"type": "DELETED", "object": thing("b", 21)},
            {"type": "ADDED", "object": thing("d", 22)},
        ]
    ]
    inf, seen, task = await start(api)
    await asyncio.wait_for(api.idle.wait(), 2)
    await stop(task)
    assert inf.has_synced and api.list_calls == 2  # two pages of two
    assert summary(seen) == [
        (ADDED, "a", "10"),
        (ADDED, "b", "11"),
        (ADDED, "c", "12"),
        (MODIFIED, "a", "13"),
        (DELETED, "b", "21"),
        (ADDED, "d", "22"),
    ]
    assert all(e.initial for e in seen[:3]) and not any(e.initial for e in seen[3:])
    assert seen[3].old is not None and seen[3].old["metadata"]["resourceVersion"] == "10"
    assert seen[4].old is not None and seen[4].old["metadata"]["resourceVersion"] == "11"
    # Watches resume from the list rv, then from the last event (bookmarks included).
    assert api.watch_rvs == ["12", "22"]
    stored = inf.store.get("ns/a")
    assert stored is not None and "managedFields" not in stored["metadata"] and stored["kind"] == "Thing"
    assert sorted(inf.store.keys()) == ["ns/a", "ns/c", "ns/d"]


async def test_gone_relists_and_emits_exact_differences() -> None:
    api = FakeApi()
    for i, n in enumerate("abc"):
        api.objects[n] = thing(n, 10 + i)
    api.list_rv = 12
    inf, seen, task = await start(api)
    await asyncio.wait_for(api.idle.wait(), 2)
    await stop(task)
    seen.clear()
    api.idle.clear()
    # While the informer is away: a changed, b deleted, c unchanged, d created; then the watch answers 410.
    api.objects["a"] = thing("a", 30, x=2)
    del api.objects["b"]
    api.objects["d"] = thing("d", 31)
    api.list_rv = 31
    api.sessions = [[{"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}}]]
    task = asyncio.create_task(inf.run())  # resumes from the remembered resourceVersion
    await asyncio.wait_for(api.idle.wait(), 2)
    await stop(task)
    assert sorted(summary(seen)) == [(ADDED, "d", "31"), (DELETED, "b", "11"), (MODIFIED, "a", "30")]
    assert all(e.synthetic for e in seen)
    assert api.watch_rvs == ["12", "12", "31"]


async def test_gone_on_watch_request_and_transient_errors_back_off() -> None:
    api = FakeApi()
    api.objects["a"] = thing("a", 5)
    api.list_rv = 5
    api.sessions = [ApiError(0, "TransportError", "connection refused"), TimeoutError("stalled"), Gone(410, "Expired")]
    inf, seen, task = await start(api)
    await asyncio.wait_for(api.idle.wait(), 5)
    await stop(task)
    assert api.list_calls == 2  # initial + relist after the 410
    assert summary(seen) == [(ADDED, "a", "5")]  # the relist found nothing new: no duplicate
    assert inf.stats["relists"] == 1 and inf.stats["stalls"] == 1
    assert inf.failing_for() == 0.0


async def test_multi_namespace_scopes_share_one_store() -> None:
    class NsApi(FakeApi):
        async def list(self, resource: Resource, namespace: str | None = None, **kw: Any) -> dict[str, Any]:
            obj = thing(f"x-{namespace}", 1)
            obj["metadata"]["namespace"] = namespace
            return {"metadata": {"resourceVersion": "1"}, "items": [obj]}

    api = NsApi()
    inf = Informer(cast(KubeClient, api), THINGS, namespaces=["n1", "n2"])
    task = asyncio.create_task(inf.run())
    assert await inf.wait_synced(2)
    await stop(task)
    assert sorted(inf.store.keys()) == ["n1/x-n1", "n2/x-n2"]
