"""The consent rule for cross-namespace references (behaviour.md 13), as pure logic."""

from __future__ import annotations

from typing import Any

import pytest

from dbops.controllers.instances import InstanceTarget
from dbops.controllers.references import (
    ALLOW_REFERENCES_FROM,
    ReferencePolicy,
    ReferenceRefused,
    check_object_references,
    instance_consents,
    namespace_consents,
    referenced_namespaces,
)
from dbops.engines.registry import InstanceKey

NAMESPACES = {
    "open": {"metadata": {"name": "open", "annotations": {ALLOW_REFERENCES_FROM: "*"}}},
    "listed": {"metadata": {"name": "listed", "annotations": {ALLOW_REFERENCES_FROM: "other, team-a"}}},
    "closed": {"metadata": {"name": "closed"}},
}


def policy(mode: str = "consent", watched: tuple[str, ...] = ()) -> ReferencePolicy:
    return ReferencePolicy(mode, watched, NAMESPACES.get)


def instance(namespace: str, allowed: list[str] | None = None) -> dict[str, Any]:
    spec = {"allowedNamespaces": allowed} if allowed is not None else {}
    return {"metadata": {"name": "pg", "namespace": namespace}, "spec": spec}


TARGET = InstanceTarget(InstanceKey("DatabaseInstance", "shared", "pg"))


def test_instance_consent_is_its_own_namespace_a_listed_one_or_star() -> None:
    assert instance_consents(instance("team-a"), "team-a")
    assert instance_consents(instance("shared", ["team-a"]), "team-a")
    assert instance_consents(instance("shared", ["*"]), "anyone")
    assert not instance_consents(instance("shared", ["team-b"]), "team-a")
    assert not instance_consents(instance("shared", []), "team-a")
    assert not instance_consents(instance("shared"), "team-a")


def test_namespace_consent_reads_a_comma_separated_annotation() -> None:
    assert namespace_consents(NAMESPACES["open"], "x")
    assert namespace_consents(NAMESPACES["listed"], "team-a")
    assert not namespace_consents(NAMESPACES["listed"], "team")
    assert not namespace_consents(NAMESPACES["closed"], "team-a")
    assert not namespace_consents(None, "team-a")


def test_an_instance_reference_without_consent_is_refused_naming_the_fix() -> None:
    with pytest.raises(ReferenceRefused) as refused:
        policy().instance("team-a", TARGET, instance("shared", ["team-b"]), "spec.instanceRef")
    assert refused.value.reason == "ReferenceNotAllowed"
    assert str(refused.value) == (
        "namespace team-a may not use DatabaseInstance shared/pg: add team-a to its spec.allowedNamespaces"
    )
    policy().instance("team-b", TARGET, instance("shared", ["team-b"]), "spec.instanceRef")
    policy("allow").instance("team-a", TARGET, instance("shared"), "spec.instanceRef")  # the migration flag
    policy().instance(None, TARGET, instance("shared"), "spec.instanceRef")  # cluster-scoped referrer
    cluster = InstanceTarget(InstanceKey("ClusterDatabaseInstance", "", "pg"))
    policy().instance("team-a", cluster, None, "spec.clusterInstanceRef")  # shared by design


def test_a_reference_into_an_unwatched_namespace_is_invalid_spec() -> None:
    with pytest.raises(ReferenceRefused) as refused:
        policy("allow", watched=("team-a",)).instance("team-a", TARGET, instance("shared"), "spec.instanceRef")
    assert refused.value.reason == "InvalidSpec"
    assert str(refused.value) == "spec.instanceRef: namespace shared is not watched by this operator"


def test_secret_and_configmap_references_are_checked_before_anything_else() -> None:
    user = {
        "metadata": {"name": "u", "namespace": "team-a"},
        "spec": {"passwordSecret": {"secretName": "creds", "secretNamespace": "closed"}},
    }
    with pytest.raises(ReferenceRefused) as refused:
        check_object_references(policy(), user)
    assert str(refused.value) == (
        "namespace team-a may not use Secret closed/creds (spec.passwordSecret.secretNamespace): annotate namespace "
        f"closed with {ALLOW_REFERENCES_FROM}=team-a"
    )
    user["spec"]["passwordSecret"]["secretNamespace"] = "listed"
    check_object_references(policy(), user)
    database = {
        "metadata": {"name": "d", "namespace": "team-a"},
        "spec": {"initSQL": {"configMapRef": {"name": "sql", "key": "k", "namespace": "closed"}}},
    }
    with pytest.raises(ReferenceRefused, match="ConfigMap closed/sql"):
        check_object_references(policy(), database)
    check_object_references(policy("allow"), database)


def test_referenced_namespaces_lists_only_other_namespaces() -> None:
    obj = {
        "metadata": {"namespace": "team-a"},
        "spec": {
            "passwordSecret": {"secretNamespace": "b"},
            "existingPasswordSecret": {"name": "p", "key": "k", "namespace": "team-a"},
            "connection": {"secretRef": {"name": "admin", "namespace": "c"}},
        },
    }
    assert referenced_namespaces(obj) == ["b", "c"]
    assert referenced_namespaces({"metadata": {"namespace": "a"}, "spec": {}}) == []
