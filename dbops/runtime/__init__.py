"""dbops.runtime — the controller runtime the dbops controllers are built on. It knows nothing about databases.

Import from here; the submodules are one concept each:

=====================  ==================================================================================
``client``             :class:`KubeClient` (QPS/burst-limited REST client for any resource), :class:`Resource`,
                       :class:`ApiError` and its subclasses, :func:`retry_on_conflict`, core resources
                       (``SECRETS``, ``CONFIGMAPS``, ``EVENTS``, ``LEASES``, ``NAMESPACES``)
``cache``              :class:`Store` (compact, copy-on-read, indexed), :func:`object_key`, :func:`split_key`
``informer``           :class:`Informer` (paged list, watch with bookmarks, 410 relist-with-diff), :class:`Event`
``predicates``         which updates matter: :func:`generation_changed`, :func:`annotations_changed`, …
``handlers``           event → keys: :func:`own_key`, :func:`owner_keys`, :func:`label_keys`, :func:`index_keys`
``workqueue``          :class:`WorkQueue` (dedup, delays, backoff, priorities, drain)
``ratelimit``          :class:`TokenBucket` and the work-queue rate limiters
``controller``         :class:`ControllerSpec`, :class:`Watch`, :class:`Reconciler`, :class:`Request`,
                       :class:`Result`, :class:`PermanentError`, :class:`TransientError`
``manager``            :class:`Manager`, :class:`ManagerOptions` (informers, leader election, probes, metrics)
``leader``             :class:`LeaderElector` (Lease-based)
``events``             :class:`EventRecorder` (``<kind>-controller``), :class:`EventBroadcaster`
``own_writes``         :class:`OwnWrites` (drop the watch event of the controller's own write)
``status``             :func:`set_condition`, :func:`patch_status`, :func:`merge_patch`, …
``finalizers``         :func:`add_finalizer`, :func:`remove_finalizer` (conflict-safe JSON patches)
``log``                :func:`configure_logging`, :func:`get_logger`, :func:`current_reconcile_id`
``metrics``            controller-runtime-named metrics (``controller_runtime_*``, ``workqueue_*``, …)
=====================  ==================================================================================

A reconciler::

    class DatabaseReconciler:
        def __init__(self, client: KubeClient, store: Store, recorder: EventRecorder) -> None: ...

        async def reconcile(self, req: Request) -> Result | None:
            obj = self.store.get(req.key)          # a private copy; None when deleted
            ...
            return Result(requeue_after=300)

Objects read from a :class:`Store` are fresh copies (mutate freely); objects passed to handlers and predicates are
shared and must be treated as read-only.
"""

from dbops.runtime.cache import IndexFunc, Store, make_key, object_key, split_key
from dbops.runtime.client import (
    CONFIGMAPS,
    EVENTS,
    LEASES,
    NAMESPACES,
    SECRETS,
    AlreadyExists,
    ApiError,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    KubeClient,
    NotFound,
    Resource,
    TooManyRequests,
    owner_reference,
    retry_on_conflict,
)
from dbops.runtime.controller import (
    Controller,
    ControllerSpec,
    PermanentError,
    Reconciler,
    Request,
    Result,
    TransientError,
    Watch,
)
from dbops.runtime.events import NORMAL, WARNING, EventBroadcaster, EventRecorder
from dbops.runtime.finalizers import add_finalizer, has_finalizer, remove_finalizer
from dbops.runtime.handlers import EnqueueHandler, Mapper, index_keys, label_keys, own_key, owner_keys, per_object
from dbops.runtime.informer import ADDED, DELETED, MODIFIED, Event, Informer
from dbops.runtime.leader import LeaderElectionConfig, LeaderElector
from dbops.runtime.log import configure_logging, current_reconcile_id, get_logger
from dbops.runtime.manager import Manager, ManagerOptions
from dbops.runtime.own_writes import OwnWrites
from dbops.runtime.predicates import (
    Predicate,
    all_of,
    annotations_changed,
    any_of,
    condition_became_current,
    condition_became_true,
    condition_is_true,
    deletion_started,
    field_changed,
    generation_changed,
    labels_changed,
    negate,
    spec_or_annotations,
)
from dbops.runtime.ratelimit import (
    ItemExponentialRateLimiter,
    RateLimiter,
    TokenBucket,
    default_rate_limiter,
    spec_error_backoff,
)
from dbops.runtime.status import (
    condition_transitioned,
    find_condition,
    is_condition_true,
    merge_patch,
    patch_status,
    remove_condition,
    set_condition,
)
from dbops.runtime.workqueue import Priority, Trigger, WorkQueue

__all__ = [
    "ADDED",
    "CONFIGMAPS",
    "DELETED",
    "EVENTS",
    "LEASES",
    "MODIFIED",
    "NAMESPACES",
    "NORMAL",
    "SECRETS",
    "WARNING",
    "AlreadyExists",
    "ApiError",
    "Conflict",
    "Controller",
    "ControllerSpec",
    "EnqueueHandler",
    "Event",
    "EventBroadcaster",
    "EventRecorder",
    "Forbidden",
    "Gone",
    "IndexFunc",
    "Informer",
    "Invalid",
    "ItemExponentialRateLimiter",
    "KubeClient",
    "LeaderElectionConfig",
    "LeaderElector",
    "Manager",
    "ManagerOptions",
    "Mapper",
    "NotFound",
    "OwnWrites",
    "PermanentError",
    "Predicate",
    "Priority",
    "RateLimiter",
    "Reconciler",
    "Request",
    "Resource",
    "Result",
    "Store",
    "TokenBucket",
    "TooManyRequests",
    "TransientError",
    "Trigger",
    "Watch",
    "WorkQueue",
    "add_finalizer",
    "all_of",
    "annotations_changed",
    "any_of",
    "condition_became_current",
    "condition_became_true",
    "condition_is_true",
    "condition_transitioned",
    "configure_logging",
    "current_reconcile_id",
    "default_rate_limiter",
    "deletion_started",
    "field_changed",
    "find_condition",
    "generation_changed",
    "get_logger",
    "has_finalizer",
    "index_keys",
    "is_condition_true",
    "label_keys",
    "labels_changed",
    "make_key",
    "merge_patch",
    "negate",
    "object_key",
    "own_key",
    "owner_keys",
    "owner_reference",
    "patch_status",
    "per_object",
    "remove_condition",
    "remove_finalizer",
    "retry_on_conflict",
    "set_condition",
    "spec_error_backoff",
    "spec_or_annotations",
    "split_key",
]
