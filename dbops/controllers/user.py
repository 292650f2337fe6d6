"""DatabaseUser: password source, account existence, apply, credentials Secret, deletion (behaviour.md 8).

The credentials Secret is the user's contract with applications, so its lifecycle is strict: a Secret that does not
carry this user's labels is never overwritten (SecretConflict); a deleted or emptied Secret gets a new password that
is set on the server first (SecretRegenerated), so the old password stops working; a template edit or a new instance
endpoint rewrites it once (SecretUpdated).

Password rotation (behaviour.md 8.6) is driven through `rotation_flow.RotationFlow`: once a rotation has created a
newer login account, the Secret describes that *active* account (`username` and `password`), and `spec.username`
keeps a password nobody is given.

Drift (`user_drift`, behaviour.md 8.1 step 6, 11) is checked after each apply and when due, through the shared
checker, on engines with a user drift half (PostgreSQL in this build); the reconcile requeues at the earliest of the
next check and the rotation timers. A Go-operator Secret's `managed-password` annotation is migrated into the
password-source Secret and removed in the same write (api.md 1.7). Not yet in this build: the ownership pre-check's
status block (the drop itself reassigns and drops what the account owns).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import NoReturn

from dbops.api.kinds import by_kind
from dbops.api.user import DatabaseUser
from dbops.controllers import annotations as ann
from dbops.controllers.base import KindReconciler, Obj, StatusDraft
from dbops.controllers.context import OperatorContext, adapter_for, resource_of
from dbops.controllers.credentials import (
    MANAGED_SECRETS_SELECTOR,
    SECRET_KIND_LABEL,
    SOURCE_SUFFIX,
    DesiredSecret,
    UnusableSecretValue,
    belongs_to,
    credentials_data,
    differences,
    legacy_password,
    merge_patch_for,
    overriding_labels,
    own_value,
    ownership_labels,
    stored_value,
)
from dbops.controllers.declared_prerequisites import PrerequisiteGate
from dbops.controllers.deletion import Dependent, blocked_by_owned_objects, cleanup_failed, force_in_effect, run_gates
from dbops.controllers.instances import CLUSTER_INSTANCE, INSTANCE, InstanceProblem, ResolvedInstance, target_of
from dbops.controllers.references import check_object_references, refuse_admin_account
from dbops.controllers.rotation import rotated_accounts
from dbops.controllers.rotation_flow import (
    ROTATION_FAILED_PREFIX,
    RotationFailure,
    RotationFlow,
    SecretWriter,
    drop_rotated,
)
from dbops.controllers.server_ownership import ACCOUNTS
from dbops.controllers.transitions import READY_REASON_AND_MESSAGE
from dbops.controllers.user_drift import UserDrift, synced_reports, with_failure
from dbops.engines.base import EngineAdapter, EngineError, ObservedAccount
from dbops.engines.connection import ConnectionFailure
from dbops.engines.errors import InvalidSpec
from dbops.engines.rotation import ServiceRoleMissing, rotation_adapter
from dbops.metrics import metric_namespace
from dbops.runtime import (
    SECRETS,
    AlreadyExists,
    Conflict,
    NotFound,
    OwnWrites,
    Result,
    TransientError,
    make_key,
    owner_reference,
    remove_finalizer,
)
from dbops.secrets.naming import credentials_secret_name
from dbops.secrets.password import PasswordPolicy, generate_password
from dbops.secrets.template import SecretTemplateData, TemplateError

GRANT_KINDS = ("DatabaseGrant", "ClusterDatabaseGrant")


class SpecProblem(Exception):
    """A permanent problem with the object (reason is the Ready reason); woken only by a change."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class UserRun:
    """One reconcile of one DatabaseUser: what every step needs besides its own inputs."""

    obj: DatabaseUser
    raw: Obj
    draft: StatusDraft
    rid: str
    instance: ResolvedInstance
    secret_name: str
    secret_namespace: str

    @property
    def name(self) -> str:
        return self.obj.metadata.name or ""

    @property
    def key(self) -> str:
        """namespace/name, the key of the reconciler's per-user memory."""
        return f"{self.obj.metadata.namespace}/{self.name}"

    @property
    def metric_namespace(self) -> str:
        return metric_namespace(self.obj.metadata.namespace)

    @property
    def recorded(self) -> bool:
        """Whether the stored status records the account's creation (`status.user.createdAt`)."""
        return bool((self.draft.before.get("user") or {}).get("createdAt"))


@dataclass(frozen=True)
class Password:
    """The password the Secret describes and where it came from (behaviour.md 8.2): `existing-secret`, `source`,
    `credentials`, `generated` (or `rotation`); `version` is an existingPasswordSecret's resourceVersion."""

    value: str
    source: str
    version: str = ""


class AccountAction(Enum):
    """What the account's existence step does (see `account_action`)."""

    CREATE = "create"
    TAKE_OVER = "take-over"
    REGENERATE = "regenerate"
    RESET = "reset"
    KEEP = "keep"

    @property
    def fresh(self) -> bool:
        """Whether this reconcile makes the account ours (created or taken over): it records `createdAt`."""
        return self in (AccountAction.CREATE, AccountAction.TAKE_OVER)

    @property
    def secret_event(self) -> str | None:
        """The event the credentials Secret's write announces for this action (None: the Secret's own rule)."""
        return _SECRET_EVENTS.get(self)


_SECRET_EVENTS = {
    AccountAction.CREATE: "SecretCreated",
    AccountAction.TAKE_OVER: "SecretCreated",
    AccountAction.REGENERATE: "SecretRegenerated",
}


def account_action(exists: bool, recorded: bool, source: str, secret_changed: bool) -> AccountAction:
    """The existence step from what the server has (`exists`), what the status records (`recorded`: createdAt), the
    password's source and whether an existingPasswordSecret changed since its value was last set: a missing account
    is created (again), a found one not recorded is taken over, a generated password (the Secret was deleted or
    emptied) is set, a changed existing Secret's value is set once, anything else is kept."""
    if not exists:
        return AccountAction.CREATE
    if not recorded:
        return AccountAction.TAKE_OVER
    if source == "generated":
        return AccountAction.REGENERATE
    if source == "existing-secret" and secret_changed:
        return AccountAction.RESET
    return AccountAction.KEEP


@dataclass(frozen=True)
class AccountResult:
    """What the account step leaves for the next steps: whether the account is `fresh` (created or taken over now),
    whether the spec was `applied`, the Secret's event, and the `active` login the Secret describes."""

    fresh: bool
    applied: bool
    secret_event: str | None
    active: str


def _failure_reason(problem: Exception) -> str:
    """The Ready reason of a permanent problem."""
    if isinstance(problem, SpecProblem):
        return problem.reason
    return "SecretTemplateError" if isinstance(problem, TemplateError) else "InvalidSpec"


class UserReconciler(KindReconciler[DatabaseUser]):
    """Reconciles DatabaseUser objects on every engine through the instance's adapter."""

    info_family = "user_info"

    def __init__(self, ctx: OperatorContext) -> None:
        super().__init__(ctx, by_kind("DatabaseUser"))
        self.instances = ctx.store(INSTANCE)
        self.cluster_instances = ctx.store(CLUSTER_INSTANCE)
        self.grant_stores = {k: ctx.store(by_kind(k)) for k in GRANT_KINDS}
        self.prerequisites = PrerequisiteGate(
            lambda k: ctx.store(by_kind(k)), self.instances, self.cluster_instances, ctx.references
        )
        self._applied_source: dict[str, str] = {}
        """existingPasswordSecret resourceVersion last set on the server, per user (a restart sets it once more)."""
        self.managed_secrets = ctx.manager.store(SECRETS, label_selector=MANAGED_SECRETS_SELECTOR)
        """The Secrets the operator wrote (credentials, password source), from the same cache the watch fills."""
        self.secret_writes = OwnWrites()
        """Our own Secret writes, so their watch events do not wake the user a second time."""
        self.drift = UserDrift(self)
        self.drift_gauges = self.drift.checker
        self.server_objects = ctx.server_ownership(ACCOUNTS)

    # Names ------------------------------------------------------------------------------------------------------

    @staticmethod
    def secret_location(obj: DatabaseUser) -> tuple[str, str]:
        """Credentials Secret name and namespace (behaviour.md 8.2)."""
        config = obj.spec.password_secret
        name = config.secret_name if config and config.secret_name else credentials_secret_name(obj.spec.username)
        namespace = (config.secret_namespace if config else None) or obj.metadata.namespace or ""
        return name, namespace

    async def _managed_secret(self, name: str, namespace: str) -> Obj | None:
        """A Secret carrying the managed-by label, from the cache (after our own last write of it has arrived there).

        A miss means "absent or not ours": creating it then fails with AlreadyExists for a foreign Secret, which is
        when the API is asked. Reading the cache keeps a converged reconcile free of API reads (issue 5's budget).
        """
        key = make_key(namespace, name)
        await self.managed_secrets.wait_fresh(key)
        return self.managed_secrets.get(key)

    async def _write_secret(self, desired: DesiredSecret, *, create: bool = False, patch: Obj | None = None) -> None:
        """Create or merge-patch a managed Secret, announced first so its watch event does not wake this user."""
        body = desired.body()
        self.secret_writes.expect(body)
        try:
            if create:
                await self.ctx.client.create(SECRETS, body, desired.namespace)
            else:
                await self.ctx.client.patch(SECRETS, desired.name, patch or {}, desired.namespace)
        except BaseException:
            self.secret_writes.forget(body)
            raise

    def _operation(self, operation: str, engine: str, namespace: str, ok: bool) -> None:
        status = "success" if ok else "failure"
        self.ctx.metrics.user_operations.labels(operation, engine, status, namespace).inc()

    # Reconcile --------------------------------------------------------------------------------------------------

    async def sync(self, obj: DatabaseUser, raw: Obj, rid: str) -> Result | None:
        """behaviour.md 8.1, step by step; each step is one helper below."""
        run = await self._start(obj, raw, rid)
        if run is None:
            return None
        try:
            password = await self._password(run)
            adapter = await adapter_for(self.ctx, run.instance)
            refuse_admin_account(adapter, obj.spec.username, "spec.username")
            rotation = RotationFlow(self, obj, raw, run.draft, rid, run.instance, adapter)
            await rotation.begin()
            account = await self._ensure_account(run, adapter, rotation, password)
            await self._ensure_secret(run, password, account.secret_event, account.fresh, username=account.active)
            rotation_error = await rotation.step(self._rotated_secret_writer(run), password.value)
        except ServiceRoleMissing as missing:
            return await self._service_role_missing(run, str(missing))
        except (SpecProblem, TemplateError, InvalidSpec) as problem:
            return await self._failed(run, _failure_reason(problem), str(problem))
        except (EngineError, ConnectionFailure, InstanceProblem) as error:
            await self._unreachable(run, error)
        self._ready(run, password)
        return await self._record(run, adapter, rotation, account.applied, rotation_error)

    async def _start(self, obj: DatabaseUser, raw: Obj, rid: str) -> UserRun | None:
        """The declared prerequisites (instance, references) gate the reconcile: None after recording Pending (woken
        by the prerequisite's change), else this reconcile's `UserRun`."""
        draft = self.draft(raw)
        instance, waiting, reason = self.prerequisites.gate(raw, target_of(obj.spec, obj.metadata.namespace))
        if instance is None:
            draft.set(phase="Pending", message=waiting)
            draft.condition("Ready", False, reason, waiting)
            await self.write_status(raw, draft, rid)
            self.publish(obj, draft)
            return None
        return UserRun(obj, raw, draft, rid, instance, *self.secret_location(obj))

    async def _ensure_account(
        self, run: UserRun, adapter: EngineAdapter, rotation: RotationFlow, password: Password
    ) -> AccountResult:
        """Inside the instance's operation slot (one change at a time per server): rotation's service role and
        status, the account's existence (`account_action`), the spec applied when fresh or changed, and rotation's
        generated account. Once a generated account is active, the Secret's password is that account's;
        spec.username keeps (or, when created now, gets) a password nobody is given."""
        spec = run.obj.spec
        async with self.ctx.servers.operation(run.instance.target.key):
            await rotation.prepare()
            active = rotation.active_user
            own_password = password.value if active == spec.username else generate_password()
            observed = await adapter.observe_account(spec.username)
            changed = self._applied_source.get(run.key) != password.version
            action = account_action(observed is not None, run.recorded, password.source, changed)
            await self._carry_out(run, adapter, rotation, action, password.value, own_password)
            applied = await self._apply_spec(run, adapter, observed, action.fresh)
            await rotation.ensure_accounts(password.value, apply=applied)
        return AccountResult(fresh=action.fresh, applied=applied, secret_event=action.secret_event, active=active)

    async def _carry_out(
        self,
        run: UserRun,
        adapter: EngineAdapter,
        rotation: RotationFlow,
        action: AccountAction,
        password: str,
        own_password: str,
    ) -> None:
        """The account's existence step: create it, take over a found one (setting its password), set a regenerated
        or changed password, or nothing. `own_password` is spec.username's (see `_ensure_account`)."""
        spec, raw, instance = run.obj.spec, run.raw, run.instance
        if action is AccountAction.CREATE:
            comment = self.server_objects.text(raw, instance)
            await adapter.create_account(spec, password=own_password, comment=comment)
            self._count(run, "create", True)
            verb = "Recreated" if run.recorded else "Created"
            tail = "; it had disappeared from the server" if run.recorded else ""
            self.normal(raw, "Created", f"{verb} user {spec.username} on instance {instance.name}{tail}")
        elif action is AccountAction.TAKE_OVER:
            await self.server_objects.claim(adapter, raw, instance)  # OwnershipConflict: another's
            await adapter.set_password(spec.username, own_password)
            self._count(run, "create", True)
            self.ctx.metrics.adoptions.labels("DatabaseUser", "success", run.metric_namespace).inc()
            self.normal(
                raw,
                "Created",
                f"Took over existing account {spec.username} on instance {instance.name}; its password was set",
            )
        elif action is AccountAction.REGENERATE:
            if not await rotation.set_active_password(password):
                await adapter.set_password(spec.username, password)
        elif action is AccountAction.RESET:
            await adapter.set_password(spec.username, password)

    async def _apply_spec(
        self, run: UserRun, adapter: EngineAdapter, observed: ObservedAccount | None, fresh: bool
    ) -> bool:
        """Records a fresh account's creation and brings an existing account in line with the spec when it is fresh
        or the spec changed; True when this reconcile applied (drift's `applied`). A created account already has
        every attribute of the spec; setting a password changes none."""
        draft, spec = run.draft, run.obj.spec
        if fresh:
            draft.set(user={"username": spec.username, "createdAt": _now()})
        spec_changed = draft.before.get("observedGeneration") != run.obj.metadata.generation
        applied = fresh or spec_changed
        if observed is not None and applied:
            await adapter.apply_account(spec, observed)
            await self.server_objects.mark(adapter, run.raw, run.instance)
            if not fresh:
                self._count(run, "update", True)
        return applied

    def _rotated_secret_writer(self, run: UserRun) -> SecretWriter:
        """Rotation's callback: the credentials Secret rewritten for the new (username, password); the rotation
        announces the change itself (PasswordRotated)."""

        async def write(username: str, password: str) -> None:
            await self._ensure_secret(run, Password(password, "rotation"), "PasswordRotated", False, username=username)

        return write

    def _ready(self, run: UserRun, password: Password) -> None:
        """Account and Secret are in place: the existingPasswordSecret version is now on the server (set once), and
        the status says Ready."""
        draft, spec = run.draft, run.obj.spec
        if password.source == "existing-secret":
            self._applied_source[run.key] = password.version
        secret_status = {"name": run.secret_name, "namespace": run.secret_namespace}
        draft.set(
            phase="Ready",
            message="User is ready",
            observedGeneration=run.obj.metadata.generation,
            secret={**(draft.data.get("secret") or {}), **secret_status},
        )
        if not draft.data.get("user"):
            draft.set(user={"username": spec.username})
        draft.condition("Ready", True, "ReconcileSuccess", "User is ready")

    async def _record(
        self,
        run: UserRun,
        adapter: EngineAdapter,
        rotation: RotationFlow,
        applied: bool,
        rotation_error: RotationFailure | None,
    ) -> Result:
        """The drift check (behaviour.md 8.1 step 6, after rotation so the account checked is the one the Secret now
        describes), a rotation failure, the status write, and the requeue at the earliest timer: the next drift
        check or the next rotation timer (section 3)."""
        outcome = await self.drift.check(
            run.obj,
            run.raw,
            run.draft,
            run.rid,
            run.instance,
            adapter,
            grants=self._grants(run.obj),
            applied=applied,
            operation=lambda op, ok: self._count(run, op, ok),
        )
        if rotation_error is not None:
            await self._rotation_failed(run, rotation_error)
        await self._write(run)
        if outcome.error is not None:
            raise TransientError(outcome.error)
        due = outcome.requeue_after if outcome.requeue_after is not None else self.drift_interval(run.obj, run.instance)
        return Result(requeue_after=rotation.requeue_after(due))

    async def _write(self, run: UserRun) -> None:
        """The status as this reconcile leaves it, and the per-object metric series."""
        await self.write_status(run.raw, run.draft, run.rid)
        self.publish(run.obj, run.draft)

    def _count(self, run: UserRun, operation: str, ok: bool) -> None:
        self._operation(operation, run.instance.engine, run.metric_namespace, ok)

    async def _rotation_failed(self, run: UserRun, error: RotationFailure) -> NoReturn:
        """The account and its Secret are fine; the rotation is retried with backoff (behaviour.md 8.6), with one
        RotationFailed event per distinct error (the Synced message is the memory)."""
        message = str(error)
        detail = message.removeprefix(ROTATION_FAILED_PREFIX)
        run.draft.set(message=message)
        with_failure(run.draft, "ReconcileFailed", message)
        run.draft.warning_on_change(
            "RotationFailed",
            f"Password rotation of DatabaseUser {run.name} failed: {detail}",
            when=synced_reports(message),
        )
        await self._write(run)
        raise TransientError(message)

    async def _unreachable(self, run: UserRun, error: Exception) -> NoReturn:
        """A server, connection or instance problem: phase Failed, Synced=False (one ReconcileFailed event per
        distinct error), retried with backoff."""
        draft = run.draft
        self._count(run, "update" if run.recorded else "create", False)
        draft.set(phase="Failed", message=str(error))
        draft.condition("Ready", False, "ReconcileFailed", str(error))
        self.synced_failed(draft, "ReconcileFailed", str(error), f"DatabaseUser {run.name}: {error}")
        await self._write(run)
        raise TransientError(str(error)) from None

    async def _service_role_missing(self, run: UserRun, role: str) -> Result | None:
        """behaviour.md 4 and 8.6: rotation's service role is missing and may not be created: a wait (the role lives
        on the server, so it is polled), with one RotationFailed event."""
        message = (
            f"Waiting for service role {role}: it does not exist and "
            "spec.passwordRotation.serviceRole.autoCreate is false"
        )
        run.draft.set(phase="Pending", message=message)
        run.draft.condition("Ready", False, "DependencyNotReady", message)
        run.draft.warning_on_change(
            "RotationFailed",
            f"Password rotation of DatabaseUser {run.name} failed: {message}",
            when=READY_REASON_AND_MESSAGE,
        )
        await self._write(run)
        return Result(requeue_after=30)

    async def _failed(self, run: UserRun, reason: str, message: str) -> Result | None:
        """A permanent failure: phase Failed, one ReconcileFailed event per distinct problem, no timed requeue."""
        run.draft.set(phase="Failed", message=message)
        run.draft.condition("Ready", False, reason, message)
        run.draft.warning_on_change(
            "ReconcileFailed", f"DatabaseUser {run.name}: {message}", when=READY_REASON_AND_MESSAGE
        )
        await self._write(run)
        return None

    async def _password(self, run: UserRun) -> Password:
        """The password, where it came from (existing-secret, source, credentials or generated, 8.2) and, for an
        existingPasswordSecret, that Secret's resourceVersion (to set a changed value on the server once)."""
        obj, secret_name, secret_namespace = run.obj, run.secret_name, run.secret_namespace
        spec = obj.spec
        existing = spec.existing_password_secret
        if existing is not None:
            namespace = existing.namespace or obj.metadata.namespace
            secret = await self.ctx.client.get_or_none(SECRETS, existing.name, namespace)
            try:
                value = stored_value(secret, existing.key)
            except UnusableSecretValue as error:
                raise SpecProblem(
                    "InvalidSpec", f"spec.existingPasswordSecret: Secret {namespace}/{existing.name} {error}"
                ) from None
            if value is None:
                raise SpecProblem(
                    "SecretNotFound", f"Secret {namespace}/{existing.name} key {existing.key!r} not found"
                )
            return Password(
                value, "existing-secret", str(((secret or {}).get("metadata") or {}).get("resourceVersion"))
            )
        templated = bool(
            spec.password_secret and spec.password_secret.secret_template and spec.password_secret.secret_template.data
        )
        if templated:
            # Deleting the credentials Secret is the manual way to get a new password (8.2), in this layout too:
            # the password-source Secret only counts while the credentials Secret it backs exists.
            credentials = await self._managed_secret(secret_name, secret_namespace)
            source = await self._managed_secret(secret_name + SOURCE_SUFFIX, secret_namespace)
            user, user_namespace = obj.metadata.name or "", obj.metadata.namespace or ""
            if (
                credentials is not None
                and source is not None
                and belongs_to(credentials, user, user_namespace)
                and belongs_to(source, user, user_namespace)  # another user's source is never our password
                and (value := own_value(source, "password")) is not None
            ):
                return Password(value, "source")
            # A Secret written by the Go operator keeps the password in an annotation (api.md 1.7): it becomes the
            # password-source Secret's, and the annotation goes in the same write of the credentials Secret.
            if (
                credentials is not None
                and belongs_to(credentials, user, user_namespace)
                and (value := legacy_password(credentials)) is not None
            ):
                return Password(value, "source")
        else:
            credentials = await self._managed_secret(secret_name, secret_namespace)
            if (
                credentials is not None
                and belongs_to(credentials, obj.metadata.name or "", obj.metadata.namespace or "")
                and (value := own_value(credentials, "password")) is not None
            ):
                return Password(value, "credentials")
        config = spec.password_secret
        policy = PasswordPolicy(
            length=config.length if config else 32,
            include_special_chars=config.include_special_chars if config else True,
            exclude_chars=(config.exclude_chars or "") if config else "",
        )
        return Password(generate_password(policy), "generated")

    async def _ensure_secret(
        self, run: UserRun, secret_password: Password, event: str | None, fresh: bool, *, username: str
    ) -> None:
        """Create or update the credentials Secret (and the password-source Secret of the template layout) for the
        login account `username` (the active one, behaviour.md 8.6). With `event` "PasswordRotated" the caller
        announces the change itself."""
        obj, raw, rid, instance = run.obj, run.raw, run.rid, run.instance
        name, namespace = run.secret_name, run.secret_namespace
        password, source = secret_password.value, secret_password.source
        spec, user = obj.spec, obj.metadata.name or ""
        user_namespace = obj.metadata.namespace or ""
        existing_ref = spec.existing_password_secret
        if (
            existing_ref is not None
            and existing_ref.name == name
            and (existing_ref.namespace or user_namespace) == namespace
        ):
            return  # it names the credentials Secret itself: nothing is written (8.2)
        template = spec.password_secret.secret_template if spec.password_secret else None
        tls = instance.spec.tls
        material = (await adapter_for(self.ctx, instance)).settings.tls  # the instance's TLS Secret, as loaded
        values = SecretTemplateData(
            username=username,
            password=password,
            host=instance.spec.connection.host,
            port=instance.spec.connection.port,
            database=instance.spec.admin_database,
            ssl_mode=tls.mode if tls and tls.enabled else "",
            namespace=user_namespace,
            name=user,
            ca=material.ca_pem or "",
        )
        data = credentials_data(template.data if template else None, values)
        owner = owner_reference(raw) if namespace == user_namespace else None
        own_labels = ownership_labels(user, user_namespace, namespace)
        template_labels = dict((template.labels if template else None) or {})
        overridden = overriding_labels(template_labels, own_labels)
        labels = template_labels | own_labels  # ownership labels win: a template cannot orphan its own Secret
        desired = DesiredSecret(
            name=name,
            namespace=namespace,
            type=template.type if template else "Opaque",
            data=data,
            labels=labels,
            annotations=dict((template.annotations if template else None) or {}),
            owner=owner,
        )
        client = self.ctx.client
        stored = await self._managed_secret(name, namespace)
        if overridden and (stored is None or differences(stored, desired)):
            self.warning(
                raw,
                "SecretTemplateError",
                f"DatabaseUser {user}: spec.passwordSecret.secretTemplate.labels may not set "
                f"{', '.join(overridden)}: the operator's ownership labels are kept",
                rid,
            )
        if stored is None and not fresh and source in ("source", "credentials"):
            # Deleted between reading the password and now: the next reconcile regenerates it (8.2), rather than
            # writing the old password back.
            raise TransientError(f"credentials Secret {namespace}/{name} disappeared during the reconcile")
        if template and template.data and source != "existing-secret":
            await self._ensure_source_secret(desired, password, user, user_namespace, owner)
        if stored is None:
            try:
                await self._write_secret(desired, create=True)
            except AlreadyExists:
                stored = await client.get_or_none(SECRETS, name, namespace)  # someone else's, or not yet cached
                if stored is None:
                    raise TransientError(f"Secret {namespace}/{name} vanished while being created") from None
            else:
                if event != "PasswordRotated":
                    reason = event or ("SecretRegenerated" if source == "generated" else "SecretCreated")
                    verb = "Regenerated the password and wrote" if reason == "SecretRegenerated" else "Created"
                    self.normal(raw, reason, f"{verb} credentials Secret {namespace}/{name} for user {username}")
                return
        if not belongs_to(stored, user, user_namespace):
            raise SpecProblem(
                "SecretConflict", f"Secret {namespace}/{name} exists and does not belong to DatabaseUser {user}"
            )
        changes = differences(stored, desired)
        if not changes:
            return
        if "type" in changes:
            meta = stored.get("metadata") or {}
            preconditions = {"uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion")}
            await client.delete(SECRETS, name, namespace, preconditions=preconditions)  # the one we checked
            await self._write_secret(desired, create=True)
            self.normal(
                raw, "SecretUpdated", f"Credentials Secret {namespace}/{name} recreated because its type changed"
            )
            return
        await self._write_secret(desired, patch=merge_patch_for(stored, desired))
        if event == "PasswordRotated":
            return
        if event == "SecretRegenerated" or source == "generated":
            self.normal(
                raw,
                "SecretRegenerated",
                f"Regenerated the password of user {username} and rewrote Secret {namespace}/{name}",
            )
        else:
            self.normal(raw, "SecretUpdated", f"Updated credentials Secret {namespace}/{name}: {', '.join(changes)}")

    async def _ensure_source_secret(
        self, credentials: DesiredSecret, password: str, user: str, user_namespace: str, owner: Obj | None
    ) -> None:
        labels = ownership_labels(user, user_namespace, credentials.namespace) | {SECRET_KIND_LABEL: "password-source"}
        desired = DesiredSecret(
            name=credentials.name + SOURCE_SUFFIX,
            namespace=credentials.namespace,
            type="Opaque",
            data={"password": password.encode()},
            labels=labels,
            owner=owner,
        )
        stored = await self._managed_secret(desired.name, desired.namespace)
        if stored is None:
            try:
                await self._write_secret(desired, create=True)
                return
            except AlreadyExists:
                stored = await self.ctx.client.get(SECRETS, desired.name, desired.namespace)
        if not belongs_to(stored, user, user_namespace):
            raise SpecProblem(
                "SecretConflict",
                f"Secret {desired.namespace}/{desired.name} exists and does not belong to DatabaseUser {user}",
            )
        if differences(stored, desired):
            await self._write_secret(desired, patch=merge_patch_for(stored, desired))

    def info_labels(self, obj: DatabaseUser, draft: StatusDraft) -> dict[str, str]:
        instance = target_of(obj.spec, obj.metadata.namespace).key.name
        return {"user": obj.metadata.name or "", "instance_ref": instance, "username": obj.spec.username}

    # Deletion ---------------------------------------------------------------------------------------------------

    def _grants(self, obj: DatabaseUser) -> list[Obj]:
        """The grant objects naming this user (their memberships are declared for it, behaviour.md 11.3)."""
        found = []
        for dependent in self.dependents(obj):
            key = f"{dependent.namespace}/{dependent.name}" if dependent.namespace else dependent.name
            grant = self.grant_stores[dependent.kind].get(key)
            if grant is not None:
                found.append(grant)
        return found

    def dependents(self, obj: DatabaseUser) -> list[Dependent]:
        found = []
        for kind, store in self.grant_stores.items():
            info = by_kind(kind)
            for grant in store.list():
                ref = (grant.get("spec") or {}).get("userRef") or {}
                grant_ns = grant["metadata"].get("namespace") or ""
                if (
                    ref.get("name") == obj.metadata.name
                    and (ref.get("namespace") or grant_ns) == obj.metadata.namespace
                ):
                    found.append(Dependent(kind, grant_ns, grant["metadata"]["name"], resource_of(info)))
        return sorted(found)

    async def finalize(self, obj: DatabaseUser, raw: Obj, rid: str) -> Result | None:
        check_object_references(self.ctx.references, raw)  # a refused Secret reference: nothing is deleted there
        annotations = obj.metadata.annotations
        waiting = await run_gates(
            self,
            raw,
            rid,
            protected=ann.is_true(annotations, ann.DELETION_PROTECTION),
            protection_hint=f"remove the {ann.DELETION_PROTECTION} annotation",
            dependents=self.dependents(obj),
        )
        if waiting is not None:
            return waiting
        spec, name = obj.spec, obj.metadata.name or ""
        force = force_in_effect(self, raw)
        policy = annotations.get(ann.DELETION_POLICY, "Delete")
        namespace = metric_namespace(obj.metadata.namespace)
        if policy != "Delete":
            await self.remove_marker(obj, raw, target_of(spec, obj.metadata.namespace), self.server_objects)
            self.normal(
                raw,
                "Deleted",
                f"Released DatabaseUser {name}; account {spec.username} kept on the server (deletion-policy {policy})",
            )
        else:
            target = target_of(spec, obj.metadata.namespace)
            instance, waiting_message = self.cleanup_instance(obj, target)
            try:
                if instance is None:
                    raise EngineError(waiting_message)
                adapter = await adapter_for(self.ctx, instance)
                async with self.ctx.servers.operation(instance.target.key):
                    kept = await self.server_objects.not_ours(adapter, raw, instance)
                    dropped = []
                    if kept is None:
                        if not force and (block := await self._ownership_block(raw, rid, adapter)):
                            return block
                        await adapter.drop_account(spec.username)
                        dropped = await drop_rotated(rotation_adapter(adapter), obj, raw.get("status"))
            except (EngineError, ConnectionFailure, InstanceProblem) as error:
                self._operation("delete", instance.engine if instance else "unknown", namespace, False)
                retry = await cleanup_failed(self, raw, rid, error, f"user {spec.username}", force=force)
                if retry is not None:
                    return retry
            else:
                if kept is not None:
                    self.normal(raw, "Deleted", f"Released DatabaseUser {name}; account {spec.username} kept: {kept}")
                else:
                    self._operation("delete", instance.engine, namespace, True)
                    also = f" (and rotated users {', '.join(dropped)})" if dropped else ""
                    self.normal(raw, "Deleted", f"Dropped user {spec.username}{also} from instance {instance.name}")
        secret_name, secret_namespace = self.secret_location(obj)
        if secret_namespace != obj.metadata.namespace:  # no owner reference across namespaces
            for secret in (secret_name, secret_name + SOURCE_SUFFIX):
                await self._delete_own_secret(secret, secret_namespace, name, obj.metadata.namespace or "")
        self.forget(obj.metadata.namespace, name)
        await remove_finalizer(self.ctx.client, self.resource, raw, self.info.finalizer)
        return None

    async def _ownership_block(self, raw: Obj, rid: str, adapter: EngineAdapter) -> Result | None:
        """api.md 6.4 deletion pre-check: objects the account (or a rotated account) owns block the drop."""
        spec = self.info.model.model_validate(raw).spec
        rotated = rotated_accounts(raw.get("status"), spec)
        owned = [o for account in (spec.username, *rotated) for o in await adapter.owned_objects(account)]
        if not owned:
            return None
        listed = ", ".join(
            sorted(f"{o.database}.{o.schema}.{o.name}" if o.schema else f"{o.database}.{o.name}" for o in owned)[:10]
        )
        owners = ", ".join((spec.username, *rotated))
        message = f"{owners} own{'s' if not rotated else ''} {len(owned)} objects: {listed}"
        return await blocked_by_owned_objects(self, raw, rid, message, "reassign or drop them", 30)

    async def _delete_own_secret(self, name: str, namespace: str, user: str, user_namespace: str) -> None:
        """Delete a Secret only when it is this user's by its labels (`belongs_to`), with the uid and
        resourceVersion it was read with as preconditions, so a Secret that is not ours — or was replaced by
        somebody else's since it was read — is left alone. Nothing but a DatabaseUser's own record (its labels)
        proves ownership across namespaces, where no owner reference can exist."""
        stored = await self.ctx.client.get_or_none(SECRETS, name, namespace)
        if stored is None:
            return
        if not belongs_to(stored, user, user_namespace):
            self.log.info(
                "left a Secret alone at deletion: it does not belong to this user",
                secret=f"{namespace}/{name}",
                user=f"{user_namespace}/{user}",
            )
            return
        meta = stored.get("metadata") or {}
        preconditions = {"uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion")}
        with contextlib.suppress(NotFound, Conflict):
            await self.ctx.client.delete(SECRETS, name, namespace, preconditions=preconditions)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
