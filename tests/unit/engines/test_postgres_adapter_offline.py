"""The PostgreSQL adapter without a server: spec problems fail before any session is opened, driver errors become
redacted EngineErrors, and nothing secret shows in a repr."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from dbops.api.database import DatabasePostgresConfig, DatabaseSpec, PostgresExtension, PostgresSchema
from dbops.api.grants import PostgresDefaultPrivilege
from dbops.api.user import DatabaseUserSpec, UserPostgresConfig
from dbops.engines.base import EngineAdapter, EngineError, ObservedAccount, ObservedDatabase
from dbops.engines.connection import ConnectionFailure, ConnectionSettings
from dbops.engines.errors import InvalidSpec
from dbops.engines.postgres.adapter import PostgresAdapter
from dbops.engines.postgres.errors import PostgresEngineError, describe, server_errors
from dbops.engines.postgres.server import classify_connect_error

SECRET = "s3cr'et\\pw"


class Attempts:
    def __init__(self) -> None:
        self.count = 0

    def connection_attempt(self, *, success: bool, seconds: float) -> None:
        self.count += 1


@pytest.fixture
def attempts() -> Attempts:
    return Attempts()


@pytest.fixture
async def adapter(attempts: Attempts) -> AsyncIterator[PostgresAdapter]:
    settings = ConnectionSettings(
        engine="postgres", host="127.0.0.1", port=1, username="admin", password=SECRET, database="postgres"
    )
    adapter = PostgresAdapter(settings, attempts)
    yield adapter
    await adapter.close()


def test_it_is_an_engine_adapter(adapter: PostgresAdapter) -> None:
    typed: EngineAdapter = adapter
    assert typed.engine == "postgres" and typed.settings.username == "admin"
    assert SECRET not in repr(adapter) and "admin" in repr(adapter)


LONG = "é" * 32  # 64 bytes
DB = DatabaseSpec.model_construct
USER = DatabaseUserSpec.model_construct
OBSERVED_DB = ObservedDatabase(
    name="app", owner="admin", connection_limit=-1, is_template=False, tablespace="pg_default"
)
OBSERVED_USER = ObservedAccount(name="u", attributes={"login": True})

Call = Callable[[PostgresAdapter], Awaitable[object]]

CASES: list[tuple[str, Call, str]] = [
    ("observe long name", lambda a: a.observe_database(LONG), "spec.name"),
    ("create long name", lambda a: a.create_database(DB(name=LONG), owner=None, comment=None), "spec.name"),
    (
        "create bad locale",
        lambda a: a.create_database(
            DB(name="app", postgres=DatabasePostgresConfig(lc_collate="C\x00")), owner=None, comment=None
        ),
        "spec.postgres.lcCollate",
    ),
    (
        "create long owner",
        lambda a: a.create_database(DB(name="app"), owner=LONG, comment=None),
        "spec.owner",
    ),
    ("verify long name", lambda a: a.verify_database(LONG), "spec.name"),
    (
        "apply bad default privilege",
        lambda a: a.apply_database(
            DB(
                name="app",
                postgres=DatabasePostgresConfig(
                    default_privileges=[
                        PostgresDefaultPrivilege(role="r", schema_="s", object_type="tables", privileges=["CONNECT"])
                    ]
                ),
            ),
            OBSERVED_DB,
            owner=None,
        ),
        "spec.postgres.defaultPrivileges[0].privileges[0]",
    ),
    (
        "apply bad extension version",
        lambda a: a.apply_database(
            DB(
                name="app",
                postgres=DatabasePostgresConfig(
                    connection_limit=5,
                    extensions=[PostgresExtension(name="x"), PostgresExtension(name="y", version="\x00")],
                ),
            ),
            OBSERVED_DB,
            owner=None,
        ),
        "spec.postgres.extensions[1].version",
    ),
    (
        "apply long schema owner",
        lambda a: a.apply_database(
            DB(name="app", postgres=DatabasePostgresConfig(schemas=[PostgresSchema(name="s", owner=LONG)])),
            OBSERVED_DB,
            owner=None,
        ),
        "spec.postgres.schemas[0].owner",
    ),
    ("drop long name", lambda a: a.drop_database(LONG), "spec.name"),
    ("observe long user", lambda a: a.observe_account(LONG), "spec.username"),
    (
        "create bad parameter",
        lambda a: a.create_account(
            USER(username="u", postgres=UserPostgresConfig(config_parameters={"a;b": "1"})), password="p", comment=None
        ),
        "spec.postgres.configParameters.a;b",
    ),
    (
        "create NUL password",
        lambda a: a.create_account(USER(username="u"), password=SECRET + "\x00", comment=None),
        "password",
    ),
    (
        "apply long membership",
        lambda a: a.apply_account(USER(username="u", roles=["ok", LONG]), OBSERVED_USER),
        "spec.roles[1]",
    ),
    (
        "apply bad expiry",
        lambda a: a.apply_account(USER(username="u", postgres=UserPostgresConfig(valid_until="May")), OBSERVED_USER),
        "spec.postgres.validUntil",
    ),
    ("password NUL", lambda a: a.set_password("u", "x\x00" + SECRET), "password"),
    ("owned long user", lambda a: a.owned_objects(LONG), "spec.username"),
    ("drop long user", lambda a: a.drop_account(LONG), "spec.username"),
    ("comment long user", lambda a: a.write_tracking("DatabaseUser", LONG, "c"), "spec.username"),
    ("comment long database", lambda a: a.write_tracking("Database", LONG, "c"), "spec.name"),
]


@pytest.mark.parametrize(("call", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_invalid_spec_before_any_session(
    adapter: PostgresAdapter, attempts: Attempts, call: Call, field: str
) -> None:
    with pytest.raises(InvalidSpec) as info:
        await call(adapter)
    assert info.value.field == field
    assert SECRET not in str(info.value)
    assert attempts.count == 0, "no session was opened"


async def test_connection_failures_pass_through(adapter: PostgresAdapter, attempts: Attempts) -> None:
    with pytest.raises(ConnectionFailure):
        await adapter.observe_database("app")
    with pytest.raises(ConnectionFailure):
        await adapter.check()
    with pytest.raises(ConnectionFailure):
        await adapter.verify_database("app")  # unreachable is the instance's problem, not "still creating"
    assert attempts.count == 3


def server_error(message: str, detail: str | None = None, hint: str | None = None) -> asyncpg.PostgresError:
    error = asyncpg.InsufficientPrivilegeError(message)
    error.detail = detail
    error.hint = hint
    return error


def test_describe_redacts_known_secrets_and_password_clauses() -> None:
    quoted = SECRET.replace("'", "''")
    text = describe(server_error(f"bad PASSWORD 'abc{quoted}'", detail=f"near {quoted}"), [SECRET])
    assert SECRET not in text and "s3cr" not in text and "***" in text
    text = describe(server_error("role exists", detail="SCRAM-SHA-256$4096:abc$def:ghi", hint="h"))
    assert text.startswith("role exists (SCRAM-SHA-256$***") and text.endswith(" hint: h")
    assert "abc" not in text and "\n" not in text


@pytest.mark.parametrize(
    ("raised", "sqlstate", "text"),
    [
        (server_error("permission denied"), "42501", "permission denied"),
        (asyncpg.InterfaceError("connection is closed"), None, "connection is closed"),
        (ConnectionResetError("reset"), None, "reset"),
        (TimeoutError(), None, "the statement did not finish within 30s"),
    ],
)
def test_server_errors_become_engine_errors(raised: Exception, sqlstate: str | None, text: str) -> None:
    with pytest.raises(EngineError) as info, server_errors(seconds=30):
        raise raised
    assert isinstance(info.value, PostgresEngineError)
    assert info.value.sqlstate == sqlstate and str(info.value) == text
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_other_errors_are_not_touched() -> None:
    with pytest.raises(ConnectionFailure), server_errors():
        raise ConnectionFailure.__new__(ConnectionFailure)
    with pytest.raises(InvalidSpec), server_errors():
        raise InvalidSpec("spec.name", "bad")


def test_unsupported_fields_are_delegated(adapter: PostgresAdapter) -> None:
    assert adapter.unsupported_database_fields(DB(name="app"), None) == []
    assert adapter.unsupported_user_fields(USER(username="u"), None) == []


@pytest.mark.parametrize(
    ("error", "category"),
    [
        (asyncpg.CannotConnectNowError("the database system is shutting down"), "Unreachable"),
        # A fast shutdown terminating the check's session (seen when `make test` ran beside `make demo`).
        (asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"), "Unreachable"),
        (asyncpg.exceptions.CrashShutdownError("terminating connection because of crash"), "Unreachable"),
        (ConnectionRefusedError(111, "Connection refused"), "Unreachable"),
        (asyncpg.InvalidPasswordError("password authentication failed for user x"), "AuthenticationFailed"),
        (TimeoutError(), "Timeout"),
        (asyncpg.PostgresError("something else"), "ServerError"),
    ],
)
def test_connect_errors_are_categorised(error: Exception, category: str) -> None:
    """A server shutting down or starting up (57P03), or ending sessions as it goes down (57P01, 57P02), is an
    outage like a closed port: Unreachable."""
    settings = ConnectionSettings(engine="postgres", host="h", port=1, username="u", password="pw", database="d")
    assert classify_connect_error(error, settings).category.value == category
