"""initSQL controller logic (dbops.controllers.initsql): when a run is due, the status it leaves, when it is
announced, and how a blocked run backs off (behaviour.md 12, observability.md 1.5)."""

from __future__ import annotations

import pytest

from dbops.controllers import initsql as i
from dbops.engines.initsql import InitSQLRun, statements_hash

H1 = statements_hash(["SELECT 1"])
H2 = statements_hash(["SELECT 2"])
SOURCE = i.InitSQLSource(("CREATE TABLE t (id int)", "INSERT INTO t VALUES (1)", "SELECT 1"), H1, sensitive=False)


def applied(hash_: str = H1) -> dict[str, object]:
    return {"applied": True, "appliedAt": "2024-01-01T00:00:00Z", "hash": hash_, "statementsExecuted": 3}


def failed(attempt: str = H1, error: str = "boom", hash_: str | None = None) -> dict[str, object]:
    status: dict[str, object] = {"applied": False, "statementsExecuted": 1, "error": error, "attemptHash": attempt}
    if hash_ is not None:
        status["hash"] = hash_
    return status


@pytest.mark.parametrize("policy", ["Block", "Continue"])
def test_first_run_and_fresh_database_are_due(policy: str) -> None:
    assert i.is_due(None, H1, policy, fresh=False)
    assert i.is_due({}, H1, policy, fresh=False)
    assert i.is_due(applied(H1), H1, policy, fresh=True)  # recreated: the recorded hash belonged to the old one


@pytest.mark.parametrize("policy", ["Block", "Continue"])
def test_applied_runs_again_only_when_the_statements_change(policy: str) -> None:
    assert not i.is_due(applied(H1), H1, policy, fresh=False)
    assert i.is_due(applied(H1), H2, policy, fresh=False)


def test_block_retries_a_failed_run_continue_only_after_a_change() -> None:
    assert i.is_due(failed(H1), H1, "Block", fresh=False)
    assert not i.is_due(failed(H1), H1, "Continue", fresh=False)
    assert i.is_due(failed(H1), H2, "Continue", fresh=False)
    # A failed read of the source (no attempt hash) is retried under Continue once the source can be read.
    assert i.is_due(failed(""), H1, "Continue", fresh=False)


def test_block_retry_delay_doubles_from_30s_up_to_5min() -> None:
    assert [i.block_retry_delay(n) for n in range(1, 8)] == [30, 60, 120, 240, 300, 300, 300]
    assert i.block_retry_delay(0) == 30


def test_success_status_records_hash_and_exact_count() -> None:
    status = i.success_status(SOURCE, InitSQLRun(executed=3))
    assert status["applied"] is True and status["hash"] == H1 and status["statementsExecuted"] == 3
    assert str(status["appliedAt"]).endswith("Z")
    assert "error" not in status and "attemptHash" not in status


def test_failure_status_keeps_the_last_successful_hash() -> None:
    run = InitSQLRun(executed=1, failed_at=2, error='relation "nope" does not exist')
    after_success = i.failure_status(applied(H2), SOURCE, run)
    assert after_success == {
        "applied": False,
        "appliedAt": "2024-01-01T00:00:00Z",
        "hash": H2,
        "statementsExecuted": 1,
        "error": 'relation "nope" does not exist',
        "attemptHash": H1,
    }
    first = i.failure_status(None, SOURCE, InitSQLRun(executed=0, failed_at=1, error="e"))
    assert "hash" not in first and first["statementsExecuted"] == 0 and first["attemptHash"] == H1


def test_source_missing_status_names_the_field() -> None:
    problem = i.SourceMissing("spec.initSQL.configMapRef", "ConfigMap ns/sql has no key 'init.sql'")
    status = i.source_missing_status(applied(H1), problem)
    assert status["applied"] is False and status["statementsExecuted"] == 0 and status["hash"] == H1
    assert status["error"] == "spec.initSQL.configMapRef: ConfigMap ns/sql has no key 'init.sql'"
    assert status["attemptHash"] == ""


def test_failure_is_announced_once_per_hash_and_error() -> None:
    new = failed(H1, "boom")
    assert i.is_new_failure(None, new)
    assert i.is_new_failure(applied(H1), new)
    assert not i.is_new_failure(failed(H1, "boom"), new)
    assert i.is_new_failure(failed(H1, "other"), new)
    assert i.is_new_failure(failed(H2, "boom"), new)


def test_event_messages() -> None:
    assert i.applied_message(InitSQLRun(executed=3), "app", SOURCE) == (
        f"Executed 3 initSQL statements on database app (hash {H1[:12]})"
    )
    run = InitSQLRun(executed=1, failed_at=2, error="syntax error")
    assert i.failed_message(run, "app", SOURCE, "Block") == (
        "initSQL statement 2 of 3 failed on database app (failurePolicy Block): syntax error"
    )
    problem = i.SourceMissing("spec.initSQL.secretRef", "Secret ns/s not found")
    assert i.missing_message(problem, "app", "Continue") == (
        "initSQL of database app cannot run (failurePolicy Continue): spec.initSQL.secretRef: Secret ns/s not found"
    )


def test_index_functions_name_the_referenced_objects() -> None:
    cm = {"metadata": {"namespace": "team"}, "spec": {"initSQL": {"configMapRef": {"name": "sql", "key": "k"}}}}
    other_ns = {
        "metadata": {"namespace": "team"},
        "spec": {"initSQL": {"secretRef": {"name": "s", "namespace": "vault", "key": "k"}}},
    }
    inline = {"metadata": {"namespace": "team"}, "spec": {"initSQL": {"inline": ["SELECT 1"]}}}
    assert i.referenced_configmaps(cm) == ["team/sql"] and i.referenced_secrets(cm) == []
    assert i.referenced_secrets(other_ns) == ["vault/s"] and i.referenced_configmaps(other_ns) == []
    assert i.referenced_configmaps(inline) == [] and i.referenced_secrets(inline) == []
    assert i.referenced_configmaps({"metadata": {}, "spec": {}}) == []
