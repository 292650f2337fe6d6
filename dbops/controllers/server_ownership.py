"""Whether a database, account or role on the server is this resource's to take over, change or drop.

The spec takes over a same-named server object (behaviour.md 7.3, 8.3, 9) and drops it at deletion with policy
Delete. Unchecked, that lets one resource — possibly in another tenant's namespace, through an instance that
consents to both — take over and then drop what another resource manages. Three records decide, before any ALTER
or DROP:

* **our own record**: `status.<block>.createdAt` says this resource created or took over the object. A resource
  without it never touched the server object, so its deletion drops nothing (it did not make what is there).
* **the other resources' records**: another resource that declares the same server name on the same server and
  holds the object (its own `createdAt`) owns it; taking it over is refused with `OwnershipConflict` (an addition:
  this protects tenants also on instances without `resourceTracking`), and a deletion leaves it alone.
* **the tracking marker** (api.md 5.7): with `spec.resourceTracking` on the instance, the object carries a text
  naming its resource; a marker naming another resource refuses the take-over (`OwnershipConflict`, api.md row 15)
  and keeps the object at deletion. The marker is written on creation, take-over and spec change, and removed when
  the resource is deleted with the object retained.

A marker is recognised by the instance's `commentFormat`: the format is rendered with placeholders and turned into
a pattern, so a text in that format naming another Kind, namespace, name or UID is another resource's marker, while
a comment a person wrote is not a marker at all (and is replaced by ours on take-over).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from dbops.api.common import DEFAULT_COMMENT_FORMAT
from dbops.controllers.instances import InstanceTarget, ResolvedInstance, same_server
from dbops.controllers.ownership import instance_of
from dbops.controllers.refusal import Refused
from dbops.engines.errors import InvalidSpec
from dbops.engines.tracking import ResourceType, tracking_support
from dbops.runtime import Store
from dbops.secrets.template import TemplateError, render_template

__all__ = [
    "ACCOUNTS",
    "DATABASES",
    "OPERATOR",
    "ROLES",
    "Marker",
    "OwnershipConflict",
    "ServerObjects",
    "ServerOwnership",
    "marker_pattern",
]

Obj = Mapping[str, Any]

OPERATOR: Final = "db-provision-operator"
"""The `.Operator` variable of a tracking text."""

FORMAT_FIELD: Final = "resourceTracking.commentFormat"
_IDENTITY: Final = ("Kind", "Namespace", "Name", "UID")
_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use characters: placeholders no real name contains


class OwnershipConflict(Refused):
    """The server object belongs to another resource: taking it over is refused (behaviour.md 7.3)."""

    released_because = "its server object belongs to another resource"

    def __init__(self, message: str) -> None:
        super().__init__("OwnershipConflict", message)


@dataclass(frozen=True)
class ServerObjects:
    """One sort of server object: the resource kinds that declare it, by which spec field, and the status block
    whose `createdAt` records that a resource created or took over its object."""

    resource_type: ResourceType
    kinds: tuple[str, ...]
    field: str
    record: str
    noun: str


DATABASES = ServerObjects("Database", ("Database",), "name", "database", "database")
ACCOUNTS = ServerObjects("DatabaseUser", ("DatabaseUser",), "username", "user", "account")
ROLES = ServerObjects("DatabaseRole", ("DatabaseRole", "ClusterDatabaseRole"), "roleName", "role", "role")


def marker_pattern(comment_format: str) -> re.Pattern[str] | None:
    """A pattern matching every text the format renders, capturing Kind, Namespace, Name and UID; None when the
    format cannot be rendered or transforms the variables (then only an exact match of our text is recognised)."""
    placeholders = {name: f"{_OPEN}{name}{_CLOSE}" for name in _IDENTITY}
    try:
        probe = render_template(FORMAT_FIELD, comment_format, {"Operator": OPERATOR, **placeholders})
    except TemplateError:
        return None
    regex, seen = "", set()
    for part in re.split(f"({_OPEN}\\w+{_CLOSE})", probe):
        found = re.fullmatch(f"{_OPEN}(\\w+){_CLOSE}", part)
        if found is not None and found.group(1) not in _IDENTITY:
            return None  # a function changed the placeholder (`upper`): the values cannot be read back
        if found is None:
            if _OPEN in part or _CLOSE in part:
                return None
            regex += re.escape(part)
        elif (name := found.group(1)) in seen:
            regex += f"(?P={name})"
        else:
            seen.add(name)
            regex += f"(?P<{name}>.*?)"
    return re.compile(regex, re.DOTALL) if seen else None


@dataclass(frozen=True)
class Marker:
    """The tracking text of one resource, and how to tell another resource's marker from ours."""

    text: str
    identity: Mapping[str, str]
    pattern: re.Pattern[str] | None

    def names_other(self, found: str | None) -> str | None:
        """The resource another marker names ("Database team-b/orders"), or None: no text, ours, or not a marker."""
        if not found or found == self.text or self.pattern is None:
            return None
        match = self.pattern.fullmatch(found)
        if match is None:
            return None
        named = match.groupdict()
        if all(named[key] == self.identity[key] for key in named):
            return None
        kind = named.get("Kind") or "resource"
        namespace, name = named.get("Namespace"), named.get("Name")
        who = f"{namespace}/{name}" if namespace and name is not None else (name or "")
        uid = f" (uid {named['UID']})" if named.get("UID") and named.get("UID") != self.identity["UID"] else ""
        return f"{kind} {who}{uid}".strip()


def marker_for(instance: ResolvedInstance, raw: Obj) -> Marker | None:
    """This resource's marker on `instance`, or None when nothing is tracked there. A ClusterDatabaseRole's
    `managedResourceComment` is written even without `resourceTracking` and replaces the rendered text."""
    tracking = instance.spec.resource_tracking
    enabled = tracking is not None and tracking.enabled
    comment_format = tracking.comment_format if tracking is not None else DEFAULT_COMMENT_FORMAT
    override = (raw.get("spec") or {}).get("managedResourceComment")
    if not enabled and not override:
        return None
    meta = raw.get("metadata") or {}
    identity = {
        "Kind": str(raw.get("kind") or ""),
        "Namespace": str(meta.get("namespace") or ""),
        "Name": str(meta.get("name") or ""),
        "UID": str(meta.get("uid") or ""),
    }
    if override:
        text = str(override)
    else:
        try:
            text = render_template(FORMAT_FIELD, comment_format, {"Operator": OPERATOR, **identity})
        except TemplateError as error:
            where = f"{instance.target.key.kind} {instance.name} spec.{FORMAT_FIELD}"
            raise InvalidSpec(where, str(error)) from None
    return Marker(text, identity, marker_pattern(comment_format))


def _where(raw: Obj) -> str:
    meta = raw.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{raw.get('kind')} {namespace}/{meta.get('name')}" if namespace else f"{raw.get('kind')} {meta.get('name')}"


class ServerOwnership:
    """The three records of the module docstring for one sort of server object, over the informer stores."""

    def __init__(
        self, objects: ServerObjects, store_of: Callable[[str], Store], instances: Store, cluster_instances: Store
    ) -> None:
        self.objects = objects
        self.declaring = [store_of(kind) for kind in objects.kinds]
        self.instances, self.cluster_instances = instances, cluster_instances

    def recorded(self, raw: Obj) -> bool:
        """Whether this resource created or took over its server object (our own record)."""
        return bool(((raw.get("status") or {}).get(self.objects.record) or {}).get("createdAt"))

    def holder(self, raw: Obj, target: InstanceTarget) -> str | None:
        """Another resource holding the same server object on the same server ("Database team-b/orders")."""
        name = (raw.get("spec") or {}).get(self.objects.field)
        uid = (raw.get("metadata") or {}).get("uid")
        for store in self.declaring:
            for other in store.list():
                if (other.get("metadata") or {}).get("uid") == uid or (other.get("spec") or {}).get(
                    self.objects.field
                ) != name:
                    continue
                key = instance_of(other)
                if key is None or not self.recorded(other):
                    continue
                if same_server(key, target, self.instances, self.cluster_instances):
                    return _where(other)
        return None

    def text(self, raw: Obj, instance: ResolvedInstance) -> str | None:
        """The marker a creation writes with the object, or None when nothing is tracked."""
        marker = marker_for(instance, raw)
        return marker.text if marker is not None else None

    async def claim(self, adapter: object, raw: Obj, instance: ResolvedInstance) -> None:
        """Before taking over an existing object: `OwnershipConflict` when another resource holds it or its marker
        names another resource; otherwise our marker is written (when tracking is on)."""
        name = str((raw.get("spec") or {}).get(self.objects.field))
        noun = self.objects.noun
        if (holder := self.holder(raw, instance.target)) is not None:
            raise OwnershipConflict(f"{noun} {name} on instance {instance.name} is managed by {holder}")
        marker, tracker = marker_for(instance, raw), tracking_support(adapter)
        if marker is None or tracker is None:
            return
        found = await tracker.read_tracking(self.objects.resource_type, name)
        if (other := marker.names_other(found)) is not None:
            raise OwnershipConflict(f"{noun} {name} on instance {instance.name}: its tracking marker names {other}")
        if found != marker.text:
            await tracker.write_tracking(self.objects.resource_type, name, marker.text)

    async def mark(self, adapter: object, raw: Obj, instance: ResolvedInstance) -> None:
        """After a creation or a spec change: our marker, when tracking is on and the text differs."""
        marker, tracker = marker_for(instance, raw), tracking_support(adapter)
        if marker is None or tracker is None:
            return
        name = str((raw.get("spec") or {}).get(self.objects.field))
        if await tracker.read_tracking(self.objects.resource_type, name) != marker.text:
            await tracker.write_tracking(self.objects.resource_type, name, marker.text)

    async def not_ours(self, adapter: object, raw: Obj, instance: ResolvedInstance) -> str | None:
        """At deletion with policy Delete: why the object must be kept (no record of ours, another holder, a marker
        naming another resource), or None when dropping it is ours to do."""
        name = str((raw.get("spec") or {}).get(self.objects.field))
        if not self.recorded(raw):
            return f"this {raw.get('kind')} never created or took over {self.objects.noun} {name}"
        if (holder := self.holder(raw, instance.target)) is not None:
            return f"{self.objects.noun} {name} is also managed by {holder}"
        marker, tracker = marker_for(instance, raw), tracking_support(adapter)
        if marker is not None and tracker is not None:
            other = marker.names_other(await tracker.read_tracking(self.objects.resource_type, name))
            if other is not None:
                return f"its tracking marker names {other}"
        return None

    async def unmark(self, adapter: object, raw: Obj, instance: ResolvedInstance) -> None:
        """Deleted with the object retained: remove the marker when it is ours (api.md 5.7)."""
        marker, tracker = marker_for(instance, raw), tracking_support(adapter)
        if marker is None or tracker is None or not self.recorded(raw):
            return
        name = str((raw.get("spec") or {}).get(self.objects.field))
        if await tracker.read_tracking(self.objects.resource_type, name) == marker.text:
            await tracker.remove_tracking(self.objects.resource_type, name)
