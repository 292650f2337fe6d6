"""A deduplicating, rate-limited, delayed work queue with two priorities (``runtime.md`` section 6).

The semantics are client-go's ``workqueue`` because controllers are written against them:

* a key is queued at most once (``dirty``); a key added while a worker processes it is re-queued exactly once, when
  that worker calls :meth:`WorkQueue.done` — so a key is never processed by two workers at the same time and a change
  that arrives during a reconcile is never lost;
* :meth:`WorkQueue.add_after` keeps one timer per key (the earliest wins) and an immediate :meth:`WorkQueue.add`
  supersedes a pending timer;
* :meth:`WorkQueue.add_rate_limited` asks the :class:`~dbops.runtime.ratelimit.RateLimiter` for the delay
  (per-key exponential backoff combined with an overall token bucket); :meth:`WorkQueue.forget` resets it;
* keys enqueued by the initial list, resyncs or leadership acquisition use :attr:`Priority.LOW`; a low key that has
  waited ``low_priority_max_wait`` seconds is served as normal (by enqueue time among the normal keys), so nothing
  starves — neither the low keys nor, when resyncs outpace the workers, the normal ones;
* :meth:`WorkQueue.shutdown` stops handing out keys at once; :meth:`WorkQueue.drain` waits for in-flight work.

All methods except :meth:`get` and :meth:`drain` are synchronous, so the queue is consistent between awaits
without locks (asyncio runs one task at a time).

Each key also carries the *trigger* of its enqueue (``watch``, ``dependency``, ``timer``, ``backoff``, ``resync``,
``leader``) so the controller can log why it reconciles and skip a watch-triggered reconcile of an unchanged object.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from enum import IntEnum

from dbops.runtime import metrics
from dbops.runtime.ratelimit import RateLimiter, default_rate_limiter


class Priority(IntEnum):
    """Lower value is served first."""

    NORMAL = 0
    LOW = 1


class Trigger:
    """Why a key was enqueued (the ``trigger`` log field of ``observability.md`` section 4)."""

    WATCH = "watch"
    DEPENDENCY = "dependency"
    TIMER = "timer"
    BACKOFF = "backoff"
    RESYNC = "resync"
    LEADER = "leader"


class ShutDown(Exception):
    """Raised by :meth:`WorkQueue.get` once the queue is shutting down."""


class _Entry:
    __slots__ = ("enqueued_at", "priority", "seq", "trigger")

    def __init__(self, priority: Priority, seq: int, enqueued_at: float, trigger: str) -> None:
        self.priority = priority
        self.seq = seq
        self.enqueued_at = enqueued_at
        self.trigger = trigger


class WorkQueue:
    """See the module docstring. ``name`` is the controller name (it labels the ``workqueue_*`` metrics)."""

    def __init__(
        self,
        name: str,
        *,
        rate_limiter: RateLimiter | None = None,
        low_priority_max_wait: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.controller = name
        self.rate_limiter = rate_limiter if rate_limiter is not None else default_rate_limiter()
        self.low_priority_max_wait = low_priority_max_wait
        self._clock = clock
        # Keys that need processing; a key here and not in _processing sits in one of the deques.
        self._dirty: dict[str, _Entry] = {}
        self._processing: dict[str, float] = {}
        self._processing_trigger: dict[str, str] = {}
        # Deque entries are (seq, key); an entry is valid only while _dirty[key].seq == seq, which makes promotions
        # and re-adds O(1) without searching the deques (stale entries are skipped on pop).
        self._queues: tuple[deque[tuple[int, str]], deque[tuple[int, str]]] = (deque(), deque())
        self._depth = [0, 0]
        self._seq = 0
        self._timers: dict[str, tuple[float, asyncio.TimerHandle]] = {}
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._idle: asyncio.Future[None] | None = None
        self._shutting_down = False
        self._m_adds = metrics.WORKQUEUE_ADDS.labels(name, name)
        self._m_retries = metrics.WORKQUEUE_RETRIES.labels(name, name)
        self._m_depth = (
            metrics.WORKQUEUE_DEPTH.labels(name, name, ""),
            metrics.WORKQUEUE_DEPTH.labels(name, name, "low"),
        )
        self._m_queue_duration = metrics.WORKQUEUE_QUEUE_DURATION.labels(name, name)
        self._m_work_duration = metrics.WORKQUEUE_WORK_DURATION.labels(name, name)
        metrics.IN_FLIGHT.queues.add(self)

    # ----------------------------------------------------------------------------------------------- adding

    def add(self, key: str, priority: Priority = Priority.NORMAL, trigger: str = Trigger.WATCH) -> None:
        """Queue ``key`` (no-op if already queued, except that a normal add promotes a queued low key)."""
        if self._shutting_down:
            return
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer[1].cancel()
        self._m_adds.inc()
        entry = self._dirty.get(key)
        if entry is not None:
            if entry.trigger == Trigger.WATCH and trigger != Trigger.WATCH:
                entry.trigger = trigger
            if priority < entry.priority:
                processing = key in self._processing
                if not processing:
                    self._depth[entry.priority] -= 1
                entry.priority = priority
                self._seq += 1
                entry.seq = self._seq
                if not processing:
                    self._push(key, entry)
                self._update_depth()
            return
        self._seq += 1
        entry = _Entry(priority, self._seq, self._clock(), trigger)
        self._dirty[key] = entry
        if key not in self._processing:
            self._push(key, entry)
            self._update_depth()

    def add_after(self, key: str, delay: float, trigger: str = Trigger.TIMER) -> None:
        """Queue ``key`` after ``delay`` seconds; of several timers for one key the earliest wins."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key, Priority.NORMAL, trigger)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        existing = self._timers.get(key)
        if existing is not None:
            if existing[0] <= deadline:
                return
            existing[1].cancel()
        handle = loop.call_at(deadline, self._fire, key, trigger)
        self._timers[key] = (deadline, handle)

    def _fire(self, key: str, trigger: str) -> None:
        self._timers.pop(key, None)
        self.add(key, Priority.NORMAL, trigger)

    def add_rate_limited(self, key: str) -> None:
        """Queue ``key`` after the rate limiter's delay (an error retry; counted in ``workqueue_retries_total``)."""
        if self._shutting_down:
            return
        self._m_retries.inc()
        self.add_after(key, self.rate_limiter.when(key), Trigger.BACKOFF)

    def forget(self, key: str) -> None:
        """Reset ``key``'s backoff (after a successful reconcile)."""
        self.rate_limiter.forget(key)

    def num_requeues(self, key: str) -> int:
        return self.rate_limiter.num_requeues(key)

    def pending_timer(self, key: str) -> float | None:
        """Seconds until ``key``'s timer fires, or ``None`` (for tests and debugging)."""
        existing = self._timers.get(key)
        if existing is None:
            return None
        return max(0.0, existing[0] - asyncio.get_running_loop().time())

    def _push(self, key: str, entry: _Entry) -> None:
        self._queues[entry.priority].append((entry.seq, key))
        self._depth[entry.priority] += 1
        self._wake_one()

    def _update_depth(self) -> None:
        self._m_depth[0].set(self._depth[0])
        self._m_depth[1].set(self._depth[1])

    def _wake_one(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    # ---------------------------------------------------------------------------------------------- taking

    def _front(self, prio: Priority) -> tuple[str, _Entry] | None:
        q = self._queues[prio]
        while q:
            seq, key = q[0]
            entry = self._dirty.get(key)
            if entry is not None and entry.seq == seq and key not in self._processing:
                return key, entry
            q.popleft()
        return None

    def _served_as_normal(self, low: _Entry, normal: _Entry) -> bool:
        """An aged low key is served *as normal* (runtime.md 6): it takes its place by enqueue time among the normal
        keys. Serving every aged low key first instead starves watch events whenever resyncs outpace the workers
        (found by the 1,000-user benchmark: 130 new users waited behind an endless backlog of aged resyncs)."""
        return self._clock() - low.enqueued_at >= self.low_priority_max_wait and low.enqueued_at <= normal.enqueued_at

    def _pop(self) -> str | None:
        normal = self._front(Priority.NORMAL)
        low = self._front(Priority.LOW)
        if low is not None and (normal is None or self._served_as_normal(low[1], normal[1])):
            chosen, prio = low, Priority.LOW
        elif normal is not None:
            chosen, prio = normal, Priority.NORMAL
        else:
            return None
        self._queues[prio].popleft()
        self._depth[prio] -= 1
        self._update_depth()
        key, entry = chosen
        del self._dirty[key]
        now = self._clock()
        self._m_queue_duration.observe(max(0.0, now - entry.enqueued_at))
        self._processing[key] = now
        self._processing_trigger[key] = entry.trigger
        return key

    def get_nowait(self) -> str | None:
        """Take the next key if one is ready, else ``None``; raises :class:`ShutDown` when shutting down."""
        if self._shutting_down:
            raise ShutDown
        return self._pop()

    async def get(self) -> str:
        """Wait for the next key. The caller must call :meth:`done` with it when finished."""
        loop = asyncio.get_running_loop()
        while True:
            if self._shutting_down:
                raise ShutDown
            key = self._pop()
            if key is not None:
                return key
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                # A wake-up delivered to a cancelled getter must go to another getter, or a key would sit unseen.
                if fut.done() and not fut.cancelled():
                    self._wake_one()
                raise

    def trigger_of(self, key: str) -> str:
        """The trigger of the enqueue that led to the current processing of ``key``."""
        return self._processing_trigger.get(key, Trigger.WATCH)

    def done(self, key: str) -> None:
        """Mark ``key`` processed; if it was added meanwhile it is queued again now."""
        started = self._processing.pop(key, None)
        self._processing_trigger.pop(key, None)
        if started is not None:
            self._m_work_duration.observe(max(0.0, self._clock() - started))
        entry = self._dirty.get(key)
        if entry is not None and not self._shutting_down:
            self._seq += 1
            entry.seq = self._seq
            self._push(key, entry)
            self._update_depth()
        if not self._processing and self._idle is not None and not self._idle.done():
            self._idle.set_result(None)

    # ------------------------------------------------------------------------------------------- lifecycle

    def shutdown(self) -> None:
        """Stop handing out keys and accepting adds; timers are cancelled, waiting getters get :class:`ShutDown`."""
        self._shutting_down = True
        for _, handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    async def drain(self, max_wait: float | None = None) -> bool:
        """Wait until no key is being processed; ``False`` if ``max_wait`` seconds passed first."""
        if not self._processing:
            return True
        if self._idle is None or self._idle.done():
            self._idle = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(asyncio.shield(self._idle), max_wait)
        except TimeoutError:
            return False
        return True

    # ------------------------------------------------------------------------------------------ inspection

    def __len__(self) -> int:
        """Keys waiting to be taken (not counting keys in flight or on timers)."""
        return self._depth[0] + self._depth[1]

    @property
    def processing(self) -> frozenset[str]:
        return frozenset(self._processing)

    def is_queued(self, key: str) -> bool:
        return key in self._dirty

    def unfinished_work_seconds(self) -> float:
        now = self._clock()
        return sum(now - t for t in self._processing.values())

    def longest_running_processor_seconds(self) -> float:
        if not self._processing:
            return 0.0
        return self._clock() - min(self._processing.values())
