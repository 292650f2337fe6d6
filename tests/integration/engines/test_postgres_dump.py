"""pg_dump → pipeline → pg_restore/psql against the real local PostgreSQL 15, as the operator's admin account."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from dbops.api.backup import PostgresBackupConfig
from dbops.api.restore import PostgresRestoreConfig
from dbops.backup.pipeline import run_backup, run_restore
from dbops.engines.connection import ConnectionSettings
from dbops.engines.dump import DumpError, DumpRequest, RestoreRequest, dump_method
from tests.support.env import DevEnv


class MemoryWriter:
    concurrent_parts = 1

    def __init__(self) -> None:
        self.parts: dict[int, bytes] = {}
        self.completed = self.aborted = False

    async def write_part(self, number: int, data: bytes, *, last: bool) -> None:
        self.parts[number] = data

    async def complete(self) -> None:
        self.completed = True

    async def abort(self) -> None:
        self.aborted = True

    def data(self) -> bytes:
        return b"".join(self.parts[k] for k in sorted(self.parts))


class BytesSource:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    async def read(self, size: int) -> bytes:
        out = self.data[self.pos : self.pos + size]
        self.pos += len(out)
        return out

    async def finish(self) -> None: ...

    async def abort(self) -> None: ...


@pytest.fixture
def settings(dev_env: DevEnv) -> ConnectionSettings:
    pg = dev_env.postgres
    return ConnectionSettings("postgres", pg.host, pg.port, pg.admin_user, pg.admin_password, "postgres")


@pytest.fixture
async def databases(settings: ConnectionSettings) -> AsyncIterator[list[str]]:
    names: list[str] = []
    yield names
    conn = await asyncpg.connect(
        host=settings.host,
        port=settings.port,
        user=settings.username,
        password=settings.password,
        database="postgres",
        ssl=False,
    )
    try:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def connect(settings: ConnectionSettings, database: str) -> asyncpg.Connection:
    return await asyncpg.connect(
        host=settings.host,
        port=settings.port,
        user=settings.username,
        password=settings.password,
        database=database,
        ssl=False,
    )


async def create(settings: ConnectionSettings, databases: list[str], name: str) -> None:
    databases.append(name)
    conn = await connect(settings, "postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def checksums(settings: ConnectionSettings, database: str) -> dict[str, str]:
    conn = await connect(settings, database)
    try:
        tables = await conn.fetch(
            "SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog','information_schema')"
        )
        out = {}
        for t in tables:
            q = f'"{t[0]}"."{t[1]}"'
            out[q] = await conn.fetchval(
                f"SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM {q} x"
            )
        return out
    finally:
        await conn.close()


async def fill(settings: ConnectionSettings, database: str) -> None:
    conn = await connect(settings, database)
    try:
        await conn.execute("""
            CREATE SCHEMA s1; CREATE SCHEMA "Sch ü";
            CREATE TABLE s1.t (id int PRIMARY KEY, txt text, b bytea);
            INSERT INTO s1.t SELECT g, 'zeile ü ✓ ' || g, decode(md5(g::text), 'hex') FROM generate_series(1, 5000) g;
            CREATE TABLE "Sch ü"."T ab" (k text, v jsonb);
            INSERT INTO "Sch ü"."T ab" VALUES ('GRANT x; ALTER TABLE y OWNER TO z;', '{"a": "ö"}'), (E'a\\nb', NULL);
            CREATE FUNCTION s1.f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
        """)
    finally:
        await conn.close()


@pytest.mark.parametrize("fmt", ["custom", "tar", "plain"])
async def test_round_trip(settings: ConnectionSettings, databases: list[str], fmt: str) -> None:
    source_db, target_db = f"dump_src_{uuid.uuid4().hex[:8]}", f"dump_dst_{uuid.uuid4().hex[:8]}"
    await create(settings, databases, source_db)
    await fill(settings, source_db)
    method = dump_method("postgres")
    source = await method.open_dump(DumpRequest(settings, source_db, postgres=PostgresBackupConfig(format=fmt)))
    writer = MemoryWriter()
    result = await run_backup(source, writer)
    assert writer.completed and result.size_bytes > 0
    await create(settings, databases, target_db)
    sink = await method.open_restore(RestoreRequest(settings, target_db, format=fmt, postgres=PostgresRestoreConfig()))
    await run_restore(BytesSource(writer.data()), sink, expected_checksum=result.checksum)
    expected = await checksums(settings, source_db)
    assert len(expected) == 2
    assert await checksums(settings, target_db) == expected


async def test_wrong_password_is_a_clear_error_without_the_password(
    settings: ConnectionSettings, databases: list[str]
) -> None:
    bad = dataclasses.replace(settings, password="not-the-Pa55word")
    method = dump_method("postgres")
    source = await method.open_dump(DumpRequest(bad, "postgres", server_version="15"))
    with pytest.raises(DumpError) as info:
        await run_backup(source, MemoryWriter())
    assert "pg_dump" in str(info.value) and "password" in str(info.value).lower()
    assert "not-the-Pa55word" not in str(info.value)


async def test_abort_mid_restore_kills_the_tool_and_rolls_back(
    settings: ConnectionSettings, databases: list[str]
) -> None:
    target = f"dump_dst_{uuid.uuid4().hex[:8]}"
    await create(settings, databases, target)
    method = dump_method("postgres")
    sink = await method.open_restore(RestoreRequest(settings, target, format="plain"))
    await sink.write(b"CREATE TABLE public.partial (a int);\nINSERT INTO public.partial VALUES (1);\n")
    await sink.abort()
    import os

    with pytest.raises(ProcessLookupError):
        os.kill(sink.pid, 0)  # type: ignore[attr-defined]
    assert await checksums(settings, target) == {}
