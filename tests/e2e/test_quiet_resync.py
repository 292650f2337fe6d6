"""A converged object is quiet (issue 5): over a window of resyncs, no API writes and no events.

The session's `operator` (instance id `default`) keeps running; this test starts a SECOND operator process with
`--instance-id quiet --sync-period 5s` and labels its objects for that partition (behaviour.md 14), so exactly one
process reconciles them and several full resyncs happen within the window. Writes are counted from that process's own
`rest_client_requests_total` (POST, PUT, PATCH and DELETE); events and resourceVersions are read from the apiserver.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.conftest import Kubectl
from tests.e2e.conftest import Operator, events, get, running_operator, wait_for
from tests.e2e.test_database_user import database, unique, user
from tests.e2e.test_instance import admin_secret, instance
from tests.support.env import DevEnv

PARTITION_LABEL = "dbops.dbprovision.io/operator-instance-id"
QUIET_METRICS_PORT = int(os.environ.get("DBOPS_E2E_QUIET_METRICS_PORT", "18580"))
QUIET_PROBE_PORT = int(os.environ.get("DBOPS_E2E_QUIET_PROBE_PORT", "18581"))
WINDOW_SECONDS = 22.0


@contextmanager
def partition_operator(
    dev_env: DevEnv, instance_id: str, metrics_port: int, probe_port: int, *extra: str
) -> Iterator[Operator]:
    """`python -m dbops --instance-id <id>` on its own ports; the log goes to <run dir>/operator-<id>.log."""
    args = ("--instance-id", instance_id, *extra)
    with running_operator(dev_env, metrics_port, probe_port, *args, log_name=f"operator-{instance_id}.log") as op:
        yield op


def labelled(manifest: str, instance_id: str) -> str:
    """Add the partition label to a manifest written as `metadata: {name: ...}` by the shared helpers."""
    out, count = re.subn(
        r"metadata: \{name: ([^,}]+)\}",
        rf"metadata: {{name: \1, labels: {{{PARTITION_LABEL}: {instance_id}}}}}",
        manifest,
    )
    assert count == manifest.count("metadata:"), manifest
    return out


def delete_all(kubectl: Kubectl, namespace: str) -> None:
    """Delete the operator's objects in `namespace` and wait, while the partition's operator still runs: labelled
    objects left to the namespace's deletion would keep their finalizers (and the namespace) forever."""
    for kind in ("db", "dbu", "dbi"):
        kubectl("delete", kind, "--all", "-n", namespace, "--wait=false", check=False)
    for kind in ("db", "dbu", "dbi"):
        kubectl("wait", "--for=delete", kind, "--all", "-n", namespace, "--timeout=90s", check=False, timeout=120)


@pytest.fixture
def quiet_operator(dev_env: DevEnv, crds: None, kubectl: Kubectl, namespace: str) -> Iterator[Operator]:
    try:
        with partition_operator(dev_env, "quiet", QUIET_METRICS_PORT, QUIET_PROBE_PORT, "--sync-period", "5s") as op:
            yield op
            delete_all(kubectl, namespace)
    except RuntimeError as error:
        pytest.fail(str(error))


def phase(kubectl: Kubectl, kind: str, namespace: str, name: str) -> Any:
    return ((get(kubectl, kind, namespace, name) or {}).get("status") or {}).get("phase")


def versions(kubectl: Kubectl, namespace: str, objects: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    return {
        (k, n): ((get(kubectl, k, namespace, n) or {}).get("metadata") or {}).get("resourceVersion", "")
        for k, n in objects
    }


def test_a_converged_instance_database_and_user_cause_no_writes_over_resyncs(
    kubectl: Kubectl, namespace: str, dev_env: DevEnv, quiet_operator: Operator
) -> None:
    username = unique("quiet")
    manifests = "---\n".join(
        [
            admin_secret(dev_env),
            labelled(instance(dev_env, interval=5), "quiet"),
            labelled(database("quiet", unique("quiet")), "quiet"),
            labelled(user("quiet", username), "quiet"),
        ]
    )
    kubectl("apply", "-n", namespace, "-f", "-", input=manifests)
    wait_for(
        lambda: all(
            phase(kubectl, k, namespace, n) == "Ready" for k, n in (("dbi", "pg"), ("db", "quiet"), ("dbu", "quiet"))
        ),
        90,
        "instance, database and user to become Ready",
    )
    secret = username.replace("_", "-") + "-credentials"
    objects = [("dbi", "pg"), ("db", "quiet"), ("dbu", "quiet"), ("secret", secret)]
    # Converged: a full resync after Ready has happened (so creation-time writes are over) and changed nothing.
    start = {c: quiet_operator.reconciles(c) for c in ("database", "databaseuser")}
    wait_for(lambda: all(quiet_operator.reconciles(c) >= s + 1 for c, s in start.items()), 30, "a resync after Ready")
    assert quiet_operator.process.poll() is None, quiet_operator.log_text()[-3000:]

    writes_before = quiet_operator.writes()
    assert writes_before > 0, "the write counter is read (creation wrote finalizers, status and the Secret)"
    versions_before = versions(kubectl, namespace, objects)
    events_before = {n: events(kubectl, namespace, n) for n in ("pg", "quiet", secret)}
    reconciles_before = {c: quiet_operator.reconciles(c) for c in ("databaseinstance", "database", "databaseuser")}
    time.sleep(WINDOW_SECONDS)  # the measured window: resyncs every 5 s, health checks every 5 s
    # An event emitted in the window but still queued in the operator would be neither counted nor listed yet.
    quiet_operator.wait_events_written(quiet_operator.log_size())

    reconciled = {c: quiet_operator.reconciles(c) - s for c, s in reconciles_before.items()}
    assert reconciled["database"] >= 3 and reconciled["databaseuser"] >= 3, (
        f"too few resyncs in the window: {reconciled}"
    )
    versions_after = versions(kubectl, namespace, objects)
    changed = {
        o: kubectl("get", o[0], o[1], "-n", namespace, "-o", "json")
        for o in objects
        if versions_after[o] != versions_before[o]
    }
    assert quiet_operator.writes() - writes_before == 0, (
        f"API writes in a converged window: {quiet_operator.requests_by_method()}; changed objects: {changed}; "
        f"last writes: {[w for w in quiet_operator.log_text().splitlines() if 'kubernetes API write' in w][-4:]}"
    )
    assert versions_after == versions_before
    assert {n: events(kubectl, namespace, n) for n in ("pg", "quiet", secret)} == events_before
