"""The local environment the integration and e2e tests run against, as `hack/dev-up.sh` describes it in env.json.

The tests never guess ports or passwords: they read what the script that started the parts wrote down, so a
developer's `make dev-up` environment and a CI run's own environment are used the same way.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
HACK = REPO_ROOT / "hack"


PROFILE = "test"
"""The tests run in an environment of their own (hack/versions.sh, profile `test`): its own run directory and ports,
so `make demo` and `make test` can run on one machine in either order and a test never meets a demo object."""


def run_dir() -> Path:
    """Where the tests' environment keeps its state; the same default as hack/versions.sh for the test profile."""
    return Path(os.environ.get("DBOPS_TEST_RUN_DIR", "/tmp/dbops-test"))


@dataclass(frozen=True)
class DatabaseServer:
    """Connection facts of one local database server: the operator's admin account and a superuser for tests."""

    host: str
    port: int
    admin_user: str
    admin_password: str
    superuser: str
    superuser_password: str
    ca_file: str | None = None


@dataclass(frozen=True)
class DevEnv:
    """Everything a test needs to reach the local control plane and database servers."""

    run_dir: Path
    kubeconfig: str
    apiserver_url: str
    token_file: str
    ca_file: str
    etcd_url: str
    postgres: DatabaseServer
    mariadb: DatabaseServer

    @property
    def apiserver_host(self) -> str:
        """host:port of the API server, as client metrics label it."""
        return self.apiserver_url.split("://", 1)[-1].rstrip("/")

    @property
    def token(self) -> str:
        return Path(self.token_file).read_text().strip()

    @classmethod
    def load(cls, directory: Path | None = None) -> DevEnv:
        directory = directory or run_dir()
        raw = json.loads((directory / "env.json").read_text())
        return cls(
            run_dir=Path(raw["run_dir"]),
            kubeconfig=raw["kubeconfig"],
            apiserver_url=raw["apiserver_url"],
            token_file=raw["token_file"],
            ca_file=raw["ca_file"],
            etcd_url=raw["etcd_url"],
            postgres=DatabaseServer(**raw["postgres"]),
            mariadb=DatabaseServer(**raw["mariadb"]),
        )


def hack(script: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one of the hack/ scripts with the test run's environment."""
    env = {**os.environ, "DBOPS_PROFILE": PROFILE, "DBOPS_TEST_RUN_DIR": str(run_dir())}
    return subprocess.run(
        ["bash", str(HACK / script), *args], env=env, text=True, capture_output=True, check=check, timeout=900
    )


def _recorded_process_alive(name: str) -> bool:
    try:
        os.kill(int((run_dir() / f"{name}.pid").read_text().strip()), 0)
    except (OSError, ValueError):
        return False
    return True


def environment_is_up(wait_seconds: float = 90) -> bool:
    """True when an environment was started here and its processes still run; waits for every part to answer.

    Liveness of the recorded processes decides, not readiness: a test that restarts the API server makes it answer
    "not ready" for a few seconds, and a concurrent test session must not take that for a missing environment and
    start (and later tear down) one of its own. A stale env.json from a dead session does not count.
    """
    if not (run_dir() / "env.json").exists() or not _recorded_process_alive("etcd"):
        return False
    deadline = time.monotonic() + wait_seconds
    scripts = ["controlplane.sh", "postgres.sh", "mariadb.sh"]
    while scripts and time.monotonic() < deadline:
        scripts = [s for s in scripts if hack(s, "status", check=False).returncode != 0]
        if scripts:
            time.sleep(1)
    return not scripts


def ensure_environment() -> tuple[DevEnv, bool]:
    """The tests' environment, started when it is not up already; True when this call started it."""
    started = False
    if not environment_is_up():
        result = hack("dev-up.sh", check=False)
        if result.returncode != 0:
            raise RuntimeError(f"could not start the tests' environment:\n{result.stdout}\n{result.stderr}")
        started = True
    return DevEnv.load(), started


def stop_environment() -> None:
    """Stop the tests' environment and remove its run directory (never the demo's: another profile)."""
    hack("dev-down.sh", check=False)
