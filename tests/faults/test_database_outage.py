"""PostgreSQL and MariaDB stopped for 60 s while 50 objects are pending (issue 13, fault 3).

Each instance reports the outage once (`ConnectionFailed`, `HealthCheckFailed`) however many checks fail, the log
shows its health checks backing off exponentially, the users created during the outage wait instead of piling up
failures, and on return each instance reports `Connected` once and every user converges with exactly one account
and one Secret.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import aiomysql
import asyncpg

from tests.conftest import Kubectl
from tests.e2e import test_instance as pg_manifests
from tests.e2e import test_mariadb as maria_manifests
from tests.e2e.conftest import wait_for
from tests.e2e.test_database_user import user as pg_user
from tests.faults.conftest import (
    delete_partition_objects,
    event_count,
    labelled,
    phases,
    start_operator,
)
from tests.support.env import DevEnv, hack

PARTITION = "fault-outage"
METRICS_PORT, PROBE_PORT = 18782, 18783
PER_SERVER = 25
OUTAGE_SECONDS = 60.0
INTERVAL = 40
"""Health-check interval: the backoff after a failure goes 5, 10, 20, 40 s (capped here)."""
BACKOFF_EVENT = "health check failed; next check after backoff"


def _backoff(op: Any, instance: str) -> list[float]:
    return [r["next_check_seconds"] for r in op.records(BACKOFF_EVENT) if r.get("instance") == instance]


async def _postgres_accounts(dev_env: DevEnv, prefix: str) -> list[str]:
    """A fresh superuser session: a session from before the outage did not survive it."""
    pg = dev_env.postgres
    conn = await asyncpg.connect(
        host=pg.host, port=pg.port, user=pg.superuser, password=pg.superuser_password, database="postgres"
    )
    try:
        rows = await conn.fetch("SELECT rolname FROM pg_roles WHERE rolname LIKE $1", f"{prefix}\\_p%")
        return sorted(r["rolname"] for r in rows)
    finally:
        await conn.close()


async def _mariadb_accounts(dev_env: DevEnv, prefix: str) -> list[str]:
    db = dev_env.mariadb
    conn = await aiomysql.connect(host=db.host, port=db.port, user=db.superuser, password=db.superuser_password)
    try:
        async with conn.cursor() as cursor:
            await cursor.execute("SELECT User FROM mysql.user WHERE User LIKE %s", (f"{prefix}\\_%",))
            return sorted(row[0] for row in await cursor.fetchall())
    finally:
        conn.close()


async def test_both_servers_down_for_a_minute_with_fifty_users_pending(
    kubectl: Kubectl, namespace: str, dev_env: DevEnv, crds: None
) -> None:
    prefix = f"o{uuid.uuid4().hex[:6]}"
    setup = [
        pg_manifests.admin_secret(dev_env),
        labelled(pg_manifests.instance(dev_env, interval=INTERVAL), PARTITION),
        maria_manifests.admin_secret(dev_env),
        labelled(maria_manifests.instance(dev_env, interval=INTERVAL), PARTITION),
    ]
    kubectl("apply", "-n", namespace, "-f", "-", input="---\n".join(setup))
    op = start_operator(dev_env, PARTITION, METRICS_PORT, PROBE_PORT)
    instances = {"pg": f"{namespace}/pg", "maria": f"{namespace}/maria"}
    try:
        wait_for(lambda: set(phases(kubectl, "dbi", namespace).values()) == {"Ready"}, 60, "both instances Ready")
        stopped = time.monotonic()
        hack("postgres.sh", "stop")
        hack("mariadb.sh", "stop")
        try:
            users = [labelled(pg_user(f"pg-{i}", f"{prefix}_p{i}"), PARTITION) for i in range(PER_SERVER)]
            users += [
                labelled(maria_manifests.user(f"maria-{i}", f"{prefix}_m{i}"), PARTITION) for i in range(PER_SERVER)
            ]
            kubectl("apply", "-n", namespace, "-f", "-", input="---\n".join(users), timeout=120)
            # Hold the outage for a minute, and until each instance has backed off three times (5, 10, 20 s).
            wait_for(
                lambda: (
                    time.monotonic() - stopped >= OUTAGE_SECONDS
                    and all(len(_backoff(op, key)) >= 3 for key in instances.values())
                ),
                OUTAGE_SECONDS + 2 * INTERVAL + 30,
                "a minute of outage with three failed checks per instance",
            )
            assert set(phases(kubectl, "dbi", namespace).values()) == {"Failed"}
            assert "Ready" not in phases(kubectl, "dbu", namespace).values()
        finally:
            hack("postgres.sh", "start")
            hack("mariadb.sh", "start")
        wait_for(
            lambda: list(phases(kubectl, "dbu", namespace).values()).count("Ready") == 2 * PER_SERVER,
            2 * INTERVAL + 60,
            "every user Ready after the servers return",
        )
        for name, key in instances.items():
            delays = _backoff(op, key)
            assert delays[:3] == [5.0, 10.0, 20.0], delays  # exponential, visible in the log
            assert delays == sorted(delays) and max(delays) <= INTERVAL, delays
            for reason, expected in (("ConnectionFailed", 1), ("HealthCheckFailed", 1), ("Connected", 2)):
                assert event_count(kubectl, namespace, name, reason) == expected, (name, reason)
        assert await _postgres_accounts(dev_env, prefix) == sorted(f"{prefix}_p{i}" for i in range(PER_SERVER))
        assert await _mariadb_accounts(dev_env, prefix) == sorted(f"{prefix}_m{i}" for i in range(PER_SERVER))
        for i in range(PER_SERVER):
            for user_name in (f"pg-{i}", f"maria-{i}"):
                assert event_count(kubectl, namespace, user_name, "Created") == 1, user_name
                assert event_count(kubectl, namespace, user_name, "ReconcileFailed") <= 1, user_name
    finally:
        delete_partition_objects(kubectl, namespace)
        op.stop()
