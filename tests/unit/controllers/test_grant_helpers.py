"""Pure parts of the grant controller and the PostgreSQL grant planning: index values, applied-set digest, plans."""

from __future__ import annotations

import pytest

from dbops.api.grant import DatabaseGrantSpec
from dbops.api.grants import PostgresDefaultPrivilegeGrant, PostgresGrant
from dbops.controllers.grant import applied_digest, grantee_index_value
from dbops.engines.errors import InvalidSpec
from dbops.engines.postgres_access import plan_entries


def spec(privileges: list[str], protection: bool = True) -> DatabaseGrantSpec:
    return DatabaseGrantSpec.model_validate(
        {
            "userRef": {"name": "app"},
            "deletionProtection": protection,
            "postgres": {"grants": [{"database": "db", "schema": "public", "tables": ["t"], "privileges": privileges}]},
        }
    )


def test_index_values_name_grantee_and_database() -> None:
    grant = {
        "kind": "DatabaseGrant",
        "metadata": {"namespace": "ns"},
        "spec": {"roleRef": {"name": "r"}, "databaseRef": {"name": "d", "namespace": "other"}},
    }
    assert grantee_index_value(grant) == ["DatabaseRole/ns/r", "Database/other/d"]
    cluster = {"kind": "ClusterDatabaseGrant", "metadata": {}, "spec": {"roleRef": {"name": "r"}}}
    assert grantee_index_value(cluster) == ["ClusterDatabaseRole//r"]


def test_digest_ignores_order_and_unrelated_fields_but_not_privileges_or_grantee() -> None:
    base = applied_digest("app", "ns/pg", spec(["SELECT", "INSERT"]))
    assert applied_digest("app", "ns/pg", spec(["INSERT", "SELECT"], protection=False)) == base
    assert applied_digest("app", "ns/pg", spec(["SELECT"])) != base
    assert applied_digest("app2", "ns/pg", spec(["SELECT", "INSERT"])) != base


def test_plan_entries_builds_grants_revokes_and_default_privileges() -> None:
    grants = [PostgresGrant.model_validate({"database": "db", "tables": ["t"], "privileges": ["SELECT"]})]
    defaults = [
        PostgresDefaultPrivilegeGrant.model_validate(
            {"database": "db", "schema": "s", "grantedBy": "owner", "objectType": "tables", "privileges": ["SELECT"]}
        )
    ]
    direct, default = plan_entries("app", grants, defaults)
    assert direct[0].grants == (
        'GRANT USAGE ON SCHEMA "public" TO "app"',
        'GRANT SELECT ON TABLE "public"."t" TO "app"',
    )
    assert direct[0].revokes[-1] == 'REVOKE SELECT ON TABLE "public"."t" FROM "app"'
    assert default[0].acting_for == "owner"
    assert "REVOKE SELECT ON TABLES FROM" in default[0].revokes[0]


def test_invalid_privilege_names_the_entry() -> None:
    grants = [PostgresGrant.model_validate({"database": "db", "privileges": ["SELECT"]})]
    with pytest.raises(InvalidSpec) as error:
        plan_entries("app", grants)
    assert error.value.field == "spec.postgres.grants[0].privileges[0]"
