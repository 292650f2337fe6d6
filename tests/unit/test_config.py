"""Operator configuration: flag > environment > default, typed values, exit code 2 naming the option."""

from __future__ import annotations

from typing import Any

import click
import pytest
from click.testing import CliRunner

from dbops.config import OperatorConfig, build_config, config_options, parse_duration, parse_size

captured: list[OperatorConfig] = []


@click.command()
@config_options
def command(**options: Any) -> None:
    captured.append(build_config(**options))


def run(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, OperatorConfig | None]:
    captured.clear()
    result = CliRunner().invoke(command, args, env={"POD_NAMESPACE": "ops", **(env or {})})
    return result.exit_code, result.output, (captured[0] if captured else None)


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("250ms", 0.25), ("5m", 300), ("8h", 28800), ("1h30m", 5400), ("0", 0)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "5x", "s", "1h 30m", "-5s", "5s5"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_sizes() -> None:
    assert parse_size("16Mi") == 16 * 1024**2 and parse_size("512Ki") == 512 * 1024 and parse_size("7") == 7
    with pytest.raises(ValueError):
        parse_size("16MB")


def test_defaults() -> None:
    code, output, config = run([])
    assert code == 0, output
    assert config is not None
    assert config.metrics_bind_address == ":8080" and config.health_probe_bind_address == ":8081"
    assert (config.leader_election_lease_duration, config.leader_election_renew_deadline) == (15, 10)
    assert config.leader_election_id == "b0f91929.dbprovision.io"
    assert config.leader_election_namespace == "ops" and config.operator_namespace == "ops"
    assert config.sync_period == 36000 and config.backup_part_size == 16 * 1024**2
    assert config.log_level == "info" and config.log_format == "json"
    assert config.client_rate_limit == (0.0, 0)  # runtime.md 2: no client-side limit unless a positive QPS


def test_a_positive_qps_turns_the_client_rate_limit_on() -> None:
    for args, expected in (
        (["--kube-api-qps", "20", "--kube-api-burst", "30"], (20.0, 30)),  # what users set before still works
        (["--kube-api-qps", "7.5"], (7.5, 8)),
        (["--kube-api-qps", "-1", "--kube-api-burst", "500"], (0.0, 0)),
        (["--kube-api-qps", "0"], (0.0, 0)),
    ):
        code, output, config = run(args)
        assert code == 0 and config is not None, output
        assert config.client_rate_limit == expected, args


def test_flag_beats_environment_beats_default() -> None:
    _, _, from_env = run([], {"MAX_CONCURRENT_RECONCILES": "7", "WATCH_NAMESPACE": "a, b"})
    assert from_env is not None and from_env.max_concurrent_reconciles == 7 and from_env.watch_namespaces == ("a", "b")
    _, _, from_flag = run(["--max-concurrent-reconciles", "9"], {"MAX_CONCURRENT_RECONCILES": "7"})
    assert from_flag is not None and from_flag.max_concurrent_reconciles == 9


def test_instance_id_changes_the_lease_name_and_concurrency_overrides() -> None:
    _, _, config = run(["--instance-id", "blue", "--controller-concurrency", "database=8,databasegrant=2"])
    assert config is not None
    assert config.leader_election_id == "b0f91929-blue.dbprovision.io"
    assert config.workers("database") == 8 and config.workers("databaseuser") == 4


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--sync-period", "soon"], "--sync-period"),
        (["--backup-part-size", "1Mi"], "--backup-part-size"),
        (["--max-concurrent-reconciles", "0"], "--max-concurrent-reconciles"),
        (["--controller-concurrency", "nosuch=3"], "--controller-concurrency"),
        (["--leader-election-renew-deadline", "20s"], "--leader-election-renew-deadline"),
        (["--log-level", "loud"], "--log-level"),
        (["--zap-log-level", "loud"], "--zap-log-level"),
    ],
)
def test_invalid_values_exit_2_naming_the_option(args: list[str], named: str) -> None:
    code, output, config = run(args)
    assert code == 2 and config is None
    assert named in output


def test_zap_aliases() -> None:
    _, _, config = run(["--zap-devel", "true"])
    assert config is not None and (config.log_level, config.log_format) == ("debug", "console")
    _, _, config = run(["--zap-log-level", "3", "--zap-encoder", "json"])
    assert config is not None and (config.log_level, config.log_format) == ("debug", "json")
    _, _, config = run(["--zap-log-level", "0", "--log-level", "error"])
    assert config is not None and config.log_level == "error"
