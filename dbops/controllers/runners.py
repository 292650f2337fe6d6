"""Background runners of long operations (backups, restores): a bounded pool of tasks keyed by object (backup.md 1).

Why a pool of its own instead of running the dump in the reconcile: a dump lasts minutes to hours, and a reconcile
worker held that long would starve every other object of its kind. The reconcile that starts a runner returns at
once; the runner only computes (progress counters, an outcome) and wakes its object, and the next reconcile
records what the runner did. So every status write and every event stays in the reconciler, derived from the stored
status like all the others, and a restart loses nothing but the attempt in flight (which the next leader sees as
interrupted: `Running` with no runner of its own).

Slots are handed out in creation-time order (backup.md 1: "waiting resources start in creation-time order"): an
object that asks for a slot while older objects are waiting does not overtake them, and a finished runner wakes the
oldest waiting object.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from dbops.runtime import get_logger

__all__ = ["Runner", "Runners"]

T = TypeVar("T")


@dataclass
class Runner(Generic[T]):
    """One running (or just finished) operation of one object."""

    key: str
    attempt: int
    started: float = field(default_factory=time.time)
    """Unix time of the start (for durations and deadlines)."""
    processed: int = 0
    """Bytes the stream has produced so far; updated by the work, read by the reconcile for progress."""
    task: asyncio.Task[T] | None = None

    @property
    def done(self) -> bool:
        return self.task is not None and self.task.done()

    def outcome(self) -> T | BaseException:
        """The work's result or the exception it ended with (only once ``done``)."""
        assert self.task is not None and self.task.done()
        if self.task.cancelled():
            return asyncio.CancelledError("the operation was cancelled")
        error = self.task.exception()
        return error if error is not None else self.task.result()


class Runners(Generic[T]):
    """At most ``limit`` runners at once, keyed by object key; see the module docstring."""

    def __init__(self, name: str, limit: int, wake: Callable[[str], None] | None = None) -> None:
        self.name = name
        self.limit = limit
        self.wake: Callable[[str], None] = wake or (lambda key: None)
        """Enqueue an object's reconcile; set by the controller setup once the controller exists."""
        self._runners: dict[str, Runner[T]] = {}
        self._waiting: dict[str, tuple[float, str]] = {}
        self.log = get_logger(f"runner.{name}")

    def get(self, key: str) -> Runner[T] | None:
        """The runner of ``key`` in this process, running or finished and not yet taken."""
        return self._runners.get(key)

    @property
    def active(self) -> int:
        return sum(1 for runner in self._runners.values() if not runner.done)

    def start(
        self, key: str, created: float, attempt: int, work: Callable[[Runner[T]], Awaitable[T]]
    ) -> Runner[T] | None:
        """Start ``work`` for ``key`` when a slot is free and no older object waits; else remember ``key`` as
        waiting (by its creation time ``created``) and return None."""
        if key in self._runners:
            return self._runners[key]
        self._waiting[key] = (created, key)
        oldest = min(self._waiting.values())
        if self.active >= self.limit or oldest[1] != key:
            return None
        del self._waiting[key]
        runner: Runner[T] = Runner(key, attempt)
        runner.task = asyncio.create_task(self._run(runner, work), name=f"{self.name}:{key}")
        self._runners[key] = runner
        return runner

    async def _run(self, runner: Runner[T], work: Callable[[Runner[T]], Awaitable[T]]) -> T:
        try:
            return await work(runner)
        finally:
            # The object learns its outcome from its next reconcile; the oldest waiting object gets the slot.
            loop = asyncio.get_running_loop()
            loop.call_soon(self.wake, runner.key)
            if self._waiting:
                loop.call_soon(self.wake, min(self._waiting.values())[1])

    def take(self, key: str) -> Runner[T] | None:
        """Remove and return the finished runner of ``key`` (its outcome is being recorded)."""
        runner = self._runners.get(key)
        if runner is None or not runner.done:
            return None
        del self._runners[key]
        return runner

    def forget_waiting(self, key: str) -> None:
        """``key`` no longer waits (deleted, failed a gate, or started elsewhere)."""
        if self._waiting.pop(key, None) is not None and self._waiting and self.active < self.limit:
            self.wake(min(self._waiting.values())[1])

    async def cancel(self, key: str) -> Runner[T] | None:
        """Cancel the runner of ``key`` and wait for its clean-up (tool killed, upload aborted); returns it."""
        self.forget_waiting(key)
        runner = self._runners.pop(key, None)
        if runner is not None and runner.task is not None:
            runner.task.cancel()
            with contextlib.suppress(BaseException):
                await runner.task
        return runner

    async def cancel_all(self) -> None:
        """Shutdown or loss of leadership: every runner is cancelled and cleaned up."""
        await asyncio.gather(*(self.cancel(key) for key in list(self._runners)), return_exceptions=True)
        self._waiting.clear()

    async def supervise(self, stop: asyncio.Event) -> None:
        """A manager runnable: lives while this process leads; when it stops leading or shuts down, every runner is
        cancelled (tool killed, upload aborted), and the next leader finds the attempt interrupted."""
        try:
            await stop.wait()
        finally:
            await self.cancel_all()
