"""Events said on a change of recorded state, derived from the object's old and new status (the seeds' PV/PVC rule).

A reconcile never asks "did I say this already?" of memory or of the event stream. It announces an event together
with the part of status the event is about (`when`: a selector over a status mapping). When the status is written,
the selector is applied to the status as it was read and as it is being written: the event is due only if the two
differ. So the event goes out with the write that records the change, once:

- a resync that finds the same state selects the same value twice and says nothing;
- a restart or a new leader reads the recorded state and says nothing;
- a status write that fails says nothing, and the next reconcile derives the same transition and says it then.

Selectors are small and named (`condition_state`, `field_state`), so that what an event is "about" reads at the
place it is announced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dbops.runtime.predicates import value_at

Selector = Callable[[Mapping[str, Any]], Any]
"""Picks the part of a status mapping an event is about; compared by equality before and after."""

CONDITION_FIELDS = ("status", "reason", "message")


def condition_state(ctype: str, *fields: str) -> Selector:
    """The given fields of condition `ctype` (default status, reason and message); absent condition → all None."""
    wanted = fields or CONDITION_FIELDS

    def select(status: Mapping[str, Any]) -> Any:
        for condition in status.get("conditions") or ():
            if condition.get("type") == ctype:
                return tuple(condition.get(field) for field in wanted)
        return tuple(None for _ in wanted)

    return select


READY_REASON_AND_MESSAGE = condition_state("Ready", "reason", "message")
"""What most failure Warnings are about: a new reason or a new message of Ready is a new finding."""

SYNCED_REASON_AND_MESSAGE = condition_state("Synced", "reason", "message")
"""The same for failures recorded in Synced (an apply that failed while the object stays Ready)."""


def field_state(*path: str) -> Selector:
    """The value at `path` in status (nested mappings; a missing step → None)."""

    def select(status: Mapping[str, Any]) -> Any:
        return value_at(status, path)

    return select


def all_of(*selectors: Selector) -> Selector:
    """Several parts at once: the event is due when any of them changed."""

    def select(status: Mapping[str, Any]) -> Any:
        return tuple(selector(status) for selector in selectors)

    return select


@dataclass(frozen=True)
class Announcement:
    """An event to say if the selected part of status changes with this reconcile's write."""

    etype: str
    reason: str
    message: str
    when: Selector


def due(
    announcements: Sequence[Announcement], before: Mapping[str, Any], after: Mapping[str, Any]
) -> list[Announcement]:
    """The announcements whose selected state differs between `before` and `after`, in announcement order."""
    return [a for a in announcements if a.when(before) != a.when(after)]
