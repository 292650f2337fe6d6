"""Server objects that a role, grant or user names, and whether a resource declares one of them but is not Ready.

`kubectl apply -f dir/` creates a Database, the roles that grant on it and the grants that give those roles to
users in one go, and the server refuses a grant on a database or a membership in a role that does not exist yet.
An object whose spec names a database that a Database resource declares (`spec.name`), or a role that a
DatabaseRole / ClusterDatabaseRole declares (`spec.roleName`), on the same server, therefore waits for it the way a
dependent waits for its instance (behaviour.md 4: Pending, `Ready=False` reason `DependencyNotReady`, woken when
the declaring object becomes Ready, no Warning). A Warning stays for what is really wrong: a name that nothing
declares and the server does not have, or a refusal by the server.

"The same server" is the same instance object, or another instance object with the same host and port: the
samples' ClusterDatabaseRole reaches the sample Database's server through a ClusterDatabaseInstance of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dbops.api.kinds import by_kind
from dbops.controllers.context import resource_of
from dbops.controllers.instances import InstanceTarget, ResolvedInstance, instance_is_ready, same_server
from dbops.controllers.ownership import instance_of
from dbops.controllers.references import ReferencePolicy, check_object_references, checked_gate
from dbops.runtime import KubeClient, Store

__all__ = [
    "DATABASES",
    "NAMES_OF",
    "ROLES",
    "Prerequisite",
    "PrerequisiteGate",
    "declared_name",
    "named_databases",
    "named_roles",
    "waiting_for",
]

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class Prerequisite:
    """One kind of server object a spec can name: which resource kinds declare it, under which spec field, and
    the index (on the naming kinds) that turns "a declaring object became Ready" into wake-ups."""

    noun: str
    declaring_kinds: tuple[str, ...]
    field: str
    index: str


DATABASES = Prerequisite("database", ("Database",), "name", "named-database")
ROLES = Prerequisite("role", ("DatabaseRole", "ClusterDatabaseRole"), "roleName", "named-role")


def _entries(spec: Obj, block: str, field: str) -> Iterable[Any]:
    return ((spec.get(block) or {}).get(field)) or ()


GRANT_ENTRY_LISTS = (
    ("postgres", "grants"),
    ("postgres", "defaultPrivileges"),
    ("mysql", "grants"),
    ("clickhouse", "grants"),
)
"""The spec lists whose entries carry a `database` field."""


def named_databases(obj: Obj) -> list[str]:
    """The database names in the grant entries of a role or grant (sorted, each once); an index function too."""
    spec = obj.get("spec") or {}
    names = {
        str(entry["database"])
        for block, field in GRANT_ENTRY_LISTS
        for entry in _entries(spec, block, field)
        if isinstance(entry, Mapping) and entry.get("database")
    }
    return sorted(names)


def named_roles(obj: Obj) -> list[str]:
    """The role memberships a user, role or grant asks for (`roles`, `postgres.roles`, `mysql.roles`,
    `clickhouse.roles`, `postgres.inRoles`, `postgres.defaultRole`), sorted, each once; an index function too."""
    spec = obj.get("spec") or {}
    names = {str(name) for name in spec.get("roles") or () if name}
    for block in ("postgres", "mysql", "clickhouse"):
        names.update(str(name) for field in ("roles", "inRoles") for name in _entries(spec, block, field) if name)
    if default := (spec.get("postgres") or {}).get("defaultRole"):
        names.add(str(default))
    return sorted(names)


def declared_name(prerequisite: Prerequisite) -> Any:
    """Index value function of a declaring object: the server name it declares (`spec.name` / `spec.roleName`)."""

    def value(obj: Obj) -> list[str]:
        name = (obj.get("spec") or {}).get(prerequisite.field)
        return [str(name)] if name else []

    return value


def waiting_for(
    prerequisite: Prerequisite,
    names: Iterable[str],
    target: InstanceTarget,
    declaring: Mapping[str, Store],
    instances: Store,
    cluster_instances: Store,
) -> str | None:
    """The DependencyNotReady message when an object in `declaring` (the prerequisite's declaring kinds and their
    stores) declares one of `names` on `target`'s server and is not Ready; None when every such object is Ready or
    none declares the name at all (then the server decides)."""
    wanted = set(names)
    if not wanted:
        return None
    for kind, store in declaring.items():
        for obj in store.list():
            spec, meta = obj.get("spec") or {}, obj.get("metadata") or {}
            if spec.get(prerequisite.field) not in wanted or instance_is_ready(obj):
                continue
            key = instance_of(obj)
            if key is None:
                continue
            if same_server(key, target, instances, cluster_instances):
                phase = (obj.get("status") or {}).get("phase") or "Pending"
                where = f"{meta['namespace']}/{meta.get('name')}" if meta.get("namespace") else meta.get("name")
                declared = spec[prerequisite.field]
                return f"Waiting for {kind} {where} ({prerequisite.noun} {declared}): it is {phase}"
    return None


NAMES_OF = {DATABASES.index: named_databases, ROLES.index: named_roles}
"""The index function of each prerequisite, on the kinds that name it."""


class PrerequisiteGate:
    """What an object waits for before it acts, over the operator's informer stores (`store_of` gives a kind's):
    consent to its references (`references`), its instance, and the databases and roles it names."""

    def __init__(
        self,
        store_of: Callable[[str], Store],
        instances: Store,
        cluster_instances: Store,
        references: ReferencePolicy,
    ) -> None:
        self.declaring = {p.index: {kind: store_of(kind) for kind in p.declaring_kinds} for p in (DATABASES, ROLES)}
        self.instances, self.cluster_instances = instances, cluster_instances
        self.references = references

    def gate(self, raw: Obj, target: InstanceTarget) -> tuple[ResolvedInstance | None, str, str]:
        """The reference checks (`ReferenceRefused`), then the instance gate, then the prerequisite check: the Ready
        instance, or None with the waiting message and its Ready reason (`InstanceNotReady`, `DependencyNotReady`)."""
        referrer = (raw.get("metadata") or {}).get("namespace")
        check_object_references(self.references, raw)
        instance, waiting = checked_gate(self.references, referrer, target, self.instances, self.cluster_instances)
        if instance is None:
            return None, waiting, "InstanceNotReady"
        prerequisite = self.waiting(raw, target)
        if prerequisite is not None:
            return None, prerequisite, "DependencyNotReady"
        return instance, "", ""

    async def waiting_now(self, raw: Obj, target: InstanceTarget, client: KubeClient) -> str | None:
        """`waiting`, read from the API server instead of the caches. For a creation the server refused: objects
        applied together (`kubectl apply -f dir/`) reach this process's informers in any order, so the Database or
        role declaring a missing name may exist already while the cache has not seen it; then this is a wait, not a
        failure. Costs a list per declaring kind, and only on that failure path."""
        for prerequisite in (DATABASES, ROLES):
            names = NAMES_OF[prerequisite.index](raw)
            if not names:
                continue
            fresh = {kind: await self._listed(kind, client) for kind in prerequisite.declaring_kinds}
            message = waiting_for(prerequisite, names, target, fresh, self.instances, self.cluster_instances)
            if message is not None:
                return message
        return None

    async def _listed(self, kind: str, client: KubeClient) -> Store:
        info = by_kind(kind)
        resource = resource_of(info)
        scopes: tuple[str | None, ...] = (None,)
        if info.namespaced and self.references.watched:
            scopes = self.references.watched
        store = Store()
        for namespace in scopes:
            items, _ = await client.list_all(resource, namespace)
            for item in items:
                store.upsert({**item, "kind": kind})
        return store

    def waiting(self, raw: Obj, target: InstanceTarget) -> str | None:
        """The first DependencyNotReady message for what `raw` names on `target`'s server, or None."""
        for prerequisite in (DATABASES, ROLES):
            message = waiting_for(
                prerequisite,
                NAMES_OF[prerequisite.index](raw),
                target,
                self.declaring[prerequisite.index],
                self.instances,
                self.cluster_instances,
            )
            if message is not None:
                return message
        return None
