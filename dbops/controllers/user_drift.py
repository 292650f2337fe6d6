"""DatabaseUser drift (behaviour.md 8.1 step 6, 11; api.md 4.4 DatabaseUser row): how the user controller uses the
shared `DriftChecker`.

The kind contributes only its subject: the engine's user drift half (`user_drift_support`), read and corrected while
holding one of the instance's operation slots (`SlotSubject`, as for roles, grants and databases). Only PostgreSQL
has that half in this build (the exact engine name: CockroachDB shares the adapter class but not every role
attribute); other engines get no check, and `Synced` reflects the apply only, as before drift existed.

Which account is checked, and what counts as declared for it (behaviour.md 11.3):

* the login account the credentials Secret describes — `spec.username`, or with role-inheritance rotation the
  active generated account, compared with the spec as rotation applies it there (LOGIN, INHERIT, member of the
  service role);
* memberships are "extra" only beyond everything the operator declares for the user: its own `roles` /
  `postgres.inRoles` / `defaultRole`, the `roles` of every grant whose `userRef` names it, and rotation's service
  role (which rotation makes `spec.username` a member of).

The password is never compared. A rotation failure shares the `Synced` condition with drift: the failure keeps the
reason and the drift checker's message is appended to it (`with_failure`), because that message is where the
checker remembers the mode and annotation of the last check (`drift.recorded`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from dbops.api.user import DatabaseUser, DatabaseUserSpec
from dbops.controllers import rotation as rot
from dbops.controllers.base import KindReconciler, Obj, StatusDraft
from dbops.controllers.drift import DriftChecker, DriftOutcome
from dbops.controllers.instances import ResolvedInstance
from dbops.controllers.role import SlotSubject, drift_policy, grant_declares
from dbops.controllers.transitions import Selector, condition_state
from dbops.engines.base import EngineAdapter, user_drift_support
from dbops.metrics import metric_namespace

__all__ = [
    "BASE_MESSAGE",
    "UserDrift",
    "checked_login",
    "declared_memberships",
    "synced_reports",
    "user_drift_support",
    "with_failure",
]

BASE_MESSAGE = "spec applied"
"""The `Synced` message of an applied spec, which the drift checker extends with its record."""


def checked_login(spec: DatabaseUserSpec, status: Mapping[str, Any] | None) -> tuple[str, str | None]:
    """The login account to check and the rotation service role that applies to it (None without rotation).

    The account is the active one (`rotation.active_user`). The service role is the one grants go to while
    role-inheritance rotation is enabled (`rotation.grantee_name`); a generated account that is still active after
    rotation was switched off keeps the recorded role, since that is how it was created and is still applied."""
    login = rot.active_user(status, spec)
    grantee = rot.grantee_name(status, spec)
    if grantee != spec.username:
        return login, grantee
    recorded = str(((status or {}).get("rotation") or {}).get("serviceRole") or "")
    if login != spec.username and recorded:
        return login, recorded
    return login, None


def declared_memberships(grants: Iterable[Obj]) -> frozenset[str]:
    """The roles every grant naming the user (`userRef`) declares memberships in."""
    return frozenset(role for raw in grants for role in grant_declares(raw).memberships)


def with_failure(draft: StatusDraft, reason: str, message: str) -> None:
    """`Synced=False` for a failure of the reconcile's own (`reason`, `message`), keeping the drift record after it
    (module docstring)."""
    drift_message = BASE_MESSAGE
    for cond in draft.data.get("conditions") or ():
        if cond.get("type") == "Synced":
            drift_message = str(cond.get("message") or BASE_MESSAGE)
    draft.condition("Synced", False, reason, f"{message}; {drift_message}")


def synced_reports(message: str) -> Selector:
    """Whether Synced reports `message` (alone, or with the drift record after it): a failure is announced when it
    starts being reported, not again when only the drift record behind it changes."""

    def select(status: Mapping[str, Any]) -> bool:
        (recorded,) = condition_state("Synced", "message")(status)
        return recorded == message or str(recorded or "").startswith(message + "; ")

    return select


def _options_honored(draft: StatusDraft) -> bool:
    for cond in draft.data.get("conditions") or ():
        if cond.get("type") == "OptionsHonored":
            return str(cond.get("status")) == "True"
    return True


class UserDrift:
    """The drift checker of the DatabaseUser kind; one per reconciler."""

    def __init__(self, reconciler: KindReconciler[DatabaseUser]) -> None:
        self.reconciler = reconciler
        self.checker = DriftChecker(reconciler)

    async def check(
        self,
        obj: DatabaseUser,
        raw: Obj,
        draft: StatusDraft,
        rid: str,
        instance: ResolvedInstance,
        adapter: EngineAdapter,
        *,
        grants: Iterable[Obj],
        applied: bool,
        operation: Callable[[str, bool], None],
    ) -> DriftOutcome:
        """Gate, then detect / correct through the checker; sets `status.drift` and `Synced` in `draft`.

        `grants` are the grant objects naming this user; `applied` whether this reconcile ran an apply (creation,
        take-over, re-creation, spec change). An unparsable interval is reported in OptionsHonored only while
        nothing else is reported there (rotation's and the engine's reports take precedence; both writing the one
        condition would make each report the other's change every reconcile).
        """
        ctx = self.reconciler.ctx
        spec = obj.spec
        policy = drift_policy(ctx, spec, instance)
        if _options_honored(draft):
            self.checker.report_interval(raw, draft, policy)
        support = user_drift_support(adapter)
        if support is None:
            draft.condition("Synced", True, "ReconcileSuccess", BASE_MESSAGE)
            return DriftOutcome(checked=False)
        login, service_role = checked_login(spec, draft.data)
        declared = declared_memberships(grants)
        subject = SlotSubject(
            ctx,
            instance.target.key,
            lambda: support.user_drift(spec, login=login, service_role=service_role, declared=declared),
            support.correct_user_drift,
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
