"""The kind-independent drift logic (behaviour.md 11): policy resolution, the gate, and one check end to end over a
scripted subject (a pure-logic test: the subject stands in for a server, the rest is the real checker)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from dbops.api.common import DriftPolicy
from dbops.controllers.base import KindReconciler, StatusDraft
from dbops.controllers.drift import (
    DriftChecker,
    EffectivePolicy,
    Recorded,
    correctable,
    detected_message,
    due,
    effective_policy,
    recorded,
    seconds_until_due,
)
from dbops.engines.access import Difference
from dbops.engines.base import EngineError
from dbops.metrics import Metrics

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
DEFAULT = 8 * 3600.0

# Policy -------------------------------------------------------------------------------------------------------------


def test_policy_falls_back_resource_then_instance_then_default() -> None:
    own, instance = DriftPolicy(mode="correct", interval="5s"), DriftPolicy(mode="ignore", interval="1h")
    assert effective_policy(own, instance, DEFAULT) == EffectivePolicy("correct", 5.0)
    assert effective_policy(None, instance, DEFAULT) == EffectivePolicy("ignore", 3600.0)
    assert effective_policy(None, None, DEFAULT) == EffectivePolicy("detect", DEFAULT)


def test_policy_block_is_used_as_a_whole() -> None:
    """The resource's block wins even when it only sets the mode: its interval is its own schema default (8h),
    not the instance's."""
    own = DriftPolicy.model_validate({"mode": "correct"})
    instance = DriftPolicy(mode="detect", interval="1m")
    assert effective_policy(own, instance, 60.0) == EffectivePolicy("correct", 8 * 3600.0)


def test_unparsable_interval_uses_the_operator_default_and_is_reported() -> None:
    policy = effective_policy(None, DriftPolicy(mode="correct", interval="soon"), 42.0, instance_path="inst")
    assert policy == EffectivePolicy("correct", 42.0, ("inst", "soon"))
    own = effective_policy(DriftPolicy(mode="detect", interval="5x"), None, 42.0)
    assert own.invalid == ("spec.driftPolicy.interval", "5x")


# Gate ---------------------------------------------------------------------------------------------------------------


def status(
    checked: datetime | None, diffs: Sequence[dict[str, Any]] = (), message: str = "spec applied (drift mode detect)"
) -> dict[str, Any]:
    drift: dict[str, Any] = {"detected": bool(diffs)}
    if checked is not None:
        drift["lastChecked"] = checked.strftime("%Y-%m-%dT%H:%M:%SZ")
    if diffs:
        drift["diffs"] = list(diffs)
    return {
        "drift": drift,
        "conditions": [{"type": "Synced", "status": "False" if diffs else "True", "message": message}],
    }


DETECT = EffectivePolicy("detect", 60.0)


def test_recorded_reads_last_check_mode_and_failure() -> None:
    message = "base; drift in fields [a] (drift mode correct, destructive corrections allowed); correction failed: a: x"
    previous = recorded(status(NOW, [{"field": "a", "destructive": True}], message))
    assert previous.last_checked == NOW
    assert previous.mode == "correct" and previous.destructive_allowed
    assert previous.failure == "a: x"
    assert previous.fields == ("a",) and previous.has_destructive
    assert recorded(None) == Recorded()


def test_gate_runs_after_apply_and_when_never_checked() -> None:
    fresh = recorded(status(NOW))
    assert due(DETECT, fresh, applied=True, destructive_allowed=False, now=NOW) == "apply"
    assert due(DETECT, recorded({}), applied=False, destructive_allowed=False, now=NOW) == "first check"


def test_gate_waits_for_the_interval() -> None:
    previous = recorded(status(NOW))
    assert due(DETECT, previous, applied=False, destructive_allowed=False, now=NOW + timedelta(seconds=59)) is None
    assert seconds_until_due(DETECT, previous, NOW + timedelta(seconds=59)) == 1.0
    assert seconds_until_due(DETECT, previous, NOW + timedelta(seconds=20)) == 40.0
    later = NOW + timedelta(seconds=60)
    assert due(DETECT, previous, applied=False, destructive_allowed=False, now=later) == "interval elapsed"


def test_gate_runs_at_once_when_the_mode_changes() -> None:
    previous = recorded(status(NOW))
    soon = NOW + timedelta(seconds=1)
    assert due(EffectivePolicy("correct", 60.0), previous, applied=False, destructive_allowed=False, now=soon)
    assert due(DETECT, previous, applied=False, destructive_allowed=False, now=soon) is None


def test_gate_runs_at_once_when_the_annotation_changes_with_destructive_diffs_recorded() -> None:
    soon = NOW + timedelta(seconds=1)
    destructive = recorded(status(NOW, [{"field": "roles.extra", "destructive": True}], "x (drift mode correct)"))
    policy = EffectivePolicy("correct", 60.0)
    assert due(policy, destructive, applied=False, destructive_allowed=True, now=soon) is not None
    assert due(policy, destructive, applied=False, destructive_allowed=False, now=soon) is None
    harmless = recorded(status(NOW, [{"field": "login", "destructive": False}], "x (drift mode correct)"))
    assert due(policy, harmless, applied=False, destructive_allowed=True, now=soon) is None


def test_ignore_never_checks() -> None:
    ignore = EffectivePolicy("ignore", 1.0)
    assert due(ignore, recorded({}), applied=True, destructive_allowed=False, now=NOW) is None
    assert seconds_until_due(ignore, recorded({}), NOW) is None


def test_correctable_skips_immutable_and_destructive_unless_allowed() -> None:
    diffs = [
        Difference("login", "true", "false"),
        Difference("superuser", "false", "true", destructive=True),
        Difference("encoding", "UTF8", "LATIN1", immutable=True),
    ]
    assert [d.field for d in correctable(diffs, mode="correct", destructive_allowed=False)] == ["login"]
    assert [d.field for d in correctable(diffs, mode="correct", destructive_allowed=True)] == ["login", "superuser"]
    assert correctable(diffs, mode="detect", destructive_allowed=True) == []


def test_detected_message_names_skipped_fields() -> None:
    diffs = [
        Difference("superuser", "false", "true", destructive=True),
        Difference("encoding", "a", "b", immutable=True),
    ]
    assert detected_message("DatabaseRole", "r", diffs, mode="correct", destructive_allowed=False) == (
        "Drift detected in DatabaseRole r: fields [superuser, encoding] (mode correct); not corrected: superuser "
        "(destructive: set dbops.dbprovision.io/allow-destructive-drift=true), encoding (immutable)"
    )
    assert detected_message("DatabaseRole", "r", diffs[:1], mode="detect", destructive_allowed=False) == (
        "Drift detected in DatabaseRole r: fields [superuser] (mode detect)"
    )


def test_difference_status_never_carries_the_fix() -> None:
    diff = Difference("login", "true", "false", fix=("ALTER ROLE x LOGIN",))
    assert diff.status() == {
        "field": "login",
        "expected": "true",
        "actual": "false",
        "destructive": False,
        "immutable": False,
    }


# One check over a scripted subject ----------------------------------------------------------------------------------


class FakeReconciler:
    """The few reconciler attributes the checker uses, with a real metrics registry."""

    def __init__(self) -> None:
        self.info = SimpleNamespace(kind="DatabaseRole")
        self.ctx = SimpleNamespace(
            metrics=Metrics(CollectorRegistry()), config=SimpleNamespace(default_drift_interval=1.0)
        )
        self.log = SimpleNamespace(debug=lambda *a, **k: None)
        self.events: list[tuple[str, str, str]] = []

    def warning(self, raw: Any, reason: str, message: str, rid: str) -> None:
        self.events.append(("Warning", reason, f"[{rid}] {message}"))

    def normal(self, raw: Any, reason: str, message: str) -> None:
        self.events.append(("Normal", reason, message))

    say_due = KindReconciler.say_due  # the real rule: the events announced on what the status write changes


class Server:
    """A subject whose state is a set of differences; correcting removes them unless listed in `broken`."""

    def __init__(self, diffs: list[Difference], broken: Sequence[str] = ()) -> None:
        self.diffs = diffs
        self.broken = set(broken)
        self.corrections: list[list[str]] = []

    async def observe(self) -> list[Difference]:
        return list(self.diffs)

    async def correct(self, diffs: Sequence[Difference]) -> dict[str, str]:
        self.corrections.append([d.field for d in diffs])
        failed = {d.field: "permission denied" for d in diffs if d.field in self.broken}
        self.diffs = [d for d in self.diffs if d.field in failed or d not in diffs]
        return failed


RAW = {"metadata": {"name": "r", "namespace": "ns", "annotations": {}}}


async def run(
    reconciler: FakeReconciler,
    stored: dict[str, Any] | None,
    server: Server,
    mode: str,
    *,
    applied: bool = False,
    now: datetime = NOW,
    raw: dict[str, Any] = RAW,
) -> tuple[StatusDraft, Any]:
    draft = StatusDraft(stored, 1)
    checker = DriftChecker(reconciler)  # type: ignore[arg-type]
    outcome = await checker.check(
        raw,
        draft,
        "abcd1234",
        namespace="ns",
        policy=EffectivePolicy(mode, 60.0),
        subject=server,
        applied=applied,
        base="spec applied",
        now=now,
    )
    reconciler.say_due(raw, draft, "abcd1234")  # the reconcile's status write follows the check
    return draft, outcome


def gauge(reconciler: FakeReconciler) -> float | None:
    registry = reconciler.ctx.metrics.drift_detected
    for family in registry.collect():
        for sample in family.samples:
            if sample.labels == {"resource_type": "DatabaseRole", "name": "r", "namespace": "ns"}:
                return float(sample.value)
    return None


async def test_detect_records_diffs_and_emits_one_event_per_change() -> None:
    reconciler = FakeReconciler()
    server = Server([Difference("createdb", "false", "true")])
    draft, outcome = await run(reconciler, None, server, "detect", applied=True)
    assert outcome.checked and [d.field for d in outcome.remaining] == ["createdb"]
    assert server.corrections == []  # detect never changes the server
    assert draft.data["drift"] == {
        "detected": True,
        "lastChecked": "2026-01-01T12:00:00Z",
        "diffs": [
            {"field": "createdb", "expected": "false", "actual": "true", "destructive": False, "immutable": False}
        ],
    }
    synced = next(c for c in draft.data["conditions"] if c["type"] == "Synced")
    assert (synced["status"], synced["reason"]) == ("False", "DriftDetected")
    assert reconciler.events == [
        ("Warning", "DriftDetected", "[abcd1234] Drift detected in DatabaseRole r: fields [createdb] (mode detect)")
    ]
    assert gauge(reconciler) == 1.0

    # The next check finds the same set: status advances lastChecked only, no event.
    later = NOW + timedelta(seconds=61)
    again, outcome = await run(reconciler, draft.data, server, "detect", now=later)
    assert outcome.checked and len(reconciler.events) == 1
    assert again.data["drift"]["lastChecked"] == "2026-01-01T12:01:01Z"

    # Not due: nothing is read, Synced is kept.
    server.diffs = []
    quiet, outcome = await run(reconciler, again.data, server, "detect", now=later + timedelta(seconds=5))
    assert not outcome.checked and outcome.requeue_after == 55.0
    assert quiet.data == again.data

    # Someone fixed the server: cleared, Synced True, still no new event.
    fixed, _ = await run(reconciler, again.data, server, "detect", now=later + timedelta(seconds=61))
    assert fixed.data["drift"] == {"detected": False, "lastChecked": "2026-01-01T12:02:02Z"}
    assert next(c for c in fixed.data["conditions"] if c["type"] == "Synced")["status"] == "True"
    assert len(reconciler.events) == 1 and gauge(reconciler) == 0.0


async def test_correct_fixes_what_it_may_and_keeps_the_rest_listed() -> None:
    reconciler = FakeReconciler()
    server = Server(
        [Difference("createdb", "false", "true"), Difference("inRoles.extra", "none", "x", destructive=True)]
    )
    draft, outcome = await run(reconciler, None, server, "correct", applied=True)
    assert server.corrections == [["createdb"]]
    assert outcome.corrected == ("createdb",)
    assert [d["field"] for d in draft.data["drift"]["diffs"]] == ["inRoles.extra"]
    assert draft.data["drift"]["lastCorrected"] == "2026-01-01T12:00:00Z"
    reasons = [(kind, reason) for kind, reason, _ in reconciler.events]
    assert reasons == [("Normal", "DriftCorrected"), ("Warning", "DriftDetected")]
    assert reconciler.events[0][2] == "Corrected drift in DatabaseRole r: fields [createdb]"
    assert "not corrected: inRoles.extra (destructive" in reconciler.events[1][2]

    # The annotation arrives: due at once, the extra is revoked, no new DriftDetected (nothing remains).
    annotated = {"metadata": {"name": "r", "annotations": {"dbops.dbprovision.io/allow-destructive-drift": "true"}}}
    soon = NOW + timedelta(seconds=2)
    after, outcome = await run(reconciler, draft.data, server, "correct", now=soon, raw=annotated)
    assert outcome.checked and server.corrections[-1] == ["inRoles.extra"]
    assert after.data["drift"] == {
        "detected": False,
        "lastChecked": "2026-01-01T12:00:02Z",
        "lastCorrected": "2026-01-01T12:00:02Z",
    }
    assert [r for _, r, _ in reconciler.events].count("DriftDetected") == 1


async def test_a_failing_correction_warns_once_per_distinct_failure() -> None:
    reconciler = FakeReconciler()
    server = Server([Difference("bypassrls", "false", "true")], broken=["bypassrls"])
    draft, _ = await run(reconciler, None, server, "correct", applied=True)
    failures = [m for _, r, m in reconciler.events if r == "DriftCorrectionFailed"]
    assert failures == ["[abcd1234] Failed to correct drift in DatabaseRole r: bypassrls: permission denied"]
    assert draft.data["drift"]["diffs"][0]["field"] == "bypassrls"
    assert "lastCorrected" not in draft.data["drift"]
    again, _ = await run(reconciler, draft.data, server, "correct", now=NOW + timedelta(seconds=60))
    assert [d["field"] for d in again.data["drift"]["diffs"]] == ["bypassrls"]
    assert [r for _, r, _ in reconciler.events].count("DriftCorrectionFailed") == 1
    assert [r for _, r, _ in reconciler.events].count("DriftDetected") == 1
    metrics = reconciler.ctx.metrics
    assert metrics.drift_corrections.labels("DatabaseRole", "failure", "ns")._value.get() == 2


async def test_ignore_removes_the_record_and_the_gauge() -> None:
    reconciler = FakeReconciler()
    server = Server([Difference("login", "true", "false")])
    draft, _ = await run(reconciler, None, server, "detect", applied=True)
    assert gauge(reconciler) == 1.0
    ignored, outcome = await run(reconciler, draft.data, server, "ignore", applied=True)
    assert "drift" not in ignored.data and not outcome.checked and outcome.requeue_after is None
    assert next(c for c in ignored.data["conditions"] if c["type"] == "Synced")["status"] == "True"
    assert gauge(reconciler) is None


async def test_an_unreadable_server_keeps_the_last_result() -> None:
    class Down(Server):
        async def observe(self) -> list[Difference]:
            raise EngineError("connection refused")

    reconciler = FakeReconciler()
    draft, _ = await run(reconciler, None, Server([Difference("login", "true", "false")]), "detect", applied=True)
    failed, outcome = await run(reconciler, draft.data, Down([]), "detect", applied=True)
    assert outcome.error == "connection refused" and not outcome.checked
    assert failed.data["drift"] == draft.data["drift"]
    assert failed.data["message"] == "drift check failed: connection refused"
    metrics = reconciler.ctx.metrics
    assert metrics.drift_detections.labels("DatabaseRole", "failure", "ns")._value.get() == 1


@pytest.mark.parametrize("mode", ["detect", "correct"])
async def test_a_clean_check_emits_nothing(mode: str) -> None:
    reconciler = FakeReconciler()
    draft, outcome = await run(reconciler, None, Server([]), mode, applied=True)
    assert outcome.checked and reconciler.events == []
    assert draft.data["drift"] == {"detected": False, "lastChecked": "2026-01-01T12:00:00Z"}
    synced = next(c for c in draft.data["conditions"] if c["type"] == "Synced")
    assert synced["message"] == f"spec applied (drift mode {mode})"
