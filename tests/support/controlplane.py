"""A handle on the running control plane for tests that must disturb it: restart the API server, compact etcd."""

from __future__ import annotations

import base64
import json
import urllib.request
from dataclasses import dataclass

from tests.support.env import DevEnv, hack


@dataclass
class ControlPlane:
    """Operations on the local etcd + kube-apiserver that a real cluster can also suffer."""

    env: DevEnv

    def stop_apiserver(self) -> None:
        hack("controlplane.sh", "stop-apiserver")

    def start_apiserver(self) -> None:
        """Start kube-apiserver again and wait until /readyz answers ok."""
        hack("controlplane.sh", "start-apiserver")

    def restart_apiserver(self) -> None:
        self.stop_apiserver()
        self.start_apiserver()

    def _etcd(self, path: str, body: dict[str, object]) -> dict[str, object]:
        request = urllib.request.Request(
            f"{self.env.etcd_url}{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            result: dict[str, object] = json.loads(response.read())
            return result

    def etcd_revision(self) -> int:
        """etcd's current revision, through its JSON gateway (a range read of one key returns the header)."""
        header = self._etcd("/v3/kv/range", {"key": base64.b64encode(b"/registry/health").decode()})["header"]
        assert isinstance(header, dict)
        return int(header["revision"])

    def compact_etcd(self) -> int:
        """Compact etcd up to its current revision, so every older resourceVersion is gone for good; returns it.

        The API server's watch cache still serves recent versions; restart the API server afterwards to make a
        watch from an old resourceVersion fail with 410 Gone, as it does on a real cluster after a compaction.
        """
        revision = self.etcd_revision()
        self._etcd("/v3/kv/compaction", {"revision": str(revision), "physical": True})
        return revision
