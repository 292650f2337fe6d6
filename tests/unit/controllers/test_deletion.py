"""Deletion helpers: confirmation hash, listing, and the cleanup-failure rule of behaviour.md 5.6."""

from __future__ import annotations

import hashlib
from typing import Any

from dbops.controllers.base import StatusDraft
from dbops.controllers.deletion import cleanup_failed, confirmation_hash, listing


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
