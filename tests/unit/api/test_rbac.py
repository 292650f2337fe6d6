"""The operator's ClusterRole grants exactly runtime.md section 9, and the user-facing roles cover every kind."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dbops.api import crdgen, rbac
from dbops.api.kinds import KINDS, KindInfo

G = "dbops.dbprovision.io"
ALL = [k.plural for k in KINDS]

# runtime.md section 9, transcribed: (group, resources, verbs)
TABLE_9: list[tuple[str, list[str], list[str]]] = [
    (G, ALL, ["get", "list", "watch", "update", "patch"]),
    (G, ["databasebackups"], ["create", "delete"]),
    (G, ["databases", "databaseusers", "databaseroles", "clusterdatabaseroles"], ["create"]),
    (G, ["databases", "databaseusers", "databaseroles", "clusterdatabaseroles", "databasegrants",
         "clusterdatabasegrants"], ["delete"]),
    (G, [f"{p}/status" for p in ALL], ["get", "update", "patch"]),
    (G, [f"{p}/finalizers" for p in ALL], ["update"]),
    ("", ["secrets"], ["get", "list", "watch", "create", "update", "patch", "delete"]),
    ("", ["configmaps"], ["get", "list", "watch"]),
    # Addition to the table: behaviour.md 13's consent is a Namespace annotation, read from a namespace informer.
    ("", ["namespaces"], ["get", "list", "watch"]),
    ("", ["events"], ["create", "patch"]),
    ("authentication.k8s.io", ["tokenreviews"], ["create"]),
    ("authorization.k8s.io", ["subjectaccessreviews"], ["create"]),
]  # fmt: skip


def _expand(rules: list[dict[str, list[str]]]) -> set[tuple[str, str, str]]:
    return {(g, r, v) for rule in rules for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}


def test_manager_role_is_exactly_the_spec_table() -> None:
    expected = {(g, r, v) for g, resources, verbs in TABLE_9 for r in resources for v in verbs}
    assert rbac.effective(rbac.manager_needs()) == expected
    assert _expand(rbac.rules(rbac.manager_needs())) == expected
    assert crdgen.rbac_documents()["role.yaml"]["metadata"]["name"] == "manager-role"


def test_no_wildcards_in_the_operator_roles() -> None:
    for name in ("role.yaml", "leader_election_role.yaml", "metrics_auth_role.yaml", "dbctl_migrate_role.yaml"):
        for rule in crdgen.rbac_documents()[name]["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"], name


def test_every_controller_can_manage_its_own_kinds() -> None:
    owned = {
        "instance": ["databaseinstances", "clusterdatabaseinstances"],
        "database": ["databases"],
        "user": ["databaseusers"],
        "role": ["databaseroles", "clusterdatabaseroles"],
        "grant": ["databasegrants", "clusterdatabasegrants"],
        "backup": ["databasebackups"],
        "schedule": ["databasebackupschedules"],
        "restore": ["databaserestores"],
    }
    assert sorted(p for plurals in owned.values() for p in plurals) == sorted(ALL)
    for controller, plurals in owned.items():
        granted = rbac.effective(rbac.CONTROLLER_NEEDS[controller])
        for plural in plurals:
            assert {(G, plural, v) for v in ("get", "update", "patch")} <= granted, controller
            assert {(G, f"{plural}/status", v) for v in ("update", "patch")} <= granted, controller
            assert (G, f"{plural}/finalizers", "update") in granted, controller


def test_leader_election_role_and_bindings() -> None:
    docs = crdgen.rbac_documents()
    role = docs["leader_election_role.yaml"]
    assert role["kind"] == "Role" and role["metadata"]["namespace"] == "system"
    assert _expand(role["rules"]) == {
        ("coordination.k8s.io", "leases", "get"),
        ("coordination.k8s.io", "leases", "create"),
        ("coordination.k8s.io", "leases", "update"),
        ("", "events", "create"),
        ("", "events", "patch"),
    }
    subject = {"kind": "ServiceAccount", "name": "controller-manager", "namespace": "system"}
    for name, role_kind, role_name in [
        ("role_binding.yaml", "ClusterRole", "manager-role"),
        ("leader_election_role_binding.yaml", "Role", "leader-election-role"),
        ("metrics_auth_role_binding.yaml", "ClusterRole", "metrics-auth-role"),
    ]:
        binding = docs[name]
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name}
        assert binding["subjects"] == [subject]
    assert docs["service_account.yaml"]["metadata"]["name"] == "controller-manager"


def test_dbctl_migrate_role() -> None:
    assert _expand(crdgen.rbac_documents()["dbctl_migrate_role.yaml"]["rules"]) == {
        (G, "databases", "get"),
        (G, "databaseinstances", "get"),
        (G, "clusterdatabaseinstances", "get"),
        ("", "secrets", "get"),
        (G, "databases/status", "patch"),
        ("", "events", "create"),
    }


@pytest.mark.parametrize("info", KINDS, ids=lambda i: i.kind)
def test_user_facing_roles(info: KindInfo) -> None:
    docs = crdgen.rbac_documents()
    verbs = {
        "admin": ["*"],
        "editor": ["create", "delete", "get", "list", "patch", "update", "watch"],
        "viewer": ["get", "list", "watch"],
    }
    aggregate = {"admin": "admin", "editor": "edit", "viewer": "view"}
    for flavour, expected_verbs in verbs.items():
        role = docs[f"{info.singular}_{flavour}_role.yaml"]
        assert role["metadata"]["name"] == f"{info.singular}-{flavour}-role"
        assert role["rules"] == [
            {"apiGroups": [G], "resources": [info.plural], "verbs": expected_verbs},
            {"apiGroups": [G], "resources": [f"{info.plural}/status"], "verbs": ["get"]},
        ]
        label = f"rbac.authorization.k8s.io/aggregate-to-{aggregate[flavour]}"
        assert (role["metadata"]["labels"].get(label) == "true") is info.namespaced


def test_kustomization_lists_every_file() -> None:
    files = crdgen.generate()
    listed = yaml.safe_load(files[Path("config/rbac/kustomization.yaml")])["resources"]
    on_disk = sorted(p.name for p in files if p.parent == Path("config/rbac") and p.name != "kustomization.yaml")
    assert sorted(listed) == on_disk
