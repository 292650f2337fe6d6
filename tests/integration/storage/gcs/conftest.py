"""A real GCS JSON-API server for the GCS backend's tests: fake-gcs-server's filesystem backend on a temporary
directory, built from the Go module proxy by ``hack/build-fake-gcs-server.sh`` (cached). A failed build fails the
tests with the build's output: a skip would hide an untested backend. Readiness is polled with a deadline; every test
gets a bucket of its own."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dbops.api.common import SecretKeySelector
from dbops.api.storage import GCSStorage
from dbops.storage.gcs import GCSStore
from tests.support.env import HACK


@dataclass(frozen=True)
class FakeGCS:
    endpoint: str
    root: Path
    log: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            pass
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def build_fake_gcs_server() -> str:
    result = subprocess.run(
        ["nice", "-n", "19", "bash", str(HACK / "build-fake-gcs-server.sh")],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if result.returncode != 0:
        pytest.fail(f"could not build fake-gcs-server (exit {result.returncode}):\n{result.stderr}")
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def fake_gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGCS]:
    binary = build_fake_gcs_server()
    base = tmp_path_factory.mktemp("fake-gcs")
    root, log, port = base / "root", base / "fake-gcs.log", _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [binary, "-scheme", "http", "-backend", "filesystem", "-filesystem-root", str(root), "-data",
             str(base / "no-seed-data"), "-port", str(port), "-host", "127.0.0.1", "-log-level", "warn"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not _answers(f"{endpoint}/storage/v1/b"):
            if process.poll() is not None:
                pytest.fail(f"fake-gcs-server exited with {process.returncode}:\n{log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"fake-gcs-server did not answer on {endpoint} within 30 s:\n{log.read_text()}")
            time.sleep(0.05)
        yield FakeGCS(endpoint, root, log)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def create_bucket(server: FakeGCS, name: str) -> None:
    request = urllib.request.Request(
        f"{server.endpoint}/storage/v1/b?project=test",
        data=json.dumps({"name": name}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


@pytest.fixture
def bucket(fake_gcs: FakeGCS) -> str:
    name = f"t-{uuid.uuid4().hex[:12]}"
    create_bucket(fake_gcs, name)
    return name


def gcs_config(bucket: str) -> GCSStorage:
    return GCSStorage(bucket=bucket, secret_ref=SecretKeySelector(name="gcs", key="sa.json"))


@pytest.fixture
async def store(fake_gcs: FakeGCS, bucket: str) -> AsyncIterator[GCSStore]:
    store = GCSStore(gcs_config(bucket), None, endpoint=fake_gcs.endpoint)
    yield store
    await store.close()
