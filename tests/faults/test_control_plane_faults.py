"""The control plane fails under a running operator (issue 13, faults 1 and 2).

* kube-apiserver restarted while users are being created: every user converges, with one account and one Secret
  whose password the server accepts, and users created after it returns converge too;
* etcd compacted while the operator is frozen (SIGSTOP) and the world changes behind its back, then the API server
  restarted: every resumed watch is answered with 410 Gone, the operator relists, applies exactly the changes it
  missed (a deleted Secret, a changed spec, a new user, a deleted user) and does nothing to the rest — no event, no
  Secret write, no password change.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid
from typing import Any

from tests.conftest import Kubectl
from tests.e2e.conftest import wait_for
from tests.e2e.test_database_user import user
from tests.faults.conftest import (
    apply_postgres_instance,
    delete_partition_objects,
    event_count,
    eventually,
    labelled,
    phases,
    refused_logins,
    secret_credentials,
    start_operator,
    wait_instance_ready,
)
from tests.support.controlplane import ControlPlane
from tests.support.env import DevEnv

METRICS_PORT, PROBE_PORT = 18788, 18789


def ready_count(kubectl: Kubectl, namespace: str) -> int:
    return list(phases(kubectl, "dbu", namespace).values()).count("Ready")


async def accounts(superuser: Any, prefix: str) -> list[str]:
    rows = await superuser.fetch("SELECT rolname FROM pg_roles WHERE rolname LIKE $1", f"{prefix}\\_%")
    return sorted(r["rolname"] for r in rows)


async def test_apiserver_restart_while_users_are_created(
    kubectl: Kubectl, namespace: str, dev_env: DevEnv, crds: None, superuser: Any, control_plane: ControlPlane
) -> None:
    partition, prefix = "fault-restart", f"r{uuid.uuid4().hex[:6]}"
    first, later = [f"a{i:02d}" for i in range(80)], [f"b{i:02d}" for i in range(10)]
    apply_postgres_instance(kubectl, namespace, dev_env, partition)
    op = start_operator(dev_env, partition, METRICS_PORT, PROBE_PORT)
    try:
        wait_instance_ready(kubectl, namespace)
        manifests = "---\n".join(labelled(user(n, f"{prefix}_{n}"), partition) for n in first)
        # Still being created when the API server goes away: the restart lands in the middle of reconciles.
        applying = subprocess.Popen(  # noqa: ASYNC220 (the test drives blocking kubectl calls throughout)
            ["kubectl", "apply", "-n", namespace, "-f", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "KUBECONFIG": dev_env.kubeconfig},
            text=True,
        )
        assert applying.stdin is not None
        applying.stdin.write(manifests)
        applying.stdin.close()
        wait_for(lambda: ready_count(kubectl, namespace) >= 1, 60, "the first user Ready", interval=0.1)
        control_plane.restart_apiserver()
        applying.wait(timeout=120)  # it may have failed part way while the API server was down
        assert ready_count(kubectl, namespace) < len(first), "all were Ready at the restart: nothing proven"
        # What the interrupted apply did not create is created now, with users that are new after the restart.
        manifests = "---\n".join(labelled(user(n, f"{prefix}_{n}"), partition) for n in first + later)
        kubectl("apply", "-n", namespace, "-f", "-", input=manifests, timeout=120)
        wait_for(lambda: ready_count(kubectl, namespace) == len(first) + len(later), 180, "every user Ready")
        assert await accounts(superuser, prefix) == sorted(f"{prefix}_{n}" for n in first + later)
        credentials = secret_credentials(kubectl, namespace)
        assert sorted(credentials) == sorted(first + later)  # one Secret per user
        assert await refused_logins(dev_env, credentials) == []
        for name in later:
            assert event_count(kubectl, namespace, name, "Created") == 1, name
    finally:
        delete_partition_objects(kubectl, namespace)
        op.stop()


async def test_compaction_410_relist_applies_exactly_the_missed_changes(
    kubectl: Kubectl, namespace: str, dev_env: DevEnv, crds: None, superuser: Any, control_plane: ControlPlane
) -> None:
    partition, prefix = "fault-410", f"c{uuid.uuid4().hex[:6]}"
    names = [f"u{i}" for i in range(8)]
    apply_postgres_instance(kubectl, namespace, dev_env, partition)
    op = start_operator(dev_env, partition, METRICS_PORT, PROBE_PORT)
    try:
        wait_instance_ready(kubectl, namespace)
        manifests = "---\n".join(labelled(user(n, f"{prefix}_{n}"), partition) for n in names)
        kubectl("apply", "-n", namespace, "-f", "-", input=manifests)
        wait_for(lambda: ready_count(kubectl, namespace) == len(names), 90, "every user Ready")
        before = secret_credentials(kubectl, namespace)
        secrets_before = {
            s["metadata"]["name"]: s["metadata"]["resourceVersion"]
            for s in json.loads(kubectl("get", "secrets", "-n", namespace, "-o", "json").stdout)["items"]
        }
        relists = len(op.records("watch expired; relisting"))

        op.process.send_signal(signal.SIGSTOP)  # frozen: its watches keep their old resourceVersions
        try:
            kubectl("delete", "secret", "-n", namespace, f"{prefix}-u0-credentials")
            patch = json.dumps({"spec": {"postgres": {"connectionLimit": 7}}})
            kubectl("patch", "dbu", "u1", "-n", namespace, "--type=merge", "-p", patch)
            kubectl("delete", "dbu", "u2", "-n", namespace, "--wait=false")
            kubectl("apply", "-n", namespace, "-f", "-", input=labelled(user("u8", f"{prefix}_u8"), partition))
            control_plane.compact_etcd()
            control_plane.restart_apiserver()  # a fresh watch cache: only a relist can serve the old versions
        finally:
            op.process.send_signal(signal.SIGCONT)

        wait_for(lambda: len(op.records("watch expired; relisting")) > relists, 60, "the resumed watches to get 410")
        wait_for(lambda: phases(kubectl, "dbu", namespace).get("u8") == "Ready", 60, "the new user")
        wait_for(lambda: "u2" not in phases(kubectl, "dbu", namespace), 60, "the deleted user to be finalized")
        wait_for(lambda: event_count(kubectl, namespace, "u0", "SecretRegenerated") == 1, 60, "u0's new Secret")
        limit = await eventually(
            lambda: superuser.fetchval("SELECT rolconnlimit FROM pg_roles WHERE rolname = $1", f"{prefix}_u1"),
            7,
            60,
            "u1's new connection limit on the server",
        )
        assert limit == 7

        assert await accounts(superuser, prefix) == sorted(f"{prefix}_{n}" for n in [*names, "u8"] if n != "u2")
        # u2's Secret goes with it (owner reference: the garbage collector removes it after the user).
        wait_for(lambda: "u2" not in secret_credentials(kubectl, namespace), 60, "u2's Secret to be collected")
        after = secret_credentials(kubectl, namespace)
        assert await refused_logins(dev_env, after) == []
        assert after["u0"][1] != before["u0"][1]  # regenerated
        assert await refused_logins(dev_env, {"u0": before["u0"]}) == ["u0"]  # the old password stopped working
        untouched = [n for n in names if n not in ("u0", "u1", "u2")]
        secrets_after = {
            s["metadata"]["name"]: s["metadata"]["resourceVersion"]
            for s in json.loads(kubectl("get", "secrets", "-n", namespace, "-o", "json").stdout)["items"]
        }
        for name in untouched:
            secret = f"{prefix}-{name}-credentials"
            assert secrets_after[secret] == secrets_before[secret], f"{secret} was rewritten"
            assert after[name] == before[name], name
            assert event_count(kubectl, namespace, name, "Created") == 1, name
            assert event_count(kubectl, namespace, name, "SecretRegenerated") == 0, name
        assert event_count(kubectl, namespace, "u8", "Created") == 1
    finally:
        delete_partition_objects(kubectl, namespace)
        op.stop()
