"""DatabaseInstance end to end: the operator process, the real API server and the real PostgreSQL."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.conftest import Kubectl
from tests.e2e.conftest import Operator, condition, events, get, wait_for
from tests.support.env import DevEnv, hack


def admin_secret(dev_env: DevEnv, name: str = "pg-admin") -> str:
    pg = dev_env.postgres
    return f"""apiVersion: v1
kind: Secret
metadata: {{name: {name}}}
type: Opaque
data:
  username: {base64.b64encode(pg.admin_user.encode()).decode()}
  password: {base64.b64encode(pg.admin_password.encode()).decode()}
"""


def instance(dev_env: DevEnv, name: str = "pg", secret: str = "pg-admin", interval: int = 5) -> str:
    return f"""apiVersion: dbops.dbprovision.io/v1alpha1
kind: DatabaseInstance
metadata: {{name: {name}}}
spec:
  engine: postgres
  connection:
    host: 127.0.0.1
    port: {dev_env.postgres.port}
    secretRef: {{name: {secret}}}
  postgres: {{sslMode: require}}
  healthCheck: {{intervalSeconds: {interval}, timeoutSeconds: 5}}
  deletionProtection: false
"""


def reasons(kubectl: Kubectl, namespace: str, name: str) -> list[str]:
    return sorted(e["reason"] for e in events(kubectl, namespace, name) for _ in range(e.get("count") or 1))


def phase(kubectl: Kubectl, namespace: str, name: str) -> Any:
    return ((get(kubectl, "dbi", namespace, name) or {}).get("status") or {}).get("phase")


def test_instance_becomes_ready_and_reports_the_server_version(
    kubectl: Kubectl, namespace: str, operator: Operator, dev_env: DevEnv
) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=admin_secret(dev_env) + "---\n" + instance(dev_env))
    wait_for(lambda: phase(kubectl, namespace, "pg") == "Ready", 60, "instance pg to become Ready")
    obj = get(kubectl, "dbi", namespace, "pg")
    assert obj is not None
    assert obj["status"]["version"].startswith("15.")
    assert obj["metadata"]["finalizers"] == ["dbops.dbprovision.io/instance-protection"]
    for ctype, reason in (
        ("Connected", "ConnectionSuccess"),
        ("Healthy", "HealthCheckPassed"),
        ("Ready", "ReconcileSuccess"),
    ):
        cond = condition(obj, ctype)
        assert (cond["status"], cond["reason"]) == ("True", reason)
        assert cond["observedGeneration"] == obj["metadata"]["generation"]
    assert reasons(kubectl, namespace, "pg") == ["Connected"], "the first success emits only Connected"
    columns = kubectl("get", "dbi", "-n", namespace, "pg").stdout
    assert "Ready" in columns and obj["status"]["version"] in columns

    metrics = operator.metrics()
    assert f'dbops_instance_healthy{{engine="postgres",instance="pg",namespace="{namespace}"}} 1.0' in metrics
    assert (
        f'dbops_connection_attempts_total{{engine="postgres",instance="pg",namespace="{namespace}",status="success"}}'
        in metrics
    )


def test_missing_secret_fails_once_then_recovers_when_it_appears(
    kubectl: Kubectl, namespace: str, operator: Operator, dev_env: DevEnv
) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=instance(dev_env, secret="late"))
    wait_for(lambda: phase(kubectl, namespace, "pg") == "Failed", 60, "instance pg to fail")
    obj = get(kubectl, "dbi", namespace, "pg")
    assert condition(obj, "Connected")["reason"] == "CredentialsError"
    assert condition(obj, "Connected")["message"].startswith("CredentialsUnavailable: ")
    wait_for(lambda: len(reasons(kubectl, namespace, "pg")) >= 2, 30, "the failure events")
    kubectl("apply", "-n", namespace, "-f", "-", input=admin_secret(dev_env, "late"))
    wait_for(lambda: phase(kubectl, namespace, "pg") == "Ready", 60, "instance pg to recover")
    wait_for(lambda: "HealthCheckPassed" in reasons(kubectl, namespace, "pg"), 30, "HealthCheckPassed")
    assert reasons(kubectl, namespace, "pg") == sorted(
        ["ConnectionFailed", "HealthCheckFailed", "Connected", "HealthCheckPassed"]
    )


def test_server_outage_gives_one_failure_pair_and_one_recovery_pair(
    kubectl: Kubectl, namespace: str, operator: Operator, dev_env: DevEnv
) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=admin_secret(dev_env) + "---\n" + instance(dev_env))
    wait_for(lambda: phase(kubectl, namespace, "pg") == "Ready", 60, "instance pg to become Ready")
    hack("postgres.sh", "stop")
    try:
        wait_for(lambda: phase(kubectl, namespace, "pg") == "Failed", 60, "instance pg to notice the outage")
        obj = get(kubectl, "dbi", namespace, "pg")
        assert condition(obj, "Connected")["message"].startswith("Unreachable: ")
        # Several checks fail during the outage (5 s, then backoff); none may add an event.
        first = reasons(kubectl, namespace, "pg")
        wait_for(lambda: _checks_since(operator, namespace) >= 2, 60, "more failed checks")
        assert (
            reasons(kubectl, namespace, "pg") == first == sorted(["Connected", "ConnectionFailed", "HealthCheckFailed"])
        )
    finally:
        hack("postgres.sh", "start")
    wait_for(lambda: phase(kubectl, namespace, "pg") == "Ready", 90, "instance pg to recover")
    wait_for(lambda: "HealthCheckPassed" in reasons(kubectl, namespace, "pg"), 30, "HealthCheckPassed")
    assert reasons(kubectl, namespace, "pg") == sorted(
        ["Connected", "ConnectionFailed", "HealthCheckFailed", "Connected", "HealthCheckPassed"]
    )
    reconnected = [e["message"] for e in events(kubectl, namespace, "pg", "Connected")]
    assert any(m.startswith("Reconnected to postgres") for m in reconnected)


_seen: dict[str, float] = {}


def _checks_since(operator: Operator, namespace: str) -> int:
    """Failed connection attempts recorded for instance pg in `namespace` since the first call for it."""
    metric = (
        f'dbops_connection_attempts_total{{engine="postgres",instance="pg",namespace="{namespace}",status="failure"}} '
    )
    value = next((float(line.split()[-1]) for line in operator.metrics().splitlines() if line.startswith(metric)), 0.0)
    start = _seen.setdefault(namespace, value)
    return int(value - start)


def test_deletion_protection_blocks_until_force_delete(
    kubectl: Kubectl, namespace: str, operator: Operator, dev_env: DevEnv
) -> None:
    manifest = instance(dev_env).replace("deletionProtection: false", "deletionProtection: true")
    kubectl("apply", "-n", namespace, "-f", "-", input=admin_secret(dev_env) + "---\n" + manifest)
    wait_for(lambda: phase(kubectl, namespace, "pg") == "Ready", 60, "instance pg to become Ready")
    kubectl("delete", "dbi", "pg", "-n", namespace, "--wait=false")
    wait_for(
        lambda: condition(get(kubectl, "dbi", namespace, "pg"), "Ready").get("reason") == "DeletionProtected",
        30,
        "DeletionProtected",
    )
    blocked = events(kubectl, namespace, "pg", "DeletionBlocked")
    assert len(blocked) == 1 and "spec.deletionProtection=false" in blocked[0]["message"]
    kubectl("annotate", "dbi", "pg", "-n", namespace, "dbops.dbprovision.io/force-delete=true")
    wait_for(lambda: get(kubectl, "dbi", namespace, "pg") is None, 30, "instance pg to be deleted")


@pytest.mark.parametrize("annotation", ["skip-reconcile", "pause-reconcile"])
def test_skip_reconcile_leaves_the_object_alone(
    kubectl: Kubectl, namespace: str, operator: Operator, dev_env: DevEnv, annotation: str
) -> None:
    manifest = instance(dev_env).replace(
        "metadata: {name: pg}", f'metadata: {{name: pg, annotations: {{dbops.dbprovision.io/{annotation}: "true"}}}}'
    )
    kubectl("apply", "-n", namespace, "-f", "-", input=admin_secret(dev_env) + "---\n" + manifest)
    kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input=admin_secret(dev_env, "marker") + "---\n" + instance(dev_env, "marker"),
    )
    wait_for(lambda: phase(kubectl, namespace, "marker") == "Ready", 60, "a second instance to become Ready")
    obj = get(kubectl, "dbi", namespace, "pg")
    assert obj is not None and "status" not in obj and not obj["metadata"].get("finalizers")
    kubectl("annotate", "dbi", "pg", "-n", namespace, f"dbops.dbprovision.io/{annotation}-")
    wait_for(lambda: phase(kubectl, namespace, "pg") == "Ready", 60, "pg to be reconciled once the annotation is gone")
