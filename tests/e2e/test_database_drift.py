"""Database drift end to end on PostgreSQL (behaviour.md 7.1 step 6, 11; api.md 4.4 Database row): change the database
by hand, watch the operator report or repair it.

Every Database here uses `driftPolicy.interval: 5s`; the tests wait for `status.drift.lastChecked` to move rather than
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
from tests.e2e.test_database_user import database, phase, unique
from tests.e2e.test_drift import checked_after, drift, with_policy
from tests.e2e.test_roles_grants import apply, count
from tests.e2e.test_roles_grants import pg as pg  # the instance fixture
from tests.support.env import DevEnv

KIND = "database"


@pytest.fixture
async def su(dev_env: DevEnv) -> AsyncIterator[asyncpg.Connection]:
    env = dev_env.postgres
    conn = await asyncpg.connect(
        host=env.host, port=env.port, user=env.superuser, password=env.superuser_password, database="postgres"
    )
    yield conn
    await conn.close()


@pytest.fixture
async def roles(su: asyncpg.Connection) -> AsyncIterator[tuple[str, str]]:
    """The declared owner and another role an administrator hands the database to by hand."""
    owner, other = unique("owner"), unique("other")
    for role in (owner, other):
        await su.execute(f'CREATE ROLE "{role}" NOLOGIN')
    yield owner, other
    for role in (other, owner):
        try:
            await su.execute(f'DROP OWNED BY "{role}"')
            await su.execute(f'DROP ROLE IF EXISTS "{role}"')
        except asyncpg.PostgresError:
            pass  # still owns a database the namespace clean-up has not dropped yet


def manifest(db: str, owner: str, mode: str, extra: str = "") -> str:
    body = f"""  owner: {owner}
  postgres:
    connectionLimit: 5
{extra}"""
    return with_policy(database("db", db, extra=body), mode)


async def settings(su: asyncpg.Connection, db: str) -> tuple[str, int, str]:
    row = await su.fetchrow(
        "SELECT pg_get_userbyid(datdba) AS owner, datconnlimit, pg_encoding_to_char(encoding) AS enc "
        "FROM pg_database WHERE datname = $1",
        db,
    )
    assert row is not None
    return row["owner"], row["datconnlimit"], row["enc"]


def diffs(kubectl: Kubectl, namespace: str) -> list[dict[str, Any]]:
    return list(drift(kubectl, KIND, namespace, "db").get("diffs") or [])


def ready_and_checked(kubectl: Kubectl, namespace: str) -> str:
    wait_for(lambda: phase(kubectl, KIND, namespace, "db") == "Ready", 60, "Database Ready")
    return checked_after(kubectl, KIND, namespace, "db", None)  # the first check follows creation


async def test_detect_reports_owner_and_connection_limit_once_and_changes_nothing(
    kubectl: Kubectl, namespace: str, pg: str, su: asyncpg.Connection, roles: tuple[str, str]
) -> None:
    owner, other = roles
    db = unique("d")
    apply(kubectl, namespace, manifest(db, owner, "detect"))
    ready_and_checked(kubectl, namespace)
    assert drift(kubectl, KIND, namespace, "db")["detected"] is False
    assert await settings(su, db) == (owner, 5, "UTF8")

    async with su.transaction():  # both at once, so no check can see only one of them
        await su.execute(f'ALTER DATABASE "{db}" OWNER TO "{other}"')
        await su.execute(f'ALTER DATABASE "{db}" CONNECTION LIMIT 20')
    wait_for(lambda: drift(kubectl, KIND, namespace, "db").get("detected"), 30, "drift detected")
    assert diffs(kubectl, namespace) == [
        {"field": "connectionLimit", "expected": "5", "actual": "20", "destructive": False, "immutable": False},
        {"field": "owner", "expected": owner, "actual": other, "destructive": True, "immutable": False},
    ]
    obj = get(kubectl, KIND, namespace, "db")
    assert condition(obj, "Synced")["status"] == "False" and condition(obj, "Synced")["reason"] == "DriftDetected"
    assert condition(obj, "Ready")["status"] == "True" and phase(kubectl, KIND, namespace, "db") == "Ready"

    # More checks: the report stands, one event only, the server is left as it is.
    stamp = drift(kubectl, KIND, namespace, "db")["lastChecked"]
    checked_after(kubectl, KIND, namespace, "db", stamp, n=2)
    assert len(diffs(kubectl, namespace)) == 2
    assert count(kubectl, namespace, "db", "DriftDetected") == 1
    assert count(kubectl, namespace, "db", "DriftCorrected") == 0
    message = events(kubectl, namespace, "db", "DriftDetected")[0]["message"]
    assert "Database db: fields [connectionLimit, owner] (mode detect)" in message
    assert await settings(su, db) == (other, 20, "UTF8")

    # Someone puts it back: the record is cleared without a new event.
    async with su.transaction():
        await su.execute(f'ALTER DATABASE "{db}" OWNER TO "{owner}"')
        await su.execute(f'ALTER DATABASE "{db}" CONNECTION LIMIT 5')
    wait_for(lambda: drift(kubectl, KIND, namespace, "db").get("detected") is False, 30, "drift cleared")
    assert condition(get(kubectl, KIND, namespace, "db"), "Synced")["status"] == "True"
    assert count(kubectl, namespace, "db", "DriftDetected") == 1


async def test_correct_restores_the_limit_and_the_owner_only_when_destruction_is_allowed(
    kubectl: Kubectl, namespace: str, pg: str, su: asyncpg.Connection, roles: tuple[str, str]
) -> None:
    owner, other = roles
    db = unique("d")
    apply(kubectl, namespace, manifest(db, owner, "correct"))
    ready_and_checked(kubectl, namespace)

    await su.execute(f'ALTER DATABASE "{db}" CONNECTION LIMIT 20')
    wait_for(lambda: count(kubectl, namespace, "db", "DriftCorrected") == 1, 30, "DriftCorrected")
    assert await settings(su, db) == (owner, 5, "UTF8")
    message = events(kubectl, namespace, "db", "DriftCorrected")[0]["message"]
    assert message == "Corrected drift in Database db: fields [connectionLimit]"
    status = drift(kubectl, KIND, namespace, "db")
    assert status["detected"] is False and status.get("lastCorrected")
    assert count(kubectl, namespace, "db", "DriftDetected") == 0  # nothing remained after the correction

    # The owner is destructive: reported and left alone until the annotation allows it.
    await su.execute(f'ALTER DATABASE "{db}" OWNER TO "{other}"')
    wait_for(lambda: drift(kubectl, KIND, namespace, "db").get("detected"), 30, "owner drift detected")
    assert diffs(kubectl, namespace) == [
        {"field": "owner", "expected": owner, "actual": other, "destructive": True, "immutable": False}
    ]
    message = events(kubectl, namespace, "db", "DriftDetected")[0]["message"]
    assert "not corrected: owner (destructive: set dbops.dbprovision.io/allow-destructive-drift=true)" in message
    stamp = drift(kubectl, KIND, namespace, "db")["lastChecked"]
    checked_after(kubectl, KIND, namespace, "db", stamp)
    assert (await settings(su, db))[0] == other
    assert count(kubectl, namespace, "db", "DriftCorrected") == 1

    kubectl("annotate", "-n", namespace, KIND, "db", "dbops.dbprovision.io/allow-destructive-drift=true")
    wait_for(lambda: count(kubectl, namespace, "db", "DriftCorrected") == 2, 30, "owner corrected")
    assert await settings(su, db) == (owner, 5, "UTF8")
    wait_for(lambda: drift(kubectl, KIND, namespace, "db").get("detected") is False, 30, "drift cleared")
    obj = get(kubectl, KIND, namespace, "db") or {}
    assert condition(obj, "Synced")["status"] == "True"
    assert obj["status"]["database"]["owner"] == owner  # the observed status follows the correction
    assert count(kubectl, namespace, "db", "DriftCorrectionFailed") == 0
    assert count(kubectl, namespace, "db", "DriftDetected") == 1


async def test_an_immutable_difference_is_reported_and_never_corrected(
    kubectl: Kubectl, namespace: str, pg: str, su: asyncpg.Connection, roles: tuple[str, str]
) -> None:
    owner, _ = roles
    db = unique("d")
    apply(kubectl, namespace, manifest(db, owner, "correct"))
    ready_and_checked(kubectl, namespace)

    # The encoding only matters at creation: editing it afterwards is an immutable difference.
    apply(
        kubectl,
        namespace,
        manifest(db, owner, "correct").replace("connectionLimit: 5", "connectionLimit: 5\n    encoding: LATIN1"),
    )
    wait_for(lambda: drift(kubectl, KIND, namespace, "db").get("detected"), 30, "immutable drift detected")
    assert diffs(kubectl, namespace) == [
        {"field": "encoding", "expected": "LATIN1", "actual": "UTF8", "destructive": False, "immutable": True}
    ]
    message = events(kubectl, namespace, "db", "DriftDetected")[0]["message"]
    assert "not corrected: encoding (immutable)" in message
    stamp = drift(kubectl, KIND, namespace, "db")["lastChecked"]
    checked_after(kubectl, KIND, namespace, "db", stamp, n=2)
    assert count(kubectl, namespace, "db", "DriftCorrected") == 0
    assert count(kubectl, namespace, "db", "DriftCorrectionFailed") == 0
    assert count(kubectl, namespace, "db", "DriftDetected") == 1
    assert await settings(su, db) == (owner, 5, "UTF8")
    assert phase(kubectl, KIND, namespace, "db") == "Ready"


async def test_correct_recreates_schema_extension_and_ownership_membership(
    kubectl: Kubectl, namespace: str, pg: str, dev_env: DevEnv
) -> None:
    db = unique("d")
    role, user = f"db_{db}_owner", f"db_{db}_app"
    body = """  postgres:
    ownership: {autoOwnership: true}
    extensions: [{name: pgcrypto}]
    schemas: [{name: reporting}]
"""
    apply(kubectl, namespace, with_policy(database("db", db, extra=body), "correct"))
    ready_and_checked(kubectl, namespace)
    env = dev_env.postgres
    inside = await asyncpg.connect(
        host=env.host, port=env.port, user=env.superuser, password=env.superuser_password, database=db
    )
    try:
        async with inside.transaction():  # one change as far as any check can see
            await inside.execute("DROP SCHEMA reporting")
            await inside.execute("DROP EXTENSION pgcrypto")
            await inside.execute(f'REVOKE "{role}" FROM "{user}"')
        wait_for(lambda: count(kubectl, namespace, "db", "DriftCorrected") == 1, 30, "DriftCorrected")
        message = events(kubectl, namespace, "db", "DriftCorrected")[0]["message"]
        # Dropping the schema dropped the default privileges set in it: they are part of the ownership model.
        fields = "extensions.missing, ownership.defaultPrivileges, ownership.membership, schemas.missing"
        assert message == f"Corrected drift in Database db: fields [{fields}]"
        owner = await inside.fetchval("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'reporting'")
        assert owner == role  # created as apply creates it: owned by the database owner
        assert await inside.fetchval("SELECT count(*) FROM pg_extension WHERE extname = 'pgcrypto'") == 1
        member = "SELECT pg_has_role($1, $2, 'MEMBER')"
        assert await inside.fetchval(member, user, role) is True
        defaults = await inside.fetchval(
            "SELECT count(*) FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace "
            "WHERE n.nspname = 'reporting'"
        )
        assert defaults == 6  # tables, sequences, functions; both ways
    finally:
        await inside.close()
    assert drift(kubectl, KIND, namespace, "db")["detected"] is False
    assert count(kubectl, namespace, "db", "DriftDetected") == 0


async def test_ignore_checks_nothing(
    kubectl: Kubectl, namespace: str, pg: str, su: asyncpg.Connection, roles: tuple[str, str], operator: Operator
) -> None:
    owner, _ = roles
    db = unique("d")
    apply(kubectl, namespace, manifest(db, owner, "ignore"))
    wait_for(lambda: phase(kubectl, KIND, namespace, "db") == "Ready", 60, "Database Ready")
    await su.execute(f'ALTER DATABASE "{db}" CONNECTION LIMIT 20')
    # A reconcile in ignore mode (woken by a watched annotation) does not check.
    reconciled_once_more(kubectl, operator, KIND, "Database", namespace, "db")
    obj = get(kubectl, KIND, namespace, "db") or {}
    assert "drift" not in obj["status"]
    assert condition(obj, "Synced")["status"] == "True"
    assert count(kubectl, namespace, "db", "DriftDetected") == 0
    assert count(kubectl, namespace, "db", "DriftCorrected") == 0
    assert await settings(su, db) == (owner, 20, "UTF8")


async def test_a_converged_database_is_checked_quietly(
    kubectl: Kubectl, namespace: str, pg: str, roles: tuple[str, str], operator: Operator
) -> None:
    owner, _ = roles
    db = unique("d")
    extra = "    extensions: [{name: pgcrypto}]\n    schemas: [{name: reporting}]\n"
    apply(kubectl, namespace, manifest(db, owner, "correct", extra))
    stamp = ready_and_checked(kubectl, namespace)
    before = get(kubectl, KIND, namespace, "db") or {}
    assert before["status"]["drift"] == {"detected": False, "lastChecked": stamp}
    events_before = len(events(kubectl, namespace, "db"))

    versions: set[str] = set()
    checks = {stamp}
    deadline = time.monotonic() + 17
    while time.monotonic() < deadline:
        obj = get(kubectl, KIND, namespace, "db") or {}
        versions.add(obj["metadata"]["resourceVersion"])
        checks.add(obj["status"]["drift"]["lastChecked"])
        await asyncio.sleep(0.3)

    after = get(kubectl, KIND, namespace, "db") or {}
    assert len(checks) >= 3, f"expected several checks, saw {sorted(checks)}"
    # Each check writes status once (lastChecked advances); nothing else is written between checks.
    assert len(versions) <= len(checks), (versions, checks)
    assert after["status"]["conditions"] == before["status"]["conditions"]
    assert after["status"]["drift"]["detected"] is False and "diffs" not in after["status"]["drift"]
    assert len(events(kubectl, namespace, "db")) == events_before, "events emitted while converged"
