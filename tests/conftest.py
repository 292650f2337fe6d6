"""Shared fixtures: the real local environment (control plane + PostgreSQL + MariaDB), per-test namespaces, clients.

Layers are by directory: tests/unit needs nothing running; tests/integration and tests/e2e ask for `dev_env`, which
starts the tests' own environment once per run (profile `test` of hack/versions.sh: /tmp/dbops-test, ports 10000
above the demo's) or reuses a running one, and stops it at the end if it started it. The demo's environment
(`make demo`, /tmp/dbops-dev) is never touched. Set DBOPS_KEEP_ENV=1 to leave a started environment running.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from tests.support.controlplane import ControlPlane
from tests.support.env import DevEnv, ensure_environment, stop_environment

LAYERS = ("unit", "integration", "e2e", "faults")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with its layer, taken from the directory it lives in."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        for layer in LAYERS:
            if layer in parts:
                item.add_marker(getattr(pytest.mark, layer))
                break


@pytest.fixture(scope="session")
def dev_env() -> Iterator[DevEnv]:
    """The running local environment; started here when it is not up already."""
    try:
        env, started = ensure_environment()
    except RuntimeError as error:
        pytest.fail(str(error))
    yield env
    if started and not os.environ.get("DBOPS_KEEP_ENV"):
        stop_environment()


@pytest.fixture(scope="session")
def kubeconfig(dev_env: DevEnv) -> str:
    return dev_env.kubeconfig


Kubectl = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture(scope="session")
def kubectl(kubeconfig: str) -> Kubectl:
    """Run kubectl against the local control plane, as a user would."""

    def run(
        *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["kubectl", *args],
            input=input,
            text=True,
            capture_output=True,
            timeout=timeout,
            env={**os.environ, "KUBECONFIG": kubeconfig},
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    return run


@pytest.fixture(scope="session")
def control_plane(dev_env: DevEnv) -> ControlPlane:
    return ControlPlane(dev_env)


@pytest.fixture
async def api_client(kubeconfig: str) -> AsyncIterator[object]:
    """A kubernetes_asyncio ApiClient for the local control plane, closed after the test."""
    from kubernetes_asyncio import client, config

    configuration = client.Configuration()
    await config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    async with client.ApiClient(configuration) as api:
        yield api


@pytest.fixture
def namespace(request: pytest.FixtureRequest, kubectl: Kubectl) -> Iterator[str]:
    """A fresh namespace for one test, deleted (without waiting) afterwards."""
    stem = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"t-{stem}-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)
