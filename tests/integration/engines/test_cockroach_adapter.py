"""The CockroachDB adapter against a real cluster, when one is configured.

Set DBOPS_TEST_COCKROACH_URL to a connection URL of an account in the `admin` role (engines.md 1.6), for example
`postgresql://root@127.0.0.1:26257/defaultdb?sslmode=disable` for an insecure single node. Without it every test
here is skipped with that reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from dbops.api.database import DatabaseSpec
from dbops.api.user import DatabaseUserSpec
from dbops.engines.cockroach.adapter import CockroachAdapter
from dbops.engines.connection import ConnectionSettings, TLSMode

URL = os.environ.get("DBOPS_TEST_COCKROACH_URL")


@pytest.fixture
def settings() -> ConnectionSettings:
    if not URL:
        pytest.skip("DBOPS_TEST_COCKROACH_URL not set: no CockroachDB cluster to test against")
    parts = urlsplit(URL)
    mode = parse_qs(parts.query).get("sslmode", ["disable"])[0]
    return ConnectionSettings(
        engine="cockroachdb",
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 26257,
        username=unquote(parts.username or "root"),
        password=unquote(parts.password or ""),
        database=parts.path.strip("/") or "defaultdb",
        tls_mode=TLSMode(mode),
        connect_timeout=5,
    )


@pytest.fixture
async def adapter(settings: ConnectionSettings) -> AsyncIterator[CockroachAdapter]:
    adapter = CockroachAdapter(settings)
    yield adapter
    await adapter.close()


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


async def test_health_check_reports_the_cockroach_version(adapter: CockroachAdapter) -> None:
    info = await adapter.check()
    assert info.flavour == "cockroachdb" and "CockroachDB" in info.version


async def test_database_lifecycle(adapter: CockroachAdapter) -> None:
    name = unique("it")
    spec = DatabaseSpec.model_validate({"instanceRef": {"name": "i"}, "name": name})
    try:
        assert await adapter.observe_database(name) is None
        await adapter.create_database(spec, owner=None, comment=None)
        await adapter.verify_database(name)
        assert await adapter.observe_database(name) is not None
    finally:
        await adapter.drop_database(name)
    assert await adapter.observe_database(name) is None


async def test_account_lifecycle_and_cleanup(adapter: CockroachAdapter) -> None:
    username, database = unique("u"), unique("d")
    await adapter.create_database(
        DatabaseSpec.model_validate({"instanceRef": {"name": "i"}, "name": database}), owner=None, comment=None
    )
    try:
        spec = DatabaseUserSpec.model_validate({"instanceRef": {"name": "i"}, "username": username})
        await adapter.create_account(spec, password="pw-1'\\", comment=None)
        observed = await adapter.observe_account(username)
        assert observed is not None
        assert await adapter.owned_objects(username) == []
        await adapter.drop_account(username)
        assert await adapter.observe_account(username) is None
    finally:
        await adapter.drop_database(database)
