"""The ClickHouse adapter against a real ClickHouse server, when one is configured.

Set DBOPS_TEST_CLICKHOUSE_URL to the HTTP interface of a server whose account has SQL-driven access management
(engines.md 1.6), for example `http://admin:secret@127.0.0.1:8123/default`; `https://` turns TLS on (verified against
the system trust store). Without it every test here is skipped with that reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from urllib.parse import unquote, urlsplit

import pytest

from dbops.api.database import DatabaseSpec
from dbops.api.grants import ClickHouseGrant
from dbops.api.user import DatabaseUserSpec
from dbops.engines.clickhouse.adapter import ClickHouseAdapter, ClickHouseHTTP, ObservedClickHouseDatabase
from dbops.engines.connection import ConnectionFailure, ConnectionSettings, FailureCategory, TLSMode

URL = os.environ.get("DBOPS_TEST_CLICKHOUSE_URL")


@pytest.fixture
def settings() -> ConnectionSettings:
    if not URL:
        pytest.skip("DBOPS_TEST_CLICKHOUSE_URL not set: no ClickHouse server to test against")
    parts = urlsplit(URL)
    return ConnectionSettings(
        engine="clickhouse",
        host=parts.hostname or "127.0.0.1",
        port=parts.port or (8443 if parts.scheme == "https" else 8123),
        username=unquote(parts.username or "default"),
        password=unquote(parts.password or ""),
        database=parts.path.strip("/") or "default",
        tls_mode=TLSMode.VERIFY_FULL if parts.scheme == "https" else TLSMode.DISABLE,
        connect_timeout=5,
    )


@pytest.fixture
async def adapter(settings: ConnectionSettings) -> AsyncIterator[ClickHouseAdapter]:
    adapter = ClickHouseAdapter(settings, tracking_table=f"_dbops_metadata_{uuid.uuid4().hex[:6]}")
    yield adapter
    await adapter._execute([f"DROP TABLE IF EXISTS `{settings.database}`.`{adapter.tracking_table}` SYNC"])
    await adapter.close()


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


async def test_health_check(adapter: ClickHouseAdapter) -> None:
    info = await adapter.check()
    assert info.flavour == "clickhouse" and info.version[0].isdigit()


async def test_wrong_password_is_an_authentication_failure(settings: ConnectionSettings) -> None:
    http = ClickHouseHTTP(settings.__class__(**{**settings.__dict__, "password": "wrong-password"}))
    try:
        with pytest.raises(ConnectionFailure) as info:
            await http.check()
        assert info.value.category is FailureCategory.AUTHENTICATION_FAILED
        assert "wrong-password" not in str(info.value)
    finally:
        await http.close()


async def test_database_lifecycle(adapter: ClickHouseAdapter) -> None:
    name = unique("it")
    spec = DatabaseSpec.model_validate({"instanceRef": {"name": "i"}, "name": name, "clickhouse": {"engine": "Atomic"}})
    try:
        assert await adapter.observe_database(name) is None
        await adapter.create_database(spec, owner=None, comment="managed-by:test")
        await adapter.verify_database(name)
        observed = await adapter.observe_database(name)
        assert isinstance(observed, ObservedClickHouseDatabase) and observed.engine == "Atomic"
        assert observed.comment == "managed-by:test"
        assert name in await adapter.database_sizes()
    finally:
        await adapter.drop_database(name)
    assert await adapter.observe_database(name) is None


async def test_user_role_and_grant_lifecycle(adapter: ClickHouseAdapter, settings: ConnectionSettings) -> None:
    username, role, database = unique("u"), unique("r"), unique("d")
    await adapter.create_database(
        DatabaseSpec.model_validate({"instanceRef": {"name": "i"}, "name": database}), owner=None, comment=None
    )
    try:
        await adapter.create_role(role, {"max_threads": "2"})
        observed_role = await adapter.observe_role(role)
        assert observed_role is not None and observed_role.settings.get("max_threads") == "2"
        spec = DatabaseUserSpec.model_validate(
            {
                "instanceRef": {"name": "i"},
                "username": username,
                "roles": [role],
                "clickhouse": {"defaultDatabase": database},
            }
        )
        await adapter.create_account(spec, password="p'w\\1", comment=None)
        observed = await adapter.observe_account(username)
        assert observed is not None and observed.member_of == {role}
        assert observed.attributes["allowedHosts"] == ["%"] and observed.attributes["defaultDatabase"] == database
        assert await adapter.apply_account(spec, observed) == []
        grants = [ClickHouseGrant(level="database", database=database, privileges=["SELECT"])]
        assert await adapter.apply_grants(role, grants) == [None]
        assert any(g["access_type"] == "SELECT" for g in await adapter.observe_grants(role))
        login = ClickHouseHTTP(settings.__class__(**{**settings.__dict__, "username": username, "password": "p'w\\1"}))
        try:
            await login.query("SELECT 1", database=database)
        finally:
            await login.close()
        assert await adapter.revoke_grants(role, grants) == [None]
    finally:
        await adapter.drop_account(username)
        await adapter.drop_role(role)
        await adapter.drop_database(database)
    assert await adapter.observe_account(username) is None and await adapter.observe_role(role) is None
