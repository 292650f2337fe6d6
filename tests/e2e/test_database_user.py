"""Database and DatabaseUser end to end: kubectl apply, real PostgreSQL, real credentials."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import uuid
from typing import Any

import asyncpg
import pytest

from tests.conftest import Kubectl
from tests.e2e.conftest import Operator, condition, events, get, wait_for
from tests.e2e.test_instance import admin_secret, instance
from tests.support.env import DevEnv


@pytest.fixture
def ready_instance(kubectl: Kubectl, namespace: str, operator: Operator, dev_env: DevEnv) -> str:
    kubectl("apply", "-n", namespace, "-f", "-", input=admin_secret(dev_env) + "---\n" + instance(dev_env, interval=30))
    wait_for(
        lambda: (get(kubectl, "dbi", namespace, "pg") or {}).get("status", {}).get("phase") == "Ready", 60, "instance"
    )
    return "pg"


@pytest.fixture
async def superuser(dev_env: DevEnv) -> Any:
    pg = dev_env.postgres
    conn = await asyncpg.connect(
        host=pg.host, port=pg.port, user=pg.superuser, password=pg.superuser_password, database="postgres"
    )
    yield conn
    await conn.close()


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def phase(kubectl: Kubectl, kind: str, namespace: str, name: str) -> Any:
    return ((get(kubectl, kind, namespace, name) or {}).get("status") or {}).get("phase")


def database(name: str, db_name: str, policy: str = "Delete", protection: bool = False, extra: str = "") -> str:
    return f"""apiVersion: dbops.dbprovision.io/v1alpha1
kind: Database
metadata: {{name: {name}}}
spec:
  instanceRef: {{name: pg}}
  name: {db_name}
  deletionPolicy: {policy}
  deletionProtection: {str(protection).lower()}
{extra}"""


def user(name: str, username: str, extra: str = "") -> str:
    return f"""apiVersion: dbops.dbprovision.io/v1alpha1
kind: DatabaseUser
metadata: {{name: {name}}}
spec:
  instanceRef: {{name: pg}}
  username: {username}
{extra}"""


async def test_database_is_created_with_the_requested_options(
    kubectl: Kubectl, namespace: str, ready_instance: str, superuser: Any, dev_env: DevEnv
) -> None:
    db = unique("app")
    extra = """  postgres:
    encoding: UTF8
    template: template0
    connectionLimit: 7
    extensions: [{name: pgcrypto}]
    schemas: [{name: reporting}]
"""
    kubectl("apply", "-n", namespace, "-f", "-", input=database("app", db, extra=extra))
    wait_for(lambda: phase(kubectl, "db", namespace, "app") == "Ready", 60, "database app to become Ready")
    row = await superuser.fetchrow(
        "SELECT pg_encoding_to_char(encoding) AS enc, datconnlimit FROM pg_database WHERE datname = $1", db
    )
    assert row is not None and (row["enc"], row["datconnlimit"]) == ("UTF8", 7)
    pg = dev_env.postgres
    inside = await asyncpg.connect(
        host=pg.host, port=pg.port, user=pg.superuser, password=pg.superuser_password, database=db
    )
    try:
        assert await inside.fetchval("SELECT count(*) FROM pg_extension WHERE extname = 'pgcrypto'") == 1
        assert await inside.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = 'reporting'") == 1
    finally:
        await inside.close()
    created = events(kubectl, namespace, "app", "Created")
    assert [e["message"] for e in created] == [f"Created database {db} on instance pg"]
    obj = get(kubectl, "db", namespace, "app")
    assert obj is not None and obj["status"]["database"]["name"] == db and obj["status"]["database"]["createdAt"]

    # Dropped by hand: recreated, with one event saying so.
    await superuser.execute(f'DROP DATABASE "{db}" WITH (FORCE)')
    # The existence check runs on every reconcile; an annotation the operator reads wakes it at once.
    kubectl("annotate", "db", "app", "-n", namespace, "dbops.dbprovision.io/allow-destructive-drift=false")
    wait_for(lambda: len(events(kubectl, namespace, "app", "Created")) == 2, 60, "the database to be recreated")
    assert await superuser.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", db) == 1

    # Delete policy drops it.
    kubectl("delete", "db", "app", "-n", namespace, "--wait=false")
    wait_for(lambda: get(kubectl, "db", namespace, "app") is None, 60, "database app to be deleted")
    assert await superuser.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", db) == 0
    assert [e["message"] for e in events(kubectl, namespace, "app", "Deleted")] == [
        f"Dropped database {db} from instance pg"
    ]


async def test_retain_keeps_and_protection_blocks(
    kubectl: Kubectl, namespace: str, ready_instance: str, superuser: Any
) -> None:
    db = unique("kept")
    kubectl("apply", "-n", namespace, "-f", "-", input=database("kept", db, policy="Retain", protection=True))
    wait_for(lambda: phase(kubectl, "db", namespace, "kept") == "Ready", 60, "database kept to become Ready")
    kubectl("delete", "db", "kept", "-n", namespace, "--wait=false")
    wait_for(lambda: events(kubectl, namespace, "kept", "DeletionBlocked"), 30, "DeletionBlocked")
    assert condition(get(kubectl, "db", namespace, "kept"), "Ready")["reason"] == "DeletionProtected"
    kubectl("annotate", "db", "kept", "-n", namespace, "dbops.dbprovision.io/force-delete=true")
    wait_for(lambda: get(kubectl, "db", namespace, "kept") is None, 60, "database kept to be released")
    assert await superuser.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", db) == 1
    await superuser.execute(f'DROP DATABASE "{db}" WITH (FORCE)')  # the operator may still hold an idle session


def secret_data(kubectl: Kubectl, namespace: str, name: str) -> dict[str, str]:
    obj = get(kubectl, "secret", namespace, name) or {}
    return {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}


async def login(dev_env: DevEnv, username: str, password: str) -> bool:
    try:
        conn = await asyncpg.connect(
            host=dev_env.postgres.host,
            port=dev_env.postgres.port,
            user=username,
            password=password,
            database="postgres",
        )
    except asyncpg.InvalidPasswordError:
        return False
    await conn.close()
    return True


async def test_user_secret_logs_in_and_is_regenerated_when_deleted(
    kubectl: Kubectl, namespace: str, ready_instance: str, dev_env: DevEnv, superuser: Any
) -> None:
    username = unique("svc")
    template = """  passwordSecret:
    secretName: svc-creds
    secretTemplate:
      data:
        DATABASE_URL: "postgresql://{{ .Username }}:{{ .Password | urlEncode }}@{{ .Host }}:{{ .Port }}/postgres"
        PGUSER: "{{ .Username }}"
"""
    kubectl("apply", "-n", namespace, "-f", "-", input=user("svc", username, template))
    wait_for(lambda: phase(kubectl, "dbu", namespace, "svc") == "Ready", 60, "user svc to become Ready")
    data = secret_data(kubectl, namespace, "svc-creds")
    assert set(data) == {"DATABASE_URL", "PGUSER"} and data["PGUSER"] == username
    psql = await asyncio.to_thread(
        subprocess.run,
        ["psql", data["DATABASE_URL"], "-tAc", "SELECT current_user"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert psql.returncode == 0, psql.stderr
    assert psql.stdout.strip() == username
    old_password = secret_data(kubectl, namespace, "svc-creds-dbops-source")["password"]
    assert await login(dev_env, username, old_password)
    secret = get(kubectl, "secret", namespace, "svc-creds")
    assert secret is not None and secret["metadata"]["ownerReferences"][0]["kind"] == "DatabaseUser"
    assert sorted(e["reason"] for e in events(kubectl, namespace, "svc")) == ["Created", "SecretCreated"]
    assert not any(old_password in e["message"] for e in events(kubectl, namespace, "svc"))

    # Deleting the credentials Secret gives a new password (behaviour.md 8.2); the old one stops working.
    kubectl("delete", "secret", "svc-creds", "-n", namespace)
    wait_for(lambda: secret_data(kubectl, namespace, "svc-creds"), 60, "the credentials Secret to come back")
    wait_for(
        lambda: secret_data(kubectl, namespace, "svc-creds-dbops-source").get("password") != old_password,
        60,
        "a new password in the password-source Secret",
    )
    new_password = secret_data(kubectl, namespace, "svc-creds-dbops-source")["password"]
    assert new_password != old_password
    assert await login(dev_env, username, new_password)
    assert not await login(dev_env, username, old_password)
    assert events(kubectl, namespace, "svc", "SecretRegenerated")

    kubectl("delete", "dbu", "svc", "-n", namespace, "--wait=false")
    wait_for(lambda: get(kubectl, "dbu", namespace, "svc") is None, 60, "user svc to be deleted")
    assert await superuser.fetchval("SELECT count(*) FROM pg_roles WHERE rolname = $1", username) == 0


def test_a_foreign_secret_is_never_overwritten(kubectl: Kubectl, namespace: str, ready_instance: str) -> None:
    username = unique("taken")
    secret_name = username.replace("_", "-") + "-credentials"
    kubectl("create", "secret", "generic", secret_name, "-n", namespace, "--from-literal=password=mine")
    kubectl("apply", "-n", namespace, "-f", "-", input=user("taken", username))
    wait_for(
        lambda: condition(get(kubectl, "dbu", namespace, "taken"), "Ready").get("reason") == "SecretConflict",
        60,
        "SecretConflict",
    )
    assert secret_data(kubectl, namespace, secret_name) == {"password": "mine"}
    assert len(events(kubectl, namespace, "taken", "ReconcileFailed")) == 1


def test_a_converged_user_and_database_cause_no_writes(
    kubectl: Kubectl, namespace: str, ready_instance: str, operator: Operator
) -> None:
    manifests = database("quiet", unique("quiet")) + "---\n" + user("quiet", unique("quiet"))
    kubectl("apply", "-n", namespace, "-f", "-", input=manifests)
    wait_for(
        lambda: (
            phase(kubectl, "db", namespace, "quiet") == "Ready" and phase(kubectl, "dbu", namespace, "quiet") == "Ready"
        ),
        60,
        "both Ready",
    )
    before = {kind: (get(kubectl, kind, namespace, "quiet") or {}).get("status") for kind in ("db", "dbu")}
    secret_before = (
        get(kubectl, "secret", namespace, f"{before['dbu']['user']['username'].replace('_', '-')}-credentials") or {}
    )  # type: ignore[index]
    event_count = len(events(kubectl, namespace, "quiet"))
    counts = {c: operator.reconciles(c) for c in ("database", "databaseuser")}
    # Each annotation change the operator reads wakes the object at once (api.md 2.1); a value other than "true"
    # changes nothing, so every one of these reconciles must find the object converged.
    for value in ("false", "no", "maybe"):
        for kind in ("db", "dbu"):
            kubectl(
                "annotate",
                kind,
                "quiet",
                "-n",
                namespace,
                f"dbops.dbprovision.io/skip-reconcile={value}",
                "--overwrite",
            )
    for controller, start in counts.items():
        wait_for(lambda c=controller, s=start: operator.reconciles(c) >= s + 3, 60, f"{controller} to reconcile again")
    after = {kind: (get(kubectl, kind, namespace, "quiet") or {}).get("status") for kind in ("db", "dbu")}
    assert after == before, "a converged object's status is not rewritten (not even reconcileID)"
    secret_after = get(kubectl, "secret", namespace, secret_before["metadata"]["name"]) or {}
    assert secret_after["metadata"]["resourceVersion"] == secret_before["metadata"]["resourceVersion"]
    assert len(events(kubectl, namespace, "quiet")) == event_count, "a converged object emits nothing"


def size_metric(operator: Operator, namespace: str, name: str) -> float:
    prefix = f'dbops_database_size_bytes{{database="{name}",engine="postgres",instance="pg",namespace="{namespace}"}} '
    return next((float(line.split()[-1]) for line in operator.metrics().splitlines() if line.startswith(prefix)), 0.0)


async def test_database_size_is_refreshed_from_the_server(
    kubectl: Kubectl, namespace: str, ready_instance: str, operator: Operator, dev_env: DevEnv
) -> None:
    db = unique("sized")
    kubectl("apply", "-n", namespace, "-f", "-", input=database("sized", db))
    wait_for(lambda: size_metric(operator, namespace, "sized") > 0, 60, "a size for database sized")
    before = size_metric(operator, namespace, "sized")
    pg = dev_env.postgres
    conn = await asyncpg.connect(
        host=pg.host, port=pg.port, user=pg.superuser, password=pg.superuser_password, database=db
    )
    try:  # grow the database behind the operator's back: only the periodic refresh can notice
        await conn.execute("CREATE TABLE filler AS SELECT g, repeat('x', 500) AS pad FROM generate_series(1, 20000) g")
        grown = await conn.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await conn.close()
    wait_for(
        lambda: size_metric(operator, namespace, "sized") >= grown * 0.99, 60, "the size metric to follow the data"
    )
    assert size_metric(operator, namespace, "sized") > before + 5_000_000
