"""DatabaseRole and DatabaseGrant end to end: privileges enforced by a real PostgreSQL, revoked on delete."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from tests.conftest import Kubectl
from tests.e2e.conftest import Operator, events, get, reconciled_once_more, wait_for
from tests.e2e.test_database_user import database, phase, secret_data, unique, user
from tests.e2e.test_instance import admin_secret, instance
from tests.support.env import DevEnv

PARTITION = os.environ.get("OPERATOR_INSTANCE_ID", "default")


def own(manifests: str) -> str:
    """Label every object for this run's operator partition (behaviour.md 14) when OPERATOR_INSTANCE_ID is set, so
    other operators running against the same control plane leave these objects alone."""
    if PARTITION == "default":
        return manifests
    label = f"labels: {{dbops.dbprovision.io/operator-instance-id: {PARTITION}}}"
    return re.sub(r"metadata: \{name: ([^}]+)\}", rf"metadata: {{name: \1, {label}}}", manifests)


def apply(kubectl: Kubectl, namespace: str, manifests: str) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=own(manifests))


@pytest.fixture
def pg(kubectl: Kubectl, namespace: str, operator: Operator, dev_env: DevEnv) -> str:
    apply(kubectl, namespace, admin_secret(dev_env) + "---\n" + instance(dev_env, interval=30))
    wait_for(lambda: phase(kubectl, "dbi", namespace, "pg") == "Ready", 60, "instance")
    return "pg"


async def connect(dev_env: DevEnv, user_name: str, password: str, db: str) -> asyncpg.Connection:
    return await asyncpg.connect(
        host=dev_env.postgres.host, port=dev_env.postgres.port, user=user_name, password=password, database=db
    )


@pytest.fixture
async def app(kubectl: Kubectl, namespace: str, pg: str, dev_env: DevEnv) -> AsyncIterator[dict[str, Any]]:
    """A Database with three tables (owned by the admin account) and a DatabaseUser without any privilege."""
    db, username = unique("db"), unique("app")
    apply(kubectl, namespace, database("db", db) + "---\n" + user("app", username))
    wait_for(lambda: phase(kubectl, "database", namespace, "db") == "Ready", 60, "database")
    wait_for(lambda: phase(kubectl, "databaseuser", namespace, "app") == "Ready", 60, "user")
    status = (get(kubectl, "databaseuser", namespace, "app") or {})["status"]
    password = secret_data(kubectl, namespace, status["secret"]["name"])["password"]
    admin = await connect(dev_env, dev_env.postgres.admin_user, dev_env.postgres.admin_password, db)
    for table in ("t_read", "t_write", "t_secret"):
        await admin.execute(f"CREATE TABLE {table} (id int)")
        await admin.execute(f"INSERT INTO {table} VALUES (1)")
    yield {"db": db, "username": username, "password": password, "admin": admin}
    await admin.close()


async def can(dev_env: DevEnv, app: dict[str, Any], statement: str) -> bool:
    """Run `statement` in a fresh session of the app user; False on "permission denied"."""
    conn = await connect(dev_env, app["username"], app["password"], app["db"])
    try:
        await conn.execute(statement)
    except asyncpg.InsufficientPrivilegeError:
        return False
    finally:
        await conn.close()
    return True


def grant(name: str, ref: str, body: str) -> str:
    return f"""apiVersion: dbops.dbprovision.io/v1alpha1
kind: DatabaseGrant
metadata: {{name: {name}}}
spec:
  {ref}
  deletionProtection: false
  postgres:
{body}"""


def role_manifest(name: str, role_name: str, body: str = "") -> str:
    """A DatabaseRole on instance `pg`; `body` adds spec lines (indented two spaces)."""
    return f"""apiVersion: dbops.dbprovision.io/v1alpha1
kind: DatabaseRole
metadata: {{name: {name}}}
spec:
  instanceRef: {{name: pg}}
  roleName: {role_name}
{body}"""


def count(kubectl: Kubectl, namespace: str, name: str, reason: str) -> int:
    return sum(e.get("count") or 1 for e in events(kubectl, namespace, name, reason))


async def test_grants_are_enforced_cover_future_tables_and_are_revoked(
    kubectl: Kubectl, namespace: str, app: dict[str, Any], dev_env: DevEnv, operator: Operator
) -> None:
    db, admin_user = app["db"], dev_env.postgres.admin_user
    body = f"""    grants:
      - {{database: {db}, schema: public, tables: [t_read], privileges: [SELECT]}}
      - {{database: {db}, schema: public, tables: [t_write], privileges: [SELECT, INSERT], withGrantOption: true}}
    defaultPrivileges:
      - {{database: {db}, schema: public, grantedBy: {admin_user}, objectType: tables, privileges: [SELECT]}}
"""
    manifest = grant("g", "userRef: {name: app}\n  databaseRef: {name: db}", body)
    apply(kubectl, namespace, manifest)
    wait_for(lambda: phase(kubectl, "databasegrant", namespace, "g") == "Ready", 60, "grant Ready")
    status = (get(kubectl, "databasegrant", namespace, "g") or {})["status"]
    assert status["appliedGrants"] == {"roles": [], "directGrants": 2, "defaultPrivileges": 1}
    wait_for(lambda: count(kubectl, namespace, "g", "Applied") == 1, 10, "Applied event")

    assert await can(dev_env, app, "SELECT * FROM t_read")
    assert not await can(dev_env, app, "INSERT INTO t_read VALUES (2)")
    assert await can(dev_env, app, "INSERT INTO t_write VALUES (2)")
    assert not await can(dev_env, app, "SELECT * FROM t_secret")
    grantable = await app["admin"].fetchval(
        "SELECT is_grantable FROM information_schema.role_table_grants "
        "WHERE grantee = $1 AND table_name = 't_write' AND privilege_type = 'INSERT'",
        app["username"],
    )
    assert grantable == "YES"
    await app["admin"].execute("CREATE TABLE t_future (id int)")
    assert await can(dev_env, app, "SELECT * FROM t_future")

    # A resync (woken by a watched annotation) applies nothing new and says nothing.
    reconciled_once_more(kubectl, operator, "databasegrant", "DatabaseGrant", namespace, "g")
    assert count(kubectl, namespace, "g", "Applied") == 1
    assert phase(kubectl, "databasegrant", namespace, "g") == "Ready"

    kubectl("delete", "-n", namespace, "databasegrant", "g", "--wait=true", "--timeout=60s")
    assert count(kubectl, namespace, "g", "Revoked") == 1
    assert not await can(dev_env, app, "SELECT * FROM t_read")
    assert not await can(dev_env, app, "INSERT INTO t_write VALUES (3)")
    # Default privileges are revoked for tables created from now on; t_future keeps what it got at creation
    # (it is not an object the grant declares).
    await app["admin"].execute("CREATE TABLE t_after (id int)")
    assert not await can(dev_env, app, "SELECT * FROM t_after")


async def test_role_with_grants_and_membership(
    kubectl: Kubectl, namespace: str, app: dict[str, Any], dev_env: DevEnv
) -> None:
    db, role_name = app["db"], unique("reader")
    apply(kubectl, namespace, role_manifest("reader", role_name))
    wait_for(lambda: phase(kubectl, "databaserole", namespace, "reader") == "Ready", 60, "role Ready")
    assert count(kubectl, namespace, "reader", "Created") == 1
    can_login = await app["admin"].fetchval("SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", role_name)
    assert can_login is False

    to_role = grant(
        "to-role",
        "roleRef: {name: reader}",
        f"    grants:\n      - {{database: {db}, schema: public, tables: [t_read], privileges: [SELECT]}}\n",
    )
    membership = grant("membership", "userRef: {name: app}", f"    roles: [{role_name}]\n")
    apply(kubectl, namespace, to_role + "---\n" + membership)
    for name in ("to-role", "membership"):
        wait_for(lambda n=name: phase(kubectl, "databasegrant", namespace, n) == "Ready", 60, f"{name} Ready")
    assert await can(dev_env, app, "SELECT * FROM t_read")
    assert not await can(dev_env, app, "SELECT * FROM t_secret")

    # The role cannot go while grants name it.
    kubectl("delete", "-n", namespace, "databaserole", "reader", "--wait=false")
    wait_for(lambda: count(kubectl, namespace, "reader", "DeletionBlocked") >= 1, 30, "DeletionBlocked")

    kubectl("delete", "-n", namespace, "databasegrant", "membership", "--wait=true", "--timeout=60s")
    assert not await can(dev_env, app, "SELECT * FROM t_read")
    kubectl("delete", "-n", namespace, "databasegrant", "to-role", "--wait=true", "--timeout=60s")
    wait_for(lambda: get(kubectl, "databaserole", namespace, "reader") is None, 60, "role deleted")
    assert count(kubectl, namespace, "reader", "Deleted") == 1
    gone = await app["admin"].fetchval("SELECT count(*) FROM pg_roles WHERE rolname = $1", role_name)
    assert gone == 0


async def test_a_role_whose_grants_wait_for_a_database_is_created_not_taken_over(
    kubectl: Kubectl, namespace: str, pg: str, operator: Operator, dev_env: DevEnv
) -> None:
    """`kubectl apply -k` of a role granting on a database that is created by the same apply: the first attempt
    creates the role but its grants fail; the retry finishes that creation. It must not claim to have taken over an
    existing role (nor count an adoption): the role is the operator's own."""
    db, role_name = unique("later"), unique("early")
    grants = f"  postgres:\n    grants:\n      - {{database: {db}, privileges: [CONNECT]}}\n"
    apply(kubectl, namespace, role_manifest("early", role_name, grants))
    wait_for(lambda: count(kubectl, namespace, "early", "CreateFailed") == 1, 60, "CreateFailed")
    assert phase(kubectl, "databaserole", namespace, "early") == "Failed"
    message = events(kubectl, namespace, "early", "CreateFailed")[0]["message"]
    assert f'database "{db}" does not exist' in message and "spec.postgres.grants[0]" in message

    apply(kubectl, namespace, database("db", db))
    wait_for(lambda: phase(kubectl, "databaserole", namespace, "early") == "Ready", 90, "role Ready after the database")
    (created,) = events(kubectl, namespace, "early", "Created")
    assert created["message"] == f"Created role {role_name} on instance pg" and (created.get("count") or 1) == 1
    adoptions = [
        line
        for line in operator.metrics().splitlines()
        if line.startswith("dbops_adoptions_total") and f'namespace="{namespace}"' in line
    ]
    assert adoptions == [], adoptions
    su = await connect(dev_env, dev_env.postgres.superuser, dev_env.postgres.superuser_password, "postgres")
    try:
        acl = await su.fetchval("SELECT datacl::text FROM pg_database WHERE datname = $1", db)
    finally:
        await su.close()
    assert f"{role_name}=c/" in str(acl), acl  # the explicit grant, not just PUBLIC's default CONNECT
