"""Controller result handling, error classification, skip-unchanged and draining (real queue and store, a scripted
reconciler; no API server involved)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

from prometheus_client import REGISTRY

from dbops.runtime.cache import Store
from dbops.runtime.client import ApiError, Resource
from dbops.runtime.controller import Controller, ControllerSpec, PermanentError, Request, Result, TransientError
from dbops.runtime.log import current_reconcile_id
from dbops.runtime.ratelimit import ItemExponentialRateLimiter
from dbops.runtime.workqueue import Trigger

THINGS = Resource("test.dbops.io", "v1", "things", "Thing")


class Scripted:
    def __init__(self, behaviour: Callable[[Request], Any] | None = None) -> None:
        self.behaviour = behaviour
        self.calls: list[Request] = []
        self.ids: list[str | None] = []

    async def reconcile(self, request: Request) -> Result | None:
        self.calls.append(request)
        self.ids.append(current_reconcile_id())
        if self.behaviour is None:
            return None
        out = self.behaviour(request)
        if asyncio.iscoroutine(out):
            out = await out
        return out  # type: ignore[no-any-return]


def make(name: str, reconciler: Scripted, **kw: Any) -> Controller:
    spec = ControllerSpec(
        name=name, resource=THINGS, reconciler=reconciler, rate_limiter=ItemExponentialRateLimiter(0.01, 1), **kw
    )
    return Controller(spec, Store())


def put(store: Store, name: str, rv: str) -> None:
    store.upsert({"metadata": {"name": name, "namespace": "ns", "resourceVersion": rv}})


def sample(metric: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(metric, labels) or 0.0


async def run_one(c: Controller, key: str, trigger: str = Trigger.WATCH) -> None:
    c.queue.add(key, trigger=trigger)
    got = c.queue.get_nowait()
    assert got == key
    try:
        await c.process(key)
    finally:
        c.queue.done(key)


async def test_success_and_reconcile_id() -> None:
    rec = Scripted()
    c = make("t-ok", rec)
    await run_one(c, "ns/a")
    assert rec.calls[0].key == "ns/a" and rec.calls[0].namespace == "ns" and rec.calls[0].name == "a"
    assert rec.ids[0] == rec.calls[0].reconcile_id
    assert re.fullmatch(r"[0-9a-f]{8}", rec.ids[0] or ""), "8 lowercase hex characters (behaviour.md 1)"
    assert current_reconcile_id() is None
    assert sample("controller_runtime_reconcile_total", controller="t-ok", result="success") == 1
    assert sample("controller_runtime_reconcile_time_seconds_count", controller="t-ok") == 1


async def test_requeue_after_sets_timer() -> None:
    c = make("t-after", Scripted(lambda r: Result(requeue_after=30)))
    await run_one(c, "ns/a")
    timer = c.queue.pending_timer("ns/a")
    assert timer is not None and 29 < timer <= 30
    assert sample("controller_runtime_reconcile_total", controller="t-after", result="requeue_after") == 1


async def test_permanent_error_is_not_requeued() -> None:
    def fail(r: Request) -> None:
        raise PermanentError("invalid spec")

    c = make("t-perm", Scripted(fail))
    await run_one(c, "ns/a")
    assert c.queue.pending_timer("ns/a") is None and not c.queue.is_queued("ns/a")
    assert sample("controller_runtime_terminal_reconcile_errors_total", controller="t-perm") == 1
    assert sample("controller_runtime_reconcile_errors_total", controller="t-perm") == 1
    assert sample("controller_runtime_reconcile_total", controller="t-perm", result="error") == 1


async def test_transient_errors_back_off_and_success_resets() -> None:
    outcomes: list[Any] = [TransientError("db down"), ApiError(503, "Unavailable"), None]

    def step(r: Request) -> None:
        out = outcomes.pop(0)
        if out is not None:
            raise out

    c = make("t-trans", Scripted(step))
    await run_one(c, "ns/a")
    assert c.queue.num_requeues("ns/a") == 1
    first = c.queue.pending_timer("ns/a")
    assert first is not None and first <= 0.01
    await run_one(c, "ns/a", Trigger.BACKOFF)
    assert c.queue.num_requeues("ns/a") == 2
    await run_one(c, "ns/a", Trigger.BACKOFF)
    assert c.queue.num_requeues("ns/a") == 0


async def test_transient_error_with_retry_after() -> None:
    def step(r: Request) -> None:
        raise TransientError("later", retry_after=12)

    c = make("t-retry-after", Scripted(step))
    await run_one(c, "ns/a")
    timer = c.queue.pending_timer("ns/a")
    assert timer is not None and 11 < timer <= 12


async def test_unexpected_exception_counts_panic_and_worker_survives() -> None:
    calls = 0
    retried = asyncio.Event()

    def step(r: Request) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise KeyError("bug")
        retried.set()

    c = make("t-panic", Scripted(step), max_concurrency=1)
    runner = asyncio.create_task(c.run())
    c.queue.add("ns/a")
    await asyncio.wait_for(retried.wait(), 5)
    assert calls == 2  # retried after the backoff by the same, surviving worker
    assert sample("controller_runtime_reconcile_panics_total", controller="t-panic") == 1
    await c.stop(1)
    await runner


async def test_reconcile_time_limit_is_transient() -> None:
    async def slow(r: Request) -> None:
        await asyncio.sleep(10)

    c = make("t-slow", Scripted(slow), reconcile_timeout=0.05)
    await run_one(c, "ns/a")
    assert c.queue.num_requeues("ns/a") == 1


async def test_watch_trigger_for_unchanged_object_is_skipped() -> None:
    rec = Scripted()
    c = make("t-skip", rec)
    put(c.store, "a", "5")
    await run_one(c, "ns/a")
    await run_one(c, "ns/a")  # same resourceVersion, watch trigger: skipped
    assert len(rec.calls) == 1 and c.stats.skipped == 1
    await run_one(c, "ns/a", Trigger.DEPENDENCY)  # dependency wake-ups always run
    await run_one(c, "ns/a", Trigger.TIMER)
    assert len(rec.calls) == 3
    put(c.store, "a", "6")
    await run_one(c, "ns/a")
    assert len(rec.calls) == 4
    c.store.delete("ns/a")
    await run_one(c, "ns/a")  # the delete itself is reconciled
    assert len(rec.calls) == 5


async def test_stop_drains_in_flight_and_takes_nothing_new() -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    finished: list[str] = []

    async def work(r: Request) -> None:
        started.set()
        await release.wait()
        finished.append(r.key)

    c = make("t-drain", Scripted(work), max_concurrency=2)
    runner = asyncio.create_task(c.run())
    c.queue.add("ns/a")
    await asyncio.wait_for(started.wait(), 2)
    stopping = asyncio.create_task(c.stop(5))
    for _ in range(100):  # until stop() has begun: it shuts the queue first
        if c.queue.shutting_down:
            break
        await asyncio.sleep(0)
    assert c.queue.shutting_down and not stopping.done(), "stopping, and waiting for the reconcile in flight"
    c.queue.add("ns/b")  # ignored: shutting down
    assert len(c.queue) == 0
    release.set()
    assert await stopping
    await runner
    assert finished == ["ns/a"]


async def test_stop_cancels_after_grace() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def hang(r: Request) -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    c = make("t-grace", Scripted(hang), max_concurrency=1)
    runner = asyncio.create_task(c.run())
    c.queue.add("ns/a")
    await asyncio.wait_for(started.wait(), 2)  # in flight
    assert not cancelled.is_set()
    assert not await c.stop(0.05)
    assert cancelled.is_set()
    await runner
