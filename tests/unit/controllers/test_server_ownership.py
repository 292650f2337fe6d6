"""Who owns a server object: the tracking marker's pattern, and another resource's record (issue 13)."""

from __future__ import annotations

from typing import Any

import pytest

from dbops.api.common import DEFAULT_COMMENT_FORMAT
from dbops.api.instance import DatabaseInstanceSpec
from dbops.controllers.instances import InstanceTarget, ResolvedInstance
from dbops.controllers.server_ownership import (
    DATABASES,
    ROLES,
    Marker,
    ServerOwnership,
    marker_for,
    marker_pattern,
)
from dbops.engines.errors import InvalidSpec
from dbops.engines.registry import InstanceKey
from dbops.runtime import Store

TARGET = InstanceTarget(InstanceKey("DatabaseInstance", "app", "pg"))


def instance_raw(name: str, namespace: str = "app", port: int = 5432, tracking: Any = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "engine": "postgres",
        "connection": {"host": "db", "port": port, "secretRef": {"name": "admin"}},
    }
    if tracking is not None:
        spec["resourceTracking"] = tracking
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"kind": "DatabaseInstance", "metadata": meta, "spec": spec}


def resolved(tracking: Any = None) -> ResolvedInstance:
    raw = instance_raw("pg", tracking=tracking)
    return ResolvedInstance(TARGET, raw, DatabaseInstanceSpec.model_validate(raw["spec"]))


def database(name: str, server_name: str, *, namespace: str = "app", uid: str = "", created: bool = False) -> Any:
    meta = {"name": name, "namespace": namespace, "uid": uid or f"uid-{namespace}-{name}"}
    status = {"database": {"createdAt": "2026-12-07T00:00:00Z"}} if created else {}
    spec = {"name": server_name, "instanceRef": {"name": "pg", "namespace": "app"}}
    return {"kind": "Database", "metadata": meta, "spec": spec, "status": status}


def test_the_default_format_renders_the_upstream_text_and_recognises_another_resource() -> None:
    marker = marker_for(resolved({"enabled": True}), database("orders", "orders_db"))
    assert marker is not None
    assert marker.text == "managed-by:db-provision-operator,cr:app/orders"
    assert marker.names_other(marker.text) is None
    assert marker.names_other("managed-by:db-provision-operator,cr:team-b/orders") == "resource team-b/orders"
    assert marker.names_other(None) is None and marker.names_other("") is None
    assert marker.names_other("the billing team's database, ask Kim") is None  # a person's comment is no marker


def test_a_format_with_kind_and_uid_names_a_recreated_resource_by_its_uid() -> None:
    fmt = "dbops {{.Kind}} {{.Namespace}}/{{.Name}} {{.UID}}"
    marker = marker_for(resolved({"commentFormat": fmt}), database("orders", "orders_db", uid="u-2"))
    assert marker is not None and marker.text == "dbops Database app/orders u-2"
    assert marker.names_other("dbops Database app/orders u-1") == "Database app/orders (uid u-1)"
    assert marker.names_other("dbops DatabaseUser app/orders u-2") == "DatabaseUser app/orders"


def test_a_variable_used_twice_must_repeat_the_same_value() -> None:
    pattern = marker_pattern("{{.Name}}:{{.Name}}")
    assert pattern is not None
    assert pattern.fullmatch("a:a") is not None and pattern.fullmatch("a:b") is None


@pytest.mark.parametrize("fmt", ["{{.Name | upper}}", "{{ .Missing }", "static text"])
def test_a_format_that_transforms_or_lacks_the_variables_recognises_only_our_own_text(fmt: str) -> None:
    assert marker_pattern(fmt) is None
    assert Marker("ours", {"Kind": "", "Namespace": "", "Name": "", "UID": ""}, None).names_other("theirs") is None


def test_no_tracking_block_means_no_marker_and_a_bad_format_is_an_invalid_spec() -> None:
    assert marker_for(resolved(None), database("orders", "orders_db")) is None
    assert marker_for(resolved({"enabled": False}), database("orders", "orders_db")) is None
    with pytest.raises(InvalidSpec, match=r"resourceTracking\.commentFormat"):
        marker_for(resolved({"commentFormat": "{{.Name"}), database("orders", "orders_db"))


def test_managed_resource_comment_is_written_without_tracking_and_replaces_the_format() -> None:
    role = {
        "kind": "ClusterDatabaseRole",
        "metadata": {"name": "reporting", "uid": "r"},
        "spec": {"roleName": "reporting", "managedResourceComment": "owned by the data team"},
    }
    marker = marker_for(resolved(None), role)
    assert marker is not None and marker.text == "owned by the data team"
    assert marker.names_other("managed-by:db-provision-operator,cr:app/reader") == "resource app/reader"


def ownership(*objects: dict[str, Any]) -> ServerOwnership:
    instances, cluster_instances, databases = Store(), Store(), Store()
    instances.upsert(instance_raw("pg"))
    instances.upsert(instance_raw("same-server", "team-b"))
    instances.upsert(instance_raw("elsewhere", "team-b", port=6543))
    for obj in objects:
        databases.upsert(obj)
    return ServerOwnership(DATABASES, lambda kind: databases, instances, cluster_instances)


def test_another_resource_holding_the_object_on_the_same_server_is_its_holder() -> None:
    mine = database("orders", "orders_db")
    theirs = database("orders", "orders_db", namespace="team-b", created=True)
    theirs["spec"]["instanceRef"] = {"name": "same-server"}
    assert ownership(mine, theirs).holder(mine, TARGET) == "Database team-b/orders"


@pytest.mark.parametrize(
    "change",
    [
        lambda o: o["status"].clear(),  # declared but never created or taken over: holds nothing
        lambda o: o["spec"].update(name="other_db"),  # another server name
        lambda o: o["spec"].update(instanceRef={"name": "elsewhere"}),  # another server
    ],
)
def test_no_holder_without_a_record_a_same_name_or_the_same_server(change: Any) -> None:
    mine = database("orders", "orders_db")
    theirs = database("orders", "orders_db", namespace="team-b", created=True)
    theirs["spec"]["instanceRef"] = {"name": "same-server"}
    change(theirs)
    assert ownership(mine, theirs).holder(mine, TARGET) is None


def test_a_resource_is_not_its_own_holder_and_records_only_its_own_block() -> None:
    mine = database("orders", "orders_db", created=True)
    owned = ownership(mine)
    assert owned.holder(mine, TARGET) is None
    assert owned.recorded(mine) and not owned.recorded(database("x", "x"))
    assert ROLES.kinds == ("DatabaseRole", "ClusterDatabaseRole")
    assert DEFAULT_COMMENT_FORMAT.startswith("managed-by:")
