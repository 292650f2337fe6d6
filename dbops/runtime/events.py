"""Kubernetes events (``observability.md`` 1.1-1.4): per-controller recorders over one background sender.

``recorder.warning(obj, "CreateFailed", "...")`` is synchronous and returns at once, so a reconcile emits at the point
where the state changes; a :class:`EventBroadcaster` task writes core ``v1`` Events (what ``kubectl get events`` and
``kubectl describe`` read) in order. On the way:

* **Rate limit.** A token bucket per (source, involved object): burst 25, one more every 5 minutes. Emissions beyond
  it are dropped and logged, so a hot loop cannot flood the API server.
* **Aggregation.** An emission identical in (involved UID, type, reason, message, source) to one this process wrote
  less than 10 minutes ago patches the existing Event (``count`` + 1, ``lastTimestamp``, ``series``) instead of
  creating a new object. Emissions that arrive while a write for the same Event is still queued are folded into that
  write, so 100 quick repeats cost one create and at most a few patches.
* **Delivery.** A bounded queue (1,000 Events) drained by 8 concurrent writers; a failed write is retried with
  backoff up to 12 times and then dropped with an error log. Event failures never reach the reconcile.
* **Flush barrier.** Every emission gets a sequence number (``seq`` in its debug record ``Emitted Kubernetes event``);
  :attr:`EventBroadcaster.settled_through` is the highest number up to which every emission has been written or
  dropped, and :meth:`EventBroadcaster.flushed` waits for it. Each advance is logged at debug level as
  ``Kubernetes events written`` with ``through``, so an observer of the operator's log (the e2e tests) can tell
  that every event emitted before a given log record has reached the API server before asserting that none came.

Warning messages inside a reconcile are prefixed with ``[<reconcileID>] ``; messages are cut to 1,024 characters.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import heapq
import secrets
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dbops.runtime.client import EVENTS, ApiError, KubeClient, NotFound
from dbops.runtime.log import current_reconcile_id, get_logger
from dbops.runtime.ratelimit import TokenBucket

Obj = dict[str, Any]

NORMAL = "Normal"
WARNING = "Warning"
MAX_MESSAGE = 1024


def _now_rfc3339(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now_micro(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def truncate_message(message: str, limit: int = MAX_MESSAGE) -> str:
    """Cut ``message`` to ``limit`` characters, ending with ``…`` when cut."""
    return message if len(message) <= limit else message[: limit - 1] + "…"


def involved_object(obj: Mapping[str, Any]) -> Obj:
    meta = obj.get("metadata") or {}
    ref = {
        "apiVersion": obj.get("apiVersion", ""),
        "kind": obj.get("kind", ""),
        "name": meta.get("name", ""),
        "namespace": meta.get("namespace", ""),
        "uid": meta.get("uid", ""),
        "resourceVersion": meta.get("resourceVersion", ""),
    }
    return {k: v for k, v in ref.items() if v}


@dataclass
class _Record:
    """One Event object this process manages, and what still has to be written for it."""

    name: str
    namespace: str
    body: Obj
    count: int
    first: float
    last: float
    created: bool = False
    written_count: int = 0
    queued: bool = False
    attempts: int = 0
    seqs: list[int] = field(default_factory=list)
    """Sequence numbers of the emissions folded into this record that no write has carried yet, oldest first."""


@dataclass
class EventStats:
    emitted: int = 0
    rate_limited: int = 0
    aggregated: int = 0
    dropped_queue_full: int = 0
    dropped_failed: int = 0
    creates: int = 0
    patches: int = 0


class EventBroadcaster:
    """Shared sender, aggregation cache and rate limiter behind every :class:`EventRecorder` of a process."""

    def __init__(
        self,
        client: KubeClient,
        *,
        reporting_instance: str,
        queue_size: int = 1000,
        aggregation_window: float = 600.0,
        burst: int = 25,
        refill_interval: float = 300.0,
        max_retries: int = 12,
        writers: int = 8,
        retry_base: float = 0.2,
        retry_cap: float = 10.0,
        cache_size: int = 4096,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.reporting_instance = reporting_instance
        self.queue_size = queue_size
        self.aggregation_window = aggregation_window
        self.burst = burst
        self.refill_interval = refill_interval
        self.max_retries = max_retries
        self.writers = writers
        self._in_flight = 0
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.cache_size = cache_size
        self._clock = clock
        self._records: collections.OrderedDict[Hashable, _Record] = collections.OrderedDict()
        self._buckets: collections.OrderedDict[tuple[str, str], TokenBucket] = collections.OrderedDict()
        self._queue: collections.deque[_Record] = collections.deque()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._submitted = 0
        self._unsettled: list[int] = []  # heap of the sequence numbers of emissions not yet written or dropped
        self._settled_early: set[int] = set()  # settled, but still in the heap behind an older unsettled one
        self._settled_through = 0
        self._progress = asyncio.Event()
        self.stats = EventStats()
        self.log = get_logger("events")

    def recorder(self, component: str) -> EventRecorder:
        """A recorder whose events carry ``source.component`` / ``reportingComponent`` = ``component``."""
        return EventRecorder(self, component)

    # ----------------------------------------------------------------------------------------------- accept

    def _bucket(self, component: str, uid: str) -> TokenBucket:
        key = (component, uid)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(1.0 / self.refill_interval, self.burst, clock=self._clock)
            self._buckets[key] = bucket
            if len(self._buckets) > self.cache_size:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket

    def submit(self, component: str, obj: Mapping[str, Any], etype: str, reason: str, message: str) -> bool:
        """Accept one emission; ``False`` if it was rate-limited or the queue is full."""
        involved = involved_object(obj)
        uid = involved.get("uid") or f"{involved.get('kind')}/{involved.get('namespace')}/{involved.get('name')}"
        self._submitted += 1
        seq = self._submitted
        heapq.heappush(self._unsettled, seq)
        self.log.debug(
            "Emitted Kubernetes event",
            type=etype,
            reason=reason,
            message=message,
            involvedObject={k: involved.get(k, "") for k in ("kind", "name", "namespace")},
            seq=seq,
        )
        if not self._bucket(component, uid).try_take():
            self.stats.rate_limited += 1
            self.log.info(
                "event dropped by the per-object rate limit",
                reason=reason,
                involvedObject={k: involved.get(k, "") for k in ("kind", "name", "namespace")},
            )
            self._settle([seq])
            return False
        now = self._clock()
        agg_key = (uid, etype, reason, message, component)
        record = self._records.get(agg_key)
        if record is not None and now - record.last < self.aggregation_window:
            record.count += 1
            record.last = now
            self._records.move_to_end(agg_key)
            self.stats.aggregated += 1
            self.stats.emitted += 1
            record.seqs.append(seq)
            if self._enqueue(record):
                return True
            self._settle(record.seqs)  # dropped: nothing will carry them now
            record.seqs.clear()
            return False
        namespace = involved.get("namespace") or "default"
        name_prefix = (involved.get("name") or "event")[:236]
        name = f"{name_prefix}.{secrets.token_hex(8)}"
        body: Obj = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": etype,
            "source": {"component": component},
            "reportingComponent": component,
            "reportingInstance": self.reporting_instance,
        }
        record = _Record(name, namespace, body, 1, now, now, seqs=[seq])
        if not self._enqueue(record):
            self._settle([seq])
            return False
        self._records[agg_key] = record
        if len(self._records) > self.cache_size:
            self._records.popitem(last=False)
        self.stats.emitted += 1
        return True

    def _enqueue(self, record: _Record) -> bool:
        if record.queued:
            return True  # the pending write will carry the new count
        if len(self._queue) >= self.queue_size:
            self.stats.dropped_queue_full += 1
            self.log.error("event queue full; event dropped", reason=record.body.get("reason"), event_name=record.name)
            return False
        record.queued = True
        self._queue.append(record)
        self._idle.clear()
        self._wakeup.set()
        return True

    # ----------------------------------------------------------------------------------------------- sending

    async def run(self) -> None:
        """Write queued events with `writers` concurrent writers until cancelled.

        One writer at a time managed about 30 Events/s against a busy API server, so a burst (1,000 new users emit
        2,000 Events) overflowed the 1,000-entry queue and dropped events. A record is taken off the queue while it
        is written, so no two writers ever hold the same Event and its count updates stay ordered.
        """
        await asyncio.gather(*(self._writer() for _ in range(self.writers)))

    async def _writer(self) -> None:
        while True:
            if not self._queue:
                if not self._in_flight:
                    self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            record = self._queue.popleft()
            self._in_flight += 1
            try:
                await self._deliver(record)
            finally:
                self._in_flight -= 1
            if not self._queue and not self._in_flight:
                self._idle.set()

    async def _deliver(self, record: _Record) -> None:
        """Write one record, retrying transient failures with backoff; re-queue it if repeats arrived meanwhile."""
        while True:
            carried = len(record.seqs)  # what the write below carries: _write reads the count before its first await
            try:
                await self._write(record)
                self._settle(record.seqs[:carried])
                del record.seqs[:carried]
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                record.attempts += 1
                transient = not isinstance(exc, ApiError) or exc.transient
                if transient and record.attempts < self.max_retries:
                    delay = min(self.retry_cap, self.retry_base * 2 ** (record.attempts - 1))
                    self.log.warning(
                        "writing event failed; retrying", event_name=record.name, error=str(exc), retry_in=delay
                    )
                    await asyncio.sleep(delay)
                    continue
                self.stats.dropped_failed += 1
                self.log.error(
                    "writing event failed; dropped", event_name=record.name, error=str(exc), attempts=record.attempts
                )
                self._settle(record.seqs[:carried])
                del record.seqs[:carried]
                break
        record.attempts = 0
        if record.created and record.count != record.written_count:
            # Repeats arrived while this write was in flight: one more write carries them.
            self._queue.append(record)
            self._wakeup.set()
        else:
            record.queued = False
            self._settle(record.seqs)  # repeats of a dropped write: nothing carries them any more
            record.seqs.clear()

    async def _write(self, record: _Record) -> None:
        count, first, last = record.count, record.first, record.last
        if record.created and count == record.written_count:
            return
        if record.created:
            patch: Obj = {"count": count, "lastTimestamp": _now_rfc3339(last)}
            if count > 1:
                patch["series"] = {"count": count, "lastObservedTime": _now_micro(last)}
            try:
                await self.client.patch(EVENTS, record.name, patch, record.namespace)
                self.stats.patches += 1
                record.written_count = count
                return
            except NotFound:
                record.created = False  # expired (events have a TTL); write it again under the same name
        body = dict(record.body)
        body["metadata"] = dict(body["metadata"])
        body["count"] = count
        body["firstTimestamp"] = _now_rfc3339(first)
        body["lastTimestamp"] = _now_rfc3339(last)
        if count > 1:
            body["series"] = {"count": count, "lastObservedTime": _now_micro(last)}
        await self.client.create(EVENTS, body, record.namespace)
        self.stats.creates += 1
        record.created = True
        record.written_count = count

    async def flush(self, max_wait: float = 5.0) -> bool:
        """Wait (at most ``max_wait`` seconds) until every accepted event has been written or dropped."""
        if not self._queue and not self._in_flight:
            return True
        try:
            await asyncio.wait_for(self._idle.wait(), max_wait)
        except TimeoutError:
            self.log.warning("events not flushed in time", pending=len(self._queue))
            return False
        return True

    @property
    def pending(self) -> int:
        return len(self._queue) + self._in_flight

    # ----------------------------------------------------------------------------------------------- barrier

    @property
    def submitted(self) -> int:
        """Sequence number of the latest emission (accepted, rate-limited or dropped); 0 before the first."""
        return self._submitted

    @property
    def settled_through(self) -> int:
        """Every emission numbered up to this has been written to the API server or dropped."""
        return self._settled_through

    async def flushed(self, through: int | None = None) -> None:
        """Return once every emission numbered up to ``through`` (default: every emission so far) has been written or
        dropped. Later emissions do not hold it up, so it returns under continuous traffic too; bound it with
        :func:`asyncio.timeout` if needed."""
        target = self._submitted if through is None else through
        while self._settled_through < target:
            await self._progress.wait()

    def _settle(self, seqs: list[int]) -> None:
        if not seqs:
            return
        self._settled_early.update(seqs)
        heap = self._unsettled
        while heap and heap[0] in self._settled_early:
            self._settled_early.discard(heapq.heappop(heap))
        through = heap[0] - 1 if heap else self._submitted
        if through > self._settled_through:
            self._settled_through = through
            self.log.debug("Kubernetes events written", through=through)
            progress, self._progress = self._progress, asyncio.Event()
            progress.set()


class EventRecorder:
    """Emits events for one source component (``<kind>-controller``); see the module docstring."""

    def __init__(self, broadcaster: EventBroadcaster, component: str) -> None:
        self.broadcaster = broadcaster
        self.component = component

    def event(self, obj: Mapping[str, Any], etype: str, reason: str, message: str) -> bool:
        """Emit now (asynchronous delivery). Returns ``False`` if rate-limited or dropped."""
        if etype not in (NORMAL, WARNING):
            raise ValueError(f"event type must be Normal or Warning, not {etype!r}")
        if etype == WARNING:
            rid = current_reconcile_id()
            if rid and not message.startswith(f"[{rid}]"):
                message = f"[{rid}] {message}"
        return self.broadcaster.submit(self.component, obj, etype, reason, truncate_message(message))

    def normal(self, obj: Mapping[str, Any], reason: str, message: str) -> bool:
        return self.event(obj, NORMAL, reason, message)

    def warning(self, obj: Mapping[str, Any], reason: str, message: str) -> bool:
        return self.event(obj, WARNING, reason, message)
