"""Which databases and roles a spec names, and when it waits for the resource declaring one (issue 21)."""

from __future__ import annotations

from typing import Any

from dbops.controllers.declared_prerequisites import (
    DATABASES,
    ROLES,
    declared_name,
    named_databases,
    named_roles,
    waiting_for,
)
from dbops.controllers.instances import InstanceTarget
from dbops.engines.registry import InstanceKey
from dbops.runtime import Store

READY = {"phase": "Ready", "conditions": [{"type": "Ready", "status": "True", "observedGeneration": 1}]}
NAMESPACED = InstanceTarget(InstanceKey("DatabaseInstance", "app", "pg"))
CLUSTER = InstanceTarget(InstanceKey("ClusterDatabaseInstance", "", "shared"))


def instance(name: str, namespace: str = "", port: int = 5432) -> dict[str, Any]:
    meta = {"name": name, "generation": 1, **({"namespace": namespace} if namespace else {})}
    return {"metadata": meta, "spec": {"connection": {"host": "db", "port": port}}, "status": READY}


def declaring(name: str, spec: dict[str, Any], *, ready: bool, namespace: str = "app") -> dict[str, Any]:
    meta = {"name": name, "generation": 1, **({"namespace": namespace} if namespace else {})}
    return {"metadata": meta, "spec": spec, "status": READY if ready else {"phase": "Creating"}}


def stores(*objects: dict[str, Any]) -> tuple[Store, Store, Store]:
    instances, cluster_instances, declared = Store(), Store(), Store()
    instances.upsert(instance("pg", "app"))
    instances.upsert(instance("other", "app", port=6543))
    cluster_instances.upsert(instance("shared"))
    for obj in objects:
        declared.upsert(obj)
    return declared, instances, cluster_instances


def wait(prerequisite: Any, names: list[str], target: InstanceTarget, *objects: dict[str, Any]) -> str | None:
    declared, instances, cluster_instances = stores(*objects)
    kind = prerequisite.declaring_kinds[0]
    return waiting_for(prerequisite, names, target, {kind: declared}, instances, cluster_instances)


def test_named_databases_and_roles_read_every_list_once() -> None:
    role = {
        "spec": {
            "roles": ["r1"],
            "postgres": {
                "grants": [{"database": "b"}, {"database": "a"}, {"database": "a", "schema": "s"}],
                "defaultPrivileges": [{"database": "c"}],
                "inRoles": ["r2"],
                "roles": ["r1", "r3"],
                "defaultRole": "r4",
            },
            "mysql": {"grants": [{"level": "global"}, {"level": "database", "database": "d"}], "roles": ["r5"]},
        }
    }
    assert named_databases(role) == ["a", "b", "c", "d"]
    assert named_roles(role) == ["r1", "r2", "r3", "r4", "r5"]
    assert named_databases({"spec": {}}) == [] and named_roles({}) == []
    assert declared_name(DATABASES)({"spec": {"name": "app_db"}}) == ["app_db"]
    assert declared_name(ROLES)({"spec": {"roleName": "reader"}}) == ["reader"]


def test_waits_for_a_declared_database_on_the_same_instance_that_is_not_ready() -> None:
    creating = declaring("app", {"name": "app_db", "instanceRef": {"name": "pg"}}, ready=False)
    message = wait(DATABASES, ["app_db"], NAMESPACED, creating)
    assert message == "Waiting for Database app/app (database app_db): it is Creating"


def test_waits_across_instance_objects_that_reach_the_same_server() -> None:
    creating = declaring("app", {"name": "app_db", "instanceRef": {"name": "pg"}}, ready=False)
    assert wait(DATABASES, ["app_db"], CLUSTER, creating) is not None
    role = declaring("reader", {"roleName": "reader", "clusterInstanceRef": {"name": "shared"}}, ready=False,
                     namespace="")  # fmt: skip
    assert wait(ROLES, ["reader"], NAMESPACED, role) == (
        "Waiting for DatabaseRole reader (role reader): it is Creating"
    )


def test_no_wait_when_ready_undeclared_or_on_another_server() -> None:
    ready = declaring("app", {"name": "app_db", "instanceRef": {"name": "pg"}}, ready=True)
    assert wait(DATABASES, ["app_db"], NAMESPACED, ready) is None
    assert wait(DATABASES, ["elsewhere"], NAMESPACED) is None
    other = declaring("app", {"name": "app_db", "instanceRef": {"name": "other"}}, ready=False)
    assert wait(DATABASES, ["app_db"], NAMESPACED, other) is None
    assert wait(DATABASES, [], NAMESPACED, other) is None
