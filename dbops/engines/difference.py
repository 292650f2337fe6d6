"""One difference between a spec and the server: what drift detection reports and correction consumes.

Its own module because both contracts use it — `base` (the Database drift half) and `access` (roles, grants,
accounts) — and neither may import the other's module for it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["Difference"]


@dataclass(frozen=True)
class Difference:
    """One difference between the spec and the server (api.md 4.4 field names, 5.5 `status.drift.diffs[]`).

    `expected` / `actual` are short readable values and never carry a password. `fix` is the engine's own
    correction plan for this item (statements, …); it is opaque to controllers and never written to status.
    """

    field: str
    expected: str
    actual: str
    destructive: bool = False
    immutable: bool = False
    fix: Any = dataclasses.field(default=None, compare=False, repr=False)

    def status(self) -> dict[str, object]:
        return {
            "field": self.field,
            "expected": self.expected,
            "actual": self.actual,
            "destructive": self.destructive,
            "immutable": self.immutable,
        }
