"""Deletion helpers: confirmation hash, listing, the cleanup-failure rule of behaviour.md 5.6, and the gates with
cascade authority (5.4) over fake informer caches."""

from __future__ import annotations

import hashlib
from typing import Any

from dbops.controllers.base import KindReconciler, StatusDraft
from dbops.controllers.deletion import (
    Dependent,
    ancestors,
    cleanup_failed,
    confirmation_hash,
    listing,
    run_gates,
    under_cascade,
)
from dbops.runtime import Resource


class FakeReconciler:
    """Records what cleanup_failed asks of a reconciler; the stored status is the object's."""

    def __init__(self) -> None:
        self.warnings: list[tuple[str, str]] = []
        self.written: list[dict[str, Any]] = []

    def draft(self, raw: dict[str, Any]) -> StatusDraft:
        return StatusDraft(raw.get("status"), raw["metadata"].get("generation"))

    def warning(self, raw: dict[str, Any], reason: str, message: str, rid: str) -> None:
        self.warnings.append((reason, message))

    async def write_status(self, raw: dict[str, Any], draft: StatusDraft, rid: str) -> None:
        self.written.append(draft.data)
        self.say_due(raw, draft, rid)

    say_due = KindReconciler.say_due  # the real rule: the events announced on what this write changes


def obj(status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "x", "generation": 3}, "status": status or {}}


def test_confirmation_hash_is_sha256_of_sorted_identifiers() -> None:
    ids = ["Database/b", "DatabaseUser/a"]
    expected = hashlib.sha256(b"Database/b\nDatabaseUser/a").hexdigest()[:8]
    assert confirmation_hash(list(reversed(ids))) == expected


def test_listing_is_sorted_and_cut_at_ten() -> None:
    assert listing(["b", "a"]) == "a, b"
    assert listing([f"n{i:02d}" for i in range(12)]).endswith("n09 and 2 more")


async def test_first_failure_warns_keeps_the_finalizer_and_retries() -> None:
    fake = FakeReconciler()
    result = await cleanup_failed(fake, obj(), "abc12345", RuntimeError("permission denied"), "user u", force=False)  # type: ignore[arg-type]
    assert result is not None and result.requeue_after == 30
    assert fake.warnings == [("DeleteFailed", "Failed to drop user u: permission denied")]
    ready = next(c for c in fake.written[0]["conditions"] if c["type"] == "Ready")
    assert (fake.written[0]["phase"], ready["reason"], ready["status"]) == ("Deleting", "DeleteFailed", "False")


async def test_the_same_failure_again_emits_nothing_new() -> None:
    fake = FakeReconciler()
    first = obj()
    await cleanup_failed(fake, first, "r1", RuntimeError("boom"), "user u", force=False)  # type: ignore[arg-type]
    again = obj(fake.written[0])
    await cleanup_failed(fake, again, "r2", RuntimeError("boom"), "user u", force=False)  # type: ignore[arg-type]
    assert len(fake.warnings) == 1
    await cleanup_failed(fake, again, "r3", RuntimeError("other"), "user u", force=False)  # type: ignore[arg-type]
    assert len(fake.warnings) == 2, "a different error is a new state"


async def test_force_delete_warns_and_releases() -> None:
    fake = FakeReconciler()
    result = await cleanup_failed(fake, obj(), "r", RuntimeError("gone"), "role r", force=True)  # type: ignore[arg-type]
    assert result is None and fake.written == []
    assert fake.warnings == [
        ("DeleteFailed", "Failed to drop role r: gone; finalizer removed because force-delete is set")
    ]


# Cascade authority (behaviour.md 5.4) ----------------------------------------------------------------------------

TS = "2024-01-01T00:00:00Z"


def resource(kind: str, name: str, namespace: str = "", spec: dict[str, Any] | None = None, **meta: Any) -> Any:
    return {"kind": kind, "metadata": {"name": name, "namespace": namespace, **meta}, "spec": spec or {}}


def confirmed(raw: dict[str, Any], digest: str = "abcd1234") -> dict[str, Any]:
    """`raw` deleted with force-delete and the confirmation equal to its recorded hash."""
    raw["metadata"]["deletionTimestamp"] = TS
    raw["metadata"]["annotations"] = {
        "dbops.dbprovision.io/force-delete": "true",
        "dbops.dbprovision.io/confirm-force-delete": digest,
    }
    raw["status"] = {"deletionConfirmation": {"required": False, "hash": digest}}
    return raw


class Cache:
    """Informer caches by kind, keyed like the runtime's stores (`namespace/name`, or `name` when cluster-scoped)."""

    def __init__(self, *objects: dict[str, Any]) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        for raw in objects:
            self.add(raw)

    def add(self, raw: dict[str, Any]) -> None:
        meta = raw["metadata"]
        self.objects[(raw["kind"], meta.get("namespace") or "", meta["name"])] = raw

    def lookup(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((kind, namespace, name))

    def store(self, info: Any) -> Any:
        cache = self

        class Store:
            def get(self, key: str) -> dict[str, Any] | None:
                namespace, _, name = key.rpartition("/")
                return cache.lookup(info.kind, namespace, name)

        return Store()


def instance(name: str = "pg", namespace: str = "ns") -> dict[str, Any]:
    return resource("DatabaseInstance", name, namespace)


def database(name: str = "db", namespace: str = "ns") -> dict[str, Any]:
    return resource("Database", name, namespace, {"instanceRef": {"name": "pg"}})


def test_the_ancestors_of_a_grant_are_its_grantee_its_database_and_the_grantees_instance() -> None:
    user = resource("DatabaseUser", "app", "other", {"instanceRef": {"name": "pg", "namespace": "ns"}})
    grant = resource(
        "DatabaseGrant", "g", "ns", {"userRef": {"name": "app", "namespace": "other"}, "databaseRef": {"name": "db"}}
    )
    assert ancestors("DatabaseGrant", grant, Cache(user).lookup) == [
        ("DatabaseUser", "other", "app"),
        ("Database", "ns", "db"),
        ("DatabaseInstance", "ns", "pg"),
    ]
    cluster_grant = resource(
        "ClusterDatabaseGrant", "cg", "", {"clusterInstanceRef": {"name": "c"}, "roleRef": {"name": "r"}}
    )
    assert ancestors("ClusterDatabaseGrant", cluster_grant, Cache().lookup) == [
        ("ClusterDatabaseRole", "", "r"),
        ("ClusterDatabaseInstance", "", "c"),
    ]


def test_only_a_confirmed_cascade_of_an_ancestor_covers_an_object() -> None:
    db = database()
    pg = instance()
    cache = Cache(pg, db)
    assert under_cascade("Database", db, cache.lookup) is None, "the instance is not being deleted"
    pg["metadata"]["deletionTimestamp"] = TS
    pg["metadata"]["annotations"] = {"dbops.dbprovision.io/force-delete": "true"}
    assert under_cascade("Database", db, cache.lookup) is None, "force-delete without confirmation"
    confirmed(pg)
    pg["metadata"]["annotations"]["dbops.dbprovision.io/confirm-force-delete"] = "00000000"
    assert under_cascade("Database", db, cache.lookup) is None, "a confirmation that is not the recorded hash"
    confirmed(pg)
    assert under_cascade("Database", db, cache.lookup) == "DatabaseInstance ns/pg"


def test_a_grant_is_covered_by_its_databases_cascade_and_through_a_covered_grantee() -> None:
    grant = resource("DatabaseGrant", "g", "ns", {"userRef": {"name": "app"}, "databaseRef": {"name": "db"}})
    user = resource("DatabaseUser", "app", "ns", {"instanceRef": {"name": "pg"}})
    db = confirmed(database())
    assert under_cascade("DatabaseGrant", grant, Cache(user, db, instance()).lookup) == "Database ns/db"

    # The grantee has no force-delete of its own but is itself covered by a cluster instance's cascade.
    cluster_user = resource(
        "DatabaseUser", "app", "ns", {"clusterInstanceRef": {"name": "shared"}}, deletionTimestamp=TS
    )
    plain = resource("DatabaseGrant", "g", "ns", {"userRef": {"name": "app"}})
    cache = Cache(cluster_user, confirmed(resource("ClusterDatabaseInstance", "shared")))
    assert under_cascade("DatabaseGrant", plain, cache.lookup) == "DatabaseUser ns/app"


class GateReconciler(FakeReconciler):
    """What run_gates needs of a reconciler: kind, caches, a client that records deletions, events, status."""

    def __init__(self, kind: str, cache: Cache) -> None:
        super().__init__()
        self.info = type("Info", (), {"kind": kind})()
        self.deleted: list[str] = []
        self.normals: list[tuple[str, str]] = []
        self.order: list[str] = []
        outer = self

        class Client:
            async def delete(self, res: Any, name: str, namespace: str | None) -> None:
                outer.order.append(f"delete {name}")
                outer.deleted.append(name)

        self.ctx = type("Ctx", (), {"store": staticmethod(cache.store), "client": Client()})()

    def normal(self, raw: dict[str, Any], reason: str, message: str) -> None:
        self.normals.append((reason, message))

    async def write_status(self, raw: dict[str, Any], draft: StatusDraft, rid: str) -> None:
        self.order.append("status")
        await super().write_status(raw, draft, rid)


def grant_dependent(name: str) -> Dependent:
    return Dependent(
        "DatabaseGrant", "ns", name, Resource("dbops.dbprovision.io", "v1alpha1", "databasegrants", "DatabaseGrant")
    )


async def test_a_covered_protected_database_skips_protection_and_cascades_to_its_grants_without_confirmation() -> None:
    db = database()
    db["metadata"]["deletionTimestamp"] = TS
    grant = resource("DatabaseGrant", "g", "ns", {"userRef": {"name": "app"}, "databaseRef": {"name": "db"}})
    cache = Cache(db, grant, confirmed(instance()))
    fake = GateReconciler("Database", cache)
    result = await run_gates(
        fake,
        db,
        "r",
        protected=True,
        protection_hint="set spec.deletionProtection=false",
        dependents=[grant_dependent("g")],  # type: ignore[arg-type]
    )
    assert result is not None and result.requeue_after == 5
    assert fake.warnings == [], "no DeletionBlocked, no ForceDeletePending"
    assert fake.deleted == ["g"] and fake.order == ["status", "delete g"], "the hash is recorded before the deletes"
    assert fake.written[-1]["phase"] == "Deleting"
    assert "cascade of DatabaseInstance ns/pg" in fake.written[-1]["message"]

    # Its grants gone, it proceeds to its own cleanup.
    db["status"] = fake.written[-1]
    assert await run_gates(fake, db, "r", protected=True, protection_hint="", dependents=[]) is None  # type: ignore[arg-type]
    assert [r for r, _ in fake.normals] == ["CascadeDeleteComplete"]
    assert fake.normals[0][1].endswith("finished: 1 dependents deleted"), "the total recorded at confirmation"
    completed = fake.written[-1]["deletionConfirmation"]
    assert (completed["remainingCount"], completed["totalCount"]) == (0, 1)

    # Reconciled again before its finalizer removal shows (a restart, its own cleanup's watch event): the recorded
    # completion is read back and nothing is said twice — no memory of the process is involved.
    db["status"] = fake.written[-1]
    again = GateReconciler("Database", cache)
    assert await run_gates(again, db, "r", protected=True, protection_hint="", dependents=[]) is None  # type: ignore[arg-type]
    assert again.normals == [] and again.warnings == []


async def test_a_protected_object_outside_any_cascade_is_still_blocked() -> None:
    db = database()
    db["metadata"]["deletionTimestamp"] = TS
    fake = GateReconciler("Database", Cache(db, instance()))
    result = await run_gates(
        fake, db, "r", protected=True, protection_hint="set spec.deletionProtection=false", dependents=[]
    )  # type: ignore[arg-type]
    assert result is not None and result.requeue_after == 30
    assert [r for r, _ in fake.warnings] == ["DeletionBlocked"]


async def test_a_confirmed_cascade_keeps_its_hash_while_dependents_go_and_a_new_one_asks_again() -> None:
    second = grant_dependent("b")
    digest = confirmation_hash(["DatabaseGrant/a", "DatabaseGrant/b"])
    db = confirmed(database(), digest)
    db["status"]["deletionConfirmation"]["message"] = "cascade deleting: 2 of 2 dependents remain: x"
    db["status"]["deletionConfirmation"]["totalCount"] = 2  # recorded when the cascade was confirmed
    deleting_b = resource("DatabaseGrant", "b", "ns", deletionTimestamp=TS)
    cache = Cache(db, deleting_b, instance())
    fake = GateReconciler("Database", cache)
    # `a` is gone, `b` is being deleted: the hash over what remains differs, the cascade goes on regardless.
    result = await run_gates(fake, db, "r", protected=False, protection_hint="", dependents=[second])  # type: ignore[arg-type]
    assert result is not None and fake.warnings == []
    status = fake.written[-1]
    assert status["deletionConfirmation"]["hash"] == digest and status["deletionConfirmation"]["remainingCount"] == 1
    assert status["message"].startswith("cascade deleting: 1 of 2 dependents remain")
    assert fake.deleted == [], "b is already being deleted"

    # A grant that appeared after confirmation (not being deleted) changes the hash: confirmation again.
    cache.add(resource("DatabaseGrant", "c", "ns"))
    db["status"] = status
    result = await run_gates(
        fake, db, "r", protected=False, protection_hint="", dependents=[second, grant_dependent("c")]
    )  # type: ignore[arg-type]
    assert [r for r, _ in fake.warnings] == ["ForceDeletePending"]
    assert fake.written[-1]["phase"] == "PendingDeletion" and fake.deleted == []
