"""The local database servers are real and the operator's admin accounts look like a real deployment's."""

from __future__ import annotations

import ssl

import aiomysql
import asyncpg

from tests.support.env import DevEnv


async def test_postgres_admin_logs_in_over_tls_and_is_not_superuser(dev_env: DevEnv) -> None:
    pg = dev_env.postgres
    assert pg.ca_file is not None
    tls = ssl.create_default_context(cafile=pg.ca_file)
    conn = await asyncpg.connect(
        host=pg.host, port=pg.port, user=pg.admin_user, password=pg.admin_password, database="postgres", ssl=tls
    )
    try:
        row = await conn.fetchrow(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin FROM pg_roles WHERE rolname = current_user"
        )
        assert dict(row) == {"rolsuper": False, "rolcreatedb": True, "rolcreaterole": True, "rolcanlogin": True}
        memberships = {
            r["rolname"]
            for r in await conn.fetch(
                "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
                "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = current_user"
            )
        }
        assert {"pg_signal_backend", "pg_read_all_data"} <= memberships
        assert (await conn.fetchval("SHOW server_version_num")).startswith("15")
        assert await conn.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") is True
    finally:
        await conn.close()


async def test_postgres_rejects_a_wrong_password(dev_env: DevEnv) -> None:
    pg = dev_env.postgres
    try:
        await asyncpg.connect(host=pg.host, port=pg.port, user=pg.admin_user, password="wrong", database="postgres")
    except asyncpg.InvalidPasswordError:
        return
    raise AssertionError("a wrong password was accepted: authentication is not enforced")


async def test_mariadb_admin_logs_in_with_all_privileges(dev_env: DevEnv) -> None:
    db = dev_env.mariadb
    conn = await aiomysql.connect(host=db.host, port=db.port, user=db.admin_user, password=db.admin_password)
    try:
        async with conn.cursor() as cur:
            await cur.execute("SELECT VERSION(), CURRENT_USER()")
            version, user = await cur.fetchone()
            assert version.startswith("10.11") and "MariaDB" in version
            assert user == f"{db.admin_user}@%"
            await cur.execute("SHOW GRANTS")
            grants = " ".join(row[0] for row in await cur.fetchall())
            assert "GRANT ALL PRIVILEGES ON *.*" in grants and "WITH GRANT OPTION" in grants
    finally:
        conn.close()


async def test_mariadb_rejects_a_wrong_password(dev_env: DevEnv) -> None:
    db = dev_env.mariadb
    try:
        await aiomysql.connect(host=db.host, port=db.port, user=db.admin_user, password="wrong")
    except aiomysql.OperationalError as error:
        assert error.args[0] == 1045  # ER_ACCESS_DENIED_ERROR
        return
    raise AssertionError("a wrong password was accepted: authentication is not enforced")
