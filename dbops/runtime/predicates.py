"""Predicates: which informer events are worth a reconcile (``runtime.md`` section 7).

A predicate is ``Callable[[Event], bool]``. Adds and deletes always pass the built-in predicates (an add must be
reconciled, a delete removes metric series and releases dependants); the filtering is about updates, where most
changes are the operator's own status writes and must wake nothing.

Typical primary-object predicate::

    any_of(generation_changed, deletion_started,
           annotations_changed("dbops.dbprovision.io/skip-reconcile", ...),
           labels_changed("dbops.dbprovision.io/operator-instance-id"))

Typical dependency predicate (an instance becoming Ready, or changing spec while Ready)::

    any_of(condition_became_true("Ready"), all_of(generation_changed, condition_is_true("Ready")))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dbops.runtime.informer import ADDED, DELETED, MODIFIED, Event

Predicate = Callable[[Event], bool]
Obj = dict[str, Any]


def _meta(obj: Obj | None) -> Obj:
    return (obj or {}).get("metadata") or {}


def _is_update(ev: Event) -> bool:
    return ev.type == MODIFIED and ev.old is not None


def always(ev: Event) -> bool:
    return True


def generation_changed(ev: Event) -> bool:
    """``metadata.generation`` changed (a spec change). Never true for kinds without a generation."""
    if not _is_update(ev):
        return True
    return _meta(ev.old).get("generation") != _meta(ev.obj).get("generation")


def resource_version_changed(ev: Event) -> bool:
    if not _is_update(ev):
        return True
    return _meta(ev.old).get("resourceVersion") != _meta(ev.obj).get("resourceVersion")


def deletion_started(ev: Event) -> bool:
    """``metadata.deletionTimestamp`` appeared (updates only; adds and deletes pass)."""
    if not _is_update(ev):
        return True
    return "deletionTimestamp" not in _meta(ev.old) and "deletionTimestamp" in _meta(ev.obj)


def _mapping_changed(field: str, keys: Sequence[str]) -> Predicate:
    def predicate(ev: Event) -> bool:
        if not _is_update(ev):
            return True
        old = _meta(ev.old).get(field) or {}
        new = _meta(ev.obj).get(field) or {}
        if not keys:
            return bool(old != new)
        return any(old.get(k) != new.get(k) for k in keys)

    return predicate


def annotations_changed(*keys: str) -> Predicate:
    """Any of the named annotations was added, removed or changed (any annotation when no keys are given)."""
    return _mapping_changed("annotations", keys)


def labels_changed(*keys: str) -> Predicate:
    """Any of the named labels was added, removed or changed (any label when no keys are given)."""
    return _mapping_changed("labels", keys)


def value_at(obj: Mapping[str, Any] | None, path: Sequence[str]) -> Any:
    """The value at ``path`` in nested mappings; None where a step is missing or not a mapping."""
    cur: Any = obj
    for part in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(part)
    return cur


def field_changed(*path: str) -> Predicate:
    """The value at ``path`` (e.g. ``"status", "phase"``) differs between the old and the new object."""

    def predicate(ev: Event) -> bool:
        if not _is_update(ev):
            return True
        return bool(value_at(ev.old, path) != value_at(ev.obj, path))

    return predicate


def _condition(obj: Obj | None, ctype: str) -> Obj | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == ctype:
            return cond
    return None


def condition_is_true(ctype: str) -> Predicate:
    """The new object has condition ``ctype`` with status ``True`` (a state check, for every event type)."""

    def predicate(ev: Event) -> bool:
        cond = _condition(ev.obj, ctype)
        return cond is not None and cond.get("status") == "True"

    return predicate


def condition_became_true(ctype: str) -> Predicate:
    """Condition ``ctype`` is ``True`` now and was not before; an add passes when the condition is ``True``."""

    def predicate(ev: Event) -> bool:
        new = _condition(ev.obj, ctype)
        if new is None or new.get("status") != "True":
            return False
        if ev.type != MODIFIED or ev.old is None:
            return ev.type != DELETED
        old = _condition(ev.old, ctype)
        return old is None or old.get("status") != "True"

    return predicate


def condition_became_current(ctype: str) -> Predicate:
    """Condition ``ctype`` is ``True`` for the object's current generation now and was not before.

    This is when a dependent may act on a spec change of the object: right after the change the condition still
    describes the old generation (its ``observedGeneration`` lags), and only the object's own reconcile brings it up
    to date, without the condition's status changing. An add passes when the condition is current and ``True``.
    """

    def current(obj: Obj | None) -> bool:
        cond = _condition(obj, ctype)
        return (
            cond is not None
            and cond.get("status") == "True"
            and cond.get("observedGeneration") == _meta(obj).get("generation")
        )

    def predicate(ev: Event) -> bool:
        if ev.type == DELETED or not current(ev.obj):
            return False
        return ev.type != MODIFIED or ev.old is None or not current(ev.old)

    return predicate


def event_type_in(*types: str) -> Predicate:
    def predicate(ev: Event) -> bool:
        return ev.type in types

    return predicate


adds_and_deletes = event_type_in(ADDED, DELETED)


def any_of(*predicates: Predicate) -> Predicate:
    def predicate(ev: Event) -> bool:
        return any(p(ev) for p in predicates)

    return predicate


def all_of(*predicates: Predicate) -> Predicate:
    def predicate(ev: Event) -> bool:
        return all(p(ev) for p in predicates)

    return predicate


def negate(inner: Predicate) -> Predicate:
    def predicate(ev: Event) -> bool:
        return not inner(ev)

    return predicate


def spec_or_annotations(annotation_keys: Sequence[str] = (), label_keys: Sequence[str] = ()) -> Predicate:
    """The primary-object predicate of ``runtime.md`` 7: generation, deletion, and the named annotations/labels."""
    parts: list[Predicate] = [generation_changed, deletion_started]
    if annotation_keys:
        parts.append(annotations_changed(*annotation_keys))
    if label_keys:
        parts.append(labels_changed(*label_keys))
    return any_of(*parts)
