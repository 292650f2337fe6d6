from __future__ import annotations

import copy
from typing import Any

from dbops.runtime.cache import Store
from dbops.runtime.handlers import EnqueueHandler, index_keys, label_keys, own_key, owner_keys
from dbops.runtime.informer import ADDED, DELETED, MODIFIED, Event
from dbops.runtime.predicates import (
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
from dbops.runtime.workqueue import Priority, Trigger, WorkQueue

SKIP = "dbops.dbprovision.io/skip-reconcile"


def thing(name: str = "a", gen: int = 1, ns: str = "ns", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "dbops.dbprovision.io/v1alpha1",
        "kind": "Database",
        "metadata": {"name": name, "namespace": ns, "generation": gen, "resourceVersion": "1", **meta},
        "spec": {},
        "status": {},
    }


def update(old: dict[str, Any], mutate: Any) -> Event:
    new = copy.deepcopy(old)
    mutate(new)
    return Event(MODIFIED, new, old)


def test_generation_changed_ignores_status_only_updates() -> None:
    old = thing()
    assert not generation_changed(update(old, lambda o: o["status"].update(phase="Ready")))
    assert generation_changed(update(old, lambda o: o["metadata"].update(generation=2)))
    assert generation_changed(Event(ADDED, old))
    assert generation_changed(Event(DELETED, old))


def test_deletion_started_only_on_transition() -> None:
    old = thing()
    assert deletion_started(update(old, lambda o: o["metadata"].update(deletionTimestamp="2024-01-01T00:00:00Z")))
    deleting = thing(deletionTimestamp="2024-01-01T00:00:00Z")
    assert not deletion_started(update(deleting, lambda o: o["metadata"].update(finalizers=[])))


def test_annotation_and_label_predicates_watch_only_named_keys() -> None:
    old = thing(annotations={SKIP: "false", "other": "1"}, labels={"x": "1"})
    pred = annotations_changed(SKIP)
    assert pred(update(old, lambda o: o["metadata"]["annotations"].update({SKIP: "true"})))
    assert pred(update(old, lambda o: o["metadata"]["annotations"].pop(SKIP)))
    assert not pred(update(old, lambda o: o["metadata"]["annotations"].update(other="2")))
    assert annotations_changed()(update(old, lambda o: o["metadata"]["annotations"].update(other="2")))
    assert labels_changed("x")(update(old, lambda o: o["metadata"]["labels"].update(x="2")))
    assert not labels_changed("y")(update(old, lambda o: o["metadata"]["labels"].update(x="2")))


def test_spec_or_annotations_combines() -> None:
    pred = spec_or_annotations([SKIP], ["dbops.dbprovision.io/operator-instance-id"])
    old = thing()
    assert not pred(update(old, lambda o: o["status"].update(phase="Ready")))
    assert pred(update(old, lambda o: o["metadata"].setdefault("annotations", {}).update({SKIP: "true"})))
    assert pred(update(old, lambda o: o["metadata"].update(generation=5)))


def ready(obj: dict[str, Any], status: str) -> None:
    obj["status"]["conditions"] = [{"type": "Ready", "status": status, "reason": "X", "lastTransitionTime": "t"}]


def test_condition_became_true_and_combinators() -> None:
    old = thing()
    ready(old, "False")
    became = condition_became_true("Ready")
    assert became(update(old, lambda o: ready(o, "True")))
    already = thing()
    ready(already, "True")
    assert not became(update(already, lambda o: o["status"].update(phase="Ready")))
    assert became(Event(ADDED, already))
    assert not became(Event(DELETED, already))
    wake = any_of(became, all_of(generation_changed, condition_is_true("Ready")))
    assert wake(update(already, lambda o: o["metadata"].update(generation=2)))
    assert not wake(update(old, lambda o: o["metadata"].update(generation=2)))
    assert negate(became)(update(already, lambda o: None))
    assert field_changed("status", "phase")(update(old, lambda o: o["status"].update(phase="Ready")))
    assert not field_changed("status", "phase")(update(old, lambda o: o["status"].update(other=1)))


def test_owner_keys_maps_old_and_new_owners() -> None:
    secret: dict[str, Any] = {
        "kind": "Secret",
        "metadata": {
            "name": "s",
            "namespace": "ns",
            "ownerReferences": [
                {"apiVersion": "dbops.dbprovision.io/v1alpha1", "kind": "DatabaseUser", "name": "u1"},
                {"apiVersion": "other.io/v1", "kind": "DatabaseUser", "name": "foreign"},
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "cm"},
            ],
        },
    }
    mapper = owner_keys("DatabaseUser", "dbops.dbprovision.io")
    assert list(mapper(Event(ADDED, secret))) == ["ns/u1"]
    moved = copy.deepcopy(secret)
    moved["metadata"]["ownerReferences"][0]["name"] = "u2"
    assert sorted(mapper(Event(MODIFIED, moved, secret))) == ["ns/u1", "ns/u2"]
    cluster = owner_keys("ClusterDatabaseInstance", owner_namespaced=False)
    secret["metadata"]["ownerReferences"].append({"apiVersion": "x/v1", "kind": "ClusterDatabaseInstance", "name": "c"})
    assert list(cluster(Event(ADDED, secret))) == ["c"]


def test_label_keys() -> None:
    secret = {"metadata": {"name": "s", "namespace": "ns", "labels": {"u": "alice", "uns": "team"}}}
    assert list(label_keys("u", "uns")(Event(ADDED, secret))) == ["team/alice"]
    assert list(label_keys("u")(Event(ADDED, secret))) == ["ns/alice"]
    assert list(label_keys("missing")(Event(ADDED, secret))) == []


def test_index_keys_finds_dependents() -> None:
    databases = Store({"instance": lambda o: [f"{o['metadata']['namespace']}/{o['spec']['instanceRef']}"]})
    for name, inst in (("db1", "i1"), ("db2", "i1"), ("db3", "i2")):
        o = thing(name)
        o["spec"]["instanceRef"] = inst
        databases.upsert(o)
    mapper = index_keys(databases, "instance")
    instance = thing("i1")
    assert list(mapper(Event(MODIFIED, instance, instance))) == ["ns/db1", "ns/db2"]


def test_enqueue_handler_applies_predicates_priority_and_filter() -> None:
    q = WorkQueue("t-handler")
    handler = EnqueueHandler(q, own_key, [generation_changed], key_filter=lambda k: not k.endswith("ignored"))
    handler(Event(ADDED, thing("a"), initial=True))
    handler(Event(ADDED, thing("ignored")))
    old = thing("b")
    handler(update(old, lambda o: o["status"].update(phase="x")))
    assert len(q) == 1
    handler(update(old, lambda o: o["metadata"].update(generation=3)))
    assert q.get_nowait() == "ns/b"  # normal priority first
    assert q.trigger_of("ns/b") == Trigger.WATCH
    assert q.get_nowait() == "ns/a"
    dep = EnqueueHandler(q, own_key, trigger=Trigger.DEPENDENCY)
    dep(Event(ADDED, thing("c")))
    assert q.get_nowait() == "ns/c" and q.trigger_of("ns/c") == Trigger.DEPENDENCY
    assert Priority.LOW > Priority.NORMAL


def test_condition_became_current_fires_when_the_condition_catches_up_with_a_spec_change() -> None:
    def current(obj: dict[str, Any], generation: int) -> None:
        ready(obj, "True")
        obj["status"]["conditions"][0]["observedGeneration"] = generation

    became = condition_became_current("Ready")
    settled = thing(gen=1)
    current(settled, 1)
    changed = update(settled, lambda o: o["metadata"].update(generation=2))  # spec edit: condition now stale
    assert not became(changed)
    caught_up = update(changed.obj, lambda o: current(o, 2))  # the object's own reconcile, status stays True
    assert became(caught_up)
    assert not became(update(caught_up.obj, lambda o: o["status"].update(phase="Ready")))  # already current
    assert became(Event(ADDED, caught_up.obj)) and not became(Event(DELETED, caught_up.obj))
