"""DatabaseInstance and ClusterDatabaseInstance: health checks, conditions, events on transitions (behaviour.md 6).

Each reconcile performs one health check within the check's time limit and maps the outcome onto the table of
behaviour.md 6.3. Events follow transitions of the `Connected` and `Healthy` conditions as stored in status, so an
outage yields exactly one ConnectionFailed + HealthCheckFailed and the recovery one Connected + HealthCheckPassed,
whatever the number of checks in between or operator restarts. An unchanged outcome writes status at most every
five minutes; the health metrics move on every check.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from dbops.api.instance import DatabaseInstance
from dbops.api.kinds import by_kind
from dbops.controllers import secret_protection
from dbops.controllers.base import KindReconciler, Obj, StatusDraft
from dbops.controllers.context import resource_of
from dbops.controllers.deletion import Dependent, run_gates
from dbops.controllers.instances import InstanceProblem, InstanceTarget, connection_settings, target_of
from dbops.controllers.references import check_object_references
from dbops.controllers.secret_protection import admin_secret_key
from dbops.controllers.transitions import condition_state, field_state
from dbops.engines.base import EngineAdapter
from dbops.engines.connection import ConnectionFailure, FailureCategory, ServerInfo
from dbops.engines.registry import InstanceKey, UnsupportedEngine
from dbops.metrics import metric_namespace
from dbops.runtime import SECRETS, Result, object_key, remove_finalizer
from dbops.runtime.status import now_rfc3339

STATUS_REFRESH_SECONDS = 300.0
"""An unchanged outcome rewrites status (lastCheckedAt) at most this often (behaviour.md 6.3)."""

DEPENDENT_KINDS = ("Database", "DatabaseUser", "DatabaseRole")
CLUSTER_DEPENDENT_KINDS = ("ClusterDatabaseRole", "ClusterDatabaseGrant")


class _Observer:
    """Feeds dbops_connection_attempts_total / _latency_seconds for one instance."""

    def __init__(self, reconciler: InstanceReconciler, name: str, namespace: str, engine: str) -> None:
        self._metrics = reconciler.ctx.metrics
        self._labels = (name, engine, namespace)

    def connection_attempt(self, *, success: bool, seconds: float) -> None:
        name, engine, namespace = self._labels
        status = "success" if success else "failure"
        self._metrics.connection_attempts.labels(name, engine, status, namespace).inc()
        if success:
            self._metrics.connection_latency.labels(name, engine, namespace).observe(seconds)


_FAMILY = {"postgres": "postgres", "cockroachdb": "postgres", "mysql": "mysql", "mariadb": "mysql"}
"""Engines whose servers speak one protocol, so the detected flavour can contradict `spec.engine` (engines.md 1.4)."""


def engine_mismatch(engine: str, flavour: str) -> bool:
    """True when the server's flavour is another engine of the same family than the declared one."""
    family = _FAMILY.get(engine)
    return family is not None and _FAMILY.get(flavour) == family and flavour != engine


def _since(timestamp: str | None) -> float | None:
    if not timestamp:
        return None
    return (datetime.now(UTC) - datetime.fromisoformat(timestamp.replace("Z", "+00:00"))).total_seconds()


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "an unknown time"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


class InstanceReconciler(KindReconciler[DatabaseInstance]):
    """Reconciles one of the two instance kinds (they share spec, status and behaviour)."""

    info_family = "instance_info"

    def __init__(self, ctx: Any, kind: str) -> None:
        super().__init__(ctx, by_kind(kind))
        self._failures: dict[str, int] = {}
        self._sizes_refreshed: dict[InstanceKey, float] = {}
        kinds = DEPENDENT_KINDS + (CLUSTER_DEPENDENT_KINDS if kind == "ClusterDatabaseInstance" else ())
        self.dependent_stores = {k: ctx.store(by_kind(k)) for k in kinds}
        self.secret_metadata = ctx.manager.store(SECRETS, metadata_only=True)
        """Secrets by metadata (the instance watch fills it): is the admin Secret protected yet?"""
        self.instance_stores = (ctx.store(by_kind("DatabaseInstance")), ctx.store(by_kind("ClusterDatabaseInstance")))
        """Caches scanned for dependents on deletion; registered here, before the manager starts its informers."""

    def key_of(self, raw: Obj) -> InstanceKey:
        meta = raw["metadata"]
        return InstanceKey(self.info.kind, meta.get("namespace") or "", meta["name"])

    # Health ----------------------------------------------------------------------------------------------------

    async def sync(self, obj: DatabaseInstance, raw: Obj, rid: str) -> Result | None:
        check_object_references(self.ctx.references, raw)  # before its Secrets are read or protected
        spec = obj.spec
        check = spec.effective_health_check
        namespace = metric_namespace(obj.metadata.namespace)
        endpoint = f"{spec.connection.host}:{spec.connection.port}"
        draft = self.draft(raw)
        key = self.key_of(raw)
        started = time.monotonic()
        info: ServerInfo | None = None
        connected: tuple[bool, str, str]  # status, reason, message
        healthy: tuple[bool, str, str]
        try:
            settings = await connection_settings(
                self.ctx.client, spec, obj.metadata.namespace, self.ctx.config.operator_namespace
            )
            await self._protect_admin_secret(obj)
            if draft.before.get("observedGeneration") != obj.metadata.generation:
                await self._release_unreferenced_secrets()  # the secretRef may have moved
            observer = _Observer(self, obj.metadata.name or "", namespace, spec.engine)
            adapter = await self.ctx.servers.adapter(key, settings, observer)
            info = await asyncio.wait_for(adapter.check(), timeout=float(check.timeout_seconds))
        except InstanceProblem as problem:
            category = (
                FailureCategory.CREDENTIALS_UNAVAILABLE
                if problem.reason == "CredentialsError"
                else FailureCategory.TLS_FAILED
            )
            connected = (False, problem.reason, f"{category.value}: {problem}")
            healthy = (False, "ConnectionFailed", f"connection failed ({category.value})")
        except ConnectionFailure as failure:
            connected = (False, "ConnectionFailed", str(failure))
            healthy = (False, "ConnectionFailed", f"connection failed ({failure.category.value})")
        except TimeoutError:
            limit = f"check exceeded {check.timeout_seconds}s"
            connected = (False, "ConnectionFailed", f"{FailureCategory.TIMEOUT.value}: {limit}")
            healthy = (False, "HealthCheckTimeout", limit)
        except UnsupportedEngine as error:
            connected = (False, "ConnectionFailed", f"{FailureCategory.SERVER_ERROR.value}: {error}")
            healthy = (False, "ConnectionFailed", str(error))
        except Exception as error:  # connected, but the ping or version query failed
            connected = (True, "ConnectionSuccess", "Connected successfully")
            healthy = (False, "HealthCheckFailed", f"{error.__class__.__name__}: {error}")
        else:
            connected = (True, "ConnectionSuccess", "Connected successfully")
            healthy = (True, "HealthCheckPassed", "Health check passed")
        elapsed_ms = int((time.monotonic() - started) * 1000)

        ok = info is not None
        draft.set(phase="Ready" if ok else "Failed", observedGeneration=obj.metadata.generation)
        if info is not None:
            draft.set(version=info.version)
        draft.set(message=connected[2] if not connected[0] else ("Connected successfully" if ok else healthy[2]))
        draft.condition("Connected", *connected)
        if check.enabled:
            draft.condition("Healthy", *healthy)
        else:
            draft.condition("Healthy", "Unknown", "HealthCheckDisabled", "periodic health checks are disabled")
        ready_reason = "ReconcileSuccess" if ok else (connected[1] if not connected[0] else healthy[1])
        draft.condition("Ready", ok, ready_reason, "Instance is ready" if ok else str(draft.data["message"]))
        self._transition_events(draft, spec.engine, endpoint, connected, healthy, info, elapsed_ms)
        self._options_honored(draft, spec.engine, endpoint, info)

        age = _since(draft.before.get("lastCheckedAt"))
        if draft.changed() or age is None or age >= STATUS_REFRESH_SECONDS:
            draft.set(lastCheckedAt=now_rfc3339())
            await self.write_status(raw, draft, rid, force=True)
        self._publish_metrics(obj, draft, ok, time.time())
        if ok:
            await self._refresh_sizes(key, adapter)

        key_text = f"{key.namespace}/{key.name}"
        if ok:
            self._failures.pop(key_text, None)
            return Result(requeue_after=float(check.interval_seconds)) if check.enabled else None
        failures = self._failures[key_text] = self._failures.get(key_text, 0) + 1
        delay = min(5.0 * 2 ** (failures - 1), float(check.interval_seconds))
        # The backoff is what an operator watching an outage wants to see: one line per failed check.
        self.log.info(
            "health check failed; next check after backoff",
            instance=key_text,
            failures=failures,
            next_check_seconds=delay,
            reason=ready_reason,
        )
        return Result(requeue_after=delay)

    def _transition_events(
        self,
        draft: StatusDraft,
        engine: str,
        endpoint: str,
        connected: tuple[bool, str, str],
        healthy: tuple[bool, str, str],
        info: ServerInfo | None,
        elapsed_ms: int,
    ) -> None:
        """observability.md 1.5, instance table: one event per transition of Connected / Healthy, announced with
        the condition it is about (the stored condition only chooses the wording: "again after <outage>")."""
        before_connected = draft.previous_condition("Connected") or {}
        before_healthy = draft.previous_condition("Healthy") or {}
        if connected[0]:
            version = info.version if info else ""
            if before_connected.get("status") == "False":
                outage = _duration(_since(before_connected.get("lastTransitionTime")))
                message = f"Reconnected to {engine} {version} at {endpoint} after {outage} of failures"
            else:
                message = f"Connected to {engine} {version} at {endpoint}"
            draft.normal_on_change("Connected", message, when=condition_state("Connected", "status"))
            previous_version = draft.before.get("version")
            if before_connected.get("status") == "True" and previous_version and info is not None:
                draft.normal_on_change(
                    "Connected",
                    f"Connected to {engine} at {endpoint}; server version changed from {previous_version} "
                    f"to {info.version}",
                    when=field_state("version"),
                )
        else:
            category, detail = connected[2].split(":", 1)[0], connected[2].split(": ", 1)[-1]
            draft.warning_on_change(
                "ConnectionFailed",
                f"Cannot connect to {engine} at {endpoint} ({category}): {detail}",
                when=_connection_failure_category,
            )
        if healthy[0] and before_healthy.get("status") == "False":
            outage = _duration(_since(before_healthy.get("lastTransitionTime")))
            draft.normal_on_change(
                "HealthCheckPassed",
                f"Health check of {engine} at {endpoint} passed again after {outage} (check took {elapsed_ms} ms)",
                when=condition_state("Healthy", "status"),
            )
        if not healthy[0]:
            draft.warning_on_change(
                "HealthCheckFailed",
                f"Health check of {engine} at {endpoint} failed: {healthy[2]}",
                when=condition_state("Healthy", "status"),
            )

    def _options_honored(self, draft: StatusDraft, engine: str, endpoint: str, info: ServerInfo | None) -> None:
        """`OptionsHonored` from the detected server flavour (api.md 6.1, engines.md 1.4).

        A flavour that contradicts `spec.engine` within its family (a MariaDB server declared `mysql`, a CockroachDB
        server declared `postgres`) is `EngineMismatch`: the adapter already uses the detected flavour's rules, so
        the instance stays Ready, and one Warning event names `spec.engine` when the mismatch appears or changes.
        Without a successful check the flavour is unknown and the recorded condition is kept.
        """
        previous = draft.previous_condition("OptionsHonored")
        if info is None:
            if previous is None:
                draft.condition("OptionsHonored", True, "AllOptionsHonored", "every option in the spec is in effect")
            return
        if engine_mismatch(engine, info.flavour):
            message = (
                f"spec.engine is {engine} but the server at {endpoint} is {info.flavour} ({info.version}); "
                f"{info.flavour} rules are used"
            )
            draft.condition("OptionsHonored", False, "EngineMismatch", message)
            draft.warning_on_change(
                "EngineMismatch", message, when=condition_state("OptionsHonored", "reason", "message")
            )
            return
        draft.condition("OptionsHonored", True, "AllOptionsHonored", "every option in the spec is in effect")

    async def _refresh_sizes(self, key: InstanceKey, adapter: EngineAdapter) -> None:
        """behaviour.md 6.5: every --size-refresh-interval, one size query for the whole server updates
        dbops_database_size_bytes of each Database on this instance (status keeps the size of its last apply)."""
        interval = self.ctx.config.size_refresh_interval
        last = self._sizes_refreshed.get(key)
        if interval <= 0 or (last is not None and time.monotonic() - last < interval):
            return
        self._sizes_refreshed[key] = time.monotonic()
        try:
            sizes = await adapter.database_sizes()
        except Exception as error:  # a failed refresh changes nothing about the instance's health
            self.log.warning("database size refresh failed", instance=key.name, error=str(error))
            return
        database = by_kind("Database")
        self.log.debug("refreshing database sizes", instance=key.name, databases=len(sizes))
        for raw in self.dependent_stores["Database"].list():
            model = database.model.model_validate(raw)
            if target_of(model.spec, model.metadata.namespace).key != key or model.spec.name not in sizes:
                continue
            self.ctx.metrics.database_size.labels(
                model.metadata.name, key.name, adapter.engine, metric_namespace(model.metadata.namespace)
            ).set(sizes[model.spec.name])

    def publish_stored(self, obj: DatabaseInstance, draft: StatusDraft) -> None:
        healthy = draft.previous_condition("Healthy") or {}
        checked = draft.before.get("lastCheckedAt")
        checked_at = datetime.fromisoformat(checked.replace("Z", "+00:00")).timestamp() if checked else None
        self._publish_metrics(obj, draft, healthy.get("status") == "True", checked_at)

    def _publish_metrics(self, obj: DatabaseInstance, draft: StatusDraft, ok: bool, checked_at: float | None) -> None:
        """Health gauges besides the shared series; `checked_at` is the check's Unix time (None: never checked)."""
        self.publish(obj, draft)
        metrics, name, engine = self.ctx.metrics, obj.metadata.name or "", obj.spec.engine
        namespace = metric_namespace(obj.metadata.namespace)
        metrics.instance_healthy.labels(name, engine, namespace).set(1 if ok else 0)
        if checked_at is not None:
            metrics.instance_last_health_check.labels(name, engine, namespace).set(checked_at)

    def info_labels(self, obj: DatabaseInstance, draft: StatusDraft) -> dict[str, str]:
        return {
            "instance": obj.metadata.name or "",
            "engine": obj.spec.engine,
            "version": str(draft.data.get("version") or ""),
            "host": obj.spec.connection.host,
            "port": str(obj.spec.connection.port),
        }

    # Deletion --------------------------------------------------------------------------------------------------

    def dependents(self, key: InstanceKey) -> list[Dependent]:
        """Resources in every namespace that resolve to this instance (api.md 3.2)."""
        found: list[Dependent] = []
        for kind, store in self.dependent_stores.items():
            info = by_kind(kind)
            for raw in store.list():
                spec = raw.get("spec") or {}
                if not ({"instanceRef", "clusterInstanceRef"} & spec.keys()):
                    continue
                model = info.model.model_validate(raw)
                target: InstanceTarget = target_of(model.spec, model.metadata.namespace)
                if target.key == key:
                    meta = raw["metadata"]
                    found.append(Dependent(kind, meta.get("namespace") or "", meta["name"], resource_of(info)))
        return sorted(found)

    async def finalize(self, obj: DatabaseInstance, raw: Obj, rid: str) -> Result | None:
        key = self.key_of(raw)
        waiting = await run_gates(
            self,
            raw,
            rid,
            protected=obj.spec.deletion_protection,
            protection_hint="set spec.deletionProtection=false",
            dependents=self.dependents(key),
        )
        if waiting is not None:
            return waiting
        await self.ctx.servers.forget(key)
        await self._release_admin_secret(obj, raw)
        self.forget(obj.metadata.namespace, obj.metadata.name or "")
        await remove_finalizer(self.ctx.client, self.resource, raw, self.info.finalizer)
        return None

    def _admin_secret(self, spec: Any, namespace: str | None) -> str | None:
        return admin_secret_key(spec, namespace, self.ctx.config.operator_namespace)

    async def _protect_admin_secret(self, obj: DatabaseInstance) -> None:
        """Keep the admin Secret readable while this instance exists (dbops.controllers.secret_protection)."""
        key = self._admin_secret(obj.spec, obj.metadata.namespace)
        if key is not None:
            await secret_protection.protect(self.ctx.client, self.secret_metadata, key)

    def _referenced_admin_secrets(self, *, besides: str | None = None) -> dict[str, str]:
        """Cache key of every instance (of either kind, `besides` left out) → the key of its admin Secret."""
        referenced = {}
        for store in self.instance_stores:
            for other in store.list():
                if (me := object_key(other)) == besides:
                    continue
                spec = by_kind(str(other.get("kind"))).model.model_validate(other).spec
                if (key := self._admin_secret(spec, (other.get("metadata") or {}).get("namespace"))) is not None:
                    referenced[me] = key
        return referenced

    async def _release_admin_secret(self, obj: DatabaseInstance, raw: Obj) -> None:
        """Release the admin Secret unless another instance (of either kind) still references it."""
        key = self._admin_secret(obj.spec, obj.metadata.namespace)
        if key is None:
            return
        others = [me for me, secret in self._referenced_admin_secrets(besides=object_key(raw)).items() if secret == key]
        await secret_protection.release(self.ctx.client, self.secret_metadata, key, others)

    async def _release_unreferenced_secrets(self) -> None:
        """Secrets protected for an instance whose secretRef has moved on (and that no other instance uses)."""
        referenced = set(self._referenced_admin_secrets().values())
        for key in await secret_protection.release_unreferenced(self.ctx.client, self.secret_metadata, referenced):
            self.log.info("admin Secret no longer referenced; protection removed", secret=key)

    def forget(self, namespace: str | None, name: str) -> None:
        """Drop the instance's series and close its cached connections (it is gone or no longer ours)."""
        key = InstanceKey(self.info.kind, namespace or "", name)
        self._sizes_refreshed.pop(key, None)
        if self.ctx.servers.cached(key) is not None:
            asyncio.get_running_loop().create_task(self.ctx.servers.forget(key))
        super().forget(namespace, name)
        self.ctx.metrics.forget_object(instance=name, namespace=metric_namespace(namespace))


def _connection_failure_category(status: Mapping[str, Any]) -> tuple[Any, str]:
    """What a ConnectionFailed Warning is about: Connected's status and the failure category that starts its
    message (`timeout: …`, `auth_failed: …`), so a new detail of the same failure says nothing."""
    status_value, message = condition_state("Connected", "status", "message")(status)
    return status_value, str(message or "").split(":", 1)[0]
