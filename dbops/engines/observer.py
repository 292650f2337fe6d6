"""Who is told about connection attempts (the connection metrics of observability.md), shared by every engine.

Its own contract module, so an engine's server handle can accept an observer without importing another engine's
driver (it lived in the PostgreSQL module, which made every MariaDB-only process load asyncpg).
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["NO_OBSERVER", "ConnectionObserver"]


class ConnectionObserver(Protocol):
    """Told about every attempt to open a session, for the connection metrics."""

    def connection_attempt(self, *, success: bool, seconds: float) -> None: ...


class _NoObserver:
    def connection_attempt(self, *, success: bool, seconds: float) -> None:
        return None


NO_OBSERVER: ConnectionObserver = _NoObserver()
"""The observer of a handle nobody watches (tests, one-off sessions)."""
