"""Drift end to end on MariaDB 10.11 (behaviour.md 11, api.md 4.4 "mysql, mariadb" rows): change the server by hand as
the test superuser, watch the operator report or repair it.

Every object here uses `driftPolicy.interval: 5s`; the tests wait for `status.drift.lastChecked` to move rather than
sleeping a fixed time. The instance and the app (two Databases with tables, a DatabaseUser without privileges on
host `%`) are the fixtures of the MariaDB e2e tests.
"""

from __future__ import annotations

import time
from typing import Any

import pymysql

from tests.conftest import Kubectl
from tests.e2e import test_mariadb as shared
from tests.e2e.conftest import Operator, condition, events, get, reconciled_once_more, wait_for
from tests.e2e.test_drift import checked_after, drift
from tests.e2e.test_mariadb import apply, can, count, database, grant, phase, query, role, unique

maria = shared.maria
app = shared.app
root = shared.root

INTERVAL = "5s"
ALLOW = "dbops.dbprovision.io/allow-destructive-drift=true"


def with_policy(manifest: str, mode: str) -> str:
    return manifest.replace("\nspec:\n", f"\nspec:\n  driftPolicy: {{mode: {mode}, interval: {INTERVAL}}}\n", 1)


def table_grant(db: str, table: str = "t_read", privileges: str = "[SELECT]") -> str:
    return f"    grants:\n      - {{level: table, database: {db}, table: {table}, privileges: {privileges}}}\n"


def table_privileges(root: pymysql.Connection[Any], user: str, db: str, table: str) -> set[str]:
    rows = query(
        root,
        "SELECT Table_priv FROM mysql.tables_priv WHERE User = %s AND Host = '%%' AND Db = %s AND Table_name = %s",
        user,
        db,
        table,
    )
    return {p for p in str(rows[0][0]).split(",") if p} if rows else set()


def diff(field: str, expected: str, actual: str, *, destructive: bool = False) -> dict[str, Any]:
    return {"field": field, "expected": expected, "actual": actual, "destructive": destructive, "immutable": False}


def test_detect_reports_a_revoked_privilege_once_and_changes_nothing(
    kubectl: Kubectl, namespace: str, app: dict[str, Any], dev_env: Any, root: pymysql.Connection[Any]
) -> None:
    db, user = app["db"], app["username"]
    apply(kubectl, namespace, with_policy(grant("g", "userRef: {name: app}", table_grant(db)), "detect"))
    wait_for(lambda: phase(kubectl, "databasegrant", namespace, "g") == "Ready", 60, "grant Ready")
    checked_after(kubectl, "databasegrant", namespace, "g", None)
    assert drift(kubectl, "databasegrant", namespace, "g")["detected"] is False
    assert can(dev_env, app, f"SELECT * FROM `{db}`.t_read")

    query(root, f"REVOKE SELECT ON `{db}`.t_read FROM '{user}'@'%'")
    field = f"grants.{db}.t_read.missing"
    wait_for(lambda: drift(kubectl, "databasegrant", namespace, "g").get("detected"), 30, "drift detected")
    status = drift(kubectl, "databasegrant", namespace, "g")
    assert status["diffs"] == [diff(field, "SELECT", "none")]
    obj = get(kubectl, "databasegrant", namespace, "g")
    assert (condition(obj, "Synced")["status"], condition(obj, "Synced")["reason"]) == ("False", "DriftDetected")
    assert condition(obj, "Ready")["status"] == "True" and phase(kubectl, "databasegrant", namespace, "g") == "Ready"

    # Two more checks: the report stands, one event only, and the server is left as it is.
    checked_after(kubectl, "databasegrant", namespace, "g", status["lastChecked"], n=2)
    assert drift(kubectl, "databasegrant", namespace, "g")["diffs"] == [diff(field, "SELECT", "none")]
    assert count(kubectl, namespace, "g", "DriftDetected") == 1
    assert count(kubectl, namespace, "g", "DriftCorrected") == 0
    assert f"fields [{field}] (mode detect)" in events(kubectl, namespace, "g", "DriftDetected")[0]["message"]
    assert table_privileges(root, user, db, "t_read") == set()
    assert not can(dev_env, app, f"SELECT * FROM `{db}`.t_read")

    # Someone fixes the server: the record is cleared, Synced is True again, no new DriftDetected.
    query(root, f"GRANT SELECT ON `{db}`.t_read TO '{user}'@'%'")
    wait_for(lambda: drift(kubectl, "databasegrant", namespace, "g").get("detected") is False, 30, "drift cleared")
    assert condition(get(kubectl, "databasegrant", namespace, "g"), "Synced")["status"] == "True"
    assert "diffs" not in drift(kubectl, "databasegrant", namespace, "g")
    assert count(kubectl, namespace, "g", "DriftDetected") == 1


def test_correct_restores_missing_and_removes_extras_only_when_allowed(
    kubectl: Kubectl, namespace: str, app: dict[str, Any], dev_env: Any, root: pymysql.Connection[Any]
) -> None:
    db, user = app["db"], app["username"]
    apply(kubectl, namespace, with_policy(grant("g", "userRef: {name: app}", table_grant(db)), "correct"))
    wait_for(lambda: phase(kubectl, "databasegrant", namespace, "g") == "Ready", 60, "grant Ready")
    checked_after(kubectl, "databasegrant", namespace, "g", None)

    query(root, f"REVOKE SELECT ON `{db}`.t_read FROM '{user}'@'%'")
    wait_for(lambda: count(kubectl, namespace, "g", "DriftCorrected") == 1, 30, "DriftCorrected")
    assert table_privileges(root, user, db, "t_read") == {"Select"}
    assert can(dev_env, app, f"SELECT * FROM `{db}`.t_read")
    status = drift(kubectl, "databasegrant", namespace, "g")
    assert status["detected"] is False and status.get("lastCorrected")
    assert f"fields [grants.{db}.t_read.missing]" in events(kubectl, namespace, "g", "DriftCorrected")[0]["message"]
    assert count(kubectl, namespace, "g", "DriftDetected") == 0, "corrected within the check: nothing remained"

    # An extra privilege is destructive: reported, not revoked, until the annotation allows it.
    query(root, f"GRANT INSERT ON `{db}`.t_read TO '{user}'@'%'")
    extra = f"grants.{db}.t_read.extra"
    wait_for(lambda: drift(kubectl, "databasegrant", namespace, "g").get("detected"), 30, "extra detected")
    assert drift(kubectl, "databasegrant", namespace, "g")["diffs"] == [
        diff(extra, "SELECT", "INSERT", destructive=True)
    ]
    message = events(kubectl, namespace, "g", "DriftDetected")[0]["message"]
    assert f"not corrected: {extra} (destructive: set dbops.dbprovision.io/allow-destructive-drift=true)" in message
    checked_after(
        kubectl, "databasegrant", namespace, "g", drift(kubectl, "databasegrant", namespace, "g")["lastChecked"]
    )
    assert table_privileges(root, user, db, "t_read") == {"Select", "Insert"}
    assert (
        count(kubectl, namespace, "g", "DriftCorrected") == 1 and count(kubectl, namespace, "g", "DriftDetected") == 1
    )

    kubectl("annotate", "-n", namespace, "databasegrant", "g", ALLOW)
    wait_for(lambda: count(kubectl, namespace, "g", "DriftCorrected") == 2, 30, "extra corrected")
    assert table_privileges(root, user, db, "t_read") == {"Select"}
    assert not can(dev_env, app, f"INSERT INTO `{db}`.t_read VALUES (5)")
    wait_for(lambda: drift(kubectl, "databasegrant", namespace, "g").get("detected") is False, 30, "drift cleared")
    assert condition(get(kubectl, "databasegrant", namespace, "g"), "Synced")["status"] == "True"
    assert count(kubectl, namespace, "g", "DriftCorrectionFailed") == 0


def test_role_grants_are_corrected_on_a_native_role(
    kubectl: Kubectl, namespace: str, app: dict[str, Any], root: pymysql.Connection[Any]
) -> None:
    db, role_name = app["db"], unique("reader")
    body = f"  mysql:\n    grants:\n      - {{level: table, database: {db}, table: t_read, privileges: [SELECT]}}\n"
    apply(kubectl, namespace, with_policy(role("r", role_name, body), "correct"))
    wait_for(lambda: phase(kubectl, "databaserole", namespace, "r") == "Ready", 60, "role Ready")
    checked_after(kubectl, "databaserole", namespace, "r", None)
    assert drift(kubectl, "databaserole", namespace, "r")["detected"] is False

    query(root, f"REVOKE SELECT ON `{db}`.t_read FROM `{role_name}`")
    assert not query(root, "SELECT 1 FROM mysql.tables_priv WHERE User = %s AND Host = ''", role_name)
    wait_for(lambda: count(kubectl, namespace, "r", "DriftCorrected") == 1, 30, "role corrected")
    rows = query(root, "SELECT Table_priv FROM mysql.tables_priv WHERE User = %s AND Host = ''", role_name)
    assert [str(r[0]) for r in rows] == ["Select"]
    assert count(kubectl, namespace, "r", "DriftDetected") == 0


def test_database_collation_changed_by_hand_is_detected_and_corrected(
    kubectl: Kubectl, namespace: str, maria: str, root: pymysql.Connection[Any]
) -> None:
    watched, fixed = unique("watched"), unique("fixed")
    apply(
        kubectl,
        namespace,
        with_policy(database("watched", watched), "detect")
        + "---\n"
        + with_policy(database("fixed", fixed), "correct"),
    )
    for name in ("watched", "fixed"):
        wait_for(lambda n=name: phase(kubectl, "db", namespace, n) == "Ready", 60, f"Database {name} Ready")
        checked_after(kubectl, "db", namespace, name, None)
        assert drift(kubectl, "db", namespace, name)["detected"] is False

    def collation(db: str) -> str:
        return str(
            query(root, "SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", db)[0][
                0
            ]
        )

    assert collation(watched) == collation(fixed) == "utf8mb4_unicode_ci"
    query(root, f"ALTER DATABASE `{watched}` COLLATE utf8mb4_bin")
    query(root, f"ALTER DATABASE `{fixed}` COLLATE utf8mb4_bin")

    wait_for(lambda: drift(kubectl, "db", namespace, "watched").get("detected"), 30, "collation drift")
    assert drift(kubectl, "db", namespace, "watched")["diffs"] == [
        diff("collation", "utf8mb4_unicode_ci", "utf8mb4_bin")
    ]
    obj = get(kubectl, "db", namespace, "watched")
    assert condition(obj, "Synced")["reason"] == "DriftDetected" and condition(obj, "Ready")["status"] == "True"
    wait_for(lambda: count(kubectl, namespace, "fixed", "DriftCorrected") == 1, 30, "collation corrected")
    assert collation(fixed) == "utf8mb4_unicode_ci"
    assert count(kubectl, namespace, "fixed", "DriftDetected") == 0

    stamp = drift(kubectl, "db", namespace, "watched")["lastChecked"]
    checked_after(kubectl, "db", namespace, "watched", stamp, n=2)
    assert collation(watched) == "utf8mb4_bin", "detect changes nothing"
    assert count(kubectl, namespace, "watched", "DriftDetected") == 1
    assert count(kubectl, namespace, "watched", "DriftCorrected") == 0


def test_ignore_checks_nothing(
    kubectl: Kubectl, namespace: str, app: dict[str, Any], operator: Operator, root: pymysql.Connection[Any]
) -> None:
    db, user = app["db"], app["username"]
    apply(kubectl, namespace, with_policy(grant("g", "userRef: {name: app}", table_grant(db)), "ignore"))
    wait_for(lambda: phase(kubectl, "databasegrant", namespace, "g") == "Ready", 60, "grant Ready")
    query(root, f"REVOKE SELECT ON `{db}`.t_read FROM '{user}'@'%'")
    # A reconcile in ignore mode (woken by a watched annotation) does not check.
    reconciled_once_more(kubectl, operator, "databasegrant", "DatabaseGrant", namespace, "g")
    obj = get(kubectl, "databasegrant", namespace, "g") or {}
    assert "drift" not in obj["status"]
    assert condition(obj, "Synced")["status"] == "True"
    assert count(kubectl, namespace, "g", "DriftDetected") == 0
    assert count(kubectl, namespace, "g", "DriftCorrected") == 0
    assert table_privileges(root, user, db, "t_read") == set()


def test_converged_objects_stay_silent_across_checks(
    kubectl: Kubectl, namespace: str, app: dict[str, Any], operator: Operator
) -> None:
    db, role_name, quiet_db = app["db"], unique("quiet"), unique("quietdb")
    body = f"  mysql:\n    grants:\n      - {{level: database, database: {db}, privileges: [SELECT, INSERT]}}\n"
    apply(
        kubectl,
        namespace,
        with_policy(grant("g", "userRef: {name: app}", table_grant(db, "t_write", "[SELECT, INSERT]")), "correct")
        + "---\n"
        + with_policy(role("quiet", role_name, body), "correct")
        + "---\n"
        + with_policy(database("quietdb", quiet_db), "correct"),
    )
    objects = (("databasegrant", "g"), ("databaserole", "quiet"), ("db", "quietdb"))
    for kind, name in objects:
        wait_for(lambda k=kind, n=name: phase(kubectl, k, namespace, n) == "Ready", 60, f"{kind} {name} Ready")
    stamps = {name: checked_after(kubectl, kind, namespace, name, None) for kind, name in objects}
    before = {name: get(kubectl, kind, namespace, name) or {} for kind, name in objects}
    events_before = {name: len(events(kubectl, namespace, name)) for _, name in objects}

    versions: dict[str, set[str]] = {name: set() for _, name in objects}
    checks: dict[str, set[str]] = {name: {stamps[name]} for _, name in objects}
    deadline = time.monotonic() + 17
    while time.monotonic() < deadline:
        for kind, name in objects:
            obj = get(kubectl, kind, namespace, name) or {}
            versions[name].add(obj["metadata"]["resourceVersion"])
            checks[name].add(obj["status"]["drift"]["lastChecked"])
        time.sleep(0.3)

    for kind, name in objects:
        after = get(kubectl, kind, namespace, name) or {}
        assert len(checks[name]) >= 3, f"{name}: expected several checks, saw {sorted(checks[name])}"
        assert len(versions[name]) <= len(checks[name]), (name, versions[name], checks[name])
        assert after["status"]["conditions"] == before[name]["status"]["conditions"], name
        assert after["status"]["drift"]["detected"] is False and "diffs" not in after["status"]["drift"], name
        assert len(events(kubectl, namespace, name)) == events_before[name], f"{name} emitted events while converged"
