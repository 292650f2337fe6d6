"""Drift detection and correction, the part every kind shares (behaviour.md 11, api.md 4, observability.md 1.5/2.5).

A kind contributes only what it knows: a `DriftSubject` that can *observe* (read the server and return the list of
`Difference`s, each flagged destructive or immutable with the api.md 4.4 field names) and *correct* (apply a list of
differences, returning the fields that failed). Everything else lives here, so Database, DatabaseUser, the role kinds
and the grant kinds behave alike:

* the effective policy (`effective_policy`: the resource's own `driftPolicy` block, else its instance's, else
  `{detect, --default-drift-interval}`; an unparsable interval falls back to the operator default and is reported);
* the gate (`due`): a check runs after an apply, when `interval` has elapsed since `status.drift.lastChecked`, when
  the mode changed, or when `allow-destructive-drift` changed while destructive diffs are recorded — and not
  otherwise. `lastChecked` lives in status, so the cadence survives restarts and leader changes;
* the check itself (`DriftChecker.check`): detect, correct what the mode and annotation allow, check again, record
  `status.drift` (exactly the remaining diffs), set `Synced`, emit `DriftDetected` / `DriftCorrected` /
  `DriftCorrectionFailed` only on state changes, and keep the drift metrics.

What the gate must remember besides `lastChecked` — the mode of the last check, whether destructive corrections were
allowed, the last correction failure — has no field in the DriftStatus schema (unknown status fields are pruned), so
it is kept in the message of the `Synced` condition, which is persisted with the status. The kind passes the rest of
that message (`base`); the grant controller keeps its applied-set digest there.

Usage from a kind's `sync`, after the apply step succeeded::

    checker = DriftChecker(self)                      # once, in the reconciler's __init__
    policy = effective_policy(obj.spec.drift_policy, instance.spec.drift_policy, ctx.config.default_drift_interval)
    outcome = await checker.check(raw, draft, rid, namespace=metric_namespace(ns), policy=policy, subject=subject,
                                  applied=applied, base="spec applied", operation=lambda op, ok: ...)
    ... write status ...
    return Result(requeue_after=outcome.requeue_after)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from dbops.api.common import DriftPolicy
from dbops.config import parse_duration
from dbops.controllers import annotations as ann
from dbops.controllers.transitions import condition_state, field_state
from dbops.engines.access import Difference
from dbops.engines.base import EngineError
from dbops.engines.connection import ConnectionFailure
from dbops.engines.errors import InvalidSpec
from dbops.metrics import forget_series

if TYPE_CHECKING:
    from dbops.controllers.base import KindReconciler, StatusDraft

__all__ = [
    "DESTRUCTIVE_HINT",
    "Difference",
    "DriftChecker",
    "DriftOutcome",
    "DriftSubject",
    "EffectivePolicy",
    "Recorded",
    "correctable",
    "detected_message",
    "due",
    "effective_policy",
    "recorded",
    "seconds_until_due",
]

Obj = dict[str, Any]

DESTRUCTIVE_HINT = f"destructive: set {ann.ALLOW_DESTRUCTIVE_DRIFT}=true"
#: Shortest requeue while waiting for the next check, so a clock edge never turns into a busy loop.
MIN_REQUEUE_SECONDS = 1.0
#: Longest error text kept per field in the Synced message (the condition message is bounded by the schema).
MAX_ERROR_CHARS = 300

#: Errors that mean "the server could not be read or corrected", as opposed to a bug.
CHECK_ERRORS = (EngineError, ConnectionFailure, InvalidSpec)

_MARKER = re.compile(r"\(drift mode (detect|correct)(, destructive corrections allowed)?\)")
_FAILURE = re.compile(r"; correction failed: (.*)$", re.DOTALL)


class DriftSubject(Protocol):
    """What a kind supplies for one object: how to read its differences and how to correct some of them.

    Both methods hold whatever database slot or connection they need themselves, and raise `EngineError` /
    `ConnectionFailure` when the server cannot be read at all.
    """

    async def observe(self) -> list[Difference]:
        """Every current difference between the spec and the server, each flagged destructive/immutable."""
        ...

    async def correct(self, diffs: Sequence[Difference]) -> dict[str, str]:
        """Apply the corrections for `diffs` (already filtered: never immutable, destructive only when allowed);
        every item is attempted. Returns `{field: redacted error}` for the items that failed."""
        ...


@dataclass(frozen=True)
class EffectivePolicy:
    """The policy in force for one object; `invalid` names the unparsable interval (field path, text) if any."""

    mode: str
    interval: float
    invalid: tuple[str, str] | None = None


def effective_policy(
    own: DriftPolicy | None, instance: DriftPolicy | None, default_interval: float, *, instance_path: str = ""
) -> EffectivePolicy:
    """behaviour.md 11.1: the first block found is used *as a whole* (resource, then instance, then the default).

    `instance_path` names the instance's policy in the report of an unparsable interval
    (`DatabaseInstance ns/pg spec.driftPolicy.interval`).
    """
    for policy, path in ((own, "spec.driftPolicy.interval"), (instance, instance_path or "instance driftPolicy")):
        if policy is None:
            continue
        try:
            return EffectivePolicy(policy.mode, parse_duration(policy.interval))
        except ValueError:
            return EffectivePolicy(policy.mode, default_interval, (path, policy.interval))
    return EffectivePolicy("detect", default_interval)


@dataclass(frozen=True)
class Recorded:
    """What status says about the previous check."""

    last_checked: datetime | None = None
    diffs: tuple[Obj, ...] = ()
    mode: str | None = None
    destructive_allowed: bool = False
    failure: str | None = None
    last_corrected: str | None = None

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(str(d.get("field")) for d in self.diffs)

    @property
    def has_destructive(self) -> bool:
        return any(d.get("destructive") for d in self.diffs)


def _parse_time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def recorded(status: Mapping[str, Any] | None) -> Recorded:
    """Read the previous check from a stored status (`status.drift` and the `Synced` message)."""
    status = status or {}
    drift = status.get("drift") or {}
    synced: Mapping[str, Any] = {}
    for cond in status.get("conditions") or ():
        if cond.get("type") == "Synced":
            synced = cond
    message = str(synced.get("message") or "")
    marker = _MARKER.search(message)
    failure = _FAILURE.search(message)
    return Recorded(
        last_checked=_parse_time(drift.get("lastChecked")),
        diffs=tuple(dict(d) for d in drift.get("diffs") or ()),
        mode=marker.group(1) if marker else None,
        destructive_allowed=bool(marker and marker.group(2)),
        failure=failure.group(1) if failure else None,
        last_corrected=drift.get("lastCorrected"),
    )


def due(
    policy: EffectivePolicy, previous: Recorded, *, applied: bool, destructive_allowed: bool, now: datetime
) -> str | None:
    """Why a check must run now (behaviour.md 11.2), or None. Mode `ignore` never checks."""
    if policy.mode == "ignore":
        return None
    if applied:
        return "apply"
    if previous.last_checked is None:
        return "first check"
    if previous.mode is not None and previous.mode != policy.mode:
        return "mode changed"
    if previous.has_destructive and previous.destructive_allowed != destructive_allowed:
        return "allow-destructive-drift changed"
    if (now - previous.last_checked).total_seconds() >= policy.interval:
        return "interval elapsed"
    return None


def seconds_until_due(policy: EffectivePolicy, previous: Recorded, now: datetime) -> float | None:
    """Time until the interval makes the next check due; None in mode `ignore`."""
    if policy.mode == "ignore":
        return None
    if previous.last_checked is None:
        return MIN_REQUEUE_SECONDS
    remaining = policy.interval - (now - previous.last_checked).total_seconds()
    return max(remaining, MIN_REQUEUE_SECONDS)


def correctable(diffs: Sequence[Difference], *, mode: str, destructive_allowed: bool) -> list[Difference]:
    """behaviour.md 11.4: in `correct` mode, everything but immutable items and (unless allowed) destructive ones."""
    if mode != "correct":
        return []
    return [d for d in diffs if not d.immutable and (destructive_allowed or not d.destructive)]


def detected_message(kind: str, name: str, diffs: Sequence[Difference], *, mode: str, destructive_allowed: bool) -> str:
    """The DriftDetected message (observability.md 1.5), without the reconcile-ID prefix."""
    fields = ", ".join(d.field for d in diffs)
    message = f"Drift detected in {kind} {name}: fields [{fields}] (mode {mode})"
    if mode == "correct":
        skipped = [
            f"{d.field} (immutable)" if d.immutable else f"{d.field} ({DESTRUCTIVE_HINT})"
            for d in diffs
            if d.immutable or (d.destructive and not destructive_allowed)
        ]
        if skipped:
            message += "; not corrected: " + ", ".join(skipped)
    return message


def _marker(mode: str, destructive_allowed: bool) -> str:
    return f"(drift mode {mode}{', destructive corrections allowed' if destructive_allowed else ''})"


def _synced_message(base: str, diffs: Sequence[Difference], mode: str, allowed: bool, failure: str | None) -> str:
    if not diffs:
        return f"{base} {_marker(mode, allowed)}"
    message = f"{base}; drift in fields [{', '.join(d.field for d in diffs)}] {_marker(mode, allowed)}"
    return message + (f"; correction failed: {failure}" if failure else "")


def _short(error: str) -> str:
    return error if len(error) <= MAX_ERROR_CHARS else error[: MAX_ERROR_CHARS - 1] + "…"


@dataclass(frozen=True)
class DriftOutcome:
    """What `DriftChecker.check` did: whether a check ran, what remains, and when the next one is due.

    `error` is set when the server could not be read (the check is counted as failed, status is kept); the kind
    turns it into a transient error for backoff after writing status.
    """

    checked: bool
    remaining: tuple[Difference, ...] = ()
    corrected: tuple[str, ...] = ()
    requeue_after: float | None = None
    error: str | None = None


class DriftChecker:
    """Runs the gate and the check for one kind; see the module docstring.

    The drift metrics are labelled with the kind, the object name and `namespace` (`_cluster` for cluster kinds);
    the kind's own operation counter is fed through the `operation(name, ok)` callback of each `check`
    (`drift_detection`, `drift_correction`), which knows that object's engine label.
    """

    def __init__(self, reconciler: KindReconciler[Any]) -> None:
        self.reconciler = reconciler
        self.kind = reconciler.info.kind

    # Metrics --------------------------------------------------------------------------------------------------------

    def forget(self, namespace: str, name: str) -> None:
        """Drop the object's drift gauge (deleted, or mode `ignore`)."""
        forget_series(
            self.reconciler.ctx.metrics.drift_detected, resource_type=self.kind, name=name, namespace=namespace
        )

    def publish_stored(self, namespace: str, name: str, status: Mapping[str, Any] | None) -> None:
        """Rebuild the drift gauge from a stored status (a new leader, observability.md 2.2)."""
        drift = (status or {}).get("drift")
        if drift and drift.get("lastChecked"):
            count = len(drift.get("diffs") or ())
            self.reconciler.ctx.metrics.drift_detected.labels(self.kind, name, namespace).set(count)

    # The check ------------------------------------------------------------------------------------------------------

    async def check(
        self,
        raw: Obj,
        draft: StatusDraft,
        rid: str,
        *,
        namespace: str,
        policy: EffectivePolicy,
        subject: DriftSubject,
        applied: bool,
        base: str,
        operation: Callable[[str, bool], None] = lambda _name, _ok: None,
        now: datetime | None = None,
    ) -> DriftOutcome:
        """Gate, then detect / correct / re-check; sets `status.drift` and `Synced` in `draft`.

        `base` is the Synced message for "the spec is applied" (the kind's own text); `applied` is whether this
        reconcile just ran an apply (creation, take-over, re-creation, spec change).
        """
        meta = raw.get("metadata") or {}
        name = str(meta.get("name") or "")
        allowed = ann.is_true(meta.get("annotations"), ann.ALLOW_DESTRUCTIVE_DRIFT)
        now = now or datetime.now(UTC)
        previous = recorded(draft.before)
        metrics = self.reconciler.ctx.metrics

        if policy.mode == "ignore":
            draft.set(drift=None)
            draft.condition("Synced", True, "ReconcileSuccess", base)
            self.forget(namespace, name)
            return DriftOutcome(checked=False)

        reason = due(policy, previous, applied=applied, destructive_allowed=allowed, now=now)
        if reason is None:
            self._keep(draft, previous, base, policy.mode, allowed)
            return DriftOutcome(checked=False, requeue_after=seconds_until_due(policy, previous, now))

        self.reconciler.log.debug("drift check", trigger=reason, mode=policy.mode, name=name)
        try:
            diffs = await subject.observe()
        except CHECK_ERRORS as error:
            return self._check_failed(draft, namespace, name, str(error), operation)

        corrected: list[str] = []
        failures: dict[str, str] = {}
        todo = correctable(diffs, mode=policy.mode, destructive_allowed=allowed)
        if todo:
            try:
                failures = await subject.correct(todo)
            except CHECK_ERRORS as error:
                failures = {d.field: str(error) for d in todo}
            corrected = [d.field for d in todo if d.field not in failures]
            for _ in corrected:
                metrics.drift_corrections.labels(self.kind, "success", namespace).inc()
            for _ in failures:
                metrics.drift_corrections.labels(self.kind, "failure", namespace).inc()
            operation("drift_correction", not failures)
            if corrected:
                self.reconciler.normal(
                    raw, "DriftCorrected", f"Corrected drift in {self.kind} {name}: fields [{', '.join(corrected)}]"
                )
            try:
                diffs = await subject.observe()  # "then check again" (behaviour.md 11.4)
            except CHECK_ERRORS as error:
                return self._check_failed(draft, namespace, name, str(error), operation)

        failure = "; ".join(f"{f}: {_short(e)}" for f, e in sorted(failures.items())) or None
        if failure is not None:
            draft.warning_on_change(
                "DriftCorrectionFailed",
                f"Failed to correct drift in {self.kind} {name}: {failure}",
                when=lambda status: recorded(status).failure,
            )
        if diffs:
            draft.warning_on_change(
                "DriftDetected",
                detected_message(self.kind, name, diffs, mode=policy.mode, destructive_allowed=allowed),
                when=lambda status: frozenset(recorded(status).fields),
            )

        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        record: Obj = {"detected": bool(diffs), "lastChecked": stamp}
        last_corrected = stamp if corrected else previous.last_corrected
        if last_corrected:
            record["lastCorrected"] = last_corrected
        if diffs:
            record["diffs"] = [d.status() for d in diffs]
        draft.set(drift=record)
        synced = _synced_message(base, diffs, policy.mode, allowed, failure)
        if diffs:
            draft.condition("Synced", False, "DriftDetected", synced)
        else:
            draft.condition("Synced", True, "ReconcileSuccess", synced)
        metrics.drift_detections.labels(self.kind, "success", namespace).inc()
        metrics.drift_detected.labels(self.kind, name, namespace).set(len(diffs))
        operation("drift_detection", True)
        return DriftOutcome(
            checked=True, remaining=tuple(diffs), corrected=tuple(corrected), requeue_after=policy.interval
        )

    def _keep(self, draft: StatusDraft, previous: Recorded, base: str, mode: str, allowed: bool) -> None:
        """Not due: Synced reflects the recorded check (the stored condition stays as it is when it already does)."""
        before = draft.previous_condition("Synced") or {}
        if before.get("reason") in ("ReconcileSuccess", "DriftDetected") and str(before.get("message", "")).startswith(
            base
        ):
            draft.condition("Synced", before.get("status", "True"), before["reason"], before.get("message", ""))
            return
        if previous.diffs:
            message = f"{base}; drift in fields [{', '.join(previous.fields)}] {_marker(mode, allowed)}"
            draft.condition("Synced", False, "DriftDetected", message)
        else:
            draft.condition("Synced", True, "ReconcileSuccess", f"{base} {_marker(mode, allowed)}")

    def _check_failed(
        self,
        draft: StatusDraft,
        namespace: str,
        name: str,
        error: str,
        operation: Callable[[str, bool], None],
    ) -> DriftOutcome:
        """The server could not be read: counted as a failed check; `status.drift` and Synced keep the last result."""
        metrics = self.reconciler.ctx.metrics
        metrics.drift_detections.labels(self.kind, "failure", namespace).inc()
        operation("drift_detection", False)
        message = f"drift check failed: {error}"
        draft.set(message=message)
        draft.warning_on_change(
            "ReconcileFailed", f"{self.kind} {name}: drift check failed: {error}", when=field_state("message")
        )
        before = draft.previous_condition("Synced")
        if before is not None and before.get("reason") in ("ReconcileSuccess", "DriftDetected"):
            draft.condition("Synced", before.get("status", "True"), before["reason"], before.get("message", ""))
        else:
            draft.condition("Synced", False, "ReconcileFailed", message)
        return DriftOutcome(checked=False, remaining=(), requeue_after=None, error=error)

    def report_interval(self, raw: Obj, draft: StatusDraft, policy: EffectivePolicy) -> None:
        """OptionsHonored for an unparsable interval (api.md 4.1: reported as `InvalidOptionValue`, event on change).

        Only touches OptionsHonored when the interval is invalid, or when it was the recorded reason."""
        previous = draft.previous_condition("OptionsHonored") or {}
        name = (raw.get("metadata") or {}).get("name")
        if policy.invalid is not None:
            path, value = policy.invalid
            default = self.reconciler.ctx.config.default_drift_interval
            listed = f"{path}: cannot parse duration {value!r}; using {default:g}s"
            draft.condition("OptionsHonored", False, "InvalidOptionValue", listed)
            draft.warning_on_change(
                "InvalidOptionValue",
                f"{self.kind} {name}: {listed}",
                when=condition_state("OptionsHonored", "reason", "message"),
            )
        elif previous.get("reason") == "InvalidOptionValue":
            draft.condition("OptionsHonored", True, "AllOptionsHonored", "every option in the spec is in effect")
