"""The manager: owns the shared informers, the controllers, leader election, events and the HTTP endpoints.

Lifecycle (``runtime.md`` section 3)::

    health + metrics servers  →  informers (every replica, so standbys stay warm)  →  all synced: /readyz ok
    →  leader election (or leader at once without it)  →  on_leader callbacks, enqueue everything (low priority),
       start controller workers, periodic resync, leader-only runnables
    →  stop requested (SIGTERM/SIGINT or request_stop()): /readyz fails, queues stop handing out keys, in-flight
       reconciles get graceful_shutdown_timeout, events are flushed (≤ 5 s), the Lease is released → exit code 0
    →  leadership lost: workers are cancelled at once → exit code 1 (the pod restarts as a clean standby)

Cancelling the task that runs :meth:`Manager.run` is treated as a crash: children are cancelled, nothing is flushed and
the Lease is *not* released (tests use this to simulate a killed replica).

Registering a controller::

    mgr = Manager(client, ManagerOptions(leader_elect=True, leader_election_namespace="dbops-system"))
    mgr.add_index(DATABASES, "instance", lambda o: [f"{o['metadata']['namespace']}/{o['spec']['instanceRef']['name']}"])
    mgr.add_controller(ControllerSpec(
        name="database", resource=DATABASES,
        reconciler=DatabaseReconciler(mgr.client, mgr.store(DATABASES), mgr.recorder("database-controller")),
        predicates=[spec_or_annotations(ANNOTATIONS)],
        watches=[Watch(INSTANCES, index_keys(mgr.store(DATABASES), "instance"), [condition_became_true("Ready")])],
        max_concurrency=4,
    ))
    exit_code = await mgr.run()
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from dbops.runtime.cache import IndexFunc, Obj, Store, object_key
from dbops.runtime.client import KubeClient, Resource
from dbops.runtime.controller import Controller, ControllerSpec
from dbops.runtime.events import EventBroadcaster, EventRecorder
from dbops.runtime.informer import Informer
from dbops.runtime.leader import LeaderElectionConfig, LeaderElector
from dbops.runtime.log import get_logger
from dbops.runtime.server import Checks, HealthServer, MetricsServer
from dbops.runtime.workqueue import Trigger

Runnable = Callable[[asyncio.Event], Coroutine[Any, Any, None]]
LeaderCallback = Callable[[], Awaitable[None] | None]

DEFAULT_LEASE_NAME = "b0f91929.dbprovision.io"


def _default_instance() -> str:
    return os.environ.get("POD_NAME") or socket.gethostname()


@dataclass
class ManagerOptions:
    """Process-level settings (the flags of ``runtime.md`` section 2 that concern the runtime)."""

    health_probe_bind_address: str = ":8081"
    metrics_bind_address: str = ":8080"
    leader_elect: bool = False
    leader_election_id: str = DEFAULT_LEASE_NAME
    leader_election_namespace: str = "db-provision-operator-system"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    release_on_cancel: bool = True
    identity: str = ""
    watch_namespaces: Sequence[str] = ()
    sync_period: float = 10 * 3600.0
    watch_server_timeout: float = 300.0
    watch_inactivity_timeout: float = 70.0
    graceful_shutdown_timeout: float = 30.0
    event_flush_timeout: float = 5.0
    reporting_instance: str = field(default_factory=_default_instance)
    informer_failure_threshold: float = 300.0
    heartbeat_interval: float = 1.0


@dataclass(frozen=True)
class _InformerKey:
    resource: Resource
    label_selector: str | None
    metadata_only: bool


class Manager:
    """See the module docstring."""

    def __init__(self, client: KubeClient, options: ManagerOptions | None = None) -> None:
        self.client = client
        self.options = options or ManagerOptions()
        self.log = get_logger("manager")
        self.events = EventBroadcaster(client, reporting_instance=self.options.reporting_instance)
        self.controllers: list[Controller] = []
        self.elector: LeaderElector | None = None
        if self.options.leader_elect:
            self.elector = LeaderElector(
                client,
                LeaderElectionConfig(
                    lease_name=self.options.leader_election_id,
                    namespace=self.options.leader_election_namespace,
                    identity=self.options.identity,
                    lease_duration=self.options.lease_duration,
                    renew_deadline=self.options.renew_deadline,
                    retry_period=self.options.retry_period,
                    release_on_cancel=self.options.release_on_cancel,
                ),
            )
        self.liveness = Checks()
        self.readiness = Checks()
        self.liveness.add("ping", lambda: (True, ""))
        self.liveness.add("heartbeat", self._check_heartbeat)
        self.liveness.add("informers", self._check_informers_failing)
        self.readiness.add("informers", self._check_informers_synced)
        self.readiness.add("shutdown", lambda: (not self._stopping, "shutting down"))
        self.health_server = HealthServer(self.options.health_probe_bind_address, self.liveness, self.readiness)
        self.metrics_server = MetricsServer(self.options.metrics_bind_address)
        self._informers: dict[_InformerKey, Informer] = {}
        self._runnables: list[tuple[Runnable, bool]] = []
        self._leader_callbacks: list[LeaderCallback] = []
        self._stop_event: asyncio.Event | None = None
        self._stopping = False
        self._leading = asyncio.Event()
        self._heartbeat = time.monotonic()
        self._started = False
        client.write_observers.append(self._on_write)

    # --------------------------------------------------------------------------------------------- registry

    def informer(
        self, resource: Resource, *, label_selector: str | None = None, metadata_only: bool = False
    ) -> Informer:
        """The shared informer for ``resource`` (one per resource/selector/metadata-only combination)."""
        key = _InformerKey(resource, label_selector, metadata_only)
        inf = self._informers.get(key)
        if inf is None:
            if self._started:
                raise RuntimeError("informers must be registered before Manager.run()")
            opts = self.options
            inf = Informer(
                self.client,
                resource,
                namespaces=list(opts.watch_namespaces) or None,
                label_selector=label_selector,
                metadata_only=metadata_only,
                server_timeout=opts.watch_server_timeout,
                inactivity_timeout=opts.watch_inactivity_timeout,
            )
            self._informers[key] = inf
        return inf

    def store(self, resource: Resource, *, label_selector: str | None = None, metadata_only: bool = False) -> Store:
        """The cache of ``resource`` (creates the informer if needed)."""
        return self.informer(resource, label_selector=label_selector, metadata_only=metadata_only).store

    def add_index(
        self,
        resource: Resource,
        name: str,
        fn: IndexFunc,
        *,
        label_selector: str | None = None,
        metadata_only: bool = False,
    ) -> None:
        self.store(resource, label_selector=label_selector, metadata_only=metadata_only).add_indexer(name, fn)

    def recorder(self, name: str) -> EventRecorder:
        """The event recorder for source component ``name`` (``<kind>-controller``)."""
        return self.events.recorder(name)

    def add_controller(self, spec: ControllerSpec) -> Controller:
        primary = self.informer(spec.resource, label_selector=spec.label_selector)
        controller = Controller(spec, primary.store)
        controller.watch_primary(primary)
        for watch in spec.watches:
            informer = self.informer(
                watch.resource, label_selector=watch.label_selector, metadata_only=watch.metadata_only
            )
            controller.watch_secondary(informer, watch)
        self.controllers.append(controller)
        return controller

    def add_runnable(self, runnable: Runnable, *, leader_only: bool = True) -> None:
        """A long-running coroutine ``runnable(stop_event)``; leader-only ones start after leadership is acquired."""
        self._runnables.append((runnable, leader_only))

    def on_leader(self, callback: LeaderCallback) -> None:
        """Called after leadership is acquired and before workers start (rebuild status-derived metrics here)."""
        self._leader_callbacks.append(callback)

    @property
    def informers(self) -> list[Informer]:
        return list(self._informers.values())

    # ------------------------------------------------------------------------------------------- state/checks

    @property
    def synced(self) -> bool:
        return all(inf.has_synced for inf in self._informers.values())

    @property
    def is_leader(self) -> bool:
        return self._leading.is_set()

    async def wait_leading(self, max_wait: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._leading.wait(), max_wait)
        except TimeoutError:
            return False
        return True

    def _check_heartbeat(self) -> tuple[bool, str]:
        age = time.monotonic() - self._heartbeat
        return (age <= 10.0 or not self._started, f"last heartbeat {age:.1f}s ago")

    def _check_informers_failing(self) -> tuple[bool, str]:
        bad = [
            inf.name for inf in self._informers.values() if inf.failing_for() > self.options.informer_failure_threshold
        ]
        return (
            not bad,
            f"watches failing for more than {self.options.informer_failure_threshold:g}s: {', '.join(bad)}",
        )

    def _check_informers_synced(self) -> tuple[bool, str]:
        pending = [inf.name for inf in self._informers.values() if not inf.ready]
        return (not pending, f"not synced: {', '.join(pending)}")

    def _on_write(self, resource: Resource, obj: Obj) -> None:
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if not rv:
            return
        key = object_key(obj)
        for ikey, inf in self._informers.items():
            if ikey.resource == resource:
                inf.store.note_written(key, rv)

    # ------------------------------------------------------------------------------------------------- run

    def request_stop(self) -> None:
        """Begin a clean shutdown (what SIGTERM/SIGINT do)."""
        self._stopping = True
        if self._stop_event is not None:
            self._stop_event.set()

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)

    async def run(self) -> int:
        """Run until stopped; returns the process exit code (0 clean shutdown, 1 leadership lost)."""
        self._stop_event = stop = asyncio.Event()
        if self._stopping:
            stop.set()
        self._started = True
        background: list[asyncio.Task[Any]] = []
        leader_tasks: list[asyncio.Task[Any]] = []
        controller_tasks: list[asyncio.Task[None]] = []
        clean = False
        exit_code = 0
        try:
            await self.health_server.start()
            await self.metrics_server.start()
            background.append(asyncio.create_task(self._beat(), name="heartbeat"))
            background.append(asyncio.create_task(self.events.run(), name="event-sender"))
            for inf in self._informers.values():
                background.append(asyncio.create_task(inf.run(), name=f"informer-{inf.name}"))
            self.log.info("waiting for informers to sync", informers=len(self._informers))
            if not await self._until(stop, self._wait_all_synced()):
                clean = True
                return 0
            self.log.info("all informers synced")
            if self.elector is not None and not await self._until(stop, self.elector.acquire()):
                clean = True
                return 0
            self._leading.set()
            self.log.info("leading; starting controllers", controllers=[c.name for c in self.controllers])
            for callback in self._leader_callbacks:
                result = callback()
                if result is not None:
                    await result
            for controller in self.controllers:
                controller.enqueue_all(Trigger.LEADER)
                controller_tasks.append(asyncio.create_task(controller.run(), name=f"controller-{controller.name}"))
            leader_tasks.append(asyncio.create_task(self._resync(), name="resync"))
            for runnable, leader_only in self._runnables:
                if leader_only:
                    leader_tasks.append(asyncio.create_task(runnable(stop)))
            waiters: list[asyncio.Task[Any]] = [asyncio.create_task(stop.wait())]
            hold: asyncio.Task[None] | None = None
            if self.elector is not None:
                hold = asyncio.create_task(self.elector.hold(), name="lease-renew")
                waiters.append(hold)
            leader_tasks.extend(waiters)  # cancelled in every exit path, a crash included
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if hold is not None and hold.done() and not stop.is_set():
                self.log.error("leadership lost; stopping at once")
                self._stopping = True
                self._leading.clear()
                for controller in self.controllers:
                    controller.abort()
                exit_code = 1
            else:
                self._stopping = True
                if hold is not None:
                    hold.cancel()
                self.log.info("shutting down; draining in-flight reconciles")
                await asyncio.gather(
                    *(c.stop(self.options.graceful_shutdown_timeout) for c in self.controllers), return_exceptions=True
                )
                stop.set()  # leader-only runnables see the stop event
                await self.events.flush(self.options.event_flush_timeout)
                if self.elector is not None and self.options.release_on_cancel:
                    await self.elector.release()
                self._leading.clear()
            for task in waiters:
                task.cancel()
            clean = True
            return exit_code
        finally:
            self._stopping = True
            self._leading.clear()
            if not clean:
                for controller in self.controllers:
                    controller.abort()
            for task in [*leader_tasks, *controller_tasks, *background]:
                task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(*leader_tasks, *controller_tasks, *background, return_exceptions=True)
            await self.metrics_server.stop()
            await self.health_server.stop()

    async def _until(self, stop: asyncio.Event, coro: Awaitable[Any]) -> bool:
        """Await ``coro`` unless ``stop`` is set first; ``True`` if ``coro`` finished."""
        task = asyncio.ensure_future(coro)
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        return task.done() and not task.cancelled() and task.exception() is None

    async def _wait_all_synced(self) -> None:
        for inf in self._informers.values():
            await inf.wait_synced()

    async def _beat(self) -> None:
        while True:
            self._heartbeat = time.monotonic()
            await asyncio.sleep(self.options.heartbeat_interval)

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.options.sync_period)
            for controller in self.controllers:
                controller.enqueue_all(Trigger.RESYNC)
