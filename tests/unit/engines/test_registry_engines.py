"""The registry finds an adapter for every engine of the MySQL, ClickHouse and CockroachDB families (issue 7)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from dbops.engines.clickhouse.adapter import ClickHouseAdapter
from dbops.engines.cockroach.adapter import CockroachAdapter
from dbops.engines.connection import ConnectionSettings
from dbops.engines.mysql.adapter import MySQLAdapter
from dbops.engines.registry import InstanceKey, ServerRegistry, adapter_factory


@pytest.mark.parametrize(
    ("engine", "cls"),
    [
        ("mysql", MySQLAdapter),
        ("mariadb", MySQLAdapter),
        ("clickhouse", ClickHouseAdapter),
        ("cockroachdb", CockroachAdapter),
    ],
)
async def test_registry_builds_the_adapter(engine: str, cls: type) -> None:
    assert adapter_factory(engine) is cls
    settings = ConnectionSettings(engine=engine, host="h", port=1, username="u", password="p", database="d")
    registry = ServerRegistry(max_operations_per_instance=7)
    adapter = await registry.adapter(InstanceKey("DatabaseInstance", "ns", "i"), settings)
    try:
        # the same settings, with the pool sized to the operation limit
        assert isinstance(adapter, cls) and adapter.settings == dataclasses.replace(settings, max_sessions=7)
        assert adapter.engine == engine
    finally:
        await registry.close()


class _Handle:
    """A stand-in adapter that records when it is closed."""

    def __init__(self, settings: ConnectionSettings, observer: object = None) -> None:
        self.settings = settings
        self.closed = asyncio.Event()

    async def close(self) -> None:
        self.closed.set()


async def test_a_replaced_handle_is_closed_only_after_the_operations_running_on_it() -> None:
    """Issue 14: new settings (a rotated admin password) replace the handle while a reconcile is still running
    statements on the old one; the old one is closed when that operation ends, not under it."""
    registry = ServerRegistry(max_operations_per_instance=2, factories={"postgres": _Handle})  # type: ignore[dict-item]
    key = InstanceKey("DatabaseInstance", "ns", "pg")
    settings = ConnectionSettings(engine="postgres", host="h", port=1, username="u", password="old", database="d")
    old = await registry.adapter(key, settings)
    in_operation, finish = asyncio.Event(), asyncio.Event()

    async def reconcile() -> None:
        async with registry.operation(key):
            in_operation.set()
            await finish.wait()

    running = asyncio.create_task(reconcile())
    await in_operation.wait()
    new = await registry.adapter(key, dataclasses.replace(settings, password="new"))
    assert new is not old and registry.cached(key) is new
    await asyncio.sleep(0)  # one turn of the loop for the drain task; it cannot finish while the slot is held
    assert not old.closed.is_set()  # type: ignore[attr-defined]
    finish.set()
    await running
    await registry.replaced_closed()
    assert old.closed.is_set()  # type: ignore[attr-defined]
    assert not new.closed.is_set()  # type: ignore[attr-defined]
    await registry.forget(key)
    assert new.closed.is_set()  # type: ignore[attr-defined]
    await registry.close()
