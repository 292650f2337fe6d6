"""Events announced on a change of recorded state: said once, with the write that records the change."""

from __future__ import annotations

from typing import Any

from dbops.controllers.base import StatusDraft
from dbops.controllers.transitions import (
    READY_REASON_AND_MESSAGE,
    all_of,
    condition_state,
    due,
    field_state,
)


def _status(reason: str | None = None, message: str = "", **fields: Any) -> dict[str, Any]:
    conditions = [] if reason is None else [{"type": "Ready", "status": "False", "reason": reason, "message": message}]
    return {"conditions": conditions, **fields}


def _announce_failure(draft: StatusDraft, reason: str, message: str) -> None:
    draft.condition("Ready", False, reason, message)
    draft.warning_on_change("ReconcileFailed", f"it failed: {message}", when=READY_REASON_AND_MESSAGE)


def test_a_first_failure_is_said() -> None:
    draft = StatusDraft(_status(), generation=1)
    _announce_failure(draft, "ReconcileFailed", "boom")
    [said] = draft.take_due()
    assert (said.etype, said.reason, said.message) == ("Warning", "ReconcileFailed", "it failed: boom")


def test_the_same_failure_read_back_is_not_said_again() -> None:
    """A resync, a restart or a new leader reads the recorded failure: the selected state is unchanged."""
    draft = StatusDraft(_status("ReconcileFailed", "boom"), generation=1)
    _announce_failure(draft, "ReconcileFailed", "boom")
    assert draft.take_due() == []


def test_a_different_message_is_a_new_finding() -> None:
    draft = StatusDraft(_status("ReconcileFailed", "boom"), generation=1)
    _announce_failure(draft, "ReconcileFailed", "bang")
    assert [a.message for a in draft.take_due()] == ["it failed: bang"]


def test_each_announcement_is_handed_out_once() -> None:
    draft = StatusDraft(_status(), generation=1)
    _announce_failure(draft, "ReconcileFailed", "boom")
    assert len(draft.take_due()) == 1
    assert draft.take_due() == []


def test_the_state_at_write_time_decides_not_the_state_at_announce_time() -> None:
    """Announced first, then the condition set to what is stored already: nothing changed, nothing said."""
    draft = StatusDraft(_status("DependenciesExist", "x"), generation=1)
    draft.warning_on_change("DeletionBlocked", "blocked", when=condition_state("Ready", "reason"))
    draft.condition("Ready", False, "DependenciesExist", "a new message")
    assert draft.take_due() == []


def test_a_selector_of_some_fields_ignores_the_others() -> None:
    draft = StatusDraft(_status("DeletionProtected", "old text"), generation=1)
    draft.condition("Ready", False, "DeletionProtected", "new text")
    draft.warning_on_change("DeletionBlocked", "blocked", when=condition_state("Ready", "reason"))
    assert draft.take_due() == []


def test_field_state_follows_a_nested_path_and_treats_missing_as_none() -> None:
    select = field_state("deletionConfirmation", "remainingCount")
    assert select({"deletionConfirmation": {"remainingCount": 3}}) == 3
    assert select({}) is None
    assert select({"deletionConfirmation": "not a mapping"}) is None


def test_cascade_completion_is_said_when_the_recorded_count_reaches_zero() -> None:
    when = field_state("deletionConfirmation", "remainingCount")
    draft = StatusDraft({"deletionConfirmation": {"remainingCount": 2, "totalCount": 2}}, generation=1)
    draft.set(deletionConfirmation={"remainingCount": 0, "totalCount": 2})
    draft.normal_on_change("CascadeDeleteComplete", "finished: 2 dependents deleted", when=when)
    [said] = draft.take_due()
    assert (said.etype, said.reason) == ("Normal", "CascadeDeleteComplete")
    again = StatusDraft(draft.data, generation=1)  # the reconcile after, before the finalizer removal shows
    again.set(deletionConfirmation={"remainingCount": 0, "totalCount": 2})
    again.normal_on_change("CascadeDeleteComplete", "finished: 2 dependents deleted", when=when)
    assert again.take_due() == []


def test_all_of_is_due_when_any_part_changed() -> None:
    when = all_of(field_state("hash"), condition_state("Ready", "reason"))
    before = _status("PendingDeletionConfirmation", hash="aaaa0000")
    assert due_once(when, before, _status("PendingDeletionConfirmation", hash="bbbb1111"))
    assert due_once(when, before, _status("CascadeDeleting", hash="aaaa0000"))
    assert not due_once(when, before, _status("PendingDeletionConfirmation", "other", hash="aaaa0000"))


def due_once(when: Any, before: dict[str, Any], after: dict[str, Any]) -> bool:
    draft = StatusDraft(before, generation=1)
    draft.warning_on_change("X", "x", when=when)
    return bool(due(draft.announcements, before, after))


def test_announcement_order_is_kept() -> None:
    draft = StatusDraft({}, generation=1)
    draft.set(a=1, b=2)
    draft.normal_on_change("First", "1", when=field_state("a"))
    draft.warning_on_change("Second", "2", when=field_state("b"))
    assert [a.reason for a in draft.take_due()] == ["First", "Second"]
