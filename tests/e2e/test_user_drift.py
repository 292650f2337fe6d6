"""DatabaseUser drift end to end on PostgreSQL (behaviour.md 8.1 step 6, 11; api.md 4.4 DatabaseUser row): change the
login account by hand, watch the operator report or repair it, and check that the credentials Secret keeps logging in.

Every user here uses `driftPolicy.interval: 5s`; the tests wait for `status.drift.lastChecked` to move rather than
sleeping a fixed time. Hand changes are made as the PostgreSQL superuser, as an administrator would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from tests.conftest import Kubectl
from tests.e2e.conftest import Operator, condition, events, get, reconciled_once_more, wait_for
from tests.e2e.test_database_user import login, phase, secret_data, unique
from tests.e2e.test_database_user import user as user_manifest
from tests.e2e.test_drift import checked_after, drift, with_policy
from tests.e2e.test_roles_grants import apply, count, grant
from tests.e2e.test_roles_grants import pg as pg  # the instance fixture
from tests.support.env import DevEnv

KIND = "databaseuser"
ALLOW = "dbops.dbprovision.io/allow-destructive-drift"


@pytest.fixture
async def su(dev_env: DevEnv) -> AsyncIterator[asyncpg.Connection]:
    env = dev_env.postgres
    conn = await asyncpg.connect(
        host=env.host, port=env.port, user=env.superuser, password=env.superuser_password, database="postgres"
    )
    yield conn
    await conn.close()


@pytest.fixture
async def groups(su: asyncpg.Connection) -> AsyncIterator[tuple[str, str, str]]:
    """A role the user declares (`inRoles`), one a DatabaseGrant declares, and one nobody declares."""
    names = (unique("grp"), unique("granted"), unique("stray"))
    for role in names:
        await su.execute(f'CREATE ROLE "{role}" NOLOGIN')
    yield names
    for role in names:
        await su.execute(f'DROP ROLE IF EXISTS "{role}"')


def manifest(name: str, username: str, mode: str, group: str) -> str:
    body = f"""  postgres:
    connectionLimit: 5
    inRoles: [{group}]
"""
    return with_policy(user_manifest(name, username, body), mode)


async def state(su: asyncpg.Connection, username: str) -> tuple[int, bool, list[str]]:
    """(connection limit, createdb, direct memberships) as the server has them."""
    row = await su.fetchrow("SELECT rolconnlimit, rolcreatedb FROM pg_roles WHERE rolname = $1", username)
    assert row is not None
    members = await su.fetch(
        "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
        "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = $1 ORDER BY 1",
        username,
    )
    return row["rolconnlimit"], row["rolcreatedb"], [r[0] for r in members]


async def logs_in(kubectl: Kubectl, namespace: str, dev_env: DevEnv, name: str) -> bool:
    status = (get(kubectl, KIND, namespace, name) or {})["status"]
    data = secret_data(kubectl, namespace, status["secret"]["name"])
    return await login(dev_env, data["username"], data["password"])


def diffs(kubectl: Kubectl, namespace: str, name: str) -> list[dict[str, Any]]:
    return list(drift(kubectl, KIND, namespace, name).get("diffs") or [])


def ready_and_checked(kubectl: Kubectl, namespace: str, name: str) -> str:
    wait_for(lambda: phase(kubectl, KIND, namespace, name) == "Ready", 60, f"user {name} Ready")
    return checked_after(kubectl, KIND, namespace, name, None)  # the first check follows creation


async def break_by_hand(su: asyncpg.Connection, username: str, group: str) -> None:
    async with su.transaction():  # all at once, so no check can see only part of it
        await su.execute(f'ALTER ROLE "{username}" CONNECTION LIMIT 20')
        await su.execute(f'ALTER ROLE "{username}" CREATEDB')
        await su.execute(f'REVOKE "{group}" FROM "{username}"')


def hand_diffs(group: str) -> list[dict[str, Any]]:
    return [
        {"field": "connectionLimit", "expected": "5", "actual": "20", "destructive": False, "immutable": False},
        {"field": "createdb", "expected": "false", "actual": "true", "destructive": False, "immutable": False},
        {"field": "inRoles.missing", "expected": group, "actual": "none", "destructive": False, "immutable": False},
    ]


async def test_detect_reports_exactly_the_hand_changes_once_and_changes_nothing(
    kubectl: Kubectl, namespace: str, pg: str, su: asyncpg.Connection, groups: tuple[str, str, str], dev_env: DevEnv
) -> None:
    group = groups[0]
    username = unique("watched")
    apply(kubectl, namespace, manifest("watched", username, "detect", group))
    ready_and_checked(kubectl, namespace, "watched")
    assert drift(kubectl, KIND, namespace, "watched")["detected"] is False
    assert await state(su, username) == (5, False, [group])

    await break_by_hand(su, username, group)
    wait_for(lambda: drift(kubectl, KIND, namespace, "watched").get("detected"), 30, "drift detected")
    assert diffs(kubectl, namespace, "watched") == hand_diffs(group)
    obj = get(kubectl, KIND, namespace, "watched")
    assert condition(obj, "Synced")["status"] == "False" and condition(obj, "Synced")["reason"] == "DriftDetected"
    assert condition(obj, "Ready")["status"] == "True" and phase(kubectl, KIND, namespace, "watched") == "Ready"
    assert await logs_in(kubectl, namespace, dev_env, "watched")

    # More checks: the report stands, one event only, the server is left as it is.
    stamp = drift(kubectl, KIND, namespace, "watched")["lastChecked"]
    checked_after(kubectl, KIND, namespace, "watched", stamp, n=2)
    assert diffs(kubectl, namespace, "watched") == hand_diffs(group)
    assert count(kubectl, namespace, "watched", "DriftDetected") == 1
    assert count(kubectl, namespace, "watched", "DriftCorrected") == 0
    message = events(kubectl, namespace, "watched", "DriftDetected")[0]["message"]
    assert "DatabaseUser watched: fields [connectionLimit, createdb, inRoles.missing] (mode detect)" in message
    assert await state(su, username) == (20, True, [])
    assert await logs_in(kubectl, namespace, dev_env, "watched")

    # Someone puts it back: the record is cleared without a new event.
    async with su.transaction():
        await su.execute(f'ALTER ROLE "{username}" CONNECTION LIMIT 5 NOCREATEDB')
        await su.execute(f'GRANT "{group}" TO "{username}"')
    wait_for(lambda: drift(kubectl, KIND, namespace, "watched").get("detected") is False, 30, "drift cleared")
    assert condition(get(kubectl, KIND, namespace, "watched"), "Synced")["status"] == "True"
    assert count(kubectl, namespace, "watched", "DriftDetected") == 1


async def test_correct_restores_and_removes_an_extra_membership_only_when_allowed(
    kubectl: Kubectl, namespace: str, pg: str, su: asyncpg.Connection, groups: tuple[str, str, str], dev_env: DevEnv
) -> None:
    group, granted, stray = groups
    username = unique("fixed")
    # A grant naming the user declares another membership: never extra, not even with destruction allowed.
    grant_manifest = grant("g", "userRef: {name: fixed}", f"    roles: [{granted}]\n")
    apply(kubectl, namespace, manifest("fixed", username, "correct", group) + "---\n" + grant_manifest)
    ready_and_checked(kubectl, namespace, "fixed")
    wait_for(lambda: phase(kubectl, "databasegrant", namespace, "g") == "Ready", 60, "grant Ready")
    await member_eventually(su, username, granted)

    await break_by_hand(su, username, group)
    wait_for(lambda: count(kubectl, namespace, "fixed", "DriftCorrected") == 1, 30, "DriftCorrected")
    assert await state(su, username) == (5, False, sorted([group, granted]))
    message = events(kubectl, namespace, "fixed", "DriftCorrected")[0]["message"]
    assert message == "Corrected drift in DatabaseUser fixed: fields [connectionLimit, createdb, inRoles.missing]"
    status = drift(kubectl, KIND, namespace, "fixed")
    assert status["detected"] is False and status.get("lastCorrected")
    assert count(kubectl, namespace, "fixed", "DriftDetected") == 0  # nothing remained after the correction
    assert await logs_in(kubectl, namespace, dev_env, "fixed")

    # An extra membership is destructive: reported and left alone until the annotation allows it.
    await su.execute(f'GRANT "{stray}" TO "{username}"')
    wait_for(lambda: drift(kubectl, KIND, namespace, "fixed").get("detected"), 30, "extra membership detected")
    assert diffs(kubectl, namespace, "fixed") == [
        {
            "field": "inRoles.extra",
            "expected": ", ".join(sorted([granted, group])),
            "actual": stray,
            "destructive": True,
            "immutable": False,
        }
    ]
    message = events(kubectl, namespace, "fixed", "DriftDetected")[0]["message"]
    assert f"not corrected: inRoles.extra (destructive: set {ALLOW}=true)" in message
    stamp = drift(kubectl, KIND, namespace, "fixed")["lastChecked"]
    checked_after(kubectl, KIND, namespace, "fixed", stamp)
    assert stray in (await state(su, username))[2]
    assert count(kubectl, namespace, "fixed", "DriftCorrected") == 1

    kubectl("annotate", KIND, "fixed", "-n", namespace, f"{ALLOW}=true")
    wait_for(lambda: count(kubectl, namespace, "fixed", "DriftCorrected") == 2, 30, "extra membership revoked")
    assert await state(su, username) == (5, False, sorted([group, granted]))
    # Events are listed by name, not by time: look for the second correction among them.
    corrected = [e["message"] for e in events(kubectl, namespace, "fixed", "DriftCorrected")]
    assert any(m.endswith("fields [inRoles.extra]") for m in corrected), corrected
    wait_for(lambda: drift(kubectl, KIND, namespace, "fixed").get("detected") is False, 30, "drift cleared")
    assert count(kubectl, namespace, "fixed", "DriftDetected") == 1
    assert await logs_in(kubectl, namespace, dev_env, "fixed")


async def member_eventually(su: asyncpg.Connection, username: str, role: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while role not in (await state(su, username))[2]:
        assert time.monotonic() < deadline, f"{username} never became a member of {role}"
        await asyncio.sleep(0.3)


async def test_ignore_checks_nothing(
    kubectl: Kubectl,
    namespace: str,
    pg: str,
    su: asyncpg.Connection,
    groups: tuple[str, str, str],
    dev_env: DevEnv,
    operator: Operator,
) -> None:
    group = groups[0]
    username = unique("ignored")
    apply(kubectl, namespace, manifest("ignored", username, "ignore", group))
    wait_for(lambda: phase(kubectl, KIND, namespace, "ignored") == "Ready", 60, "user Ready")
    await break_by_hand(su, username, group)
    # A reconcile in ignore mode (woken by a watched annotation) does not check.
    reconciled_once_more(kubectl, operator, KIND, "DatabaseUser", namespace, "ignored")
    obj = get(kubectl, KIND, namespace, "ignored") or {}
    assert "drift" not in obj["status"]
    assert condition(obj, "Synced")["status"] == "True"
    assert count(kubectl, namespace, "ignored", "DriftDetected") == 0
    assert count(kubectl, namespace, "ignored", "DriftCorrected") == 0
    assert await state(su, username) == (20, True, [])
    assert await logs_in(kubectl, namespace, dev_env, "ignored")


async def test_a_converged_user_stays_silent_across_checks(
    kubectl: Kubectl, namespace: str, pg: str, groups: tuple[str, str, str], dev_env: DevEnv
) -> None:
    username = unique("quiet")
    apply(kubectl, namespace, manifest("quiet", username, "correct", groups[0]))
    stamp = ready_and_checked(kubectl, namespace, "quiet")
    before = get(kubectl, KIND, namespace, "quiet") or {}
    events_before = len(events(kubectl, namespace, "quiet"))

    versions: set[str] = set()
    checks: set[str] = {stamp}
    deadline = time.monotonic() + 17
    while time.monotonic() < deadline:
        obj = get(kubectl, KIND, namespace, "quiet") or {}
        versions.add(obj["metadata"]["resourceVersion"])
        checks.add(obj["status"]["drift"]["lastChecked"])
        await asyncio.sleep(0.3)

    after = get(kubectl, KIND, namespace, "quiet") or {}
    assert len(checks) >= 3, f"expected several checks, saw {sorted(checks)}"
    # Each check writes status once (lastChecked advances); nothing else is written between checks.
    assert len(versions) <= len(checks), (versions, checks)
    assert after["status"]["conditions"] == before["status"]["conditions"]
    assert after["status"]["drift"]["detected"] is False and "diffs" not in after["status"]["drift"]
    assert len(events(kubectl, namespace, "quiet")) == events_before, "a converged user emits no events"
    assert await logs_in(kubectl, namespace, dev_env, "quiet")


async def test_with_rotation_the_active_login_is_checked_and_the_service_role_is_declared(
    kubectl: Kubectl, namespace: str, pg: str, su: asyncpg.Connection, dev_env: DevEnv
) -> None:
    username = unique("rot")
    rotated = f"{username}_r"
    body = """  passwordRotation: {enabled: true, maxAge: 10s, userNaming: "{{.Username}}_r"}
  postgres:
    connectionLimit: 5
"""
    apply(kubectl, namespace, with_policy(user_manifest("rot", username, body), "detect"))
    wait_for(lambda: (get(kubectl, KIND, namespace, "rot") or {}).get("status", {}).get("rotation", {}).get(
        "activeUser") == rotated, 90, "a rotation")  # fmt: skip
    # No further rotation while the test runs; the spec change is an apply, after which the login is checked.
    kubectl(
        "patch", KIND, "rot", "-n", namespace, "--type=merge", "-p",
        '{"spec": {"passwordRotation": {"maxAge": "1h"}}}',
    )  # fmt: skip
    generation = (get(kubectl, KIND, namespace, "rot") or {})["metadata"]["generation"]
    wait_for(
        lambda: (get(kubectl, KIND, namespace, "rot") or {})["status"].get("observedGeneration") == generation,
        60,
        "the spec change applied",
    )
    stamp = checked_after(kubectl, KIND, namespace, "rot", None)
    # Both logins are members of the service role; neither membership is extra.
    assert drift(kubectl, KIND, namespace, "rot")["detected"] is False
    assert f"svc_{username}" in (await state(su, rotated))[2] and f"svc_{username}" in (await state(su, username))[2]

    # Only the active login is compared: a change to spec.username (nobody's login any more) is not reported.
    async with su.transaction():
        await su.execute(f'ALTER ROLE "{rotated}" CONNECTION LIMIT 20')
        await su.execute(f'ALTER ROLE "{username}" CONNECTION LIMIT 30')
    checked_after(kubectl, KIND, namespace, "rot", stamp)
    wait_for(lambda: drift(kubectl, KIND, namespace, "rot").get("detected"), 30, "drift detected")
    assert diffs(kubectl, namespace, "rot") == [
        {"field": "connectionLimit", "expected": "5", "actual": "20", "destructive": False, "immutable": False}
    ]
    assert count(kubectl, namespace, "rot", "DriftDetected") == 1
    assert (get(kubectl, KIND, namespace, "rot") or {})["status"]["rotation"]["activeUser"] == rotated
    assert await logs_in(kubectl, namespace, dev_env, "rot")
