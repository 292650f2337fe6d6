"""One server handle per instance, shared by every controller; replaced when the instance's settings change.

behaviour.md 2: connections are reused across controllers, all closed when the instance's endpoint, TLS material or
admin credentials change, and at most `--max-operations-per-instance` database operations run against one instance
at a time. The registry keys handles by the instance's identity (kind, namespace, name) and compares settings by
fingerprint, so a reconcile that resolves unchanged settings gets the cached handle for free.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from dbops.engines.connection import ConnectionSettings, ServerInfo
from dbops.engines.postgres import ConnectionObserver, PostgresServer


@dataclass(frozen=True)
class InstanceKey:
    """Identity of a DatabaseInstance (namespace set) or ClusterDatabaseInstance (namespace empty)."""

    kind: str
    namespace: str
    name: str


class DatabaseServer(Protocol):
    """What the registry needs of an engine's server handle."""

    settings: ConnectionSettings

    async def check(self) -> ServerInfo: ...

    async def close(self) -> None: ...


ServerFactory = Callable[[ConnectionSettings, ConnectionObserver | None], DatabaseServer]

FACTORIES: dict[str, ServerFactory] = {"postgres": PostgresServer}
"""Engines with a server handle; the others are reported as not yet supported by the instance controller."""


class UnsupportedEngine(Exception):
    """No adapter for this engine in this build."""


@dataclass
class _Entry:
    server: DatabaseServer
    fingerprint: str


class ServerRegistry:
    """The per-instance server handles and operation slots of one operator process."""

    def __init__(self, max_operations_per_instance: int = 4, factories: dict[str, ServerFactory] | None = None) -> None:
        self._entries: dict[InstanceKey, _Entry] = {}
        self._slots: dict[InstanceKey, asyncio.Semaphore] = {}
        self._max_operations = max_operations_per_instance
        self._factories = factories if factories is not None else FACTORIES
        self._lock = asyncio.Lock()

    async def server(
        self, key: InstanceKey, settings: ConnectionSettings, observer: ConnectionObserver | None = None
    ) -> DatabaseServer:
        """The handle for `key` with these settings, replacing (and closing) one made from different settings."""
        fingerprint = settings.fingerprint()
        async with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.fingerprint == fingerprint:
                return entry.server
            factory = self._factories.get(settings.engine)
            if factory is None:
                raise UnsupportedEngine(f"engine {settings.engine!r} has no adapter in this build")
            stale = entry.server if entry is not None else None
            server = factory(settings, observer)
            self._entries[key] = _Entry(server, fingerprint)
        if stale is not None:
            await stale.close()
        return server

    def cached(self, key: InstanceKey) -> DatabaseServer | None:
        """The handle made by the last `server()` call for `key`, if any (dependents use the instance's one)."""
        entry = self._entries.get(key)
        return entry.server if entry is not None else None

    @asynccontextmanager
    async def operation(self, key: InstanceKey) -> AsyncIterator[None]:
        """Hold one of the instance's operation slots for the duration of a database operation."""
        slot = self._slots.setdefault(key, asyncio.Semaphore(self._max_operations))
        async with slot:
            yield

    async def forget(self, key: InstanceKey) -> None:
        """Close and drop the handle of a deleted instance."""
        async with self._lock:
            entry = self._entries.pop(key, None)
            self._slots.pop(key, None)
        if entry is not None:
            await entry.server.close()

    async def close(self) -> None:
        """Close every handle (operator shutdown)."""
        async with self._lock:
            entries, self._entries = list(self._entries.values()), {}
        await asyncio.gather(*(entry.server.close() for entry in entries), return_exceptions=True)
