"""The DatabaseUser kind's use of the drift checker, pure parts: which adapters have a user drift half, which login
is checked with which service role, what grants declare, and how a rotation failure and drift share `Synced`."""

from __future__ import annotations

from typing import Any

from dbops.api.user import DatabaseUserSpec
from dbops.controllers.base import StatusDraft
from dbops.controllers.drift import recorded
from dbops.controllers.user_drift import (
    BASE_MESSAGE,
    checked_login,
    declared_memberships,
    synced_reports,
    user_drift_support,
    with_failure,
)
from dbops.engines.clickhouse.adapter import ClickHouseAdapter
from dbops.engines.cockroach.adapter import CockroachAdapter
from dbops.engines.connection import ConnectionSettings
from dbops.engines.mysql.adapter import MySQLAdapter
from dbops.engines.mysql.drift import MySQLUserDrift
from dbops.engines.postgres.adapter import PostgresAdapter, PostgresUserDrift


def settings(engine: str) -> ConnectionSettings:
    return ConnectionSettings(engine=engine, host="127.0.0.1", port=1, username="admin", password="pw", database="d")


def spec(**rotation: Any) -> DatabaseUserSpec:
    body: dict[str, Any] = {"instanceRef": {"name": "pg"}, "username": "app"}
    if rotation:
        body["passwordRotation"] = {"schedule": "0 3 * * *", **rotation}
    return DatabaseUserSpec.model_validate(body)


def test_user_drift_halves_per_engine() -> None:
    assert isinstance(user_drift_support(PostgresAdapter(settings("postgres"))), PostgresUserDrift)
    # CockroachDB subclasses the PostgreSQL adapter; it must not inherit the half.
    assert user_drift_support(CockroachAdapter(settings("cockroachdb"))) is None
    assert isinstance(user_drift_support(MySQLAdapter(settings("mysql"))), MySQLUserDrift)
    assert isinstance(user_drift_support(MySQLAdapter(settings("mariadb"))), MySQLUserDrift)
    assert user_drift_support(ClickHouseAdapter(settings("clickhouse"))) is None


def test_without_rotation_spec_username_is_checked_alone() -> None:
    assert checked_login(spec(), None) == ("app", None)
    assert checked_login(spec(), {"phase": "Ready"}) == ("app", None)


def test_with_role_inheritance_rotation_the_active_login_and_the_service_role() -> None:
    status = {"rotation": {"enabled": True, "serviceRole": "svc_app", "activeUser": "app"}}
    assert checked_login(spec(enabled=True), status) == ("app", "svc_app")
    status["rotation"]["activeUser"] = "app_20260101"
    assert checked_login(spec(enabled=True), status) == ("app_20260101", "svc_app")
    # Before the service role is recorded there is none to declare.
    assert checked_login(spec(enabled=True), {"rotation": {"enabled": True}}) == ("app", None)


def test_after_rotation_is_switched_off_the_active_generated_login_keeps_its_role() -> None:
    status = {"rotation": {"enabled": False, "serviceRole": "svc_app", "activeUser": "app_20260101"}}
    assert checked_login(spec(enabled=False), status) == ("app_20260101", "svc_app")
    status["rotation"]["activeUser"] = "app"
    assert checked_login(spec(enabled=False), status) == ("app", None)


def test_grants_declare_their_roles_and_invalid_grants_declare_nothing() -> None:
    grants = [
        {
            "kind": "DatabaseGrant",
            "metadata": {"name": "a"},
            "spec": {"userRef": {"name": "app"}, "postgres": {"roles": ["r1"]}},
        },
        {
            "kind": "ClusterDatabaseGrant",
            "metadata": {"name": "b"},
            "spec": {
                "clusterInstanceRef": {"name": "pg"},
                "userRef": {"name": "app", "namespace": "ns"},
                "postgres": {"roles": ["r2", "r1"]},
            },
        },
        {"kind": "DatabaseGrant", "metadata": {"name": "c"}, "spec": {"postgres": "not a block"}},
    ]
    assert declared_memberships(grants) == {"r1", "r2"}
    assert declared_memberships([]) == frozenset()


def test_a_rotation_failure_keeps_the_drift_record_readable() -> None:
    draft = StatusDraft({}, 1)
    message = f"{BASE_MESSAGE}; drift in fields [connectionLimit] (drift mode correct, destructive corrections allowed)"
    draft.condition("Synced", False, "DriftDetected", message)
    with_failure(draft, "ReconcileFailed", "password rotation failed: boom")
    synced = next(c for c in draft.data["conditions"] if c["type"] == "Synced")
    assert synced["reason"] == "ReconcileFailed" and synced["status"] == "False"
    assert synced["message"] == f"password rotation failed: boom; {message}"
    record = recorded(draft.data)
    assert record.mode == "correct" and record.destructive_allowed and record.failure is None
    reports = synced_reports("password rotation failed: boom")
    assert reports(draft.data)
    assert reports({"conditions": [{"type": "Synced", "message": "password rotation failed: boom"}]})
    assert not synced_reports("password rotation failed: bo")(draft.data)
    assert not reports({})
