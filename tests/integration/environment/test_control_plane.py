"""The local control plane is a real one: CRDs with CEL, watches, Leases, Events, garbage collection, RBAC."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Kubectl

GROUP = "envcheck.dbops.test"
CRD = f"""
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: envprobes.{GROUP}
spec:
  group: {GROUP}
  scope: Namespaced
  names: {{plural: envprobes, singular: envprobe, kind: EnvProbe}}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {{status: {{}}}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            x-kubernetes-validations:
            - rule: "self.size <= self.maxSize"
              message: "spec.size must not exceed spec.maxSize"
            properties:
              size: {{type: integer}}
              maxSize: {{type: integer, default: 10}}
          status:
            type: object
            properties:
              phase: {{type: string}}
"""


def wait_for(predicate: Any, timeout: float = 60, what: str = "condition") -> Any:
    """Poll `predicate` until it returns a truthy value; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="module")
def envprobe_crd(kubectl: Kubectl) -> Iterator[str]:
    kubectl("apply", "-f", "-", input=CRD)
    kubectl("wait", "--for=condition=Established", f"crd/envprobes.{GROUP}", "--timeout=60s")
    yield f"envprobes.{GROUP}"
    kubectl("delete", "crd", f"envprobes.{GROUP}", "--ignore-not-found", "--wait=false", check=False)


def test_kubectl_reaches_the_apiserver_as_admin(kubectl: Kubectl) -> None:
    namespaces = kubectl("get", "ns", "-o", "name").stdout.split()
    assert "namespace/default" in namespaces
    assert kubectl("auth", "can-i", "*", "*").stdout.strip() == "yes"
    version = json.loads(kubectl("version", "-o", "json").stdout)["serverVersion"]
    assert version["major"] == "1" and int(version["minor"]) >= 31


def test_crd_with_status_subresource_and_cel_rule(kubectl: Kubectl, namespace: str, envprobe_crd: str) -> None:
    good = f"apiVersion: {GROUP}/v1\nkind: EnvProbe\nmetadata: {{name: good}}\nspec: {{size: 3}}\n"
    kubectl("apply", "-n", namespace, "-f", "-", input=good)
    stored = json.loads(kubectl("get", "-n", namespace, "envprobe", "good", "-o", "json").stdout)
    assert stored["spec"]["maxSize"] == 10, "the structural schema's default is applied by the apiserver"

    bad = f"apiVersion: {GROUP}/v1\nkind: EnvProbe\nmetadata: {{name: bad}}\nspec: {{size: 30}}\n"
    rejected = kubectl("apply", "-n", namespace, "-f", "-", input=bad, check=False)
    assert rejected.returncode != 0
    assert "spec.size must not exceed spec.maxSize" in rejected.stderr

    missing = f"apiVersion: {GROUP}/v1\nkind: EnvProbe\nmetadata: {{name: missing}}\nspec: {{}}\n"
    rejected = kubectl("apply", "-n", namespace, "-f", "-", input=missing, check=False)
    assert rejected.returncode != 0 and "spec.size: Required value" in rejected.stderr

    # The status subresource is separate: a status patch does not change the generation, a spec change does.
    kubectl(
        "patch",
        "-n",
        namespace,
        "envprobe",
        "good",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status":{"phase":"Ready"}}',
    )
    after_status = json.loads(kubectl("get", "-n", namespace, "envprobe", "good", "-o", "json").stdout)
    assert after_status["status"]["phase"] == "Ready"
    assert after_status["metadata"]["generation"] == stored["metadata"]["generation"]
    kubectl("patch", "-n", namespace, "envprobe", "good", "--type=merge", "-p", '{"spec":{"size":4}}')
    after_spec = json.loads(kubectl("get", "-n", namespace, "envprobe", "good", "-o", "json").stdout)
    assert after_spec["metadata"]["generation"] == stored["metadata"]["generation"] + 1


async def test_watch_sees_added_modified_deleted(api_client: Any, namespace: str, envprobe_crd: str) -> None:
    from kubernetes_asyncio import client, watch

    objects = client.CustomObjectsApi(api_client)
    seen: list[tuple[str, str]] = []

    # Watching from the resourceVersion of a list delivers every change after it, whenever the watch request is
    # established: no need to wait for it before making the changes.
    listed = await objects.list_namespaced_custom_object(GROUP, "v1", namespace, "envprobes")
    since = listed["metadata"]["resourceVersion"]

    async def collect() -> None:
        stream = watch.Watch()
        async for event in stream.stream(
            objects.list_namespaced_custom_object,
            GROUP,
            "v1",
            namespace,
            "envprobes",
            resource_version=since,
            timeout_seconds=60,
        ):
            seen.append((event["type"], event["object"]["metadata"]["name"]))
            if event["type"] == "DELETED":
                stream.stop()

    watcher = asyncio.create_task(collect())
    body = {"apiVersion": f"{GROUP}/v1", "kind": "EnvProbe", "metadata": {"name": "w"}, "spec": {"size": 1}}
    await objects.create_namespaced_custom_object(GROUP, "v1", namespace, "envprobes", body)
    await objects.patch_namespaced_custom_object(
        GROUP, "v1", namespace, "envprobes", "w", {"spec": {"size": 2}}, _content_type="application/merge-patch+json"
    )
    await objects.delete_namespaced_custom_object(GROUP, "v1", namespace, "envprobes", "w")
    await asyncio.wait_for(watcher, 30)
    assert seen == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]


def test_lease_can_be_created_and_renewed(kubectl: Kubectl, namespace: str) -> None:
    lease = """apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: leader-check}
spec: {holderIdentity: a, leaseDurationSeconds: 15}
"""
    kubectl("apply", "-n", namespace, "-f", "-", input=lease)
    kubectl("patch", "-n", namespace, "lease", "leader-check", "--type=merge", "-p", '{"spec":{"holderIdentity":"b"}}')
    holder = kubectl("get", "-n", namespace, "lease", "leader-check", "-o", "jsonpath={.spec.holderIdentity}").stdout
    assert holder == "b"


def test_event_is_found_by_involved_object(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "configmap", "subject", "-n", namespace)
    uid = kubectl("get", "configmap", "subject", "-n", namespace, "-o", "jsonpath={.metadata.uid}").stdout
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"subject.{uuid.uuid4().hex[:10]}"},
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": "subject",
            "namespace": namespace,
            "uid": uid,
        },
        "reason": "EnvironmentChecked",
        "message": "the event pipeline works",
        "type": "Normal",
        "source": {"component": "envcheck-controller"},
        "reportingComponent": "envcheck-controller",
        "reportingInstance": "envcheck-1",
        "count": 1,
    }
    kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(event))
    listed = kubectl(
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        "involvedObject.name=subject,reason=EnvironmentChecked",
        "-o",
        "json",
    ).stdout
    items = json.loads(listed)["items"]
    assert [(e["reason"], e["message"]) for e in items] == [("EnvironmentChecked", "the event pipeline works")]
    described = kubectl("describe", "configmap", "subject", "-n", namespace).stdout
    assert "EnvironmentChecked" in described and "the event pipeline works" in described


def test_owned_object_is_garbage_collected(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "configmap", "owner", "-n", namespace)
    uid = kubectl("get", "configmap", "owner", "-n", namespace, "-o", "jsonpath={.metadata.uid}").stdout
    owned = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "owned",
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}],
        },
    }
    kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(owned))
    kubectl("delete", "configmap", "owner", "-n", namespace)

    def owned_is_gone() -> bool:
        result = kubectl("get", "configmap", "owned", "-n", namespace, "--ignore-not-found", "-o", "name")
        return result.stdout.strip() == ""

    wait_for(owned_is_gone, timeout=60, what="the garbage collector to delete the owned ConfigMap")


def test_service_account_tokens_are_subject_to_rbac(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "serviceaccount", "reader", "-n", namespace)
    token = kubectl("create", "token", "reader", "-n", namespace, "--duration=10m").stdout.strip()
    as_reader = ("--token", token, "-n", namespace)
    assert kubectl("auth", "can-i", "list", "configmaps", *as_reader, check=False).stdout.strip() == "no"
    denied = kubectl("get", "configmaps", *as_reader, check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()

    kubectl("create", "role", "cm-reader", "-n", namespace, "--verb=list,get", "--resource=configmaps")
    kubectl(
        "create",
        "rolebinding",
        "cm-reader",
        "-n",
        namespace,
        "--role=cm-reader",
        f"--serviceaccount={namespace}:reader",
    )
    wait_for(
        lambda: kubectl("auth", "can-i", "list", "configmaps", *as_reader, check=False).stdout.strip() == "yes",
        timeout=30,
        what="the RoleBinding to take effect",
    )
    assert kubectl("get", "configmaps", *as_reader).returncode == 0
