from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbops.runtime.cache import Store, object_key, resource_version_newer_or_equal, split_key


def obj(
    name: str, ns: str | None = "default", rv: str = "1", instance: str | None = None, **extra: Any
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "resourceVersion": rv, "managedFields": [{"manager": "kubectl"}]}
    if ns:
        meta["namespace"] = ns
    o: dict[str, Any] = {"apiVersion": "x/v1", "kind": "Thing", "metadata": meta, "spec": {}}
    if instance:
        o["spec"]["instanceRef"] = {"name": instance}
    o.update(extra)
    return o


def instance_index(o: dict[str, Any]) -> list[str]:
    ref = (o.get("spec") or {}).get("instanceRef")
    return [f"{o['metadata'].get('namespace')}/{ref['name']}"] if ref else []


def test_keys() -> None:
    assert object_key(obj("a")) == "default/a"
    assert object_key(obj("a", ns=None)) == "a"
    assert split_key("ns/a") == ("ns", "a")
    assert split_key("a") == (None, "a")


def test_upsert_get_returns_private_copies_without_managed_fields() -> None:
    store = Store()
    store.upsert(obj("a"))
    got = store.get("default/a")
    assert got is not None
    assert "managedFields" not in got["metadata"]
    got["spec"]["mutated"] = True
    again = store.get("default/a")
    assert again is not None and "mutated" not in again["spec"]
    assert store.resource_version("default/a") == "1"
    assert store.generation("default/a") is None
    with_gen = obj("g")
    with_gen["metadata"]["generation"] = 4
    store.upsert(with_gen)
    assert store.generation("default/g") == 4
    assert store.get("default/missing") is None


def test_namespace_and_custom_indexes_follow_updates_and_deletes() -> None:
    store = Store({"instance": instance_index})
    store.upsert(obj("db1", instance="i1"))
    store.upsert(obj("db2", instance="i1"))
    store.upsert(obj("db3", ns="other", instance="i1"))
    assert store.index_keys("instance", "default/i1") == ["default/db1", "default/db2"]
    assert store.index_keys("namespace", "other") == ["other/db3"]
    store.upsert(obj("db2", rv="2", instance="i2"))
    assert store.index_keys("instance", "default/i1") == ["default/db1"]
    assert store.index_keys("instance", "default/i2") == ["default/db2"]
    store.delete("default/db1")
    assert store.index_keys("instance", "default/i1") == []
    assert "default/i1" not in store.index_values("instance")
    assert [o["metadata"]["name"] for o in store.by_index("instance", "default/i2")] == ["db2"]
    assert [o["metadata"]["name"] for o in store.list("other")] == ["db3"]
    with pytest.raises(KeyError):
        store.index_keys("nope", "x")


def test_add_indexer_indexes_existing_objects() -> None:
    store = Store()
    store.upsert(obj("db1", instance="i1"))
    store.add_indexer("instance", instance_index)
    assert store.index_keys("instance", "default/i1") == ["default/db1"]
    with pytest.raises(ValueError):
        store.add_indexer("instance", instance_index)


def test_delete_returns_last_known_state() -> None:
    store = Store()
    store.upsert(obj("a", rv="7"))
    old = store.delete("default/a")
    assert old is not None and Store.decode(old.data)["metadata"]["resourceVersion"] == "7"
    assert store.delete("default/a") is None
    assert len(store) == 0


def test_resource_version_comparison() -> None:
    assert resource_version_newer_or_equal("10", "9")
    assert not resource_version_newer_or_equal("9", "10")
    assert resource_version_newer_or_equal("abc", "abc")
    assert not resource_version_newer_or_equal(None, "1")


def pending_waits(store: Store, key: str) -> list[asyncio.Future[None]]:
    """The waits on `key` registered with the store and not yet satisfied."""
    return [fut for _, fut in store._waiters.get(key, []) if not fut.done()]


async def parked(store: Store, key: str) -> None:
    """Let the loop run until a wait on `key` is registered with the store: the waiter is then blocked on it."""
    for _ in range(100):
        if pending_waits(store, key):
            return
        await asyncio.sleep(0)
    pytest.fail(f"no wait on {key} registered")


async def test_wait_fresh_waits_for_own_write() -> None:
    store = Store()
    store.upsert(obj("a", rv="5"))
    store.note_written("default/a", "7")
    waiter = asyncio.create_task(store.wait_fresh("default/a", 2.0))
    await parked(store, "default/a")
    assert not waiter.done()
    store.upsert(obj("a", rv="6"))  # notifies synchronously: an older version leaves the wait unsatisfied
    assert len(pending_waits(store, "default/a")) == 1
    await asyncio.sleep(0)
    assert not waiter.done()
    store.upsert(obj("a", rv="7"))
    assert pending_waits(store, "default/a") == []
    assert await asyncio.wait_for(waiter, 1)
    # Satisfied writes are forgotten; an old write never blocks.
    assert await store.wait_fresh("default/a", 0.01)
    store.note_written("default/a", "3")
    assert await store.wait_fresh("default/a", 0.01)


async def test_wait_fresh_times_out_and_accepts_deletion() -> None:
    store = Store()
    store.upsert(obj("a", rv="5"))
    store.note_written("default/a", "9")
    assert not await store.wait_fresh("default/a", 0.02)
    store.note_written("default/a", "9")
    waiter = asyncio.create_task(store.wait_fresh("default/a", 2.0))
    await parked(store, "default/a")
    assert not waiter.done()
    store.delete("default/a")
    assert await asyncio.wait_for(waiter, 1)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["put", "del"]), st.sampled_from("abcdef"), st.sampled_from(["i1", "i2", None])),
        max_size=40,
    )
)
def test_property_index_matches_a_full_scan(ops: list[tuple[str, str, str | None]]) -> None:
    store = Store({"instance": instance_index})
    for i, (op, name, inst) in enumerate(ops):
        if op == "put":
            store.upsert(obj(name, rv=str(i), instance=inst))
        else:
            store.delete(f"default/{name}")
    for value in ("default/i1", "default/i2"):
        expected = sorted(object_key(o) for o in store.list() if value in instance_index(o))
        assert store.index_keys("instance", value) == expected
    assert store.index_keys("namespace", "default") == sorted(store.keys())
