"""The role and grant half of an engine adapter, as its own protocol (behaviour.md 9, 10; engines.md 2.2-2.3, 4.3-4.4).

Kept apart from `EngineAdapter` so the account/database protocol stays what the Database and DatabaseUser
controllers need, and so an engine without roles (none yet) simply does not satisfy it: the role and grant controllers
check `isinstance(adapter, RoleGrantAdapter)` and report the engine as unsupported otherwise.

The operations take the API specs and read the engine block they understand, like `EngineAdapter` does. Grant
application never stops at the first failing entry (behaviour.md 10.2: all entries are attempted); it returns an
`AccessOutcome` naming what was applied and what failed, and the controller decides the events.

Drift (behaviour.md 11) is a further, optional protocol, `AccessDriftAdapter`: an engine that can read its roles'
and grantees' state back and correct it. The role and grant controllers find it with `drift_support(adapter)`, so
an adapter without it keeps working (its objects simply get no drift check) and nothing in `RoleGrantAdapter`
changes. An engine module may also register a wrapper for its adapter (`register_drift_support`) instead of adding
methods to the adapter class itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from dbops.api.grant import ClusterDatabaseGrantSpec, DatabaseGrantSpec
from dbops.api.grants import MySQLGrant, PostgresGrant
from dbops.api.role import ClusterDatabaseRoleSpec, DatabaseRoleSpec
from dbops.engines.base import ObservedAccount
from dbops.engines.capability import Capability
from dbops.engines.difference import Difference

__all__ = [
    "AccessDriftAdapter",
    "AccessOutcome",
    "DeclaredAccess",
    "Difference",
    "GrantSpec",
    "RoleGrantAdapter",
    "RoleSpec",
    "drift_support",
    "register_drift_support",
]

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


# Drift ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeclaredAccess:
    """Everything the operator's resources declare for one grantee (behaviour.md 11.3: "extra" is relative to all of
    it, so one resource never reports another resource's items as extra).

    `memberships`: roles the grantee is declared a member of (the user's or role's own list, every grant's
    `roles`, rotation's service-role memberships). `postgres.grants`: every PostgreSQL grant entry declared for it
    (the role's own `grants[]` and every grant resource's entries), this resource's included.
    """

    memberships: frozenset[str] = frozenset()
    postgres_grants: tuple[PostgresGrant, ...] = ()
    mysql_grants: tuple[MySQLGrant, ...] = ()
    """Every MySQL/MariaDB grant entry declared for the grantee (a role's own `mysql.grants`, every grant's)."""


@runtime_checkable
class AccessDriftAdapter(Protocol):
    """Reading back and correcting roles and grants (behaviour.md 11.3, 11.4). Optional for engines."""

    async def role_drift(self, spec: RoleSpec, declared: DeclaredAccess) -> list[Difference]:
        """Differences of a role: attributes, memberships (`inRoles.missing` / `.extra`) and its own `grants[]`."""
        ...

    async def access_drift(self, grantee: str, spec: GrantSpec, declared: DeclaredAccess) -> list[Difference]:
        """Differences of one grant resource for `grantee`: memberships, privileges, default privileges."""
        ...

    async def correct_drift(self, diffs: Sequence[Difference]) -> dict[str, str]:
        """Apply the `fix` of each difference (all attempted); `{field: redacted error}` for those that failed."""
        ...


ACCESS_DRIFT: Capability[AccessDriftAdapter] = Capability()
register_drift_support = ACCESS_DRIFT.register


def drift_support(adapter: object) -> AccessDriftAdapter | None:
    """The adapter's drift half: the adapter itself when it implements the protocol, else a registered wrapper for
    its engine, else None (the engine has no drift support in this build)."""
    if isinstance(adapter, AccessDriftAdapter):
        return adapter
    return ACCESS_DRIFT.of(adapter)
