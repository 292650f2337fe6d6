"""Event handlers: turn an informer :class:`~dbops.runtime.informer.Event` into work-queue keys.

A *mapper* (``Callable[[Event], Iterable[str]]``) says which keys of the controller's primary kind an event concerns:

* :func:`own_key` — the object itself (the primary watch);
* :func:`owner_keys` — the owners named in ``ownerReferences`` (owned Secrets → their DatabaseUser);
* :func:`label_keys` — an owner named by labels (``dbops.dbprovision.io/user`` + ``user-namespace``);
* :func:`index_keys` — dependants found through an index of the primary cache (an instance becoming Ready wakes the
  Databases whose ``spec.instanceRef`` points at it).

On updates, mappers look at both the old and the new object, so an object that *stops* referring to X still wakes X.
:class:`EnqueueHandler` applies predicates, then adds the mapped keys: low priority for the informer's initial list,
normal otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from dbops.runtime.cache import Obj, Store, make_key, object_key
from dbops.runtime.informer import MODIFIED, Event
from dbops.runtime.predicates import Predicate
from dbops.runtime.workqueue import Priority, Trigger, WorkQueue

Mapper = Callable[[Event], Iterable[str]]
ObjectMapper = Callable[[Obj], Iterable[str]]


def _both(ev: Event, fn: ObjectMapper) -> list[str]:
    keys = list(fn(ev.obj))
    if ev.type == MODIFIED and ev.old is not None:
        for k in fn(ev.old):
            if k not in keys:
                keys.append(k)
    return keys


def own_key(ev: Event) -> list[str]:
    return [ev.key]


def per_object(fn: ObjectMapper) -> Mapper:
    """Lift an object → keys function to an event mapper that also maps the old object of an update."""

    def mapper(ev: Event) -> list[str]:
        return _both(ev, fn)

    return mapper


def owner_keys(
    kind: str, group: str | None = None, *, owner_namespaced: bool = True, controller_only: bool = False
) -> Mapper:
    """Keys of the owners of ``kind`` (optionally restricted to an API group) in ``ownerReferences``.

    Owner references cannot cross namespaces: a namespaced owner lives in the object's namespace, a cluster-scoped
    owner (``owner_namespaced=False``) has a bare-name key.
    """

    def fn(obj: Obj) -> list[str]:
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace") if owner_namespaced else None
        out: list[str] = []
        for ref in meta.get("ownerReferences") or []:
            if ref.get("kind") != kind:
                continue
            if group is not None and str(ref.get("apiVersion", "")).rpartition("/")[0] != group:
                continue
            if controller_only and not ref.get("controller"):
                continue
            out.append(make_key(ns, str(ref.get("name", ""))))
        return out

    return per_object(fn)


def label_keys(name_label: str, namespace_label: str | None = None) -> Mapper:
    """The key named by labels: ``name_label`` holds the name; ``namespace_label`` (else the object's own
    namespace) the namespace."""

    def fn(obj: Obj) -> list[str]:
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        name = labels.get(name_label)
        if not name:
            return []
        ns = labels.get(namespace_label) if namespace_label else None
        return [make_key(ns or meta.get("namespace"), name)]

    return per_object(fn)


def index_keys(store: Store, index: str, value: ObjectMapper | None = None) -> Mapper:
    """Keys of primary objects whose ``index`` contains the changed object's value (default: its cache key).

    Example: the Database cache has index ``instance`` with values ``"<ns>/<instanceRef.name>"``; an instance
    event maps to ``store.index_keys("instance", "<ns>/<name>")`` — every Database that points at it.
    """
    values: ObjectMapper = value if value is not None else (lambda obj: [object_key(obj)])

    def fn(obj: Obj) -> list[str]:
        out: list[str] = []
        for v in values(obj):
            out.extend(store.index_keys(index, v))
        return out

    return per_object(fn)


def static_keys(*keys: str) -> Mapper:
    def mapper(ev: Event) -> Sequence[str]:
        return keys

    return mapper


class EnqueueHandler:
    """An informer handler that enqueues mapped keys for events that pass every predicate."""

    def __init__(
        self,
        queue: WorkQueue,
        mapper: Mapper = own_key,
        predicates: Sequence[Predicate] = (),
        *,
        trigger: str = Trigger.WATCH,
        key_filter: Callable[[str], bool] | None = None,
    ) -> None:
        self.queue = queue
        self.mapper = mapper
        self.predicates = tuple(predicates)
        self.trigger = trigger
        self.key_filter = key_filter

    def __call__(self, ev: Event) -> None:
        for predicate in self.predicates:
            if not predicate(ev):
                return
        priority = Priority.LOW if ev.initial else Priority.NORMAL
        for key in self.mapper(ev):
            if key and (self.key_filter is None or self.key_filter(key)):
                self.queue.add(key, priority, self.trigger)
