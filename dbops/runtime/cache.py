"""The informer's object store: a keyed cache with indexes, kept compact and copy-on-read.

Objects are stored as compact JSON text, not as parsed dicts. That costs about 12 µs per read (a fresh
``json.loads``) but keeps 10,000 two-kilobyte custom resources in about 20 MB instead of about 85 MB, and every
reader gets its own copy, so a reconciler that mutates what it read can never corrupt the cache (the classic
controller-runtime footgun that requires ``DeepCopy``). ``managedFields`` are stripped before storing.

Indexes map an index value to the set of keys whose object produced it. ``namespace`` always exists; custom index
functions (``"objects whose spec.instanceRef points at X"``) are registered with :meth:`Store.add_indexer`, and
:meth:`Store.index_keys` answers "who depends on X" without scanning.

Task safety: every method is synchronous (no ``await`` inside), so each call is atomic with respect to other asyncio
tasks; only :meth:`Store.wait_fresh` and :meth:`Store.wait_for` suspend. The store is not meant to be used from other
threads.

Read-after-write (``runtime.md`` 5.3): :meth:`Store.note_written` records the resourceVersion the operator itself just
wrote, and :meth:`Store.wait_fresh` waits (bounded) until the watch has delivered it, so a reconcile never acts on its
own pre-write state.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

Obj = dict[str, Any]
Keys = list[str]
Objs = list[Obj]
IndexFunc = Callable[[Obj], Iterable[str]]

NAMESPACE_INDEX = "namespace"
_CLUSTER = ""  # namespace index value of cluster-scoped objects

_dumps = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
_loads = json.loads


def object_key(obj: Mapping[str, Any]) -> str:
    """``namespace/name`` for namespaced objects, ``name`` for cluster-scoped ones (the work-queue key)."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    name = meta.get("name", "")
    return f"{ns}/{name}" if ns else str(name)


def make_key(namespace: str | None, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


def split_key(key: str) -> tuple[str | None, str]:
    """The inverse of :func:`object_key`: ``(namespace or None, name)``."""
    ns, sep, name = key.partition("/")
    return (ns, name) if sep else (None, key)


def strip_managed_fields(obj: Obj) -> Obj:
    """Drop ``metadata.managedFields`` in place (they are often larger than the object and nobody reads them)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return obj


def resource_version_newer_or_equal(current: str | None, target: str) -> bool:
    """Whether ``current`` is at least ``target``.

    resourceVersions are formally opaque, but every apiserver backed by etcd uses the etcd revision, an integer that
    only grows; the comparison falls back to equality for anything that is not an integer.
    """
    if current is None:
        return False
    if current.isdigit() and target.isdigit():
        return int(current) >= int(target)
    return current == target


class _Item:
    __slots__ = ("data", "generation", "indexed", "rv")

    def __init__(self, rv: str, data: str, indexed: tuple[tuple[str, ...], ...], generation: int | None) -> None:
        self.rv = rv
        self.data = data
        self.indexed = indexed  # values per custom indexer, in registration order
        self.generation = generation  # for log lines, without parsing the object


class Store:
    """See the module docstring."""

    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None) -> None:
        self._items: dict[str, _Item] = {}
        self._by_namespace: dict[str, set[str]] = {}
        self._indexer_names: list[str] = []
        self._indexer_funcs: list[IndexFunc] = []
        self._indices: list[dict[str, set[str]]] = []
        self._written: dict[str, str] = {}
        self._waiters: dict[str, list[tuple[Callable[[str | None], bool], asyncio.Future[None]]]] = {}
        for name, fn in (indexers or {}).items():
            self.add_indexer(name, fn)

    # ------------------------------------------------------------------------------------------------ reads

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def keys(self) -> Keys:
        return list(self._items)

    def get(self, key: str) -> Obj | None:
        """A fresh copy of the object stored under ``key``, or ``None``."""
        item = self._items.get(key)
        return None if item is None else _loads(item.data)

    def get_by_name(self, namespace: str | None, name: str) -> Obj | None:
        return self.get(make_key(namespace, name))

    def resource_version(self, key: str) -> str | None:
        item = self._items.get(key)
        return None if item is None else item.rv

    def generation(self, key: str) -> int | None:
        item = self._items.get(key)
        return None if item is None else item.generation

    def list(self, namespace: str | None = None) -> Objs:
        """Copies of all objects, or of those in ``namespace``."""
        if namespace is None:
            return [_loads(item.data) for item in self._items.values()]
        return [_loads(self._items[k].data) for k in sorted(self._by_namespace.get(namespace, ()))]

    def list_keys(self, namespace: str | None = None) -> Keys:
        if namespace is None:
            return list(self._items)
        return sorted(self._by_namespace.get(namespace, ()))

    def index_keys(self, index: str, value: str) -> Keys:
        """Keys of the objects whose ``index`` function produced ``value`` (sorted, for determinism)."""
        if index == NAMESPACE_INDEX:
            return sorted(self._by_namespace.get(value, ()))
        try:
            pos = self._indexer_names.index(index)
        except ValueError:
            raise KeyError(f"no index named {index!r}") from None
        return sorted(self._indices[pos].get(value, ()))

    def by_index(self, index: str, value: str) -> Objs:
        """Copies of the objects whose ``index`` function produced ``value``."""
        return [obj for k in self.index_keys(index, value) if (obj := self.get(k)) is not None]

    def index_values(self, index: str) -> Keys:
        """All values currently present in ``index``."""
        if index == NAMESPACE_INDEX:
            return sorted(self._by_namespace)
        return sorted(self._indices[self._indexer_names.index(index)])

    def items_raw(self) -> Iterator[tuple[str, str, str]]:
        """``(key, resourceVersion, json text)`` for every object; cheap iteration for diffing and benchmarks."""
        for key, item in self._items.items():
            yield key, item.rv, item.data

    @staticmethod
    def decode(data: str) -> Obj:
        return _loads(data)  # type: ignore[no-any-return]

    # -------------------------------------------------------------------------------------------- indexers

    def add_indexer(self, name: str, fn: IndexFunc) -> None:
        """Register an index function; existing objects are indexed at once."""
        if name == NAMESPACE_INDEX or name in self._indexer_names:
            raise ValueError(f"index {name!r} already exists")
        self._indexer_names.append(name)
        self._indexer_funcs.append(fn)
        index: dict[str, set[str]] = {}
        self._indices.append(index)
        for key, item in self._items.items():
            values = self._index_values(fn, _loads(item.data))
            item.indexed = (*item.indexed, values)
            for v in values:
                index.setdefault(v, set()).add(key)

    @property
    def indexer_names(self) -> Keys:
        return [NAMESPACE_INDEX, *self._indexer_names]

    @staticmethod
    def _index_values(fn: IndexFunc, obj: Obj) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v for v in fn(obj) if v))

    # ------------------------------------------------------------------------------------------- mutation

    def upsert(self, obj: Obj) -> tuple[str, _Item | None]:
        """Store ``obj`` (managedFields stripped, in place); returns ``(key, previous item or None)``."""
        strip_managed_fields(obj)
        key = object_key(obj)
        meta = obj.get("metadata") or {}
        rv = str(meta.get("resourceVersion", ""))
        indexed = tuple(self._index_values(fn, obj) for fn in self._indexer_funcs)
        old = self._items.get(key)
        self._items[key] = _Item(rv, _dumps(obj), indexed, meta.get("generation"))
        if old is None:
            self._by_namespace.setdefault(meta.get("namespace") or _CLUSTER, set()).add(key)
        self._reindex(key, old.indexed if old is not None else None, indexed)
        self._notify(key, rv)
        return key, old

    def delete(self, key: str) -> _Item | None:
        """Remove ``key``; returns the removed item (its last known state) or ``None``."""
        old = self._items.pop(key, None)
        if old is None:
            self._notify(key, None)
            return None
        ns = split_key(key)[0] or _CLUSTER
        bucket = self._by_namespace.get(ns)
        if bucket is not None:
            bucket.discard(key)
            if not bucket:
                del self._by_namespace[ns]
        self._reindex(key, old.indexed, None)
        self._notify(key, None)
        return old

    def _reindex(
        self, key: str, old: tuple[tuple[str, ...], ...] | None, new: tuple[tuple[str, ...], ...] | None
    ) -> None:
        if old == new:
            return
        for pos, index in enumerate(self._indices):
            before = old[pos] if old is not None else ()
            after = new[pos] if new is not None else ()
            if before == after:
                continue
            for v in before:
                if v not in after:
                    bucket = index.get(v)
                    if bucket is not None:
                        bucket.discard(key)
                        if not bucket:
                            del index[v]
            for v in after:
                index.setdefault(v, set()).add(key)

    # -------------------------------------------------------------------------------- read-after-write waits

    def note_written(self, key: str, resource_version: str) -> None:
        """Record that the operator wrote ``key`` at ``resource_version`` (see :meth:`wait_fresh`)."""
        if resource_version and not resource_version_newer_or_equal(self.resource_version(key), resource_version):
            prev = self._written.get(key)
            if prev is None or resource_version_newer_or_equal(resource_version, prev):
                self._written[key] = resource_version

    async def wait_fresh(self, key: str, max_wait: float = 5.0) -> bool:
        """Wait until the cache holds at least the operator's own last write of ``key`` (or the object is gone).

        Returns ``False`` when ``max_wait`` passed first; the caller proceeds anyway (bounded staleness).
        """
        target = self._written.get(key)
        if target is None:
            return True
        ok = await self.wait_for(key, lambda rv: rv is None or resource_version_newer_or_equal(rv, target), max_wait)
        if self._written.get(key) == target:
            del self._written[key]
        return ok

    async def wait_for(self, key: str, predicate: Callable[[str | None], bool], max_wait: float) -> bool:
        """Wait until ``predicate(resourceVersion or None)`` holds for ``key``; ``False`` after ``max_wait`` s."""
        if predicate(self.resource_version(key)):
            return True
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (predicate, fut)
        self._waiters.setdefault(key, []).append(entry)
        try:
            await asyncio.wait_for(fut, max_wait)
            return True
        except TimeoutError:
            return False
        finally:
            waiters = self._waiters.get(key)
            if waiters is not None:
                if entry in waiters:
                    waiters.remove(entry)
                if not waiters:
                    del self._waiters[key]

    def _notify(self, key: str, rv: str | None) -> None:
        waiters = self._waiters.get(key)
        if not waiters:
            return
        for predicate, fut in waiters:
            if not fut.done() and predicate(rv):
                fut.set_result(None)
