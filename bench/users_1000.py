"""Benchmark (issue 5): N DatabaseUsers on one PostgreSQL instance, created by 32 parallel POSTs.

Starts its own operator process (`--instance-id bench`, ports 18680/18681, `--sync-period 30s` and FLEET_FLAGS: higher
client QPS, 16 workers, 16 operations per instance) against the local environment, labels every object for that
partition, and reports:

* seconds from the first create until every DatabaseUser is Ready (polled through one in-process client);
* API writes per object: the operator's own `rest_client_requests_total` for POST/PUT/PATCH/DELETE, divided by N; the
  Event writes in it are estimated from the namespace's Events (one create per Event, one patch per repeat);
* SQL per object: the instance's admin database is a fresh database of its own, so `xact_commit + xact_rollback` of
  that database in `pg_stat_database` counts the operator's transactions and nobody else's (a statement outside an
  explicit transaction is one transaction; a transaction block counts once, so this is a lower bound on statements);
* writes (and transactions) per object during a window of resyncs once everything is Ready;
* the operator's RSS (VmRSS at the end, VmHWM peak) from /proc.

Numbers only; never pass/fail. Targets: <= 30 s, <= 4 API writes per object, 0 writes per object on a resync,
RSS <= 100 MB.

With a client-side token bucket (`--kube-api-qps`; since runtime.md 2's new default of -1 there is none unless a
positive QPS is given) every write shares it, so the time to Ready can never be below writes / QPS: at the old default
of 20, 1,000 users x 5 writes (finalizer, Secret, status and the two events the events reference requires, `Created`
and `SecretCreated`) needed at least 250 s. The report prints that floor when a limit is set.

Five writes per new user is also the floor the specification allows: the finalizer must be on the object before the
role exists (api.md 2, "added on first reconcile"), the status subresource cannot carry metadata, the Secret is an
object of its own, and both Events are required by the events reference. Issue 5's "<= 4 API writes per object" is met
by the writes to the user and its Secret (3); the report shows the Events separately.

    .venv/bin/python bench/users_1000.py [--count 1000] [--window 40] [--operator-arg=--kube-api-qps=200 ...]
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

from dbops.api.kinds import by_kind
from dbops.controllers.context import resource_of
from dbops.runtime import KubeClient, configure_logging
from tests.e2e.conftest import Operator
from tests.e2e.test_instance import admin_secret, instance
from tests.e2e.test_quiet_resync import PARTITION_LABEL, labelled, partition_operator
from tests.support.env import REPO_ROOT, DevEnv, ensure_environment, stop_environment

PARTITION = "bench"
METRICS_PORT = 18680
PROBE_PORT = 18681
SYNC_PERIOD = "30s"
FLEET_FLAGS = [
    "--kube-api-qps=300",
    "--kube-api-burst=500",
    "--max-concurrent-reconciles=16",
    "--max-operations-per-instance=16",
]
"""What a platform team running 1,000 users on one instance would set (runtime.md 2 flags); at the old defaults (QPS
20, 4 workers) the client-side rate limit alone needed >= 250 s for 5,000 writes. Pass --operator-arg to override."""


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


def user_objects(count: int, prefix: str) -> list[dict[str, Any]]:
    """The DatabaseUser manifests, as a user would write them."""
    return [
        {
            "apiVersion": "dbops.dbprovision.io/v1alpha1",
            "kind": "DatabaseUser",
            "metadata": {"name": f"u{i:05d}", "labels": {PARTITION_LABEL: PARTITION}},
            "spec": {"instanceRef": {"name": "pg"}, "username": f"{prefix}_u{i:05d}"},
        }
        for i in range(count)
    ]


def create_and_wait(
    env: DevEnv, namespace: str, objects: list[dict[str, Any]], timeout: float, concurrency: int = 32
) -> tuple[float, float | None, int]:
    """POST every object (`concurrency` in flight, no client-side rate limit) while watching until all are Ready.

    Returns (seconds to create them, seconds from the first create until all were Ready or None on timeout, how
    many were Ready at the end). `kubectl apply` of a 1,000-item List takes 25-90 s here (one request at a time), and
    polling with `kubectl get` every second costs more CPU than the operator on this 2-core machine; one in-process
    client creates and watches, as a GitOps tool applying in parallel and waiting for health would.
    """

    async def run() -> tuple[float, float | None, int]:
        configure_logging("warn")  # the bench's own client must not print its debug write lines
        client = await KubeClient.from_kubeconfig(env.kubeconfig, qps=0)
        users = resource_of(by_kind("DatabaseUser"))
        gate = asyncio.Semaphore(concurrency)

        async def one(obj: dict[str, Any]) -> None:
            async with gate:
                await client.create(users, obj, namespace)

        started = time.monotonic()
        phase_of: dict[str, str] = {}

        def ready() -> int:
            return sum(1 for phase in phase_of.values() if phase == "Ready")

        async def until_all_ready() -> None:
            # One list, then one watch from its resourceVersion: polling a 1,000-item list every half second costs
            # the API server more CPU than the operator does, and the machine is shared.
            version: str | None = None
            while ready() < len(objects):
                if version is None:
                    listed = await client.list(users, namespace)
                    for item in listed["items"]:
                        phase_of[item["metadata"]["name"]] = (item.get("status") or {}).get("phase") or ""
                    version = listed["metadata"]["resourceVersion"]
                    continue
                async for event in client.watch(users, namespace, resource_version=version, timeout_seconds=60):
                    obj = event["object"]
                    if event["type"] == "ERROR":  # 410 Gone: list again
                        version = None
                        break
                    version = obj["metadata"]["resourceVersion"]
                    if event["type"] in ("ADDED", "MODIFIED"):
                        phase_of[obj["metadata"]["name"]] = (obj.get("status") or {}).get("phase") or ""
                    if ready() >= len(objects):
                        return

        try:
            watching = asyncio.create_task(until_all_ready())
            await asyncio.gather(*(one(obj) for obj in objects))
            created = time.monotonic() - started
            try:
                await asyncio.wait_for(watching, timeout - created)
            except TimeoutError:
                return created, None, ready()
            return created, time.monotonic() - started, ready()
        finally:
            await client.close()

    return asyncio.run(run())


def event_writes(env: DevEnv, namespace: str) -> tuple[int, int]:
    """(Event objects about DatabaseUsers, estimated writes for them: one create each plus one patch per repeat)."""
    items = json.loads(kubectl(env, "get", "events", "-n", namespace, "-o", "json"))["items"]
    ours = [e for e in items if (e.get("involvedObject") or {}).get("kind") == "DatabaseUser"]
    return len(ours), sum(1 + max(0, int(e.get("count") or 1) - 1) for e in ours)


def process_cpu(pid: int) -> float:
    """User + system CPU seconds process `pid` has used (from /proc/<pid>/stat); 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(op: Operator) -> float:
    return process_cpu(op.process.pid)


COMPONENTS = {"kube-apiserver": "kube-apiserver", "etcd": "etcd", "postgres": "postgres"}


def cpu_by_component(op: Operator) -> dict[str, float]:
    """CPU seconds so far of each part sharing the machine, and the machine's total busy time (/proc/stat).

    On 2 cores everything competes: the split shows which part a faster time to Ready has to come from.
    """
    totals = dict.fromkeys([*COMPONENTS.values(), "operator", "bench client", "machine"], 0.0)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                comm = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if comm in COMPONENTS:
                totals[COMPONENTS[comm]] += process_cpu(int(entry.name))
    totals["operator"] = cpu_seconds(op)
    totals["bench client"] = process_cpu(os.getpid())
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    totals["machine"] = (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    return totals


def memory(op: Operator) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MB."""
    values = {}
    for line in Path(f"/proc/{op.process.pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000, help="DatabaseUsers to create (default 1000)")
    parser.add_argument("--window", type=float, default=40.0, help="seconds of resyncs to measure (default 40)")
    parser.add_argument("--sync-period", default=SYNC_PERIOD, help=f"operator --sync-period (default {SYNC_PERIOD})")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up waiting for Ready after this long")
    parser.add_argument(
        "--operator-arg",
        action="append",
        default=[],
        help="operator flag (repeatable); without any, the flags of FLEET_FLAGS are used",
    )
    options = parser.parse_args()

    # The tests' environment (never the demo's): started here when it is not up, and stopped again afterwards.
    env, started = ensure_environment()
    try:
        return run(env, options)
    finally:
        if started:
            stop_environment()


def run(env: DevEnv, options: Any) -> int:
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
    flags = options.operator_arg or FLEET_FLAGS
    print(f"users_1000: operator flags: {' '.join(flags)}", flush=True)
    extra = ["--sync-period", options.sync_period, "--log-level", "info", *flags]
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
    report(results, count, qps_of(flags))
    return 0


def qps_of(operator_args: list[str]) -> float:
    """The operator's client-side QPS limit from the extra flags; <= 0 (runtime.md 2's default -1) means none."""
    qps = -1.0
    for arg in operator_args:
        if arg.startswith("--kube-api-qps="):
            qps = float(arg.split("=", 1)[1])
    return qps


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
    objects = user_objects(count, prefix)
    cpu0 = cpu_by_component(op)
    applied, elapsed, ready = create_and_wait(env, namespace, objects, options.timeout)
    print(f"users_1000: creating the {count} users took {applied:.1f}s", flush=True)
    cpu1 = cpu_by_component(op)
    writes1 = settled(op.writes, timeout=240)  # Events are written by one sequential writer: let it finish
    # Resyncs keep this database busy, so it never settles: allow the statistics flush (about 1 s), no more.
    xacts1 = settled(lambda: transactions(env, admin_db), quiet_seconds=2, timeout=5)
    events, event_write_count = event_writes(env, namespace)

    reconciles0 = op.reconciles("databaseuser")
    print(f"users_1000: measuring {options.window:.0f}s of resyncs (sync period {options.sync_period})", flush=True)
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
        "cpu_ms": (cpu1["operator"] - cpu0["operator"]) * 1000 / count,
        "cpu_split": {part: cpu1[part] - cpu0[part] for part in cpu0},
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


def report(results: dict[str, Any], count: int, qps: float) -> None:
    if not results:
        return
    elapsed = results["elapsed"]
    object_writes = results["writes"] - results["event_writes"]
    rows = [
        (
            f"time until all {count} Ready (s)",
            f"{elapsed:.1f}" if elapsed is not None else f"timeout ({results['ready']} Ready)",
            "<= 30",
        ),
        ("  of which creating them (s)", f"{results['applied']:.1f}", "(32 parallel POSTs)"),
        ("API writes per object, Events included", f"{results['writes']:.2f}", "<= 4"),
        ("  writes to the user and its Secret", f"{object_writes:.2f}", "(finalizer, Secret, status)"),
        ("  Event writes (est.)", f"{results['event_writes']:.2f}", f"({results['events']} Events)"),
        (
            f"  floor at --kube-api-qps {qps:g} (s)",
            f"{results['writes'] * count / qps:.1f}" if qps > 0 else "none",
            "(all writes share the client's token bucket)" if qps > 0 else "(no client-side limit)",
        ),
        ("operator CPU per object until Ready (ms)", f"{results['cpu_ms']:.1f}", ""),
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
    split = results["cpu_split"]
    parts = ", ".join(f"{part} {seconds:.1f}" for part, seconds in split.items() if part != "machine")
    print(f"CPU seconds from the first create until all Ready: machine {split['machine']:.1f} ({parts})", flush=True)


if __name__ == "__main__":
    sys.exit(main())
