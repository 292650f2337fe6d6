"""Hostile names fuzzed through the real PostgreSQL and MariaDB (issue 13, item 6).

Hypothesis builds names from the fragments injections are made of — quotes of every kind, backticks, backslashes,
`--`, `/*`, `$$`, semicolons, NUL, newlines, non-ASCII text — and lengths around the 63/64-byte limits. Each name
meets the two layers in turn, for every kind of server object the operator names from a spec (accounts from
`spec.username`, roles from `spec.roleName`, databases from `spec.name`):

1. the schema (the typed models that generate the CRD): it is refused naming the field, or accepted;
2. the engine adapter *without* the schema (`model_construct`), as defence in depth: the object is refused with
   a clear error (`InvalidSpec`, `EngineError`), or created with exactly that name, byte for byte.

Either way nothing the name carries is executed: a canary made before the run is still there after it, and no
object other than the one asked for carries the run's token. The examples are new on every run (no example
database): each CI run explores further.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiomysql
import asyncpg
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from dbops.api.database import DatabaseSpec
from dbops.api.role import DatabaseRoleSpec
from dbops.api.user import DatabaseUserSpec
from dbops.engines.base import EngineError
from dbops.engines.connection import ConnectionSettings
from dbops.engines.errors import InvalidSpec
from dbops.engines.mysql.adapter import MySQLAdapter
from dbops.engines.postgres.adapter import PostgresAdapter
from tests.support.env import DevEnv

TOKEN = f"fz{uuid.uuid4().hex[:6]}"
"""Every fuzzed name starts with it, so the catalogs show whatever the fuzzing made, and nothing else is touched."""

FRAGMENTS = [
    "'", '"', "`", "\\", ";", "--", "/*", "*/", "$$", "$1", "%", "_", " ", "\n", "\t", "\x00", "\r",
    "DROP ROLE ", "x", "Y", "0", "ü", "数据", "\u202e", "'; --", '"; DROP DATABASE postgres; --',
]  # fmt: skip

names = st.builds(
    lambda parts, pad: TOKEN + "".join(parts) + "z" * pad,
    st.lists(st.sampled_from(FRAGMENTS), min_size=0, max_size=8),
    st.sampled_from([0, 0, 0, 40, 52, 56, 57, 60]),  # around the identifier limits once the token is in
)
SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], database=None
)


@dataclass(frozen=True)
class ObjectKind:
    """One kind of named server object: the spec field that names it, and how the adapter makes and drops it."""

    field: str
    model: type[BaseModel]
    create: Callable[[Any, str], Awaitable[None]]
    drop: Callable[[Any, str], Awaitable[None]]

    def schema_accepts(self, name: str) -> bool:
        """What the CRD's schema says about the field; a refusal must name the field."""
        body: dict[str, Any] = {"instanceRef": {"name": "x"}, self.field: name}
        try:
            self.model.model_validate(body)
        except ValidationError as error:
            assert any(e["loc"][0] == self.field for e in error.errors()), error
            return False
        return True


ACCOUNTS = ObjectKind(
    "username",
    DatabaseUserSpec,
    lambda a, n: a.create_account(DatabaseUserSpec.model_construct(username=n), password="Fuzz-pw-1", comment=None),
    lambda a, n: a.drop_account(n),
)
ROLES = ObjectKind(
    "roleName",
    DatabaseRoleSpec,
    lambda a, n: a.create_managed_role(DatabaseRoleSpec.model_construct(role_name=n)),
    lambda a, n: a.drop_managed_role(DatabaseRoleSpec.model_construct(role_name=n)),
)
DATABASES = ObjectKind(
    "name",
    DatabaseSpec,
    lambda a, n: a.create_database(DatabaseSpec.model_construct(name=n), owner=None, comment=None),
    lambda a, n: a.drop_database(n),
)
KINDS = {"account": ACCOUNTS, "role": ROLES, "database": DATABASES}


@dataclass(frozen=True)
class Server:
    """One real server as the fuzz sees it: an adapter as the operator's admin, and catalog reads as superuser."""

    engine: str
    adapter: Callable[[], Any]
    with_token: Callable[[str], Awaitable[list[str]]]
    """Names of objects of a kind ("account"/"role"/"database") that start with the token."""
    canary_exists: Callable[[], Awaitable[bool]]
    byte_limit: int | None = None
    """A limit the server would enforce by truncating (PostgreSQL's 63 bytes): the adapter must refuse past it."""


async def fuzz_one(server: Server, kind_name: str, name: str) -> str:
    """Create and drop one object named `name` through the adapter; returns "created" or "refused"."""
    kind, adapter = KINDS[kind_name], server.adapter()
    try:
        try:
            await kind.create(adapter, name)
        except (InvalidSpec, EngineError) as error:
            assert str(error), "a refusal says why"
            assert await server.with_token(kind_name) == [], f"refused, yet something was made for {name!r}"
            return "refused"
        try:
            assert await server.with_token(kind_name) == [name], f"made as something else than {name!r}"
        finally:
            await kind.drop(adapter, name)
        assert await server.with_token(kind_name) == []
        return "created"
    finally:
        await adapter.close()
        assert await server.canary_exists(), f"the canary disappeared after {name!r}"


def check(server: Server, kind_name: str, name: str) -> None:
    accepted = KINDS[kind_name].schema_accepts(name)
    outcome = asyncio.run(fuzz_one(server, kind_name, name))
    event(f"{kind_name}: schema {'accepts' if accepted else 'refuses'}, {server.engine} adapter: {outcome}")
    if accepted:
        assert outcome == "created", f"the schema accepts {name!r} but {server.engine} did not create it"
    if server.byte_limit is not None and len(name.encode()) > server.byte_limit:
        assert outcome == "refused", f"{server.engine} would truncate {name!r}: the adapter must refuse it"


# PostgreSQL ------------------------------------------------------------------------------------------------------


async def _pg(dev_env: DevEnv, query: str, *args: Any) -> list[Any]:
    pg = dev_env.postgres
    conn = await asyncpg.connect(
        host=pg.host, port=pg.port, user=pg.superuser, password=pg.superuser_password, database="postgres", ssl=False
    )
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


def _pg_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@pytest.fixture(scope="module")
def postgres(dev_env: DevEnv) -> Any:
    pg, canary = dev_env.postgres, f"canary_{TOKEN}"
    asyncio.run(_pg(dev_env, f"CREATE ROLE {_pg_ident(canary)}"))
    connection = ConnectionSettings(
        engine="postgres", host=pg.host, port=pg.port, username=pg.admin_user, password=pg.admin_password,
        database="postgres", connect_timeout=5,
    )  # fmt: skip
    catalogs = {
        "account": "SELECT rolname FROM pg_roles WHERE strpos(rolname, $1) = 1",
        "role": "SELECT rolname FROM pg_roles WHERE strpos(rolname, $1) = 1",
        "database": "SELECT datname FROM pg_database WHERE strpos(datname, $1) = 1",
    }

    async def with_token(kind: str) -> list[str]:
        return sorted(r[0] for r in await _pg(dev_env, catalogs[kind], TOKEN))

    async def canary_exists() -> bool:
        return bool(await _pg(dev_env, "SELECT 1 FROM pg_roles WHERE rolname = $1", canary))

    yield Server("PostgreSQL", lambda: PostgresAdapter(connection), with_token, canary_exists, byte_limit=63)
    for (database,) in asyncio.run(_pg(dev_env, catalogs["database"], TOKEN)):
        asyncio.run(_pg(dev_env, f"DROP DATABASE IF EXISTS {_pg_ident(database)} WITH (FORCE)"))
    for (role,) in asyncio.run(_pg(dev_env, catalogs["role"], TOKEN)):
        asyncio.run(_pg(dev_env, f"DROP ROLE IF EXISTS {_pg_ident(role)}"))
    asyncio.run(_pg(dev_env, f"DROP ROLE IF EXISTS {_pg_ident(canary)}"))


@SETTINGS
@given(name=names)
def test_postgres_account_names_are_refused_or_created_verbatim(postgres: Server, name: str) -> None:
    check(postgres, "account", name)


@SETTINGS
@given(name=names)
def test_postgres_role_names_are_refused_or_created_verbatim(postgres: Server, name: str) -> None:
    check(postgres, "role", name)


@settings(SETTINGS, max_examples=12)  # a database costs a checkpoint-sized file copy: fewer examples
@given(name=names)
def test_postgres_database_names_are_refused_or_created_verbatim(postgres: Server, name: str) -> None:
    check(postgres, "database", name)


# MariaDB ---------------------------------------------------------------------------------------------------------


async def _maria(dev_env: DevEnv, query: str, *args: Any) -> list[Any]:
    db = dev_env.mariadb
    conn = await aiomysql.connect(host=db.host, port=db.port, user=db.superuser, password=db.superuser_password)
    try:
        async with conn.cursor() as cursor:
            await cursor.execute(query, args or None)
            return list(await cursor.fetchall())
    finally:
        conn.close()


def _maria_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


@pytest.fixture(scope="module")
def mariadb(dev_env: DevEnv) -> Any:
    db, canary = dev_env.mariadb, f"canary_{TOKEN}"
    asyncio.run(_maria(dev_env, f"CREATE USER {_maria_literal(canary)}@'%'"))
    connection = ConnectionSettings(
        engine="mariadb", host=db.host, port=db.port, username=db.admin_user, password=db.admin_password,
        database="mysql", connect_timeout=5,
    )  # fmt: skip
    catalogs = {
        # Accounts have a host; MariaDB roles are rows without one (is_role = 'Y').
        "account": "SELECT DISTINCT User FROM mysql.user WHERE LOCATE(%s, User) = 1 AND is_role = 'N'",
        "role": "SELECT DISTINCT User FROM mysql.user WHERE LOCATE(%s, User) = 1 AND is_role = 'Y'",
        "database": "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE LOCATE(%s, SCHEMA_NAME) = 1",
    }

    async def with_token(kind: str) -> list[str]:
        return sorted(r[0] for r in await _maria(dev_env, catalogs[kind], TOKEN))

    async def canary_exists() -> bool:
        return bool(await _maria(dev_env, "SELECT 1 FROM mysql.user WHERE User = %s", canary))

    yield Server("MariaDB", lambda: MySQLAdapter(connection), with_token, canary_exists)
    for (database,) in asyncio.run(_maria(dev_env, catalogs["database"], TOKEN)):
        asyncio.run(_maria(dev_env, "DROP DATABASE IF EXISTS `{}`".format(database.replace("`", "``"))))
    leftovers = asyncio.run(_maria(dev_env, "SELECT User, Host FROM mysql.user WHERE LOCATE(%s, User) = 1", TOKEN))
    for user, host in leftovers:
        where = f"@{_maria_literal(host)}" if host else ""
        asyncio.run(_maria(dev_env, f"DROP USER IF EXISTS {_maria_literal(user)}{where}"))
    asyncio.run(_maria(dev_env, f"DROP USER IF EXISTS {_maria_literal(canary)}@'%'"))


@SETTINGS
@given(name=names)
def test_mariadb_account_names_are_refused_or_created_verbatim(mariadb: Server, name: str) -> None:
    check(mariadb, "account", name)


@SETTINGS
@given(name=names)
def test_mariadb_role_names_are_refused_or_created_verbatim(mariadb: Server, name: str) -> None:
    check(mariadb, "role", name)


@SETTINGS
@given(name=names)
def test_mariadb_database_names_are_refused_or_created_verbatim(mariadb: Server, name: str) -> None:
    check(mariadb, "database", name)


# Tracking texts (api.md 5.7): `commentFormat` and `managedResourceComment` are free text that reaches SQL as a
# literal (COMMENT ON … IS '…', the metadata table's row). Each is stored verbatim or refused, never executed.

texts = st.builds(
    lambda parts: "managed-by:" + "".join(parts),
    st.lists(st.sampled_from([*FRAGMENTS, "{{", "}}", "'||'", "\\'", "E'", "\\x27"]), min_size=0, max_size=12),
)


async def track_one(server: Server, resource_type: str, name: str, text: str) -> str:
    """Write `text` as the tracking text of `name`, read it back; "stored" or "refused"."""
    adapter = server.adapter()
    try:
        try:
            await adapter.write_tracking(resource_type, name, text)
        except (InvalidSpec, EngineError) as error:
            assert str(error), "a refusal says why"
            assert await adapter.read_tracking(resource_type, name) != text
            return "refused"
        assert await adapter.read_tracking(resource_type, name) == text, f"stored as something else than {text!r}"
        await adapter.remove_tracking(resource_type, name)
        assert await adapter.read_tracking(resource_type, name) is None
        return "stored"
    finally:
        await adapter.close()
        assert await server.canary_exists(), f"the canary disappeared after {text!r}"


@SETTINGS
@given(text=texts)
def test_postgres_tracking_texts_are_stored_verbatim_or_refused(postgres: Server, text: str) -> None:
    outcome = asyncio.run(track_one(postgres, "DatabaseUser", f"canary_{TOKEN}", text))
    event(f"PostgreSQL tracking text: {outcome}")
    if "\x00" not in text:  # literals with NUL are refused before any SQL (quoting), on every engine
        assert outcome == "stored", f"PostgreSQL can store {text!r}"


@SETTINGS
@given(text=texts)
def test_mariadb_tracking_texts_are_stored_verbatim_or_refused(mariadb: Server, text: str) -> None:
    outcome = asyncio.run(track_one(mariadb, "Database", f"{TOKEN}_tracked", text))
    event(f"MariaDB tracking text: {outcome}")
    if "\x00" not in text:  # literals with NUL are refused before any SQL (quoting), on every engine
        assert outcome == "stored", f"the metadata table stores {text!r}"
