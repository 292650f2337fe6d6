"""The tracking-text contract (api.md 5.7): a marker on a server object that says which resource manages it.

Every engine keeps the text somewhere else — PostgreSQL and CockroachDB in COMMENT ON DATABASE / ROLE, MySQL in a
user attribute or the metadata table, MariaDB and ClickHouse in the metadata table — but the controllers only ask
three questions, by resource type (`Database`, `DatabaseUser`, `DatabaseRole`) and server-side name. A contract
module: it imports no engine.
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

__all__ = ["ResourceType", "TrackingAdapter", "tracking_support"]

ResourceType = Literal["Database", "DatabaseUser", "DatabaseRole"]
"""What the marked server object is managed as; a ClusterDatabaseRole's role is a `DatabaseRole` on the server."""


@runtime_checkable
class TrackingAdapter(Protocol):
    """Reading, writing and removing the tracking text of one server object."""

    async def read_tracking(self, resource_type: ResourceType, name: str) -> str | None:
        """The current text, or None when the object carries none (or does not exist)."""

    async def write_tracking(self, resource_type: ResourceType, name: str, text: str) -> None:
        """Replace the text; the object exists."""

    async def remove_tracking(self, resource_type: ResourceType, name: str) -> None:
        """Remove the text (the resource was deleted, the object retained); a missing text is not an error."""


def tracking_support(adapter: object) -> TrackingAdapter | None:
    """The adapter as a `TrackingAdapter`, or None for an engine that keeps no tracking text."""
    return adapter if isinstance(adapter, TrackingAdapter) else None
