"""Events written to the real API server, read back the way users read them (kubectl)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from dbops.runtime.client import KubeClient
from dbops.runtime.events import EventBroadcaster
from tests.integration.runtime.conftest import GADGETS, WIDGETS, widget


@contextlib.asynccontextmanager
async def broadcaster(kube: KubeClient, **kw: Any) -> AsyncIterator[EventBroadcaster]:
    b = EventBroadcaster(kube, reporting_instance="runtime-test-pod", **kw)
    task = asyncio.create_task(b.run())
    try:
        yield b
    finally:
        await b.flush(5)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def events(kubectl: Any, namespace: str, selector: str) -> list[dict[str, Any]]:
    out = kubectl("get", "events", "-n", namespace, "--field-selector", selector, "-o", "json").stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


async def test_repeated_event_aggregates_into_one_object_with_count(
    kube: KubeClient, namespace: str, kubectl: Any
) -> None:
    obj = await kube.create(WIDGETS, widget("agg", namespace))
    # The per-object budget (25) would drop most of 100 emissions; aggregation is what is under test here.
    async with broadcaster(kube, burst=1000) as b:
        rec = b.recorder("widget-controller")
        for _ in range(100):
            assert rec.warning(obj, "CreateFailed", "Failed to create widget agg: boom")
    found = events(kubectl, namespace, "involvedObject.name=agg,reason=CreateFailed")
    assert len(found) == 1
    ev = found[0]
    assert ev["count"] == 100
    assert ev["series"]["count"] == 100
    assert ev["type"] == "Warning"
    assert ev["source"]["component"] == "widget-controller"
    assert ev["reportingComponent"] == "widget-controller"
    assert ev["reportingInstance"] == "runtime-test-pod"
    assert ev["involvedObject"]["uid"] == obj["metadata"]["uid"]
    assert ev["involvedObject"]["kind"] == "Widget"
    assert ev["firstTimestamp"] and ev["lastTimestamp"]
    # A few writes, not a hundred.
    assert b.stats.creates == 1 and b.stats.patches <= 5

    described = kubectl("describe", "widget", "agg", "-n", namespace).stdout
    assert "CreateFailed" in described and "widget-controller" in described
    assert "x100" in described or "(x100 over" in described


async def test_per_object_rate_limit(kube: KubeClient, namespace: str, kubectl: Any) -> None:
    hot = await kube.create(WIDGETS, widget("hot", namespace))
    calm = await kube.create(WIDGETS, widget("calm", namespace))
    async with broadcaster(kube) as b:
        rec = b.recorder("widget-controller")
        accepted = [rec.normal(hot, "Tick", f"tick {i}") for i in range(60)]
        assert rec.normal(calm, "Tick", "calm object has its own budget")
    assert accepted.count(True) == 25
    assert len(events(kubectl, namespace, "involvedObject.name=hot,reason=Tick")) == 25
    assert len(events(kubectl, namespace, "involvedObject.name=calm")) == 1


async def test_cluster_scoped_object_events_are_found(kube: KubeClient, namespace: str, kubectl: Any) -> None:
    name = f"g-{namespace}"[:63]
    gadget = await kube.create(
        GADGETS, {"apiVersion": GADGETS.api_version, "kind": "Gadget", "metadata": {"name": name}}
    )
    found: list[dict[str, Any]] = []
    try:
        async with broadcaster(kube) as b:
            b.recorder("gadget-controller").warning(gadget, "ConnectionFailed", f"Cannot reach gadget {name}")
        found = events(kubectl, "default", f"involvedObject.name={name},reason=ConnectionFailed")
        assert len(found) == 1 and "namespace" not in found[0]["involvedObject"]
        described = kubectl("describe", "gadget", name).stdout
        assert "ConnectionFailed" in described and f"Cannot reach gadget {name}" in described
    finally:
        await kube.delete(GADGETS, name)
        for ev in found:
            kubectl("delete", "event", "-n", "default", ev["metadata"]["name"], check=False)


@pytest.mark.parametrize("count", [3])
async def test_sort_by_last_timestamp_works(kube: KubeClient, namespace: str, kubectl: Any, count: int) -> None:
    obj = await kube.create(WIDGETS, widget("sorted", namespace))
    async with broadcaster(kube) as b:
        for i in range(count):
            b.recorder("widget-controller").normal(obj, f"Step{i}", f"step {i}")
    out = kubectl("get", "events", "-n", namespace, "--sort-by=.lastTimestamp", "-o", "json").stdout
    reasons = [e["reason"] for e in json.loads(out)["items"] if e["involvedObject"]["name"] == "sorted"]
    assert sorted(reasons) == [f"Step{i}" for i in range(count)]
