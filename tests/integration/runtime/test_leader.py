"""Leader election between managers in one process, against a real Lease: only the leader reconciles, a standby keeps
its cache warm, a killed leader is replaced within the lease duration, a clean shutdown hands over at once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from prometheus_client import REGISTRY

from dbops.runtime.client import LEASES, KubeClient
from dbops.runtime.controller import ControllerSpec, Request, Result
from dbops.runtime.manager import Manager, ManagerOptions
from tests.integration.runtime.conftest import WIDGETS, eventually, widget

LEASE = "runtime-test-lease"


class Counting:
    def __init__(self) -> None:
        self.keys: list[str] = []

    async def reconcile(self, request: Request) -> Result | None:
        self.keys.append(request.key)
        return None


def manager(kube: KubeClient, namespace: str, name: str) -> tuple[Manager, Counting]:
    mgr = Manager(
        kube,
        ManagerOptions(
            health_probe_bind_address="127.0.0.1:0",
            metrics_bind_address="0",
            leader_elect=True,
            leader_election_id=LEASE,
            leader_election_namespace=namespace,
            watch_namespaces=[namespace],
            identity=name,
            reporting_instance=name,
        ),
    )
    rec = Counting()
    mgr.add_controller(ControllerSpec(name=f"widget-{name}", resource=WIDGETS, reconciler=rec))
    return mgr, rec


async def lease(kube: KubeClient, namespace: str) -> dict[str, Any]:
    obj = await kube.get(LEASES, LEASE, namespace)
    spec: dict[str, Any] = obj["spec"]
    return spec


async def test_failover_and_handover(kube: KubeClient, namespace: str) -> None:
    await kube.create(WIDGETS, widget("w1", namespace))
    m1, r1 = manager(kube, namespace, "replica-1")
    m2, r2 = manager(kube, namespace, "replica-2")
    m3, r3 = manager(kube, namespace, "replica-3")
    # The standby's attempts to take the Lease, and their outcomes: the evidence that it tried while the leader held it.
    attempts: list[bool] = []
    assert m2.elector is not None
    attempt = m2.elector._try_acquire_or_renew

    async def counted() -> bool:
        won = await attempt()
        attempts.append(won)
        return won

    m2.elector._try_acquire_or_renew = counted  # type: ignore[method-assign]
    t1 = asyncio.create_task(m1.run())
    assert await m1.wait_leading(30)
    t2 = asyncio.create_task(m2.run())
    t3: asyncio.Task[int] | None = None
    try:
        await eventually(lambda: r1.keys, what="leader reconciles")
        # The standby's cache is warm, but it reconciles nothing.
        await eventually(
            lambda: m2.synced and m2.store(WIDGETS).get(f"{namespace}/w1") is not None, what="warm standby"
        )
        await eventually(lambda: len(attempts) >= 2, within=30, what="two attempts of the standby to take the Lease")
        assert attempts[:2] == [False, False] and m2.elector.observed_holder == "replica-1"
        assert not m2.is_leader and r2.keys == []
        spec = await lease(kube, namespace)
        assert spec["holderIdentity"] == "replica-1" and spec["leaseDurationSeconds"] == 15
        assert spec["leaseTransitions"] == 0

        # Kill the leader: no release, renewals stop. The standby takes over within the lease duration
        # (measured from the leader's last renewal, which happened at most one retry period before the kill).
        t1.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await t1
        killed = time.monotonic()
        assert await m2.wait_leading(m2.options.lease_duration + 2 * m2.options.retry_period + 2)
        takeover = time.monotonic() - killed
        assert takeover <= m2.options.lease_duration + 1.2 * m2.options.retry_period + 1.0, takeover
        await eventually(lambda: r2.keys, what="new leader reconciles")
        spec = await lease(kube, namespace)
        assert spec["holderIdentity"] == "replica-2" and spec["leaseTransitions"] == 1
        assert REGISTRY.get_sample_value("leader_election_master_status", {"name": LEASE}) == 1

        # Clean shutdown of the leader releases the Lease: the next standby leads within about one retry period.
        t3 = asyncio.create_task(m3.run())
        await eventually(lambda: m3.synced, what="third replica synced")
        m2.request_stop()
        assert await asyncio.wait_for(t2, 30) == 0
        released = time.monotonic()
        assert await m3.wait_leading(10)
        handover = time.monotonic() - released
        assert handover <= 1.2 * m3.options.retry_period + 1.0, handover
        spec = await lease(kube, namespace)
        assert spec["holderIdentity"] == "replica-3" and spec["leaseTransitions"] == 2
        await eventually(lambda: r3.keys, what="third leader reconciles")
    finally:
        for mgr in (m1, m2, m3):
            mgr.request_stop()
        for task in (t1, t2, t3):
            if task is not None and not task.done():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, 30)


async def test_leader_loses_lease_when_taken_over(kube: KubeClient, namespace: str) -> None:
    """If another identity writes the Lease (e.g. after a long pause of this process), the leader stops at once
    and the manager exits with code 1."""
    m1, _ = manager(kube, namespace, "replica-a")
    t1 = asyncio.create_task(m1.run())
    try:
        assert await m1.wait_leading(30)
        current = await kube.get(LEASES, LEASE, namespace)
        current["spec"]["holderIdentity"] = "intruder"
        await kube.replace(LEASES, current)
        assert await asyncio.wait_for(t1, 20) == 1
        assert not m1.is_leader
    finally:
        m1.request_stop()
        if not t1.done():
            await asyncio.wait_for(t1, 30)
