"""The registry finds an adapter for every engine of the MySQL, ClickHouse and CockroachDB families (issue 7)."""

from __future__ import annotations

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
