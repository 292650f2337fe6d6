"""The manager as a whole: probes, metrics, read-after-write, JSON logs, and a clean SIGTERM shutdown of a real
process that drains its in-flight reconcile and releases its Lease."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import textwrap
from pathlib import Path
from typing import Any

import aiohttp

from dbops.runtime.client import LEASES, KubeClient
from dbops.runtime.controller import ControllerSpec, Request, Result
from dbops.runtime.manager import Manager, ManagerOptions
from dbops.runtime.predicates import generation_changed
from dbops.runtime.status import patch_status
from tests.integration.runtime.conftest import WIDGETS, eventually, widget
from tests.support.env import DevEnv

REPO = Path(__file__).resolve().parents[3]


class StatusWriter:
    """First reconcile writes status and asks to run again at once; the second must see its own write."""

    def __init__(self, kube: KubeClient, mgr: Manager) -> None:
        self.kube = kube
        self.store = mgr.store(WIDGETS)
        self.written_rv: str | None = None
        self.seen_after_write: list[str | None] = []

    async def reconcile(self, request: Request) -> Result | None:
        obj = self.store.get(request.key)
        if obj is None:
            return None
        if self.written_rv is None:
            out = await patch_status(self.kube, WIDGETS, obj, {"phase": "Ready"})
            assert out is not None
            self.written_rv = out["metadata"]["resourceVersion"]
            return Result(requeue_after=0.001)
        self.seen_after_write.append((obj.get("status") or {}).get("phase"))
        return None


async def http_get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, await resp.text()


async def test_probes_metrics_and_read_after_write(kube: KubeClient, namespace: str) -> None:
    mgr = Manager(
        kube,
        ManagerOptions(
            health_probe_bind_address="127.0.0.1:0", metrics_bind_address="127.0.0.1:0", watch_namespaces=[namespace]
        ),
    )
    rec = StatusWriter(kube, mgr)
    # As the operator's controllers do: status-only updates (our own writes) pass no predicate and wake nothing.
    mgr.add_controller(
        ControllerSpec(
            name="widget-mgr", resource=WIDGETS, reconciler=rec, max_concurrency=2, predicates=(generation_changed,)
        )
    )
    await kube.create(WIDGETS, widget("m1", namespace))
    task = asyncio.create_task(mgr.run())
    try:
        await eventually(lambda: mgr.health_server.port, what="health server bound")
        health = f"http://127.0.0.1:{mgr.health_server.port}"
        assert (await http_get(f"{health}/healthz"))[0] == 200

        async def ready() -> bool:
            return (await http_get(f"{health}/readyz"))[0] == 200

        await eventually(ready, what="/readyz")
        _, body = await http_get(f"{health}/readyz?verbose")
        assert "[+]informers ok" in body and "[+]shutdown ok" in body

        await eventually(lambda: rec.seen_after_write, what="second reconcile")
        assert rec.seen_after_write[0] == "Ready", "the reconcile after a status write must see that write"

        metrics_url = f"http://127.0.0.1:{mgr.metrics_server.port}/metrics"
        _, text = await http_get(metrics_url)
        for needle in (
            'controller_runtime_reconcile_total{controller="widget-mgr",result="success"}',
            'controller_runtime_reconcile_total{controller="widget-mgr",result="requeue_after"}',
            'controller_runtime_reconcile_time_seconds_bucket{controller="widget-mgr",le="0.005"}',
            'controller_runtime_max_concurrent_reconciles{controller="widget-mgr"} 2.0',
            'workqueue_depth{controller="widget-mgr",name="widget-mgr",priority=""}',
            'workqueue_adds_total{controller="widget-mgr",name="widget-mgr"}',
            'workqueue_retries_total{controller="widget-mgr",name="widget-mgr"}',
            'workqueue_unfinished_work_seconds{controller="widget-mgr",name="widget-mgr"}',
            "# TYPE leader_election_master_status gauge",
            f'rest_client_requests_total{{code="200",host="{DevEnv.load().apiserver_host}",method="PATCH"}}',
        ):
            assert needle in text, needle
        # A status write did not wake the object (status-only update): exactly two reconciles. The second one saw the
        # write in the cache, so its watch event had been handled; once the queue is idle, no third can be on its way.
        queue = mgr.controllers[0].queue
        await eventually(lambda: not len(queue) and not queue.processing, what="the controller's queue to be idle")
        assert mgr.controllers[0].stats.reconciles == 2
    finally:
        mgr.request_stop()
        assert await asyncio.wait_for(task, 30) == 0
    assert mgr.health_server.port is not None


_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from dbops.runtime import ControllerSpec, KubeClient, Manager, ManagerOptions, Resource, Result, configure_logging

    WIDGETS = Resource("runtime.test.dbops.io", "v1", "widgets", "Widget")

    class Slow:
        # Still in flight when the shutdown begins: it finishes only once its controller's queue has shut down.
        controller = None

        async def reconcile(self, request):
            for _ in range(600):
                if self.controller.queue.shutting_down:
                    break
                await asyncio.sleep(0.05)
            else:
                raise RuntimeError("no shutdown within 30 s")
            print("RECONCILE-SAW-SHUTDOWN", request.key, file=sys.stderr, flush=True)
            await asyncio.sleep(0.5)  # a moment more of work, which the drain must wait for
            print("RECONCILE-FINISHED", request.key, file=sys.stderr, flush=True)
            return Result()

    async def main(kubeconfig, namespace):
        configure_logging("debug", "json")
        client = await KubeClient.from_kubeconfig(kubeconfig)
        mgr = Manager(client, ManagerOptions(
            health_probe_bind_address="127.0.0.1:0", metrics_bind_address="0", leader_elect=True,
            leader_election_id="sigterm-test", leader_election_namespace=namespace, watch_namespaces=[namespace],
            identity="sigterm-replica", graceful_shutdown_timeout=20))
        slow = Slow()
        mgr.add_controller(ControllerSpec(name="widget", resource=WIDGETS, reconciler=slow))
        slow.controller = mgr.controllers[-1]
        mgr.install_signal_handlers()
        code = await mgr.run()
        await client.close()
        return code

    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2])))
    """
)


async def test_sigterm_drains_releases_lease_and_exits_zero(
    kube: KubeClient, namespace: str, kubeconfig: str, tmp_path: Path
) -> None:
    await kube.create(WIDGETS, widget("slow", namespace))
    script = tmp_path / "operator.py"
    script.write_text(_SCRIPT)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        kubeconfig,
        namespace,
        cwd=str(REPO),
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    lines: list[str] = []

    async def read_until(marker: str, within: float = 30) -> None:
        assert proc.stderr is not None
        deadline = asyncio.get_running_loop().time() + within
        while not any(marker in line for line in lines):
            remaining = deadline - asyncio.get_running_loop().time()
            assert remaining > 0, f"{marker!r} not logged within {within}s:\n" + "".join(lines)
            line = await asyncio.wait_for(proc.stderr.readline(), remaining)
            assert line, "process exited early:\n" + "".join(lines)
            lines.append(line.decode())

    try:
        await read_until("Reconciling Widget")  # the reconcile is now in flight, until the shutdown begins
        proc.send_signal(signal.SIGTERM)
        await read_until("RECONCILE-FINISHED")  # drained, not cancelled
        saw = next(i for i, line in enumerate(lines) if "RECONCILE-SAW-SHUTDOWN" in line)
        draining = next(i for i, line in enumerate(lines) if "draining in-flight reconciles" in line)
        finished = next(i for i, line in enumerate(lines) if "RECONCILE-FINISHED" in line)
        assert draining < finished and saw < finished, "".join(lines)
        assert proc.stderr is not None
        rest = await asyncio.wait_for(proc.stderr.read(), 30)
        lines.extend(rest.decode().splitlines(keepends=True))
        assert await asyncio.wait_for(proc.wait(), 30) == 0, "".join(lines)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    records: list[dict[str, Any]] = [json.loads(line) for line in lines if line.startswith("{")]
    reconciling = [r for r in records if r.get("msg") == "Reconciling Widget"]
    assert reconciling, "".join(lines)
    first = reconciling[0]
    assert first["logger"] == "controller.widget" and first["controller"] == "widget"
    assert first["namespace"] == namespace and first["name"] == "slow" and len(first["reconcileID"]) == 8
    assert first["level"] in ("info", "debug") and first["ts"].endswith("Z")
    assert all({"level", "ts", "logger", "msg"} <= r.keys() for r in records)
    assert any(r.get("msg") == "released leader lease" for r in records)

    lease = await kube.get(LEASES, "sigterm-test", namespace)
    assert not lease["spec"].get("holderIdentity") and lease["spec"]["leaseDurationSeconds"] == 1
