"""The CRDs and samples against the real kube-apiserver: installation, samples, rejection of bad manifests (with a
message naming the field), schema defaults, the status subresource and printer columns."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from dbops.api import kinds
from dbops.api.database import DatabaseInfo, DatabaseSpec, DatabaseStatus
from dbops.api.instance import DatabaseInstanceStatus
from dbops.api.meta import Condition
from dbops.api.user import DatabaseUserStatus
from tests.integration.api.conftest import GROUP, REPO, Kubectl
from tests.unit.api.manifests import (
    ABSENT,
    BAD_CASES,
    CLUSTER_SCOPED,
    DEFAULT_CASES,
    GOOD_CASES,
    Case,
    DefaultCase,
    Manifest,
    base,
    get_path,
)


def _unique(manifest: Manifest, stem: str) -> Manifest:
    manifest["metadata"]["name"] = f"{stem[:40]}-{uuid.uuid4().hex[:6]}"
    return manifest


def _ns_args(kind: str, namespace: str) -> list[str]:
    return [] if kind in CLUSTER_SCOPED else ["-n", namespace]


def _delete(kubectl: Kubectl, manifest: Manifest, namespace: str) -> None:
    kind = kinds.by_kind(manifest["kind"])
    kubectl(
        "delete", f"{kind.plural}.{GROUP}", manifest["metadata"]["name"], "--ignore-not-found", "--wait=false",
        *_ns_args(manifest["kind"], namespace), check=False,
    )  # fmt: skip


def _create(kubectl: Kubectl, manifest: Manifest, namespace: str) -> dict[str, Any]:
    out = kubectl("create", "-o", "json", *_ns_args(manifest["kind"], namespace), "-f", "-", input=json.dumps(manifest))
    created: dict[str, Any] = json.loads(out.stdout)
    return created


# --------------------------------------------------------------------------------------------------------------
# Installation


def test_every_crd_is_established_and_structural(kubectl: Kubectl, crds: list[str]) -> None:
    assert sorted(crds) == sorted(k.crd_name for k in kinds.KINDS)
    for name in crds:
        crd = json.loads(kubectl("get", "crd", name, "-o", "json").stdout)
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conditions.get("Established") == "True", (name, conditions)
        assert conditions.get("NamesAccepted") == "True", (name, conditions)
        assert "NonStructuralSchema" not in conditions, (name, conditions)


def test_api_resources_short_names_and_category(kubectl: Kubectl, crds: list[str]) -> None:
    out = kubectl("api-resources", f"--api-group={GROUP}", "-o", "wide").stdout
    for info in kinds.KINDS:
        line = next(row for row in out.splitlines() if row.split()[0] == info.plural)
        assert info.short_name in line.split(), line
        assert ("true" if info.namespaced else "false") in line.split(), line
        assert "dbops" in line, line


def test_explain_shows_every_documented_field(kubectl: Kubectl, crds: list[str]) -> None:
    out = kubectl("explain", "database.spec").stdout
    for name, field in DatabaseSpec.model_fields.items():
        assert f"  {field.alias or name}\t" in out, (field.alias or name, out)
        assert field.description and field.description.split()[0] in out
    deep = kubectl("explain", "databaseinstance.spec.connection.secretRef.keys.username").stdout
    assert "Data key holding the user name." in deep


# --------------------------------------------------------------------------------------------------------------
# Samples


def _renamed_samples(kubectl: Kubectl, suffix: str) -> list[Manifest]:
    """config/samples as kustomize renders them, every object renamed with `suffix`: the cluster-scoped samples
    (`shared-postgres`, `reporting`, `reporting-access`) share their names with a running demo's, and a test only
    ever creates and deletes objects of its own."""
    rendered = kubectl("kustomize", str(REPO / "config/samples")).stdout
    documents: list[Manifest] = [doc for doc in yaml.safe_load_all(rendered) if doc]
    for doc in documents:
        doc["metadata"]["name"] = f"{doc['metadata']['name']}-{suffix}"
    return documents


def test_every_sample_is_accepted_and_printer_columns_work(kubectl: Kubectl, api_namespace: str) -> None:
    suffix = uuid.uuid4().hex[:6]
    samples = _renamed_samples(kubectl, suffix)
    cluster_scoped = [doc for doc in samples if doc["kind"] in CLUSTER_SCOPED]
    assert sorted(doc["kind"] for doc in cluster_scoped) == sorted(CLUSTER_SCOPED), cluster_scoped
    try:
        out = kubectl("apply", "-n", api_namespace, "-f", "-", input=yaml.safe_dump_all(samples)).stdout
        assert out.count(" created") + out.count(" configured") + out.count(" unchanged") == 14, out

        for info in kinds.KINDS:
            listing = json.loads(
                kubectl("get", f"{info.plural}.{GROUP}", "-o", "json", *_ns_args(info.kind, api_namespace)).stdout
            )
            items = [item for item in listing["items"] if item["metadata"]["name"].endswith(f"-{suffix}")]
            assert items, f"no {info.kind} sample"
            for item in items:
                kinds.parse(item)  # what the apiserver stored parses into the typed model

        table = kubectl("get", "dbi,db,dbu", "-n", api_namespace).stdout
        for header in ("ENGINE", "HOST", "PORT", "PHASE", "VERSION", "AGE", "INSTANCE", "DATABASE", "SIZE",
                       "USERNAME", "SECRET"):  # fmt: skip
            assert header in table, table
        rows = {cols[0]: cols for cols in map(str.split, table.splitlines()) if cols and "/" in cols[0]}
        # Leading columns only: Phase, Version, Size and Secret stay empty until an operator writes status.
        instance = rows[f"databaseinstance.{GROUP}/local-postgres-{suffix}"]
        assert instance[1:4] == ["postgres", "127.0.0.1", "15432"], table
        assert rows[f"database.{GROUP}/app-{suffix}"][1:3] == ["local-postgres", "app_db"], table
        assert rows[f"databaseuser.{GROUP}/app-user-{suffix}"][1:3] == ["local-postgres", "app_user"], table
    finally:
        for doc in cluster_scoped:
            kubectl(
                "delete", f"{kinds.by_kind(doc['kind']).plural}.{GROUP}", doc["metadata"]["name"],
                "--ignore-not-found", "--wait=false", check=False,
            )  # fmt: skip


def test_the_cross_namespace_sample_is_consented_to_by_the_sample_instance(kubectl: Kubectl) -> None:
    """config/samples/cross-namespace (applied by `make demo`) uses the sample instance from another namespace; the
    instance sample lists that namespace, so the reference is permitted (behaviour.md 13)."""
    rendered = kubectl("kustomize", str(REPO / "config/samples/cross-namespace")).stdout
    documents = [doc for doc in yaml.safe_load_all(rendered) if doc]
    databases = [kinds.parse(doc) for doc in documents if doc["kind"] == "Database"]
    assert databases, documents
    sample = yaml.safe_load((REPO / "config/samples/dbops_v1alpha1_databaseinstance.yaml").read_text())
    for database in databases:
        ref = database.spec.instance_ref
        assert ref is not None and ref.namespace and ref.namespace != database.metadata.namespace
        assert ref.name == sample["metadata"]["name"]
        assert database.metadata.namespace in sample["spec"]["allowedNamespaces"]


# --------------------------------------------------------------------------------------------------------------
# Bad manifests


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda c: c.id)
def test_bad_manifest_is_rejected_with_a_message_naming_the_field(
    case: Case, kubectl: Kubectl, api_namespace: str
) -> None:
    ns = _ns_args(case.kind, api_namespace)
    manifest = _unique(case.manifest(), case.id)
    created = None
    try:
        if case.update:
            original = _unique(base(case.kind), case.id)
            original["metadata"]["name"] = manifest["metadata"]["name"]
            created = _create(kubectl, original, api_namespace)
            manifest["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
            result = kubectl("replace", "--dry-run=server", *ns, "-f", "-", input=json.dumps(manifest), check=False)
        else:
            result = kubectl("create", "--dry-run=server", *ns, "-f", "-", input=json.dumps(manifest), check=False)
    finally:
        if created:
            _delete(kubectl, manifest, api_namespace)
    assert result.returncode != 0, f"{case.id} was accepted:\n{result.stdout}"
    path, *messages = case.fields
    # The apiserver names the field as `<path>: <reason>` (schema and CEL) or `unknown field "<path>"` (strict).
    assert f"{path}:" in result.stderr or f'"{path}"' in result.stderr, f"{path!r} not named in:\n{result.stderr}"
    for expected in messages:
        assert expected in result.stderr, f"{expected!r} not in:\n{result.stderr}"


@pytest.mark.parametrize("case", GOOD_CASES, ids=lambda c: c.id)
def test_edge_case_is_accepted(case: Case, kubectl: Kubectl, api_namespace: str) -> None:
    ns = _ns_args(case.kind, api_namespace)
    manifest = _unique(case.manifest(), case.id)
    if not case.update:
        kubectl("create", "--dry-run=server", *ns, "-f", "-", input=json.dumps(manifest))
        return
    original = base(case.kind)
    original["metadata"]["name"] = manifest["metadata"]["name"]
    created = _create(kubectl, original, api_namespace)
    try:
        manifest["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
        kubectl("replace", "--dry-run=server", *ns, "-f", "-", input=json.dumps(manifest))
    finally:
        _delete(kubectl, manifest, api_namespace)


# --------------------------------------------------------------------------------------------------------------
# Defaults, status subresource


@pytest.mark.parametrize("case", DEFAULT_CASES, ids=lambda c: c.id)
def test_schema_defaults_are_applied_by_the_apiserver(case: DefaultCase, kubectl: Kubectl, api_namespace: str) -> None:
    manifest = _unique(case.manifest(), case.id)
    try:
        _create(kubectl, manifest, api_namespace)
        info = kinds.by_kind(case.kind)
        stored = json.loads(
            kubectl(
                "get", f"{info.plural}.{GROUP}", manifest["metadata"]["name"], "-o", "json",
                *_ns_args(case.kind, api_namespace),
            ).stdout
        )  # fmt: skip
    finally:
        _delete(kubectl, manifest, api_namespace)
    for path, expected in case.expected.items():
        actual = get_path(stored, path)
        assert actual is expected if expected is ABSENT else actual == expected, (path, actual)
    # The Python model applies the same defaults, so a controller sees the same values either way.
    assert kinds.parse(manifest).to_dict()["spec"] == stored["spec"]


def test_status_subresource_accepts_model_output_and_feeds_printer_columns(
    kubectl: Kubectl, api_namespace: str
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    ready = Condition(type="Ready", status="True", reason="ReconcileSuccess", message="ok", last_transition_time=now)
    statuses = {
        "DatabaseInstance": DatabaseInstanceStatus(phase="Ready", version="PostgreSQL 15.8", conditions=[ready]),
        "Database": DatabaseStatus(phase="Ready", database=DatabaseInfo(size_bytes=7_654_321), conditions=[ready]),
        "DatabaseUser": DatabaseUserStatus(phase="Pending", observed_generation=1, conditions=[ready]),
    }
    names = {}
    for kind, status in statuses.items():
        manifest = _unique(base(kind), kind.lower())
        names[kind] = manifest["metadata"]["name"]
        _create(kubectl, manifest, api_namespace)
        plural = kinds.by_kind(kind).plural
        patch = json.dumps({"status": status.to_dict()})
        kubectl("patch", f"{plural}.{GROUP}", names[kind], "-n", api_namespace, "--subresource=status",
                "--type=merge", "-p", patch)  # fmt: skip
        stored = json.loads(kubectl("get", f"{plural}.{GROUP}", names[kind], "-n", api_namespace, "-o", "json").stdout)
        parsed = kinds.parse(stored)
        assert parsed.status == status

    # A phase outside the enum is refused by the status schema.
    bad = kubectl(
        "patch", f"databases.{GROUP}", names["Database"], "-n", api_namespace, "--subresource=status",
        "--type=merge", "-p", json.dumps({"status": {"phase": "Exploded"}}), check=False,
    )  # fmt: skip
    assert bad.returncode != 0 and "status.phase" in bad.stderr, bad.stderr

    table = kubectl("get", "dbi,db,dbu", "-n", api_namespace).stdout
    rows = {cols[0].split("/")[-1]: cols for cols in map(str.split, table.splitlines()) if cols and "/" in cols[0]}
    assert rows[names["DatabaseInstance"]][1:5] == ["postgres", "127.0.0.1", "15432", "Ready"], table
    assert rows[names["DatabaseInstance"]][5:7] == ["PostgreSQL", "15.8"], table
    assert rows[names["Database"]][1:5] == ["pg", "app_db", "Ready", "7654321"], table
    assert rows[names["DatabaseUser"]][1:4] == ["pg", "app_user", "Pending"], table
