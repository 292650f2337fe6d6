"""Two operator processes with `--leader-elect`; the leader is killed -9 mid-reconcile (issue 13, fault 4).

The follower takes over within the lease duration (the dead leader never releases the Lease), nothing is applied
twice (one account, one Secret and one `Created` per user), and `leader_election_master_status` flips: 1 on the
leader and 0 on the follower before, 1 on the new leader and 0 on the restarted old one after.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from tests.conftest import Kubectl
from tests.e2e.conftest import Operator, events, wait_for
from tests.e2e.test_database_user import user
from tests.faults.conftest import (
    FaultOperator,
    apply_postgres_instance,
    delete_partition_objects,
    event_count,
    labelled,
    phases,
    refused_logins,
    secret_credentials,
    start_operator,
    wait_instance_ready,
)
from tests.support.env import DevEnv

PARTITION = "fault-leader"
LEASE = f"b0f91929-{PARTITION}.dbprovision.io"
LEASE_SECONDS, RENEW_SECONDS, RETRY_SECONDS = 8.0, 6.0, 1.0
ELECTION = [
    "--leader-elect=true",
    f"--leader-election-lease-duration={LEASE_SECONDS:g}s",
    f"--leader-election-renew-deadline={RENEW_SECONDS:g}s",
    f"--leader-election-retry-period={RETRY_SECONDS:g}s",
]
PORTS = {"a": (18784, 18785), "b": (18786, 18787)}
USERS = 30


def leading(op: Operator) -> float | None:
    """leader_election_master_status of the process for the partition's Lease (None: not reported yet)."""
    prefix = f'leader_election_master_status{{name="{LEASE}"}} '
    for line in op.metrics().splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    return None


def start(dev_env: DevEnv, replica: str, namespace: str) -> FaultOperator:
    """Replica a or b; the Lease lives in the test's namespace."""
    name = f"{PARTITION}-{replica}"
    return start_operator(dev_env, PARTITION, *PORTS[replica], *ELECTION, name=name, pod_namespace=namespace)


async def test_the_follower_takes_over_from_a_killed_leader_and_applies_nothing_twice(
    kubectl: Kubectl, namespace: str, dev_env: DevEnv, crds: None, superuser: Any
) -> None:
    prefix = f"l{uuid.uuid4().hex[:6]}"
    names = [f"u{i:02d}" for i in range(USERS)]
    apply_postgres_instance(kubectl, namespace, dev_env, PARTITION)
    running: list[FaultOperator] = []
    try:
        leader = start(dev_env, "a", namespace)
        running.append(leader)
        wait_for(lambda: leading(leader) == 1.0, 30, "replica a to lead")
        follower = start(dev_env, "b", namespace)
        running.append(follower)
        wait_for(lambda: leading(follower) == 0.0, 30, "replica b to report itself a follower")
        wait_instance_ready(kubectl, namespace)
        manifests = "---\n".join(labelled(user(n, f"{prefix}_{n}"), PARTITION) for n in names)
        kubectl("apply", "-n", namespace, "-f", "-", input=manifests, timeout=120)
        wait_for(
            lambda: sum(p == "Ready" for p in phases(kubectl, "dbu", namespace).values()) >= 1,
            60,
            "the leader to be reconciling",
            interval=0.1,
        )
        leader.kill()
        killed = time.monotonic()
        wait_for(lambda: leading(follower) == 1.0, LEASE_SECONDS + 10, "replica b to take over")
        took = time.monotonic() - killed
        # The Lease held by the dead leader expires after its duration; b retries every retry period.
        assert took <= LEASE_SECONDS + 2 * RETRY_SECONDS + 1, f"took over after {took:.1f}s"
        restarted = start(dev_env, "a", namespace)
        running.append(restarted)
        wait_for(lambda: leading(restarted) == 0.0, 30, "the restarted replica a to follow")
        wait_for(
            lambda: list(phases(kubectl, "dbu", namespace).values()).count("Ready") == USERS,
            120,
            "every user Ready under the new leader",
        )
        accounts = await superuser.fetch("SELECT rolname FROM pg_roles WHERE rolname LIKE $1", f"{prefix}\\_%")
        assert sorted(r["rolname"] for r in accounts) == sorted(f"{prefix}_{n}" for n in names)
        credentials = secret_credentials(kubectl, namespace)
        assert sorted(credentials) == sorted(names)
        assert await refused_logins(dev_env, credentials) == []
        # A user the dead leader finished is not touched again. One it left half way (account made, status not yet
        # written) is finished by the new leader, which says so: "Took over existing account" — the only second
        # Created, and only for the users that were in flight (4 workers).
        in_flight = []
        for name in names:
            created = [e["message"] for e in events(kubectl, namespace, name, "Created")]
            if len(created) > 1:
                assert len(created) == 2 and any(m.startswith("Took over existing account") for m in created), created
                in_flight.append(name)
            else:
                assert len(created) == 1 and event_count(kubectl, namespace, name, "Created") == 1, created
        assert len(in_flight) <= 4, in_flight
        assert leading(restarted) == 0.0 and leading(follower) == 1.0
    finally:
        delete_partition_objects(kubectl, namespace)
        for op in running:
            op.stop()
