"""The PostgreSQL adapter against the real local PostgreSQL 15, as its non-superuser admin (engines.md 1.6).

What the adapter did is checked from the outside: through the adapter's own observation where that is the point of
the test, and through a separate superuser session (pg_authid, pg_default_acl, object owners) or a login as the
created account where the adapter's word is not enough. Every test uses names with a random suffix and removes what
it created, with the superuser, even when it fails.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from dbops.api.database import DatabasePostgresConfig, DatabaseSpec, PostgresExtension, PostgresSchema
from dbops.api.grants import PostgresDefaultPrivilege
from dbops.api.role import DatabaseRoleSpec
from dbops.api.user import DatabaseUserSpec, UserPostgresConfig
from dbops.engines.base import EngineError, ObservedDatabase, OwnedObject
from dbops.engines.connection import ConnectionSettings
from dbops.engines.errors import InvalidSpec
from dbops.engines.postgres import sql
from dbops.engines.postgres.adapter import PostgresAdapter, PostgresUserDrift
from tests.support.env import DatabaseServer, DevEnv


def unique(stem: str) -> str:
    return f"{stem}_{uuid.uuid4().hex[:8]}"


def database_spec(name: str, postgres: DatabasePostgresConfig | None = None, **fields: Any) -> DatabaseSpec:
    """A Database spec without the schema's name pattern, so hostile names reach the adapter as they are."""
    return DatabaseSpec.model_construct(name=name, postgres=postgres, **fields)


def user_spec(username: str, postgres: UserPostgresConfig | None = None, **fields: Any) -> DatabaseUserSpec:
    return DatabaseUserSpec.model_construct(username=username, postgres=postgres, **fields)


@pytest.fixture
def pg(dev_env: DevEnv) -> DatabaseServer:
    return dev_env.postgres


@pytest.fixture
def settings(pg: DatabaseServer) -> ConnectionSettings:
    return ConnectionSettings(
        engine="postgres",
        host=pg.host,
        port=pg.port,
        username=pg.admin_user,
        password=pg.admin_password,
        database="postgres",
        connect_timeout=5,
    )


@pytest.fixture
async def adapter(settings: ConnectionSettings) -> AsyncIterator[PostgresAdapter]:
    adapter = PostgresAdapter(settings)
    try:
        yield adapter
    finally:
        await adapter.close()


class Superuser:
    """A superuser session for looking behind the adapter and for cleaning up; remembers what to remove."""

    def __init__(self, server: DatabaseServer) -> None:
        self._server = server
        self.databases: list[str] = []
        self.roles: list[str] = []

    async def connect(self, database: str = "postgres") -> asyncpg.Connection:
        return await asyncpg.connect(
            host=self._server.host,
            port=self._server.port,
            user=self._server.superuser,
            password=self._server.superuser_password,
            database=database,
            ssl=False,
        )

    async def fetch(self, query: str, *args: object, database: str = "postgres") -> list[asyncpg.Record]:
        connection = await self.connect(database)
        try:
            rows: list[asyncpg.Record] = await connection.fetch(query, *args)
            return rows
        finally:
            await connection.close()

    async def fetchval(self, query: str, *args: object, database: str = "postgres") -> Any:
        rows = await self.fetch(query, *args, database=database)
        return rows[0][0] if rows else None

    async def execute(self, *statements: str, database: str = "postgres") -> None:
        connection = await self.connect(database)
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    async def role(self, name: str, *, login: bool = False) -> str:
        """Create a plain role to own things or be granted (what another resource would have created)."""
        self.roles.append(name)
        await self.execute(sql.create_role(name, sql.RoleAttributes(login=login)))
        return name

    async def cleanup(self) -> None:
        for database in self.databases:
            rows = await self.fetch("SELECT datistemplate FROM pg_database WHERE datname = $1", database)
            if rows:
                await self.execute(*sql.drop_database(database, is_template=rows[0][0]))
        for role in reversed(self.roles):
            if await self.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
                dbs = await self.fetch(
                    "SELECT DISTINCT d.datname FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid "
                    "JOIN pg_roles r ON r.oid = s.refobjid WHERE r.rolname = $1 AND d.datallowconn",
                    role,
                )
                for database in ["postgres", *(r[0] for r in dbs)]:
                    await self.execute(sql.reassign_owned(role, "postgres"), sql.drop_owned(role), database=database)
                await self.execute(sql.drop_role(role))


@pytest.fixture
async def su(pg: DatabaseServer) -> AsyncIterator[Superuser]:
    superuser = Superuser(pg)
    try:
        yield superuser
    finally:
        await superuser.cleanup()


async def login(pg: DatabaseServer, user: str, password: str, database: str = "postgres") -> asyncpg.Connection:
    return await asyncpg.connect(
        host=pg.host, port=pg.port, user=user, password=password, database=database, ssl=False, timeout=5
    )


# --------------------------------------------------------------------------------------------------------------------
# Databases


async def test_create_with_every_option_then_observe_exactly_that(adapter: PostgresAdapter, su: Superuser) -> None:
    owner = await su.role(unique("own"))
    reader = await su.role(unique("reader"))
    schema_owner = await su.role(unique("schown"))
    name = unique("db")
    su.databases.append(name)
    config = DatabasePostgresConfig(
        encoding="UTF8",
        template="template0",
        lc_collate="C",
        lc_ctype="C",
        connection_limit=7,
        extensions=[
            PostgresExtension(name="pgcrypto"),
            PostgresExtension(name="citext", schema="ext", version="1.6"),
        ],
        schemas=[PostgresSchema(name="ext"), PostgresSchema(name="app", owner=schema_owner)],
        default_privileges=[
            PostgresDefaultPrivilege(role=reader, schema_="app", object_type="tables", privileges=["SELECT"]),
            PostgresDefaultPrivilege(role=reader, schema_="app", object_type="sequences", privileges=["ALL"]),
        ],
    )
    spec = database_spec(name, config, owner=owner)

    assert await adapter.observe_database(name) is None
    await adapter.create_database(spec, owner=owner, comment="dbops: default/app")
    await adapter.verify_database(name)
    created = await adapter.observe_database(name)
    assert created is not None
    changed = await adapter.apply_database(spec, created, owner=owner)
    assert changed == [
        "spec.postgres.schemas[0]",
        "spec.postgres.schemas[1]",
        "spec.postgres.extensions[0]",
        "spec.postgres.extensions[1]",
        "spec.postgres.defaultPrivileges[0]",
        "spec.postgres.defaultPrivileges[1]",
    ], "creation options are not applied again"

    observed = await adapter.observe_database(name)
    assert observed is not None and observed.size_bytes is not None and observed.size_bytes > 0
    assert observed == ObservedDatabase(
        name=name,
        owner=owner,
        encoding="UTF8",
        collation="C",
        ctype="C",
        connection_limit=7,
        is_template=False,
        allow_connections=True,
        tablespace="pg_default",
        size_bytes=observed.size_bytes,
        comment="dbops: default/app",
        extensions={"plpgsql": "1.0", "pgcrypto": "1.3", "citext": "1.6"},
        schemas={"public": "pg_database_owner", "ext": owner, "app": schema_owner},
    )
    assert (
        await su.fetchval(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname = 'citext'",
            database=name,
        )
        == "ext"
    )
    acl = await su.fetch(
        "SELECT pg_get_userbyid(d.defaclrole) AS owner, n.nspname AS schema, d.defaclobjtype::text AS type, "
        "pg_get_userbyid(a.grantee) AS grantee, array_agg(a.privilege_type ORDER BY a.privilege_type) AS privs "
        "FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace "
        "CROSS JOIN LATERAL aclexplode(d.defaclacl) a GROUP BY 1, 2, 3, 4 ORDER BY 3",
        database=name,
    )
    assert [tuple(r) for r in acl] == [
        (owner, "app", "S", reader, ["SELECT", "UPDATE", "USAGE"]),
        (owner, "app", "r", reader, ["SELECT"]),
    ]

    assert await adapter.apply_database(spec, observed, owner=owner) == [], "a converged database needs nothing"

    spec.postgres = config.model_copy(update={"connection_limit": 3})
    assert await adapter.apply_database(spec, observed, owner=owner) == ["spec.postgres.connectionLimit"]
    after = await adapter.observe_database(name)
    assert after is not None and after.connection_limit == 3
    assert await adapter.apply_database(spec, after, owner=owner) == []

    assert name in await adapter.database_sizes()
    await adapter.drop_database(name)
    assert await adapter.observe_database(name) is None


async def test_defaults_without_engine_block_and_allow_connections_last(
    adapter: PostgresAdapter, su: Superuser
) -> None:
    name = unique("plain")
    su.databases.append(name)
    await adapter.create_database(database_spec(name), owner=None, comment=None)
    await adapter.verify_database(name)
    observed = await adapter.observe_database(name)
    assert observed is not None
    assert (observed.owner, observed.encoding, observed.connection_limit, observed.comment) == (
        adapter.admin,
        "UTF8",
        -1,
        None,
    )
    assert await adapter.apply_database(database_spec(name), observed, owner=None) == []

    closed = database_spec(name, DatabasePostgresConfig(allow_connections=False, schemas=[PostgresSchema(name="s")]))
    assert await adapter.apply_database(closed, observed, owner=None) == [
        "spec.postgres.schemas[0]",
        "spec.postgres.allowConnections",
    ], "in-database work first, then connections refused"
    refused = await adapter.observe_database(name)
    assert refused is not None and refused.allow_connections is False and refused.schemas == {}
    assert await adapter.apply_database(closed, refused, owner=None) == []

    reopened = database_spec(name, DatabasePostgresConfig(schemas=[PostgresSchema(name="s")]))
    assert await adapter.apply_database(reopened, refused, owner=None) == ["spec.postgres.allowConnections"]
    again = await adapter.observe_database(name)
    assert again is not None and again.schemas == {"public": "pg_database_owner", "s": adapter.admin}

    template = database_spec(name, DatabasePostgresConfig(is_template=True))
    assert await adapter.apply_database(template, again, owner=None) == ["spec.postgres.isTemplate"]
    await adapter.drop_database(name)  # a template is unmarked before the drop
    assert await adapter.observe_database(name) is None


async def test_extension_version_is_updated_and_removed_items_are_kept(adapter: PostgresAdapter, su: Superuser) -> None:
    name = unique("ext")
    su.databases.append(name)
    old = database_spec(name, DatabasePostgresConfig(extensions=[PostgresExtension(name="citext", version="1.5")]))
    await adapter.create_database(old, owner=None, comment=None)
    observed = await adapter.observe_database(name)
    assert observed is not None
    assert await adapter.apply_database(old, observed, owner=None) == ["spec.postgres.extensions[0]"]
    created = await adapter.observe_database(name)
    assert created is not None and created.extensions["citext"] == "1.5"

    new = database_spec(name, DatabasePostgresConfig(extensions=[PostgresExtension(name="citext", version="1.6")]))
    assert await adapter.apply_database(new, created, owner=None) == ["spec.postgres.extensions[0]"]
    updated = await adapter.observe_database(name)
    assert updated is not None and updated.extensions["citext"] == "1.6"
    assert await adapter.apply_database(new, updated, owner=None) == []
    assert await adapter.apply_database(database_spec(name), updated, owner=None) == []
    kept = await adapter.observe_database(name)
    assert kept is not None and kept.extensions["citext"] == "1.6", "extensions are never dropped"
    await adapter.drop_database(name)


async def test_owner_change_is_applied_and_reported(adapter: PostgresAdapter, su: Superuser) -> None:
    first, second = await su.role(unique("first")), await su.role(unique("second"))
    name = unique("owned")
    su.databases.append(name)
    await adapter.create_database(database_spec(name, owner=first), owner=first, comment=None)
    observed = await adapter.observe_database(name)
    assert observed is not None and observed.owner == first
    assert await adapter.apply_database(database_spec(name, owner=second), observed, owner=second) == ["spec.owner"]
    after = await adapter.observe_database(name)
    assert after is not None and after.owner == second
    await adapter.drop_database(name)


async def test_drop_ends_other_sessions(adapter: PostgresAdapter, su: Superuser, pg: DatabaseServer) -> None:
    name = unique("busy")
    su.databases.append(name)
    await adapter.create_database(database_spec(name), owner=None, comment=None)
    await adapter.verify_database(name)  # our own pooled session is in there too
    other = await login(pg, pg.admin_user, pg.admin_password, database=name)
    try:
        assert await other.fetchval("SELECT 1") == 1
        await adapter.drop_database(name)
        assert await adapter.observe_database(name) is None
        with pytest.raises(
            (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.exceptions.InternalClientError, ConnectionError)
        ):
            await other.fetchval("SELECT 1")
    finally:
        other.terminate()
    await adapter.drop_database(name)  # missing: not an error


async def test_verify_fails_with_engine_error_for_a_missing_database(adapter: PostgresAdapter) -> None:
    with pytest.raises(EngineError):
        await adapter.verify_database(unique("nosuch"))


HOSTILE = [
    'we"ird',
    "semi;colon'); DROP DATABASE postgres; --",
    "back\\slash\\",
    "ünïcødé 数据库",
    "Mixed Case",
    "é" * 31 + "x",  # 63 bytes
]


@pytest.mark.parametrize("stem", HOSTILE, ids=range(len(HOSTILE)))
async def test_hostile_database_names_are_created_and_dropped_exactly(
    adapter: PostgresAdapter, su: Superuser, stem: str
) -> None:
    name = stem if len(stem.encode()) == 63 else f"{stem}{uuid.uuid4().hex[:6]}"
    if len(stem.encode()) == 63:
        await su.execute(*sql.drop_database(name)[-1:])  # a leftover from an aborted earlier run
    su.databases.append(name)
    spec = database_spec(name, DatabasePostgresConfig(schemas=[PostgresSchema(name=name)]))
    await adapter.create_database(spec, owner=None, comment=f"comment {name}")
    await adapter.verify_database(name)
    observed = await adapter.observe_database(name)
    assert observed is not None and observed.name == name and observed.comment == f"comment {name}"
    assert await adapter.apply_database(spec, observed, owner=None) == ["spec.postgres.schemas[0]"]
    assert await su.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name) == 1
    assert await su.fetchval("SELECT nspname FROM pg_namespace WHERE nspname = $1", name, database=name) == name
    await adapter.drop_database(name)
    assert await su.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name) == 0


async def test_a_64_byte_name_is_invalid_before_any_sql(adapter: PostgresAdapter, su: Superuser) -> None:
    name = "é" * 32
    with pytest.raises(InvalidSpec) as info:
        await adapter.create_database(database_spec(name), owner=None, comment=None)
    assert info.value.field == "spec.name"
    with pytest.raises(InvalidSpec):
        await adapter.observe_database(name)
    assert await su.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name[:31]) == 0


# --------------------------------------------------------------------------------------------------------------------
# Accounts


async def test_user_with_attributes_memberships_and_parameters(
    adapter: PostgresAdapter, su: Superuser, pg: DatabaseServer
) -> None:
    group_a, group_b = await su.role(unique("grp_a")), await su.role(unique("grp_b"))
    username = unique("app")
    su.roles.append(username)
    password = "p'a\"ss\\w;rd ü-1"
    config = UserPostgresConfig(
        connection_limit=5,
        valid_until="2099-01-01T00:00:00Z",
        create_db=True,
        in_roles=[group_b],
        default_role=group_b,
        config_parameters={"search_path": '"$user", public', "statement_timeout": "5s"},
    )
    spec = user_spec(username, config, roles=[group_a])

    assert await adapter.observe_account(username) is None
    await adapter.create_account(spec, password=password, comment="dbops: default/app")
    observed = await adapter.observe_account(username)
    assert observed is not None
    assert observed.attributes == {
        "login": True,
        "superuser": False,
        "createDB": True,
        "createRole": False,
        "inherit": True,
        "replication": False,
        "bypassRLS": False,
        "connectionLimit": 5,
        "validUntil": "2099-01-01T00:00:00Z",
        "defaultRole": group_b,
    }
    assert observed.member_of == {group_a, group_b}
    assert observed.settings == {"search_path": '"$user", public', "statement_timeout": "5s"}
    assert observed.comment == "dbops: default/app"
    stored = await su.fetchval("SELECT rolpassword FROM pg_authid WHERE rolname = $1", username)
    assert stored.startswith("SCRAM-SHA-256$4096:")

    session = await login(pg, username, password)
    try:
        assert await session.fetchval("SELECT session_user") == username
        assert await session.fetchval("SELECT current_user") == group_b, "the default role is active at login"
        assert await session.fetchval("SHOW statement_timeout") == "5s"
    finally:
        await session.close()
    with pytest.raises(asyncpg.InvalidPasswordError):
        await login(pg, username, password + "x")

    assert await adapter.apply_account(spec, observed) == []
    parameters = {**(config.config_parameters or {}), "work_mem": "8MB"}
    changed_config = config.model_copy(
        update={"connection_limit": 9, "create_role": True, "config_parameters": parameters}
    )
    group_c = await su.role(unique("grp_c"))
    changed = user_spec(username, changed_config, roles=[group_a, group_c])
    assert await adapter.apply_account(changed, observed) == [
        "spec.postgres.createRole",
        "spec.postgres.connectionLimit",
        "spec.roles[1]",
        "spec.postgres.configParameters.work_mem",
    ]
    after = await adapter.observe_account(username)
    assert after is not None and after.attributes["connectionLimit"] == 9 and after.attributes["createRole"] is True
    assert after.member_of == {group_a, group_b, group_c} and after.settings["work_mem"] == "8MB"
    assert await adapter.apply_account(changed, after) == []

    new_password = "second-" + uuid.uuid4().hex
    await adapter.set_password(username, new_password)
    (await login(pg, username, new_password)).terminate()
    with pytest.raises(asyncpg.InvalidPasswordError):
        await login(pg, username, password)

    await adapter.drop_account(username)
    assert await adapter.observe_account(username) is None
    await adapter.drop_account(username)  # missing: not an error


async def test_a_no_login_user_and_a_hostile_name(adapter: PostgresAdapter, su: Superuser, pg: DatabaseServer) -> None:
    username = f"we\"ird'; DROP ROLE x; -- ü {uuid.uuid4().hex[:6]}"
    su.roles.append(username)
    await adapter.create_account(user_spec(username), password="pw-" + uuid.uuid4().hex, comment=None)
    password = "quote'back\\slash"
    await adapter.set_password(username, password)
    (await login(pg, username, password)).terminate()
    observed = await adapter.observe_account(username)
    assert observed is not None and observed.name == username and observed.attributes["validUntil"] is None

    blocked = user_spec(username, UserPostgresConfig(login=False))
    assert await adapter.apply_account(blocked, observed) == ["spec.postgres.login"]
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):
        await login(pg, username, password)
    await adapter.drop_account(username)
    assert await su.fetchval("SELECT count(*) FROM pg_roles WHERE rolname = $1", username) == 0


async def test_server_errors_are_engine_errors_without_the_password(adapter: PostgresAdapter, su: Superuser) -> None:
    username = unique("twice")
    su.roles.append(username)
    password = "secret-" + uuid.uuid4().hex
    await adapter.create_account(user_spec(username), password=password, comment=None)
    with pytest.raises(EngineError) as info:
        await adapter.create_account(user_spec(username), password=password, comment=None)
    assert "already exists" in str(info.value)
    assert password not in str(info.value) and "SCRAM-SHA-256$" not in str(info.value)
    with pytest.raises(EngineError):
        await adapter.set_password(unique("nosuch"), password)


async def test_invalid_spec_names_the_field_and_creates_nothing(adapter: PostgresAdapter, su: Superuser) -> None:
    username = unique("bad")
    su.roles.append(username)
    spec = user_spec(username, UserPostgresConfig(config_parameters={"bad-name": "1"}))
    with pytest.raises(InvalidSpec) as info:
        await adapter.create_account(spec, password="pw", comment=None)
    assert info.value.field == "spec.postgres.configParameters.bad-name"
    with pytest.raises(InvalidSpec) as info:
        await adapter.create_account(
            user_spec(username, UserPostgresConfig(valid_until="soon")), password="pw", comment=None
        )
    assert info.value.field == "spec.postgres.validUntil"
    assert await adapter.observe_account(username) is None


async def test_a_setting_the_server_refuses_leaves_no_half_made_account(
    adapter: PostgresAdapter, su: Superuser
) -> None:
    """Creation is one transaction: the refused ALTER ROLE … SET rolls the CREATE ROLE back, so the retry creates
    the account instead of taking over a half-made one."""
    username = unique("atomic")
    su.roles.append(username)
    spec = user_spec(username, UserPostgresConfig(config_parameters={"work_mem": "plenty"}))
    with pytest.raises(EngineError) as info:
        await adapter.create_account(spec, password="pw-" + uuid.uuid4().hex, comment="dbops: default/atomic")
    assert "work_mem" in str(info.value)
    assert await su.fetchval("SELECT count(*) FROM pg_roles WHERE rolname = $1", username) == 0


async def test_owned_objects_then_drop_after_reassigning(
    adapter: PostgresAdapter, su: Superuser, pg: DatabaseServer
) -> None:
    username = unique("owner")
    su.roles.append(username)
    password = "pw-" + uuid.uuid4().hex
    await adapter.create_account(user_spec(username), password=password, comment=None)
    work, own = unique("work"), unique("ownd")
    su.databases += [work, own]
    spec = database_spec(work, DatabasePostgresConfig(schemas=[PostgresSchema(name="w", owner=username)]))
    await adapter.create_database(spec, owner=None, comment=None)
    observed = await adapter.observe_database(work)
    assert observed is not None
    await adapter.apply_database(spec, observed, owner=None)
    await adapter.create_database(database_spec(own), owner=username, comment=None)
    session = await login(pg, username, password, database=work)
    try:
        await session.execute("CREATE TABLE w.t1 (id serial PRIMARY KEY)")
    finally:
        await session.close()

    owned = await adapter.owned_objects(username)
    assert sorted(owned, key=repr) == sorted(
        [
            OwnedObject(database=own, schema=None, kind="database", name=own),
            OwnedObject(database=work, schema=None, kind="schema", name="w"),
            OwnedObject(database=work, schema="w", kind="table", name="t1"),
            OwnedObject(database=work, schema="w", kind="sequence", name="t1_id_seq"),
        ],
        key=repr,
    )

    await adapter.drop_account(username)
    assert await adapter.observe_account(username) is None
    assert await su.fetchval("SELECT tableowner FROM pg_tables WHERE tablename = 't1'", database=work) == adapter.admin
    reowned = await adapter.observe_database(own)
    assert reowned is not None and reowned.owner == adapter.admin
    assert await adapter.owned_objects(username) == []
    for database in (work, own):
        await adapter.drop_database(database)


async def test_missing_objects_observe_as_none(adapter: PostgresAdapter) -> None:
    assert await adapter.observe_database(unique("none")) is None
    assert await adapter.observe_account(unique("none")) is None
    assert await adapter.owned_objects(unique("none")) == []
    sizes = await adapter.database_sizes()
    assert sizes["postgres"] > 0


# --------------------------------------------------------------------------------------------------------------------
# Round trips (issue 5) and user drift (behaviour.md 11, api.md 4.4 DatabaseUser row)


class Queries:
    """Counts the catalog reads the adapter sends (by SQL text), around the real driver calls."""

    def __init__(self, adapter: PostgresAdapter, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent: list[str] = []
        fetch, fetchval = adapter._fetch, adapter._fetchval

        async def counted_fetch(query: Any, *, database: str | None = None) -> list[Any]:
            self.sent.append(query[0])
            return await fetch(query, database=database)

        async def counted_fetchval(query: Any, *, database: str | None = None) -> Any:
            self.sent.append(query[0])
            return await fetchval(query, database=database)

        monkeypatch.setattr(adapter, "_fetch", counted_fetch)
        monkeypatch.setattr(adapter, "_fetchval", counted_fetchval)


async def test_observing_an_account_is_one_query_and_password_encryption_is_read_once(
    adapter: PostgresAdapter, su: Superuser, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = await su.role(unique("grp"))
    username = unique("app")
    su.roles.append(username)
    config = UserPostgresConfig(in_roles=[group], config_parameters={"work_mem": "8MB"})
    queries = Queries(adapter, monkeypatch)
    await adapter.create_account(user_spec(username, config), password="pw-" + uuid.uuid4().hex, comment="c")
    await adapter.set_password(username, "pw-" + uuid.uuid4().hex)
    assert queries.sent.count("SHOW password_encryption") == 1, "read once per adapter"

    queries.sent.clear()
    observed = await adapter.observe_account(username)
    assert len(queries.sent) == 1
    assert observed is not None and observed.member_of == {group} and observed.settings == {"work_mem": "8MB"}
    assert observed.comment == "c" and observed.attributes["defaultRole"] is None
    queries.sent.clear()
    assert await adapter.observe_account(unique("none")) is None
    assert len(queries.sent) == 1

    await adapter.check()  # the health check forgets the setting: it may change with a configuration reload
    queries.sent.clear()
    await adapter.set_password(username, "pw-" + uuid.uuid4().hex)
    assert queries.sent.count("SHOW password_encryption") == 1


async def test_user_drift_reads_hand_changes_and_corrects_them(
    adapter: PostgresAdapter, su: Superuser, pg: DatabaseServer
) -> None:
    group, declared, stray = [await su.role(unique(stem)) for stem in ("grp", "decl", "stray")]
    username = unique("app")
    su.roles.append(username)
    password = "pw-" + uuid.uuid4().hex
    config = UserPostgresConfig(connection_limit=5, in_roles=[group], config_parameters={"work_mem": "8MB"})
    spec = user_spec(username, config)
    await adapter.create_account(spec, password=password, comment=None)
    await su.execute(f'GRANT "{declared}" TO "{username}"')  # as a DatabaseGrant naming the user would
    drift = PostgresUserDrift(adapter)
    assert await drift.user_drift(spec, login=username, service_role=None, declared={declared}) == []

    await su.execute(
        f'ALTER ROLE "{username}" CONNECTION LIMIT 20 CREATEDB',
        f'REVOKE "{group}" FROM "{username}"',
        f'GRANT "{stray}" TO "{username}"',
        f"ALTER ROLE \"{username}\" SET work_mem = '16MB'",
        f"ALTER ROLE \"{username}\" SET statement_timeout = '5s'",
    )
    diffs = await drift.user_drift(spec, login=username, service_role=None, declared={declared})
    assert [d.status() for d in diffs] == [
        {
            "field": "configParameters.statement_timeout",
            "expected": "unset",
            "actual": "5s",
            "destructive": True,
            "immutable": False,
        },
        {
            "field": "configParameters.work_mem",
            "expected": "8MB",
            "actual": "16MB",
            "destructive": False,
            "immutable": False,
        },
        {"field": "connectionLimit", "expected": "5", "actual": "20", "destructive": False, "immutable": False},
        {"field": "createdb", "expected": "false", "actual": "true", "destructive": False, "immutable": False},
        {
            "field": "inRoles.extra",
            "expected": f"{declared}, {group}",
            "actual": stray,
            "destructive": True,
            "immutable": False,
        },
        {
            "field": "inRoles.missing",
            "expected": group,
            "actual": ", ".join(sorted([declared, stray])),
            "destructive": False,
            "immutable": False,
        },
    ]
    assert await drift.correct_user_drift(diffs) == {}
    assert await drift.user_drift(spec, login=username, service_role=None, declared={declared}) == []
    observed = await adapter.observe_account(username)
    assert observed is not None and observed.member_of == {group, declared}
    assert observed.settings == {"work_mem": "8MB"}
    (await login(pg, username, password)).terminate()  # the password is never touched


async def test_a_grant_on_a_superuser_owned_database_says_which_role_the_admin_cannot_act_for(
    adapter: PostgresAdapter, su: Superuser
) -> None:
    """`GRANT CONNECT ON DATABASE postgres` needs the owner's privileges; the owner is a superuser the admin cannot
    join. The error must name the role and the way out, not only the server's "must be superuser to alter
    superusers"."""
    name = unique("reporting")
    su.roles.append(name)
    spec = DatabaseRoleSpec.model_validate(
        {
            "instanceRef": {"name": "i"},
            "roleName": name,
            "postgres": {"grants": [{"database": "postgres", "privileges": ["CONNECT"]}]},
        }
    )
    with pytest.raises(EngineError) as info:
        await adapter.create_managed_role(spec)
    message = str(info.value)
    assert f"the admin account {adapter.admin} cannot act for role postgres, which owns the object" in message
    assert "spec.postgres.grants[0]" in message
