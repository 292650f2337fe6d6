"""The background runner pool (slots in creation order, wake-ups, cancellation) and the backup's pure helpers."""

from __future__ import annotations

import asyncio

import pytest

from dbops.controllers.backup import milestone
from dbops.controllers.operations import human_size, sanitised
from dbops.controllers.runners import Runner, Runners


async def test_runners_are_limited_and_hand_slots_out_in_creation_order() -> None:
    woken: list[str] = []
    both_woken = asyncio.Event()
    release = asyncio.Event()

    def wake(key: str) -> None:
        woken.append(key)
        if len(woken) == 2:
            both_woken.set()

    runners: Runners[str] = Runners("test", 1, wake)

    async def work(runner: Runner[str]) -> str:
        await release.wait()
        return runner.key

    first = runners.start("ns/a", created=10.0, attempt=1, work=work)
    assert first is not None
    assert runners.start("ns/c", created=30.0, attempt=1, work=work) is None  # no slot
    assert runners.start("ns/b", created=20.0, attempt=1, work=work) is None  # no slot, but older than c
    release.set()
    assert first.task is not None
    await first.task
    await both_woken.wait()  # the finished object, then the oldest waiting one
    assert woken == ["ns/a", "ns/b"]
    assert runners.take("ns/a") is first and first.outcome() == "ns/a"
    # c asked before b got its slot: b, the older one, goes first.
    assert runners.start("ns/c", created=30.0, attempt=1, work=work) is None
    second = runners.start("ns/b", created=20.0, attempt=1, work=work)
    assert second is not None and second.task is not None
    await second.task


async def test_a_finished_runner_keeps_its_error_until_taken() -> None:
    runners: Runners[str] = Runners("test", 2)

    async def work(runner: Runner[str]) -> str:
        raise RuntimeError("tool exited with 1")

    runner = runners.start("ns/a", created=1.0, attempt=1, work=work)
    assert runner is not None and runner.task is not None
    with pytest.raises(RuntimeError):
        await runner.task
    assert runners.get("ns/a") is runner and runner.done
    outcome = runner.outcome()
    assert isinstance(outcome, RuntimeError) and str(outcome) == "tool exited with 1"
    assert runners.take("ns/a") is runner and runners.get("ns/a") is None


async def test_cancel_waits_for_the_clean_up() -> None:
    runners: Runners[str] = Runners("test", 1)
    cleaned = asyncio.Event()
    entered = asyncio.Event()

    async def work(runner: Runner[str]) -> str:
        try:
            entered.set()
            await asyncio.Event().wait()
        finally:
            cleaned.set()
        return "never"

    runner = runners.start("ns/a", created=1.0, attempt=1, work=work)
    assert runner is not None
    await entered.wait()
    assert await runners.cancel("ns/a") is runner
    assert cleaned.is_set() and runners.active == 0 and runners.get("ns/a") is None


async def test_supervise_cancels_every_runner_when_leadership_ends() -> None:
    runners: Runners[str] = Runners("test", 2)
    entered = asyncio.Event()

    async def work(runner: Runner[str]) -> str:
        entered.set()
        await asyncio.Event().wait()
        return "never"

    runner = runners.start("ns/a", created=1.0, attempt=1, work=work)
    assert runner is not None and runner.task is not None
    await entered.wait()
    stop = asyncio.Event()
    supervisor = asyncio.create_task(runners.supervise(stop))
    stop.set()
    await supervisor
    assert runner.task.cancelled() and runners.active == 0


@pytest.mark.parametrize(
    ("percentage", "estimate", "phase", "expected"),
    [
        (10, 100, "Dumping", None),
        (25, 100, "Dumping", 25),
        (74, 100, "Dumping", 50),
        (99, 100, "Dumping", 75),
        (60, 0, "Dumping", None),  # no estimate: no milestones
        (100, 100, "Completed", None),  # completion is announced by Completed, not a milestone
    ],
)
def test_milestones(percentage: int, estimate: int, phase: str, expected: int | None) -> None:
    status = {"progress": {"percentage": percentage, "estimatedTotalBytes": estimate, "currentPhase": phase}}
    assert milestone(status) == expected


def test_sizes_are_shown_in_binary_units() -> None:
    assert human_size(512) == "512 B"
    assert human_size(1536) == "1.5 KiB"
    assert human_size(int(1.2 * 1024**3)) == "1.2 GiB"


def test_errors_are_cut_to_the_status_limit() -> None:
    assert sanitised(ValueError("x" * 2000)).endswith("…") and len(sanitised(ValueError("x" * 2000))) == 1024
    assert sanitised(TimeoutError()) == "TimeoutError"
