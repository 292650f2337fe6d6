"""initSQL end to end on MariaDB 10.11 (behaviour.md 12, api.md 5.13, engines.md 4.1): kubectl apply, the operator
process, the real server. Checked on the server (tables, rows, storage engine), in status.initSQL and in the Events.
"""

from __future__ import annotations

import json
from typing import Any

import pymysql

from tests.conftest import Kubectl
from tests.e2e import test_mariadb as shared
from tests.e2e.conftest import Operator, condition, get, wait_for
from tests.e2e.test_initsql import init_status, messages, status, touch
from tests.e2e.test_mariadb import query, unique

maria = shared.maria
root = shared.root


def database(name: str, db_name: str, init_sql: dict[str, Any], mysql: dict[str, Any] | None = None) -> str:
    spec: dict[str, Any] = {
        "instanceRef": {"name": "maria"},
        "name": db_name,
        "deletionPolicy": "Delete",
        "deletionProtection": False,
        "initSQL": init_sql,
    }
    if mysql:
        spec["mysql"] = mysql
    return json.dumps(
        {"apiVersion": "dbops.dbprovision.io/v1alpha1", "kind": "Database", "metadata": {"name": name}, "spec": spec}
    )


def test_inline_sql_creates_a_table_once_with_an_exact_count_and_the_database_settings(
    kubectl: Kubectl, namespace: str, maria: str, operator: Operator, root: pymysql.Connection[Any]
) -> None:
    db = unique("init")
    statements = [
        'CREATE TABLE IF NOT EXISTS "items" (id INT PRIMARY KEY, name VARCHAR(20))',  # ANSI_QUOTES from sqlMode
        "CREATE TABLE IF NOT EXISTS runs (n INT)",
        "INSERT INTO runs VALUES (1)",
    ]
    mysql = {"sqlMode": "ANSI_QUOTES,STRICT_ALL_TABLES", "defaultStorageEngine": "Aria"}
    kubectl("apply", "-n", namespace, "-f", "-", input=database("app", db, {"inline": statements}, mysql))
    wait_for(lambda: init_status(kubectl, namespace, "app").get("applied") is True, 60, "initSQL to be applied")
    wait_for(lambda: status(kubectl, namespace, "app").get("phase") == "Ready", 30, "the Database to be Ready")
    applied = init_status(kubectl, namespace, "app")
    assert applied["statementsExecuted"] == 3 and len(applied["hash"]) == 64 and applied["appliedAt"]
    assert not applied.get("error") and not applied.get("attemptHash")
    tables = query(
        root, "SELECT TABLE_NAME, ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s ORDER BY 1", db
    )
    assert tables == [("items", "Aria"), ("runs", "Aria")], "run in the target database with its storage engine"
    assert query(root, f"SELECT COUNT(*) FROM `{db}`.runs") == [(1,)]
    assert messages(kubectl, namespace, "app", "InitSQLApplied") == [
        f"Executed 3 initSQL statements on database {db} (hash {applied['hash'][:12]})"
    ]
    obj = get(kubectl, "db", namespace, "app")
    honored = condition(obj, "OptionsHonored")
    assert honored["status"] == "True" and "initSQL" not in honored.get("message", "")
    assert condition(obj, "Synced")["status"] == "True"

    # Nothing edited: further reconciles do not run it again.
    touch(kubectl, operator, namespace, "app")
    touch(kubectl, operator, namespace, "app")
    assert query(root, f"SELECT COUNT(*) FROM `{db}`.runs") == [(1,)]
    assert len(messages(kubectl, namespace, "app", "InitSQLApplied")) == 1
    assert init_status(kubectl, namespace, "app") == applied


def test_block_failure_holds_readiness_until_the_sql_is_fixed(
    kubectl: Kubectl, namespace: str, maria: str, operator: Operator, root: pymysql.Connection[Any]
) -> None:
    db = unique("block")
    broken = ["CREATE TABLE IF NOT EXISTS first (id INT)", "SELEC 1", "CREATE TABLE IF NOT EXISTS never (id INT)"]
    kubectl("apply", "-n", namespace, "-f", "-", input=database("blocked", db, {"inline": broken}))
    wait_for(lambda: status(kubectl, namespace, "blocked").get("phase") == "Failed", 60, "the Database to fail")
    obj = get(kubectl, "db", namespace, "blocked")
    ready, synced = condition(obj, "Ready"), condition(obj, "Synced")
    assert (ready["status"], ready["reason"]) == ("False", "InitSQLFailed")
    assert (synced["status"], synced["reason"]) == ("False", "InitSQLFailed")
    failed = init_status(kubectl, namespace, "blocked")
    assert failed["applied"] is False and failed["statementsExecuted"] == 1
    assert "1064" in failed["error"] and "SELEC 1" in failed["error"]
    assert len(failed["attemptHash"]) == 64 and "hash" not in failed
    [message] = messages(kubectl, namespace, "blocked", "InitSQLFailed")
    assert f"initSQL statement 2 of 3 failed on database {db} (failurePolicy Block): 1064: " in message
    tables = query(root, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", db)
    assert tables == [("first",)], "nothing after the failing statement ran"

    # Reconciles with the same error announce nothing new.
    touch(kubectl, operator, namespace, "blocked")
    touch(kubectl, operator, namespace, "blocked")
    assert len(messages(kubectl, namespace, "blocked", "InitSQLFailed")) == 1
    assert status(kubectl, namespace, "blocked").get("phase") == "Failed"

    fixed = [broken[0], "SELECT 1", broken[2]]
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
    tables = query(root, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s ORDER BY 1", db)
    assert tables == [("first",), ("never",)]
