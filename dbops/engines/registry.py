"""One server handle per instance, shared by every controller; replaced when the instance's settings change.

behaviour.md 2: connections are reused across controllers, all closed when the instance's endpoint, TLS material or
admin credentials change, and at most `--max-operations-per-instance` database operations run against one instance
at a time. The registry keys handles by the instance's identity (kind, namespace, name) and compares settings by
fingerprint, so a reconcile that resolves unchanged settings gets the cached handle for free.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import cast

from dbops.engines.base import EngineAdapter
from dbops.engines.connection import ConnectionSettings
from dbops.engines.observer import ConnectionObserver


class UnsupportedEngine(Exception):
    """No adapter for this engine in this build."""


@dataclass(frozen=True)
class InstanceKey:
    """Identity of a DatabaseInstance (namespace set) or ClusterDatabaseInstance (namespace empty)."""

    kind: str
    namespace: str
    name: str


AdapterFactory = Callable[[ConnectionSettings, ConnectionObserver | None], EngineAdapter]

ADAPTERS: dict[str, str] = {
    "postgres": "dbops.engines.postgres.adapter:PostgresAdapter",
    "cockroachdb": "dbops.engines.cockroach.adapter:CockroachAdapter",
    "mysql": "dbops.engines.mysql.adapter:MySQLAdapter",
    "mariadb": "dbops.engines.mysql.adapter:MySQLAdapter",
    "clickhouse": "dbops.engines.clickhouse.adapter:ClickHouseAdapter",
}
"""Where each engine's adapter class lives; imported on first use, so one engine's driver is only loaded when an
instance of that engine exists."""


def adapter_factory(engine: str) -> AdapterFactory:
    """The adapter class for `engine`; UnsupportedEngine when this build has none."""
    target = ADAPTERS.get(engine)
    if target is None:
        raise UnsupportedEngine(f"unknown engine {engine!r}")
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        raise UnsupportedEngine(f"engine {engine!r} has no adapter in this build") from None
    return cast(AdapterFactory, getattr(module, class_name))


@dataclass
class _Entry:
    adapter: EngineAdapter
    fingerprint: str


class ServerRegistry:
    """The per-instance server handles and operation slots of one operator process."""

    def __init__(
        self, max_operations_per_instance: int = 4, factories: dict[str, AdapterFactory] | None = None
    ) -> None:
        self._entries: dict[InstanceKey, _Entry] = {}
        self._slots: dict[InstanceKey, asyncio.Semaphore] = {}
        self._max_operations = max_operations_per_instance
        self._factories = factories or {}
        self._lock = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()

    async def adapter(
        self, key: InstanceKey, settings: ConnectionSettings, observer: ConnectionObserver | None = None
    ) -> EngineAdapter:
        """The handle for `key` with these settings, replacing (and closing) one made from different settings."""
        settings = dataclasses.replace(settings, max_sessions=self._max_operations)
        fingerprint = settings.fingerprint()
        async with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.fingerprint == fingerprint:
                return entry.adapter
            factory = self._factories.get(settings.engine) or adapter_factory(settings.engine)
            stale = entry.adapter if entry is not None else None
            adapter = factory(settings, observer)
            self._entries[key] = _Entry(adapter, fingerprint)
        if stale is not None:
            self._close_when_drained(key, stale)
        return adapter

    def _close_when_drained(self, key: InstanceKey, stale: EngineAdapter) -> asyncio.Task[None]:
        """Close a replaced or forgotten handle once no operation on the instance is running: reconciles that
        picked it up before the swap finish their statements on it (taking every operation slot waits for them;
        later operations already use the new handle)."""
        slot = self._slots.get(key)

        async def drain() -> None:
            held: list[asyncio.Semaphore] = []
            try:
                while slot is not None and len(held) < self._max_operations:
                    await slot.acquire()
                    held.append(slot)
            finally:
                for taken in held:
                    taken.release()
                await stale.close()

        task = asyncio.get_running_loop().create_task(drain())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        return task

    def cached(self, key: InstanceKey) -> EngineAdapter | None:
        """The adapter made by the last `adapter()` call for `key`, if any (dependents use the instance's one)."""
        entry = self._entries.get(key)
        return entry.adapter if entry is not None else None

    @asynccontextmanager
    async def operation(self, key: InstanceKey) -> AsyncIterator[None]:
        """Hold one of the instance's operation slots for the duration of a database operation."""
        slot = self._slots.setdefault(key, asyncio.Semaphore(self._max_operations))
        async with slot:
            yield

    async def forget(self, key: InstanceKey) -> None:
        """Drop the handle of a deleted instance; it is closed when its running operations have finished."""
        async with self._lock:
            entry = self._entries.pop(key, None)
        if entry is not None:
            await self._close_when_drained(key, entry.adapter)
        self._slots.pop(key, None)

    async def replaced_closed(self) -> None:
        """Wait until every replaced or forgotten handle has drained and closed."""
        await asyncio.gather(*self._closing, return_exceptions=True)

    async def close(self) -> None:
        """Close every handle (operator shutdown)."""
        async with self._lock:
            entries, self._entries = list(self._entries.values()), {}
        await self.replaced_closed()
        await asyncio.gather(*(entry.adapter.close() for entry in entries), return_exceptions=True)
