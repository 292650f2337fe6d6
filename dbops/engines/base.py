"""The engine adapter protocol: what controllers ask of a database server, in engine-neutral terms.

Controllers are shared by every engine (issue 7: "only the adapter and SQL builders are engine-specific"). They read
the typed API specs and call these operations; each adapter reads the engine block of the spec it understands
(`spec.postgres`, `spec.mysql`, `spec.clickhouse`), builds statements with the pure builders of `dbops.engines.sql`,
and executes them on its server handle. Adapters never touch Kubernetes and never emit events: they return what
they observed or did, and raise `InvalidSpec` (permanent, names the field) or `EngineError` (transient, redacted).

Observation is separate from action so that the controller can decide existence (create / take over / recreate),
compute drift, and fill status from one read of the server.

Two optional capabilities sit beside the protocol, so adapters without them keep conforming:

* `DatabaseDriftAdapter`: a Database's drift (behaviour.md 11), found with `database_drift_support(adapter)` — the
  adapter itself when it implements the protocol, else a wrapper registered for its exact engine name (so the
  CockroachDB adapter, a subclass of the PostgreSQL one, does not inherit PostgreSQL's catalog reading by accident).
* `SessionConfigVerifier`: `verify_database(name, config=<the Database's mysql block>)`, for engines whose sessions
  on a database carry per-database settings (MySQL/MariaDB `sqlMode`, `defaultStorageEngine`); see
  `accepts_session_config`.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from dbops.api.database import DatabaseMySQLConfig, DatabaseSpec
from dbops.api.user import DatabaseUserSpec
from dbops.engines.capability import Capability
from dbops.engines.connection import ConnectionSettings, ServerInfo

if TYPE_CHECKING:
    from dbops.engines.difference import Difference
    from dbops.engines.ownership import OwnershipNames


class EngineError(Exception):
    """A server-side failure of an operation (permission denied, object in use, …): transient, retried with backoff.

    The message has been redacted (no passwords, verifiers or credential-bearing URIs) and is safe for status,
    events and logs.
    """


@dataclass(frozen=True)
class ObservedDatabase:
    """A database as the server reports it (engines.md 2.4 / 4.5 / 6.5). Fields an engine lacks stay None."""

    name: str
    owner: str | None = None
    encoding: str | None = None
    collation: str | None = None
    ctype: str | None = None
    charset: str | None = None
    connection_limit: int | None = None
    is_template: bool | None = None
    allow_connections: bool | None = None
    tablespace: str | None = None
    size_bytes: int | None = None
    comment: str | None = None
    extensions: dict[str, str] = field(default_factory=dict)
    """Installed extension name → version (PostgreSQL; read inside the database)."""
    schemas: dict[str, str] = field(default_factory=dict)
    """Schema name → owner (PostgreSQL; read inside the database, system schemas left out)."""


@dataclass(frozen=True)
class ObservedAccount:
    """A login account or role as the server reports it. `attributes` uses the spec's field names as keys
    (for PostgreSQL e.g. `login`, `superuser`, `createDB`, `connectionLimit`, `validUntil`), so drift is a plain
    comparison with the spec block."""

    name: str
    attributes: dict[str, object] = field(default_factory=dict)
    member_of: frozenset[str] = frozenset()
    settings: dict[str, str] = field(default_factory=dict)
    comment: str | None = None
    hosts: frozenset[str] = frozenset()
    """MySQL family: the host parts of the accounts with this user name (one account per allowed host)."""


@dataclass(frozen=True)
class OwnedObject:
    """Something an account owns that blocks dropping it (api.md 6.4 ownership pre-check)."""

    database: str
    schema: str | None
    kind: str
    name: str


class EngineAdapter(Protocol):
    """Operations on one server through its admin account. One adapter per instance, shared by all controllers."""

    engine: str
    settings: ConnectionSettings

    async def check(self) -> ServerInfo:
        """One health check: a fresh session, a ping and the version query (engines.md 1.4)."""
        ...

    async def close(self) -> None:
        """Close every cached session."""
        ...

    # Databases -------------------------------------------------------------------------------------------------

    def unsupported_database_fields(self, spec: DatabaseSpec, server: ServerInfo | None) -> list[str]:
        """Field paths of `spec` this engine/version cannot honour (engines.md 1.7); reported, not failed."""
        ...

    async def observe_database(self, name: str) -> ObservedDatabase | None:
        """The database `name`, or None when it does not exist."""
        ...

    async def create_database(self, spec: DatabaseSpec, *, owner: str | None, comment: str | None) -> None:
        """CREATE DATABASE with every creation-time option of the spec's engine block (behaviour.md 7.2).

        `owner` is the effective owner (spec.owner, else the auto-ownership role, else None for the admin);
        `comment` the resource-tracking text, when tracking is enabled.
        """
        ...

    async def verify_database(self, name: str) -> None:
        """Open a session to the new database and run a trivial query (behaviour.md 7.4); EngineError until it works."""
        ...

    async def apply_database(self, spec: DatabaseSpec, observed: ObservedDatabase, *, owner: str | None) -> list[str]:
        """Bring the server in line with the spec's alterable settings (behaviour.md 7.5): connection limit,
        is-template, owner, extensions, schemas, default privileges; never drops anything. Returns the field paths
        it changed (empty when nothing was needed)."""
        ...

    async def drop_database(self, name: str) -> None:
        """End the database's other sessions (best effort) and drop it; a missing database is not an error."""
        ...

    async def user_object_count(self, name: str) -> int:
        """Tables, views, sequences and functions outside the system schemas in database `name` (ClickHouse:
        tables): the restore's data-loss guard (backup.md 10.2 step 7). 0 for a missing database."""
        ...

    async def database_sizes(self) -> dict[str, int]:
        """Size in bytes of every database on the server, in one query (behaviour.md 6.5)."""
        ...

    # Login accounts (DatabaseUser) -------------------------------------------------------------------------------

    def unsupported_user_fields(self, spec: DatabaseUserSpec, server: ServerInfo | None) -> list[str]:
        """Field paths of `spec` this engine/version cannot honour; reported, not failed."""
        ...

    async def observe_account(self, username: str) -> ObservedAccount | None:
        """The login account `username` (all its hosts on MySQL), or None when it does not exist."""
        ...

    async def create_account(self, spec: DatabaseUserSpec, *, password: str, comment: str | None) -> None:
        """Create the account with every attribute of the spec's engine block and the password."""
        ...

    async def apply_account(self, spec: DatabaseUserSpec, observed: ObservedAccount) -> list[str]:
        """Bring the account's attributes, memberships and settings in line with the spec (adds only).
        Returns the field paths it changed."""
        ...

    async def set_password(self, username: str, password: str) -> None:
        """Set the account's password (SCRAM verifier on PostgreSQL when the server uses SCRAM, engines.md 1.5)."""
        ...

    async def owned_objects(self, username: str) -> list[OwnedObject]:
        """What the account owns, across databases (engines.md 2.5); empty on engines without ownership."""
        ...

    async def drop_account(self, username: str) -> None:
        """Reassign/drop what it owns as engines.md prescribes, then drop the account; missing is not an error."""
        ...


# Optional capabilities ----------------------------------------------------------------------------------------------


@runtime_checkable
class DatabaseDriftAdapter(Protocol):
    """Reading back and correcting one Database (behaviour.md 11.3, 11.4; api.md 4.4 Database rows)."""

    async def database_drift(
        self, spec: DatabaseSpec, *, owner: str | None, names: OwnershipNames | None
    ) -> list[Difference]:
        """Every difference between the spec and the database, flagged destructive/immutable, each carrying its
        engine-specific correction. `owner` is the effective owner (None: none declared), `names` the
        auto-ownership names when the engine honours them. Empty when the database does not exist (existence is
        the reconcile's business)."""
        ...

    async def correct_database_drift(self, diffs: Sequence[Difference]) -> dict[str, str]:
        """Apply the corrections of `diffs` (all attempted, in the engine's dependency order); returns
        `{field: redacted error}` for those that failed."""
        ...


DATABASE_DRIFT: Capability[DatabaseDriftAdapter] = Capability()
register_database_drift = DATABASE_DRIFT.register


def database_drift_support(adapter: object) -> DatabaseDriftAdapter | None:
    """The adapter's Database drift half: the adapter itself when it implements the protocol, else the wrapper
    registered for its engine, else None (the engine has no Database drift in this build)."""
    if isinstance(adapter, DatabaseDriftAdapter):
        return adapter
    return DATABASE_DRIFT.of(adapter)


class UserDriftAdapter(Protocol):
    """Reading back and correcting one DatabaseUser's login account (behaviour.md 11.3, 11.4)."""

    async def user_drift(
        self, spec: DatabaseUserSpec, *, login: str, service_role: str | None, declared: Iterable[str]
    ) -> list[Difference]:
        """Every difference of the account `login`, flagged destructive/immutable, each carrying its correction.
        `declared`: memberships other resources declare for the user. Empty when the account does not exist."""
        ...

    async def correct_user_drift(self, diffs: Sequence[Difference]) -> dict[str, str]:
        """Apply the corrections of `diffs` (all attempted); `{field: redacted error}` for those that failed."""
        ...


USER_DRIFT: Capability[UserDriftAdapter] = Capability()
"""A DatabaseUser's drift half, per engine."""
register_user_drift = USER_DRIFT.register
user_drift_support = USER_DRIFT.of


class SessionConfigVerifier(Protocol):
    """`verify_database` with the Database's `mysql` block, so the verification session gets its `sqlMode` and
    `defaultStorageEngine` (behaviour.md 7.5: set on every operator session for the database)."""

    async def verify_database(self, name: str, *, config: DatabaseMySQLConfig | None = None) -> None: ...


def accepts_session_config(adapter: object) -> bool:
    """Whether the adapter's `verify_database` takes the `config` keyword (`SessionConfigVerifier`).

    Every adapter has a `verify_database`, so a runtime protocol check cannot tell the two forms apart; the
    signature can."""
    method = getattr(adapter, "verify_database", None)
    if method is None:
        return False
    try:
        parameter = inspect.signature(method).parameters.get("config")
    except (TypeError, ValueError):
        return False
    return parameter is not None and parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD)
