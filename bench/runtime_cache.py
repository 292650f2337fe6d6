"""Benchmark: informer cache of N custom resources of about 2 KB each against the real API server.

Seeds N ``Widget`` objects (a test-only CRD) into a scratch namespace, then, in a fresh child process so that the
baseline is clean, starts one informer and reports the initial sync time, the RSS growth caused by the cache, and the
bytes held per object. Target (issue 3): <= 60 MB cache growth per 10,000 objects. Numbers only; never pass/fail.

Uses ``$KUBECONFIG``, else the tests' own environment (started here when it is not up, stopped afterwards).

    python bench/runtime_cache.py [--objects 10000] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dbops.runtime.client import CRDS, NAMESPACES, AlreadyExists, KubeClient
from dbops.runtime.informer import Informer
from tests.integration.runtime.conftest import WIDGET_CRD, WIDGETS
from tests.support.env import ensure_environment, run_dir, stop_environment

# The same test-only Widget CRD the runtime integration tests install.
CRD = WIDGET_CRD


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def kubeconfig_path() -> str | None:
    """$KUBECONFIG, else the tests' running environment (the measuring child process finds it the same way)."""
    if os.environ.get("KUBECONFIG"):
        return os.environ["KUBECONFIG"]
    env = run_dir() / "env.json"
    if env.exists():
        return str(json.loads(env.read_text())["kubeconfig"])
    return None


def widget(name: str, namespace: str, i: int) -> dict[str, Any]:
    """About 2 KB as stored (labels, annotations, a spec with lists, a status with conditions)."""
    return {
        "apiVersion": WIDGETS.api_version,
        "kind": "Widget",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "bench", "tier": "db", "index": str(i)},
            "annotations": {"bench.dbops.io/note": "n" * 300},
        },
        "spec": {
            "instanceRef": {"name": f"instance-{i % 50}"},
            "name": f"database_{i}",
            "owner": "app_owner",
            "encoding": "UTF8",
            "extensions": [{"name": "pgcrypto", "version": "1.3"}, {"name": "uuid-ossp"}],
            "schemas": [f"schema_{j}" for j in range(12)],
            "payload": "p" * 1000,
        },
    }


async def seed(client: KubeClient, namespace: str, n: int) -> float:
    with contextlib.suppress(AlreadyExists):
        await client.create(CRDS, CRD)
    deadline = time.monotonic() + 60
    while True:  # wait until the CRD is served
        try:
            await client.list(WIDGETS, "default", limit=1)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)
    await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    start = time.perf_counter()
    sem = asyncio.Semaphore(32)

    async def one(i: int) -> None:
        async with sem:
            await client.create(WIDGETS, widget(f"w-{i:05d}", namespace, i))

    await asyncio.gather(*(one(i) for i in range(n)))
    return time.perf_counter() - start


async def measure(kubeconfig: str, namespace: str) -> dict[str, float]:
    client = await KubeClient.from_kubeconfig(kubeconfig, qps=0)
    informer = Informer(client, WIDGETS, namespaces=[namespace])
    informer.add_indexer("instance", lambda o: [f"{namespace}/{o['spec']['instanceRef']['name']}"])
    await client.list(WIDGETS, namespace, limit=1)  # warm the connection and imports before the baseline
    gc.collect()
    before = rss_mb()
    task = asyncio.create_task(informer.run())
    start = time.perf_counter()
    await informer.wait_synced()
    sync = time.perf_counter() - start
    gc.collect()
    after = rss_mb()
    stored = sum(len(data) for _, _, data in informer.store.items_raw())
    n = len(informer.store)
    sample = informer.store.get(informer.store.keys()[0]) or {}
    get_start = time.perf_counter()
    for key in informer.store.keys()[:2000]:
        informer.store.get(key)
    get_us = (time.perf_counter() - get_start) / min(2000, n) * 1e6
    task.cancel()
    await client.close()
    return {
        "objects": n,
        "sync_s": sync,
        "rss_before_mb": before,
        "rss_after_mb": after,
        "growth_mb": after - before,
        "stored_mb": stored / 1e6,
        "object_json_bytes": len(json.dumps(sample, separators=(",", ":"))),
        "get_us": get_us,
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--keep", action="store_true", help="keep the scratch namespace")
    parser.add_argument("--measure", metavar="NAMESPACE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    started = False
    if not os.environ.get("KUBECONFIG") and not args.measure:
        _, started = ensure_environment()  # the tests' environment, never the demo's
    try:
        return await run(args)
    finally:
        if started:
            stop_environment()


async def run(args: argparse.Namespace) -> int:
    kubeconfig = kubeconfig_path()
    if kubeconfig is None:
        print("skipped: no KUBECONFIG and no environment in " + str(run_dir()))
        return 0
    if args.measure:
        print(json.dumps(await measure(kubeconfig, args.measure)))
        return 0
    try:
        client = await KubeClient.from_kubeconfig(kubeconfig, qps=0)
        await client.list(NAMESPACES, limit=1)
    except Exception as exc:
        print(f"skipped: API server not reachable ({exc})")
        return 0
    namespace = f"bench-cache-{uuid.uuid4().hex[:6]}"
    try:
        seeded = await seed(client, namespace, args.objects)
        print(f"seeded {args.objects} objects in {seeded:.1f}s ({args.objects / seeded:,.0f}/s)")
        child = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--measure", namespace, stdout=asyncio.subprocess.PIPE
        )
        stdout, _ = await child.communicate()
        if child.returncode != 0:
            raise RuntimeError(f"measurement process failed with exit code {child.returncode}")
        r = json.loads(stdout.decode().strip().splitlines()[-1])
        per10k = r["growth_mb"] / r["objects"] * 10_000
        print(f"objects cached:            {r['objects']:,} (about {r['object_json_bytes']:,} bytes of JSON each)")
        print(f"initial sync (paged list): {r['sync_s']:.2f} s ({r['objects'] / r['sync_s']:,.0f} objects/s)")
        print(f"RSS before / after sync:   {r['rss_before_mb']:.1f} MB / {r['rss_after_mb']:.1f} MB")
        print(f"cache RSS growth:          {r['growth_mb']:.1f} MB  ({per10k:.1f} MB per 10,000 objects; target <= 60)")
        print(f"compact JSON held:         {r['stored_mb']:.1f} MB")
        print(f"store.get (fresh copy):    {r['get_us']:.1f} us per object")
    finally:
        if not args.keep:
            await client.request("DELETE", NAMESPACES.path(None, namespace))
        await client.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
