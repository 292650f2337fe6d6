"""List-and-watch informers (``runtime.md`` 5.2): keep a :class:`~dbops.runtime.cache.Store` in step with the API
server and tell handlers what changed.

Protocol per watched scope (cluster-wide, or one namespace of ``--watch-namespaces``):

1. LIST in pages of 500 (consistent reads); the items go into the store page by page so that peak memory stays at
   one page; the list's resourceVersion is remembered.
2. WATCH from there with bookmarks and a random server timeout in ``[server_timeout, 2 * server_timeout]``; every
   event, bookmarks included, advances the remembered resourceVersion.
3. A normal end of the stream re-watches at once from the remembered version; a stream silent for
   ``inactivity_timeout`` (nothing, not even a bookmark) is a stalled half-open connection: close and re-watch.
4. 410 Gone (on the request or as an ``ERROR`` event): relist and diff against the store — objects missing from
   the new list get a synthetic DELETED with their last known state, new ones ADDED, changed ones (different
   resourceVersion) MODIFIED, unchanged ones nothing. No change is lost and none is reported twice.
5. Other failures: reconnect after a capped exponential backoff (0.8 s doubling to 30 s, with jitter), reset after two
   minutes of healthy watching; a 429 waits at least its Retry-After.

An event whose resourceVersion equals the cached one is dropped, so a replayed event after a reconnect is never
delivered twice. Handlers are plain synchronous callables (they map an event to work-queue keys); they must not
mutate the event's objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dbops.runtime.cache import IndexFunc, Keys, Obj, Store, object_key, split_key, strip_managed_fields
from dbops.runtime.client import ApiError, Gone, KubeClient, Resource, TooManyRequests
from dbops.runtime.log import get_logger

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"


@dataclass(frozen=True, slots=True)
class Event:
    """One change seen by an informer.

    ``old`` is the previous cached state for MODIFIED (and the last known state for DELETED); ``initial`` marks adds
    from the informer's first list (their keys go to the queue with low priority); ``synthetic`` marks changes
    derived from a relist diff rather than from the watch stream.
    """

    type: str
    obj: Obj
    old: Obj | None = None
    resource: Resource | None = None
    initial: bool = False
    synthetic: bool = False

    @property
    def key(self) -> str:
        return object_key(self.obj)


Handler = Callable[[Event], None]


class Backoff:
    """Capped exponential backoff with jitter (``base`` doubling up to ``cap``)."""

    def __init__(self, base: float = 0.8, cap: float = 30.0, jitter: float = 0.2) -> None:
        self.base = base
        self.cap = cap
        self.jitter = jitter
        self.attempt = 0

    def next(self) -> float:
        delay = min(self.cap, self.base * (2.0 ** min(self.attempt, 32)))
        self.attempt += 1
        return delay * (1.0 + random.uniform(-self.jitter, self.jitter))

    def reset(self) -> None:
        self.attempt = 0


@dataclass
class _Scope:
    namespace: str | None
    last_rv: str | None = None
    synced: bool = False
    relisting: bool = False
    failing_since: float | None = None
    backoff: Backoff = field(default_factory=Backoff)


class Informer:
    """Lists and watches one resource type (optionally per namespace, label-selected, or metadata-only)."""

    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        *,
        namespaces: Sequence[str] | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        metadata_only: bool = False,
        indexers: Mapping[str, IndexFunc] | None = None,
        page_size: int = 500,
        server_timeout: float = 300.0,
        inactivity_timeout: float = 70.0,
        backoff_base: float = 0.8,
        backoff_cap: float = 30.0,
        healthy_reset: float = 120.0,
        store: Store | None = None,
    ) -> None:
        self.client = client
        self.resource = resource
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.metadata_only = metadata_only
        self.page_size = page_size
        self.server_timeout = server_timeout
        self.inactivity_timeout = inactivity_timeout
        self.healthy_reset = healthy_reset
        self.store = store if store is not None else Store(indexers)
        if store is not None and indexers:
            for name, fn in indexers.items():
                self.store.add_indexer(name, fn)
        scopes: list[str | None] = list(namespaces) if (namespaces and resource.namespaced) else [None]
        self._scopes = [_Scope(ns, backoff=Backoff(backoff_base, backoff_cap)) for ns in scopes]
        self._handlers: list[Handler] = []
        self._synced = asyncio.Event()
        suffix = ("-metadata" if metadata_only else "") + (f"[{label_selector}]" if label_selector else "")
        self.name = f"{resource.kind.lower()}{suffix}"
        self.log = get_logger(f"informer.{self.name}")
        self.stats = {"lists": 0, "watches": 0, "relists": 0, "stalls": 0, "events": 0}

    # ------------------------------------------------------------------------------------------- public API

    def add_handler(self, handler: Handler) -> None:
        """Register a handler; objects already cached are *not* replayed (register before :meth:`run`)."""
        self._handlers.append(handler)

    def add_indexer(self, name: str, fn: IndexFunc) -> None:
        self.store.add_indexer(name, fn)

    @property
    def has_synced(self) -> bool:
        """True once every scope has completed its first full list."""
        return all(s.synced for s in self._scopes)

    @property
    def ready(self) -> bool:
        """Synced and not relisting after a watch expiry (the ``/readyz`` condition)."""
        return self.has_synced and not any(s.relisting for s in self._scopes)

    async def wait_synced(self, max_wait: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._synced.wait(), max_wait)
        except TimeoutError:
            return False
        return True

    def failing_for(self) -> float:
        """Seconds the longest-failing scope has been failing continuously (0 when all are healthy)."""
        now = time.monotonic()
        return max((now - s.failing_since for s in self._scopes if s.failing_since is not None), default=0.0)

    @property
    def last_resource_version(self) -> str | None:
        return self._scopes[0].last_rv if len(self._scopes) == 1 else None

    async def run(self) -> None:
        """Run until cancelled. May be called again after cancellation: it resumes from the last resourceVersion."""
        if len(self._scopes) == 1:
            await self._run_scope(self._scopes[0])
            return
        async with asyncio.TaskGroup() as tg:
            for scope in self._scopes:
                tg.create_task(self._run_scope(scope))

    # ------------------------------------------------------------------------------------------- internals

    def _dispatch(self, event: Event) -> None:
        self.stats["events"] += 1
        for handler in self._handlers:
            try:
                handler(event)
            except Exception:
                self.log.exception("event handler failed", type=event.type, key=event.key)

    async def _run_scope(self, scope: _Scope) -> None:
        need_list = scope.last_rv is None
        while True:
            started = time.monotonic()
            delivered = 0
            try:
                if need_list:
                    scope.relisting = scope.synced
                    await self._list(scope)
                    need_list = False
                    scope.relisting = False
                    scope.failing_since = None
                delivered = await self._watch(scope)
                scope.failing_since = None
                if time.monotonic() - started >= self.healthy_reset:
                    scope.backoff.reset()
                if delivered == 0 and time.monotonic() - started < 1.0:
                    # A watch the server ends immediately, again and again, must not become a hot loop.
                    await asyncio.sleep(scope.backoff.next())
            except Gone as exc:
                self.stats["relists"] += 1
                self.log.info("watch expired; relisting", namespace=scope.namespace, error=str(exc))
                need_list = True
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                now = time.monotonic()
                if now - started >= self.healthy_reset:
                    scope.backoff.reset()
                if scope.failing_since is None:
                    scope.failing_since = now
                if isinstance(exc, TimeoutError):
                    self.stats["stalls"] += 1
                delay = scope.backoff.next()
                if isinstance(exc, TooManyRequests) and exc.retry_after:
                    delay = max(delay, float(exc.retry_after))
                level = "warning" if isinstance(exc, ApiError | TimeoutError) else "error"
                getattr(self.log, level)(
                    "list/watch failed; retrying",
                    namespace=scope.namespace,
                    error=f"{type(exc).__name__}: {exc}",
                    retry_in=round(delay, 2),
                )
                await asyncio.sleep(delay)

    async def _list(self, scope: _Scope) -> None:
        """Paged list applied page by page, then a diff for everything that vanished."""
        self.stats["lists"] += 1
        initial = not scope.synced
        seen: set[str] = set()
        token: str | None = None
        rv = ""
        while True:
            page = await self.client.list(
                self.resource,
                scope.namespace,
                label_selector=self.label_selector,
                field_selector=self.field_selector,
                limit=self.page_size,
                continue_token=token,
                metadata_only=self.metadata_only,
            )
            for obj in page.get("items") or []:
                self._fill_type(obj)
                seen.add(self._apply_listed(obj, initial))
            meta = page.get("metadata") or {}
            rv = meta.get("resourceVersion") or rv
            token = meta.get("continue")
            del page
            if not token:
                break
        for key in self._scope_keys(scope):
            if key not in seen:
                old = self.store.delete(key)
                if old is not None:
                    self._dispatch(Event(DELETED, self.store.decode(old.data), None, self.resource, synthetic=True))
        scope.last_rv = rv
        if not scope.synced:
            scope.synced = True
            if self.has_synced:
                self._synced.set()
                self.log.info("informer synced", objects=len(self.store))

    def _scope_keys(self, scope: _Scope) -> Keys:
        if scope.namespace is None:
            return self.store.keys()
        return [k for k in self.store.list_keys(scope.namespace) if split_key(k)[0] == scope.namespace]

    def _fill_type(self, obj: Obj) -> None:
        # List items carry no apiVersion/kind; handlers and recorders need them.
        if "kind" not in obj or "apiVersion" not in obj:
            if self.metadata_only:
                obj.setdefault("apiVersion", "meta.k8s.io/v1")
                obj.setdefault("kind", "PartialObjectMetadata")
            else:
                obj.setdefault("apiVersion", self.resource.api_version)
                obj.setdefault("kind", self.resource.kind)

    def _apply_listed(self, obj: Obj, initial: bool) -> str:
        strip_managed_fields(obj)
        key = object_key(obj)
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        cached_rv = self.store.resource_version(key)
        if cached_rv is not None and cached_rv == rv:
            return key
        _, old = self.store.upsert(obj)
        if old is None:
            self._dispatch(Event(ADDED, obj, None, self.resource, initial=initial, synthetic=not initial))
        else:
            self._dispatch(Event(MODIFIED, obj, self.store.decode(old.data), self.resource, synthetic=True))
        return key

    async def _watch(self, scope: _Scope) -> int:
        """One watch request; returns how many events (bookmarks included) it delivered."""
        self.stats["watches"] += 1
        timeout = int(random.uniform(self.server_timeout, 2 * self.server_timeout))
        delivered = 0
        stream = self.client.watch(
            self.resource,
            scope.namespace,
            resource_version=scope.last_rv,
            timeout_seconds=max(1, timeout),
            inactivity_timeout=self.inactivity_timeout,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            metadata_only=self.metadata_only,
        )
        async with contextlib.aclosing(stream):
            async for raw in stream:
                delivered += 1
                if delivered == 1:
                    scope.failing_since = None  # the stream works (bookmarks arrive at least every minute)
                self._handle_watch_event(scope, raw)
        return delivered

    def _handle_watch_event(self, scope: _Scope, raw: Mapping[str, Any]) -> None:
        etype = raw.get("type")
        obj: Obj = raw.get("object") or {}
        if etype == "ERROR":
            code = int(obj.get("code") or 0)
            if code == 410 or obj.get("reason") in ("Expired", "Gone"):
                raise Gone(410, str(obj.get("reason") or "Expired"), str(obj.get("message") or ""), obj)
            raise ApiError(code, str(obj.get("reason") or ""), str(obj.get("message") or ""), obj)
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if etype == "BOOKMARK":
            if rv:
                scope.last_rv = rv
            return
        self._fill_type(obj)
        strip_managed_fields(obj)
        key = object_key(obj)
        if etype in (ADDED, MODIFIED):
            if self.store.resource_version(key) == rv:
                scope.last_rv = rv or scope.last_rv
                return
            _, old = self.store.upsert(obj)
            if old is None:
                self._dispatch(Event(ADDED, obj, None, self.resource))
            else:
                self._dispatch(Event(MODIFIED, obj, self.store.decode(old.data), self.resource))
        elif etype == DELETED:
            old = self.store.delete(key)
            if old is not None:
                self._dispatch(Event(DELETED, obj, self.store.decode(old.data), self.resource))
        if rv:
            scope.last_rv = rv
