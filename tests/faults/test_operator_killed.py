"""The operator killed -9 while 200 users are being created, then restarted (issue 13, fault 5).

Whatever instant the kill lands on — account created but no Secret yet, Secret written but no status, status half
way — the restarted process must converge every user to Ready with exactly one account and one Secret, and the
Secret's password must be the one the server accepts.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from typing import Any

from tests.conftest import Kubectl
from tests.e2e.conftest import wait_for
from tests.e2e.test_database_user import user
from tests.faults.conftest import (
    apply_postgres_instance,
    delete_partition_objects,
    labelled,
    phases,
    refused_logins,
    secret_credentials,
    start_operator,
    wait_instance_ready,
)
from tests.support.env import DevEnv

PARTITION = "fault-kill"
METRICS_PORT, PROBE_PORT = 18780, 18781
USERS = 200


async def test_killed_mid_creation_converges_with_one_account_and_one_matching_secret(
    kubectl: Kubectl, namespace: str, dev_env: DevEnv, crds: None, superuser: Any
) -> None:
    prefix = f"k{uuid.uuid4().hex[:6]}"
    names = [f"u{i:03d}" for i in range(USERS)]
    apply_postgres_instance(kubectl, namespace, dev_env, PARTITION)
    op = start_operator(dev_env, PARTITION, METRICS_PORT, PROBE_PORT, name=f"{PARTITION}-1")
    try:
        wait_instance_ready(kubectl, namespace)
        manifests = "---\n".join(labelled(user(n, f"{prefix}_{n}"), PARTITION) for n in names)
        # Created while the operator works on the first ones, so the kill lands in the middle of creations.
        applying = subprocess.Popen(  # noqa: ASYNC220 (the test drives blocking kubectl calls throughout)
            ["kubectl", "apply", "-n", namespace, "-f", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "KUBECONFIG": dev_env.kubeconfig},
            text=True,
        )
        assert applying.stdin is not None
        applying.stdin.write(manifests)
        applying.stdin.close()
        ready = wait_for(
            lambda: (n := sum(p == "Ready" for p in phases(kubectl, "dbu", namespace).values())) >= 5 and n,
            120,
            "the first users to become Ready",
            interval=0.1,
        )
        op.kill()
        assert applying.wait(timeout=180) == 0
        assert ready < USERS, "every user was Ready before the kill: the test proved nothing"
        op = start_operator(dev_env, PARTITION, METRICS_PORT, PROBE_PORT, name=f"{PARTITION}-2")
        wait_for(
            lambda: list(phases(kubectl, "dbu", namespace).values()).count("Ready") == USERS,
            300,
            f"all {USERS} users to become Ready after the restart",
        )
        accounts = await superuser.fetch("SELECT rolname FROM pg_roles WHERE rolname LIKE $1", f"{prefix}\\_%")
        assert sorted(r["rolname"] for r in accounts) == sorted(f"{prefix}_{n}" for n in names)
        credentials = secret_credentials(kubectl, namespace)
        assert sorted(credentials) == sorted(names)  # exactly one Secret per user
        assert all(username == f"{prefix}_{name}" for name, (username, _) in credentials.items())
        assert await refused_logins(dev_env, credentials) == []  # no password differs between Secret and server
    finally:
        delete_partition_objects(kubectl, namespace)
        op.stop()
        for (name,) in await superuser.fetch("SELECT rolname FROM pg_roles WHERE rolname LIKE $1", f"{prefix}\\_%"):
            await superuser.execute(f'DROP ROLE IF EXISTS "{name}"')
