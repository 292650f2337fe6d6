"""Own writes: a predicate that drops the watch event a controller's own write of a secondary object produces.

A controller that creates or patches a secondary object (a DatabaseUser writing its credentials Secret) and also
watches that object (to notice when someone deletes or edits it) would otherwise wake itself once for every write it
makes: a full reconcile, with its database round trips, to learn what it already knew.

The controller announces each write *before* sending it (`expect`, with the object as it will be stored); the
predicate then rejects the first add/update event whose content fingerprint matches. Matching on content rather than
on the resourceVersion the write returns matters: the watch event can be handled before the write's response is, and
an event that shows exactly the content the controller just wrote needs no reconcile whoever caused it. Deletions
and any other content pass, and each expectation is used once, so only genuinely redundant wake-ups are dropped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from dbops.runtime.cache import object_key
from dbops.runtime.informer import DELETED, Event

Obj = Mapping[str, Any]
Fingerprint = Callable[[Obj], str]


def data_fingerprint(obj: Obj) -> str:
    """`type` and `data` of a Secret or ConfigMap, which is what a controller writing one cares about."""
    payload = json.dumps([obj.get("type"), obj.get("data") or {}], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


class OwnWrites:
    """Pending expectations of the form "the next event for key K shows content F", one per object."""

    def __init__(self, fingerprint: Fingerprint = data_fingerprint) -> None:
        self._fingerprint = fingerprint
        self._expected: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._expected)

    def expect(self, obj: Obj) -> None:
        """Announce a write of `obj` (name, namespace and the content it will have once stored)."""
        self._expected[object_key(obj)] = self._fingerprint(obj)

    def forget(self, obj: Obj) -> None:
        """The announced write failed: nothing to swallow."""
        self._expected.pop(object_key(obj), None)

    def not_own_write(self, event: Event) -> bool:
        """Predicate: False only for the first add/update event showing the content announced for that object."""
        key = event.key
        if event.type == DELETED:
            self._expected.pop(key, None)
            return True
        expected = self._expected.get(key)
        if expected is not None and expected == self._fingerprint(event.obj):
            del self._expected[key]
            return False
        return True
