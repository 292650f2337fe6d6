"""Benchmark (issue 5): N DatabaseUsers on one PostgreSQL instance, created by one server-side bulk apply.

Starts its own operator process (`--instance-id bench`, ports 18680/18681, `--sync-period 10s`, every other flag at
its default) against the local environment, labels every object for that partition, and reports:

* seconds from the start of the bulk apply until every DatabaseUser is Ready (`kubectl get dbu` polled every second);
* API writes per object: the operator's own `rest_client_requests_total` for POST/PUT/PATCH/DELETE, divided by N; the
  Event writes in it are estimated from the namespace's Events (one create per Event, one patch per repeat);
* SQL per object: the instance's admin database is a fresh database of its own, so `xact_commit + xact_rollback` of
  that database in `pg_stat_database` counts the operator's transactions and nobody else's (a statement outside an
  explicit transaction is one transaction; a transaction block counts once, so this is a lower bound on statements);
* writes (and transactions) per object during a window of resyncs once everything is Ready;
* the operator's RSS (VmRSS at the end, VmHWM peak) from /proc.

Numbers only; never pass/fail. Targets: <= 30 s, <= 4 API writes per object, 0 writes per object on a resync,
RSS <= 100 MB.

    .venv/bin/python bench/users_1000.py [--count 1000] [--window 25] [--operator-arg=--kube-api-qps=200 ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg

from tests.e2e.conftest import Operator
from tests.e2e.test_instance import admin_secret, instance
from tests.e2e.test_quiet_resync import PARTITION_LABEL, labelled, partition_operator
from tests.support.env import REPO_ROOT, DevEnv, environment_is_up, run_dir

PARTITION = "bench"
METRICS_PORT = 18680
PROBE_PORT = 18681
SYNC_PERIOD = "10s"


def kubectl(env: DevEnv, *args: str, input: str | None = None, timeout: float = 600) -> str:
    result = subprocess.run(
        ["kubectl", *args],
        input=input,
        text=True,
        capture_output=True,
        timeout=timeout,
        env={**os.environ, "KUBECONFIG": env.kubeconfig},
    )
    if result.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args[:3])} … failed: {result.stderr.strip()[-2000:]}")
    return result.stdout


def sql(env: DevEnv, query: str, *args: Any) -> list[Any]:
    """One superuser query on the `postgres` database; a fresh session, so statistics are never a cached snapshot."""

    async def run() -> list[Any]:
        pg = env.postgres
        conn = await asyncpg.connect(
            host=pg.host, port=pg.port, user=pg.superuser, password=pg.superuser_password, database="postgres"
        )
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    deadline = time.monotonic() + 90
    while True:  # a concurrent test session may be restarting the shared server
        try:
            return asyncio.run(run())
        except (OSError, asyncpg.CannotConnectNowError):
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


def transactions(env: DevEnv, database: str) -> int:
    rows = sql(env, "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1", database)
    return int(rows[0][0]) if rows else 0


def settled(read: Any, quiet_seconds: float = 3.0, timeout: float = 60.0) -> float:
    """Poll `read()` until it has not changed for `quiet_seconds` (queued events and statistics flushes land)."""
    deadline = time.monotonic() + timeout
    value, since = read(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(1)
        current = read()
        if current != value:
            value, since = current, time.monotonic()
        elif time.monotonic() - since >= quiet_seconds:
            break
    return float(value)


def phases(env: DevEnv, namespace: str) -> list[str]:
    out = kubectl(env, "get", "dbu", "-n", namespace, "-o", "jsonpath={range .items[*]}{.status.phase}{'\\n'}{end}")
    return out.split("\n")[:-1] if out else []


def user_documents(count: int, prefix: str) -> str:
    """One `kind: List` document holding every DatabaseUser (one `kubectl apply` for all of them)."""
    items = [
        {
            "apiVersion": "dbops.dbprovision.io/v1alpha1",
            "kind": "DatabaseUser",
            "metadata": {"name": f"u{i:05d}", "labels": {PARTITION_LABEL: PARTITION}},
            "spec": {"instanceRef": {"name": "pg"}, "username": f"{prefix}_u{i:05d}"},
        }
        for i in range(count)
    ]
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


def event_writes(env: DevEnv, namespace: str) -> tuple[int, int]:
    """(Event objects about DatabaseUsers, estimated writes for them: one create each plus one patch per repeat)."""
    items = json.loads(kubectl(env, "get", "events", "-n", namespace, "-o", "json"))["items"]
    ours = [e for e in items if (e.get("involvedObject") or {}).get("kind") == "DatabaseUser"]
    return len(ours), sum(1 + max(0, int(e.get("count") or 1) - 1) for e in ours)


def memory(op: Operator) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MB."""
    values = {}
    for line in Path(f"/proc/{op.process.pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def wait_ready(env: DevEnv, namespace: str, count: int, timeout: float) -> tuple[float | None, int]:
    """Seconds until `count` DatabaseUsers are Ready (None on timeout) and how many were Ready at the end."""
    started = time.monotonic()
    ready = 0
    while time.monotonic() - started < timeout:
        ready = sum(1 for p in phases(env, namespace) if p == "Ready")
        if ready >= count:
            return time.monotonic() - started, ready
        time.sleep(1)
    return None, ready


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000, help="DatabaseUsers to create (default 1000)")
    parser.add_argument("--window", type=float, default=25.0, help="seconds of resyncs to measure (default 25)")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up waiting for Ready after this long")
    parser.add_argument(
        "--operator-arg",
        action="append",
        default=[],
        help="extra operator flag, e.g. --operator-arg=--kube-api-qps=200",
    )
    options = parser.parse_args()

    if not (run_dir() / "env.json").exists() or not environment_is_up(wait_seconds=5):
        print(
            f"users_1000: skipped: the local environment is not up (no running one in {run_dir()}; `make dev-up`)",
            flush=True,
        )
        return 0
    env = DevEnv.load()
    token = uuid.uuid4().hex[:6]
    namespace, admin_db, prefix = f"bench-users-{token}", f"bench_admin_{token}", f"b{token}"
    count = options.count
    print(
        f"users_1000: {count} DatabaseUsers in namespace {namespace}; operator log {env.run_dir}/operator-bench.log",
        flush=True,
    )

    kubectl(env, "apply", "--server-side", "--force-conflicts", "-k", str(REPO_ROOT / "config/crd"))
    kubectl(
        env,
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd",
        "-l",
        "app.kubernetes.io/name=db-provision-operator",
    )
    sql(env, f'CREATE DATABASE "{admin_db}"')
    kubectl(env, "create", "namespace", namespace)
    extra = ["--sync-period", SYNC_PERIOD, "--log-level", "info", *options.operator_arg]
    results: dict[str, Any] = {}
    try:
        with partition_operator(env, PARTITION, METRICS_PORT, PROBE_PORT, *extra) as op:
            try:
                results = measure(env, op, namespace, admin_db, prefix, count, options)
            finally:
                cleanup(env, namespace)
    finally:
        leftovers = sql(env, "SELECT rolname FROM pg_roles WHERE rolname LIKE $1", f"{prefix}\\_%")
        for (name,) in leftovers:
            sql(env, f'DROP ROLE IF EXISTS "{name}"')
        sql(env, f'DROP DATABASE IF EXISTS "{admin_db}" WITH (FORCE)')
        kubectl(env, "delete", "namespace", namespace, "--wait=false", "--ignore-not-found")
        if leftovers:
            print(f"users_1000: cleanup dropped {len(leftovers)} roles the operator had not dropped", flush=True)
    report(results, count)
    return 0


def measure(
    env: DevEnv, op: Operator, namespace: str, admin_db: str, prefix: str, count: int, options: Any
) -> dict[str, Any]:
    manifest = admin_secret(env) + "---\n" + labelled(instance(env, interval=30), PARTITION)
    manifest = manifest.replace("    secretRef:", f"    database: {admin_db}\n    secretRef:")
    kubectl(env, "apply", "-n", namespace, "-f", "-", input=manifest)
    took, _ = wait_ready_instance(env, namespace)
    print(f"users_1000: instance Ready after {took:.1f}s", flush=True)

    writes0 = settled(op.writes)
    xacts0 = settled(lambda: transactions(env, admin_db))
    path = env.run_dir / f"{namespace}.json"
    path.write_text(user_documents(count, prefix))
    started = time.monotonic()
    kubectl(env, "apply", "--server-side", "-n", namespace, "-f", str(path), timeout=options.timeout)
    applied = time.monotonic() - started
    path.unlink()
    print(f"users_1000: bulk apply took {applied:.1f}s; waiting for Ready", flush=True)
    waited, ready = wait_ready(env, namespace, count, options.timeout - applied)
    elapsed = None if waited is None else applied + waited
    writes1 = settled(op.writes)
    # Resyncs keep this database busy, so it never settles: allow the statistics flush (about 1 s), no more.
    xacts1 = settled(lambda: transactions(env, admin_db), quiet_seconds=2, timeout=5)
    events, event_write_count = event_writes(env, namespace)

    reconciles0 = op.reconciles("databaseuser")
    print(f"users_1000: measuring {options.window:.0f}s of resyncs (sync period {SYNC_PERIOD})", flush=True)
    time.sleep(options.window)  # the measured window
    writes2 = op.writes()
    xacts2 = settled(lambda: transactions(env, admin_db), quiet_seconds=2, timeout=5)
    reconciles = op.reconciles("databaseuser") - reconciles0
    rss, peak = memory(op)
    return {
        "ready": ready,
        "elapsed": elapsed,
        "applied": applied,
        "writes": (writes1 - writes0) / count,
        "events": events,
        "event_writes": event_write_count / count,
        "xacts": (xacts1 - xacts0) / count,
        "resync_writes": (writes2 - writes1) / count,
        "resync_xacts": (xacts2 - xacts1) / count,
        "resync_reconciles": reconciles / count,
        "rss": rss,
        "peak": peak,
        "methods": op.requests_by_method(),
    }


def wait_ready_instance(env: DevEnv, namespace: str) -> tuple[float, bool]:
    started = time.monotonic()
    while time.monotonic() - started < 120:
        out = kubectl(env, "get", "dbi", "pg", "-n", namespace, "-o", "jsonpath={.status.phase}")
        if out == "Ready":
            return time.monotonic() - started, True
        time.sleep(1)
    raise RuntimeError("the bench instance did not become Ready within 120s")


def cleanup(env: DevEnv, namespace: str) -> None:
    """Delete the users (the operator drops their roles) and the instance while the operator still runs."""
    started = time.monotonic()
    kubectl(env, "delete", "dbu", "--all", "-n", namespace, "--wait=false")
    while phases(env, namespace) and time.monotonic() - started < 600:
        time.sleep(2)
    remaining = len(phases(env, namespace))
    print(f"users_1000: deleting the users took {time.monotonic() - started:.0f}s ({remaining} left)", flush=True)
    kubectl(env, "delete", "dbi", "--all", "-n", namespace, "--wait=false")
    kubectl(env, "wait", "--for=delete", "dbi", "--all", "-n", namespace, "--timeout=60s")


def report(results: dict[str, Any], count: int) -> None:
    if not results:
        return
    elapsed = results["elapsed"]
    rows = [
        (
            f"time until all {count} Ready (s)",
            f"{elapsed:.1f}" if elapsed is not None else f"timeout ({results['ready']} Ready)",
            "<= 30",
        ),
        ("  of which the bulk apply (s)", f"{results['applied']:.1f}", ""),
        ("API writes per object", f"{results['writes']:.2f}", "<= 4"),
        ("  of which Event writes (est.)", f"{results['event_writes']:.2f}", f"({results['events']} Events)"),
        ("SQL transactions per object", f"{results['xacts']:.2f}", "(lower bound on statements)"),
        ("API writes per object, resync window", f"{results['resync_writes']:.3f}", "0"),
        ("  reconciles per object in the window", f"{results['resync_reconciles']:.2f}", "(>= 1: resyncs ran)"),
        ("  SQL transactions per object in it", f"{results['resync_xacts']:.2f}", ""),
        ("operator RSS at the end (MB)", f"{results['rss']:.0f}", "<= 100"),
        ("operator peak RSS, VmHWM (MB)", f"{results['peak']:.0f}", "<= 100"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure'.ljust(width)}  {'value':>14}  target", flush=True)
    for name, value, target in rows:
        print(f"{name.ljust(width)}  {value:>14}  {target}", flush=True)
    print(f"operator requests by method: {json.dumps(results['methods'], sort_keys=True)}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
