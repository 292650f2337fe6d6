"""One ClusterDatabaseInstance shared by two namespaces (behaviour.md 13, api.md 6.2, 6.6, 6.8): Databases and
DatabaseUsers in both use it, a ClusterDatabaseRole and ClusterDatabaseGrants give access across them, the users'
Secrets log in, the grants are enforced by PostgreSQL, and cluster-scoped objects report metrics under `_cluster`."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from tests.conftest import Kubectl
from tests.e2e.conftest import Operator, get, wait_for
from tests.e2e.test_database_user import phase, secret_data, unique
from tests.e2e.test_roles_grants import own
from tests.support.env import DevEnv

OPERATOR_NAMESPACE = "dbops-system"
"""POD_NAMESPACE of the e2e operator (tests/e2e/conftest.py): where cluster objects' Secret references default to."""


def apply(kubectl: Kubectl, manifests: str, namespace: str | None = None) -> None:
    kubectl("apply", *(["-n", namespace] if namespace else []), "-f", "-", input=own(manifests))


@pytest.fixture
def second_namespace(namespace: str, kubectl: Kubectl) -> Iterator[str]:
    name = f"{namespace[:50]}-b"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture
def shared(kubectl: Kubectl, operator: Operator, dev_env: DevEnv) -> Iterator[str]:
    """A ClusterDatabaseInstance whose admin Secret lives in the operator's namespace (no namespace in its ref)."""
    name = f"shared-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", OPERATOR_NAMESPACE, check=False)
    pg = dev_env.postgres
    secret = f"""apiVersion: v1
kind: Secret
metadata: {{name: {name}-admin}}
stringData: {{username: {pg.admin_user}, password: "{pg.admin_password}"}}
"""
    apply(kubectl, secret, OPERATOR_NAMESPACE)
    apply(
        kubectl,
        f"""apiVersion: dbops.dbprovision.io/v1alpha1
kind: ClusterDatabaseInstance
metadata: {{name: {name}}}
spec:
  engine: postgres
  connection:
    host: 127.0.0.1
    port: {pg.port}
    secretRef: {{name: {name}-admin}}
  postgres: {{sslMode: require}}
  healthCheck: {{intervalSeconds: 30, timeoutSeconds: 5}}
  deletionProtection: false
""",
    )
    wait_for(lambda: phase(kubectl, "cdbi", "", name) == "Ready", 60, "the cluster instance to become Ready")
    yield name
    # Cluster-scoped objects outlive the test namespaces, and the operator stops with the package: when the test did
    # not get that far, remove the instance and everything on it now, by a confirmed cascade.
    if get(kubectl, "cdbi", None, name) is not None:
        cascade_delete(kubectl, name, timeout=120)
    kubectl("delete", "secret", f"{name}-admin", "-n", OPERATOR_NAMESPACE, "--ignore-not-found", check=False)


def cascade_delete(kubectl: Kubectl, name: str, timeout: float = 90) -> dict[str, Any]:
    """Force-delete the cluster instance, confirm the hash it asks for, wait until it is gone; returns what it asked."""
    kubectl("delete", "cdbi", name, "--wait=false", "--ignore-not-found")
    kubectl("annotate", "--overwrite", "cdbi", name, "dbops.dbprovision.io/force-delete=true")
    asked: dict[str, Any] = wait_for(
        lambda: (
            (get(kubectl, "cdbi", None, name) or {"status": {"deletionConfirmation": {"gone": True}}}).get("status")
            or {}
        ).get("deletionConfirmation"),
        30,
        "the cluster instance's confirmation hash",
    )
    if asked.get("hash"):
        kubectl("annotate", "--overwrite", "cdbi", name, f"dbops.dbprovision.io/confirm-force-delete={asked['hash']}")
    wait_for(lambda: get(kubectl, "cdbi", None, name) is None, timeout, "the cluster instance's cascade")
    return asked


def database(name: str, db_name: str, instance: str) -> str:
    return f"""apiVersion: dbops.dbprovision.io/v1alpha1
kind: Database
metadata: {{name: {name}}}
spec:
  clusterInstanceRef: {{name: {instance}}}
  name: {db_name}
  deletionProtection: false
"""


def user(name: str, username: str, instance: str) -> str:
    return f"""apiVersion: dbops.dbprovision.io/v1alpha1
kind: DatabaseUser
metadata: {{name: {name}}}
spec:
  clusterInstanceRef: {{name: {instance}}}
  username: {username}
"""


async def connect(dev_env: DevEnv, username: str, password: str, db: str) -> Any:
    pg = dev_env.postgres
    return await asyncpg.connect(host=pg.host, port=pg.port, user=username, password=password, database=db)


async def allowed(dev_env: DevEnv, login: dict[str, str], db: str, statement: str) -> bool:
    """Run `statement` in a fresh session; False on permission denied (including no CONNECT on the database)."""
    try:
        conn = await connect(dev_env, login["username"], login["password"], db)
    except asyncpg.InsufficientPrivilegeError:
        return False
    try:
        await conn.execute(statement)
    except asyncpg.InsufficientPrivilegeError:
        return False
    finally:
        await conn.close()
    return True


def series(operator: Operator, metric: str, **labels: str) -> list[str]:
    """Lines of `metric` whose labels include every given label."""
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    return [
        line
        for line in operator.metrics().splitlines()
        if re.match(rf"{metric}\{{", line) and all(w in line for w in wanted)
    ]


async def test_one_cluster_instance_serves_two_namespaces_with_cluster_roles_and_grants(
    kubectl: Kubectl, namespace: str, second_namespace: str, shared: str, operator: Operator, dev_env: DevEnv
) -> None:
    ns_a, ns_b = namespace, second_namespace
    db_a, db_b = unique("shared_a"), unique("shared_b")
    name_a, name_b, role_name = unique("alice"), unique("bob"), unique("readers")
    apply(kubectl, database("db", db_a, shared) + "---\n" + user("app", name_a, shared), ns_a)
    apply(kubectl, database("db", db_b, shared) + "---\n" + user("app", name_b, shared), ns_b)
    for ns in (ns_a, ns_b):
        for kind, name in (("database", "db"), ("databaseuser", "app")):
            wait_for(lambda n=ns, k=kind, o=name: phase(kubectl, k, n, o) == "Ready", 60, f"{kind} in {ns}")
    logins = {}
    for ns in (ns_a, ns_b):
        status = (get(kubectl, "databaseuser", ns, "app") or {})["status"]
        logins[ns] = secret_data(kubectl, ns, status["secret"]["name"])  # generated in the user's own namespace

    pg = dev_env.postgres
    admin = await asyncpg.connect(
        host=pg.host, port=pg.port, user=pg.admin_user, password=pg.admin_password, database=db_a
    )
    try:
        await admin.execute("CREATE TABLE facts (id int)")
        await admin.execute("INSERT INTO facts VALUES (1)")
    finally:
        await admin.close()

    # The users' Secrets log in to their own databases.
    for ns, db in ((ns_a, db_a), (ns_b, db_b)):
        assert await allowed(dev_env, logins[ns], db, "SELECT 1"), f"the user of {ns} logs in to {db}"

    cluster_role = f"""apiVersion: dbops.dbprovision.io/v1alpha1
kind: ClusterDatabaseRole
metadata: {{name: {shared}-readers}}
spec:
  clusterInstanceRef: {{name: {shared}}}
  roleName: {role_name}
  postgres:
    grants:
      - {{database: {db_a}, privileges: [CONNECT]}}
      - {{database: {db_a}, schema: public, tables: [facts], privileges: [SELECT]}}
"""
    membership = f"""apiVersion: dbops.dbprovision.io/v1alpha1
kind: ClusterDatabaseGrant
metadata: {{name: {shared}-bob-reads}}
spec:
  clusterInstanceRef: {{name: {shared}}}
  userRef: {{name: app, namespace: {ns_b}}}
  deletionProtection: false
  postgres:
    roles: [{role_name}]
"""
    apply(kubectl, cluster_role)
    wait_for(lambda: phase(kubectl, "cdbr", "", f"{shared}-readers") == "Ready", 60, "the cluster role Ready")
    reader = logins[ns_b]
    assert not await allowed(dev_env, reader, db_a, "SELECT * FROM facts"), "no access before the grant"
    apply(kubectl, membership)
    wait_for(lambda: phase(kubectl, "cdbg", "", f"{shared}-bob-reads") == "Ready", 60, "the cluster grant Ready")
    granted = get(kubectl, "cdbg", None, f"{shared}-bob-reads") or {}
    assert granted["status"]["targetInfo"]["resolvedUsername"] == name_b
    assert granted["status"]["targetInfo"]["namespace"] == ns_b

    # The user of namespace B reads namespace A's database through the cluster role, and nothing more.
    assert await allowed(dev_env, reader, db_a, "SELECT * FROM facts")
    assert not await allowed(dev_env, reader, db_a, "INSERT INTO facts VALUES (2)")
    assert not await allowed(dev_env, logins[ns_a], db_a, "SELECT * FROM facts"), "user A has no grant on facts"

    # Metrics: cluster-scoped objects under `_cluster`, namespaced ones under their namespace.
    def metrics_ready() -> bool:
        return bool(
            series(operator, "dbops_instance_info", instance=shared, namespace="_cluster")
            and series(operator, "dbops_role_info", role=f"{shared}-readers", namespace="_cluster", phase="Ready")
            and series(operator, "dbops_grant_info", grant=f"{shared}-bob-reads", namespace="_cluster", phase="Ready")
        )

    wait_for(metrics_ready, 20, "cluster-scoped series under namespace _cluster")
    assert series(operator, "dbops_instance_healthy", instance=shared, namespace="_cluster")[0].endswith(" 1.0")
    for ns in (ns_a, ns_b):
        assert series(operator, "dbops_user_info", namespace=ns, user="app"), f"the user of {ns} under {ns}"

    # Revoking the membership takes the access away again.
    kubectl("delete", "cdbg", f"{shared}-bob-reads", "--wait=true", "--timeout=60s")
    assert not await allowed(dev_env, reader, db_a, "SELECT * FROM facts")
    wait_for(
        lambda: not series(operator, "dbops_grant_info", grant=f"{shared}-bob-reads"), 20, "the grant's series dropped"
    )

    # A confirmed cascade of the cluster instance reaches into both namespaces and its cluster role.
    asked = cascade_delete(kubectl, shared)
    assert asked["children"] == sorted(
        [
            f"ClusterDatabaseRole/{shared}-readers",
            f"Database/{ns_a}/db",
            f"Database/{ns_b}/db",
            f"DatabaseUser/{ns_a}/app",
            f"DatabaseUser/{ns_b}/app",
        ]
    )
    for ns in (ns_a, ns_b):
        assert get(kubectl, "database", ns, "db") is None and get(kubectl, "databaseuser", ns, "app") is None
    check = await asyncpg.connect(
        host=pg.host, port=pg.port, user=pg.admin_user, password=pg.admin_password, database="postgres"
    )
    try:
        left = await check.fetchval(
            "SELECT count(*) FROM pg_roles WHERE rolname = ANY($1::text[])", [name_a, name_b, role_name]
        )
        assert left == 0
        assert (
            await check.fetchval("SELECT count(*) FROM pg_database WHERE datname = ANY($1::text[])", [db_a, db_b]) == 0
        )
    finally:
        await check.close()
