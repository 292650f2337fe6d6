"""Which databases and roles a spec names, and when it waits for the resource declaring one (issue 21)."""

from __future__ import annotations

from typing import Any

from dbops.controllers.declared_prerequisites import (
    DATABASES,
    ROLES,
    PrerequisiteGate,
    declared_name,
    named_databases,
    named_roles,
    waiting_for,
)
from dbops.controllers.instances import InstanceTarget
from dbops.controllers.references import ReferencePolicy
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


class ListingClient:
    """Answers `list_all` with the objects the API server holds (pure logic: the gate's reading of them)."""

    def __init__(self, **items: list[dict[str, Any]]) -> None:
        self.items = items
        self.listed: list[tuple[str, str | None]] = []

    async def list_all(self, resource: Any, namespace: str | None = None) -> tuple[list[dict[str, Any]], str]:
        self.listed.append((resource.kind, namespace))
        return [dict(item) for item in self.items.get(resource.kind, [])], "1"


def gate(watched: tuple[str, ...] = ()) -> PrerequisiteGate:
    declared, instances, cluster_instances = stores()  # the caches have not seen the Database yet
    return PrerequisiteGate(
        lambda kind: declared, instances, cluster_instances, ReferencePolicy("consent", watched, {}.get)
    )


async def test_a_refused_creation_waits_when_the_api_server_has_the_declaring_object() -> None:
    role = {"metadata": {"name": "reader"}, "spec": {"postgres": {"grants": [{"database": "app_db"}]}}}
    creating = declaring("app", {"name": "app_db", "instanceRef": {"name": "pg"}}, ready=False)
    client = ListingClient(Database=[creating])
    message = await gate().waiting_now(role, CLUSTER, client)
    assert message == "Waiting for Database app/app (database app_db): it is Creating"
    assert client.listed == [("Database", None)]
    # Nothing declares the name (or the spec names none): the server's refusal stands.
    assert await gate().waiting_now(role, CLUSTER, ListingClient()) is None
    assert await gate().waiting_now({"spec": {}}, CLUSTER, client) is None and len(client.listed) == 1


async def test_waiting_now_lists_only_the_watched_namespaces() -> None:
    role = {"metadata": {"name": "reader"}, "spec": {"postgres": {"grants": [{"database": "app_db"}]}}}
    client = ListingClient()
    assert await gate(watched=("app", "other")).waiting_now(role, NAMESPACED, client) is None
    assert client.listed == [("Database", "app"), ("Database", "other")]
