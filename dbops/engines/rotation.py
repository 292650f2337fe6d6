"""What password rotation needs from an engine (behaviour.md 8.6, engines.md 2.2, 4.2, 4.7).

Like auto-ownership and initSQL this is a capability rather than part of `EngineAdapter`: an engine that can rotate
gets a small `RotationAdapter` wrapper around its adapter (`rotation_adapter`), and the user controller reports
rotation as unsupported where there is none. The wrapper only uses the adapter's public operations and server
handle, so the adapter stays the single place that knows the engine's account management.

Account names passed here are server names; anything the operator generates has already been cut to
`name_limit` bytes by the caller (`dbops.controllers.rotation.name_candidates`).

The `dual-password` strategy is a second, smaller capability (`DualPasswordAdapter`, `dual_password_adapter`): one
account keeps its name and holds two passwords for a while. Only the MySQL family has an implementation, and whether
the connected server can do it (MySQL 8.0.14+, never MariaDB) is only known once its version has been read, so the
capability answers `support()` asynchronously; the flow refuses the strategy where it is not available.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from dbops.api.user import DatabaseUserSpec
from dbops.engines.base import EngineAdapter, OwnedObject
from dbops.engines.capability import Capability

__all__ = [
    "DualPasswordAdapter",
    "DualPasswordSupport",
    "RotationAdapter",
    "ServiceRoleMissing",
    "dual_password_adapter",
    "rotation_adapter",
]


@runtime_checkable
class RotationAdapter(Protocol):
    """Accounts and the service role of role-inheritance rotation on one server."""

    name_limit: int
    """Longest account name the server keeps, in bytes."""

    async def account_exists(self, name: str) -> bool:
        """Whether a role or account of that name exists (login or not): generated names must not collide with any."""
        ...

    async def service_role_comment(self, role: str) -> str | None:
        """The tracking comment of the service role, or None when it has none; `ServiceRoleMissing` when the role
        does not exist."""
        ...

    async def create_service_role(self, role: str, *, comment: str) -> None:
        """Create the service role: no login, inherit; `comment` marks which resource created it."""
        ...

    async def ensure_member(self, role: str, member: str) -> bool:
        """Make `member` a member of `role` when it is not; True when a grant was made."""
        ...

    async def create_rotated_account(
        self, spec: DatabaseUserSpec, name: str, *, password: str, service_role: str
    ) -> None:
        """A new login account `name` with the settings of `spec` (login and inherit forced on), its memberships plus
        the service role, and `password`. Nothing of it is left behind when this fails."""
        ...

    async def apply_rotated_account(self, spec: DatabaseUserSpec, name: str, *, service_role: str) -> list[str]:
        """Bring the existing account `name` in line with the settings of `spec` (as `create_rotated_account` would
        create it); returns the changed field paths. `EngineError` when the account is missing."""
        ...

    async def set_password(self, name: str, password: str) -> None:
        """Set the password of account `name`."""
        ...

    async def disable_account(self, name: str) -> None:
        """Remove the ability to log in (engines.md: NOLOGIN, ACCOUNT LOCK); missing is not an error."""
        ...

    async def owned_objects(self, name: str) -> list[OwnedObject]:
        """What `name` owns across every database (engines.md 2.5), for the ownership check before a drop."""
        ...

    async def drop_account(self, name: str) -> None:
        """Drop the account with the account cleanup of engines.md 2.5; missing is not an error."""
        ...


class ServiceRoleMissing(Exception):
    """The service role does not exist on the server."""


ROTATION: Capability[RotationAdapter] = Capability()
"""Role-inheritance rotation, per engine (PostgreSQL only for now)."""
register_rotation = ROTATION.register


def rotation_adapter(adapter: EngineAdapter) -> RotationAdapter | None:
    """The rotation capability of an instance's adapter, or None when this build cannot rotate on its engine."""
    return ROTATION.of(adapter)


# --------------------------------------------------------------------------------------------------------------------
# dual-password


@dataclass(frozen=True)
class DualPasswordSupport:
    """Whether the connected server keeps a retained second password, and how to name the server in a message
    (engine and version, e.g. `MariaDB 10.11.6`: behaviour.md 8.6 wants both when the strategy is refused)."""

    available: bool
    server: str


@runtime_checkable
class DualPasswordAdapter(Protocol):
    """Dual-password rotation of one account on one server (behaviour.md 8.6 `dual-password`)."""

    async def support(self) -> DualPasswordSupport:
        """Read (once) what the server is; never changes anything."""
        ...

    async def rotate_password(self, name: str, password: str) -> None:
        """Set `password` on every host entry of `name`, retaining the current password as the second one."""
        ...

    async def restore_password(self, name: str, password: str) -> None:
        """Undo a rotation whose Secret could not be written: `password` (the one the Secret still holds) becomes the
        primary password again on every host entry, without retention, so the retained one (the same password) stays
        and the never-published new one is gone."""
        ...

    async def discard_old_password(self, name: str) -> None:
        """Discard the retained password on every host entry; an account without one needs nothing."""
        ...


DUAL_PASSWORD: Capability[DualPasswordAdapter] = Capability()
"""Dual-password rotation, per engine (the MySQL family)."""
register_dual_password = DUAL_PASSWORD.register


def dual_password_adapter(adapter: EngineAdapter) -> DualPasswordAdapter | None:
    """The dual-password capability of an instance's adapter, or None where this build has none (every engine but
    MySQL/MariaDB; on MariaDB it exists and reports the strategy unavailable, so the message names the version)."""
    return DUAL_PASSWORD.of(adapter)
