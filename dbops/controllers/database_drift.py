"""Database drift (behaviour.md 7.1 step 6, 11): how the Database controller uses the shared `DriftChecker`.

The kind contributes only its subject: the engine's Database drift half (`base.database_drift_support`), read and
corrected while holding one of the instance's operation slots (`SlotSubject`, as for roles and grants). Engines
without that half (CockroachDB, MySQL/MariaDB and ClickHouse in this build) get no check: `Synced` reflects the
apply only, as before drift existed.

initSQL and drift share the `Synced` condition. An initSQL failure (or its wait for connections) is the more
actionable report, so it keeps the reason; the drift checker's message is appended to it, because that message is
where the checker remembers the mode and annotation of the last check (`drift.recorded`). Without it a Database
with a failing initSQL would look "allow-destructive-drift changed" on every reconcile and check in a loop.
"""

from __future__ import annotations

from collections.abc import Callable

from dbops.api.database import Database
from dbops.controllers.base import KindReconciler, Obj, StatusDraft
from dbops.controllers.drift import DriftChecker, DriftOutcome
from dbops.controllers.instances import ResolvedInstance
from dbops.controllers.role import SlotSubject, drift_policy
from dbops.engines.base import EngineAdapter, database_drift_support
from dbops.engines.ownership import OwnershipNames
from dbops.metrics import metric_namespace

__all__ = ["BASE_MESSAGE", "DatabaseDrift", "synced_condition", "with_init_sql"]

BASE_MESSAGE = "spec applied"
"""The `Synced` message of an applied spec, which the drift checker extends with its record."""


def synced_condition(draft: StatusDraft) -> Obj:
    """The `Synced` condition the reconcile has computed so far (empty when none)."""
    for cond in draft.data.get("conditions") or ():
        if cond.get("type") == "Synced":
            return dict(cond)
    return {}


def with_init_sql(draft: StatusDraft, reason: str, message: str) -> None:
    """`Synced=False` for initSQL (`reason`, `message`), keeping the drift record after it (module docstring)."""
    drift_message = str(synced_condition(draft).get("message") or BASE_MESSAGE)
    draft.condition("Synced", False, reason, f"{message}; {drift_message}")


class DatabaseDrift:
    """The drift checker of the Database kind; one per reconciler."""

    def __init__(self, reconciler: KindReconciler[Database]) -> None:
        self.reconciler = reconciler
        self.checker = DriftChecker(reconciler)

    async def check(
        self,
        obj: Database,
        raw: Obj,
        draft: StatusDraft,
        rid: str,
        instance: ResolvedInstance,
        adapter: EngineAdapter,
        *,
        owner: str | None,
        names: OwnershipNames | None,
        applied: bool,
        report_interval: bool,
        operation: Callable[[str, bool], None],
    ) -> DriftOutcome:
        """Gate, then detect / correct through the checker; sets `status.drift` and `Synced` in `draft`.

        `owner` is the effective owner and `names` the auto-ownership names when honoured (both as the apply used
        them); `applied` whether this reconcile ran an apply. `report_interval` lets OptionsHonored report an
        unparsable interval; the controller passes False while it reports unsupported options there, which take
        precedence (both writing the one condition would make each report the other's change every reconcile).
        """
        ctx = self.reconciler.ctx
        spec = obj.spec
        policy = drift_policy(ctx, spec, instance)
        if report_interval:
            self.checker.report_interval(raw, draft, policy)
        support = database_drift_support(adapter)
        if support is None:
            draft.condition("Synced", True, "ReconcileSuccess", BASE_MESSAGE)
            return DriftOutcome(checked=False)
        subject = SlotSubject(
            ctx,
            instance.target.key,
            lambda: support.database_drift(spec, owner=owner, names=names),
            support.correct_database_drift,
        )
        return await self.checker.check(
            raw,
            draft,
            rid,
            namespace=metric_namespace(obj.metadata.namespace),
            policy=policy,
            subject=subject,
            applied=applied,
            base=BASE_MESSAGE,
            operation=operation,
        )
