"""A real S3 server for tests: versitygw's posix backend on a temporary directory (integration and e2e layers).

versitygw is built from the Go module proxy by ``hack/build-versitygw.sh`` (cached, so a second session costs
nothing). If it cannot be built the tests fail with the build's output: an S3 backend that was never run against a
server is not tested, and a skip would hide that.

The gateway runs once per session on a free loopback port with root keys given through its environment
(``ROOT_ACCESS_KEY_ID``/``ROOT_SECRET_ACCESS_KEY``, never on the command line); readiness is polled over HTTP with a
deadline.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dbops.storage.s3 import S3Credentials
from tests.support.env import HACK

ACCESS_KEY = "dbops-test-access"
SECRET_KEY = "dbops-test-secret-Zq9!x"
REGION = "us-east-1"


@dataclass(frozen=True)
class Gateway:
    """A running versitygw."""

    endpoint: str
    root: Path
    log: Path
    credentials: S3Credentials


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    """Any HTTP answer (an anonymous GET / is 403) means the gateway serves requests."""
    try:
        with urllib.request.urlopen(url, timeout=1):
            pass
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def build_versitygw() -> str:
    """The path of the versitygw binary, built (or found in the cache) by the hack script; fails the test on error."""
    result = subprocess.run(
        ["nice", "-n", "19", "bash", str(HACK / "build-versitygw.sh")], capture_output=True, text=True, timeout=1800
    )
    if result.returncode != 0:
        pytest.fail(f"could not build versitygw (hack/build-versitygw.sh exit {result.returncode}):\n{result.stderr}")
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def versitygw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    binary = build_versitygw()
    base = tmp_path_factory.mktemp("versitygw")
    root = base / "root"
    root.mkdir()
    log = base / "versitygw.log"
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {**os.environ, "ROOT_ACCESS_KEY_ID": ACCESS_KEY, "ROOT_SECRET_ACCESS_KEY": SECRET_KEY, "VGW_REGION": REGION}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [binary, "--port", f"127.0.0.1:{port}", "--quiet", "posix", str(root)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while not _answers(endpoint):
            if process.poll() is not None:
                pytest.fail(f"versitygw exited with {process.returncode}:\n{log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"versitygw did not answer on {endpoint} within 30 s:\n{log.read_text()}")
            time.sleep(0.05)
        yield Gateway(endpoint, root, log, S3Credentials(ACCESS_KEY, SECRET_KEY))
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
