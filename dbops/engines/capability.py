"""What an engine offers beyond the adapter protocol — a drift half, a rotation strategy — found by engine name.

The engine's adapter module registers its capabilities when it is loaded, so a capability exists exactly when an
adapter of that engine can, and the contract modules that declare the capabilities never import an engine. The
lookup is by the adapter's exact `engine` attribute: CockroachDB shares the PostgreSQL adapter class but not its
name, so it never inherits a capability by accident.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["Capability"]

T = TypeVar("T")


class Capability(Generic[T]):
    """One capability: per engine name, how to get it from that engine's adapter."""

    def __init__(self) -> None:
        self._wraps: dict[str, Callable[[Any], T]] = {}

    def register(self, engine: str, wrap: Callable[[Any], T]) -> None:
        """Declare how adapters whose `engine` is exactly `engine` provide it."""
        self._wraps[engine] = wrap

    def of(self, adapter: object) -> T | None:
        """The capability of `adapter`, or None when its engine has none in this build."""
        wrap = self._wraps.get(str(getattr(adapter, "engine", "")))
        return wrap(adapter) if wrap is not None else None
