"""Fixtures for the API tests: the CRDs installed once per session, and one namespace for the whole module."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

Kubectl = Callable[..., subprocess.CompletedProcess[str]]

REPO = Path(__file__).resolve().parents[3]
GROUP = "dbops.dbprovision.io"


@pytest.fixture(scope="session")
def crds(kubectl: Kubectl) -> list[str]:
    """Install config/crd with server-side apply and wait until every CRD is Established."""
    kubectl("apply", "--server-side", "--force-conflicts", "-k", str(REPO / "config/crd"))
    names = [
        line.split("/", 1)[1]
        for line in kubectl("get", "crd", "-o", "name").stdout.split()
        if line.endswith(f".{GROUP}")
    ]
    kubectl("wait", "--for=condition=Established", "--timeout=60s", *[f"crd/{n}" for n in names])
    return names


@pytest.fixture(scope="module")
def api_namespace(kubectl: Kubectl, crds: list[str]) -> Iterator[str]:
    """One namespace for a module's tests; they use dry runs or unique object names, so they do not interfere."""
    name = f"t-api-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)
