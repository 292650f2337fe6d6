"""Hostile names and values (issue 5): refused by the schema, or sent to PostgreSQL safely quoted — never executed.

Every server-side name below is either refused by the apiserver at `kubectl apply` (the CRD's identifier pattern and
63-character limit, `dbops.api.meta.IDENTIFIER_PATTERN`) with a message naming the field, or created on the real
server with exactly that text. Fields without a schema pattern (`spec.postgres.schemas[].name`) take any text; there
the operator must quote it. The injection payloads try to drop a canary database and role and to create objects
whose names carry the test's token, so an executed payload would show up in the catalogs.
"""

from __future__ import annotations

import base64
import json
import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest

from dbops.api.meta import IDENTIFIER_PATTERN
from tests.conftest import Kubectl
from tests.e2e.conftest import Operator, condition, events, get, wait_for
from tests.e2e.test_instance import admin_secret, instance
from tests.e2e.test_quiet_resync import PARTITION_LABEL, delete_all, labelled, partition_operator
from tests.support.env import DevEnv

API_VERSION = "dbops.dbprovision.io/v1alpha1"
#: These objects are reconciled by an operator process of their own partition, so that no other process started
#: against the same control plane (`make demo`, a concurrent test session) races it for the same server objects.
PARTITION = "hostile"
METRICS_PORT = int(os.environ.get("DBOPS_E2E_HOSTILE_METRICS_PORT", "18590"))
PROBE_PORT = int(os.environ.get("DBOPS_E2E_HOSTILE_PROBE_PORT", "18591"))
METADATA = {"labels": {PARTITION_LABEL: PARTITION}}


def accepted_by_schema(name: str) -> bool:
    """What the CRD allows for spec.name / spec.username: the identifier pattern and at most 63 characters."""
    return re.fullmatch(IDENTIFIER_PATTERN, name) is not None and len(name) <= 63


def hostile_names(token: str) -> list[str]:
    """Names with quotes, semicolons, comments, backslashes, spaces, unicode, placeholders, and length edges."""
    return [
        f'x"; DROP DATABASE postgres; CREATE ROLE inj_{token}; --',
        f"x'; DROP DATABASE canary_{token}; --",
        f"a;b_{token}",
        f"a--b_{token}",
        f"back\\slash_{token}",
        f"with space_{token}",
        f"grüße_{token}",
        f"数据_{token}",
        f"$1_{token}",
        f"_{token}$1",
        ("L" + token).ljust(64, "x"),  # 64 bytes: one over the limit
        # Accepted by the schema; each needs quoting to keep its exact text (case, keyword, length).
        ("Mixed_Case_" + token).ljust(63, "Z"),  # exactly 63 bytes
        f"SELECT_{token}",
        f"_{token}",
    ]


def database_manifest(name: str, db_name: str, postgres: dict[str, Any] | None = None) -> str:
    spec: dict[str, Any] = {
        "instanceRef": {"name": "pg"},
        "name": db_name,
        "deletionPolicy": "Delete",
        "deletionProtection": False,
    }
    if postgres is not None:
        spec["postgres"] = postgres
    return json.dumps(
        {"apiVersion": API_VERSION, "kind": "Database", "metadata": {"name": name, **METADATA}, "spec": spec}
    )


def user_manifest(name: str, username: str, extra: dict[str, Any] | None = None) -> str:
    spec: dict[str, Any] = {"instanceRef": {"name": "pg"}, "username": username, **(extra or {})}
    return json.dumps(
        {"apiVersion": API_VERSION, "kind": "DatabaseUser", "metadata": {"name": name, **METADATA}, "spec": spec}
    )


def phase(kubectl: Kubectl, kind: str, namespace: str, name: str) -> Any:
    return ((get(kubectl, kind, namespace, name) or {}).get("status") or {}).get("phase")


@pytest.fixture
def token() -> str:
    return f"h{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def hostile_operator(dev_env: DevEnv, crds: None) -> Iterator[Operator]:
    try:
        with partition_operator(dev_env, PARTITION, METRICS_PORT, PROBE_PORT) as op:
            yield op
    except RuntimeError as error:
        pytest.fail(str(error))


@pytest.fixture
def pg_instance(kubectl: Kubectl, namespace: str, hostile_operator: Operator, dev_env: DevEnv) -> Iterator[str]:
    manifest = admin_secret(dev_env) + "---\n" + labelled(instance(dev_env, interval=30), PARTITION)
    kubectl("apply", "-n", namespace, "-f", "-", input=manifest)
    wait_for(lambda: phase(kubectl, "dbi", namespace, "pg") == "Ready", 60, "instance pg to become Ready")
    yield "pg"
    delete_all(kubectl, namespace)


async def connect(dev_env: DevEnv, database: str = "postgres") -> Any:
    pg = dev_env.postgres
    return await asyncpg.connect(
        host=pg.host, port=pg.port, user=pg.superuser, password=pg.superuser_password, database=database
    )


@pytest.fixture
async def canary(dev_env: DevEnv, token: str) -> AsyncIterator[Any]:
    """A superuser session, a canary database and role the payloads try to drop; everything with the token is
    removed afterwards whatever the operator did."""
    conn = await connect(dev_env)
    await conn.execute(f'CREATE DATABASE "canary_{token}"')
    await conn.execute(f'CREATE ROLE "canary_{token}"')
    try:
        yield conn
    finally:
        for (name,) in await conn.fetch("SELECT datname FROM pg_database WHERE strpos(datname, $1) > 0", token):
            await conn.execute('DROP DATABASE "{}" WITH (FORCE)'.format(name.replace('"', '""')))
        for (name,) in await conn.fetch("SELECT rolname FROM pg_roles WHERE strpos(rolname, $1) > 0", token):
            await conn.execute('DROP ROLE "{}"'.format(name.replace('"', '""')))
        await conn.close()


async def names_with(conn: Any, token: str) -> tuple[set[str], set[str]]:
    """Databases and roles on the server whose names contain the token."""
    dbs = {r[0] for r in await conn.fetch("SELECT datname FROM pg_database WHERE strpos(datname, $1) > 0", token)}
    roles = {r[0] for r in await conn.fetch("SELECT rolname FROM pg_roles WHERE strpos(rolname, $1) > 0", token)}
    return dbs, roles


async def assert_nothing_executed(conn: Any, token: str, databases: set[str], roles: set[str]) -> None:
    """postgres and the canaries survive, and exactly the expected token-carrying objects exist."""
    assert await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname = 'postgres'") == 1
    assert await names_with(conn, token) == (databases | {f"canary_{token}"}, roles | {f"canary_{token}"})


def delete_and_wait(kubectl: Kubectl, namespace: str, kind: str, names: list[str]) -> None:
    if names:
        kubectl("delete", kind, "-n", namespace, "--wait=false", *names)
    wait_for(lambda: all(get(kubectl, kind, namespace, n) is None for n in names), 90, f"{kind} {names} to be deleted")


async def test_hostile_database_and_user_names_are_refused_or_created_verbatim(
    kubectl: Kubectl, namespace: str, pg_instance: str, canary: Any, token: str
) -> None:
    created_dbs: dict[str, str] = {}
    created_users: dict[str, str] = {}
    for index, name in enumerate(hostile_names(token)):
        for kind, obj, field, manifest, created in (
            ("db", f"d{index}", "spec.name", database_manifest(f"d{index}", name), created_dbs),
            ("dbu", f"u{index}", "spec.username", user_manifest(f"u{index}", name), created_users),
        ):
            result = kubectl("apply", "-n", namespace, "-f", "-", input=manifest, check=False)
            if accepted_by_schema(name):
                assert result.returncode == 0, f"{name!r} is a valid identifier but was refused: {result.stderr}"
                created[obj] = name
            else:
                assert result.returncode != 0, f"{kind} {name!r} was accepted by the apiserver"
                assert field in result.stderr, f"the refusal of {name!r} does not name {field}: {result.stderr}"
                assert get(kubectl, kind, namespace, obj) is None
    assert len(created_dbs) == len(created_users) == 3, "the table must exercise the accepted path too"

    for obj in created_dbs:
        wait_for(lambda o=obj: phase(kubectl, "db", namespace, o) == "Ready", 90, f"database {obj} to become Ready")
    for obj in created_users:
        wait_for(lambda o=obj: phase(kubectl, "dbu", namespace, o) == "Ready", 90, f"user {obj} to become Ready")
    for obj, name in created_dbs.items():
        assert await canary.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name) == 1, name
        created_event = events(kubectl, namespace, obj, "Created")
        assert [e["message"] for e in created_event] == [f"Created database {name} on instance pg"]
    for obj, name in created_users.items():
        assert await canary.fetchval("SELECT count(*) FROM pg_roles WHERE rolname = $1", name) == 1, name
        assert (get(kubectl, "dbu", namespace, obj) or {})["status"]["user"]["username"] == name
    await assert_nothing_executed(canary, token, set(created_dbs.values()), set(created_users.values()))

    delete_and_wait(kubectl, namespace, "db", list(created_dbs))
    delete_and_wait(kubectl, namespace, "dbu", list(created_users))
    await assert_nothing_executed(canary, token, set(), set())


def hostile_schema_names(token: str) -> list[str]:
    """Text for a field without a schema pattern: each must reach the catalog exactly as written."""
    return [
        f'x"; DROP DATABASE "canary_{token}"; CREATE ROLE i{token};--',
        f"it's'; DROP ROLE \"canary_{token}\"; --",
        "a;b",
        "a--b /* c */",
        "back\\slash\\",
        " with  spaces ",
        "grüße",
        "数据",
        "$1",
        "Mixed Case",
        "数" * 21,  # 63 bytes in 21 characters
    ]


async def test_hostile_schema_names_are_quoted_never_executed(
    kubectl: Kubectl, namespace: str, pg_instance: str, canary: Any, dev_env: DevEnv, token: str
) -> None:
    db_name = f"schemas_{token}"
    schemas = hostile_schema_names(token)
    manifest = database_manifest("schemas", db_name, {"schemas": [{"name": s} for s in schemas]})
    kubectl("apply", "-n", namespace, "-f", "-", input=manifest)
    wait_for(lambda: phase(kubectl, "db", namespace, "schemas") == "Ready", 90, "database schemas to become Ready")
    inside = await connect(dev_env, db_name)
    try:
        found = {r[0] for r in await inside.fetch("SELECT nspname FROM pg_namespace")}
    finally:
        await inside.close()
    assert set(schemas) <= found, f"missing: {set(schemas) - found}"
    observed = (get(kubectl, "db", namespace, "schemas") or {})["status"]["postgres"]["schemas"]
    assert set(schemas) <= set(observed)
    await assert_nothing_executed(canary, token, {db_name}, set())

    delete_and_wait(kubectl, namespace, "db", ["schemas"])
    await assert_nothing_executed(canary, token, set(), set())


async def test_a_name_over_63_bytes_is_invalid_spec_naming_the_field(
    kubectl: Kubectl, namespace: str, pg_instance: str, canary: Any, dev_env: DevEnv, token: str
) -> None:
    db_name = f"long_{token}"
    too_long = "é" * 32  # 32 characters, 64 bytes: PostgreSQL would truncate it to another name
    manifest = database_manifest("long", db_name, {"schemas": [{"name": "fine"}, {"name": too_long}]})
    kubectl("apply", "-n", namespace, "-f", "-", input=manifest)
    wait_for(
        lambda: condition(get(kubectl, "db", namespace, "long"), "Ready").get("reason") == "InvalidSpec",
        60,
        "Ready=False InvalidSpec",
    )
    obj = get(kubectl, "db", namespace, "long")
    assert obj is not None and obj["status"]["phase"] == "Failed"
    assert "spec.postgres.schemas[1]" in condition(obj, "Ready")["message"]
    warnings = [e for e in events(kubectl, namespace, "long") if e["type"] == "Warning"]
    assert [e["reason"] for e in warnings] == ["InvalidSpec"]
    assert "spec.postgres.schemas[1]" in warnings[0]["message"]
    if await canary.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", db_name):
        inside = await connect(dev_env, db_name)
        try:
            truncated = too_long.encode()[:63].decode(errors="ignore")
            hits = await inside.fetchval(
                "SELECT count(*) FROM pg_namespace WHERE nspname::text IN ($1::text, $2::text, 'fine')",
                too_long,
                truncated,
            )
        finally:
            await inside.close()
        assert hits == 0, "no statement of an invalid spec runs"

    delete_and_wait(kubectl, namespace, "db", ["long"])
    await assert_nothing_executed(canary, token, set(), set())


async def test_an_existing_password_with_quotes_and_semicolons_logs_in(
    kubectl: Kubectl, namespace: str, pg_instance: str, canary: Any, dev_env: DevEnv, token: str
) -> None:
    username = f"pw_{token}"
    password = f"p'a\"ss; DROP ROLE \"canary_{token}\"; -- \\ $1 ü 数据 '';"
    secret = json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "given"},
            "data": {"pw": base64.b64encode(password.encode()).decode()},
        }
    )
    extra = {
        "existingPasswordSecret": {"name": "given", "key": "pw"},
        "passwordSecret": {"generate": False, "secretName": "pw-creds"},
    }
    kubectl("apply", "-n", namespace, "-f", "-", input=secret)
    kubectl("apply", "-n", namespace, "-f", "-", input=user_manifest("pw", username, extra))
    wait_for(lambda: phase(kubectl, "dbu", namespace, "pw") == "Ready", 60, "user pw to become Ready")
    pg = dev_env.postgres
    conn = await asyncpg.connect(host=pg.host, port=pg.port, user=username, password=password, database="postgres")
    try:
        assert await conn.fetchval("SELECT current_user") == username
    finally:
        await conn.close()
    creds = get(kubectl, "secret", namespace, "pw-creds") or {}
    assert base64.b64decode(creds["data"]["password"]).decode() == password
    assert not any(password in e["message"] for e in events(kubectl, namespace, "pw"))
    await assert_nothing_executed(canary, token, set(), {username})

    delete_and_wait(kubectl, namespace, "dbu", ["pw"])
    await assert_nothing_executed(canary, token, set(), set())
