"""The operator's configuration: flags, environment variables and defaults of runtime.md section 2.

Precedence is flag, then environment variable, then default (click's `envvar`). An invalid value stops the process at
start-up with a message naming the option and exit code 2, which is click's usage-error code. The result is one
frozen `OperatorConfig`, so nothing else in the process reads flags or the environment.
"""

from __future__ import annotations

import math
import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE = re.compile(r"^(\d+)(Ki|Mi|Gi)?$")
_SIZE_UNITS = {None: 1, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}
SERVICE_ACCOUNT_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
DEFAULT_OPERATOR_NAMESPACE = "db-provision-operator-system"
CONTROLLER_NAMES = (
    "databaseinstance",
    "clusterdatabaseinstance",
    "database",
    "databaseuser",
    "databaserole",
    "clusterdatabaserole",
    "databasegrant",
    "clusterdatabasegrant",
    "databasebackup",
    "databasebackupschedule",
    "databaserestore",
)


def parse_duration(text: str) -> float:
    """Seconds in a duration such as `30s`, `1h30m` or `250ms` (Go's units ms, s, m, h); `0` is zero."""
    text = text.strip()
    if text == "0":
        return 0.0
    position, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    if position == 0 or position != len(text):
        raise ValueError(f"{text!r} is not a duration (use ms, s, m or h, e.g. 30s or 1h30m)")
    return total


def parse_size(text: str) -> int:
    """Bytes in a size such as `16Mi`, `512Ki` or `1048576`."""
    match = _SIZE.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a size (a number with an optional Ki, Mi or Gi suffix)")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)]


class _Duration(click.ParamType[float]):
    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float | int):
            return float(value)
        try:
            return parse_duration(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)


class _Size(click.ParamType[int]):
    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_size(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)


DURATION = _Duration()
SIZE = _Size()


def parse_controller_concurrency(text: str) -> dict[str, int]:
    """`database=8,databasegrant=2` → {"database": 8, "databasegrant": 2}; names from observability.md 2.6."""
    result: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, number = item.partition("=")
        if name not in CONTROLLER_NAMES:
            raise ValueError(f"unknown controller {name!r} (known: {', '.join(CONTROLLER_NAMES)})")
        if not number.isdigit() or int(number) < 1:
            raise ValueError(f"{item!r}: the worker count must be a positive integer")
        result[name] = int(number)
    return result


def operator_namespace() -> str:
    """POD_NAMESPACE, else the service-account namespace file, else the documented default (runtime.md 2)."""
    if namespace := os.environ.get("POD_NAMESPACE"):
        return namespace
    try:
        return SERVICE_ACCOUNT_NAMESPACE_FILE.read_text().strip() or DEFAULT_OPERATOR_NAMESPACE
    except OSError:
        return DEFAULT_OPERATOR_NAMESPACE


@dataclass(frozen=True)
class OperatorConfig:
    """Everything the process was configured with; see runtime.md section 2 for each field's meaning."""

    metrics_bind_address: str = ":8080"
    metrics_secure: bool = False
    health_probe_bind_address: str = ":8081"
    leader_elect: bool = False
    leader_election_id: str = "b0f91929.dbprovision.io"
    leader_election_namespace: str = DEFAULT_OPERATOR_NAMESPACE
    leader_election_lease_duration: float = 15.0
    leader_election_renew_deadline: float = 10.0
    leader_election_retry_period: float = 2.0
    leader_election_release_on_cancel: bool = True
    default_drift_interval: float = 8 * 3600.0
    instance_id: str = "default"
    watch_namespaces: tuple[str, ...] = ()
    cross_namespace_references: str = "consent"
    max_concurrent_reconciles: int = 4
    controller_concurrency: dict[str, int] = field(default_factory=dict)
    max_operations_per_instance: int = 4
    max_concurrent_backups: int = 2
    max_concurrent_restores: int = 1
    backup_part_size: int = 16 * 1024**2
    scratch_dir: str = "/var/run/dbops/scratch"
    pvc_mount_root: str = "/var/lib/db-provision-operator/pvc"
    size_refresh_interval: float = 900.0
    sync_period: float = 36000.0
    watch_server_timeout: float = 300.0
    watch_inactivity_timeout: float = 70.0
    kube_api_qps: float = -1.0
    kube_api_burst: int = -1
    graceful_shutdown_timeout: float = 30.0
    kubeconfig: str | None = None
    log_level: str = "info"
    log_format: str = "json"
    log_stacktrace_level: str = "error"
    operator_namespace: str = DEFAULT_OPERATOR_NAMESPACE
    pod_name: str = field(default_factory=socket.gethostname)

    @property
    def client_rate_limit(self) -> tuple[float, int]:
        """(qps, burst) for the API client: qps <= 0 means no client-side limit (runtime.md 2); a positive QPS with
        no positive burst gets a burst of the QPS rounded up, so `--kube-api-qps` alone behaves as expected."""
        if self.kube_api_qps <= 0:
            return 0.0, 0
        return self.kube_api_qps, self.kube_api_burst if self.kube_api_burst > 0 else math.ceil(self.kube_api_qps)

    def workers(self, controller: str) -> int:
        """Workers for one controller: its override, else --max-concurrent-reconciles."""
        return self.controller_concurrency.get(controller, self.max_concurrent_reconciles)

    def validate(self) -> None:
        """Cross-field rules that a single option's type cannot express; raises ValueError naming the options."""
        lease, renew, retry = (
            self.leader_election_lease_duration,
            self.leader_election_renew_deadline,
            self.leader_election_retry_period,
        )
        if not lease > renew > 1.2 * retry:
            raise ValueError(
                "--leader-election-lease-duration must exceed --leader-election-renew-deadline, which must exceed "
                f"1.2 times --leader-election-retry-period (got {lease:g}s, {renew:g}s, {retry:g}s)"
            )
        if self.backup_part_size < 5 * 1024**2:
            raise ValueError("--backup-part-size must be at least 5Mi")
        for name in ("max_concurrent_reconciles", "max_operations_per_instance"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1")


F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
    click.option("--metrics-bind-address", envvar="METRICS_BIND_ADDRESS", default=":8080", show_default=True),
    click.option("--metrics-secure", envvar="METRICS_SECURE", type=bool, default=False, show_default=True),
    click.option("--health-probe-bind-address", envvar="HEALTH_PROBE_BIND_ADDRESS", default=":8081", show_default=True),
    click.option("--leader-elect", envvar="LEADER_ELECT", type=bool, default=False, show_default=True),
    click.option("--leader-election-id", default=None, help="Lease name (default depends on --instance-id)"),
    click.option("--leader-election-namespace", envvar="POD_NAMESPACE", default=None),
    click.option("--leader-election-lease-duration", type=DURATION, default="15s", show_default=True),
    click.option("--leader-election-renew-deadline", type=DURATION, default="10s", show_default=True),
    click.option("--leader-election-retry-period", type=DURATION, default="2s", show_default=True),
    click.option("--leader-election-release-on-cancel", type=bool, default=True, show_default=True),
    click.option(
        "--default-drift-interval", envvar="DEFAULT_DRIFT_INTERVAL", type=DURATION, default="8h", show_default=True
    ),
    click.option("--instance-id", envvar="OPERATOR_INSTANCE_ID", default="default", show_default=True),
    click.option("--watch-namespaces", envvar=["WATCH_NAMESPACES", "WATCH_NAMESPACE"], default=""),
    click.option(
        "--cross-namespace-references",
        envvar="CROSS_NAMESPACE_REFERENCES",
        type=click.Choice(["consent", "allow"]),
        default="consent",
        show_default=True,
        help="consent: a reference into another namespace needs that side's consent; allow: upstream behaviour",
    ),
    click.option(
        "--max-concurrent-reconciles", envvar="MAX_CONCURRENT_RECONCILES", type=click.IntRange(min=1), default=4
    ),
    click.option("--controller-concurrency", default=""),
    click.option("--max-operations-per-instance", type=click.IntRange(min=1), default=4, show_default=True),
    click.option("--max-concurrent-backups", type=click.IntRange(min=1), default=2, show_default=True),
    click.option("--max-concurrent-restores", type=click.IntRange(min=1), default=1, show_default=True),
    click.option("--backup-part-size", type=SIZE, default="16Mi", show_default=True),
    click.option("--scratch-dir", default="/var/run/dbops/scratch", show_default=True),
    click.option("--pvc-mount-root", envvar="DBOPS_PVC_MOUNT_ROOT", default="/var/lib/db-provision-operator/pvc"),
    click.option("--size-refresh-interval", type=DURATION, default="15m", show_default=True),
    click.option("--sync-period", type=DURATION, default="10h", show_default=True),
    click.option("--watch-server-timeout", type=DURATION, default="5m", show_default=True),
    click.option("--watch-inactivity-timeout", type=DURATION, default="70s", show_default=True),
    # runtime.md 2: no client-side limit by default (the API server's priority and fairness protects it); a
    # positive QPS turns the token bucket on.
    click.option("--kube-api-qps", type=float, default=-1.0, show_default=True, help="negative: no client-side limit"),
    click.option("--kube-api-burst", type=int, default=-1, show_default=True, help="non-positive: the QPS, rounded up"),
    click.option("--graceful-shutdown-timeout", type=DURATION, default="30s", show_default=True),
    click.option("--kubeconfig", envvar="KUBECONFIG", default=None),
    click.option(
        "--log-level", envvar="LOG_LEVEL", type=click.Choice(["debug", "info", "warn", "error"]), default=None
    ),
    click.option("--log-format", envvar="LOG_FORMAT", type=click.Choice(["json", "console"]), default=None),
    click.option("--log-stacktrace-level", type=click.Choice(["debug", "info", "warn", "error"]), default=None),
    # Compatibility aliases for existing manifests (runtime.md 2).
    click.option("--zap-log-level", default=None, help="alias: a level name, or 0 = info and higher = debug"),
    click.option("--zap-encoder", type=click.Choice(["json", "console"]), default=None),
    click.option("--zap-devel", type=bool, default=None),
    click.option("--zap-stacktrace-level", default=None),
    click.option("--zap-time-encoding", default=None, help="accepted; timestamps stay ISO 8601"),
]


def config_options(function: F) -> F:
    """Decorate a click command with every configuration option."""
    decorated: Callable[..., Any] = function
    for option in reversed(_OPTIONS):
        decorated = option(decorated)
    return decorated  # type: ignore[return-value]


def _zap_level(value: str) -> str:
    if value.isdigit():
        return "info" if int(value) == 0 else "debug"
    level = {"warning": "warn", "dpanic": "error", "panic": "error", "fatal": "error"}.get(value, value)
    if level not in ("debug", "info", "warn", "error"):
        raise click.BadParameter(f"{value!r} is not a log level", param_hint="--zap-log-level")
    return level


def build_config(**options: Any) -> OperatorConfig:
    """The OperatorConfig for the parsed options; raises click.BadParameter (exit 2) on an invalid combination."""
    devel = options.pop("zap_devel")
    zap_level, zap_encoder = options.pop("zap_log_level"), options.pop("zap_encoder")
    zap_stacktrace = options.pop("zap_stacktrace_level")
    options.pop("zap_time_encoding")
    log_level = options.pop("log_level") or (_zap_level(zap_level) if zap_level else None)
    log_format = options.pop("log_format") or zap_encoder
    if devel:
        log_level, log_format = log_level or "debug", log_format or "console"
    stacktrace = options.pop("log_stacktrace_level") or (_zap_level(zap_stacktrace) if zap_stacktrace else "error")

    instance_id = options["instance_id"]
    lease_name = options.pop("leader_election_id") or (
        "b0f91929.dbprovision.io" if instance_id == "default" else f"b0f91929-{instance_id}.dbprovision.io"
    )
    namespace = operator_namespace()
    try:
        concurrency = parse_controller_concurrency(options.pop("controller_concurrency"))
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--controller-concurrency") from None
    watch = tuple(filter(None, (n.strip() for n in options.pop("watch_namespaces").split(","))))
    config = OperatorConfig(
        **{k: v for k, v in options.items() if k != "leader_election_namespace"},
        leader_election_id=lease_name,
        leader_election_namespace=options["leader_election_namespace"] or namespace,
        controller_concurrency=concurrency,
        watch_namespaces=watch,
        log_level=log_level or "info",
        log_format=log_format or "json",
        log_stacktrace_level=stacktrace,
        operator_namespace=namespace,
        pod_name=os.environ.get("POD_NAME") or socket.gethostname(),
    )
    try:
        config.validate()
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    return config
