"""The role and grant half of an engine adapter, as its own protocol (behaviour.md 9, 10; engines.md 2.2-2.3, 4.3-4.4).

Kept apart from `EngineAdapter` so the account/database protocol stays what the Database and DatabaseUser
controllers need, and so an engine without roles (none yet) simply does not satisfy it: the role and grant controllers
check `isinstance(adapter, RoleGrantAdapter)` and report the engine as unsupported otherwise.

The operations take the API specs and read the engine block they understand, like `EngineAdapter` does. Grant
application never stops at the first failing entry (behaviour.md 10.2: all entries are attempted); it returns an
`AccessOutcome` naming what was applied and what failed, and the controller decides the events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from dbops.api.grant import ClusterDatabaseGrantSpec, DatabaseGrantSpec
from dbops.api.role import ClusterDatabaseRoleSpec, DatabaseRoleSpec
from dbops.engines.base import ObservedAccount

__all__ = ["AccessOutcome", "GrantSpec", "RoleGrantAdapter", "RoleSpec"]

RoleSpec = DatabaseRoleSpec | ClusterDatabaseRoleSpec
GrantSpec = DatabaseGrantSpec | ClusterDatabaseGrantSpec


@dataclass(frozen=True)
class AccessOutcome:
    """What one apply or revoke did for one grantee.

    `roles` are the memberships handled, `direct_grants` / `default_privileges` the numbers of entries that
    succeeded, and `failures` one `(field path, redacted error)` pair per failing entry, in spec order.
    """

    roles: tuple[str, ...] = ()
    direct_grants: int = 0
    default_privileges: int = 0
    failures: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.failures


@runtime_checkable
class RoleGrantAdapter(Protocol):
    """Roles (DatabaseRole, ClusterDatabaseRole) and grants (DatabaseGrant, ClusterDatabaseGrant) on one server."""

    engine: str

    async def observe_role(self, name: str) -> ObservedAccount | None:
        """The role `name` (attributes under the spec's field names, direct memberships), or None."""
        ...

    async def create_managed_role(self, spec: RoleSpec) -> None:
        """Create the role with its attributes and memberships, then grant its own `grants[]` (all-or-error:
        a failing entry raises `EngineError` naming it, after every entry was attempted)."""
        ...

    async def apply_managed_role(self, spec: RoleSpec, observed: ObservedAccount) -> list[str]:
        """Bring attributes in line, add missing memberships and (re-)grant the role's `grants[]`; removes nothing.
        Returns the changed field paths."""
        ...

    async def drop_managed_role(self, spec: RoleSpec) -> None:
        """Reassign/drop what the role owns where the engine has ownership, then drop it; missing is not an error."""
        ...

    async def apply_access(self, grantee: str, spec: GrantSpec) -> AccessOutcome:
        """Grant the spec's memberships, entries and default privileges to `grantee`. `InvalidSpec` before any SQL
        when an entry is invalid; otherwise every entry is attempted and failures are reported in the outcome."""
        ...

    async def revoke_access(self, grantee: str, spec: GrantSpec) -> AccessOutcome:
        """Revoke what `apply_access` granted for the same spec; privileges already gone are not an error."""
        ...
