"""E2E fixtures: the CRDs installed, and the operator running as a separate process against the local control plane.

The operator is started exactly as `make run` starts it (`python -m dbops`), on its own probe and metrics ports, and
its log is kept in the run directory so a failing test can be diagnosed. Tests talk to it only as a user would:
kubectl, the database servers, /metrics.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Kubectl
from tests.support.env import REPO_ROOT, DevEnv

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
_REQUESTS = re.compile(r"^rest_client_requests_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
_METHOD = re.compile(r'method="([A-Z]+)"')
METRICS_PORT = int(os.environ.get("DBOPS_E2E_METRICS_PORT", "18180"))
PROBE_PORT = int(os.environ.get("DBOPS_E2E_PROBE_PORT", "18181"))


def wait_for(predicate: Callable[[], Any], timeout: float = 60, what: str = "condition", interval: float = 0.5) -> Any:
    """Poll `predicate` until it returns something truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@dataclass
class Operator:
    """The running operator process."""

    process: subprocess.Popen[bytes]
    log: Path
    metrics_port: int = METRICS_PORT

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10) as response:
            text: str = response.read().decode()
            return text

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def requests_by_method(self) -> dict[str, float]:
        """rest_client_requests_total summed per HTTP method (all codes, all hosts)."""
        out: dict[str, float] = {}
        for line in self.metrics().splitlines():
            match = _REQUESTS.match(line)
            method = _METHOD.search(match.group("labels")) if match else None
            if match and method:
                out[method.group(1)] = out.get(method.group(1), 0.0) + float(match.group("value"))
        return out

    def writes(self) -> float:
        """API writes so far: POST, PUT, PATCH and DELETE requests."""
        return sum(v for k, v in self.requests_by_method().items() if k in WRITE_METHODS)

    def log_size(self) -> int:
        """Where the log ends now: `records(..., since=...)` reads only what comes after."""
        return self.log.stat().st_size

    def scan(self, message: str, *, since: int = 0, until: int | None = None) -> list[tuple[int, dict[str, Any]]]:
        """The complete JSON log records whose `msg` is `message` between bytes `since` and `until` of the log, in
        order, each with the byte offset where its line ends."""
        with self.log.open("rb") as handle:
            handle.seek(since)
            data = handle.read() if until is None else handle.read(max(0, until - since))
        out = []
        offset = since
        needle = message.encode()
        for line in data.splitlines(keepends=True):
            offset += len(line)
            if not line.endswith(b"\n"):
                break  # a line still being written
            if line.startswith(b"{") and needle in line:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("msg") == message:
                    out.append((offset, record))
        return out

    def records(self, message: str, *, since: int = 0) -> list[dict[str, Any]]:
        """The operator's JSON log records whose `msg` is `message`, in order (from byte `since` on)."""
        return [record for _, record in self.scan(message, since=since)]

    def reconciled(self, kind: str, namespace: str, name: str, *, since: int = 0) -> int:
        """How many reconciles of this one object have finished (the runtime's debug record "Reconciled <Kind>"),
        counting from byte `since` of the log."""
        return sum(
            1
            for r in self.records(f"Reconciled {kind}", since=since)
            if r.get("name") == name and (r.get("namespace") or "") == namespace
        )

    def finished_reconciles(
        self, kind: str, namespace: str, name: str, *, since: int, trigger: str | None = None
    ) -> list[tuple[int, dict[str, Any]]]:
        """The records "Reconciled <Kind>" (with the offset where each ends in the log) of this object's reconciles
        that *started* after byte `since` (their "Reconciling <Kind>" record lies after it) and have finished;
        optionally only those started by `trigger` (`backoff`, `timer`, `watch`, …). A reconcile already running at
        `since` does not count: it may have read the object, or the clock, before whatever the caller did there."""

        def mine(record: dict[str, Any]) -> bool:
            return record.get("name") == name and (record.get("namespace") or "") == namespace

        started = {
            r.get("reconcileID")
            for _, r in self.scan(f"Reconciling {kind}", since=since)
            if mine(r) and (trigger is None or r.get("trigger") == trigger)
        }
        finished = self.scan(f"Reconciled {kind}", since=since)
        return [(end, r) for end, r in finished if mine(r) and r.get("reconcileID") in started]

    def events_written_before(self, offset: int) -> bool:
        """Whether every Kubernetes event the operator emitted before byte `offset` of its log has been written to the
        API server (or dropped): the broadcaster's flush barrier ("Kubernetes events written", `through` ≥ the `seq`
        of the last "Emitted Kubernetes event" record before `offset`, dbops/runtime/events.py)."""
        emitted = self.scan("Emitted Kubernetes event", until=offset)
        if not emitted:
            return True
        at, last = emitted[-1]
        return any(r.get("through", 0) >= last["seq"] for _, r in self.scan("Kubernetes events written", since=at))

    def wait_events_written(self, offset: int, timeout: float = 30) -> None:
        """Wait until every event emitted before byte `offset` of the log has reached the API server, so that an
        assertion that no (new) event came cannot pass only because one was still queued in the operator."""
        wait_for(lambda: self.events_written_before(offset), timeout, "the operator to write its queued events")

    def reconciles(self, controller: str) -> float:
        prefix = f'controller_runtime_reconcile_total{{controller="{controller}"'
        return sum(float(line.split()[-1]) for line in self.metrics().splitlines() if line.startswith(prefix))

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0


@pytest.fixture(scope="session")
def crds(kubectl: Kubectl) -> None:
    kubectl("apply", "--server-side", "--force-conflicts", "-k", str(REPO_ROOT / "config/crd"))
    kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd",
        "-l",
        "app.kubernetes.io/name=db-provision-operator",
    )


def _ready(probe_port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{probe_port}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextmanager
def running_operator(
    dev_env: DevEnv, metrics_port: int, probe_port: int, *args: str, log_name: str = "operator-e2e.log"
) -> Iterator[Operator]:
    """Run `python -m dbops` (as `make run` does) on the given ports until the block ends; fail if it is not ready."""
    log = dev_env.run_dir / log_name
    handle = log.open("wb")
    command = [
        sys.executable,
        "-m",
        "dbops",
        "--kubeconfig",
        dev_env.kubeconfig,
        "--metrics-bind-address",
        f"127.0.0.1:{metrics_port}",
        "--health-probe-bind-address",
        f"127.0.0.1:{probe_port}",
        "--log-level",
        "debug",
        *args,
    ]
    env = {**os.environ, "POD_NAMESPACE": "dbops-system", "POD_NAME": "dbops-e2e"}
    process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, cwd=REPO_ROOT, env=env)
    running = Operator(process, log, metrics_port)
    try:
        wait_for(lambda: _ready(probe_port) or process.poll() is not None, timeout=60, what="the operator's /readyz")
        if process.poll() is not None:
            pytest.fail(f"the operator exited with {process.returncode}:\n{running.log_text()[-4000:]}")
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
        handle.close()


@pytest.fixture(scope="package")
def operator(dev_env: DevEnv, crds: None) -> Iterator[Operator]:
    """One operator process for the e2e package; stopped before other layers run, whose objects it must not touch."""
    with running_operator(dev_env, METRICS_PORT, PROBE_PORT, "--size-refresh-interval", "5s") as running:
        yield running


def reconciled_once_more(
    kubectl: Kubectl, operator: Operator, resource: str, kind: str, namespace: str, name: str
) -> None:
    """Wake one object with an annotation the operator watches but that changes nothing (a `skip-reconcile` value
    other than "true", api.md 2.1), wait until a reconcile of that object that started after the wake-up has finished,
    and then until every event emitted before its end has been written: the positive evidence a test needs before
    asserting that a re-check changed nothing and said nothing."""
    start = operator.log_size()
    value = f"no-{uuid.uuid4().hex[:6]}"
    kubectl("annotate", resource, name, "-n", namespace, f"dbops.dbprovision.io/skip-reconcile={value}", "--overwrite")
    ends = wait_for(
        lambda: operator.finished_reconciles(kind, namespace, name, since=start),
        30,
        f"{kind} {name} to reconcile again",
    )
    operator.wait_events_written(ends[0][0])


def wait_until(timestamp: float, what: str) -> None:
    """Wait until the wall clock has passed `timestamp` (Unix time): for behaviour that is due at a time, before a
    reconcile proves the operator looked again after it."""
    wait_for(lambda: time.time() > timestamp, max(0.0, timestamp - time.time()) + 30, what, interval=0.2)


def events(kubectl: Kubectl, namespace: str, name: str, reason: str | None = None) -> list[dict[str, Any]]:
    """The Events about object `name` in `namespace` (optionally one reason), via field selectors as a user would."""
    selector = f"involvedObject.name={name}" + (f",reason={reason}" if reason else "")
    out = kubectl("get", "events", "-n", namespace, "--field-selector", selector, "-o", "json").stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def get(kubectl: Kubectl, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
    args = ["get", kind, name, "-o", "json", "--ignore-not-found"] + (["-n", namespace] if namespace else [])
    out = kubectl(*args).stdout
    return json.loads(out) if out.strip() else None


def condition(obj: dict[str, Any] | None, ctype: str) -> dict[str, Any]:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond["type"] == ctype:
            return dict(cond)
    return {}
