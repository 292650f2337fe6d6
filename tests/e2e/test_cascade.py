"""Cascade authority end to end (behaviour.md 5.4): a confirmed force-delete of an instance removes its protected
Database, its protected user and the grant on both, grants first, without any of them stalling or asking again."""

from __future__ import annotations

import time
from typing import Any

import asyncpg

from tests.conftest import Kubectl
from tests.e2e.conftest import Operator, condition, events, get, wait_for
from tests.e2e.test_database_user import database, phase, unique, user
from tests.e2e.test_instance import admin_secret, instance
from tests.e2e.test_roles_grants import apply, grant
from tests.support.env import DevEnv

FORCE = "dbops.dbprovision.io/force-delete"
CONFIRM = "dbops.dbprovision.io/confirm-force-delete"


def count(kubectl: Kubectl, namespace: str, name: str, reason: str) -> int:
    return sum(e.get("count") or 1 for e in events(kubectl, namespace, name, reason))


async def test_a_confirmed_instance_cascade_removes_protected_dependents_grants_first(
    kubectl: Kubectl, namespace: str, operator: Operator, dev_env: DevEnv
) -> None:
    db_name, username = unique("casc"), unique("casc")
    protected_user = user("app", username).replace(
        "metadata: {name: app}",
        'metadata: {name: app, annotations: {dbops.dbprovision.io/deletion-protection: "true"}}',
    )
    body = f"    grants:\n      - {{database: {db_name}, privileges: [CONNECT]}}\n"
    access = grant("g", "userRef: {name: app}\n  databaseRef: {name: db}", body).replace(
        "deletionProtection: false", "deletionProtection: true"
    )
    apply(kubectl, namespace, admin_secret(dev_env) + "---\n" + instance(dev_env, interval=30))
    wait_for(lambda: phase(kubectl, "dbi", namespace, "pg") == "Ready", 60, "instance Ready")
    apply(kubectl, namespace, database("db", db_name, protection=True) + "---\n" + protected_user)
    wait_for(lambda: phase(kubectl, "database", namespace, "db") == "Ready", 60, "database Ready")
    wait_for(lambda: phase(kubectl, "databaseuser", namespace, "app") == "Ready", 60, "user Ready")
    apply(kubectl, namespace, access)
    wait_for(lambda: phase(kubectl, "databasegrant", namespace, "g") == "Ready", 60, "grant Ready")

    kubectl("delete", "dbi", "pg", "-n", namespace, "--wait=false")
    kubectl("annotate", "dbi", "pg", "-n", namespace, f"{FORCE}=true")
    pending = wait_for(
        lambda: ((get(kubectl, "dbi", namespace, "pg") or {}).get("status") or {}).get("deletionConfirmation") or {},
        30,
        "the instance's confirmation hash",
    )
    assert pending["required"] is True and pending["children"] == ["Database/db", "DatabaseUser/app"]
    # Nothing is deleted before confirmation.
    assert (get(kubectl, "database", namespace, "db") or {})["metadata"].get("deletionTimestamp") is None

    kubectl("annotate", "dbi", "pg", "-n", namespace, f"{CONFIRM}={pending['hash']}")
    objects = {"g": "databasegrant", "db": "database", "app": "databaseuser", "pg": "dbi"}
    gone_at: dict[str, float] = {}

    def all_gone() -> bool:
        for name, kind in objects.items():
            if name not in gone_at and get(kubectl, kind, namespace, name) is None:
                gone_at[name] = time.monotonic()
        return len(gone_at) == len(objects)

    wait_for(all_gone, 90, "the cascade to remove grant, database, user and instance", interval=0.3)
    assert gone_at["g"] <= min(gone_at["db"], gone_at["app"]) <= gone_at["pg"], gone_at

    # Events are written asynchronously: the last ones may land just after their objects are gone, so wait for the
    # final ones before counting.
    final = (("pg", "CascadeDeleteComplete"), ("db", "CascadeDeleteComplete"), ("db", "Deleted"), ("app", "Deleted"))
    wait_for(
        lambda: all(count(kubectl, namespace, n, r) >= 1 for n, r in final),
        15,
        f"the final events {final}",
    )
    # The protected dependents never blocked, and the cascade was confirmed once and completed once.
    for name in ("g", "db", "app"):
        assert count(kubectl, namespace, name, "DeletionBlocked") == 0, name
        assert count(kubectl, namespace, name, "ForceDeletePending") == 0, name
    assert count(kubectl, namespace, "pg", "ForceDeletePending") == 1
    for name, reason in final:
        assert count(kubectl, namespace, name, reason) == 1, (name, reason)

    pg = dev_env.postgres
    conn: Any = await asyncpg.connect(
        host=pg.host, port=pg.port, user=pg.superuser, password=pg.superuser_password, database="postgres"
    )
    try:
        assert await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", db_name) == 0
        assert await conn.fetchval("SELECT count(*) FROM pg_roles WHERE rolname = $1", username) == 0
    finally:
        await conn.close()


async def test_an_unconfirmed_force_delete_covers_nothing(
    kubectl: Kubectl, namespace: str, operator: Operator, dev_env: DevEnv
) -> None:
    """force-delete on the instance without the confirmation is no authority: a protected Database deleted meanwhile
    stays blocked by its own protection."""
    db_name = unique("kept")
    apply(kubectl, namespace, admin_secret(dev_env) + "---\n" + instance(dev_env, interval=30))
    wait_for(lambda: phase(kubectl, "dbi", namespace, "pg") == "Ready", 60, "instance Ready")
    apply(kubectl, namespace, database("db", db_name, protection=True))
    wait_for(lambda: phase(kubectl, "database", namespace, "db") == "Ready", 60, "database Ready")
    kubectl("delete", "dbi", "pg", "-n", namespace, "--wait=false")
    kubectl("annotate", "dbi", "pg", "-n", namespace, f"{FORCE}=true")
    wait_for(lambda: phase(kubectl, "dbi", namespace, "pg") == "PendingDeletion", 30, "PendingDeletion")
    kubectl("delete", "database", "db", "-n", namespace, "--wait=false")
    wait_for(
        lambda: condition(get(kubectl, "database", namespace, "db"), "Ready").get("reason") == "DeletionProtected",
        30,
        "the Database blocked by its protection",
    )
    assert count(kubectl, namespace, "db", "DeletionBlocked") == 1
    # Let both go: the protection off releases the Database, then the instance has no dependents left.
    kubectl("patch", "database", "db", "-n", namespace, "--type=merge", "-p", '{"spec":{"deletionProtection":false}}')
    wait_for(lambda: get(kubectl, "database", namespace, "db") is None, 60, "the Database to go")
    wait_for(lambda: get(kubectl, "dbi", namespace, "pg") is None, 60, "the instance to go")
