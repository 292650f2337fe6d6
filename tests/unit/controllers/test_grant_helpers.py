"""Pure parts of the grant controller and the PostgreSQL grant planning: index values, applied-set digest, plans."""

from __future__ import annotations

import pytest

from dbops.api.grant import DatabaseGrantSpec
from dbops.api.grants import PostgresDefaultPrivilegeGrant, PostgresGrant
from dbops.api.role import DatabaseRoleSpec
from dbops.controllers.base import StatusDraft
from dbops.controllers.grant import applied_digest, grantee_index_value, recorded_digest
from dbops.controllers.role import declared_for_role, grant_declares
from dbops.engines.access import DeclaredAccess
from dbops.engines.errors import InvalidSpec
from dbops.engines.postgres.access import plan_entries


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


def _draft(status: str, reason: str, message: str) -> StatusDraft:
    return StatusDraft({"conditions": [{"type": "Synced", "status": status, "reason": reason, "message": message}]}, 1)


def test_recorded_digest_survives_drift_but_not_a_failed_apply() -> None:
    """A grant with drift recorded is not re-applied (that would silently correct drift in detect mode)."""
    clean = "grants applied (set 0123456789ab) (drift mode detect)"
    drifted = "grants applied (set 0123456789ab); drift in fields [x.missing] (drift mode detect)"
    assert recorded_digest(_draft("True", "ReconcileSuccess", clean)) == "0123456789ab"
    assert recorded_digest(_draft("False", "DriftDetected", drifted)) == "0123456789ab"
    assert recorded_digest(_draft("False", "ReconcileFailed", "grants applied (set 0123456789ab)")) is None


def test_declared_for_role_unions_the_role_and_every_grant_naming_it() -> None:
    role = DatabaseRoleSpec.model_validate(
        {
            "instanceRef": {"name": "pg"},
            "roleName": "reader",
            "postgres": {"inRoles": ["base"], "grants": [{"database": "db", "privileges": ["CONNECT"]}]},
        }
    )
    grant = {
        "apiVersion": "dbops.dbprovision.io/v1alpha1",
        "kind": "DatabaseGrant",
        "metadata": {"name": "g", "namespace": "ns"},
        "spec": {
            "roleRef": {"name": "reader"},
            "postgres": {
                "roles": ["extra_role"],
                "grants": [{"database": "db", "schema": "public", "tables": ["t"], "privileges": ["SELECT"]}],
            },
        },
    }
    declared = declared_for_role(role, [grant, {"kind": "DatabaseGrant", "spec": {"bogus": 1}}])
    assert declared.memberships == frozenset({"base", "extra_role"})
    assert [(g.database, g.tables) for g in declared.postgres_grants] == [("db", None), ("db", ["t"])]
    assert grant_declares({"kind": "DatabaseGrant", "metadata": {"name": "x"}, "spec": {}}) == DeclaredAccess()


def test_mysql_declarations_count_too() -> None:
    """A MySQL-family grant's roles and entries are declared for its grantee, so another resource's drift check
    never reports them as extra (behaviour.md 11.3)."""
    role = DatabaseRoleSpec.model_validate(
        {
            "instanceRef": {"name": "maria"},
            "roleName": "reader",
            "mysql": {"grants": [{"level": "database", "database": "app", "privileges": ["SELECT"]}]},
        }
    )
    grant = {
        "apiVersion": "dbops.dbprovision.io/v1alpha1",
        "kind": "DatabaseGrant",
        "metadata": {"name": "g", "namespace": "ns"},
        "spec": {
            "roleRef": {"name": "reader"},
            "mysql": {
                "roles": ["auditor"],
                "grants": [{"level": "table", "database": "app", "table": "t", "privileges": ["INSERT"]}],
            },
        },
    }
    declared = declared_for_role(role, [grant])
    assert declared.memberships == frozenset({"auditor"})
    assert [(g.database, g.privileges) for g in declared.mysql_grants] == [("app", ["SELECT"]), ("app", ["INSERT"])]
    assert declared.postgres_grants == ()
