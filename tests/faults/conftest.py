"""The fault suite (issue 13): the operator process against the real parts while something breaks — the API server
restarts, etcd compacts, a database server stops, the leader is killed, the operator is killed mid-run.

Every test runs its own operator process(es) in a partition of its own (`--instance-id`, behaviour.md 14) and labels
its objects for it, so it can kill and restart them without touching the e2e package's operator, and asserts
convergence, exact event counts and no duplicate side effects on the server.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from tests.conftest import Kubectl
from tests.e2e.conftest import Operator, _ready, crds, wait_for  # noqa: F401 (crds is a fixture)
from tests.e2e.test_database_user import superuser  # noqa: F401 (a fixture)
from tests.e2e.test_instance import admin_secret, instance
from tests.e2e.test_quiet_resync import labelled
from tests.support.env import REPO_ROOT, DevEnv

__all__ = ["FaultOperator", "labelled", "phases", "start_operator"]


@dataclass
class FaultOperator(Operator):
    """An operator process a test may kill (-9) and restart; its log is kept across restarts."""

    probe_port: int = 0

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, no Lease is released — as when a node dies."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_operator(
    dev_env: DevEnv, instance_id: str, metrics_port: int, probe_port: int, *extra: str, name: str | None = None,
    wait_ready: bool = True, pod_namespace: str = "dbops-system",
) -> FaultOperator:  # fmt: skip
    """`python -m dbops --instance-id <id>` on its own ports, appending to <run dir>/operator-<name>.log; its own
    namespace (the Lease's, with --leader-elect) is `pod_namespace`."""
    log = dev_env.run_dir / f"operator-{name or instance_id}.log"
    handle = log.open("ab")
    command = [
        sys.executable, "-m", "dbops", "--kubeconfig", dev_env.kubeconfig,
        "--metrics-bind-address", f"127.0.0.1:{metrics_port}", "--health-probe-bind-address", f"127.0.0.1:{probe_port}",
        "--log-level", "debug", "--instance-id", instance_id, *extra,
    ]  # fmt: skip
    env = {**os.environ, "POD_NAMESPACE": pod_namespace, "POD_NAME": name or instance_id}
    process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, cwd=REPO_ROOT, env=env)
    handle.close()
    running = FaultOperator(process, log, metrics_port, probe_port=probe_port)
    if wait_ready:
        wait_for(lambda: _ready(probe_port) or process.poll() is not None, 60, "the operator's /readyz")
        if process.poll() is not None:
            pytest.fail(f"the operator exited with {process.returncode}:\n{running.log_text()[-4000:]}")
    return running


def apply_postgres_instance(kubectl: Kubectl, namespace: str, dev_env: DevEnv, partition: str) -> None:
    """The admin Secret and PostgreSQL instance `pg` of `partition` in `namespace` (Ready once its operator runs:
    `wait_instance_ready`)."""
    setup = admin_secret(dev_env) + "---\n" + labelled(instance(dev_env, interval=30), partition)
    kubectl("apply", "-n", namespace, "-f", "-", input=setup)


def wait_instance_ready(kubectl: Kubectl, namespace: str) -> None:
    wait_for(lambda: phases(kubectl, "dbi", namespace).get("pg") == "Ready", 60, "the instance")


def phases(kubectl: Kubectl, kind: str, namespace: str) -> dict[str, str]:
    """name -> status.phase of every `kind` object in `namespace` (one list call)."""
    items = json.loads(kubectl("get", kind, "-n", namespace, "-o", "json").stdout)["items"]
    return {i["metadata"]["name"]: (i.get("status") or {}).get("phase") or "" for i in items}


def event_count(kubectl: Kubectl, namespace: str, name: str, reason: str) -> int:
    """How many times `reason` was emitted about `name` (aggregated Events count each repeat)."""
    selector = f"involvedObject.name={name},reason={reason}"
    items = json.loads(kubectl("get", "events", "-n", namespace, "--field-selector", selector, "-o", "json").stdout)
    return sum(int(e.get("count") or 1) for e in items["items"])


def delete_partition_objects(kubectl: Kubectl, namespace: str) -> None:
    """Delete the test's objects while their partition's operator still runs (their finalizers need it)."""
    for kind in ("dbg", "dbr", "db", "dbu", "dbi"):
        kubectl("delete", kind, "--all", "-n", namespace, "--wait=false", check=False)
    for kind in ("dbg", "dbr", "db", "dbu", "dbi"):
        kubectl("wait", "--for=delete", kind, "--all", "-n", namespace, "--timeout=120s", check=False, timeout=150)


async def refused_logins(dev_env: DevEnv, credentials: dict[str, tuple[str, str]]) -> list[str]:
    """The users whose Secret's username and password the server refuses (8 logins at a time)."""
    pg, limit, refused = dev_env.postgres, asyncio.Semaphore(8), []

    async def one(name: str, username: str, password: str) -> None:
        async with limit:
            try:
                conn = await asyncpg.connect(
                    host=pg.host, port=pg.port, user=username, password=password, database="postgres"
                )
            except asyncpg.InvalidPasswordError:
                refused.append(name)
                return
            await conn.close()

    await asyncio.gather(*(one(name, *pair) for name, pair in credentials.items()))
    return sorted(refused)


def secret_credentials(kubectl: Kubectl, namespace: str) -> dict[str, tuple[str, str]]:
    """DatabaseUser name -> (username, password) from the managed Secrets in `namespace`."""
    listing = json.loads(
        kubectl("get", "secrets", "-n", namespace, "-l", "dbops.dbprovision.io/user", "-o", "json").stdout
    )
    out: dict[str, tuple[str, str]] = {}
    for secret in listing["items"]:
        owner = secret["metadata"]["labels"]["dbops.dbprovision.io/user"]
        data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
        assert owner not in out, f"two Secrets for user {owner}"
        out[owner] = (data["username"], data["password"])
    return out


async def eventually(fetch: Callable[[], Awaitable[Any]], expected: Any, seconds: float, what: str) -> Any:
    """Poll an async read (a catalog query) until it returns `expected`; fail naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while (value := await fetch()) != expected:
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {seconds}s waiting for {what} (last value {value!r})")
        await asyncio.sleep(0.5)
    return value
