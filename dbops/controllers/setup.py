"""Registers every implemented controller with the manager: primary kind, secondary watches, predicates, workers.

Which changes wake which reconcile follows runtime.md section 7. The instance kinds reconcile on spec and annotation
changes of their own objects (status-only updates never wake them, which is what keeps a healthy instance quiet) and
on their own timers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dbops.api.kinds import by_kind
from dbops.controllers import annotations as ann
from dbops.controllers.backup import BackupReconciler
from dbops.controllers.base import KindReconciler
from dbops.controllers.context import OperatorContext, resource_of
from dbops.controllers.credentials import MANAGED_SECRETS_SELECTOR
from dbops.controllers.database import DatabaseReconciler
from dbops.controllers.declared_prerequisites import DATABASES, NAMES_OF, ROLES, declared_name
from dbops.controllers.grant import GrantReconciler, grantee_index_value
from dbops.controllers.initsql import INITSQL_CONFIGMAP_INDEX, INITSQL_SECRET_INDEX, referenced_configmaps
from dbops.controllers.initsql import referenced_secrets as initsql_secrets
from dbops.controllers.instance import InstanceReconciler
from dbops.controllers.leadership import follow_informer_stream, rebuild_status_metrics
from dbops.controllers.references import referenced_namespaces
from dbops.controllers.restore import RestoreReconciler
from dbops.controllers.role import RoleReconciler
from dbops.controllers.user import UserReconciler
from dbops.runtime import (
    CONFIGMAPS,
    NAMESPACES,
    SECRETS,
    ControllerSpec,
    Predicate,
    Store,
    Watch,
    all_of,
    any_of,
    condition_became_current,
    condition_became_true,
    condition_is_true,
    deletion_started,
    field_changed,
    generation_changed,
    index_keys,
    label_keys,
    per_object,
    spec_error_backoff,
    spec_or_annotations,
)
from dbops.runtime.cache import Obj

PRIMARY: Predicate = spec_or_annotations(ann.WATCHED_ANNOTATIONS, (ann.OPERATOR_INSTANCE_ID,))
"""Spec (generation), deletion, the annotations the operator reads, and the partition label."""


INSTANCE_INDEX = "instance"
INSTANCE_BECAME_USABLE: Predicate = any_of(
    condition_became_true("Ready"),
    all_of(generation_changed, condition_is_true("Ready")),
    condition_became_current("Ready"),
)
"""behaviour.md 6.4: dependents wake when the instance's Ready turns True, or its spec changes while Ready — then
once more when the instance has reconciled that spec (Ready current for the new generation): a dependent woken by
the change itself still finds the old generation's condition and waits (the consent of `allowedNamespaces`)."""


def instance_index_value(obj: Obj) -> list[str]:
    """Index value of a dependent: the instance it points at, as `Kind/namespace/name`."""
    spec = obj.get("spec") or {}
    if ref := spec.get("clusterInstanceRef"):
        return [f"ClusterDatabaseInstance//{ref.get('name')}"]
    if ref := spec.get("instanceRef"):
        namespace = ref.get("namespace") or (obj.get("metadata") or {}).get("namespace") or ""
        return [f"DatabaseInstance/{namespace}/{ref.get('name')}"]
    return []


def instance_value(obj: Obj) -> list[str]:
    meta = obj.get("metadata") or {}
    return [f"{obj.get('kind')}/{meta.get('namespace') or ''}/{meta.get('name')}"]


def instance_watches(ctx: OperatorContext, dependent_kind: str) -> list[Watch]:
    """Watches that wake `dependent_kind` objects when their instance becomes usable (through an index)."""
    store = ctx.store(by_kind(dependent_kind))
    if INSTANCE_INDEX not in store.indexer_names:
        store.add_indexer(INSTANCE_INDEX, instance_index_value)
    mapper = index_keys(store, INSTANCE_INDEX, instance_value)
    return [
        Watch(resource_of(by_kind(kind)), mapper, predicates=(INSTANCE_BECAME_USABLE,))
        for kind in ("DatabaseInstance", "ClusterDatabaseInstance")
    ]


EXISTING_PASSWORD_INDEX = "existing-password-secret"


def existing_password_secret(obj: Obj) -> list[str]:
    """Index function of users: `namespace/name` of the existingPasswordSecret they read (behaviour.md 8.2)."""
    ref = (obj.get("spec") or {}).get("existingPasswordSecret") or {}
    namespace = ref.get("namespace") or (obj.get("metadata") or {}).get("namespace")
    return [f"{namespace}/{ref['name']}"] if ref.get("name") else []


SECRET_INDEX = "secret"


def referenced_secrets(operator_namespace: str) -> Callable[[Obj], list[str]]:
    """Index function of instances: `namespace/name` of the admin and TLS Secrets they read (behaviour.md 6.1)."""

    def index(obj: Obj) -> list[str]:
        spec = obj.get("spec") or {}
        connection = spec.get("connection") or {}
        ref = connection.get("secretRef") or connection.get("existingSecret") or {}
        namespace = ref.get("namespace") or (obj.get("metadata") or {}).get("namespace") or operator_namespace
        names = [ref.get("name"), ((spec.get("tls") or {}).get("secretRef") or {}).get("name")]
        return [f"{namespace}/{name}" for name in names if name]

    return index


REFERENCED_NAMESPACES_INDEX = "referenced-namespaces"


def consent_watch(ctx: OperatorContext, kind: str) -> Watch:
    """Wakes the `kind` objects that reference a Secret or ConfigMap in a namespace when that namespace's metadata
    changes (its `allow-references-from` consent, behaviour.md 13)."""
    store = ctx.store(by_kind(kind))
    if REFERENCED_NAMESPACES_INDEX not in store.indexer_names:
        store.add_indexer(REFERENCED_NAMESPACES_INDEX, referenced_namespaces)
    # A Namespace's cache key is its name, which is what the index holds.
    return Watch(NAMESPACES, index_keys(store, REFERENCED_NAMESPACES_INDEX), metadata_only=True)


def register_controllers(ctx: OperatorContext) -> None:
    """Add the controllers of this build to the manager."""
    for kind in ("DatabaseInstance", "ClusterDatabaseInstance"):
        info = by_kind(kind)
        name = info.kind.lower()
        store = ctx.store(info)
        store.add_indexer(SECRET_INDEX, referenced_secrets(ctx.config.operator_namespace))
        # Secrets are watched by metadata only: the instance reads the data itself when it reconciles.
        secrets = Watch(SECRETS, index_keys(store, SECRET_INDEX), metadata_only=True)
        watches = [secrets] if kind == "ClusterDatabaseInstance" else [secrets, consent_watch(ctx, kind)]
        ctx.manager.add_controller(
            ControllerSpec(
                name=name,
                resource=resource_of(info),
                reconciler=InstanceReconciler(ctx, kind),
                predicates=(PRIMARY,),
                watches=watches,
                max_concurrency=ctx.config.workers(name),
                rate_limiter=spec_error_backoff(),
            )
        )
    # initSQL sources (behaviour.md 12): a changed ConfigMap or Secret wakes the Databases that read it. Metadata
    # is enough to notice the change; the reconcile reads the content itself.
    databases = ctx.store(by_kind("Database"))
    databases.add_indexer(INITSQL_CONFIGMAP_INDEX, referenced_configmaps)
    databases.add_indexer(INITSQL_SECRET_INDEX, initsql_secrets)
    initsql_sources = [
        Watch(CONFIGMAPS, index_keys(databases, INITSQL_CONFIGMAP_INDEX), metadata_only=True),
        Watch(SECRETS, index_keys(databases, INITSQL_SECRET_INDEX), metadata_only=True),
    ]
    database_controller = ctx.manager.add_controller(
        ControllerSpec(
            name="database",
            resource=resource_of(by_kind("Database")),
            reconciler=DatabaseReconciler(ctx),
            predicates=(PRIMARY,),
            watches=[*instance_watches(ctx, "Database"), *initsql_sources, consent_watch(ctx, "Database")],
            max_concurrency=ctx.config.workers("database"),
            rate_limiter=spec_error_backoff(),
        )
    )
    users = UserReconciler(ctx)
    # existingPasswordSecret (behaviour.md 8.2): a changed value must reach the server, so a change of that Secret
    # wakes every user reading it (metadata only: the user reads the value itself when it reconciles).
    user_store = ctx.store(by_kind("DatabaseUser"))
    if EXISTING_PASSWORD_INDEX not in user_store.indexer_names:
        user_store.add_indexer(EXISTING_PASSWORD_INDEX, existing_password_secret)
    supplied_secrets = Watch(SECRETS, index_keys(user_store, EXISTING_PASSWORD_INDEX), metadata_only=True)
    # The user's own Secret writes do not wake it again (it already knows); deletions and others' edits do.
    managed_secrets = Watch(
        SECRETS,
        label_keys(ann.USER_LABEL, ann.USER_NAMESPACE_LABEL),
        predicates=(users.secret_writes.not_own_write,),
        label_selector=MANAGED_SECRETS_SELECTOR,
    )
    ctx.manager.add_controller(
        ControllerSpec(
            name="databaseuser",
            resource=resource_of(by_kind("DatabaseUser")),
            reconciler=users,
            predicates=(PRIMARY,),
            watches=[
                *instance_watches(ctx, "DatabaseUser"),
                *prerequisite_watches(ctx, "DatabaseUser"),
                managed_secrets,
                supplied_secrets,
                consent_watch(ctx, "DatabaseUser"),
            ],
            max_concurrency=ctx.config.workers("databaseuser"),
            rate_limiter=spec_error_backoff(),
        )
    )
    register_access_controllers(ctx)
    register_backup_controllers(ctx, wake_database=database_controller.enqueue)
    reconcilers = [c.spec.reconciler for c in ctx.manager.controllers]
    kind_reconcilers = [r for r in reconcilers if isinstance(r, KindReconciler)]
    ctx.manager.on_leader(lambda: _rebuild(kind_reconcilers, ctx.config.instance_id))
    for reconciler in kind_reconcilers:
        follow_informer_stream(ctx.manager, reconciler, ctx.config.instance_id)


GRANTEE_INDEX = "grantee"
PREREQUISITE_BECAME_USABLE: Predicate = any_of(
    condition_became_true("Ready"),
    all_of(generation_changed, condition_is_true("Ready")),
    condition_became_current("Ready"),
    # Role-inheritance rotation moves a user's grants to its service role (behaviour.md 8.6 step 2).
    field_changed("status", "rotation", "serviceRole"),
    field_changed("status", "rotation", "enabled"),
)
"""A grant's grantee or Database turned Ready, or changed its spec while Ready (section 4: wake every dependent)."""


def prerequisite_value(obj: Obj) -> list[str]:
    """Index value of a grantee or Database as `grantee_index_value` writes it: `Kind/namespace/name`."""
    meta = obj.get("metadata") or {}
    return [f"{obj.get('kind')}/{meta.get('namespace') or ''}/{meta.get('name')}"]


def prerequisite_watches(ctx: OperatorContext, dependent_kind: str) -> list[Watch]:
    """Wake the `dependent_kind` objects naming a database or role when the Database / (Cluster)DatabaseRole that
    declares it turns Ready (`declared_prerequisites`: they wait for it instead of failing on the server)."""
    store = ctx.store(by_kind(dependent_kind))
    watches: list[Watch] = []
    for prerequisite in (DATABASES, ROLES):
        if prerequisite.index not in store.indexer_names:
            store.add_indexer(prerequisite.index, NAMES_OF[prerequisite.index])
        mapper = index_keys(store, prerequisite.index, declared_name(prerequisite))
        watches.extend(
            Watch(resource_of(by_kind(kind)), mapper, predicates=(condition_became_current("Ready"),))
            for kind in prerequisite.declaring_kinds
        )
    return watches


GRANTEE_KINDS = ("DatabaseUser", "DatabaseRole", "ClusterDatabaseRole")


def grantee_instance_watches(ctx: OperatorContext, grant_store: Store) -> list[Watch]:
    """Wake the grants whose grantee is on an instance when that instance becomes usable or changes its spec while
    Ready — its `allowedNamespaces` decides whether a grant from another namespace may use it (behaviour.md 13)."""
    grantees = []
    for kind in GRANTEE_KINDS:
        store = ctx.store(by_kind(kind))
        if INSTANCE_INDEX not in store.indexer_names:
            store.add_indexer(INSTANCE_INDEX, instance_index_value)
        grantees.append(store)

    def grants_on(instance: Obj) -> list[str]:
        keys: set[str] = set()
        for value in instance_value(instance):
            for store in grantees:
                for grantee in store.by_index(INSTANCE_INDEX, value):
                    keys.update(grant_store.index_keys(GRANTEE_INDEX, prerequisite_value(grantee)[0]))
        return sorted(keys)

    return [
        Watch(resource_of(by_kind(kind)), per_object(grants_on), predicates=(INSTANCE_BECAME_USABLE,))
        for kind in ("DatabaseInstance", "ClusterDatabaseInstance")
    ]


def _rebuild(reconcilers: list[KindReconciler[Any]], instance_id: str) -> None:
    rebuild_status_metrics(reconcilers, instance_id)


def register_access_controllers(ctx: OperatorContext) -> None:
    """DatabaseRole, ClusterDatabaseRole, DatabaseGrant and ClusterDatabaseGrant (behaviour.md 9, 10).

    Roles wake on their instance like databases and users. Grants wake when their grantee (DatabaseUser,
    DatabaseRole, ClusterDatabaseRole) or their Database becomes usable, through an index of those references, and
    when the grantee's instance becomes usable or changes its consent (`grantee_instance_watches`).
    """
    for kind in ("DatabaseRole", "ClusterDatabaseRole"):
        name = kind.lower()
        ctx.manager.add_controller(
            ControllerSpec(
                name=name,
                resource=resource_of(by_kind(kind)),
                reconciler=RoleReconciler(ctx, kind),
                predicates=(PRIMARY,),
                watches=[*instance_watches(ctx, kind), *prerequisite_watches(ctx, kind)],
                max_concurrency=ctx.config.workers(name),
                rate_limiter=spec_error_backoff(),
            )
        )
    for kind in ("DatabaseGrant", "ClusterDatabaseGrant"):
        name = kind.lower()
        store = ctx.store(by_kind(kind))
        if GRANTEE_INDEX not in store.indexer_names:
            store.add_indexer(GRANTEE_INDEX, grantee_index_value)
        mapper = index_keys(store, GRANTEE_INDEX, prerequisite_value)
        watched = ("DatabaseUser", "DatabaseRole", "ClusterDatabaseRole", "Database")
        ctx.manager.add_controller(
            ControllerSpec(
                name=name,
                resource=resource_of(by_kind(kind)),
                reconciler=GrantReconciler(ctx, kind),
                predicates=(PRIMARY,),
                watches=[
                    *(
                        Watch(resource_of(by_kind(w)), mapper, predicates=(PREREQUISITE_BECAME_USABLE,))
                        for w in watched
                    ),
                    *prerequisite_watches(ctx, kind),
                    *grantee_instance_watches(ctx, store),
                ],
                max_concurrency=ctx.config.workers(name),
                rate_limiter=spec_error_backoff(),
            )
        )


DATABASE_REF_INDEX = "database-ref"


def database_ref_value(obj: Obj) -> list[str]:
    """Index value of a backup: the Database it reads, as `namespace/name` (the Database's cache key)."""
    ref = (obj.get("spec") or {}).get("databaseRef") or {}
    namespace = ref.get("namespace") or (obj.get("metadata") or {}).get("namespace") or ""
    return [f"{namespace}/{ref['name']}"] if ref.get("name") else []


BACKUP_REF_INDEX = "backup-ref"


def backup_ref_value(obj: Obj) -> list[str]:
    """Index value of a restore: the DatabaseBackup it reads, as `namespace/name` (the backup's cache key)."""
    ref = (obj.get("spec") or {}).get("backupRef") or {}
    namespace = ref.get("namespace") or (obj.get("metadata") or {}).get("namespace") or ""
    return [f"{namespace}/{ref['name']}"] if ref.get("name") else []


def register_backup_controllers(ctx: OperatorContext, *, wake_database: Callable[[str], None]) -> None:
    """DatabaseBackup (backup.md 3): woken by its Database turning Ready (or changing while Ready) and by its own
    runner when an attempt ends. DatabaseRestore (10): woken by its backup's phase changes and by its runner; it
    wakes the Database it restores into when it starts and ends. The runners live while this process leads."""
    backups = BackupReconciler(ctx)
    store = ctx.store(by_kind("DatabaseBackup"))
    if DATABASE_REF_INDEX not in store.indexer_names:
        store.add_indexer(DATABASE_REF_INDEX, database_ref_value)
    database_ready = Watch(
        resource_of(by_kind("Database")),
        index_keys(store, DATABASE_REF_INDEX),
        predicates=(PREREQUISITE_BECAME_USABLE,),
    )
    controller = ctx.manager.add_controller(
        ControllerSpec(
            name="databasebackup",
            resource=resource_of(by_kind("DatabaseBackup")),
            reconciler=backups,
            predicates=(PRIMARY,),
            watches=[database_ready],
            max_concurrency=ctx.config.workers("databasebackup"),
            rate_limiter=spec_error_backoff(),
        )
    )
    backups.runners.wake = controller.enqueue
    ctx.manager.add_runnable(backups.runners.supervise)

    restores = RestoreReconciler(ctx)
    restore_store = ctx.store(by_kind("DatabaseRestore"))
    if BACKUP_REF_INDEX not in restore_store.indexer_names:
        restore_store.add_indexer(BACKUP_REF_INDEX, backup_ref_value)
    backup_phase = Watch(
        resource_of(by_kind("DatabaseBackup")),
        index_keys(restore_store, BACKUP_REF_INDEX),
        predicates=(any_of(field_changed("status", "phase"), deletion_started),),
    )
    restore_controller = ctx.manager.add_controller(
        ControllerSpec(
            name="databaserestore",
            resource=resource_of(by_kind("DatabaseRestore")),
            reconciler=restores,
            predicates=(PRIMARY,),
            watches=[backup_phase],
            max_concurrency=ctx.config.workers("databaserestore"),
            rate_limiter=spec_error_backoff(),
        )
    )
    restores.runners.wake = restore_controller.enqueue
    restores.wake_database = wake_database
    ctx.manager.add_runnable(restores.runners.supervise)
