"""Role-inheritance rotation on the real local PostgreSQL 15, through `PostgresRotation` as the non-superuser admin.

What happened is checked from the outside: a superuser session reads pg_roles / pg_auth_members, and logins are
attempted with the generated passwords. Names carry a random suffix; everything is dropped by the superuser at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from dbops.api.user import DatabaseUserSpec, UserPostgresConfig
from dbops.engines.connection import ConnectionSettings
from dbops.engines.postgres.adapter import PostgresAdapter
from dbops.engines.postgres.rotation import PostgresRotation
from dbops.engines.rotation import ServiceRoleMissing, rotation_adapter
from tests.support.env import DatabaseServer, DevEnv


def unique(stem: str) -> str:
    return f"{stem}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def pg(dev_env: DevEnv) -> DatabaseServer:
    return dev_env.postgres


@pytest.fixture
async def adapter(pg: DatabaseServer) -> AsyncIterator[PostgresAdapter]:
    settings = ConnectionSettings(
        engine="postgres",
        host=pg.host,
        port=pg.port,
        username=pg.admin_user,
        password=pg.admin_password,
        database="postgres",
        connect_timeout=5,
    )
    adapter = PostgresAdapter(settings)
    try:
        yield adapter
    finally:
        await adapter.close()


@pytest.fixture
async def superuser(pg: DatabaseServer) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(
        host=pg.host, port=pg.port, user=pg.superuser, password=pg.superuser_password, database="postgres", ssl=False
    )
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def names(superuser: asyncpg.Connection) -> AsyncIterator[list[str]]:
    """Roles to drop at the end (in reverse order, after their dependencies)."""
    created: list[str] = []
    yield created
    for name in reversed(created):
        if await _exists(superuser, name):
            await superuser.execute(f'DROP OWNED BY "{name}"')
        await superuser.execute(f'DROP ROLE IF EXISTS "{name}"')


async def _exists(superuser: asyncpg.Connection, name: str) -> bool:
    return bool(await superuser.fetchval("SELECT count(*) FROM pg_roles WHERE rolname = $1", name))


async def can_login(pg: DatabaseServer, user: str, password: str) -> bool:
    try:
        connection = await asyncpg.connect(
            host=pg.host, port=pg.port, user=user, password=password, database="postgres", ssl=False
        )
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError):
        return False
    try:
        return bool(await connection.fetchval("SELECT current_user = $1", user))
    finally:
        await connection.close()


def spec(username: str, **postgres: Any) -> DatabaseUserSpec:
    return DatabaseUserSpec.model_construct(
        username=username, postgres=UserPostgresConfig(**postgres) if postgres else None, roles=None
    )


async def test_only_postgres_adapters_get_the_capability(adapter: PostgresAdapter) -> None:
    assert isinstance(rotation_adapter(adapter), PostgresRotation)


async def test_service_role_rotated_account_login_and_membership(
    adapter: PostgresAdapter, superuser: asyncpg.Connection, names: list[str], pg: DatabaseServer
) -> None:
    rotation = PostgresRotation(adapter)
    role, user, rotated = unique("svc"), unique("app"), unique("app_r")
    names += [rotated, user, role]
    with pytest.raises(ServiceRoleMissing):
        await rotation.service_role_comment(role)
    await rotation.create_service_role(role, comment="dbops: test marker")
    assert await rotation.service_role_comment(role) == "dbops: test marker"
    row = await superuser.fetchrow("SELECT rolcanlogin, rolinherit FROM pg_roles WHERE rolname = $1", role)
    assert row is not None and (row["rolcanlogin"], row["rolinherit"]) == (False, True)

    await adapter.create_account(spec(user), password="original-pw", comment=None)
    assert await rotation.ensure_member(role, user) is True
    assert await rotation.ensure_member(role, user) is False  # already a member: no statement

    # The rotated account gets login and inherit even when the user itself has neither, plus the connection limit.
    template = spec(user, login=False, inherit=False, connection_limit=5)
    assert not await rotation.account_exists(rotated)
    await rotation.create_rotated_account(template, rotated, password="rotated-pw'\"", service_role=role)
    assert await rotation.account_exists(rotated)
    row = await superuser.fetchrow(
        "SELECT rolcanlogin, rolinherit, rolconnlimit FROM pg_roles WHERE rolname = $1", rotated
    )
    assert row is not None and (row["rolcanlogin"], row["rolinherit"], row["rolconnlimit"]) == (True, True, 5)
    members = await superuser.fetch(
        "SELECT m.rolname FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid "
        "JOIN pg_roles m ON m.oid = a.member WHERE r.rolname = $1",
        role,
    )
    assert {r["rolname"] for r in members} == {user, rotated}
    assert await can_login(pg, rotated, "rotated-pw'\"")

    # A privilege granted to the service role reaches the rotated login through inheritance.
    await superuser.execute(f'GRANT pg_read_all_settings TO "{role}"')
    connection = await asyncpg.connect(
        host=pg.host, port=pg.port, user=rotated, password="rotated-pw'\"", database="postgres", ssl=False
    )
    try:
        assert await connection.fetchval("SELECT pg_has_role($1, 'pg_read_all_settings', 'USAGE')", rotated)
    finally:
        await connection.close()

    # A spec change applies to the rotated account too.
    changed = await rotation.apply_rotated_account(spec(user, connection_limit=9), rotated, service_role=role)
    assert "spec.postgres.connectionLimit" in changed
    assert await superuser.fetchval("SELECT rolconnlimit FROM pg_roles WHERE rolname = $1", rotated) == 9

    await rotation.set_password(rotated, "third-pw")
    assert await can_login(pg, rotated, "third-pw")
    assert not await can_login(pg, rotated, "rotated-pw'\"")

    await rotation.disable_account(rotated)
    assert not await can_login(pg, rotated, "third-pw")
    await rotation.disable_account(unique("gone"))  # a missing account needs nothing


async def test_owned_objects_block_and_drop_removes_the_account(
    adapter: PostgresAdapter, superuser: asyncpg.Connection, names: list[str]
) -> None:
    rotation = PostgresRotation(adapter)
    role, rotated = unique("svc"), unique("app_r")
    names += [rotated, role]
    await rotation.create_service_role(role, comment="m")
    await rotation.create_rotated_account(spec(unique("app")), rotated, password="pw", service_role=role)
    table = unique("t")
    await superuser.execute(f'CREATE TABLE public."{table}" (id int)')
    await superuser.execute(f'ALTER TABLE public."{table}" OWNER TO "{rotated}"')
    owned = await rotation.owned_objects(rotated)
    assert [(o.database, o.schema, o.name) for o in owned] == [("postgres", "public", table)]
    await superuser.execute(f'DROP TABLE public."{table}"')
    assert await rotation.owned_objects(rotated) == []
    await rotation.drop_account(rotated)
    assert not await rotation.account_exists(rotated)
    await rotation.drop_account(rotated)  # missing is not an error


async def test_a_failed_creation_leaves_nothing_behind(
    adapter: PostgresAdapter, superuser: asyncpg.Connection, names: list[str]
) -> None:
    from dbops.engines.base import EngineError

    rotation = PostgresRotation(adapter)
    rotated = unique("app_r")
    names.append(rotated)
    # The service role does not exist: CREATE ROLE … IN ROLE fails; nothing of the account may remain.
    with pytest.raises(EngineError):
        await rotation.create_rotated_account(spec(unique("app")), rotated, password="pw", service_role=unique("no"))
    assert not await _exists(superuser, rotated)
    # A name that belongs to someone else is never dropped by the cleanup.
    other = unique("other")
    names.append(other)
    await superuser.execute(f'CREATE ROLE "{other}" LOGIN')
    role = unique("svc")
    names.append(role)
    await rotation.create_service_role(role, comment="m")
    with pytest.raises(EngineError):
        await rotation.create_rotated_account(spec(unique("app")), other, password="pw", service_role=role)
    assert await _exists(superuser, other)
