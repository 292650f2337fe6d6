"""Database: existence (create / take over / recreate), verify, apply, status, deletion (behaviour.md 7).

Events follow the state recorded in status: `Created` only when this reconcile created, took over or recreated the
database; `CreateFailed` / `ReconcileFailed` / `DeleteFailed` only for a first or different error (the last error is
kept in the `Synced` condition's message). A converged Database costs one catalog read per existence check and no
API write between drift checks. initSQL (`initsql`) runs after the apply when its statements changed since the last
successful run, as the database owner; auto-ownership (`ownership`) creates the owner role before the database it
will own and sets the default privileges after the apply. Drift (`database_drift`, behaviour.md 11) is checked after
each apply and when due, through the shared checker, on engines with a Database drift half (PostgreSQL in this
build). Not yet in this build (noted in the issue): the Snapshot deletion policy, which needs backups.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from dbops.api.database import Database, DatabaseSpec
from dbops.api.kinds import by_kind
from dbops.controllers import initsql
from dbops.controllers.base import KindReconciler, Obj, StatusDraft
from dbops.controllers.context import OperatorContext, adapter_for, resource_of
from dbops.controllers.database_drift import DatabaseDrift, with_init_sql
from dbops.controllers.deletion import Dependent, cleanup_failed, force_in_effect, run_gates
from dbops.controllers.instances import (
    CLUSTER_INSTANCE,
    INSTANCE,
    InstanceProblem,
    ResolvedInstance,
    gate,
    target_of,
)
from dbops.controllers.ownership import created_roles, ownership_status, spared_names, with_created_roles
from dbops.controllers.references import check_object_references, checked_gate
from dbops.controllers.restore_targets import restore_running_into
from dbops.controllers.server_ownership import DATABASES
from dbops.controllers.transitions import condition_state
from dbops.engines.base import (
    EngineAdapter,
    EngineError,
    ObservedDatabase,
    SessionConfigVerifier,
    accepts_session_config,
)
from dbops.engines.connection import ConnectionFailure
from dbops.engines.errors import InvalidSpec
from dbops.engines.initsql import InitSQLRunner, dialect_for
from dbops.engines.ownership import OwnershipAdapter, OwnershipNames, effective_owner, ownership_names
from dbops.metrics import metric_namespace
from dbops.runtime import Result, TransientError, remove_finalizer

CREATING_RECHECK_SECONDS = 2.0
GRANT_KINDS = ("DatabaseGrant",)
ACCOUNT_KINDS = ("DatabaseUser",)
ROLE_KINDS = ("DatabaseRole", "ClusterDatabaseRole")
AUTO_OWNERSHIP_FIELD = "spec.postgres.ownership.autoOwnership"
INIT_SQL_FIELD = "spec.initSQL"


@dataclass(frozen=True)
class InitSQLOutcome:
    """How initSQL leaves the Database: ``reason``/``message`` for Synced=False; ``retry_after`` set when the failure
    blocks readiness (failurePolicy Block) and the run is retried after that many seconds."""

    reason: str
    message: str
    retry_after: float | None = None


def _ownership_names(spec: DatabaseSpec, adapter: EngineAdapter, unsupported: list[str]) -> OwnershipNames | None:
    """The auto-ownership names when the engine honours it (InvalidSpec for a name that is too long)."""
    if AUTO_OWNERSHIP_FIELD in unsupported or not isinstance(adapter, OwnershipAdapter):
        return None
    return ownership_names(spec)


async def _verify(adapter: EngineAdapter, spec: DatabaseSpec) -> None:
    """behaviour.md 7.4; engines whose sessions carry per-database settings (MySQL/MariaDB `sqlMode`,
    `defaultStorageEngine`) get the Database's `mysql` block, so verification runs as every later session will."""
    if accepts_session_config(adapter):
        await cast(SessionConfigVerifier, adapter).verify_database(spec.name, config=spec.mysql)
    else:
        await adapter.verify_database(spec.name)


class DatabaseReconciler(KindReconciler[Database]):
    """Reconciles Database objects on every engine through the instance's adapter."""

    info_family = "database_info"

    def __init__(self, ctx: OperatorContext) -> None:
        super().__init__(ctx, by_kind("Database"))
        self.instances = ctx.store(INSTANCE)
        self.cluster_instances = ctx.store(CLUSTER_INSTANCE)
        self.grant_stores = {k: ctx.store(by_kind(k)) for k in GRANT_KINDS}
        self.account_stores = [ctx.store(by_kind(k)) for k in ACCOUNT_KINDS]
        self.role_stores = [ctx.store(by_kind(k)) for k in ROLE_KINDS]
        self._init_sql_attempts: dict[tuple[str, str], tuple[str, int]] = {}
        """(namespace, name) → (attempt hash, consecutive failures) of a blocked initSQL, for its backoff."""
        self.drift = DatabaseDrift(self)
        self.drift_gauges = self.drift.checker
        self.server_objects = ctx.server_ownership(DATABASES)
        self.restores = ctx.store(by_kind("DatabaseRestore"))

    # Helpers ----------------------------------------------------------------------------------------------------

    def _operation(self, operation: str, engine: str, namespace: str, ok: bool, started: float) -> None:
        metrics = self.ctx.metrics
        metrics.database_operations.labels(operation, engine, "success" if ok else "failure", namespace).inc()
        metrics.database_operation_duration.labels(operation, engine, namespace).observe(time.monotonic() - started)

    def _restore_into(self, obj: Database, raw: Obj, instance: ResolvedInstance) -> str | None:
        """The Running restore loading this database, if any (backup.md 10.3)."""
        recorded = ((raw.get("status") or {}).get("database") or {}).get("name")
        return restore_running_into(
            self.restores,
            resource=(obj.metadata.namespace or "", obj.metadata.name or ""),
            instance=instance.target.store_key,
            server_name=recorded or obj.spec.name,
        )

    async def _wait_for_restore(self, obj: Database, raw: Obj, draft: StatusDraft, rid: str, restore: str) -> None:
        """While a restore loads the database, existence, apply and drift are skipped: they would fight the load."""
        message = f"restore {restore} is loading the database; existence, apply and drift checks resume when it ends"
        draft.condition("Synced", "Unknown", "RestoreInProgress", message)
        await self.write_status(raw, draft, rid)
        self.publish(obj, draft)

    async def _pending(self, raw: Obj, draft: StatusDraft, rid: str, message: str) -> None:
        draft.set(phase="Pending", message=message)
        draft.condition("Ready", False, "InstanceNotReady", message)
        await self.write_status(raw, draft, rid)

    # Reconcile --------------------------------------------------------------------------------------------------

    async def sync(self, obj: Database, raw: Obj, rid: str) -> Result | None:
        spec, name = obj.spec, obj.metadata.name or ""
        namespace = metric_namespace(obj.metadata.namespace)
        draft = self.draft(raw)
        target = target_of(spec, obj.metadata.namespace)
        check_object_references(self.ctx.references, raw)
        instance, waiting = checked_gate(
            self.ctx.references, obj.metadata.namespace, target, self.instances, self.cluster_instances
        )
        if instance is None:
            await self._pending(raw, draft, rid, waiting)
            self.publish(obj, draft)
            return None  # woken by the instance's watch when it becomes Ready
        if (restore := self._restore_into(obj, raw, instance)) is not None:
            await self._wait_for_restore(obj, raw, draft, rid, restore)
            return None  # woken by the restore when it ends
        engine = instance.engine
        init_outcome: InitSQLOutcome | None = None
        unsupported: list[str] = []
        applied = False
        try:
            adapter = await adapter_for(self.ctx, instance)
            unsupported = adapter.unsupported_database_fields(spec, None)
            if spec.init_sql is not None and not isinstance(adapter, InitSQLRunner):
                unsupported = [*unsupported, INIT_SQL_FIELD]
            self.report_options(raw, draft, unsupported, engine)
            names = _ownership_names(spec, adapter, unsupported)
            owner = effective_owner(spec, names)
            async with self.ctx.servers.operation(instance.target.key):
                observed = await adapter.observe_database(spec.name)
                observed, fresh = await self._existence(obj, raw, draft, rid, adapter, observed, instance, names)
                if observed is None:
                    draft.set(phase="Creating", message="Database is initializing")
                    draft.condition("Ready", False, "Creating", "Database is initializing")
                    await self.write_status(raw, draft, rid)
                    return Result(requeue_after=CREATING_RECHECK_SECONDS)
                if fresh or draft.before.get("observedGeneration") != obj.metadata.generation:
                    started = time.monotonic()
                    try:
                        await self._apply(spec, adapter, observed, names, owner, draft)
                        await self.server_objects.mark(adapter, raw, instance)
                    except (EngineError, InvalidSpec):
                        self._operation("update", engine, namespace, False, started)
                        raise
                    self._operation("update", engine, namespace, True, started)
                    applied = True
                    observed = await adapter.observe_database(spec.name) or observed
                init_outcome = await self._init_sql(obj, raw, draft, rid, adapter, observed, fresh, owner, engine)
        except InvalidSpec as error:
            message = str(error)
            draft.set(phase="Failed", message=message)
            draft.condition("Ready", False, "InvalidSpec", message)
            self.synced_failed(draft, "InvalidSpec", message, f"Database {name}: {message}")
            await self.write_status(raw, draft, rid)
            self.publish(obj, draft)
            return None  # permanent: woken by a spec change
        except (EngineError, ConnectionFailure, InstanceProblem) as error:
            draft.set(phase="Failed", message=str(error))
            draft.condition("Ready", False, "ReconcileFailed", str(error))
            self.synced_failed(draft, "ReconcileFailed", str(error), f"Database {name}: apply failed: {error}")
            await self.write_status(raw, draft, rid)
            self.publish(obj, draft)
            raise TransientError(str(error)) from None

        draft.set(observedGeneration=obj.metadata.generation)
        if init_outcome is not None and init_outcome.retry_after is not None:
            draft.set(phase="Failed", message=init_outcome.message)
            draft.condition("Ready", False, init_outcome.reason, init_outcome.message)
        else:
            draft.set(phase="Ready", message="Database is ready")
            draft.condition("Ready", True, "ReconcileSuccess", "Database is ready")
        outcome = await self.drift.check(
            obj,
            raw,
            draft,
            rid,
            instance,
            adapter,
            owner=owner,
            names=names,
            applied=applied,
            report_interval=not unsupported,
            operation=lambda op, ok: self.ctx.metrics.database_operations.labels(
                op, engine, "success" if ok else "failure", namespace
            ).inc(),
        )
        if outcome.corrected:
            with contextlib.suppress(EngineError, ConnectionFailure):  # the status shows the state after correction
                async with self.ctx.servers.operation(instance.target.key):
                    observed = await adapter.observe_database(spec.name) or observed
        draft.set(database=self._database_status(draft, observed))
        if observed.encoding is not None or observed.extensions or observed.schemas:
            postgres = {
                "encoding": observed.encoding,
                "collation": observed.collation,
                "installedExtensions": [{"name": k, "version": v} for k, v in sorted(observed.extensions.items())],
                "schemas": sorted(observed.schemas),
            }
            ownership = (draft.data.get("postgres") or {}).get("ownership") if names is not None else None
            draft.set(postgres={**postgres, "ownership": ownership} if ownership else postgres)
        if observed.charset is not None:
            draft.set(mysql={"charset": observed.charset, "collation": observed.collation})
        if init_outcome is not None:
            with_init_sql(draft, init_outcome.reason, init_outcome.message)
        requeue = outcome.requeue_after if outcome.requeue_after is not None else self.drift_interval(obj, instance)
        if init_outcome is not None and init_outcome.retry_after is not None:
            requeue = min(requeue, init_outcome.retry_after)
        await self.write_status(raw, draft, rid)
        self.publish(obj, draft)
        if observed.size_bytes is not None:
            self._size_gauge(obj, adapter.engine, observed.size_bytes)
        if outcome.error is not None:
            raise TransientError(outcome.error)
        return Result(requeue_after=requeue)

    async def _apply(
        self,
        spec: DatabaseSpec,
        adapter: EngineAdapter,
        observed: ObservedDatabase,
        names: OwnershipNames | None,
        owner: str | None,
        draft: StatusDraft,
    ) -> None:
        """behaviour.md 7.5, with the auto-ownership steps of 7.6 around it: the roles (and membership) before the
        database is re-owned by the role, the default privileges both ways after the schemas exist."""
        if names is not None and isinstance(adapter, OwnershipAdapter):
            created = await adapter.ensure_ownership_roles(names)
            if created_roles(draft.data) is not None:
                draft.set(postgres=with_created_roles(draft.data, names, created))
        await adapter.apply_database(spec, observed, owner=owner)
        if names is not None and isinstance(adapter, OwnershipAdapter):
            config = spec.postgres.ownership if spec.postgres is not None else None
            if observed.allow_connections is False and (spec.postgres is None or not spec.postgres.allow_connections):
                message = "owner role and app user in place; default privileges wait (connections are disallowed)"
                status = ownership_status(names, "Pending", message, created_roles(draft.data))
            else:
                await adapter.apply_ownership(spec, names)
                both_ways = config is None or config.set_default_privileges
                message = "owner role and app user in place" + (
                    "; default privileges set both ways" if both_ways else ""
                )
                status = ownership_status(names, "Ready", message, created_roles(draft.data))
            draft.set(postgres={**(draft.data.get("postgres") or {}), "ownership": status})

    # initSQL (behaviour.md 12) ---------------------------------------------------------------------------------

    async def _init_sql(
        self,
        obj: Database,
        raw: Obj,
        draft: StatusDraft,
        rid: str,
        adapter: EngineAdapter,
        observed: ObservedDatabase,
        fresh: bool,
        owner: str | None,
        engine: str,
    ) -> InitSQLOutcome | None:
        """Run initSQL when due and record the outcome in status.initSQL; returns how it leaves Synced/Ready (None:
        nothing to report). Events: InitSQLApplied for each successful run (a run only happens when the statements
        changed or the database is new), InitSQLFailed for the first failure of a hash or a different error."""
        spec, key = obj.spec, (obj.metadata.namespace or "", obj.metadata.name or "")
        config = spec.init_sql
        if config is None:
            draft.set(initSQL=None)  # removing initSQL removes its status; nothing is undone on the server
            self._init_sql_attempts.pop(key, None)
            return None
        if not isinstance(adapter, InitSQLRunner):
            return None  # reported through OptionsHonored
        stored = draft.before.get("initSQL") if not fresh else None
        policy = config.failure_policy
        try:
            source = await initsql.load_source(self.ctx.client, config, obj.metadata.namespace, dialect_for(engine))
        except initsql.SourceMissing as problem:
            status = initsql.source_missing_status(stored, problem)
            if initsql.is_new_failure(stored, status):
                self.warning(raw, "InitSQLFailed", initsql.missing_message(problem, spec.name, policy), rid)
            draft.set(initSQL=status)
            return self._init_sql_failed(key, "", policy, f"initSQL cannot run: {problem}")
        if not initsql.is_due(stored, source.hash, policy, fresh=fresh):
            if stored and not stored.get("applied"):
                return InitSQLOutcome("InitSQLFailed", f"initSQL failed: {stored.get('error') or ''}")
            return None
        if observed.allow_connections is False:
            return InitSQLOutcome("ConnectionsDisallowed", "initSQL waits: the database does not allow connections")
        namespace = metric_namespace(obj.metadata.namespace)
        started = time.monotonic()
        try:
            run = await adapter.run_init_sql(spec, source.statements, role=owner, sensitive=source.sensitive)
        except (EngineError, ConnectionFailure):
            self._operation("init_sql", engine, namespace, False, started)
            raise
        self._operation("init_sql", engine, namespace, run.ok, started)
        if run.ok:
            draft.set(initSQL=initsql.success_status(source, run))
            self._init_sql_attempts.pop(key, None)
            self.normal(raw, "InitSQLApplied", initsql.applied_message(run, spec.name, source))
            return None
        status = initsql.failure_status(stored, source, run)
        if initsql.is_new_failure(stored, status):
            self.warning(raw, "InitSQLFailed", initsql.failed_message(run, spec.name, source, policy), rid)
        draft.set(initSQL=status)
        return self._init_sql_failed(
            key, source.hash, policy, f"initSQL statement {run.failed_at} failed: {run.error or ''}"
        )

    def _init_sql_failed(self, key: tuple[str, str], attempt: str, policy: str, message: str) -> InitSQLOutcome:
        """Continue: Synced=False only. Block: also Ready=False, and a retry after 30 s doubling up to 5 min (the
        count restarts when the statements change)."""
        if policy != "Block":
            self._init_sql_attempts.pop(key, None)
            return InitSQLOutcome("InitSQLFailed", message)
        previous_hash, failures = self._init_sql_attempts.get(key, (attempt, 0))
        failures = failures + 1 if previous_hash == attempt else 1
        self._init_sql_attempts[key] = (attempt, failures)
        return InitSQLOutcome("InitSQLFailed", message, retry_after=initsql.block_retry_delay(failures))

    async def _existence(
        self,
        obj: Database,
        raw: Obj,
        draft: StatusDraft,
        rid: str,
        adapter: EngineAdapter,
        observed: ObservedDatabase | None,
        instance: ResolvedInstance,
        names: OwnershipNames | None,
    ) -> tuple[ObservedDatabase | None, bool]:
        """behaviour.md 7.3; returns the observed database (None while it does not accept sessions yet) and
        whether it was created, taken over or recreated by this reconcile. With auto-ownership the owner role (and
        app user) are created first, so the database is created owned by the role."""
        spec = obj.spec
        namespace = metric_namespace(obj.metadata.namespace)
        created_at = (draft.before.get("database") or {}).get("createdAt")
        if observed is not None and created_at:
            return observed, False
        if observed is not None:
            await self.server_objects.claim(adapter, raw, instance)  # OwnershipConflict: another resource's
            if names is not None:
                draft.set(postgres=with_created_roles(draft.data, names, []))
            self.ctx.metrics.adoptions.labels("Database", "success", namespace).inc()
            draft.set(database={**(draft.data.get("database") or {}), "createdAt": _now()})
            self.normal(raw, "Created", f"Took over existing database {spec.name} on instance {instance.name}")
            return observed, True
        started = time.monotonic()
        try:
            if names is not None and isinstance(adapter, OwnershipAdapter):
                created = await adapter.ensure_ownership_roles(names)
                draft.set(postgres=with_created_roles(draft.data, names, created))
            comment = self.server_objects.text(raw, instance)
            await adapter.create_database(spec, owner=effective_owner(spec, names), comment=comment)
        except (EngineError, ConnectionFailure, InstanceProblem) as error:
            self._operation("create", instance.engine, namespace, False, started)
            draft.set(phase="Failed", message=str(error))
            draft.condition("Ready", False, "CreateFailed", str(error))
            self.synced_failed(
                draft,
                "CreateFailed",
                str(error),
                f"Failed to create database {spec.name} on instance {instance.name}: {error}",
            )
            await self.write_status(raw, draft, rid)
            raise TransientError(str(error)) from None
        self._operation("create", instance.engine, namespace, True, started)
        draft.set(database={**(draft.data.get("database") or {}), "createdAt": _now()})
        # Whatever was recorded belonged to the dropped database: the spec is applied and initSQL runs again, also
        # when the first verification fails and the work happens in a later reconcile.
        draft.set(observedGeneration=None, initSQL=None)
        if created_at:
            self.normal(
                raw,
                "Created",
                f"Recreated database {spec.name} on instance {instance.name}; it had disappeared from the server",
            )
        else:
            self.normal(raw, "Created", f"Created database {spec.name} on instance {instance.name}")
        try:
            await _verify(adapter, spec)
        except (EngineError, ConnectionFailure):
            return None, True
        return await adapter.observe_database(spec.name), True

    @staticmethod
    def _database_status(draft: StatusDraft, observed: ObservedDatabase) -> dict[str, Any]:
        status = dict(draft.data.get("database") or {})
        # The size is recorded once; afterwards only the instance's size refresh (behaviour.md 6.5) updates it. A
        # fresh database grows for a while, and rewriting its size on every reconcile made resyncs write status.
        size = status.get("sizeBytes", observed.size_bytes)
        status.update({"name": observed.name, "owner": observed.owner, "sizeBytes": size})
        return {k: v for k, v in status.items() if v is not None}

    def publish_stored(self, obj: Database, draft: StatusDraft) -> None:
        super().publish_stored(obj, draft)
        size = (draft.data.get("database") or {}).get("sizeBytes")
        instance = gate(target_of(obj.spec, obj.metadata.namespace), self.instances, self.cluster_instances)[0]
        if size is not None:
            self._size_gauge(obj, instance.engine if instance else "unknown", size)

    def info_labels(self, obj: Database, draft: StatusDraft) -> dict[str, str]:
        instance = target_of(obj.spec, obj.metadata.namespace).key.name
        return {"database": obj.metadata.name or "", "instance_ref": instance, "db_name": obj.spec.name}

    def _size_gauge(self, obj: Database, engine: str, size: int) -> None:
        """`dbops_database_size_bytes` of this Database (behaviour.md 6.5)."""
        instance = target_of(obj.spec, obj.metadata.namespace).key.name
        namespace = metric_namespace(obj.metadata.namespace)
        self.ctx.metrics.database_size.labels(obj.metadata.name, instance, engine, namespace).set(size)

    # Deletion ---------------------------------------------------------------------------------------------------

    def dependents(self, obj: Database) -> list[Dependent]:
        found = []
        for kind, store in self.grant_stores.items():
            info = by_kind(kind)
            for raw in store.list(obj.metadata.namespace):
                ref = (raw.get("spec") or {}).get("databaseRef") or {}
                if (
                    ref.get("name") == obj.metadata.name
                    and (ref.get("namespace") or raw["metadata"].get("namespace")) == obj.metadata.namespace
                ):
                    found.append(
                        Dependent(
                            kind, raw["metadata"].get("namespace") or "", raw["metadata"]["name"], resource_of(info)
                        )
                    )
        return sorted(found)

    async def finalize(self, obj: Database, raw: Obj, rid: str) -> Result | None:
        spec, name = obj.spec, obj.metadata.name or ""
        waiting = await run_gates(
            self,
            raw,
            rid,
            protected=spec.deletion_protection,
            protection_hint="set spec.deletionProtection=false",
            dependents=self.dependents(obj),
        )
        if waiting is not None:
            return waiting
        force = force_in_effect(self, raw)
        target = target_of(spec, obj.metadata.namespace)
        namespace = metric_namespace(obj.metadata.namespace)
        draft = self.draft(raw)
        if spec.deletion_policy == "Retain":
            await self.remove_marker(obj, raw, target, self.server_objects)
            self.normal(
                raw,
                "Deleted",
                f"Released Database {name}; database {spec.name} kept on the server (deletionPolicy Retain)",
            )
        elif spec.deletion_policy == "Snapshot":
            message = "deletionPolicy Snapshot needs backups, which this build does not implement; the database is kept"
            if not force:
                draft.set(phase="Failed", message=message)
                draft.condition("Ready", False, "SnapshotStorageMissing", message)
                draft.warning_on_change(
                    "DeletionBlocked",
                    f"Deletion of Database {name} is blocked: {message}",
                    when=condition_state("Ready", "reason"),
                )
                await self.write_status(raw, draft, rid)
                return Result(requeue_after=60)
        else:
            instance, waiting_message = self.cleanup_instance(obj, target)
            started = time.monotonic()
            try:
                if instance is None:
                    raise EngineError(waiting_message)
                adapter = await adapter_for(self.ctx, instance)
                async with self.ctx.servers.operation(instance.target.key):
                    kept = await self.server_objects.not_ours(adapter, raw, instance)
                    if kept is None:
                        await adapter.drop_database(spec.name)
                        for account in self._dropped_with_database(obj, raw, adapter):
                            await adapter.drop_account(account)
            except (EngineError, ConnectionFailure, InstanceProblem) as error:
                engine = instance.engine if instance else "unknown"
                self._operation("delete", engine, namespace, False, started)
                what = f"database {spec.name} on instance {target.key.name}"
                retry = await cleanup_failed(self, raw, rid, error, what, force=force)
                if retry is not None:
                    return retry
            else:
                if kept is not None:
                    self.normal(raw, "Deleted", f"Released Database {name}; database {spec.name} kept: {kept}")
                else:
                    self._operation("delete", instance.engine, namespace, True, started)
                    self.normal(raw, "Deleted", f"Dropped database {spec.name} from instance {instance.name}")
        self.forget(obj.metadata.namespace, name)
        await remove_finalizer(self.ctx.client, self.resource, raw, self.info.finalizer)
        return None

    def _dropped_with_database(self, obj: Database, raw: Obj, adapter: EngineAdapter) -> list[str]:
        """With auto-ownership and `dropOnDelete`: the app user, then the owner role (behaviour.md 7.8), except a
        name a DatabaseUser or (Cluster)DatabaseRole on the same instance manages, and a role this Database did not
        create (`status.postgres.ownership.created`, when recorded)."""
        spec = obj.spec
        config = spec.postgres.ownership if spec.postgres is not None else None
        if config is None or not config.drop_on_delete:
            return []
        names = None
        with contextlib.suppress(InvalidSpec):
            names = _ownership_names(spec, adapter, adapter.unsupported_database_fields(spec, None))
        if names is None:
            return []
        users = [raw for store in self.account_stores for raw in store.list()]
        roles = [raw for store in self.role_stores for raw in store.list()]
        spared = spared_names(names, target_of(spec, obj.metadata.namespace), users, roles)
        created = created_roles(raw.get("status"))
        return [
            account
            for account in (names.user, names.role)
            if account not in spared and (created is None or account in created)
        ]

    def forget(self, namespace: str | None, name: str) -> None:
        super().forget(namespace, name)
        self.ctx.metrics.forget_object(database=name, namespace=metric_namespace(namespace))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
