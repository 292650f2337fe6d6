"""The operator's `dbops_` metrics (observability.md 2.3-2.5, seeds/monitoring.txt), in one registry.

Names, types, labels and buckets are part of the product's contract: dashboards and alerts are written against them,
so every metric is declared here once and nowhere else. The helpers below implement the two semantics that plain
prometheus-client does not give:

* info metrics keep exactly one series per object, swapping the old series for the new in one step when a label
  value changes (observability.md 2.4);
* `dbops_resource_count` exposes, for each (kind, namespace) seen, one series per phase of that kind, zero for phases
  without objects, and disappears when the last object of that kind leaves the namespace.

Per-object series are removed through `forget_series`, which matches on a subset of labels (for example every
series of one instance, whatever its `status`), since prometheus-client can only remove by the full label set.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from threading import Lock

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

CLUSTER_NAMESPACE = "_cluster"
"""The `namespace` label value of cluster-scoped objects (ClusterDatabaseInstance, -Role, -Grant)."""

_CONNECTION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_OPERATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_LONG_RUN_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 2700, 3600)


def metric_namespace(namespace: str | None) -> str:
    """The `namespace` label for an object: its namespace, or `_cluster` for a cluster-scoped one."""
    return namespace or CLUSTER_NAMESPACE


class Metrics:
    """Every `dbops_` metric, registered in one registry (the process-wide default unless a test passes its own)."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        def counter(name: str, doc: str, labels: Iterable[str]) -> Counter:
            return Counter(name, doc, list(labels), registry=registry)

        def gauge(name: str, doc: str, labels: Iterable[str]) -> Gauge:
            return Gauge(name, doc, list(labels), registry=registry)

        def histogram(name: str, doc: str, labels: Iterable[str], buckets: tuple[float, ...]) -> Histogram:
            return Histogram(name, doc, list(labels), buckets=buckets, registry=registry)

        self.registry = registry
        ops = ("operation", "engine", "status", "namespace")

        # Connection and instance health.
        self.connection_attempts = counter(
            "dbops_connection_attempts_total",
            "Attempts to open a session to an instance's server.",
            ("instance", "engine", "status", "namespace"),
        )
        self.connection_latency = histogram(
            "dbops_connection_latency_seconds",
            "Time from dialling to an authenticated session, for successful attempts.",
            ("instance", "engine", "namespace"),
            _CONNECTION_BUCKETS,
        )
        self.instance_healthy = gauge(
            "dbops_instance_healthy",
            "1 when the last health check passed, 0 otherwise.",
            ("instance", "engine", "namespace"),
        )
        self.instance_last_health_check = gauge(
            "dbops_instance_last_health_check_timestamp_seconds",
            "Unix time of the last health check.",
            ("instance", "engine", "namespace"),
        )

        # Database, user, role and grant operations.
        self.database_operations = counter("dbops_database_operations_total", "Database operations.", ops)
        self.database_operation_duration = histogram(
            "dbops_database_operation_duration_seconds",
            "Duration of Database operations.",
            ("operation", "engine", "namespace"),
            _OPERATION_BUCKETS,
        )
        self.database_size = gauge(
            "dbops_database_size_bytes", "Size of a managed database.", ("database", "instance", "engine", "namespace")
        )
        self.user_operations = counter("dbops_user_operations_total", "DatabaseUser operations.", ops)
        self.role_operations = counter(
            "dbops_role_operations_total", "DatabaseRole and ClusterDatabaseRole operations.", ops
        )
        self.grant_operations = counter(
            "dbops_grant_operations_total", "DatabaseGrant and ClusterDatabaseGrant operations.", ops
        )

        # Backups, restores and schedules.
        self.backup_operations = counter(
            "dbops_backup_operations_total", "Backups that reached a final outcome.", ("engine", "status", "namespace")
        )
        self.backup_duration = histogram(
            "dbops_backup_duration_seconds",
            "Duration of successful backups.",
            ("engine", "namespace"),
            _LONG_RUN_BUCKETS,
        )
        self.backup_size = gauge(
            "dbops_backup_size_bytes",
            "Stored size of the newest Completed backup of a Database.",
            ("database", "engine", "namespace"),
        )
        self.backup_last_success = gauge(
            "dbops_backup_last_success_timestamp_seconds",
            "Unix time of the newest completed backup of a Database.",
            ("database", "engine", "namespace"),
        )
        self.restore_operations = counter(
            "dbops_restore_operations_total",
            "Restores that reached a final outcome.",
            ("engine", "status", "namespace"),
        )
        self.restore_duration = histogram(
            "dbops_restore_duration_seconds",
            "Duration of successful restores.",
            ("engine", "namespace"),
            _LONG_RUN_BUCKETS,
        )
        self.scheduled_backups = counter(
            "dbops_scheduled_backups_total", "Backups triggered by schedules.", ("status", "namespace")
        )
        self.schedule_next_backup = gauge(
            "dbops_schedule_next_backup_timestamp_seconds",
            "Earliest next backup time among the active schedules of a Database.",
            ("database", "namespace"),
        )

        # Resources.
        self.resource_count = gauge(
            "dbops_resource_count",
            "Objects of a kind in a namespace and phase.",
            ("resource_type", "phase", "namespace"),
        )

        # Info metrics (value 1).
        self.instance_info = gauge(
            "dbops_instance_info",
            "Instance metadata.",
            ("instance", "namespace", "engine", "version", "host", "port", "phase"),
        )
        self.database_info = gauge(
            "dbops_database_info", "Database metadata.", ("database", "namespace", "instance_ref", "db_name", "phase")
        )
        self.user_info = gauge(
            "dbops_user_info", "DatabaseUser metadata.", ("user", "namespace", "instance_ref", "username", "phase")
        )
        self.role_info = gauge(
            "dbops_role_info", "Role metadata.", ("role", "namespace", "instance_ref", "role_name", "phase")
        )
        self.grant_info = gauge(
            "dbops_grant_info",
            "Grant metadata.",
            ("grant", "namespace", "user_ref", "database_ref", "privileges", "phase"),
        )
        self.backup_info = gauge(
            "dbops_backup_info", "Backup metadata.", ("backup", "namespace", "database_ref", "storage_type", "phase")
        )
        self.schedule_info = gauge(
            "dbops_schedule_info",
            "Backup schedule metadata.",
            ("schedule", "namespace", "database_ref", "cron", "paused"),
        )
        self.restore_info = gauge(
            "dbops_restore_info",
            "Restore metadata.",
            ("restore", "namespace", "backup_ref", "target_instance", "phase"),
        )

        # Drift and discovery.
        self.drift_detected = gauge(
            "dbops_drift_detected",
            "Diffs remaining after the last drift check.",
            ("resource_type", "name", "namespace"),
        )
        self.drift_detections = counter(
            "dbops_drift_detections_total", "Drift checks.", ("resource_type", "status", "namespace")
        )
        self.drift_corrections = counter(
            "dbops_drift_corrections_total",
            "Drift correction attempts, one per field.",
            ("resource_type", "status", "namespace"),
        )
        self.discovered_orphans = gauge(
            "dbops_discovered_orphans",
            "Unmanaged objects found by discovery.",
            ("instance", "resource_type", "namespace"),
        )
        self.discovery_scans = counter(
            "dbops_discovery_scans_total", "Discovery scans.", ("instance", "status", "namespace")
        )
        self.adoptions = counter(
            "dbops_adoptions_total", "Adoptions and take-overs.", ("resource_type", "status", "namespace")
        )

        self.info = InfoSeries()
        self.resources = ResourceCounter(self.resource_count)

    def all_metrics(self) -> list[MetricWrapperBase]:
        """Every dbops_ metric object, for tests and for dropping an object's series everywhere."""
        return [m for m in vars(self).values() if isinstance(m, MetricWrapperBase)]

    def forget_object(self, **labels: str) -> int:
        """Remove every series, in any dbops_ metric, whose labels include all of `labels`; returns how many."""
        return sum(forget_series(metric, **labels) for metric in self.all_metrics())


def _label_names(metric: MetricWrapperBase) -> tuple[str, ...]:
    names: tuple[str, ...] = metric._labelnames
    return names


def forget_series(metric: MetricWrapperBase, **labels: str) -> int:
    """Remove the series of `metric` whose labels include all of `labels`; returns how many label sets matched.

    A metric that does not carry every given label name is left alone, so one call can sweep all metrics. When
    `labels` names every label of the metric, that one series is removed without a scan and counts as 1 whether or
    not it existed (prometheus-client's ``remove`` does not say).
    """
    names = _label_names(metric)
    if not labels or not set(labels) <= set(names):
        return 0
    if len(labels) == len(names):  # one exact series: no scan (deleting 1,000 objects must not cost 1,000² samples)
        metric.remove(*(labels[name] for name in names))
        return 1
    seen: set[tuple[str, ...]] = set()
    for family in metric.collect():
        for sample in family.samples:
            if all(sample.labels.get(k) == v for k, v in labels.items()):
                seen.add(tuple(sample.labels[name] for name in names))
    for values in seen:
        metric.remove(*values)
    return len(seen)


class InfoSeries:
    """Keeps one series per object in each info metric, replacing it atomically when a label value changes."""

    def __init__(self) -> None:
        self._current: dict[tuple[int, str, str], tuple[str, ...]] = {}
        self._lock = Lock()

    def set(self, metric: Gauge, object_key: tuple[str, str], labels: Mapping[str, str]) -> None:
        """Publish the info series of one object (namespace, name) with these labels; drop its previous series."""
        values = tuple(labels[name] for name in _label_names(metric))
        key = (id(metric), *object_key)
        with self._lock:
            previous = self._current.get(key)
            if previous == values:
                return
            if previous is not None:
                metric.remove(*previous)
            metric.labels(*values).set(1)
            self._current[key] = values

    def forget(self, metric: Gauge, object_key: tuple[str, str]) -> None:
        """Remove the info series of one object, if it has one."""
        with self._lock:
            previous = self._current.pop((id(metric), *object_key), None)
            if previous is not None:
                metric.remove(*previous)


class ResourceCounter:
    """`dbops_resource_count` kept from the informer stream: objects per (kind, namespace, phase).

    Counts change incrementally (only the two phases an object moves between are republished), so observing an object
    costs the same with 10 or 10,000 objects of its kind in the namespace.
    """

    def __init__(self, gauge: Gauge) -> None:
        self._gauge = gauge
        self._phase_of: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
        self._counts: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
        self._lock = Lock()

    def observe(self, kind: str, phases: Iterable[str], namespace: str, name: str, phase: str | None) -> None:
        """Record that object `name` of `kind` in `namespace` is in `phase` (empty or unknown counts as Pending)."""
        phase = phase or "Pending"
        scope = (kind, namespace)
        with self._lock:
            objects = self._phase_of[scope]
            previous = objects.get(name)
            if previous == phase:
                return
            if not objects:  # the first object of the kind here: every phase gets its series, at 0
                for known in phases:
                    self._gauge.labels(kind, known, namespace).set(0)
            objects[name] = phase
            self._move(scope, previous, phase)

    def forget(self, kind: str, namespace: str, name: str) -> None:
        """Record that the object is gone; the kind's series for the namespace go when the last object does."""
        scope = (kind, namespace)
        with self._lock:
            objects = self._phase_of.get(scope)
            if objects is None or (previous := objects.pop(name, None)) is None:
                return
            if objects:
                self._move(scope, previous, None)
                return
            del self._phase_of[scope]
            del self._counts[scope]
            forget_series(self._gauge, resource_type=kind, namespace=namespace)

    def _move(self, scope: tuple[str, str], source: str | None, target: str | None) -> None:
        kind, namespace = scope
        counts = self._counts[scope]
        for phase, step in ((source, -1), (target, 1)):
            if phase is not None:
                counts[phase] = counts.get(phase, 0) + step
                self._gauge.labels(kind, phase, namespace).set(counts[phase])
