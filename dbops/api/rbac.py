"""What each controller may do in the API (runtime.md section 9), as one declarative list.

The manager ClusterRole is generated from :data:`CONTROLLER_NEEDS` by taking the union per resource, so adding a
need to one controller is a one-line change here plus ``make manifests``; nothing grants a verb that no controller
asked for. The leader-election Role, the user-facing per-kind roles and the ``dbctl migrate`` role come from the same
module.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dbops.api.kinds import KINDS
from dbops.api.meta import GROUP

CORE = ""
READ = ("get", "list", "watch")
OWN = ("get", "list", "watch", "update", "patch")  # read, finalizers (spec/metadata writes)
STATUS = ("get", "update", "patch")


@dataclass(frozen=True)
class Need:
    """Verbs on resources of one API group, and why they are needed."""

    group: str
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    why: str


def _own(*plurals: str) -> tuple[Need, ...]:
    """What a controller needs on the kinds it reconciles: read, finalizers, status."""
    return (
        Need(GROUP, plurals, OWN, "read and watch; add and remove finalizers"),
        Need(GROUP, tuple(f"{p}/status" for p in plurals), STATUS, "write status"),
        Need(GROUP, tuple(f"{p}/finalizers" for p in plurals), ("update",), "finalizers (OwnerReferencesPermission)"),
    )


_EVENTS = Need(CORE, ("events",), ("create", "patch"), "events (patch for count updates)")
_READ_SECRETS = Need(CORE, ("secrets",), ("get",), "referenced Secrets are read with a direct GET")

#: Per controller (and the shared runtime), what it needs.
CONTROLLER_NEEDS: Mapping[str, tuple[Need, ...]] = {
    "runtime": (
        Need(GROUP, tuple(k.plural for k in KINDS), READ, "informers for the 11 kinds"),
        Need(CORE, ("secrets",), READ, "managed Secrets in full, other Secrets by metadata"),
        Need(CORE, ("configmaps",), READ, "ConfigMaps by metadata (initSQL sources)"),
        Need(CORE, ("namespaces",), READ, "Namespaces by metadata (consent to cross-namespace references)"),
        Need("authentication.k8s.io", ("tokenreviews",), ("create",), "secure metrics only"),
        Need("authorization.k8s.io", ("subjectaccessreviews",), ("create",), "secure metrics only"),
        _EVENTS,
    ),
    "instance": (
        *_own("databaseinstances", "clusterdatabaseinstances"),
        _READ_SECRETS,
        Need(CORE, ("secrets",), ("patch",), "the instance-credentials finalizer on admin Secrets in use"),
        Need(GROUP, ("databases", "databaseusers", "databaseroles", "clusterdatabaseroles"), ("create",), "adoption"),
        Need(
            GROUP,
            ("databases", "databaseusers", "databaseroles", "clusterdatabaseroles", "clusterdatabasegrants"),
            ("delete",),
            "confirmed cascades",
        ),
    ),
    "database": (
        *_own("databases"),
        _READ_SECRETS,
        Need(CORE, ("configmaps",), ("get",), "initSQL sources"),
        Need(GROUP, ("databasebackups",), ("create",), "deletion snapshots"),
        Need(GROUP, ("databasegrants",), ("delete",), "confirmed cascades"),
    ),
    "user": (
        *_own("databaseusers"),
        Need(
            CORE,
            ("secrets",),
            ("get", "create", "update", "patch", "delete"),
            "credentials and password-source Secrets (delete: other namespaces, type changes)",
        ),
        Need(GROUP, ("databasegrants", "clusterdatabasegrants"), ("delete",), "confirmed cascades"),
    ),
    "role": (
        *_own("databaseroles", "clusterdatabaseroles"),
        Need(GROUP, ("databasegrants", "clusterdatabasegrants"), ("delete",), "confirmed cascades"),
    ),
    "grant": _own("databasegrants", "clusterdatabasegrants"),
    "backup": (
        *_own("databasebackups"),
        _READ_SECRETS,
        Need(GROUP, ("databasebackups",), ("delete",), "TTL expiry"),
    ),
    "schedule": (
        *_own("databasebackupschedules"),
        Need(GROUP, ("databasebackups",), ("create", "delete"), "scheduled backups, retention, Replace"),
    ),
    "restore": (*_own("databaserestores"), _READ_SECRETS),
}

#: Leader election, in the operator's namespace (runtime.md 4 and 9).
LEADER_ELECTION_NEEDS: tuple[Need, ...] = (
    Need("coordination.k8s.io", ("leases",), ("get", "create", "update"), "leader election Lease"),
    _EVENTS,
)

#: People who run ``dbctl migrate reverse-privileges`` (runtime.md 11.4).
DBCTL_MIGRATE_NEEDS: tuple[Need, ...] = (
    Need(GROUP, ("databases", "databaseinstances", "clusterdatabaseinstances"), ("get",), "read the objects"),
    Need(CORE, ("secrets",), ("get",), "admin credentials"),
    Need(GROUP, ("databases/status",), ("patch",), "replace ownership drift entries"),
    Need(CORE, ("events",), ("create",), "OwnershipDrift events"),
)

_VERB_ORDER = ("*", "get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")


def _sort_verbs(verbs: Iterable[str]) -> list[str]:
    return sorted(set(verbs), key=lambda v: (_VERB_ORDER.index(v) if v in _VERB_ORDER else len(_VERB_ORDER), v))


def effective(needs: Iterable[Need]) -> set[tuple[str, str, str]]:
    """Every (group, resource, verb) the needs grant, for comparisons in tests."""
    return {(n.group, r, v) for n in needs for r in n.resources for v in n.verbs}


def rules(needs: Iterable[Need]) -> list[dict[str, list[str]]]:
    """PolicyRules granting exactly the union of ``needs``: one rule per (group, verb set), resources sorted."""
    per_resource: dict[tuple[str, str], set[str]] = defaultdict(set)
    for need in needs:
        for resource in need.resources:
            per_resource[(need.group, resource)].update(need.verbs)
    grouped: dict[tuple[str, tuple[str, ...]], list[str]] = defaultdict(list)
    for (group, resource), verbs in per_resource.items():
        grouped[(group, tuple(_sort_verbs(verbs)))].append(resource)
    return [
        {"apiGroups": [group], "resources": sorted(resources), "verbs": list(verbs)}
        for (group, verbs), resources in sorted(grouped.items())
    ]


def manager_needs() -> list[Need]:
    return [need for needs in CONTROLLER_NEEDS.values() for need in needs]
