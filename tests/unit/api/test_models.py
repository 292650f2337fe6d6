"""The typed models: defaults, aliases, round trips, runtime defaults and the kind registry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from dbops.api import kinds
from dbops.api.backup import RetryPolicy
from dbops.api.common import HEALTH_CHECK_WHEN_ABSENT
from dbops.api.database import Database, DatabaseStatus
from dbops.api.instance import DatabaseInstance
from dbops.api.meta import API_VERSION, Condition
from dbops.api.storage import StorageConfig
from dbops.api.user import DatabaseUser
from tests.unit.api.manifests import ABSENT, DEFAULT_CASES, DefaultCase, base, get_path

# api.md 1.1, transcribed: kind -> (plural, scope namespaced, short name, finalizer, phases)
SPEC_KINDS: dict[str, tuple[str, bool, str, str, tuple[str, ...]]] = {
    "DatabaseInstance": ("databaseinstances", True, "dbi", "instance-protection",
                         ("Pending", "Ready", "Failed", "PendingDeletion", "Deleting")),
    "ClusterDatabaseInstance": ("clusterdatabaseinstances", False, "cdbi", "clusterdatabaseinstance-finalizer",
                                ("Pending", "Ready", "Failed", "PendingDeletion", "Deleting")),
    "Database": ("databases", True, "db", "database-protection",
                 ("Pending", "Creating", "Ready", "Failed", "Deleting", "PendingDeletion")),
    "DatabaseUser": ("databaseusers", True, "dbu", "user-protection",
                     ("Pending", "Creating", "Ready", "Failed", "Deleting", "PendingDeletion")),
    "DatabaseRole": ("databaseroles", True, "dbr", "role-protection",
                     ("Pending", "Creating", "Ready", "Failed", "Deleting", "PendingDeletion")),
    "ClusterDatabaseRole": ("clusterdatabaseroles", False, "cdbr", "cluster-role-protection",
                            ("Pending", "Creating", "Ready", "Failed", "Deleting", "PendingDeletion")),
    "DatabaseGrant": ("databasegrants", True, "dbg", "grant-protection",
                      ("Pending", "Creating", "Ready", "Failed", "Deleting")),
    "ClusterDatabaseGrant": ("clusterdatabasegrants", False, "cdbg", "cluster-grant-protection",
                             ("Pending", "Creating", "Ready", "Failed", "Deleting")),
    "DatabaseBackup": ("databasebackups", True, "dbbak", "backup-protection",
                       ("Pending", "Running", "Completed", "Failed", "Deleting")),
    "DatabaseBackupSchedule": ("databasebackupschedules", True, "dbbaksched", "schedule-protection",
                               ("Active", "Paused", "Failed")),
    "DatabaseRestore": ("databaserestores", True, "dbrestore", "restore-protection",
                        ("Pending", "Running", "Completed", "Failed")),
}  # fmt: skip


def test_registry_matches_the_spec_table() -> None:
    assert [k.kind for k in kinds.KINDS] == list(SPEC_KINDS)
    for info in kinds.KINDS:
        plural, namespaced, short, finalizer, phases = SPEC_KINDS[info.kind]
        assert (info.plural, info.namespaced, info.short_names) == (plural, namespaced, (short,))
        assert info.finalizer == f"dbops.dbprovision.io/{finalizer}"
        assert info.phases == phases
        assert info.api_version == API_VERSION == "dbops.dbprovision.io/v1alpha1"
        assert info.list_kind == f"{info.kind}List"
        assert kinds.by_kind(info.kind) is info
        assert kinds.by_plural(plural) is info
        assert kinds.info_for(info.model) is info
        assert info.model.model_fields["kind"].default == info.kind


@pytest.mark.parametrize("case", DEFAULT_CASES, ids=lambda c: c.id)
def test_models_apply_the_schema_defaults(case: DefaultCase) -> None:
    wire = kinds.parse(case.manifest()).to_dict()
    for path, expected in case.expected.items():
        actual = get_path(wire, path)
        assert actual is expected if expected is ABSENT else actual == expected, path


def test_parse_dispatches_on_kind_and_rejects_a_wrong_kind() -> None:
    assert isinstance(kinds.parse(base("Database")), Database)
    with pytest.raises(KeyError):
        kinds.parse({**base("Database"), "kind": "Nope"})
    with pytest.raises(ValidationError):
        DatabaseUser.model_validate(base("Database"))


def test_snake_case_names_and_camel_case_aliases_both_work() -> None:
    by_alias = DatabaseUser.model_validate(
        {"spec": {"instanceRef": {"name": "pg"}, "username": "u", "postgres": {"createDB": True, "bypassRLS": True}}}
    )
    by_name = DatabaseUser.model_validate(
        {"spec": {"instance_ref": {"name": "pg"}, "username": "u", "postgres": {"create_db": True, "bypass_rls": True}}}
    )
    assert by_alias.spec == by_name.spec
    assert by_alias.spec.postgres is not None and by_alias.spec.postgres.create_db
    wire = by_name.to_dict()
    assert wire["spec"]["postgres"]["createDB"] is True and "create_db" not in wire["spec"]["postgres"]
    assert wire["apiVersion"] == API_VERSION and wire["kind"] == "DatabaseUser"


def test_object_from_the_apiserver_parses_and_round_trips_unknown_fields() -> None:
    raw: dict[str, Any] = {
        **base("Database"),
        "metadata": {
            "name": "app",
            "namespace": "team",
            "uid": "6b8f",
            "resourceVersion": "42",
            "generation": 3,
            "creationTimestamp": "2025-01-02T03:04:05Z",
            "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
            "finalizers": ["dbops.dbprovision.io/database-protection"],
        },
        "status": {
            "phase": "Ready",
            "observedGeneration": 3,
            "reconcileID": "0a1b2c3d",
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "ReconcileSuccess",
                    "message": "",
                    "lastTransitionTime": "2025-01-02T03:04:05Z",
                    "observedGeneration": 3,
                }
            ],
            "database": {"sizeBytes": 8_000_000_000},
            "someFutureField": {"x": 1},
        },
    }
    raw["spec"]["futureSpecField"] = "kept"
    db = Database.model_validate(raw)
    assert db.name == "app" and db.namespace == "team" and db.metadata.generation == 3
    assert db.metadata.creation_timestamp == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert db.status is not None and db.status.reconcile_id == "0a1b2c3d"
    ready = db.status.condition("Ready")
    assert ready is not None and ready.status == "True"
    assert db.status.condition("Synced") is None
    wire = db.to_dict()
    assert wire["spec"]["futureSpecField"] == "kept"
    assert wire["status"]["someFutureField"] == {"x": 1}
    assert wire["metadata"]["managedFields"] == raw["metadata"]["managedFields"]
    assert wire["status"]["conditions"][0]["lastTransitionTime"] == "2025-01-02T03:04:05Z"


def test_status_written_by_a_controller_serialises_to_wire_names() -> None:
    status = DatabaseStatus(
        phase="Pending",
        observed_generation=1,
        conditions=[
            Condition(
                type="Ready",
                status="False",
                reason="InstanceNotReady",
                message="instance pg is not Ready",
                last_transition_time=datetime(2025, 1, 1, tzinfo=UTC),
            )
        ],
    )
    assert status.to_dict() == {
        "phase": "Pending",
        "observedGeneration": 1,
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "reason": "InstanceNotReady",
                "message": "instance pg is not Ready",
                "lastTransitionTime": "2025-01-01T00:00:00Z",
            }
        ],
    }
    with pytest.raises(ValidationError):
        DatabaseStatus(phase="Exploded")


def test_runtime_defaults_of_absent_blocks() -> None:
    spec = DatabaseInstance.model_validate(base("DatabaseInstance")).spec
    assert spec.health_check is None
    assert spec.effective_health_check == HEALTH_CHECK_WHEN_ABSENT
    assert (HEALTH_CHECK_WHEN_ABSENT.interval_seconds, HEALTH_CHECK_WHEN_ABSENT.timeout_seconds) == (60, 30)
    assert spec.admin_database == "postgres"
    assert spec.connection.credentials.effective_keys.username == "username"

    user = DatabaseUser.model_validate({"spec": {"instanceRef": {"name": "pg"}, "username": "App_User"}}).spec
    assert user.default_secret_name == "app-user-credentials"


@pytest.mark.parametrize(
    ("engine", "admin_db"),
    [("postgres", "postgres"), ("cockroachdb", "postgres"), ("mysql", "mysql"), ("mariadb", "mysql"),
     ("clickhouse", "default")],
)  # fmt: skip
def test_admin_database_per_engine(engine: str, admin_db: str) -> None:
    manifest = base("DatabaseInstance")
    manifest["spec"]["engine"] = engine
    assert DatabaseInstance.model_validate(manifest).spec.admin_database == admin_db
    manifest["spec"]["connection"]["database"] = "ops"
    assert DatabaseInstance.model_validate(manifest).spec.admin_database == "ops"


def test_storage_prefix_and_retry_delay() -> None:
    s3 = StorageConfig.model_validate(
        {"type": "s3", "s3": {"bucket": "b", "region": "r", "prefix": "/a/b/", "secretRef": {"name": "s"}}}
    )
    assert s3.prefix == "a/b"
    assert s3.s3 is not None and s3.s3.secret_ref.effective_keys.access_key == "AWS_ACCESS_KEY_ID"
    pvc = StorageConfig.model_validate({"type": "pvc", "pvc": {"claimName": "c", "subPath": "x/"}})
    assert pvc.prefix == "x"
    policy = RetryPolicy(backoff_seconds=60, backoff_multiplier=2, max_backoff_seconds=300)
    assert [policy.delay_seconds(n) for n in (1, 2, 3, 4)] == [60, 120, 240, 300]


def test_constraints_are_enforced_when_building_models_in_python() -> None:
    manifest = base("Database")
    manifest["spec"]["name"] = "bad-name"
    with pytest.raises(ValidationError, match="should match pattern"):
        Database.model_validate(manifest)
