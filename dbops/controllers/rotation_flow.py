"""Password rotation inside a DatabaseUser reconcile (behaviour.md 8.6): the part that talks to servers and Kubernetes.

The user controller drives one `RotationFlow` per reconcile through three entries: `begin()` (detect, then step 1),
`prepare()` and `ensure_accounts()` inside its account step (2, 3), and `step(write_secret, password)` (4, 5), in the
order of behaviour.md 8.1:

1. `report_options(unsupported)` instead of the generic options report: it adds rotation's own invalid values
   (schedule, maxAge, no trigger) to `OptionsHonored` and emits `UnsupportedOption`, `InvalidOptionValue` and
   `InvalidRotationSchedule` only when what is reported changes (the condition message is the memory, so a restart
   re-emits nothing);
2. `prepare()` inside an operation slot: the service role exists (created when `autoCreate`, else
   `ServiceRoleMissing`) and `status.rotation` is initialised / refreshed;
3. `ensure_accounts(...)`: `spec.username` joins the service role; the active generated account exists
   (recreated when dropped out of band) and carries the spec on a spec change; `active_user` is what the
   credentials Secret must describe;
4. `rotate(write_secret, password)` when due: new account, Secret rewritten through the controller's callback,
   status patched at once (the Secret and `status.rotation.activeUser` must not disagree across a crash for longer
   than one API call), `PasswordRotated`;
5. `superseded()`: old generated accounts past their grace period are deleted (after the ownership check),
   disabled or kept;
6. `requeue_after(base)`: the earliest rotation timer.

Strategy `dual-password` (MySQL 8.0.14+) uses the same steps with a different engine capability
(`DualPasswordAdapter`): `detect()` (before step 1) asks the server whether it keeps a retained second password and
refuses the strategy where it does not; step 2 only records `status.rotation`; step 4 sets a generated password on
every host entry of the active account retaining the current one, rewrites the Secret (same username) and records
`oldPasswordDiscardAt`; step 5 discards the retained password once that time has passed.

Failures of 4 and 5 are `RotationFailure`s: the controller reports them with `RotationFailed` (once per distinct
error, remembered in the `Synced` message) and retries with backoff.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from dbops.api.user import DatabaseUser
from dbops.controllers import rotation as rot
from dbops.controllers.base import KindReconciler, Obj, StatusDraft
from dbops.controllers.instances import ResolvedInstance
from dbops.controllers.transitions import Selector, condition_state
from dbops.engines.base import EngineAdapter, EngineError
from dbops.engines.connection import ConnectionFailure
from dbops.engines.rotation import (
    DualPasswordAdapter,
    RotationAdapter,
    ServiceRoleMissing,
    dual_password_adapter,
    rotation_adapter,
)
from dbops.metrics import metric_namespace
from dbops.secrets.password import PasswordPolicy, generate_password

__all__ = ["RotationFailure", "RotationFlow", "ServiceRoleMissing", "service_role_marker"]

SecretWriter = Callable[[str, str], Awaitable[None]]
"""Rewrites the credentials Secret for (username, password); raises on failure."""

ROTATION_FAILED_PREFIX = "password rotation failed: "
NOT_WITHDRAWN = "the new password could not be withdrawn"
"""Ends a dual-password failure after which the server may hold a password nobody was given as its primary one (the
Secret write and the undo both failed). The controller keeps the message in the `Synced` condition, so the retry,
also after a restart, first makes the Secret's password primary again; otherwise its RETAIN would keep the unknown
password and drop the one every client has."""


class RotationFailure(EngineError):
    """A rotation or superseded-account action failed; the message is redacted and names the step."""


def service_role_marker(namespace: str, name: str) -> str:
    """The comment on a service role this operator created for DatabaseUser namespace/name (so deletion drops only
    roles it created)."""
    return f"dbops: rotation service role of DatabaseUser {namespace}/{name}"


def _unsupported_listed(status: Mapping[str, Any]) -> str | None:
    """The unhonoured fields OptionsHonored lists (the first part of its message), None when none are listed."""
    reason, message = condition_state("OptionsHonored", "reason", "message")(status)
    return str(message or "").split("; ", 1)[0] if reason == "UnsupportedOption" else None


def _options_mention(entry: str) -> Selector:
    """Whether a not-honoured OptionsHonored names `entry` (an unusable value is reported once, while it lasts)."""

    def select(status: Mapping[str, Any]) -> bool:
        honoured, message = condition_state("OptionsHonored", "status", "message")(status)
        return honoured == "False" and entry in str(message or "")

    return select


def _options_message(unsupported: list[str], invalid: list[str], hint: str) -> str:
    parts = [", ".join(sorted(unsupported)), ", ".join(invalid), hint]
    return "; ".join(p for p in parts if p)


class RotationFlow:
    """One reconcile's rotation work for one DatabaseUser; see the module docstring."""

    def __init__(
        self,
        host: KindReconciler[Any],
        obj: DatabaseUser,
        raw: Obj,
        draft: StatusDraft,
        rid: str,
        instance: ResolvedInstance,
        adapter: EngineAdapter,
        *,
        now: datetime | None = None,
    ) -> None:
        self.host, self.obj, self.raw, self.draft, self.rid = host, obj, raw, draft, rid
        self.instance, self.adapter = instance, adapter
        self.now = now or datetime.now(UTC)
        self.spec = obj.spec
        self.settings = rot.settings_of(obj.spec)
        self.engine: RotationAdapter | None = rotation_adapter(adapter)
        self.dual: DualPasswordAdapter | None = dual_password_adapter(adapter)
        self.server_label: str | None = None
        """Engine and version of the server, once `detect()` read them (for the refusal's message)."""
        self.unavailable: str | None = None
        """Why configured rotation cannot run here (reported as unsupported), or None."""
        if self.settings is not None:
            if self.settings.strategy != rot.ROLE_INHERITANCE:
                if self.dual is None:
                    self.unavailable = rot.STRATEGY_FIELD  # dual-password: the adapter reports it for its engine
            elif self.engine is None:
                self.unavailable = f"{rot.ROTATION_FIELD} ({instance.engine})"
        self.rotating = False
        """Whether rotation (either strategy) is in effect for this reconcile."""
        self._update_rotating()

    def _update_rotating(self) -> None:
        self.rotating = (
            self.settings is not None and self.unavailable is None and self.spec.existing_password_secret is None
        )

    @property
    def inheriting(self) -> bool:
        """Whether role-inheritance rotation (service role, generated accounts) is in effect."""
        return self.rotating and self.settings is not None and self.settings.strategy == rot.ROLE_INHERITANCE

    @property
    def dual_password(self) -> bool:
        """Whether dual-password rotation is in effect (the server was found to support it, or not asked yet)."""
        return self.rotating and self.settings is not None and self.settings.strategy == rot.DUAL_PASSWORD

    # Entry points of the controller ------------------------------------------------------------------------------

    async def begin(self) -> None:
        """Before the operation slot: `detect()`, then `report_options` with the adapter's unsupported user fields,
        read only after `detect()` (on MySQL they depend on the server version it reads)."""
        await self.detect()
        self.report_options(self.adapter.unsupported_user_fields(self.spec, None))

    async def step(self, write_secret: SecretWriter, password: str) -> RotationFailure | None:
        """After the credentials Secret is in place, outside any slot: `rotate` when due, then `superseded`, blocked
        accounts re-checked whenever the user is reconciled (read-only catalog queries, and only while such an entry
        exists). A failure is returned, not raised: the account and its Secret are fine, so the controller records
        them and then reports the failure."""
        try:
            await self.rotate(write_secret, password)
            await self.superseded(recheck_blocked=True)
        except RotationFailure as error:
            return error
        return None

    async def detect(self) -> None:
        """Before `report_options`: for dual-password, ask the server whether it keeps a retained second password
        (MySQL 8.0.14+; one catalog round trip the server handle caches) and refuse the strategy where it does not,
        naming the engine and version. Nothing for other strategies or engines."""
        if not self.dual_password or self.dual is None:
            return
        support = await self.dual.support()
        self.server_label = support.server
        if not support.available:
            self.unavailable = rot.STRATEGY_FIELD
            self._update_rotating()

    # State --------------------------------------------------------------------------------------------------------

    @property
    def record(self) -> dict[str, Any]:
        """`status.rotation` as this reconcile has it so far."""
        return dict(self.draft.data.get("rotation") or {})

    @property
    def active_user(self) -> str:
        """The account the credentials Secret describes (api.md 5.10 `.Username`)."""
        return rot.active_user(self.draft.data, self.spec)

    def _rotated_active(self) -> str | None:
        active = self.active_user
        return None if active == self.spec.username else active

    def _operation(self, ok: bool) -> None:
        status = "success" if ok else "failure"
        namespace = metric_namespace(self.obj.metadata.namespace)
        self.host.ctx.metrics.user_operations.labels("rotate", self.instance.engine, status, namespace).inc()

    async def _persist_rotation(self, record: dict[str, Any]) -> None:
        """Record a finished rotation in the draft and write it to the status at once (not at the reconcile's end):
        the Secret already holds the new credentials, so the record must not be lost to a crash after this point."""
        secret = dict(self.draft.data.get("secret") or {})
        secret["lastRotatedAt"] = rot.format_time(self.now)
        self.draft.set(rotation=record, secret=secret)
        meta = self.raw["metadata"]
        await self.host.ctx.client.patch_status(
            self.host.resource,
            meta["name"],
            {"status": {"rotation": record, "secret": {"lastRotatedAt": secret["lastRotatedAt"]}}},
            meta.get("namespace"),
        )

    # 1. Options ---------------------------------------------------------------------------------------------------

    def report_options(self, unsupported: list[str]) -> None:
        """`OptionsHonored` with the engine's unsupported fields and rotation's invalid values; events on change."""
        draft = self.draft
        unsupported = list(unsupported)
        if self.unavailable is not None and self.unavailable not in unsupported:
            unsupported.append(self.unavailable)
        invalid = self.settings.invalid_values(self.spec) if self.settings is not None else []
        hint = ""
        if rot.STRATEGY_FIELD in unsupported:
            # What is reported as not applied is not done, whoever found it (the adapter's own report included).
            self.unavailable = self.unavailable or rot.STRATEGY_FIELD
            self._update_rotating()
            where = self.server_label or self.instance.engine
            hint = (
                f"passwordRotation.strategy dual-password is not available on {where} (MySQL 8.0.14 and later "
                "only); no rotation happens, use strategy role-inheritance"
            )
        name, kind = self.obj.metadata.name, self.host.info.kind
        listed = ", ".join(sorted(unsupported))
        if unsupported:
            tail = f" ({hint})" if hint else ""
            draft.warning_on_change(
                "UnsupportedOption",
                f"{kind} {name}: not applied on {self.instance.engine}: {listed}{tail}",
                when=_unsupported_listed,
            )
        for entry in invalid:
            if entry.startswith(rot.SCHEDULE_FIELD) and self.settings is not None:
                draft.warning_on_change(
                    "InvalidRotationSchedule",
                    f'Rotation schedule "{self.settings.schedule_text}" of {kind} {name} is invalid: '
                    f"{self.settings.schedule_problem}; scheduled rotation is off until it is fixed",
                    when=_options_mention(entry),
                )
            else:
                draft.warning_on_change(
                    "InvalidOptionValue", f"{kind} {name}: {entry} is not usable; ignored", when=_options_mention(entry)
                )
        if unsupported:
            draft.condition("OptionsHonored", False, "UnsupportedOption", _options_message(unsupported, invalid, hint))
        elif invalid:
            draft.condition("OptionsHonored", False, "InvalidOptionValue", _options_message([], invalid, ""))
        else:
            draft.condition("OptionsHonored", True, "AllOptionsHonored", "every option in the spec is in effect")

    # 2. Service role and status -----------------------------------------------------------------------------------

    async def prepare(self) -> None:
        """The service role exists (when rotating) and `status.rotation` is set for this reconcile. Runs before the
        account's existence step, inside the caller's operation slot.

        Raises `ServiceRoleMissing` when the role is missing and `autoCreate` is false (the controller reports
        `DependencyNotReady`), `EngineError` / `ConnectionFailure` as usual.
        """
        previous = self.draft.before.get("rotation")
        if self.dual_password and self.settings is not None:
            self.draft.set(rotation=rot.initial_status(self.settings, self.spec, previous, self.now))
            return
        if not self.inheriting or self.settings is None or self.engine is None:
            record = rot.disabled_status(previous) if previous and previous.get("enabled") else previous
            if record is not None:
                self.draft.set(rotation=record)
            return
        role = self.settings.service_role
        try:
            await self.engine.service_role_comment(role)
        except ServiceRoleMissing:
            if not self.settings.auto_create:
                raise
            meta = self.obj.metadata
            await self.engine.create_service_role(
                role, comment=service_role_marker(meta.namespace or "", meta.name or "")
            )
        self.draft.set(rotation=rot.initial_status(self.settings, self.spec, previous, self.now))

    # 3. The active generated account ------------------------------------------------------------------------------

    async def ensure_accounts(self, password: str, *, apply: bool) -> None:
        """After the account's existence step, inside the caller's operation slot: `spec.username` is a member of
        the service role (when rotating), and the active generated account exists (recreated with the Secret's
        password when it was dropped out of band: event `Created` "Recreated") and carries the spec when `apply`."""
        if self.engine is None:
            return
        if self.inheriting and self.settings is not None:
            await self.engine.ensure_member(self.settings.service_role, self.spec.username)
        name = self._rotated_active()
        role = str(self.record.get("serviceRole") or "")
        if name is None or not role:
            return
        if not await self.engine.account_exists(name):
            await self.engine.create_rotated_account(self.spec, name, password=password, service_role=role)
            self.host.normal(
                self.raw,
                "Created",
                f"Recreated user {name} on instance {self.instance.name}; it had disappeared from the server",
            )
            return
        if apply:
            await self.engine.apply_rotated_account(self.spec, name, service_role=role)

    async def set_active_password(self, password: str) -> bool:
        """Set the Secret's (new) password on the active generated account; False when the active account is
        `spec.username` (the controller sets it as before)."""
        name = self._rotated_active()
        if name is None or self.engine is None:
            return False
        await self.engine.set_password(name, password)
        return True

    # 4. Rotation ---------------------------------------------------------------------------------------------------

    def due(self) -> bool:
        record = self.record
        last = rot.parse_time(record.get("lastRotatedAt"))
        return bool(
            self.rotating
            and self.settings is not None
            and last is not None
            and rot.is_due(self.settings, last, self.now)
        )

    async def rotate(self, write_secret: SecretWriter, current_password: str) -> bool:
        """Rotate when due (behaviour.md 8.6 steps 3-6); True when a rotation happened. Raises RotationFailure.

        Call it outside an operation slot (it takes its own). `current_password` is the active account's password,
        written back when rewriting the Secret fails half-way (the template layout writes two Secrets), before the
        new account is dropped again.
        """
        if not self.due() or self.settings is None:
            return False
        if self.dual_password:
            return await self._rotate_dual(write_secret, current_password)
        if self.engine is None:
            return False
        settings, engine, spec = self.settings, self.engine, self.spec
        previous_user = self.active_user
        password = self._new_password()
        taken = {spec.username, previous_user, *(str(e.get("user")) for e in self.record.get("pendingDeletion") or ())}
        created: str | None = None
        try:
            async with self.host.ctx.servers.operation(self.instance.target.key):
                base = rot.render_name(settings.user_naming, spec.username, self.now)
                for candidate in rot.name_candidates(base, engine.name_limit):
                    if candidate in taken or await engine.account_exists(candidate):
                        continue
                    await engine.create_rotated_account(
                        spec, candidate, password=password, service_role=settings.service_role
                    )
                    created = candidate
                    break
                else:
                    raise EngineError(f"no free account name derived from {base!r}")
            try:
                await write_secret(created, password)
            except Exception:
                with contextlib.suppress(Exception):
                    await write_secret(previous_user, current_password)
                async with self.host.ctx.servers.operation(self.instance.target.key):
                    with contextlib.suppress(EngineError, ConnectionFailure):
                        await engine.drop_account(created)
                raise
        except (EngineError, ConnectionFailure) as error:
            self._operation(False)
            raise RotationFailure(f"{ROTATION_FAILED_PREFIX}{error}") from None

        record = rot.status_after_rotation(self.record, settings, spec, created, self.now, self.rid)
        # Persist at once: the Secret now describes `created`, and status.rotation.activeUser must say so too.
        await self._persist_rotation(record)
        self._operation(True)
        if previous_user == spec.username:
            fate = f"previous login {previous_user} is spec.username and is kept"
        else:
            verb = {"delete": "deleted", "disable": "disabled", "retain": "kept"}[settings.action]
            fate = f"previous login {previous_user} will be {verb} after {settings.grace_days} days"
        self.host.normal(
            self.raw,
            "PasswordRotated",
            f"Rotated credentials of DatabaseUser {self.obj.metadata.name}: active login is now {created}; {fate}",
        )
        return True

    def _new_password(self) -> str:
        config = self.spec.password_secret
        policy = PasswordPolicy(
            length=config.length if config else 32,
            include_special_chars=config.include_special_chars if config else True,
            exclude_chars=(config.exclude_chars or "") if config else "",
        )
        return generate_password(policy)

    async def _rotate_dual(self, write_secret: SecretWriter, current_password: str) -> bool:
        """behaviour.md 8.6 `dual-password`: a generated password set with the current one retained (every host
        entry), the Secret rewritten for the same account, `oldPasswordDiscardAt` recorded, `PasswordRotated`.

        The server goes first, so every password a Secret ever published logs in while the Secret is rewritten. When
        the Secret cannot be written, the Secret's password is made primary again (the retained one is that same
        password, so the new one is simply gone); when even that fails, the failure says so and the retry starts with
        that undo.
        """
        assert self.settings is not None and self.dual is not None
        settings, dual, user = self.settings, self.dual, self.active_user
        password = self._new_password()
        slot = self.host.ctx.servers.operation
        key = self.instance.target.key
        in_doubt = NOT_WITHDRAWN in str((self.draft.previous_condition("Synced") or {}).get("message") or "")
        try:
            async with slot(key):
                if in_doubt:
                    await dual.restore_password(user, current_password)
                await dual.rotate_password(user, password)
            try:
                await write_secret(user, password)
            except Exception as error:
                with contextlib.suppress(Exception):
                    await write_secret(user, current_password)
                try:
                    async with slot(key):
                        await dual.restore_password(user, current_password)
                except (EngineError, ConnectionFailure):
                    detail = f"writing the credentials Secret failed ({error.__class__.__name__}); {NOT_WITHDRAWN}"
                    raise EngineError(detail) from None
                raise
        except (EngineError, ConnectionFailure) as error:
            self._operation(False)
            raise RotationFailure(f"{ROTATION_FAILED_PREFIX}{error}") from None

        record = rot.status_after_dual_rotation(self.record, settings, self.now)
        # Persist at once, like role-inheritance: the discard time must survive a crash right after this point.
        await self._persist_rotation(record)
        self._operation(True)
        self.host.normal(
            self.raw,
            "PasswordRotated",
            f"Rotated the password of {user} keeping the previous one until {record['oldPasswordDiscardAt']} "
            "(dual-password)",
        )
        return True

    async def discard_old_password(self) -> None:
        """Once `oldPasswordDiscardAt` has passed: DISCARD OLD PASSWORD on the account, then the time leaves the
        record, so it happens once (also after rotation was switched off: the retained password is still ours).
        Raises RotationFailure."""
        record = self.record
        if self.dual is None or not rot.discard_due(record, self.now):
            return
        user = self.active_user
        try:
            async with self.host.ctx.servers.operation(self.instance.target.key):
                if (await self.dual.support()).available:  # a record carried over to another server: nothing kept
                    await self.dual.discard_old_password(user)
        except (EngineError, ConnectionFailure) as error:
            raise RotationFailure(f"{ROTATION_FAILED_PREFIX}discarding the old password of {user}: {error}") from None
        record.pop("oldPasswordDiscardAt", None)
        self.draft.set(rotation=record)

    # 5. Superseded accounts ----------------------------------------------------------------------------------------

    async def superseded(self, *, recheck_blocked: bool) -> None:
        """Apply `oldUserPolicy.action` to superseded accounts whose grace period is over; finished entries leave the
        list, accounts owning objects become `blocked` (re-checked when `recheck_blocked`). A dual-password rotation's
        retained password is discarded when due (`discard_old_password`). Raises RotationFailure."""
        await self.discard_old_password()
        record = self.record
        entries = [dict(e) for e in record.get("pendingDeletion") or ()]
        due = rot.due_entries(entries, self.now, recheck_blocked=recheck_blocked)
        if not due or self.engine is None:
            return
        config = self.spec.password_rotation
        policy = config.old_user_policy if config is not None else None
        action = policy.action if policy is not None else "delete"
        check = policy.ownership_check if policy is not None else True
        service_role = str(record.get("serviceRole") or "")
        remaining: list[dict[str, Any]] = []
        try:
            async with self.host.ctx.servers.operation(self.instance.target.key):
                for entry in entries:
                    user = str(entry.get("user"))
                    if user not in due or user in (self.spec.username, self.active_user):
                        remaining.append(entry)
                        continue
                    if action == "retain":
                        continue
                    if action == "disable":
                        await self.engine.disable_account(user)
                        continue
                    owned = await self.engine.owned_objects(user) if check else []
                    if owned:
                        remaining.append(self._blocked(entry, user, owned, service_role))
                        continue
                    await self.engine.drop_account(user)
        except (EngineError, ConnectionFailure) as error:
            raise RotationFailure(f"{ROTATION_FAILED_PREFIX}handling superseded accounts: {error}") from None
        record["pendingDeletion"] = remaining
        if not remaining:
            record.pop("pendingDeletion")
        self.draft.set(rotation=record)

    def _blocked(self, entry: dict[str, Any], user: str, owned: list[Any], service_role: str) -> dict[str, Any]:
        databases = sorted({o.database for o in owned if o.database})
        target = service_role or "another role"
        listed = ", ".join(databases) or "the server"
        out = dict(entry)
        out.update(
            status="blocked",
            blockedReason=f"{user} owns {len(owned)} objects",
            ownedObjects=[
                {
                    k: v
                    for k, v in {"database": o.database, "schema": o.schema, "name": o.name, "type": o.kind}.items()
                    if v is not None
                }
                for o in owned[:100]
            ],
            resolution=(
                f'in {listed}: REASSIGN OWNED BY "{user}" TO "{target}"; the account is dropped at the next check'
            ),
            reconcileID=self.rid,
        )
        return out

    # 6. Timers -----------------------------------------------------------------------------------------------------

    def requeue_after(self, base: float) -> float:
        """The earlier of the controller's own timer and the next rotation timer."""
        timer = rot.next_timer(self.draft.data.get("rotation"), datetime.now(UTC))
        return base if timer is None else min(base, timer)


async def drop_rotated(engine: RotationAdapter | None, obj: DatabaseUser, status: dict[str, Any] | None) -> list[str]:
    """On the user's deletion: drop every generated account still recorded and the service role when this resource
    created it (its comment carries our marker). Returns the dropped generated account names."""
    if engine is None:
        return []
    dropped = []
    for name in rot.rotated_accounts(status, obj.spec):
        await engine.drop_account(name)
        dropped.append(name)
    role = str(((status or {}).get("rotation") or {}).get("serviceRole") or "")
    if role:
        try:
            comment = await engine.service_role_comment(role)
        except ServiceRoleMissing:
            comment = None
        if comment == service_role_marker(obj.metadata.namespace or "", obj.metadata.name or ""):
            await engine.drop_account(role)
    return dropped
