"""The dbops_ metrics have exactly the names, types and labels of observability.md 2.3 and 2.5."""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from dbops.metrics import Metrics, forget_series

EXPECTED = {
    "dbops_connection_attempts": ("counter", {"instance", "engine", "status", "namespace"}),
    "dbops_connection_latency_seconds": ("histogram", {"instance", "engine", "namespace"}),
    "dbops_instance_healthy": ("gauge", {"instance", "engine", "namespace"}),
    "dbops_instance_last_health_check_timestamp_seconds": ("gauge", {"instance", "engine", "namespace"}),
    "dbops_database_operations": ("counter", {"operation", "engine", "status", "namespace"}),
    "dbops_database_operation_duration_seconds": ("histogram", {"operation", "engine", "namespace"}),
    "dbops_database_size_bytes": ("gauge", {"database", "instance", "engine", "namespace"}),
    "dbops_user_operations": ("counter", {"operation", "engine", "status", "namespace"}),
    "dbops_role_operations": ("counter", {"operation", "engine", "status", "namespace"}),
    "dbops_grant_operations": ("counter", {"operation", "engine", "status", "namespace"}),
    "dbops_backup_operations": ("counter", {"engine", "status", "namespace"}),
    "dbops_backup_duration_seconds": ("histogram", {"engine", "namespace"}),
    "dbops_backup_size_bytes": ("gauge", {"database", "engine", "namespace"}),
    "dbops_backup_last_success_timestamp_seconds": ("gauge", {"database", "engine", "namespace"}),
    "dbops_restore_operations": ("counter", {"engine", "status", "namespace"}),
    "dbops_restore_duration_seconds": ("histogram", {"engine", "namespace"}),
    "dbops_scheduled_backups": ("counter", {"status", "namespace"}),
    "dbops_schedule_next_backup_timestamp_seconds": ("gauge", {"database", "namespace"}),
    "dbops_resource_count": ("gauge", {"resource_type", "phase", "namespace"}),
    "dbops_instance_info": ("gauge", {"instance", "namespace", "engine", "version", "host", "port", "phase"}),
    "dbops_database_info": ("gauge", {"database", "namespace", "instance_ref", "db_name", "phase"}),
    "dbops_user_info": ("gauge", {"user", "namespace", "instance_ref", "username", "phase"}),
    "dbops_role_info": ("gauge", {"role", "namespace", "instance_ref", "role_name", "phase"}),
    "dbops_grant_info": ("gauge", {"grant", "namespace", "user_ref", "database_ref", "privileges", "phase"}),
    "dbops_backup_info": ("gauge", {"backup", "namespace", "database_ref", "storage_type", "phase"}),
    "dbops_schedule_info": ("gauge", {"schedule", "namespace", "database_ref", "cron", "paused"}),
    "dbops_restore_info": ("gauge", {"restore", "namespace", "backup_ref", "target_instance", "phase"}),
    "dbops_drift_detected": ("gauge", {"resource_type", "name", "namespace"}),
    "dbops_drift_detections": ("counter", {"resource_type", "status", "namespace"}),
    "dbops_drift_corrections": ("counter", {"resource_type", "status", "namespace"}),
    "dbops_discovered_orphans": ("gauge", {"instance", "resource_type", "namespace"}),
    "dbops_discovery_scans": ("counter", {"instance", "status", "namespace"}),
    "dbops_adoptions": ("counter", {"resource_type", "status", "namespace"}),
}


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


def test_every_metric_has_the_documented_name_type_and_labels(metrics: Metrics) -> None:
    found = {m.describe()[0].name: (m.describe()[0].type, set(m._labelnames)) for m in metrics.all_metrics()}
    assert found == EXPECTED
    assert len(EXPECTED) == 27 + 6, "27 operator metrics plus 6 drift and discovery metrics"


def test_counters_are_exported_with_the_total_suffix(metrics: Metrics) -> None:
    metrics.connection_attempts.labels("pg", "postgres", "success", "ns").inc()
    text = generate_latest(metrics.registry).decode()
    assert (
        'dbops_connection_attempts_total{engine="postgres",instance="pg",namespace="ns",status="success"} 1.0' in text
    )


def series(metrics: Metrics, name: str) -> list[dict[str, str]]:
    return [
        dict(sample.labels) for family in metrics.registry.collect() for sample in family.samples if sample.name == name
    ]


def test_info_series_is_replaced_not_duplicated_when_a_label_changes(metrics: Metrics) -> None:
    labels = {"database": "app", "namespace": "ns", "instance_ref": "pg", "db_name": "app", "phase": "Pending"}
    metrics.info.set(metrics.database_info, ("ns", "app"), labels)
    metrics.info.set(metrics.database_info, ("ns", "app"), {**labels, "phase": "Ready"})
    assert series(metrics, "dbops_database_info") == [{**labels, "phase": "Ready"}]
    metrics.info.forget(metrics.database_info, ("ns", "app"))
    assert series(metrics, "dbops_database_info") == []


def test_resource_count_has_every_phase_and_vanishes_with_the_last_object(metrics: Metrics) -> None:
    phases = ("Pending", "Ready", "Failed")
    metrics.resources.observe("Database", phases, "ns", "a", "Ready")
    metrics.resources.observe("Database", phases, "ns", "b", None)
    counts = {s["phase"]: s for s in series(metrics, "dbops_resource_count")}
    assert set(counts) == set(phases)
    values = {
        sample.labels["phase"]: sample.value
        for family in metrics.registry.collect()
        for sample in family.samples
        if sample.name == "dbops_resource_count"
    }
    assert values == {"Pending": 1, "Ready": 1, "Failed": 0}
    metrics.resources.forget("Database", "ns", "a")
    metrics.resources.forget("Database", "ns", "b")
    assert series(metrics, "dbops_resource_count") == []


def test_resource_counts_follow_any_sequence_of_phase_changes_and_deletions(metrics: Metrics) -> None:
    """The counter updates incrementally; after every step it must equal a recount of the objects' phases."""
    phases = ("Pending", "Ready", "Failed")
    rng = random.Random(7)
    truth: dict[str, str] = {}
    for _ in range(500):
        name = f"o{rng.randrange(12)}"
        if rng.random() < 0.2:
            metrics.resources.forget("DatabaseUser", "ns", name)
            truth.pop(name, None)
        else:
            phase = rng.choice((*phases, None))
            metrics.resources.observe("DatabaseUser", phases, "ns", name, phase)
            truth[name] = phase or "Pending"
        values = {
            sample.labels["phase"]: sample.value
            for family in metrics.registry.collect()
            for sample in family.samples
            if sample.name == "dbops_resource_count"
        }
        expected = {p: sum(1 for v in truth.values() if v == p) for p in phases} if truth else {}
        assert values == expected


def test_forget_series_removes_only_the_matching_object(metrics: Metrics) -> None:
    for status in ("success", "failure"):
        metrics.connection_attempts.labels("pg", "postgres", status, "ns").inc()
    metrics.connection_attempts.labels("other", "postgres", "success", "ns").inc()
    metrics.connection_latency.labels("pg", "postgres", "ns").observe(0.01)
    assert metrics.forget_object(instance="pg", namespace="ns") == 3
    remaining = {s["instance"] for s in series(metrics, "dbops_connection_attempts_total")}
    assert remaining == {"other"}
    assert series(metrics, "dbops_connection_latency_seconds_count") == []
    assert forget_series(metrics.database_operations, instance="pg") == 0, "metrics without the label are untouched"


def test_forget_series_with_every_label_removes_exactly_that_series(metrics: Metrics) -> None:
    for name in ("a", "b"):
        metrics.drift_detected.labels("DatabaseUser", name, "ns").set(1)
    forget_series(metrics.drift_detected, resource_type="DatabaseUser", name="a", namespace="ns")
    forget_series(metrics.drift_detected, resource_type="DatabaseUser", name="gone", namespace="ns")
    assert [s["name"] for s in series(metrics, "dbops_drift_detected")] == ["b"]
