"""Drift end to end on PostgreSQL (behaviour.md 11): change the server by hand, watch the operator report or repair it.

Every object here uses `driftPolicy.interval: 5s`, so a check is due a few seconds after each change; the tests wait
for `status.drift.lastChecked` to move rather than sleeping a fixed time.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.conftest import Kubectl
from tests.e2e import test_roles_grants as shared
from tests.e2e.conftest import Operator, condition, events, get, reconciled_once_more, wait_for
from tests.e2e.test_database_user import phase, unique
from tests.e2e.test_roles_grants import apply, can, count, grant
from tests.support.env import DevEnv

# The instance and the app (Database with three tables, a DatabaseUser without privileges) of the role/grant tests.
pg = shared.pg
app = shared.app

INTERVAL = "5s"


def drift(kubectl: Kubectl, kind: str, namespace: str, name: str) -> dict[str, Any]:
    return dict(((get(kubectl, kind, namespace, name) or {}).get("status") or {}).get("drift") or {})


def checked_after(kubectl: Kubectl, kind: str, namespace: str, name: str, stamp: str | None, n: int = 1) -> str:
    """Wait until `lastChecked` has moved past `stamp` `n` times; return the latest value."""
    for _ in range(n):
        previous = stamp

        def moved(previous: str | None = previous) -> str | None:
            value = drift(kubectl, kind, namespace, name).get("lastChecked")
            return str(value) if value and value != previous else None

        stamp = wait_for(moved, 30, f"a drift check of {kind} {name}")
    assert stamp is not None
    return stamp


def grant_body(db: str, table: str = "t_read", privileges: str = "[SELECT]") -> str:
    return f"    grants:\n      - {{database: {db}, schema: public, tables: [{table}], privileges: {privileges}}}\n"


def with_policy(manifest: str, mode: str) -> str:
    return manifest.replace("\nspec:\n", f"\nspec:\n  driftPolicy: {{mode: {mode}, interval: {INTERVAL}}}\n", 1)


async def held(app: dict[str, Any], table: str) -> list[str]:
    rows = await app["admin"].fetch(
        "SELECT privilege_type FROM information_schema.role_table_grants WHERE grantee = $1 AND table_name = $2 "
        "ORDER BY 1",
        app["username"],
        table,
    )
    return [r["privilege_type"] for r in rows]


async def test_detect_reports_a_revoked_privilege_once_and_changes_nothing(
    kubectl: Kubectl, namespace: str, app: dict[str, Any], dev_env: DevEnv
) -> None:
    db = app["db"]
    apply(kubectl, namespace, with_policy(grant("g", "userRef: {name: app}", grant_body(db)), "detect"))
    wait_for(lambda: phase(kubectl, "databasegrant", namespace, "g") == "Ready", 60, "grant Ready")
    first = checked_after(kubectl, "databasegrant", namespace, "g", None)
    assert drift(kubectl, "databasegrant", namespace, "g")["detected"] is False
    assert await can(dev_env, app, "SELECT * FROM t_read")

    await app["admin"].execute(f'REVOKE SELECT ON t_read FROM "{app["username"]}"')
    field = f"grants.table.{db}.public.t_read.missing"
    wait_for(lambda: drift(kubectl, "databasegrant", namespace, "g").get("detected"), 30, "drift detected")
    status = drift(kubectl, "databasegrant", namespace, "g")
    assert status["diffs"] == [
        {"field": field, "expected": "SELECT", "actual": "none", "destructive": False, "immutable": False}
    ]
    obj = get(kubectl, "databasegrant", namespace, "g")
    assert condition(obj, "Synced")["status"] == "False"
    assert condition(obj, "Synced")["reason"] == "DriftDetected"
    assert condition(obj, "Ready")["status"] == "True"
    assert phase(kubectl, "databasegrant", namespace, "g") == "Ready"

    # Several more checks: the report stands, one event only, and the server is left as it is.
    checked_after(kubectl, "databasegrant", namespace, "g", status["lastChecked"], n=2)
    assert drift(kubectl, "databasegrant", namespace, "g")["diffs"][0]["field"] == field
    assert count(kubectl, namespace, "g", "DriftDetected") == 1
    assert count(kubectl, namespace, "g", "DriftCorrected") == 0
    message = events(kubectl, namespace, "g", "DriftDetected")[0]["message"]
    assert f"fields [{field}] (mode detect)" in message
    assert await held(app, "t_read") == []
    assert not await can(dev_env, app, "SELECT * FROM t_read")

    # Someone fixes the server: the record is cleared, Synced is True again, no new DriftDetected.
    await app["admin"].execute(f'GRANT SELECT ON t_read TO "{app["username"]}"')
    wait_for(lambda: drift(kubectl, "databasegrant", namespace, "g").get("detected") is False, 30, "drift cleared")
    obj = get(kubectl, "databasegrant", namespace, "g")
    assert condition(obj, "Synced")["status"] == "True"
    assert "diffs" not in drift(kubectl, "databasegrant", namespace, "g")
    assert count(kubectl, namespace, "g", "DriftDetected") == 1
    assert first


async def test_correct_restores_missing_and_removes_extras_only_when_allowed(
    kubectl: Kubectl, namespace: str, app: dict[str, Any], dev_env: DevEnv
) -> None:
    db, user = app["db"], app["username"]
    apply(kubectl, namespace, with_policy(grant("g", "userRef: {name: app}", grant_body(db)), "correct"))
    wait_for(lambda: phase(kubectl, "databasegrant", namespace, "g") == "Ready", 60, "grant Ready")
    checked_after(kubectl, "databasegrant", namespace, "g", None)

    await app["admin"].execute(f'REVOKE SELECT ON t_read FROM "{user}"')
    wait_for(lambda: count(kubectl, namespace, "g", "DriftCorrected") == 1, 30, "DriftCorrected")
    assert await held(app, "t_read") == ["SELECT"]
    status = drift(kubectl, "databasegrant", namespace, "g")
    assert status["detected"] is False and status.get("lastCorrected")
    # Corrected within the check: nothing remained, so nothing was "detected".
    assert count(kubectl, namespace, "g", "DriftDetected") == 0

    # An extra privilege is destructive: reported, not revoked, until the annotation allows it.
    await app["admin"].execute(f'GRANT INSERT ON t_read TO "{user}"')
    extra = f"grants.table.{db}.public.t_read.extra"
    wait_for(lambda: drift(kubectl, "databasegrant", namespace, "g").get("detected"), 30, "extra detected")
    diffs = drift(kubectl, "databasegrant", namespace, "g")["diffs"]
    assert diffs == [
        {"field": extra, "expected": "SELECT", "actual": "INSERT", "destructive": True, "immutable": False}
    ]
    assert count(kubectl, namespace, "g", "DriftDetected") == 1
    assert await held(app, "t_read") == ["INSERT", "SELECT"]

    kubectl("annotate", "-n", namespace, "databasegrant", "g", "dbops.dbprovision.io/allow-destructive-drift=true")
    wait_for(lambda: count(kubectl, namespace, "g", "DriftCorrected") == 2, 30, "extra corrected")
    assert await held(app, "t_read") == ["SELECT"]
    wait_for(lambda: drift(kubectl, "databasegrant", namespace, "g").get("detected") is False, 30, "drift cleared")
    assert condition(get(kubectl, "databasegrant", namespace, "g"), "Synced")["status"] == "True"
    assert count(kubectl, namespace, "g", "DriftCorrectionFailed") == 0


async def test_ignore_checks_nothing(
    kubectl: Kubectl, namespace: str, app: dict[str, Any], dev_env: DevEnv, operator: Operator
) -> None:
    db = app["db"]
    apply(kubectl, namespace, with_policy(grant("g", "userRef: {name: app}", grant_body(db)), "ignore"))
    wait_for(lambda: phase(kubectl, "databasegrant", namespace, "g") == "Ready", 60, "grant Ready")
    await app["admin"].execute(f'REVOKE SELECT ON t_read FROM "{app["username"]}"')
    # A reconcile in ignore mode (woken by a watched annotation) does not check.
    reconciled_once_more(kubectl, operator, "databasegrant", "DatabaseGrant", namespace, "g")
    obj = get(kubectl, "databasegrant", namespace, "g") or {}
    assert "drift" not in obj["status"]
    assert condition(obj, "Synced")["status"] == "True"
    assert count(kubectl, namespace, "g", "DriftDetected") == 0
    assert count(kubectl, namespace, "g", "DriftCorrected") == 0
    assert await held(app, "t_read") == []


def role(name: str, role_name: str, mode: str) -> str:
    return with_policy(
        f"""apiVersion: dbops.dbprovision.io/v1alpha1
kind: DatabaseRole
metadata: {{name: {name}}}
spec:
  instanceRef: {{name: pg}}
  roleName: {role_name}
""",
        mode,
    )


async def test_role_attribute_detect_and_correct(
    kubectl: Kubectl, namespace: str, app: dict[str, Any], dev_env: DevEnv
) -> None:
    watched, fixed = unique("watched"), unique("fixed")
    apply(kubectl, namespace, role("watched", watched, "detect") + "---\n" + role("fixed", fixed, "correct"))
    for name in ("watched", "fixed"):
        checked_after(kubectl, "databaserole", namespace, name, None)  # the first check follows creation
        assert phase(kubectl, "databaserole", namespace, name) == "Ready"

    admin = app["admin"]
    await admin.execute(f'ALTER ROLE "{watched}" CREATEDB')
    await admin.execute(f'ALTER ROLE "{fixed}" CREATEDB')

    wait_for(lambda: drift(kubectl, "databaserole", namespace, "watched").get("detected"), 30, "role drift")
    assert drift(kubectl, "databaserole", namespace, "watched")["diffs"] == [
        {"field": "createdb", "expected": "false", "actual": "true", "destructive": False, "immutable": False}
    ]
    assert condition(get(kubectl, "databaserole", namespace, "watched"), "Synced")["reason"] == "DriftDetected"
    wait_for(lambda: count(kubectl, namespace, "fixed", "DriftCorrected") == 1, 30, "role corrected")
    assert await admin.fetchval("SELECT rolcreatedb FROM pg_roles WHERE rolname = $1", fixed) is False

    stamp = drift(kubectl, "databaserole", namespace, "watched")["lastChecked"]
    checked_after(kubectl, "databaserole", namespace, "watched", stamp, n=2)
    assert count(kubectl, namespace, "watched", "DriftDetected") == 1
    assert await admin.fetchval("SELECT rolcreatedb FROM pg_roles WHERE rolname = $1", watched) is True
    assert count(kubectl, namespace, "fixed", "DriftDetected") == 0


async def test_converged_objects_stay_silent_across_checks(
    kubectl: Kubectl, namespace: str, app: dict[str, Any], operator: Operator
) -> None:
    db, role_name = app["db"], unique("quiet")
    apply(
        kubectl,
        namespace,
        with_policy(grant("g", "userRef: {name: app}", grant_body(db)), "correct")
        + "---\n"
        + role("quiet", role_name, "correct"),
    )
    wait_for(lambda: phase(kubectl, "databasegrant", namespace, "g") == "Ready", 60, "grant Ready")
    wait_for(lambda: phase(kubectl, "databaserole", namespace, "quiet") == "Ready", 60, "role Ready")
    objects = (("databasegrant", "g"), ("databaserole", "quiet"))
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
        await asyncio.sleep(0.3)

    for kind, name in objects:
        after = get(kubectl, kind, namespace, name) or {}
        assert len(checks[name]) >= 3, f"{name}: expected several checks, saw {sorted(checks[name])}"
        # Each check writes status once (lastChecked advances); nothing else is written between checks.
        assert len(versions[name]) <= len(checks[name]), (name, versions[name], checks[name])
        assert after["status"]["conditions"] == before[name]["status"]["conditions"]
        assert after["status"]["drift"]["detected"] is False and "diffs" not in after["status"]["drift"]
        now = len(events(kubectl, namespace, name))
        assert now == events_before[name], f"{name} emitted events while converged"
