"""Controllers: a work queue, its workers, and a :class:`Reconciler` (``runtime.md`` section 6).

A reconciler sees only keys (``Request``) and answers with a :class:`Result`; everything else — deduplication,
backoff, timers, metrics, logging context, time limits — happens here. Error classification:

* :class:`PermanentError` — the object cannot converge until something changes (invalid spec…): no requeue; the
  reconciler records the reason in status before raising. Counted in
  ``controller_runtime_terminal_reconcile_errors_total``.
* :class:`TransientError`, :class:`~dbops.runtime.client.ApiError`, timeouts — retried with the per-key backoff
  (or after ``retry_after`` when given).
* any other exception — logged with its stack trace, counted in ``controller_runtime_reconcile_panics_total``,
  retried like a transient error; the worker survives.

A watch-triggered reconcile of an object whose resourceVersion is the one the last *successful* reconcile saw is
skipped: that happens when a change arrives while the key is in flight and the worker already read the new state, and
reconciling the identical input again can only repeat work. Timer, dependency, resync and retry triggers always run.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from dbops.runtime import metrics
from dbops.runtime.cache import Store, split_key
from dbops.runtime.client import ApiError, Resource
from dbops.runtime.handlers import EnqueueHandler, Mapper, own_key
from dbops.runtime.informer import Informer
from dbops.runtime.log import get_logger, reconcile_id_var
from dbops.runtime.predicates import Predicate
from dbops.runtime.ratelimit import RateLimiter
from dbops.runtime.workqueue import Priority, ShutDown, Trigger, WorkQueue


@dataclass(frozen=True, slots=True)
class Request:
    """What a reconcile is about: one object key, plus the reconcile's ID and why it runs."""

    key: str
    namespace: str | None
    name: str
    reconcile_id: str = ""
    trigger: str = Trigger.WATCH

    @classmethod
    def from_key(cls, key: str, reconcile_id: str = "", trigger: str = Trigger.WATCH) -> Request:
        ns, name = split_key(key)
        return cls(key, ns, name, reconcile_id, trigger)


@dataclass(frozen=True, slots=True)
class Result:
    """``requeue_after`` (seconds) schedules the next reconcile; ``requeue`` retries with backoff."""

    requeue: bool = False
    requeue_after: float | None = None


class Reconciler(Protocol):
    async def reconcile(self, request: Request) -> Result | None:
        """Converge one object; ``None`` means ``Result()`` (done, no timer)."""
        ...


class PermanentError(Exception):
    """Retrying cannot help until the object or something it references changes; the key is not requeued."""


class TransientError(Exception):
    """Retry later: with the per-key backoff, or after ``retry_after`` seconds when given."""

    def __init__(self, message: str = "", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Watch:
    """A secondary watch: events of ``resource`` that pass ``predicates`` wake the keys ``mapper`` returns.

    ``label_selector`` and ``metadata_only`` select a separate informer (e.g. managed Secrets in full, all other
    Secrets by metadata only); watches with equal settings share one informer.
    """

    resource: Resource
    mapper: Mapper
    predicates: Sequence[Predicate] = ()
    label_selector: str | None = None
    metadata_only: bool = False


@dataclass
class ControllerSpec:
    """Everything the manager needs to run one controller.

    ``name`` is the controller name of ``observability.md`` 2.6 (``database``); the reconciler owns its event
    recorder (``Manager.recorder("<name>-controller")``). ``predicates`` filter updates of the primary kind (adds
    and deletes pass the built-in predicates). ``key_filter`` drops keys before they are queued (the partition
    filter).
    """

    name: str
    resource: Resource
    reconciler: Reconciler
    predicates: Sequence[Predicate] = ()
    watches: Sequence[Watch] = ()
    max_concurrency: int = 4
    rate_limiter: RateLimiter | None = None
    key_filter: Callable[[str], bool] | None = None
    reconcile_timeout: float = 300.0
    read_after_write_timeout: float = 5.0
    skip_unchanged: bool = True
    label_selector: str | None = None

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")


_UNSEEN = object()


@dataclass
class _Stats:
    reconciles: int = 0
    skipped: int = 0
    results: dict[str, int] = field(default_factory=dict)


class Controller:
    """Runs ``spec.max_concurrency`` workers over one queue fed by the primary informer and the secondary watches."""

    def __init__(self, spec: ControllerSpec, store: Store, *, queue: WorkQueue | None = None) -> None:
        self.spec = spec
        self.name = spec.name
        self.store = store
        self.queue = queue if queue is not None else WorkQueue(spec.name, rate_limiter=spec.rate_limiter)
        self.log = get_logger(f"controller.{spec.name}", controller=spec.name)
        self.stats = _Stats()
        self._last_ok: dict[str, str | None] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._m_total = {
            r: metrics.RECONCILE_TOTAL.labels(spec.name, r) for r in ("success", "error", "requeue", "requeue_after")
        }
        self._m_errors = metrics.RECONCILE_ERRORS.labels(spec.name)
        self._m_terminal = metrics.TERMINAL_RECONCILE_ERRORS.labels(spec.name)
        self._m_panics = metrics.RECONCILE_PANICS.labels(spec.name)
        self._m_time = metrics.RECONCILE_TIME.labels(spec.name)
        self._m_active = metrics.ACTIVE_WORKERS.labels(spec.name)
        # Touch the zero-valued series so dashboards see the controller before its first error.
        for m in (self._m_errors, self._m_terminal, self._m_panics):
            m.inc(0)

    # ------------------------------------------------------------------------------------------------ wiring

    def watch_primary(self, informer: Informer) -> None:
        informer.add_handler(
            EnqueueHandler(
                self.queue, own_key, self.spec.predicates, trigger=Trigger.WATCH, key_filter=self.spec.key_filter
            )
        )

    def watch_secondary(self, informer: Informer, watch: Watch) -> None:
        informer.add_handler(
            EnqueueHandler(
                self.queue, watch.mapper, watch.predicates, trigger=Trigger.DEPENDENCY, key_filter=self.spec.key_filter
            )
        )

    def enqueue(self, key: str, *, priority: Priority = Priority.NORMAL, trigger: str = Trigger.DEPENDENCY) -> None:
        if self.spec.key_filter is None or self.spec.key_filter(key):
            self.queue.add(key, priority, trigger)

    def enqueue_all(self, trigger: str = Trigger.RESYNC) -> int:
        """Queue every cached object with low priority (resync, leadership acquisition)."""
        keys = self.store.keys()
        for key in keys:
            self.enqueue(key, priority=Priority.LOW, trigger=trigger)
        return len(keys)

    # ------------------------------------------------------------------------------------------------ running

    async def run(self) -> None:
        """Run the workers until the queue shuts down (see :meth:`stop`)."""
        metrics.MAX_CONCURRENT_RECONCILES.labels(self.name).set(self.spec.max_concurrency)
        self._workers = [
            asyncio.create_task(self._worker(), name=f"{self.name}-worker-{i}")
            for i in range(self.spec.max_concurrency)
        ]
        try:
            await asyncio.gather(*self._workers, return_exceptions=True)
        finally:
            for task in self._workers:
                task.cancel()

    async def stop(self, grace: float = 30.0) -> bool:
        """Take no new keys; give in-flight reconciles ``grace`` seconds, then cancel them. ``True`` if drained."""
        self.queue.shutdown()
        drained = await self.queue.drain(grace)
        if not drained:
            self.log.warning("in-flight reconciles did not finish in time; cancelling", grace=grace)
        for task in self._workers:
            task.cancel()
        if self._workers:
            await asyncio.gather(*self._workers, return_exceptions=True)
        return drained

    def abort(self) -> None:
        """Stop at once (loss of leadership): no draining."""
        self.queue.shutdown()
        for task in self._workers:
            task.cancel()

    async def _worker(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            try:
                await self.process(key)
            finally:
                self.queue.done(key)

    async def process(self, key: str) -> None:
        """One reconcile of ``key`` with result handling (public for tests and benchmarks)."""
        queue = self.queue
        trigger = queue.trigger_of(key)
        store = self.store
        if self.spec.read_after_write_timeout > 0:
            await store.wait_fresh(key, self.spec.read_after_write_timeout)
        rv = store.resource_version(key)
        if self.spec.skip_unchanged and trigger == Trigger.WATCH and self._last_ok.get(key, _UNSEEN) == rv:
            self.stats.skipped += 1
            return
        reconcile_id = secrets.token_hex(4)  # 8 lowercase hex characters (behaviour.md 1, step 1)
        request = Request.from_key(key, reconcile_id, trigger)
        token = reconcile_id_var.set(reconcile_id)
        self._m_active.inc()
        self.stats.reconciles += 1
        started = time.perf_counter()
        result_label = "success"
        with structlog.contextvars.bound_contextvars(
            controller=self.name,
            namespace=request.namespace or "",
            name=request.name,
            generation=store.generation(key),
            reconcileID=reconcile_id,
        ):
            if trigger in (Trigger.WATCH, Trigger.DEPENDENCY):
                self.log.info(f"Reconciling {self.spec.resource.kind}", trigger=trigger)
            else:
                self.log.debug(f"Reconciling {self.spec.resource.kind}", trigger=trigger)
            try:
                async with asyncio.timeout(self.spec.reconcile_timeout):
                    result = await self.spec.reconciler.reconcile(request)
            except PermanentError as exc:
                result_label = "error"
                self._m_errors.inc()
                self._m_terminal.inc()
                self._last_ok.pop(key, None)
                queue.forget(key)
                self.log.error("Reconcile failed permanently; not requeued", error=str(exc))
            except TransientError as exc:
                result_label = "error"
                self._m_errors.inc()
                self._last_ok.pop(key, None)
                if exc.retry_after is not None:
                    queue.add_after(key, exc.retry_after, Trigger.BACKOFF)
                else:
                    queue.add_rate_limited(key)
                self.log.warning("Reconcile failed; retrying", error=str(exc), retries=queue.num_requeues(key))
            except (ApiError, TimeoutError) as exc:
                result_label = "error"
                self._m_errors.inc()
                self._last_ok.pop(key, None)
                queue.add_rate_limited(key)
                self.log.warning(
                    "Reconcile failed; retrying", error=f"{type(exc).__name__}: {exc}", retries=queue.num_requeues(key)
                )
            except asyncio.CancelledError:
                result_label = "error"
                raise
            except Exception as exc:
                result_label = "error"
                self._m_errors.inc()
                self._m_panics.inc()
                self._last_ok.pop(key, None)
                queue.add_rate_limited(key)
                self.log.exception("Reconcile raised an unexpected exception; retrying", error=repr(exc))
            else:
                if result is not None and result.requeue_after is not None and result.requeue_after > 0:
                    result_label = "requeue_after"
                    queue.forget(key)
                    self._last_ok.pop(key, None)
                    queue.add_after(key, result.requeue_after, Trigger.TIMER)
                elif result is not None and result.requeue:
                    result_label = "requeue"
                    self._last_ok.pop(key, None)
                    queue.add_rate_limited(key)
                else:
                    queue.forget(key)
                    if rv is None:
                        self._last_ok.pop(key, None)
                    else:
                        self._last_ok[key] = rv
            finally:
                elapsed = time.perf_counter() - started
                self.log.debug(f"Reconciled {self.spec.resource.kind}", result=result_label, seconds=round(elapsed, 4))
                self._m_time.observe(elapsed)
                self._m_active.dec()
                self._m_total[result_label].inc()
                self.stats.results[result_label] = self.stats.results.get(result_label, 0) + 1
                reconcile_id_var.reset(token)
