"""Fixtures for the runtime's integration tests: a test-only CRD (the runtime knows nothing about dbops kinds), a
:class:`KubeClient`, and helpers to poll with deadlines."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from dbops.runtime.client import KubeClient, Resource

WIDGETS = Resource("runtime.test.dbops.io", "v1", "widgets", "Widget")
GADGETS = Resource("runtime.test.dbops.io", "v1", "gadgets", "Gadget", namespaced=False)

WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.runtime.test.dbops.io"},
    "spec": {
        "group": "runtime.test.dbops.io",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        },
                    }
                },
            }
        ],
    },
}


def _cluster_scoped(crd: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(crd))
    out["metadata"]["name"] = "gadgets.runtime.test.dbops.io"
    out["spec"]["scope"] = "Cluster"
    out["spec"]["names"] = {"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "listKind": "GadgetList"}
    return out


@pytest.fixture(scope="session")
def widgets_crd(kubectl: Any) -> Iterator[Resource]:
    """The namespaced ``Widget`` and cluster-scoped ``Gadget`` CRDs, installed once per run and removed afterwards."""
    names = ("widgets.runtime.test.dbops.io", "gadgets.runtime.test.dbops.io")
    for name in names:
        # A previous run's CRD may still be terminating (its removal does not wait); creating objects would fail.
        probe = kubectl("get", "crd", name, "-o", "jsonpath={.metadata.deletionTimestamp}", check=False)
        if probe.returncode == 0 and probe.stdout.strip():
            kubectl("wait", "--for=delete", f"crd/{name}", "--timeout=300s", timeout=320)
    for crd in (WIDGET_CRD, _cluster_scoped(WIDGET_CRD)):
        kubectl("apply", "-f", "-", input=json.dumps(crd))
    for name in names:
        kubectl("wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s")
    yield WIDGETS
    for name in names:
        kubectl("delete", "crd", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture
async def kube(api_client: Any, widgets_crd: Resource) -> AsyncIterator[KubeClient]:
    """A runtime client over the test's ApiClient (no client-side QPS limit: tests create objects in bursts)."""
    client = KubeClient(api_client.configuration, qps=0)
    # The discovery of a freshly established CRD can lag a moment behind the condition; wait until it is served.
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        try:
            await client.list(widgets_crd, "default", limit=1)
            await client.list(GADGETS, limit=1)
            break
        except Exception:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)
    yield client


def widget(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": WIDGETS.api_version,
        "kind": "Widget",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


async def eventually(
    check: Callable[[], Any | Awaitable[Any]], *, within: float = 30.0, interval: float = 0.1, what: str = ""
) -> Any:
    """Poll ``check`` until it returns a truthy value; fail with ``what`` after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last: Any = None
    while True:
        result = check()
        if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
            result = await result
        if result:
            return result
        last = result
        if loop.time() > deadline:
            raise AssertionError(f"not true within {within:g}s: {what or check} (last: {last!r})")
        await asyncio.sleep(interval)
