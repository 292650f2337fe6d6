"""A new leader rebuilds status-derived gauges before reconciling (observability.md 2.2)."""

from __future__ import annotations

import json

from tests.conftest import Kubectl
from tests.e2e.conftest import running_operator, wait_for
from tests.e2e.test_instance import admin_secret, instance
from tests.support.env import DevEnv

PARTITION = "rebuild-test"


def test_paused_instance_is_shown_from_its_stored_status(
    kubectl: Kubectl, namespace: str, dev_env: DevEnv, crds: None
) -> None:
    manifest = instance(dev_env).replace(
        "metadata: {name: pg}",
        "metadata: {name: pg, labels: {dbops.dbprovision.io/operator-instance-id: "
        + PARTITION
        + '}, annotations: {dbops.dbprovision.io/skip-reconcile: "true"}}',
    )
    kubectl("apply", "-n", namespace, "-f", "-", input=admin_secret(dev_env) + "---\n" + manifest)
    status = {
        "status": {
            "phase": "Ready",
            "version": "15.99",
            "lastCheckedAt": "2026-01-02T03:04:05Z",
            "conditions": [
                {
                    "type": "Healthy",
                    "status": "True",
                    "reason": "HealthCheckPassed",
                    "message": "ok",
                    "lastTransitionTime": "2026-01-02T03:04:05Z",
                },
            ],
        }
    }
    kubectl("patch", "dbi", "pg", "-n", namespace, "--subresource=status", "--type=merge", "-p", json.dumps(status))

    with running_operator(dev_env, 18880, 18881, "--instance-id", PARTITION, log_name="operator-rebuild.log") as op:
        text = op.metrics()
        # Followed from the informer stream on the leader: a paused object created now is counted at once...
        late = manifest.replace("name: pg,", "name: late,")
        kubectl("apply", "-n", namespace, "-f", "-", input=late)
        pending = f'dbops_resource_count{{namespace="{namespace}",phase="Pending",resource_type="DatabaseInstance"}}'
        wait_for(lambda: f"{pending} 1.0" in op.metrics(), 30, "the paused instance to be counted")
        # ...and its series go when it is deleted (never reconciled, it has no finalizer and goes at once).
        kubectl("delete", "dbi", "late", "-n", namespace)
        wait_for(lambda: 'instance="late"' not in op.metrics(), 60, "the deleted instance's series to go")
    labels = f'engine="postgres",instance="pg",namespace="{namespace}"'
    assert f"dbops_instance_healthy{{{labels}}} 1.0" in text
    assert f"dbops_instance_last_health_check_timestamp_seconds{{{labels}}} 1.767323045e+09" in text
    info = (
        f'dbops_instance_info{{engine="postgres",host="127.0.0.1",instance="pg",namespace="{namespace}",'
        f'phase="Ready",port="{dev_env.postgres.port}",version="15.99"}} 1.0'
    )
    assert info in text
    assert f'dbops_resource_count{{namespace="{namespace}",phase="Ready",resource_type="DatabaseInstance"}} 1.0' in text
    # Paused: the operator wrote nothing (the stored status is the one patched above).
    stored = json.loads(kubectl("get", "dbi", "pg", "-n", namespace, "-o", "json").stdout)
    assert stored["status"]["version"] == "15.99" and "reconcileID" not in stored["status"]
