"""EventBroadcaster logic against an in-memory fake of the two API calls it makes (create, merge patch)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any, cast

import pytest
import structlog

from dbops.runtime.client import ApiError, KubeClient, NotFound, Resource
from dbops.runtime.events import EventBroadcaster, truncate_message
from dbops.runtime.log import configure_logging, reconcile_id_var


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
async def broadcasting(api: Any, **kw: Any) -> AsyncIterator[EventBroadcaster]:
    """A running broadcaster writing to `api`, stopped at the end."""
    b = EventBroadcaster(cast(KubeClient, api), **{"reporting_instance": "pod-1", "retry_base": 0.001, **kw})
    task = asyncio.create_task(b.run())
    try:
        yield b
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def running(**kw: Any) -> AsyncIterator[tuple[EventBroadcaster, FakeEventsApi]]:
    api = FakeEventsApi()
    async with broadcasting(api, **kw) as b:
        yield b, api


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


class GatedEventsApi(FakeEventsApi):
    """Each write waits until the test opens its gate: `started` lists the writes in flight, by involved name."""

    def __init__(self) -> None:
        super().__init__()
        self.started: list[str] = []
        self.gates: dict[str, list[asyncio.Event]] = {}

    async def _gate(self, event_name: str) -> None:
        involved = event_name.rsplit(".", 1)[0]
        gate = asyncio.Event()
        self.gates.setdefault(involved, []).append(gate)
        self.started.append(involved)
        await gate.wait()

    def open(self, involved: str) -> None:
        """Let the oldest waiting write about `involved` proceed."""
        self.gates[involved].pop(0).set()

    async def create(self, resource: Resource, body: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        await self._gate(body["metadata"]["name"])
        return await super().create(resource, body, namespace)

    async def patch(self, resource: Resource, name: str, patch: Any, namespace: str | None = None, **_: Any) -> Any:
        await self._gate(name)
        return await super().patch(resource, name, patch, namespace)


def about(name: str) -> dict[str, Any]:
    return {**DB, "metadata": {**DB["metadata"], "name": name, "uid": f"uid-{name}"}}


async def until(check: Any, what: str) -> None:
    """Yield loop turns until `check()` holds (the writers run meanwhile); fail after 1,000 turns."""
    for _ in range(1000):
        if check():
            return
        await asyncio.sleep(0)
    pytest.fail(f"not within 1,000 loop turns: {what}")


@contextlib.asynccontextmanager
async def gated(**kw: Any) -> AsyncIterator[tuple[EventBroadcaster, GatedEventsApi]]:
    api = GatedEventsApi()
    async with broadcasting(api, **{"burst": 100, **kw}) as b:
        yield b, api


async def test_flushed_waits_for_every_earlier_emission_and_not_for_later_ones() -> None:
    async with gated(writers=4) as (b, api):
        rec = b.recorder("c")
        assert b.submitted == 0 and b.settled_through == 0
        await asyncio.wait_for(b.flushed(), 1)  # nothing emitted yet: returns at once
        rec.normal(about("a"), "R", "m")
        rec.normal(about("b"), "R", "m")
        assert b.submitted == 2
        waiter = asyncio.create_task(b.flushed())
        await until(lambda: sorted(api.started) == ["a", "b"], "both writes in flight")
        api.open("b")
        await until(lambda: any(e["involvedObject"]["name"] == "b" for e in api.events.values()), "b written")
        # The younger write finished first: the barrier stays where the older, unwritten one holds it.
        assert b.settled_through == 0 and not waiter.done()
        rec.normal(about("c"), "R", "m")  # emitted after the barrier was taken: it must not hold the barrier up
        await until(lambda: "c" in api.started, "c in flight")
        api.open("a")
        await asyncio.wait_for(waiter, 1)
        assert b.settled_through == 2 and b.submitted == 3 and b.pending == 1
        assert {e["involvedObject"]["name"] for e in api.events.values()} == {"a", "b"}
        late = asyncio.create_task(b.flushed())
        await until(lambda: b.settled_through == 2 and not late.done(), "the barrier of c taken")
        api.open("c")
        await asyncio.wait_for(late, 1)
        assert b.settled_through == 3 and len(api.events) == 3


async def test_a_repeat_folded_into_a_write_in_flight_is_settled_by_the_write_that_carries_it() -> None:
    async with gated() as (b, api):
        rec = b.recorder("c")
        rec.warning(about("a"), "Failed", "same")
        await until(lambda: api.started == ["a"], "the create in flight")
        rec.warning(about("a"), "Failed", "same")  # folded: the create in flight carries count 1 only
        api.open("a")
        await until(lambda: api.started == ["a", "a"], "the patch carrying the repeat in flight")
        assert b.settled_through == 1 and b.submitted == 2
        (event,) = api.events.values()
        assert event["count"] == 1
        api.open("a")
        await asyncio.wait_for(b.flushed(), 1)
        assert b.settled_through == 2 and event["count"] == 2 and api.calls == ["create", "patch"]


async def test_dropped_emissions_settle_too() -> None:
    async with gated(burst=1, max_retries=1) as (b, api):
        rec = b.recorder("c")
        assert rec.normal(about("a"), "R", "first")
        assert not rec.normal(about("a"), "R", "rate-limited")
        await until(lambda: api.started == ["a"], "the first write in flight")
        assert b.settled_through == 0, "the rate-limited emission is settled, the older one in flight is not"
        api.fail_next = [ApiError(403, "Forbidden")]  # permanent: dropped after one attempt
        api.open("a")
        await asyncio.wait_for(b.flushed(), 1)
        assert b.settled_through == 2 and api.events == {} and b.stats.dropped_failed == 1
    full = EventBroadcaster(cast(KubeClient, FakeEventsApi()), reporting_instance="p", queue_size=1)
    recorder = full.recorder("c")
    assert recorder.normal(about("x"), "R", "queued") and not recorder.normal(about("y"), "R", "queue full")
    assert full.submitted == 2 and full.settled_through == 0  # the queued one holds the barrier (no sender running)


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    buf = io.StringIO()
    configure_logging("debug", "json", stream=buf)
    yield buf
    structlog.reset_defaults()


async def test_the_barrier_is_logged_for_observers_of_the_operator_log(log_stream: io.StringIO) -> None:
    """The e2e tests see the operator only from outside: each emission's debug record carries its `seq`, each advance
    of the barrier is a record `Kubernetes events written` with `through`."""
    async with gated() as (b, api):
        rec = b.recorder("c")
        rec.normal(about("a"), "R", "m")
        rec.normal(about("b"), "R", "m")
        await until(lambda: len(api.started) == 2, "both writes in flight")
        api.open("b")
        api.open("a")
        await asyncio.wait_for(b.flushed(), 1)
    records = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    emitted = [r["seq"] for r in records if r["msg"] == "Emitted Kubernetes event"]
    written = [r["through"] for r in records if r["msg"] == "Kubernetes events written"]
    assert emitted == [1, 2]
    assert written == [2], "b alone did not advance the barrier past the unwritten a"
