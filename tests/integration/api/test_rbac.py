"""config/rbac on the real apiserver: the objects install, and the operator's ServiceAccount can do what
runtime.md section 9 lists and nothing beyond it (checked with `kubectl auth can-i --as`)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.api.conftest import REPO, Kubectl


@pytest.fixture
def installed_rbac(kubectl: Kubectl, tmp_path: Path, crds: list[str]) -> Iterator[tuple[str, str]]:
    """config/rbac applied with its own namespace and name prefix (as config/default does), removed afterwards."""
    suffix = uuid.uuid4().hex[:6]
    namespace, prefix = f"t-rbac-{suffix}", f"t-{suffix}-"
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    base = os.path.relpath(REPO / "config/rbac", overlay)  # kustomize refuses absolute paths to bases
    (overlay / "kustomization.yaml").write_text(
        f"namespace: {namespace}\nnamePrefix: {prefix}\nresources:\n  - {base}\n"
    )
    rendered = kubectl("kustomize", str(overlay)).stdout
    kubectl("create", "namespace", namespace)
    try:
        kubectl("apply", "-f", "-", input=rendered)
        yield namespace, prefix
    finally:
        kubectl("delete", "-f", "-", "--ignore-not-found", "--wait=false", input=rendered, check=False)
        kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def test_operator_service_account_has_exactly_the_needed_permissions(
    kubectl: Kubectl, installed_rbac: tuple[str, str]
) -> None:
    namespace, prefix = installed_rbac
    service_account = f"system:serviceaccount:{namespace}:{prefix}controller-manager"

    def can(verb: str, resource: str, ns: str | None = "default") -> bool:
        scope = ["-n", ns] if ns else []
        result = kubectl("auth", "can-i", verb, resource, f"--as={service_account}", *scope, check=False)
        return result.stdout.strip() == "yes"

    allowed = [
        ("create", "events", "default"),
        ("create", "events", namespace),  # runtime.md 9: `kubectl auth can-i create events ...` answers yes
        ("patch", "events", "default"),
        ("watch", "databaseinstances.dbops.dbprovision.io", "default"),
        ("patch", "databases.dbops.dbprovision.io/status", "default"),
        ("update", "databaseusers.dbops.dbprovision.io/finalizers", "default"),
        ("create", "databasebackups.dbops.dbprovision.io", "default"),
        ("delete", "databasebackups.dbops.dbprovision.io", "default"),
        ("create", "clusterdatabaseroles.dbops.dbprovision.io", None),
        ("delete", "clusterdatabasegrants.dbops.dbprovision.io", None),
        ("delete", "secrets", "default"),
        ("list", "configmaps", "default"),
        ("create", "tokenreviews.authentication.k8s.io", None),
        ("get", "leases.coordination.k8s.io", namespace),
        ("update", "leases.coordination.k8s.io", namespace),
    ]
    denied = [
        ("create", "databaseinstances.dbops.dbprovision.io", "default"),
        ("delete", "databaseinstances.dbops.dbprovision.io", "default"),
        ("delete", "databaserestores.dbops.dbprovision.io", "default"),
        ("create", "databasegrants.dbops.dbprovision.io", "default"),
        ("delete", "databasebackupschedules.dbops.dbprovision.io", "default"),
        ("create", "configmaps", "default"),
        ("get", "leases.coordination.k8s.io", "default"),
        ("delete", "leases.coordination.k8s.io", namespace),
        ("get", "pods", "default"),
        ("create", "customresourcedefinitions.apiextensions.k8s.io", None),
    ]
    assert [a for a in allowed if not can(*a)] == []
    assert [d for d in denied if can(*d)] == []


def test_namespaced_kinds_aggregate_into_the_builtin_roles(kubectl: Kubectl, installed_rbac: tuple[str, str]) -> None:
    _, prefix = installed_rbac
    labels = kubectl(
        "get", "clusterrole", f"{prefix}database-viewer-role", "-o", "jsonpath={.metadata.labels}"
    ).stdout  # fmt: skip
    assert '"rbac.authorization.k8s.io/aggregate-to-view":"true"' in labels
    cluster_kind = kubectl(
        "get", "clusterrole", f"{prefix}clusterdatabaseinstance-admin-role", "-o", "jsonpath={.metadata.labels}"
    ).stdout  # fmt: skip
    assert "aggregate-to" not in cluster_kind
