"""Auto-ownership, pure parts: names (dbops.engines.ownership), the statements (postgres_plan.plan_ownership),
what CockroachDB reports, and which names a dropOnDelete spares (dbops.controllers.ownership)."""

from __future__ import annotations

from typing import Any

import pytest

from dbops.api.database import DatabasePostgresConfig, DatabaseSpec, PostgresOwnershipConfig, PostgresSchema
from dbops.controllers.instances import InstanceTarget
from dbops.controllers.ownership import created_roles, ownership_status, spared_names, with_created_roles
from dbops.engines.cockroach.adapter import CockroachAdapter
from dbops.engines.connection import ConnectionSettings
from dbops.engines.errors import InvalidSpec
from dbops.engines.ownership import OwnershipNames, effective_owner, ownership_names
from dbops.engines.postgres.plan import plan_ownership
from dbops.engines.registry import InstanceKey


def spec(name: str = "shop", owner: str | None = None, **ownership: Any) -> DatabaseSpec:
    config = PostgresOwnershipConfig(**ownership) if ownership else None
    return DatabaseSpec.model_construct(name=name, owner=owner, postgres=DatabasePostgresConfig(ownership=config))


def test_names_default_from_the_database_name() -> None:
    assert ownership_names(spec(auto_ownership=True)) == OwnershipNames("db_shop_owner", "db_shop_app")
    assert ownership_names(spec(auto_ownership=True, role_name="boss", user_name="web")) == OwnershipNames(
        "boss", "web"
    )


def test_no_names_without_auto_ownership() -> None:
    assert ownership_names(spec()) is None
    assert ownership_names(spec(auto_ownership=False)) is None
    assert ownership_names(DatabaseSpec.model_construct(name="x", postgres=None)) is None


def test_a_derived_name_over_63_bytes_is_invalid_and_names_the_field() -> None:
    long = "n" * 55  # db_<55>_owner = 64 bytes; db_<55>_app = 62 bytes
    with pytest.raises(InvalidSpec) as info:
        ownership_names(spec(long, auto_ownership=True))
    assert info.value.field == "spec.postgres.ownership.roleName" and "set spec.postgres.ownership.roleName" in str(
        info.value
    )
    assert ownership_names(spec(long, auto_ownership=True, role_name="boss")) == OwnershipNames(
        "boss", f"db_{long}_app"
    )
    with pytest.raises(InvalidSpec) as info:
        ownership_names(spec("n" * 60, auto_ownership=True, role_name="boss"))
    assert info.value.field == "spec.postgres.ownership.userName"


def test_role_and_user_must_differ() -> None:
    with pytest.raises(InvalidSpec) as info:
        ownership_names(spec(auto_ownership=True, role_name="same", user_name="same"))
    assert info.value.field == "spec.postgres.ownership.userName"


def test_effective_owner() -> None:
    names = OwnershipNames("db_shop_owner", "db_shop_app")
    assert effective_owner(spec(owner="alice", auto_ownership=True), names) == "db_shop_owner"
    assert effective_owner(spec(owner="alice"), None) == "alice"
    assert effective_owner(spec(), None) is None


def test_plan_creates_roles_membership_and_default_privileges_both_ways() -> None:
    names = OwnershipNames("db_shop_owner", "db_shop_app")
    plan = plan_ownership(names, ["sales", "public"])
    assert plan.create_role.startswith('CREATE ROLE "db_shop_owner" WITH NOLOGIN ')
    assert " INHERIT" in plan.create_role and "PASSWORD" not in plan.create_role
    assert plan.create_user.startswith('CREATE ROLE "db_shop_app" WITH LOGIN ')
    assert " INHERIT" in plan.create_user and "PASSWORD" not in plan.create_user
    assert plan.membership == 'GRANT "db_shop_owner" TO "db_shop_app"'
    grants = [s.grant for s in plan.privileges]
    assert len(grants) == 2 * 2 * 3  # schemas (public once) x directions x object types
    assert grants[0] == (
        'ALTER DEFAULT PRIVILEGES FOR ROLE "db_shop_owner" IN SCHEMA "public" '
        'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "db_shop_app"'
    )
    assert (
        'ALTER DEFAULT PRIVILEGES FOR ROLE "db_shop_app" IN SCHEMA "sales" GRANT USAGE, SELECT ON SEQUENCES '
        'TO "db_shop_owner"'
    ) in grants
    assert (
        'ALTER DEFAULT PRIVILEGES FOR ROLE "db_shop_app" IN SCHEMA "sales" GRANT EXECUTE ON FUNCTIONS '
        'TO "db_shop_owner"'
    ) in grants
    codes = {(s.granted_by, s.grantee, s.schema, s.acl_code) for s in plan.privileges}
    assert ("db_shop_app", "db_shop_owner", "public", "r") in codes
    assert ("db_shop_owner", "db_shop_app", "sales", "S") in codes
    assert all(s.privileges for s in plan.privileges)


def test_plan_without_default_privileges() -> None:
    plan = plan_ownership(OwnershipNames("o", "a"), ["s"], set_default_privileges=False)
    assert plan.privileges == ()


def test_plan_rejects_a_bad_schema_name_before_any_sql() -> None:
    with pytest.raises(InvalidSpec):
        plan_ownership(OwnershipNames("o", "a"), ["x" * 64])


def test_cockroach_reports_auto_ownership_and_keeps_spec_owner() -> None:
    settings = ConnectionSettings("cockroachdb", "localhost", 26257, "root", "pw", "defaultdb")
    adapter = CockroachAdapter(settings)
    s = DatabaseSpec.model_construct(
        name="shop",
        owner="alice",
        postgres=DatabasePostgresConfig(
            ownership=PostgresOwnershipConfig(auto_ownership=True), schemas=[PostgresSchema(name="s")]
        ),
    )
    fields = adapter.unsupported_database_fields(s, None)
    assert "spec.postgres.ownership.autoOwnership" in fields and "spec.owner" not in fields


def test_ownership_status_block() -> None:
    names = OwnershipNames("o", "a")
    assert ownership_status(names, "Ready", "done", None) == {
        "roleName": "o",
        "userName": "a",
        "phase": "Ready",
        "message": "done",
    }
    assert ownership_status(names, "Ready", "done", ["o"])["created"] == ["o"]


def test_the_created_record_starts_empty_and_only_grows() -> None:
    names = OwnershipNames("o", "a")
    assert created_roles({}) is None  # a Database from before the record: both are dropped, as before
    started = {"postgres": with_created_roles({}, names, [])}
    assert created_roles(started) == [] and started["postgres"]["ownership"]["roleName"] == "o"
    grown = {"postgres": with_created_roles(started, names, ["o"])}
    assert created_roles(grown) == ["o"]
    assert created_roles({"postgres": with_created_roles(grown, names, ["a"])}) == ["a", "o"]


def _user(namespace: str, username: str, instance: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"namespace": namespace}, "spec": {**instance, "username": username}}


def _role(namespace: str | None, role: str, instance: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"namespace": namespace} if namespace else {}, "spec": {**instance, "roleName": role}}


def test_spared_names_are_managed_by_another_resource_on_the_same_instance() -> None:
    names = OwnershipNames("db_shop_owner", "db_shop_app")
    target = InstanceTarget(InstanceKey("DatabaseInstance", "team", "pg"))
    same = {"instanceRef": {"name": "pg"}}
    users = [
        _user("team", "db_shop_app", same),
        _user("other", "db_shop_owner", same),  # another namespace's instance "pg": a different instance
    ]
    assert spared_names(names, target, users, []) == {"db_shop_app"}
    cross = {"instanceRef": {"name": "pg", "namespace": "team"}}
    roles = [_role("other", "db_shop_owner", cross)]
    assert spared_names(names, target, [], roles) == {"db_shop_owner"}
    cluster_target = InstanceTarget(InstanceKey("ClusterDatabaseInstance", "", "shared"))
    cluster_roles = [_role(None, "db_shop_owner", {"clusterInstanceRef": {"name": "shared"}})]
    assert spared_names(names, cluster_target, [], cluster_roles) == {"db_shop_owner"}
    assert spared_names(names, target, [], cluster_roles) == set()
    assert spared_names(names, target, [_user("team", "someone_else", same)], []) == set()
