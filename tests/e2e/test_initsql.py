"""initSQL end to end (behaviour.md 12): kubectl apply, the operator process, real PostgreSQL.

Each test checks the server (what ran, as whom, how often), status.initSQL and the Events. "Not re-run" is proven
with a counter table that every run inserts into: reconciles are forced through an annotation the operator reads,
and the operator's own reconcile counter shows that they happened.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from tests.conftest import Kubectl
from tests.e2e.conftest import Operator, condition, events, get, wait_for
from tests.e2e.test_instance import admin_secret, instance
from tests.support.env import DevEnv

TOUCH = "dbops.dbprovision.io/allow-destructive-drift"


@pytest.fixture
def ready_instance(kubectl: Kubectl, namespace: str, operator: Operator, dev_env: DevEnv) -> str:
    kubectl("apply", "-n", namespace, "-f", "-", input=admin_secret(dev_env) + "---\n" + instance(dev_env, interval=30))
    wait_for(
        lambda: (get(kubectl, "dbi", namespace, "pg") or {}).get("status", {}).get("phase") == "Ready", 60, "instance"
    )
    return "pg"


@pytest.fixture
async def superuser(dev_env: DevEnv) -> AsyncIterator[asyncpg.Connection]:
    pg = dev_env.postgres
    conn = await asyncpg.connect(
        host=pg.host, port=pg.port, user=pg.superuser, password=pg.superuser_password, database="postgres"
    )
    yield conn
    await conn.close()


async def inside(dev_env: DevEnv, database: str) -> asyncpg.Connection:
    pg = dev_env.postgres
    return await asyncpg.connect(
        host=pg.host, port=pg.port, user=pg.superuser, password=pg.superuser_password, database=database
    )


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def database(name: str, db_name: str, init_sql: dict[str, Any], owner: str | None = None) -> str:
    spec: dict[str, Any] = {
        "instanceRef": {"name": "pg"},
        "name": db_name,
        "deletionPolicy": "Delete",
        "deletionProtection": False,
        "initSQL": init_sql,
    }
    if owner:
        spec["owner"] = owner
    return json.dumps(
        {"apiVersion": "dbops.dbprovision.io/v1alpha1", "kind": "Database", "metadata": {"name": name}, "spec": spec}
    )


def status(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    return dict((get(kubectl, "db", namespace, name) or {}).get("status") or {})


def init_status(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    return dict(status(kubectl, namespace, name).get("initSQL") or {})


def touch(kubectl: Kubectl, operator: Operator, namespace: str, name: str) -> None:
    """Wake the Database without changing its spec, and wait until the operator has reconciled it."""
    before = operator.reconciles("database")
    kubectl("annotate", "db", name, "-n", namespace, "--overwrite", f"{TOUCH}=false-{uuid.uuid4().hex[:6]}")
    wait_for(lambda: operator.reconciles("database") > before, 30, "a Database reconcile")


def messages(kubectl: Kubectl, namespace: str, name: str, reason: str) -> list[str]:
    return [e["message"] for e in events(kubectl, namespace, name, reason) for _ in range(e.get("count") or 1)]


async def test_inline_sql_runs_once_as_the_owner_with_an_exact_count(
    kubectl: Kubectl, namespace: str, ready_instance: str, operator: Operator, superuser: Any, dev_env: DevEnv
) -> None:
    db, owner = unique("init"), unique("owner")
    await superuser.execute(f'CREATE ROLE "{owner}" NOLOGIN')
    statements = [
        "CREATE TABLE IF NOT EXISTS items (id serial PRIMARY KEY, name text)",
        "CREATE TABLE IF NOT EXISTS runs (at timestamptz DEFAULT now())",
        "INSERT INTO runs DEFAULT VALUES",
    ]
    kubectl("apply", "-n", namespace, "-f", "-", input=database("app", db, {"inline": statements}, owner=owner))
    wait_for(lambda: init_status(kubectl, namespace, "app").get("applied") is True, 60, "initSQL to be applied")
    wait_for(lambda: status(kubectl, namespace, "app").get("phase") == "Ready", 30, "the Database to be Ready")
    applied = init_status(kubectl, namespace, "app")
    assert applied["statementsExecuted"] == 3 and len(applied["hash"]) == 64 and applied["appliedAt"]
    assert not applied.get("error") and not applied.get("attemptHash")
    conn = await inside(dev_env, db)
    try:
        table_owner = await conn.fetchval(
            "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'public.items'::regclass"
        )
        assert table_owner == owner  # ran as the database owner, not as the admin account
        assert await conn.fetchval("SELECT count(*) FROM runs") == 1
        assert messages(kubectl, namespace, "app", "InitSQLApplied") == [
            f"Executed 3 initSQL statements on database {db} (hash {applied['hash'][:12]})"
        ]

        # Nothing edited: reconciles (woken like a resync would) do not run it again.
        touch(kubectl, operator, namespace, "app")
        touch(kubectl, operator, namespace, "app")
        assert await conn.fetchval("SELECT count(*) FROM runs") == 1
        assert len(messages(kubectl, namespace, "app", "InitSQLApplied")) == 1
        assert init_status(kubectl, namespace, "app") == applied

        # Changed statements run again, from the first one.
        patch = {"spec": {"initSQL": {"inline": [*statements, "INSERT INTO items (name) VALUES ('second run')"]}}}
        kubectl("patch", "db", "app", "-n", namespace, "--type=merge", "-p", json.dumps(patch))
        wait_for(
            lambda: init_status(kubectl, namespace, "app").get("statementsExecuted") == 4, 60, "the changed initSQL"
        )
        assert init_status(kubectl, namespace, "app")["hash"] != applied["hash"]
        assert await conn.fetchval("SELECT count(*) FROM runs") == 2
        assert len(messages(kubectl, namespace, "app", "InitSQLApplied")) == 2
    finally:
        await conn.close()
    assert condition(get(kubectl, "db", namespace, "app"), "Synced")["status"] == "True"


async def test_block_failure_holds_readiness_until_the_sql_is_fixed(
    kubectl: Kubectl, namespace: str, ready_instance: str, operator: Operator, dev_env: DevEnv
) -> None:
    db = unique("block")
    broken = ["CREATE TABLE IF NOT EXISTS first (id int)", "SELECT * FROM missing_table"]
    kubectl("apply", "-n", namespace, "-f", "-", input=database("blocked", db, {"inline": broken}))
    wait_for(lambda: status(kubectl, namespace, "blocked").get("phase") == "Failed", 60, "the Database to fail")
    obj = get(kubectl, "db", namespace, "blocked")
    ready, synced = condition(obj, "Ready"), condition(obj, "Synced")
    assert (ready["status"], ready["reason"]) == ("False", "InitSQLFailed")
    assert (synced["status"], synced["reason"]) == ("False", "InitSQLFailed")
    failed = init_status(kubectl, namespace, "blocked")
    assert failed["applied"] is False and failed["statementsExecuted"] == 1
    assert "missing_table" in failed["error"] and len(failed["attemptHash"]) == 64 and "hash" not in failed
    assert messages(kubectl, namespace, "blocked", "InitSQLFailed")[0].endswith(
        f"initSQL statement 2 of 2 failed on database {db} (failurePolicy Block): "
        f'relation "missing_table" does not exist'
    )

    # Retries with the same error announce nothing new.
    touch(kubectl, operator, namespace, "blocked")
    touch(kubectl, operator, namespace, "blocked")
    assert len(messages(kubectl, namespace, "blocked", "InitSQLFailed")) == 1
    assert status(kubectl, namespace, "blocked").get("phase") == "Failed"

    fixed = [broken[0], "CREATE TABLE IF NOT EXISTS missing_table (id int)", broken[1]]
    patch = {"spec": {"initSQL": {"inline": fixed}}}
    kubectl("patch", "db", "blocked", "-n", namespace, "--type=merge", "-p", json.dumps(patch))
    wait_for(lambda: status(kubectl, namespace, "blocked").get("phase") == "Ready", 60, "the fixed SQL to apply")
    applied = init_status(kubectl, namespace, "blocked")
    assert applied["applied"] is True and applied["statementsExecuted"] == 3
    assert not applied.get("error") and not applied.get("attemptHash")
    obj = get(kubectl, "db", namespace, "blocked")
    assert condition(obj, "Ready")["status"] == "True" and condition(obj, "Synced")["status"] == "True"
    assert len(messages(kubectl, namespace, "blocked", "InitSQLApplied")) == 1
    assert len(messages(kubectl, namespace, "blocked", "InitSQLFailed")) == 1


async def test_continue_failure_keeps_the_database_ready_and_hides_secret_sql(
    kubectl: Kubectl, namespace: str, ready_instance: str, operator: Operator, dev_env: DevEnv
) -> None:
    db, secret_value = unique("cont"), f"topsecret{uuid.uuid4().hex[:10]}"
    text = (
        "CREATE TABLE IF NOT EXISTS counter (n int)\n---\nINSERT INTO counter VALUES (1)\n---\n"
        f"SELECT '{secret_value}'::int\n"
    )
    manifest = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "init-sql"},
        "data": {"init.sql": base64.b64encode(text.encode()).decode()},
    }
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    source = {"secretRef": {"name": "init-sql", "key": "init.sql"}, "failurePolicy": "Continue"}
    kubectl("apply", "-n", namespace, "-f", "-", input=database("cont", db, source))
    wait_for(lambda: init_status(kubectl, namespace, "cont").get("applied") is False, 60, "the failed run")
    wait_for(lambda: status(kubectl, namespace, "cont").get("phase") == "Ready", 30, "the Database to be Ready")
    obj = get(kubectl, "db", namespace, "cont")
    assert condition(obj, "Ready")["status"] == "True"
    assert (condition(obj, "Synced")["status"], condition(obj, "Synced")["reason"]) == ("False", "InitSQLFailed")
    failed = init_status(kubectl, namespace, "cont")
    assert failed["statementsExecuted"] == 2 and "invalid input syntax" in failed["error"]
    assert len(messages(kubectl, namespace, "cont", "InitSQLFailed")) == 1

    # Continue does not retry the same SQL.
    touch(kubectl, operator, namespace, "cont")
    touch(kubectl, operator, namespace, "cont")
    conn = await inside(dev_env, db)
    try:
        assert await conn.fetchval("SELECT count(*) FROM counter") == 1
    finally:
        await conn.close()
    assert len(messages(kubectl, namespace, "cont", "InitSQLFailed")) == 1

    # Nothing of the Secret's SQL leaks: not in status, not in events, not in the operator's log.
    everything = json.dumps(get(kubectl, "db", namespace, "cont")) + json.dumps(events(kubectl, namespace, "cont"))
    assert secret_value not in everything
    assert secret_value not in operator.log_text()


async def test_configmap_source_missing_key_then_content_change(
    kubectl: Kubectl, namespace: str, ready_instance: str, operator: Operator, dev_env: DevEnv
) -> None:
    db = unique("cm")

    def configmap(text: str) -> str:
        return json.dumps(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "sql"}, "data": {"init.sql": text}}
        )

    kubectl("apply", "-n", namespace, "-f", "-", input=configmap("SELECT 1"))
    source = {"configMapRef": {"name": "sql", "key": "schema.sql"}}
    kubectl("apply", "-n", namespace, "-f", "-", input=database("cm", db, source))
    wait_for(lambda: status(kubectl, namespace, "cm").get("phase") == "Failed", 60, "the missing key to fail it")
    ready = condition(get(kubectl, "db", namespace, "cm"), "Ready")
    assert ready["reason"] == "InitSQLFailed" and "spec.initSQL.configMapRef" in ready["message"]
    warnings = messages(kubectl, namespace, "cm", "InitSQLFailed")
    assert len(warnings) == 1 and "spec.initSQL.configMapRef" in warnings[0] and "schema.sql" in warnings[0]

    first = "CREATE TABLE IF NOT EXISTS runs (n int)\n---\n-- a comment line\nINSERT INTO runs VALUES (1)\n"
    kubectl("patch", "configmap", "sql", "-n", namespace, "-p", json.dumps({"data": {"schema.sql": first}}))
    wait_for(lambda: status(kubectl, namespace, "cm").get("phase") == "Ready", 60, "the ConfigMap's SQL to apply")
    applied = init_status(kubectl, namespace, "cm")
    assert applied["applied"] is True and applied["statementsExecuted"] == 2

    touch(kubectl, operator, namespace, "cm")
    assert init_status(kubectl, namespace, "cm")["hash"] == applied["hash"]

    second = first + "---\nINSERT INTO runs VALUES (2)\n"
    # no touch: the ConfigMap watch (setup.py) wakes the Database
    kubectl("patch", "configmap", "sql", "-n", namespace, "-p", json.dumps({"data": {"schema.sql": second}}))
    wait_for(lambda: init_status(kubectl, namespace, "cm").get("statementsExecuted") == 3, 60, "the changed ConfigMap")
    conn = await inside(dev_env, db)
    try:
        assert sorted(r["n"] for r in await conn.fetch("SELECT n FROM runs")) == [1, 1, 2]
    finally:
        await conn.close()
    assert len(messages(kubectl, namespace, "cm", "InitSQLApplied")) == 2
    assert len(messages(kubectl, namespace, "cm", "InitSQLFailed")) == 1
