"""EventBroadcaster logic against an in-memory fake of the two API calls it makes (create, merge patch)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from dbops.runtime.client import ApiError, KubeClient, NotFound, Resource
from dbops.runtime.events import EventBroadcaster, emit_on_change, truncate_message
from dbops.runtime.log import reconcile_id_var


class FakeEventsApi:
    def __init__(self) -> None:
        self.events: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[str] = []
        self.fail_next: list[ApiError] = []

    def _maybe_fail(self) -> None:
        if self.fail_next:
            raise self.fail_next.pop(0)

    async def create(self, resource: Resource, body: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        self.calls.append("create")
        self._maybe_fail()
        self.events[(body["metadata"]["namespace"], body["metadata"]["name"])] = dict(body)
        return body

    async def patch(self, resource: Resource, name: str, patch: Any, namespace: str | None = None, **_: Any) -> Any:
        self.calls.append("patch")
        self._maybe_fail()
        key = (namespace or "", name)
        if key not in self.events:
            raise NotFound(404, "NotFound", "gone")
        self.events[key].update(patch)
        return self.events[key]


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


DB: dict[str, Any] = {
    "apiVersion": "dbops.dbprovision.io/v1alpha1",
    "kind": "Database",
    "metadata": {"name": "orders", "namespace": "shop", "uid": "uid-1", "resourceVersion": "42"},
}
CLUSTER_ROLE: dict[str, Any] = {
    "apiVersion": "dbops.dbprovision.io/v1alpha1",
    "kind": "ClusterDatabaseRole",
    "metadata": {"name": "readers", "uid": "uid-2"},
}


@contextlib.asynccontextmanager
async def running(**kw: Any) -> AsyncIterator[tuple[EventBroadcaster, FakeEventsApi]]:
    api = FakeEventsApi()
    b = EventBroadcaster(cast(KubeClient, api), reporting_instance="pod-1", retry_base=0.001, **kw)
    task = asyncio.create_task(b.run())
    try:
        yield b, api
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_event_fields() -> None:
    async with running() as (b, api):
        rec = b.recorder("database-controller")
        assert rec.normal(DB, "Created", "Created database orders on instance pg")
        assert rec.warning(CLUSTER_ROLE, "CreateFailed", "boom")
        assert await b.flush(1)
    (ev1, ev2) = api.events.values()
    assert ev1["metadata"]["namespace"] == "shop"
    assert ev1["metadata"]["name"].startswith("orders.") and len(ev1["metadata"]["name"]) == len("orders.") + 16
    assert ev1["involvedObject"] == {
        "apiVersion": "dbops.dbprovision.io/v1alpha1",
        "kind": "Database",
        "name": "orders",
        "namespace": "shop",
        "uid": "uid-1",
        "resourceVersion": "42",
    }
    assert ev1["source"] == {"component": "database-controller"}
    assert ev1["reportingComponent"] == "database-controller"
    assert ev1["reportingInstance"] == "pod-1"
    assert ev1["count"] == 1 and ev1["firstTimestamp"] == ev1["lastTimestamp"]
    assert ev1["type"] == "Normal" and ev1["reason"] == "Created"
    # Cluster-scoped objects: event in "default", no involvedObject.namespace.
    assert ev2["metadata"]["namespace"] == "default" and "namespace" not in ev2["involvedObject"]


async def test_identical_events_aggregate_into_one_object() -> None:
    async with running(burst=1000) as (b, api):
        rec = b.recorder("database-controller")
        for _ in range(100):
            rec.warning(DB, "CreateFailed", "same message")
        rec.warning(DB, "CreateFailed", "different message")
        assert await b.flush(2)
    counts = sorted(e["count"] for e in api.events.values())
    assert counts == [1, 100]
    agg = next(e for e in api.events.values() if e["count"] == 100)
    assert agg["series"]["count"] == 100
    # Repeats queued behind a pending write are folded into it: far fewer writes than emissions.
    assert len(api.calls) <= 4


async def test_aggregation_window_expires() -> None:
    clock = Clock()
    async with running(clock=clock) as (b, api):
        rec = b.recorder("database-controller")
        rec.normal(DB, "Created", "m")
        await b.flush(1)
        clock.now += 601
        rec.normal(DB, "Created", "m")
        await b.flush(1)
    assert sorted(e["count"] for e in api.events.values()) == [1, 1]


async def test_per_object_rate_limit_burst_and_refill() -> None:
    clock = Clock()
    async with running(clock=clock) as (b, api):
        rec = b.recorder("database-controller")
        accepted = [rec.normal(DB, "Reason", f"message {i}") for i in range(40)]
        assert accepted == [True] * 25 + [False] * 15
        # Another object has its own budget; another source too.
        other = {**DB, "metadata": {**DB["metadata"], "uid": "uid-9", "name": "other"}}
        assert rec.normal(other, "Reason", "x")
        assert b.recorder("databaseuser-controller").normal(DB, "Reason", "y")
        clock.now += 300  # one token every 5 minutes
        assert rec.normal(DB, "Reason", "after refill")
        assert not rec.normal(DB, "Reason", "still limited")
        await b.flush(2)
    assert b.stats.rate_limited == 16
    assert len(api.events) == 25 + 1 + 1 + 1


async def test_warning_prefix_and_truncation() -> None:
    token = reconcile_id_var.set("rid-123")
    try:
        async with running() as (b, api):
            rec = b.recorder("database-controller")
            rec.warning(DB, "CreateFailed", "x" * 2000)
            rec.normal(DB, "Created", "no prefix for normal events")
            await b.flush(1)
    finally:
        reconcile_id_var.reset(token)
    warning = next(e for e in api.events.values() if e["type"] == "Warning")
    assert warning["message"].startswith("[rid-123] ")
    assert len(warning["message"]) == 1024 and warning["message"].endswith("…")
    normal = next(e for e in api.events.values() if e["type"] == "Normal")
    assert normal["message"] == "no prefix for normal events"
    assert truncate_message("short") == "short"
    with pytest.raises(ValueError):
        b.recorder("x").event(DB, "Info", "r", "m")


async def test_transient_failures_are_retried_then_dropped() -> None:
    async with running(max_retries=3) as (b, api):
        rec = b.recorder("database-controller")
        api.fail_next = [ApiError(503, "ServiceUnavailable"), ApiError(0, "TransportError")]
        rec.normal(DB, "Created", "eventually written")
        assert await b.flush(2)
        assert len(api.events) == 1
        api.fail_next = [ApiError(503, "x")] * 3
        rec.normal(DB, "Created", "dropped after three attempts")
        assert await b.flush(2)
        api.fail_next = [ApiError(403, "Forbidden")]
        rec.normal(DB, "Created", "dropped at once")
        assert await b.flush(2)
    assert len(api.events) == 1
    assert b.stats.dropped_failed == 2


async def test_expired_event_is_recreated_on_next_repeat() -> None:
    async with running() as (b, api):
        rec = b.recorder("database-controller")
        rec.normal(DB, "Created", "m")
        await b.flush(1)
        api.events.clear()  # TTL expired on the server
        rec.normal(DB, "Created", "m")
        await b.flush(1)
    (ev,) = api.events.values()
    assert ev["count"] == 2


async def test_queue_bound() -> None:
    api = FakeEventsApi()
    b = EventBroadcaster(cast(KubeClient, api), reporting_instance="p", queue_size=3, burst=100)
    rec = b.recorder("c")
    results = [rec.normal(DB, "R", f"m{i}") for i in range(5)]  # sender not running: the queue fills
    assert results == [True, True, True, False, False]
    assert b.pending == 3


async def test_emit_on_change() -> None:
    async with running() as (b, api):
        rec = b.recorder("databaseinstance-controller")
        assert not emit_on_change(
            rec, DB, previous="True", current="True", etype="Normal", reason="Connected", message="m"
        )
        built: list[int] = []

        def message() -> str:
            built.append(1)
            return "Connected to postgres"

        assert emit_on_change(
            rec, DB, previous=None, current="True", etype="Normal", reason="Connected", message=message
        )
        await b.flush(1)
    assert built == [1]
    assert [e["reason"] for e in api.events.values()] == ["Connected"]


class SlowEventsApi(FakeEventsApi):
    """Each write takes a while; records how many are in flight at once and whether one Event is ever written twice
    concurrently."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight: set[str] = set()
        self.peak = 0
        self.overlapped = False

    async def _slow(self, name: str) -> None:
        if name in self.in_flight:
            self.overlapped = True
        self.in_flight.add(name)
        self.peak = max(self.peak, len(self.in_flight))
        await asyncio.sleep(0.01)
        self.in_flight.discard(name)

    async def create(self, resource: Resource, body: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        await self._slow(body["metadata"]["name"])
        return await super().create(resource, body, namespace)

    async def patch(self, resource: Resource, name: str, patch: Any, namespace: str | None = None, **_: Any) -> Any:
        await self._slow(name)
        return await super().patch(resource, name, patch, namespace)


async def test_writers_drain_a_burst_concurrently_without_sharing_an_event() -> None:
    api = SlowEventsApi()
    b = EventBroadcaster(cast(KubeClient, api), reporting_instance="p", writers=4, burst=100)
    task = asyncio.create_task(b.run())
    try:
        rec = b.recorder("c")
        for i in range(40):
            rec.normal({**DB, "metadata": {**DB["metadata"], "name": f"db{i}", "uid": f"u{i}"}}, "R", "m")
        for _ in range(5):  # repeats of one Event while it may be in flight: folded, never written twice at once
            rec.normal(DB, "R", "same")
        assert await b.flush(5.0)
        assert api.peak > 1 and not api.overlapped
        assert len(api.events) == 41
        same = [e for e in api.events.values() if e["message"] == "same"]
        assert len(same) == 1 and same[0]["count"] == 5
        assert b.pending == 0
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
