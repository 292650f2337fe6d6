"""Benchmark: work-queue and dispatch throughput with a no-op reconciler (no API server involved).

Prints keys/s for
  1. the queue alone (add → get → done),
  2. queue + controller dispatch (metrics, reconcile IDs, result handling) with logging filtered out,
  3. the same with the per-reconcile ``Reconciling`` line rendered as JSON (to /dev/null), as in production at info.
Target (issue 3): >= 5,000 keys/s for 2. Numbers only; never a pass/fail test.

    python bench/runtime_queue.py [--keys 10000] [--workers 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import TextIO

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dbops.runtime.cache import Store
from dbops.runtime.client import Resource
from dbops.runtime.controller import Controller, ControllerSpec, Request, Result
from dbops.runtime.log import configure_logging
from dbops.runtime.workqueue import ShutDown, WorkQueue

THINGS = Resource("bench.dbops.io", "v1", "things", "Thing")


class NoOp:
    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.all_done = asyncio.Event()

    async def reconcile(self, request: Request) -> Result | None:
        self.count += 1
        if self.count == self.expected:
            self.all_done.set()
        return None


def devnull() -> TextIO:
    return open(os.devnull, "w")


async def queue_only(keys: list[str], workers: int) -> float:
    q = WorkQueue("bench-queue-only")
    done = 0
    finished = asyncio.Event()

    async def worker() -> None:
        nonlocal done
        while True:
            try:
                key = await q.get()
            except ShutDown:
                return
            q.done(key)
            done += 1
            if done == len(keys):
                finished.set()

    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    start = time.perf_counter()
    for k in keys:
        q.add(k)
    await finished.wait()
    elapsed = time.perf_counter() - start
    q.shutdown()
    await asyncio.gather(*tasks)
    return len(keys) / elapsed


async def with_controller(keys: list[str], workers: int, name: str) -> float:
    reconciler = NoOp(len(keys))
    controller = Controller(
        ControllerSpec(name=name, resource=THINGS, reconciler=reconciler, max_concurrency=workers), Store()
    )
    runner = asyncio.create_task(controller.run())
    start = time.perf_counter()
    for k in keys:
        controller.queue.add(k)
    await reconciler.all_done.wait()
    elapsed = time.perf_counter() - start
    await controller.stop(5)
    await runner
    return len(keys) / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    keys = [f"bench/object-{i:05d}" for i in range(args.keys)]
    print(f"keys={args.keys} workers={args.workers} rounds={args.rounds} (best and median of the rounds)")

    def report(label: str, rates: list[float]) -> None:
        rates = sorted(rates)
        print(f"{label:<48} best {rates[-1]:>9,.0f} keys/s   median {rates[len(rates) // 2]:>9,.0f} keys/s")

    report("queue only (add/get/done)", [await queue_only(keys, args.workers) for _ in range(args.rounds)])
    configure_logging("warn", "json")
    report(
        "queue + dispatch, no-op reconcile (logs filtered)",
        [await with_controller(keys, args.workers, f"bench-quiet-{r}") for r in range(args.rounds)],
    )
    with devnull() as sink:
        configure_logging("info", "json", stream=sink)
        report(
            "queue + dispatch + JSON 'Reconciling' log line",
            [await with_controller(keys, args.workers, f"bench-logged-{r}") for r in range(args.rounds)],
        )
    configure_logging("info", "json")
    print("target: >= 5,000 keys/s for queue + dispatch")


if __name__ == "__main__":
    asyncio.run(main())
