"""Auto-ownership of a database (behaviour.md 7.6, api.md 5.14, engines.md 2.1): names and the adapter capability.

With ``spec.postgres.ownership.autoOwnership`` a Database gets a dedicated owner role (no login, inherit) that owns
the database and its schemas, and an app login (login, inherit, no password) that is a member of it; with
``setDefaultPrivileges`` both get default privileges on each other's future objects. The names default to
``db_<spec.name>_owner`` and ``db_<spec.name>_app``; a derived name longer than the 63-byte identifier limit fails
with ``InvalidSpec`` rather than being truncated, so two databases can never end up sharing a role.

Like initSQL this is a capability, not part of `EngineAdapter`: only the PostgreSQL adapter implements
`OwnershipAdapter`, and engines that cannot honour the option report it through ``unsupported_database_fields``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from dbops.api.database import DatabaseSpec
from dbops.engines.errors import InvalidSpec

__all__ = ["MAX_NAME_BYTES", "OwnershipAdapter", "OwnershipNames", "effective_owner", "ownership_names"]

MAX_NAME_BYTES = 63

ROLE_FIELD = "spec.postgres.ownership.roleName"
USER_FIELD = "spec.postgres.ownership.userName"


@dataclass(frozen=True)
class OwnershipNames:
    """The owner role and the app login of one Database."""

    role: str
    user: str


def _checked(name: str, field: str, derived: bool) -> str:
    if len(name.encode()) > MAX_NAME_BYTES:
        how = "the derived name" if derived else "the name"
        raise InvalidSpec(field, f"{how} {name!r} is longer than {MAX_NAME_BYTES} bytes; set {field} explicitly")
    return name


def ownership_names(spec: DatabaseSpec) -> OwnershipNames | None:
    """The auto-ownership names of the spec, or None when ``autoOwnership`` is off; InvalidSpec for a name that is
    too long (a role and a user of the same name are refused too: the model needs two roles)."""
    config = spec.postgres.ownership if spec.postgres is not None else None
    if config is None or not config.auto_ownership:
        return None
    role = _checked(config.role_name or f"db_{spec.name}_owner", ROLE_FIELD, config.role_name is None)
    user = _checked(config.user_name or f"db_{spec.name}_app", USER_FIELD, config.user_name is None)
    if role == user:
        raise InvalidSpec(USER_FIELD, f"must differ from {ROLE_FIELD} ({role!r})")
    return OwnershipNames(role=role, user=user)


def effective_owner(spec: DatabaseSpec, names: OwnershipNames | None) -> str | None:
    """The database owner the operator enforces: the auto-ownership role when active, else ``spec.owner`` (None: the
    admin account). A different ``spec.owner`` next to auto-ownership is not used; it is reported unsupported."""
    return names.role if names is not None else spec.owner


@runtime_checkable
class OwnershipAdapter(Protocol):
    """An adapter able to set up auto-ownership."""

    async def ensure_ownership_roles(self, names: OwnershipNames) -> list[str]:
        """Create the owner role and the app user when missing and make the app user a member of the owner role;
        returns the names of the roles it created (a `dropOnDelete` drops only those). Runs before the database is
        created (it will be owned by the role)."""
        ...

    async def apply_ownership(self, spec: DatabaseSpec, names: OwnershipNames) -> list[str]:
        """Inside the existing database: the default privileges of ``setDefaultPrivileges`` in ``public`` and every
        listed schema, both ways. Returns the field paths of what it changed."""
        ...
