"""The generated CRDs against the spec: CEL rules (api.md section 7, transcribed), printer columns (section 6),
names, and the structural-schema invariants the apiserver relies on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dbops.api import crdgen
from dbops.api.kinds import KINDS, KindInfo, by_kind

S = "'"
# api.md section 7, transcribed: (rule number, kinds, schema location, rule, message)
CEL_TABLE: list[tuple[int, tuple[str, ...], str, str, str]] = [
    (1, ("DatabaseInstance", "ClusterDatabaseInstance"), "spec.engine", "self == oldSelf", "engine is immutable"),
    (2, ("Database",), "spec.name", "self == oldSelf", "database name is immutable"),
    (3, ("DatabaseUser",), "spec.username", "self == oldSelf", "username is immutable"),
    (4, ("DatabaseRole", "ClusterDatabaseRole"), "spec.roleName", "self == oldSelf", "roleName is immutable"),
    (5, ("Database", "DatabaseUser", "DatabaseRole"), "spec", "has(self.instanceRef) || has(self.clusterInstanceRef)",
     "either instanceRef or clusterInstanceRef must be specified"),
    (6, ("Database", "DatabaseUser", "DatabaseRole"), "spec",
     "!(has(self.instanceRef) && has(self.clusterInstanceRef))",
     "instanceRef and clusterInstanceRef are mutually exclusive"),
    (7, ("DatabaseGrant",), "spec", "has(self.userRef) || has(self.roleRef)",
     "either userRef or roleRef must be specified"),
    (8, ("DatabaseGrant",), "spec", "!(has(self.userRef) && has(self.roleRef))",
     "userRef and roleRef are mutually exclusive"),
    (9, ("DatabaseRestore",), "spec.target", "!(has(self.instanceRef) && has(self.clusterInstanceRef))",
     "instanceRef and clusterInstanceRef are mutually exclusive"),
    (10, ("Database",), "spec.initSQL",
     "(has(self.inline) ? 1 : 0) + (has(self.configMapRef) ? 1 : 0) + (has(self.secretRef) ? 1 : 0) == 1",
     "exactly one of inline, configMapRef, or secretRef must be specified"),
    (11, ("DatabaseInstance", "ClusterDatabaseInstance"), "spec.connection",
     "has(self.secretRef) != has(self.existingSecret)", "exactly one of secretRef or existingSecret must be specified"),
    (12, ("DatabaseInstance", "ClusterDatabaseInstance"), "spec",
     f"!has(self.postgres) || self.engine == {S}postgres{S} || self.engine == {S}cockroachdb{S}",
     "postgres settings are only valid when engine is postgres or cockroachdb"),
    (13, ("DatabaseInstance", "ClusterDatabaseInstance"), "spec",
     f"!has(self.mysql) || self.engine == {S}mysql{S} || self.engine == {S}mariadb{S}",
     "mysql settings are only valid when engine is mysql or mariadb"),
    (14, ("DatabaseInstance", "ClusterDatabaseInstance"), "spec",
     f"!has(self.clickhouse) || self.engine == {S}clickhouse{S}",
     "clickhouse settings are only valid when engine is clickhouse"),
    (15, ("Database", "DatabaseUser", "DatabaseRole", "DatabaseGrant", "DatabaseRestore"), "spec",
     "(has(self.postgres) ? 1 : 0) + (has(self.mysql) ? 1 : 0) + (has(self.clickhouse) ? 1 : 0) <= 1",
     "at most one of postgres, mysql or clickhouse may be set"),
    *[
        (16, (kind,), loc, "!(has(self.postgres) && has(self.mysql))",
         "postgres and mysql settings are mutually exclusive")
        for kind, loc in [("ClusterDatabaseRole", "spec"), ("ClusterDatabaseGrant", "spec"), ("DatabaseBackup", "spec"),
                          ("DatabaseBackupSchedule", "spec.template.spec")]
    ],
    *[
        (17, (kind,), loc,
         f"has(self.gcs) == (self.type == {S}gcs{S}) && has(self.s3) == (self.type == {S}s3{S}) && "
         f"has(self.azure) == (self.type == {S}azure{S}) && has(self.pvc) == (self.type == {S}pvc{S})",
         "storage.type must name the one storage block that is set (gcs, s3, azure or pvc)")
        for kind, loc in [("DatabaseBackup", "spec.storage"), ("DatabaseBackupSchedule", "spec.template.spec.storage"),
                          ("DatabaseRestore", "spec.fromPath.storage"), ("Database", "spec.snapshotStorage")]
    ],
    *[
        (18, (kind,), loc, "!(has(self.enabled) && self.enabled) || has(self.secretRef)",
         "encryption.secretRef is required when encryption is enabled")
        for kind, loc in [("DatabaseBackup", "spec.encryption"),
                          ("DatabaseBackupSchedule", "spec.template.spec.encryption"),
                          ("DatabaseRestore", "spec.fromPath.encryption")]
    ],
    (19, ("DatabaseRestore",), "spec", "has(self.backupRef) != has(self.fromPath)",
     "exactly one of backupRef or fromPath must be specified"),
    (20, ("DatabaseRestore",), "spec",
     "!(has(self.target.inPlace) && self.target.inPlace) || (has(self.confirmation) && "
     "has(self.confirmation.acknowledgeDataLoss) && "
     f"self.confirmation.acknowledgeDataLoss == {S}I-UNDERSTAND-DATA-LOSS{S})",
     "target.inPlace requires confirmation.acknowledgeDataLoss to be I-UNDERSTAND-DATA-LOSS"),
    (21, ("ClusterDatabaseGrant",), "spec", "has(self.userRef) != has(self.roleRef)",
     "exactly one of userRef or roleRef must be specified"),
    (22, ("DatabaseUser",), "spec",
     "!(has(self.existingPasswordSecret) && has(self.passwordSecret) && "
     "(!has(self.passwordSecret.generate) || self.passwordSecret.generate))",
     "existingPasswordSecret requires passwordSecret.generate to be false"),
    (23, ("DatabaseUser",), "spec",
     "!has(self.passwordSecret) || !has(self.passwordSecret.generate) || self.passwordSecret.generate || "
     "has(self.existingPasswordSecret)",
     "passwordSecret.generate=false requires existingPasswordSecret"),
    # api.md 6.1 `allowedNamespaces` (behaviour.md 13): "CEL: absent on ClusterDatabaseInstance".
    (24, ("ClusterDatabaseInstance",), "spec", "!has(self.allowedNamespaces)",
     "allowedNamespaces is only valid on a DatabaseInstance: a ClusterDatabaseInstance is shared"),
]  # fmt: skip

# Section 6, transcribed: kind -> [(name, type, jsonPath)]
PHASE = ("Phase", "string", ".status.phase")
AGE = ("Age", "date", ".metadata.creationTimestamp")
INSTANCE_COLUMNS = [
    ("Engine", "string", ".spec.engine"),
    ("Host", "string", ".spec.connection.host"),
    ("Port", "integer", ".spec.connection.port"),
    PHASE,
    ("Version", "string", ".status.version"),
    AGE,
]
PRINTER_COLUMNS: dict[str, list[tuple[str, str, str]]] = {
    "DatabaseInstance": INSTANCE_COLUMNS,
    "ClusterDatabaseInstance": INSTANCE_COLUMNS,
    "Database": [("Instance", "string", ".spec.instanceRef.name"), ("Database", "string", ".spec.name"), PHASE,
                 ("Size", "string", ".status.database.sizeBytes"), AGE],
    "DatabaseUser": [("Instance", "string", ".spec.instanceRef.name"), ("Username", "string", ".spec.username"), PHASE,
                     ("Secret", "string", ".status.secret.name"), AGE],
    "DatabaseRole": [("Instance", "string", ".spec.instanceRef.name"), ("Role", "string", ".spec.roleName"),
                     PHASE, AGE],
    "ClusterDatabaseRole": [("Instance", "string", ".spec.clusterInstanceRef.name"),
                            ("Role", "string", ".spec.roleName"), PHASE, AGE],
    "DatabaseGrant": [("User", "string", ".spec.userRef.name"), ("Database", "string", ".spec.databaseRef.name"),
                      PHASE, AGE],
    "ClusterDatabaseGrant": [("Target", "string", ".status.targetInfo.name"),
                             ("Type", "string", ".status.targetInfo.type"),
                             ("Applied", "integer", ".status.appliedGrants.applied"), PHASE, AGE],
    "DatabaseBackup": [("Database", "string", ".spec.databaseRef.name"), PHASE,
                       ("Size", "string", ".status.backup.compressedSizeBytes"),
                       ("Started", "date", ".status.startedAt"), ("Completed", "date", ".status.completedAt"), AGE],
    "DatabaseBackupSchedule": [("Schedule", "string", ".spec.schedule"), ("Paused", "boolean", ".spec.paused"), PHASE,
                               ("Last Backup", "string", ".status.lastBackup.name"),
                               ("Next Backup", "date", ".status.nextBackupTime"), AGE],
    "DatabaseRestore": [("Backup", "string", ".spec.backupRef.name"),
                        ("Target", "string", ".status.restore.targetDatabase"), PHASE,
                        ("Progress", "integer", ".status.progress.percentage"), AGE],
}  # fmt: skip


def _crd(info: KindInfo) -> dict[str, Any]:
    return crdgen.crd(info)


def _root(info: KindInfo) -> dict[str, Any]:
    schema: dict[str, Any] = _crd(info)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _at(schema: dict[str, Any], location: str) -> dict[str, Any]:
    node = schema
    for part in location.split("."):
        node = node["properties"][part]
    return node


def _nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _nodes(child, f"{path}.{name}")
    if "items" in node:
        yield from _nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _nodes(node["additionalProperties"], f"{path}{{}}")


def test_every_cel_rule_of_the_spec_is_in_place_and_nothing_else() -> None:
    expected = {(kind, loc, rule, msg) for _, ks, loc, rule, msg in CEL_TABLE for kind in ks}
    actual = set()
    for info in KINDS:
        for path, node in _nodes(_root(info)):
            for v in node.get("x-kubernetes-validations", []):
                actual.add((info.kind, path.lstrip("."), v["rule"], v["message"]))
    assert actual == expected


@pytest.mark.parametrize("info", KINDS, ids=lambda i: i.kind)
def test_names_scope_subresources_and_printer_columns(info: KindInfo) -> None:
    crd = _crd(info)
    spec = crd["spec"]
    assert crd["metadata"]["name"] == f"{info.plural}.dbops.dbprovision.io"
    assert spec["group"] == "dbops.dbprovision.io"
    assert spec["names"] == {
        "kind": info.kind,
        "listKind": f"{info.kind}List",
        "plural": info.plural,
        "singular": info.kind.lower(),
        "shortNames": [info.short_name],
        "categories": ["dbops"],
    }
    assert spec["scope"] == ("Namespaced" if info.namespaced else "Cluster")
    [version] = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    columns = [(c["name"], c["type"], c["jsonPath"]) for c in version["additionalPrinterColumns"]]
    assert columns == PRINTER_COLUMNS[info.kind]


@pytest.mark.parametrize("info", KINDS, ids=lambda i: i.kind)
def test_schema_is_structural_and_documented(info: KindInfo) -> None:
    root = _root(info)
    assert root["required"] == ["spec"]
    for path, node in _nodes(root):
        assert isinstance(node.get("type"), str), f"{path}: no type"
        assert "x-kubernetes-preserve-unknown-fields" not in node, path
        assert not ("properties" in node and "additionalProperties" in node), path
        assert not {"anyOf", "oneOf", "allOf", "$ref", "title", "const"} & node.keys(), path
        if path and path != ".metadata":
            assert node.get("description") or path.endswith(("[]", "{}")), f"{path}: no description"
        if "enum" in node:
            assert node["type"] == "string", path
            if "default" in node:
                assert node["default"] in node["enum"], path
        if "default" in node:
            assert node["default"] is not None, path
            types = {"string": str, "integer": int, "boolean": bool, "array": list, "object": dict}
            assert isinstance(node["default"], types[node["type"]]), path
        for key in ("minimum", "maximum"):
            if key in node:
                assert node["type"] == "integer", path
        if node["type"] == "integer":
            assert node.get("format") in {"int32", "int64"}, f"{path}: integer without int32/int64 format"


@pytest.mark.parametrize("info", KINDS, ids=lambda i: i.kind)
def test_status_phase_enum_and_conditions(info: KindInfo) -> None:
    status = _at(_root(info), "status")
    assert status["properties"]["phase"]["enum"] == list(info.phases)
    conditions = status["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert conditions["items"]["required"] == ["lastTransitionTime", "message", "reason", "status", "type"]
    assert conditions["items"]["properties"]["status"]["enum"] == ["True", "False", "Unknown"]
    assert status["properties"]["observedGeneration"]["format"] == "int64"


def test_identifier_fields_share_one_validation() -> None:
    ident = {"minLength": 1, "maxLength": 63, "pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$"}
    for kind, location in [("Database", "spec.name"), ("DatabaseUser", "spec.username"),
                           ("DatabaseRole", "spec.roleName"), ("ClusterDatabaseRole", "spec.roleName")]:  # fmt: skip
        node = _at(_root(by_kind(kind)), location)
        assert {k: node[k] for k in ident} == ident, (kind, location)
