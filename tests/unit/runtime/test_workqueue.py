"""WorkQueue semantics: deduplication, dirty re-queue, timers, backoff, priorities, shutdown — and two hypothesis
properties over random interleavings (no key processed twice at once, no add lost)."""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbops.runtime.ratelimit import ItemExponentialRateLimiter
from dbops.runtime.workqueue import Priority, ShutDown, Trigger, WorkQueue


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_add_deduplicates_queued_keys() -> None:
    q = WorkQueue("t-dedup")
    for _ in range(3):
        q.add("a")
    q.add("b")
    assert len(q) == 2
    assert q.get_nowait() == "a"
    assert q.get_nowait() == "b"
    assert q.get_nowait() is None


async def test_key_added_while_processing_is_requeued_once_after_done() -> None:
    q = WorkQueue("t-dirty")
    q.add("a")
    key = await q.get()
    q.add("a")
    q.add("a")
    # Not handed out again while in flight.
    assert q.get_nowait() is None
    assert len(q) == 0
    q.done(key)
    assert q.get_nowait() == "a"
    q.done("a")
    assert q.get_nowait() is None


async def test_get_waits_for_add() -> None:
    q = WorkQueue("t-wait")
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    assert not getter.done()
    q.add("x")
    assert await asyncio.wait_for(getter, 1) == "x"


async def test_cancelled_getter_passes_wakeup_on() -> None:
    q = WorkQueue("t-cancel")
    g1 = asyncio.create_task(q.get())
    g2 = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.add("x")  # wakes g1 ...
    g1.cancel()  # ... which is cancelled before it runs
    assert await asyncio.wait_for(g2, 1) == "x"


async def test_add_after_earliest_timer_wins() -> None:
    q = WorkQueue("t-timer")
    q.add_after("a", 5.0)
    q.add_after("a", 0.05)
    q.add_after("a", 10.0)
    timer = q.pending_timer("a")
    assert timer is not None and timer <= 0.05
    assert await asyncio.wait_for(q.get(), 1) == "a"
    assert q.trigger_of("a") == Trigger.TIMER
    assert q.pending_timer("a") is None


async def test_immediate_add_supersedes_timer() -> None:
    q = WorkQueue("t-supersede")
    q.add_after("a", 30.0)
    q.add("a")
    assert q.pending_timer("a") is None
    assert q.get_nowait() == "a"


async def test_add_rate_limited_backs_off_and_forget_resets() -> None:
    q = WorkQueue("t-backoff", rate_limiter=ItemExponentialRateLimiter(0.01, 1.0))
    q.add_rate_limited("a")
    first = q.pending_timer("a")
    assert first is not None and 0 < first <= 0.01
    assert await asyncio.wait_for(q.get(), 1) == "a"
    assert q.trigger_of("a") == Trigger.BACKOFF
    q.done("a")
    q.add_rate_limited("a")
    q.add_rate_limited("a")  # earliest timer wins; the failure is still counted
    assert q.num_requeues("a") == 3
    q.forget("a")
    assert q.num_requeues("a") == 0


async def test_normal_priority_served_before_low_and_promotion() -> None:
    q = WorkQueue("t-prio")
    q.add("low1", Priority.LOW, Trigger.RESYNC)
    q.add("low2", Priority.LOW, Trigger.RESYNC)
    q.add("n1")
    q.add("low2", Priority.NORMAL)  # promoted
    assert [q.get_nowait(), q.get_nowait(), q.get_nowait()] == ["n1", "low2", "low1"]
    assert q.trigger_of("low1") == Trigger.RESYNC


async def test_low_priority_key_ages_into_service() -> None:
    clock = FakeClock()
    q = WorkQueue("t-aging", clock=clock, low_priority_max_wait=60.0)
    q.add("old", Priority.LOW)
    clock.now += 61
    q.add("fresh")
    assert q.get_nowait() == "old"
    assert q.get_nowait() == "fresh"


async def test_aged_low_keys_do_not_starve_earlier_normal_keys() -> None:
    """A backlog of aged resyncs is served in enqueue order with the normal keys, not all before them."""
    clock = FakeClock()
    q = WorkQueue("t-aging-fair", clock=clock, low_priority_max_wait=60.0)
    q.add("new-user")  # a watch event, enqueued first
    clock.now += 1
    for i in range(3):
        q.add(f"resync-{i}", Priority.LOW, Trigger.RESYNC)
    clock.now += 120  # everything has waited long; the resyncs are aged
    q.add("later-user")
    order = [q.get_nowait() for _ in range(5)]
    assert order == ["new-user", "resync-0", "resync-1", "resync-2", "later-user"]


async def test_trigger_non_watch_wins_when_merged() -> None:
    q = WorkQueue("t-trig")
    q.add("a", trigger=Trigger.WATCH)
    q.add("a", trigger=Trigger.DEPENDENCY)
    q.add("a", trigger=Trigger.WATCH)
    assert q.get_nowait() == "a"
    assert q.trigger_of("a") == Trigger.DEPENDENCY


async def test_shutdown_stops_handing_out_and_drain_waits_for_in_flight() -> None:
    q = WorkQueue("t-shutdown")
    q.add("a")
    q.add("b")
    key = await q.get()
    waiting = asyncio.create_task(q.get())
    q.shutdown()
    with pytest.raises(ShutDown):
        await waiting  # a queued key is left, but no new work is taken after shutdown
    with pytest.raises(ShutDown):
        await q.get()
    q.add("c")  # ignored
    assert not await q.drain(0.05)
    asyncio.get_running_loop().call_later(0.05, q.done, key)
    assert await q.drain(2)


async def test_depth_metric_tracks_queue() -> None:
    from prometheus_client import REGISTRY

    q = WorkQueue("t-metrics")
    q.add("a")
    q.add("b", Priority.LOW)
    labels = {"name": "t-metrics", "controller": "t-metrics"}
    assert REGISTRY.get_sample_value("workqueue_depth", {**labels, "priority": ""}) == 1
    assert REGISTRY.get_sample_value("workqueue_depth", {**labels, "priority": "low"}) == 1
    assert REGISTRY.get_sample_value("workqueue_adds_total", labels) == 2
    q.add_rate_limited("c")
    assert REGISTRY.get_sample_value("workqueue_retries_total", labels) == 1


# ------------------------------------------------------------------------------------------------ properties

ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.sampled_from("abcde"), st.sampled_from([Priority.NORMAL, Priority.LOW])),
        st.tuples(st.just("after"), st.sampled_from("abcde"), st.sampled_from([0.0, 0.001, 0.003])),
        st.tuples(st.just("sleep"), st.just(""), st.sampled_from([0.0, 0.001])),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(ops=ops, workers=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_property_no_concurrent_processing_and_no_lost_key(
    ops: list[tuple[str, str, float]], workers: int, seed: int
) -> None:
    """For any interleaving of adds, delayed adds and worker progress:

    * a key is never processed by two workers at the same time;
    * every add is followed by a processing of that key that *starts* after the add (nothing is lost);
    * a key is not processed more often than it was added (deduplication never invents work).
    """
    rng = random.Random(seed)

    async def scenario() -> None:
        q = WorkQueue(f"prop-{workers}")
        in_flight: set[str] = set()
        violations: list[str] = []
        last_add: dict[str, int] = {}
        last_start: dict[str, int] = {}
        adds: dict[str, int] = {}
        starts: dict[str, int] = {}
        tick = 0

        def stamp() -> int:
            nonlocal tick
            tick += 1
            return tick

        def record_add(key: str) -> None:
            last_add[key] = stamp()
            adds[key] = adds.get(key, 0) + 1

        async def worker() -> None:
            while True:
                try:
                    key = await q.get()
                except ShutDown:
                    return
                if key in in_flight:
                    violations.append(f"{key} processed concurrently")
                in_flight.add(key)
                last_start[key] = stamp()
                starts[key] = starts.get(key, 0) + 1
                for _ in range(rng.randint(0, 3)):
                    await asyncio.sleep(0)
                in_flight.discard(key)
                q.done(key)

        tasks = [asyncio.create_task(worker()) for _ in range(workers)]
        loop = asyncio.get_running_loop()
        for op, key, arg in ops:
            if op == "add":
                record_add(key)
                q.add(key, Priority(int(arg)))
            elif op == "after":
                # Recorded at call time: processing must start after the call (the timer or a superseding add).
                record_add(key)
                q.add_after(key, arg)
            else:
                await asyncio.sleep(arg)
            for _ in range(rng.randint(0, 2)):
                await asyncio.sleep(0)  # interleave with the workers at random points
        # Let timers fire and in-flight work finish (bounded).
        deadline = loop.time() + 2.0
        while loop.time() < deadline:
            await asyncio.sleep(0.001)
            idle = not len(q) and not q.processing
            if idle and all(q.pending_timer(k) is None for k in "abcde"):
                break
        q.shutdown()
        await asyncio.gather(*tasks)
        assert not violations, violations
        for key, added_at in last_add.items():
            assert last_start.get(key, -1) > added_at, f"add of {key} at {added_at} never processed"
        for key, n in starts.items():
            assert n <= adds[key], f"{key} processed {n} times for {adds[key]} adds"

    asyncio.run(scenario())


@settings(max_examples=40, deadline=None)
@given(keys=st.lists(st.text(alphabet="xyz/", min_size=1, max_size=4), min_size=1, max_size=40))
def test_property_sequential_gets_return_each_distinct_key_once(keys: list[str]) -> None:
    async def scenario() -> None:
        q = WorkQueue("prop-distinct")
        for k in keys:
            q.add(k, Priority.LOW if hash(k) % 2 else Priority.NORMAL)
        seen = []
        while (got := q.get_nowait()) is not None:
            seen.append(got)
            q.done(got)
        assert sorted(seen) == sorted(set(keys))

    asyncio.run(scenario())
