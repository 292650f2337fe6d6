"""Cross-namespace references need the referenced side's consent (behaviour.md 13).

RBAC on the custom resources decides who may create a Database or a DatabaseUser, but not what it *references*: an
`instanceRef` into another namespace would create accounts with that instance's admin credentials, and a
`secretNamespace` or `existingPasswordSecret` would make the operator read or write any namespace's Secret with its
own rights. So the referenced side consents, as with Gateway API's ReferenceGrant:

* a namespaced DatabaseInstance lists the other namespaces that may use it in `spec.allowedNamespaces` (or `*`);
  a ClusterDatabaseInstance is meant for sharing;
* a Secret or ConfigMap in another namespace is used only when that namespace carries the annotation
  `dbops.dbprovision.io/allow-references-from` listing the referencing namespace (comma-separated, or `*`);
* a cluster-scoped object (made by a cluster administrator) may reference any namespace;
* `--cross-namespace-references=allow` restores the upstream behaviour for a migration;
* with `--watch-namespaces`, a reference into a namespace outside the list is `InvalidSpec` (the operator cannot
  see it).

A refused reference raises `ReferenceRefused` before anything is created, read or deleted; the base reconciler
turns it into `Ready=False` with its reason and one `ReconcileFailed` Warning (`base.KindReconciler`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dbops.controllers import annotations as ann
from dbops.controllers.instances import CLUSTER_INSTANCE, InstanceTarget, ResolvedInstance, gate, lookup
from dbops.controllers.refusal import Refused
from dbops.engines.errors import InvalidSpec
from dbops.runtime import Store

__all__ = [
    "ALLOW_REFERENCES_FROM",
    "OBJECT_REFERENCES",
    "ReferencePolicy",
    "ReferenceRefused",
    "check_object_references",
    "checked_gate",
    "instance_consents",
    "namespace_consents",
    "referenced_namespaces",
    "refuse_admin_account",
]

ALLOW_REFERENCES_FROM = ann.PREFIX + "allow-references-from"
MODES = ("consent", "allow")

Obj = Mapping[str, Any]


class ReferenceRefused(Refused):
    """A reference this operator may not follow; `reason` is the Ready reason (permanent until a change)."""

    released_because = "it is behind a refused reference"


def _listed(values: Any, namespace: str) -> bool:
    return any(value == "*" or value == namespace for value in values or ())


def instance_consents(instance: Obj | None, namespace: str) -> bool:
    """Whether a namespaced DatabaseInstance lets objects of `namespace` use it (its own, or listed)."""
    meta = (instance or {}).get("metadata") or {}
    if meta.get("namespace") == namespace:
        return True
    return _listed(((instance or {}).get("spec") or {}).get("allowedNamespaces"), namespace)


def namespace_consents(namespace_object: Obj | None, referrer: str) -> bool:
    """Whether a Namespace's `allow-references-from` annotation lists `referrer` (or `*`)."""
    annotations = ((namespace_object or {}).get("metadata") or {}).get("annotations") or {}
    listed = [part.strip() for part in str(annotations.get(ALLOW_REFERENCES_FROM) or "").split(",")]
    return _listed([part for part in listed if part], referrer)


@dataclass(frozen=True)
class ReferencePolicy:
    """The consent rule of one operator process: its mode, its watched namespaces, and how to read a Namespace
    (from the namespace informer's cache: `namespace_of(name)` returns the object or None)."""

    mode: str
    watched: tuple[str, ...]
    namespace_of: Any

    def _watched(self, namespace: str, field: str) -> None:
        if self.watched and namespace not in self.watched:
            raise ReferenceRefused("InvalidSpec", f"{field}: namespace {namespace} is not watched by this operator")

    def instance(self, referrer: str | None, target: InstanceTarget, instance: Obj | None, field: str) -> None:
        """Check a reference from an object in namespace `referrer` (None: cluster-scoped) to an instance."""
        if target.key.kind == CLUSTER_INSTANCE.kind or not referrer or target.key.namespace == referrer:
            return
        self._watched(target.key.namespace, field)
        if self.mode == "allow" or instance is None or instance_consents(instance, referrer):
            return  # a missing instance is reported by the instance gate (not found)
        raise ReferenceRefused(
            "ReferenceNotAllowed",
            f"namespace {referrer} may not use DatabaseInstance {target.key.namespace}/{target.key.name}: add "
            f"{referrer} to its spec.allowedNamespaces",
        )

    def namespaced_object(self, referrer: str | None, kind: str, namespace: str, name: str, field: str) -> None:
        """Check a reference from an object in namespace `referrer` to a Secret or ConfigMap."""
        if not referrer or namespace == referrer:
            return
        self._watched(namespace, field)
        if self.mode == "allow" or namespace_consents(self.namespace_of(namespace), referrer):
            return
        raise ReferenceRefused(
            "ReferenceNotAllowed",
            f"namespace {referrer} may not use {kind} {namespace}/{name} ({field}): annotate namespace {namespace} "
            f"with {ALLOW_REFERENCES_FROM}={referrer}",
        )


@dataclass(frozen=True)
class ObjectReference:
    """One Secret or ConfigMap reference a spec can carry: where it sits, which keys hold namespace and name."""

    field: str
    kind: str
    path: tuple[str, ...]
    namespace_key: str = "namespace"
    name_key: str = "name"

    def target(self, spec: Obj) -> tuple[str, str] | None:
        """(namespace, name) when the reference names a namespace; None otherwise (the referrer's own)."""
        node: Any = spec
        for part in self.path:
            node = (node or {}).get(part) if isinstance(node, Mapping) else None
        if not isinstance(node, Mapping) or not node.get(self.namespace_key):
            return None
        return str(node[self.namespace_key]), str(node.get(self.name_key) or "(generated name)")


OBJECT_REFERENCES = (
    ObjectReference(
        "spec.passwordSecret.secretNamespace", "Secret", ("passwordSecret",), "secretNamespace", "secretName"
    ),
    ObjectReference("spec.existingPasswordSecret.namespace", "Secret", ("existingPasswordSecret",)),
    ObjectReference("spec.connection.secretRef.namespace", "Secret", ("connection", "secretRef")),
    ObjectReference("spec.connection.existingSecret.namespace", "Secret", ("connection", "existingSecret")),
    ObjectReference("spec.initSQL.configMapRef.namespace", "ConfigMap", ("initSQL", "configMapRef")),
    ObjectReference("spec.initSQL.secretRef.namespace", "Secret", ("initSQL", "secretRef")),
)
"""Every Secret and ConfigMap reference of the kinds with a controller (DatabaseUser, DatabaseInstance, Database)."""


def check_object_references(policy: ReferencePolicy, raw: Obj) -> None:
    """Check every Secret and ConfigMap reference of a namespaced object before it acts on anything."""
    spec, referrer = raw.get("spec") or {}, (raw.get("metadata") or {}).get("namespace") or ""
    for reference in OBJECT_REFERENCES:
        if (target := reference.target(spec)) is not None:
            policy.namespaced_object(referrer, reference.kind, *target, reference.field)


def referenced_namespaces(obj: Obj) -> list[str]:
    """Index value: the namespaces other than its own whose Secrets or ConfigMaps a namespaced object references
    (a change of such a namespace's consent annotation wakes it)."""
    spec, own = obj.get("spec") or {}, (obj.get("metadata") or {}).get("namespace") or ""
    targets = (reference.target(spec) for reference in OBJECT_REFERENCES)
    return sorted({t[0] for t in targets if t is not None and own and t[0] != own})


def checked_gate(
    policy: ReferencePolicy,
    referrer: str | None,
    target: InstanceTarget,
    instances: Store,
    cluster_instances: Store,
    *,
    for_cleanup: bool = False,
    field: str = "spec.instanceRef",
) -> tuple[ResolvedInstance | None, str]:
    """`instances.gate` behind the consent rule: `ReferenceRefused` when an object of namespace `referrer` may not
    use the instance, before anything is read from it (its Secrets) or done on its server."""
    policy.instance(referrer, target, lookup(target, instances, cluster_instances), field)
    return gate(target, instances, cluster_instances, for_cleanup=for_cleanup)


def refuse_admin_account(adapter: Any, name: str, field: str) -> None:
    """The account the operator acts with is never taken over by a DatabaseUser or DatabaseRole: that would hand
    its password to the object's Secret, or change its attributes (InvalidSpec, before anything is done)."""
    settings = getattr(adapter, "settings", None)
    if settings is not None and name == settings.username:
        raise InvalidSpec(field, f"{name} is the instance's admin account, which the operator never manages")
