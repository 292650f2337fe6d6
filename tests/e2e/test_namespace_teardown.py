"""Deleting a whole namespace cleans up its server objects: the admin Secret outlives its dependents.

Everything in a namespace is deleted at once. Without protection the admin Secret would go first and the Databases
and users (waiting in their finalizers) could not reach the server any more — after an operator restart they would
sit in DeleteFailed and the namespace would never finish (dbops.controllers.secret_protection).
"""

from __future__ import annotations

import json

import asyncpg

from tests.conftest import Kubectl
from tests.e2e.conftest import Operator, get, wait_for
from tests.e2e.test_database_user import database, phase, unique, user
from tests.e2e.test_instance import admin_secret, instance
from tests.support.env import DevEnv

FINALIZER = "dbops.dbprovision.io/instance-credentials"


def namespace_gone(kubectl: Kubectl, name: str) -> bool:
    return not kubectl("get", "namespace", name, "--ignore-not-found").stdout.strip()


async def server_counts(dev_env: DevEnv, db: str, username: str) -> tuple[int, int]:
    pg = dev_env.postgres
    conn = await asyncpg.connect(
        host=pg.host, port=pg.port, user=pg.superuser, password=pg.superuser_password, database="postgres"
    )
    try:
        databases = await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", db)
        roles = await conn.fetchval("SELECT count(*) FROM pg_roles WHERE rolname = $1", username)
        return int(databases), int(roles)
    finally:
        await conn.close()


async def test_namespace_deletion_drops_everything_on_the_server(
    kubectl: Kubectl, namespace: str, operator: Operator, dev_env: DevEnv
) -> None:
    db, username = unique("teardown"), unique("teardown")
    kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input="---\n".join(
            [admin_secret(dev_env), instance(dev_env, interval=30), database("app", db), user("app", username)]
        ),
    )
    wait_for(
        lambda: (
            phase(kubectl, "db", namespace, "app") == "Ready" and phase(kubectl, "dbu", namespace, "app") == "Ready"
        ),
        90,
        "database and user to become Ready",
    )
    secret = get(kubectl, "secret", namespace, "pg-admin") or {}
    assert FINALIZER in (secret.get("metadata") or {}).get("finalizers", []), "the admin Secret in use is protected"

    kubectl("delete", "namespace", namespace, "--wait=false")
    wait_for(lambda: namespace_gone(kubectl, namespace), 120, "the namespace to finish terminating", interval=2)
    assert await server_counts(dev_env, db, username) == (0, 0)


async def test_a_secret_deleted_while_in_use_stays_readable_until_its_instance_goes(
    kubectl: Kubectl, namespace: str, operator: Operator, dev_env: DevEnv
) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=admin_secret(dev_env) + "---\n" + instance(dev_env, interval=5))
    wait_for(lambda: phase(kubectl, "dbi", namespace, "pg") == "Ready", 60, "instance pg to become Ready")
    wait_for(
        lambda: (
            FINALIZER
            in ((get(kubectl, "secret", namespace, "pg-admin") or {}).get("metadata") or {}).get("finalizers", [])
        ),
        30,
        "the admin Secret to be protected",
    )
    kubectl("delete", "secret", "pg-admin", "-n", namespace, "--wait=false")
    terminating = get(kubectl, "secret", namespace, "pg-admin") or {}
    assert terminating["metadata"].get("deletionTimestamp")
    assert phase(kubectl, "dbi", namespace, "pg") == "Ready"

    kubectl("delete", "dbi", "pg", "-n", namespace, "--wait=false")
    wait_for(lambda: get(kubectl, "secret", namespace, "pg-admin") is None, 60, "the released Secret to go")
    wait_for(lambda: get(kubectl, "dbi", namespace, "pg") is None, 60, "the instance to go")


def test_a_secret_the_instance_no_longer_references_is_released(
    kubectl: Kubectl, namespace: str, operator: Operator, dev_env: DevEnv
) -> None:
    """Issue 13: moving `secretRef` to another Secret releases the old one (it was protected until the instance
    went), unless another instance still uses it."""

    def protected(name: str) -> bool:
        return FINALIZER in ((get(kubectl, "secret", namespace, name) or {}).get("metadata") or {}).get(
            "finalizers", []
        )

    manifests = [admin_secret(dev_env, "old-admin"), admin_secret(dev_env, "new-admin"), admin_secret(dev_env, "kept")]
    manifests += [instance(dev_env, "pg", secret="old-admin", interval=30)]
    manifests += [instance(dev_env, "second", secret="kept", interval=30), instance(dev_env, "third", "kept", 30)]
    kubectl("apply", "-n", namespace, "-f", "-", input="---\n".join(manifests))
    for name in ("pg", "second", "third"):
        wait_for(lambda n=name: phase(kubectl, "dbi", namespace, n) == "Ready", 60, f"instance {name} Ready")
    wait_for(lambda: protected("old-admin") and protected("kept"), 30, "both Secrets in use to be protected")

    for name, secret in (("pg", "new-admin"), ("second", "new-admin")):
        patch = json.dumps({"spec": {"connection": {"secretRef": {"name": secret}}}})
        kubectl("patch", "dbi", name, "-n", namespace, "--type=merge", "-p", patch)
    wait_for(lambda: protected("new-admin"), 30, "the new Secret to be protected")
    wait_for(lambda: not protected("old-admin"), 30, "the Secret no instance uses to be released")
    for name in ("pg", "second"):
        wait_for(
            lambda n=name: (get(kubectl, "dbi", namespace, n) or {}).get("status", {}).get("observedGeneration") == 2,
            30,
            f"instance {name} to reconcile its new spec",
        )
    assert protected("kept"), "instance third still uses it"
