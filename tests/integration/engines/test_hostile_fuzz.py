"""Hostile names fuzzed through the real PostgreSQL and MariaDB (issue 13, item 6).

Hypothesis builds names from the fragments injections are made of — quotes of every kind, backticks, backslashes,
`--`, `/*`, `$$`, semicolons, NUL, newlines, non-ASCII text — and lengths around the 63/64-byte limits. Each name
meets the two layers in turn:

1. the schema (the typed models that generate the CRD): it is refused naming the field, or accepted;
2. the engine adapter *without* the schema (`model_construct`), as defence in depth: the account is refused with
   a clear error (`InvalidSpec`, `EngineError`), or created with exactly that name, byte for byte.

Either way nothing the name carries is executed: a canary account made before the run is still there after it,
and no account other than the one asked for carries the run's token.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiomysql
import asyncpg
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from dbops.api.user import DatabaseUserSpec
from dbops.engines.base import EngineAdapter, EngineError
from dbops.engines.connection import ConnectionSettings
from dbops.engines.errors import InvalidSpec
from dbops.engines.mysql import MySQLAdapter
from dbops.engines.postgres_adapter import PostgresAdapter
from tests.support.env import DevEnv

TOKEN = f"fz{uuid.uuid4().hex[:6]}"
"""Every fuzzed name carries it, so the catalogs show whatever the fuzzing made, and nothing else is touched."""

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
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], database=None
)


def schema_accepts(name: str) -> bool:
    """What the CRD's schema says about `spec.username`; a refusal must name the field."""
    try:
        DatabaseUserSpec.model_validate({"instanceRef": {"name": "pg"}, "username": name})
    except ValidationError as error:
        assert any(e["loc"][0] == "username" for e in error.errors()), error
        return False
    return True


async def fuzz_one(
    name: str,
    make_adapter: Callable[[], EngineAdapter],
    accounts_with_token: Callable[[], Awaitable[list[str]]],
    canary_exists: Callable[[], Awaitable[bool]],
) -> str:
    """Create and drop one account named `name` through the adapter; returns "created" or "refused"."""
    adapter = make_adapter()
    try:
        spec = DatabaseUserSpec.model_construct(username=name)
        try:
            await adapter.create_account(spec, password="Fuzz-pw-1", comment=None)
        except (InvalidSpec, EngineError) as error:
            assert str(error), "a refusal says why"
            assert await accounts_with_token() == [], f"refused, yet something was created for {name!r}"
            return "refused"
        try:
            assert await accounts_with_token() == [name], f"created as something else than {name!r}"
        finally:
            await adapter.drop_account(name)
        assert await accounts_with_token() == []
        return "created"
    finally:
        await adapter.close()
        assert await canary_exists(), f"the canary account disappeared after {name!r}"


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


@pytest.fixture(scope="module")
def pg_canary(dev_env: DevEnv) -> Any:
    canary = f"canary_{TOKEN}"
    asyncio.run(_pg(dev_env, f'CREATE ROLE "{canary}"'))
    yield canary
    asyncio.run(_pg(dev_env, f'DROP ROLE IF EXISTS "{canary}"'))
    for (leftover,) in asyncio.run(_pg(dev_env, "SELECT rolname FROM pg_roles WHERE strpos(rolname, $1) = 1", TOKEN)):
        asyncio.run(_pg(dev_env, 'DROP ROLE IF EXISTS "{}"'.format(leftover.replace('"', '""'))))


@SETTINGS
@given(name=names)
def test_postgres_account_names_are_refused_or_created_verbatim(dev_env: DevEnv, pg_canary: str, name: str) -> None:
    pg = dev_env.postgres
    connection = ConnectionSettings(
        engine="postgres", host=pg.host, port=pg.port, username=pg.admin_user, password=pg.admin_password,
        database="postgres", connect_timeout=5,
    )  # fmt: skip
    accepted = schema_accepts(name)

    async def with_token() -> list[str]:
        rows = await _pg(dev_env, "SELECT rolname FROM pg_roles WHERE strpos(rolname, $1) = 1", TOKEN)
        return sorted(r[0] for r in rows)

    async def canary() -> bool:
        return bool(await _pg(dev_env, "SELECT 1 FROM pg_roles WHERE rolname = $1", pg_canary))

    outcome = asyncio.run(fuzz_one(name, lambda: PostgresAdapter(connection), with_token, canary))
    event(f"schema {'accepts' if accepted else 'refuses'}, PostgreSQL adapter: {outcome}")
    if accepted:
        assert outcome == "created", f"the schema accepts {name!r} but PostgreSQL did not create it"
    if len(name.encode()) > 63:
        assert outcome == "refused", "PostgreSQL would truncate it: the adapter must refuse"


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


@pytest.fixture(scope="module")
def maria_canary(dev_env: DevEnv) -> Any:
    canary = f"canary_{TOKEN}"
    asyncio.run(_maria(dev_env, f"CREATE USER '{canary}'@'%'"))
    yield canary
    asyncio.run(_maria(dev_env, f"DROP USER IF EXISTS '{canary}'@'%'"))
    leftovers = asyncio.run(_maria(dev_env, "SELECT User, Host FROM mysql.user WHERE LOCATE(%s, User) = 1", TOKEN))
    for user, host in leftovers:
        quoted = "'" + user.replace("\\", "\\\\").replace("'", "''") + "'"
        asyncio.run(_maria(dev_env, f"DROP USER IF EXISTS {quoted}@'{host}'"))


@SETTINGS
@given(name=names)
def test_mariadb_account_names_are_refused_or_created_verbatim(dev_env: DevEnv, maria_canary: str, name: str) -> None:
    db = dev_env.mariadb
    connection = ConnectionSettings(
        engine="mariadb", host=db.host, port=db.port, username=db.admin_user, password=db.admin_password,
        database="mysql", connect_timeout=5,
    )  # fmt: skip
    accepted = schema_accepts(name)

    async def with_token() -> list[str]:
        rows = await _maria(dev_env, "SELECT DISTINCT User FROM mysql.user WHERE LOCATE(%s, User) = 1", TOKEN)
        return sorted(r[0] for r in rows)

    async def canary() -> bool:
        return bool(await _maria(dev_env, "SELECT 1 FROM mysql.user WHERE User = %s", maria_canary))

    outcome = asyncio.run(fuzz_one(name, lambda: MySQLAdapter(dataclasses.replace(connection)), with_token, canary))
    event(f"schema {'accepts' if accepted else 'refuses'}, MariaDB adapter: {outcome}")
    if accepted:
        assert outcome == "created", f"the schema accepts {name!r} but MariaDB did not create it"
