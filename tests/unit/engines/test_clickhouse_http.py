"""The ClickHouse HTTP handle and adapter against a stand-in HTTP server that records what it is sent.

These check the client side of the protocol — credentials only in headers, parameters bound by the server,
errors and their codes, connection reporting, the statements each operation sends — without a ClickHouse server;
the live tests in tests/integration/engines/test_clickhouse_adapter.py run against a real one when configured.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from dbops.api.database import DatabaseSpec
from dbops.api.grants import ClickHouseGrant
from dbops.api.user import DatabaseUserSpec
from dbops.engines.clickhouse.adapter import (
    ClickHouseAdapter,
    ClickHouseHTTP,
    ClickHouseServerError,
    ObservedClickHouseDatabase,
    expected_hosts,
    observed_hosts,
)
from dbops.engines.connection import ConnectionFailure, ConnectionSettings, FailureCategory
from dbops.engines.errors import InvalidSpec


@dataclass
class Seen:
    statement: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeClickHouse:
    """Answers from `responder(statement, params)`: (status, body, headers)."""

    responder: Callable[[str, dict[str, str]], tuple[int, str, dict[str, str]]]
    seen: list[Seen] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        statement = (await request.read()).decode()
        params = dict(request.query)
        self.seen.append(Seen(statement, params, dict(request.headers)))
        status, body, headers = self.responder(statement, params)
        return web.Response(status=status, text=body, headers=headers)


def ok(_statement: str, _params: dict[str, str]) -> tuple[int, str, dict[str, str]]:
    return 200, "", {}


class Observer:
    def __init__(self) -> None:
        self.attempts: list[bool] = []

    def connection_attempt(self, *, success: bool, seconds: float) -> None:
        self.attempts.append(success)


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeClickHouse, ConnectionSettings]]:
    server = FakeClickHouse(ok)
    app = web.Application()
    app.router.add_post("/", server.handle)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    assert test_server.port is not None
    settings = ConnectionSettings(
        engine="clickhouse",
        host="127.0.0.1",
        port=9000,
        username="admin",
        password="s3cr'et",
        database="default",
        connect_timeout=2,
    )
    yield server, settings.__class__(**{**settings.__dict__, "port": test_server.port})
    await test_server.close()


async def test_credentials_travel_in_headers_and_values_as_parameters(
    fake: tuple[FakeClickHouse, ConnectionSettings],
) -> None:
    server, settings = fake
    server.responder = lambda s, p: (200, '{"name":"db","engine":"Atomic"}\n', {})
    observer = Observer()
    http = ClickHouseHTTP(settings, observer)
    try:
        rows = await http.query("SELECT 1 WHERE x = {name:String}", {"name": "a'b"}, rows=True, database="db")
        await http.query("SELECT 2")
    finally:
        await http.close()
    assert rows == [{"name": "db", "engine": "Atomic"}]
    first, second = server.seen
    assert first.statement == "SELECT 1 WHERE x = {name:String}"
    assert first.params == {
        "param_name": "a'b",
        "default_format": "JSONEachRow",
        "output_format_json_quote_64bit_integers": "0",
        "database": "db",
    }
    assert first.headers["X-ClickHouse-User"] == "admin" and first.headers["X-ClickHouse-Key"] == "s3cr'et"
    assert all("s3cr" not in value for value in first.params.values())
    assert second.params == {}
    assert observer.attempts == [True], "the second request reused the pooled connection"


async def test_errors_carry_the_code_and_no_secrets(fake: tuple[FakeClickHouse, ConnectionSettings]) -> None:
    server, settings = fake
    server.responder = lambda s, p: (
        500,
        "Code: 62. DB::Exception: Syntax error near IDENTIFIED WITH sha256_password BY 'hunter2' (SYNTAX_ERROR)",
        {"X-ClickHouse-Exception-Code": "62"},
    )
    http = ClickHouseHTTP(settings)
    try:
        with pytest.raises(ClickHouseServerError) as info:
            await http.query("CREATE USER x IDENTIFIED WITH sha256_password BY 'hunter2'", secrets=["hunter2"])
        assert info.value.code == 62 and "hunter2" not in str(info.value)
        server.responder = lambda s, p: (500, "Code: 81. DB::Exception: Database x does not exist", {})
        with pytest.raises(ClickHouseServerError) as info:
            await http.query("SELECT 1", database="x")
        assert info.value.code == 81
        server.responder = lambda s, p: (403, "Code: 516. DB::Exception: admin: Authentication failed", {})
        with pytest.raises(ConnectionFailure) as failure:
            await http.query("SELECT 1")
        assert failure.value.category is FailureCategory.AUTHENTICATION_FAILED
    finally:
        await http.close()


async def test_health_check_uses_a_fresh_connection(fake: tuple[FakeClickHouse, ConnectionSettings]) -> None:
    server, settings = fake
    server.responder = lambda s, p: (200, '{"version":"24.3.1.1"}\n', {})
    observer = Observer()
    adapter = ClickHouseAdapter(settings, observer)
    try:
        info = await adapter.check()
        await adapter.check()
    finally:
        await adapter.close()
    assert (info.version, info.flavour) == ("24.3.1.1", "clickhouse")
    assert observer.attempts == [True, True]


async def test_unreachable_server(fake: tuple[FakeClickHouse, ConnectionSettings]) -> None:
    _, settings = fake
    http = ClickHouseHTTP(settings, http_port=1)
    try:
        with pytest.raises(ConnectionFailure) as info:
            await http.query("SELECT 1")
        assert info.value.category is FailureCategory.UNREACHABLE
    finally:
        await http.close()
    with pytest.raises(ConnectionFailure, match="closed"):
        await http.query("SELECT 1")


async def test_adapter_statements(fake: tuple[FakeClickHouse, ConnectionSettings]) -> None:
    server, settings = fake

    def respond(statement: str, params: dict[str, str]) -> tuple[int, str, dict[str, str]]:
        if "FROM system.users" in statement:
            return 200, json.dumps({"name": params.get("param_name"), "host_ip": ["::/0"]}) + "\n", {}
        if "FROM system.settings" in statement:
            return 200, json.dumps({"n": 1 if params["param_name"] == "max_threads" else 0}) + "\n", {}
        if "_dbops_metadata" in statement and statement.startswith("SELECT"):
            return 500, "Code: 60. DB::Exception: Table default._dbops_metadata does not exist", {}
        return 200, "", {}

    server.responder = respond
    adapter = ClickHouseAdapter(settings)
    try:
        user = DatabaseUserSpec.model_validate(
            {
                "instanceRef": {"name": "i"},
                "username": "app",
                "roles": ["readers"],
                "clickhouse": {"allowedHosts": ["10.0.0.0/8"], "defaultDatabase": "db"},
            }
        )
        await adapter.create_account(user, password="pw", comment=None)
        await adapter.create_database(
            DatabaseSpec.model_validate(
                {"instanceRef": {"name": "i"}, "name": "db", "clickhouse": {"engine": "Lazy(9)"}}
            ),
            owner=None,
            comment=None,
        )
        await adapter.drop_database("db")
        await adapter.create_role("readers", {"max_threads": "4"})
        with pytest.raises(InvalidSpec) as info:
            await adapter.create_role("readers", {"no_such_setting": "1"})
        assert info.value.field == "spec.clickhouse.settings.no_such_setting"
        outcomes = await adapter.apply_grants(
            "app", [ClickHouseGrant(level="database", database="db", privileges=["SELECT"])]
        )
        assert outcomes == [None]
        assert await adapter.read_tracking("Database", "db") is None
    finally:
        await adapter.close()
    statements = [s.statement for s in server.seen if not s.statement.startswith("SELECT")]
    assert statements == [
        "CREATE USER IF NOT EXISTS `app` IDENTIFIED WITH sha256_password BY 'pw' HOST IP '10.0.0.0/8' "
        "DEFAULT DATABASE `db`",
        "GRANT `readers` TO `app`",
        "SET DEFAULT ROLE ALL TO `app`",
        "CREATE DATABASE IF NOT EXISTS `db` ENGINE = Lazy(9)",
        "KILL QUERY WHERE current_database = 'db' ASYNC",
        "DROP DATABASE IF EXISTS `db` SYNC",
        "CREATE ROLE IF NOT EXISTS `readers` SETTINGS max_threads = 4",
        "GRANT SELECT ON `db`.* TO `app`",
    ]


def test_host_observation_matches_the_spec_terms() -> None:
    assert observed_hosts({"host_ip": ["::/0"]}) == ["%"] == expected_hosts(None) == expected_hosts(["x", "%"])
    row = {"host_ip": ["10.0.0.0/8"], "host_names": ["localhost"], "host_names_like": ["%.corp"]}
    assert observed_hosts(row) == ["%.corp", "10.0.0.0/8", "localhost"]
    assert expected_hosts(["localhost", "10.0.0.0/8", "%.corp"]) == observed_hosts(row)


def test_observed_database_carries_the_engine() -> None:
    observed = ObservedClickHouseDatabase(name="d", engine="Atomic")
    assert observed.engine == "Atomic" and observed.charset is None


def test_unsupported_fields() -> None:
    settings = ConnectionSettings(engine="clickhouse", host="h", port=8123, username="u", password="p", database="d")
    adapter = ClickHouseAdapter(settings)
    user = DatabaseUserSpec.model_validate(
        {
            "instanceRef": {"name": "i"},
            "username": "app",
            "mysql": {},
            "passwordRotation": {"enabled": True, "strategy": "dual-password"},
        }
    )
    assert adapter.unsupported_user_fields(user, None) == ["spec.passwordRotation.strategy", "spec.mysql"]
    db = DatabaseSpec.model_validate({"instanceRef": {"name": "i"}, "name": "d", "owner": "o"})
    assert adapter.unsupported_database_fields(db, None) == ["spec.owner"]
