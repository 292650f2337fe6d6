"""What the two long-running kinds (DatabaseBackup, DatabaseRestore) share in how they report: the closed-gate
signal, times in status, sizes, sanitised errors and progress milestones (backup.md 3.2, 10.6).

One place, so a backup and a restore of the same data say "1.2 GiB" and "2026-12-07T10:00:00Z" the same way, and a
user who learns one kind's status reads the other's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from dbops.controllers.base import Obj, StatusDraft
from dbops.engines.dump import MAX_ERROR_CHARS

__all__ = [
    "MILESTONES",
    "OperationRun",
    "Waiting",
    "crossed_milestone",
    "human_size",
    "parse_time",
    "rfc3339",
    "sanitised",
]

MILESTONES = (25, 50, 75)
"""Percentages a `ProgressUpdated` event marks (at most three per operation)."""


ObjT = TypeVar("ObjT")


@dataclass
class OperationRun(Generic[ObjT]):
    """One reconcile of one backup or restore: the typed object, its stored form, the status being drafted and the
    reconcile ID — what every step of the flow reads and writes."""

    obj: ObjT
    raw: Obj
    draft: StatusDraft
    rid: str

    @property
    def name(self) -> str:
        return str(self.raw["metadata"].get("name") or "")

    @property
    def namespace(self) -> str:
        return str(self.raw["metadata"].get("namespace") or "")

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def status(self) -> Obj:
        return self.draft.data


class Waiting(Exception):
    """A gate is closed: phase Pending with ``reason``; the watches (or a requeue) open it again."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def crossed_milestone(percentage: int) -> int | None:
    """The highest milestone ``percentage`` has reached, None below the first."""
    crossed = [m for m in MILESTONES if percentage >= m]
    return crossed[-1] if crossed else None


def human_size(size: int) -> str:
    """Binary units with one decimal (``status.backupSize``: ``1.2 GiB``)."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def sanitised(error: BaseException, limit: int = MAX_ERROR_CHARS) -> str:
    """The error as users see it: its message (already free of credentials by the stores' and tools' rules), cut to
    the length a status message holds."""
    text = str(error) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
