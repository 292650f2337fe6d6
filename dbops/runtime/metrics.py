"""The runtime's standard controller, work-queue, leader-election and REST-client metrics.

Names, types and labels are controller-runtime's (``observability.md`` 2.6) so that existing dashboards and alerts
work unchanged. They are module-level objects on the default Prometheus registry: several managers in one process
(tests run two) share them and are told apart by their labels, exactly like controller-runtime's global registry.
The ``dbops_`` operator metrics live in :mod:`dbops.metrics`, not here.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Protocol

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

_RECONCILE_BUCKETS = (
    [0.005, 0.01, 0.025]
    + [round(0.05 * i, 2) for i in range(1, 11)]  # 0.05 … 0.5
    + [0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0]
    + [10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0]
)
_QUEUE_BUCKETS = [10.0**e for e in range(-8, 4)]  # 1e-8 … 1e3, factor 10

RECONCILE_TOTAL = Counter(
    "controller_runtime_reconcile_total",
    "Total number of reconciliations per controller",
    ["controller", "result"],
)
RECONCILE_ERRORS = Counter(
    "controller_runtime_reconcile_errors_total",
    "Total number of reconciliation errors per controller",
    ["controller"],
)
TERMINAL_RECONCILE_ERRORS = Counter(
    "controller_runtime_terminal_reconcile_errors_total",
    "Total number of terminal (permanent) reconciliation errors per controller",
    ["controller"],
)
RECONCILE_PANICS = Counter(
    "controller_runtime_reconcile_panics_total",
    "Total number of unhandled exceptions raised inside a reconcile, per controller",
    ["controller"],
)
RECONCILE_TIME = Histogram(
    "controller_runtime_reconcile_time_seconds",
    "Length of time per reconciliation per controller",
    ["controller"],
    buckets=_RECONCILE_BUCKETS,
)
MAX_CONCURRENT_RECONCILES = Gauge(
    "controller_runtime_max_concurrent_reconciles",
    "Maximum number of concurrent reconciles per controller",
    ["controller"],
)
ACTIVE_WORKERS = Gauge(
    "controller_runtime_active_workers",
    "Number of currently used workers per controller",
    ["controller"],
)

WORKQUEUE_DEPTH = Gauge("workqueue_depth", "Current depth of workqueue", ["name", "controller", "priority"])
WORKQUEUE_ADDS = Counter("workqueue_adds_total", "Total number of adds handled by workqueue", ["name", "controller"])
WORKQUEUE_QUEUE_DURATION = Histogram(
    "workqueue_queue_duration_seconds",
    "How long in seconds an item stays in workqueue before being requested",
    ["name", "controller"],
    buckets=_QUEUE_BUCKETS,
)
WORKQUEUE_WORK_DURATION = Histogram(
    "workqueue_work_duration_seconds",
    "How long in seconds processing an item from workqueue takes",
    ["name", "controller"],
    buckets=_QUEUE_BUCKETS,
)
WORKQUEUE_RETRIES = Counter(
    "workqueue_retries_total", "Total number of retries handled by workqueue", ["name", "controller"]
)

LEADER_ELECTION_MASTER_STATUS = Gauge(
    "leader_election_master_status",
    "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master",
    ["name"],
)

REST_CLIENT_REQUESTS = Counter(
    "rest_client_requests_total",
    "Number of HTTP requests, partitioned by status code, method, and host",
    ["code", "method", "host"],
)


class _InFlight(Protocol):
    name: str
    controller: str

    def unfinished_work_seconds(self) -> float: ...

    def longest_running_processor_seconds(self) -> float: ...


class _InFlightCollector(Collector):
    """Computes the two time-based queue gauges at scrape time instead of updating them on a timer."""

    def __init__(self) -> None:
        self.queues: weakref.WeakSet[_InFlight] = weakref.WeakSet()

    def collect(self) -> Iterable[GaugeMetricFamily]:
        unfinished = GaugeMetricFamily(
            "workqueue_unfinished_work_seconds",
            "How many seconds of work has been done that is in progress and hasn't been observed by "
            "work_duration. Large values indicate stuck threads.",
            labels=["name", "controller"],
        )
        longest = GaugeMetricFamily(
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running.",
            labels=["name", "controller"],
        )
        for q in list(self.queues):
            unfinished.add_metric([q.name, q.controller], q.unfinished_work_seconds())
            longest.add_metric([q.name, q.controller], q.longest_running_processor_seconds())
        yield unfinished
        yield longest

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []


IN_FLIGHT = _InFlightCollector()
REGISTRY.register(IN_FLIGHT)
