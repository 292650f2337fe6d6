"""DatabaseRole deletion on PostgreSQL (behaviour.md 9 with 8.7 step 3): objects the role owns block the drop until
force-delete, which reassigns them to the admin account and drops the role."""

from __future__ import annotations

from typing import Any

import asyncpg

from tests.conftest import Kubectl
from tests.e2e.conftest import Operator, condition, events, get, reconciled_once_more, wait_for
from tests.e2e.test_database_user import database, phase, unique
from tests.e2e.test_instance import admin_secret, instance
from tests.e2e.test_roles_grants import apply, role_manifest
from tests.support.env import DevEnv


def count(kubectl: Kubectl, namespace: str, name: str, reason: str) -> int:
    return sum(e.get("count") or 1 for e in events(kubectl, namespace, name, reason))


async def superuser(dev_env: DevEnv, db: str) -> Any:
    pg = dev_env.postgres
    return await asyncpg.connect(
        host=pg.host, port=pg.port, user=pg.superuser, password=pg.superuser_password, database=db
    )


async def test_owned_objects_block_the_drop_until_force_delete_reassigns_them(
    kubectl: Kubectl, namespace: str, operator: Operator, dev_env: DevEnv
) -> None:
    db_name, role_name, empty_name = unique("owned"), unique("owner"), unique("empty")
    apply(kubectl, namespace, admin_secret(dev_env) + "---\n" + instance(dev_env, interval=30))
    wait_for(lambda: phase(kubectl, "dbi", namespace, "pg") == "Ready", 60, "instance Ready")
    apply(
        kubectl,
        namespace,
        "---\n".join([database("db", db_name), role_manifest("owner", role_name), role_manifest("empty", empty_name)]),
    )
    for kind, name in (("database", "db"), ("databaserole", "owner"), ("databaserole", "empty")):
        wait_for(lambda k=kind, n=name: phase(kubectl, k, namespace, n) == "Ready", 60, f"{kind} {name} Ready")
    conn = await superuser(dev_env, db_name)
    try:
        await conn.execute("CREATE TABLE report (id int)")
        await conn.execute(f'ALTER TABLE report OWNER TO "{role_name}"')
    finally:
        await conn.close()

    # A role that owns nothing goes at once.
    kubectl("delete", "databaserole", "empty", "-n", namespace, "--wait=true", "--timeout=60s")
    assert count(kubectl, namespace, "empty", "DeletionBlocked") == 0
    assert count(kubectl, namespace, "empty", "Deleted") == 1

    kubectl("delete", "databaserole", "owner", "-n", namespace, "--wait=false")
    blocked = wait_for(
        lambda: (
            (obj := get(kubectl, "databaserole", namespace, "owner"))
            and condition(obj, "Ready").get("reason") == "OwnershipBlocks"
            and obj
        ),
        30,
        "OwnershipBlocks",
    )
    assert blocked["status"]["phase"] == "Failed"
    assert f"{db_name}.public.report" in condition(blocked, "Ready")["message"]
    # A re-check (woken by an annotation change) finds the same objects and says nothing new.
    reconciled_once_more(kubectl, operator, "databaserole", "DatabaseRole", namespace, "owner")
    warnings = events(kubectl, namespace, "owner", "DeletionBlocked")
    assert sum(e.get("count") or 1 for e in warnings) == 1
    assert db_name in warnings[0]["message"] and "force-delete=true" in warnings[0]["message"]
    conn = await superuser(dev_env, db_name)
    try:
        assert await conn.fetchval("SELECT count(*) FROM pg_roles WHERE rolname = $1", role_name) == 1

        kubectl("annotate", "databaserole", "owner", "-n", namespace, "dbops.dbprovision.io/force-delete=true")
        wait_for(lambda: get(kubectl, "databaserole", namespace, "owner") is None, 60, "the role to go")
        assert await conn.fetchval("SELECT count(*) FROM pg_roles WHERE rolname = $1", role_name) == 0
        owner = await conn.fetchval("SELECT tableowner FROM pg_tables WHERE tablename = 'report'")
        assert owner == dev_env.postgres.admin_user, "the table was reassigned to the admin account"
    finally:
        await conn.close()
    assert count(kubectl, namespace, "owner", "Deleted") == 1
    assert count(kubectl, namespace, "owner", "DeleteFailed") == 0
