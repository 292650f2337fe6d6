"""mariadb-dump → pipeline → mariadb client against the real local MariaDB 10.11, as the operator's admin."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator

import pytest

from dbops.backup.pipeline import run_backup, run_restore
from dbops.engines.connection import ConnectionSettings
from dbops.engines.dump import DumpError, DumpRequest, RestoreRequest, dump_method
from dbops.engines.mysql.server import MySQLServer
from tests.integration.engines.test_postgres_dump import BytesSource, MemoryWriter
from tests.support.env import DevEnv


@pytest.fixture
def settings(dev_env: DevEnv) -> ConnectionSettings:
    db = dev_env.mariadb
    return ConnectionSettings("mariadb", db.host, db.port, db.admin_user, db.admin_password, "mysql")


@pytest.fixture
async def server(settings: ConnectionSettings) -> AsyncIterator[MySQLServer]:
    server = MySQLServer(settings)
    names: list[str] = []
    server.created = names  # type: ignore[attr-defined]
    yield server
    for name in names:
        await server.execute(f"DROP DATABASE IF EXISTS `{name}`")
    await server.close()


async def checksums(server: MySQLServer, database: str) -> dict[str, str]:
    rows = await server.fetch(
        "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = %s", (database,)
    )
    out = {}
    for row in rows:
        name = str(row["t"])
        result = await server.fetch(f"CHECKSUM TABLE `{database}`.`{name}` EXTENDED")
        out[name] = str(result[0]["Checksum"])
    return out


async def test_round_trip(settings: ConnectionSettings, server: MySQLServer) -> None:
    src, dst = f"dump_src_{uuid.uuid4().hex[:8]}", f"dump_dst_{uuid.uuid4().hex[:8]}"
    server.created += [src, dst]  # type: ignore[attr-defined]
    await server.execute(f"CREATE DATABASE `{src}` CHARACTER SET utf8mb4")
    await server.execute_all(
        [
            f"CREATE TABLE `{src}`.parent (id INT PRIMARY KEY, name VARCHAR(50)) CHARACTER SET utf8mb4",
            f"CREATE TABLE `{src}`.`child ü` (id INT PRIMARY KEY, p INT, b BLOB,"
            f" FOREIGN KEY (p) REFERENCES `{src}`.parent(id))",
            f"INSERT INTO `{src}`.parent VALUES (1, 'zeile ü ✓ 😀'), (2, 'USE other;')",
            f"INSERT INTO `{src}`.`child ü` VALUES (1, 1, UNHEX('00FF10')), (2, 2, NULL)",
        ]
    )
    method = dump_method("mariadb")
    source = await method.open_dump(DumpRequest(settings, src))
    writer = MemoryWriter()
    result = await run_backup(source, writer)
    assert writer.completed and b"CREATE DATABASE" not in writer.data()
    await server.execute(f"CREATE DATABASE `{dst}` CHARACTER SET utf8mb4")
    sink = await method.open_restore(RestoreRequest(settings, dst, format=source.format))
    await run_restore(BytesSource(writer.data()), sink, expected_checksum=result.checksum)
    expected = await checksums(server, src)
    assert len(expected) == 2
    assert await checksums(server, dst) == expected


async def test_wrong_password_is_a_clear_error_without_the_password(settings: ConnectionSettings) -> None:
    bad = dataclasses.replace(settings, password="not-the-Pa55word")
    source = await dump_method("mariadb").open_dump(DumpRequest(bad, "mysql"))
    with pytest.raises(DumpError) as info:
        await run_backup(source, MemoryWriter())
    assert "Access denied" in str(info.value)
    assert "not-the-Pa55word" not in str(info.value)
