"""The CockroachDB engine adapter: the PostgreSQL adapter with the differences of engines.md section 3.

CockroachDB speaks the PostgreSQL protocol and most of its dialect, so `CockroachAdapter` is a `PostgresAdapter`
whose dialect is `COCKROACHDB` (the pure builders then leave out what CockroachDB lacks: LC_COLLATE, TABLESPACE,
IS_TEMPLATE, SUPERUSER, NOINHERIT, IN ROLE …) and which replaces what works differently there:

* version: `version()` (`CockroachDB CCL v24.1.0 (…)`), not the PostgreSQL-compatible `SHOW server_version`;
* options reported unsupported (engines.md 1.7 CockroachDB row): locale, tablespace, template, is-template,
  `allowConnections: false`, a connection limit, extensions; `superuser`, `inherit: false` and the role options the
  version rejects; `dual-password`;
* dropping a database: DROP DATABASE IF EXISTS … CASCADE, without ending sessions first (schema changes are online);
* owned objects: no usable shared dependency catalog, so every database except `system` is searched (`pg_class`,
  `pg_proc`, `pg_namespace`, `pg_type`), plus the databases the role owns;
* dropping a role: DROP OWNED leaves database privileges in place, so ALL ON DATABASE is revoked in every database
  first, then REASSIGN OWNED / DROP OWNED per database, then DROP ROLE IF EXISTS.

Everything else — observation, creation, accounts, passwords, memberships — is the PostgreSQL adapter's.
"""

from __future__ import annotations

import re
from contextlib import suppress
from typing import TYPE_CHECKING

from dbops.api.database import DatabaseSpec
from dbops.api.user import DatabaseUserSpec
from dbops.engines.base import EngineAdapter, EngineError, OwnedObject
from dbops.engines.connection import ConnectionSettings, ServerInfo
from dbops.engines.errors import InvalidSpec
from dbops.engines.observer import ConnectionObserver
from dbops.engines.postgres import catalog, sql
from dbops.engines.postgres.adapter import LONG_SECONDS, PostgresAdapter
from dbops.engines.postgres.mapping import (
    database_config,
    database_options,
    role_attributes,
    unsupported_database_fields,
    unsupported_user_fields,
)
from dbops.engines.sql.quoting import pg_ident

__all__ = ["SYSTEM_DATABASE", "CockroachAdapter", "cockroach_dialect", "cockroach_version"]

SYSTEM_DATABASE = "system"
"""The one database never searched or changed (engines.md 3 "Owned objects")."""

_VERSION = re.compile(r"v(\d+)\.(\d+)")


def cockroach_version(banner: str) -> tuple[int, int]:
    """`(major, minor)` from `version()` (`CockroachDB CCL v24.1.0 (…)`); `(0, 0)` when unparsable."""
    match = _VERSION.search(banner)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def cockroach_dialect(version: tuple[int, int] | None) -> sql.PgDialect:
    """The CockroachDB dialect. Role options the version may reject stay off (they are reported instead), which is
    the safe reading of engines.md 3 "applied only where the server version accepts them" until each is verified
    against a real cluster."""
    return sql.COCKROACHDB


class CockroachAdapter(PostgresAdapter):
    """`EngineAdapter` for CockroachDB; see the module docstring."""

    engine = "cockroachdb"
    atomic_account_creation = False
    """Role statements one by one, as before: their behaviour inside explicit transactions is not verified here (no
    CockroachDB cluster on these machines)."""

    def __init__(self, settings: ConnectionSettings, observer: ConnectionObserver | None = None) -> None:
        super().__init__(settings, observer)
        self._cockroach_version: tuple[int, int] | None = None

    def __repr__(self) -> str:
        s = self.settings
        return f"CockroachAdapter(host={s.host!r}, port={s.port}, username={s.username!r}, database={s.database!r})"

    async def _dialect(self) -> sql.PgDialect:
        return cockroach_dialect(self._cockroach_version)

    async def check(self) -> ServerInfo:
        """The PostgreSQL check (fresh session, ping, flavour), with `version()` as the version (engines.md 1.4)."""
        info = await super().check()
        banner = str(await self._fetchval((catalog.SERVER_VERSION_TEXT, ())))
        self._cockroach_version = cockroach_version(banner)
        return ServerInfo(version=banner, flavour=info.flavour)

    # Reporting (engines.md 1.7) ----------------------------------------------------------------------------------

    def unsupported_database_fields(self, spec: DatabaseSpec, server: ServerInfo | None) -> list[str]:
        config = database_config(spec)
        fields = sql.cockroach_unsupported_database_fields(
            database_options(spec, None),
            allow_connections=config.allow_connections,
            extensions=len(config.extensions or ()),
        )
        common = unsupported_database_fields(spec)
        ownership = config.ownership
        if ownership is not None and ownership.auto_ownership:
            # Not verified against a CockroachDB cluster yet (its role and default-privilege catalogs differ), so
            # it is reported rather than attempted; `spec.owner` then stays in effect and is not reported.
            fields.append("spec.postgres.ownership.autoOwnership")
            common = [f for f in common if f != "spec.owner"]
        return list(dict.fromkeys(fields + common))

    def unsupported_user_fields(self, spec: DatabaseUserSpec, server: ServerInfo | None) -> list[str]:
        fields = unsupported_user_fields(spec)
        # An unparsable validUntil fails the apply with InvalidSpec; there is nothing to report for it here.
        with suppress(InvalidSpec):
            fields += sql.cockroach_unsupported_role_fields(role_attributes(spec), cockroach_dialect(None))
        return list(dict.fromkeys(fields))

    # Databases ---------------------------------------------------------------------------------------------------

    async def drop_database(self, name: str) -> None:
        """DROP DATABASE IF EXISTS … CASCADE; sessions are not ended first (engines.md 3)."""
        statements = sql.drop_database(name, await self._dialect())
        await self._server.close_database(name)
        await self._execute(statements, seconds=LONG_SECONDS)

    # Accounts ----------------------------------------------------------------------------------------------------

    async def _searchable_databases(self) -> list[str]:
        rows = await self._fetch((catalog.LIST_DATABASES, ()))
        return [str(r["name"]) for r in rows if r["name"] != SYSTEM_DATABASE]

    async def owned_objects(self, username: str) -> list[OwnedObject]:
        """Databases the role owns, then the role's tables, views, sequences, functions, schemas and types in every
        database except `system` (no shared dependency catalog to narrow the search)."""
        pg_ident(username, "spec.username")
        out = [
            OwnedObject(database=r["database"], schema=None, kind="database", name=r["database"])
            for r in await self._fetch(catalog.databases_owned_by(username))
        ]
        for database in await self._searchable_databases():
            for obj in await self._fetch(catalog.objects_owned_by(username), database=database):
                out.append(OwnedObject(database=database, schema=obj["schema"], kind=obj["type"], name=obj["name"]))
        return out

    async def drop_account(self, username: str) -> None:
        """REVOKE ALL ON DATABASE in every database, REASSIGN OWNED / DROP OWNED in each, then DROP ROLE IF EXISTS."""
        pg_ident(username, "spec.username")
        if not await self._fetch(catalog.role_attributes(username)):
            return
        databases = await self._searchable_databases()
        for database in databases:
            with suppress(EngineError):  # nothing granted there is not an error worth stopping for
                await self._execute([sql.revoke_all_on_database(database, username)])
        cleanup = [sql.reassign_owned(username, self.admin), sql.drop_owned(username)]
        for database in databases:
            await self._execute(cleanup, database=database, seconds=LONG_SECONDS)
        await self._execute([sql.drop_role(username)], seconds=LONG_SECONDS)


if TYPE_CHECKING:

    def _conforms(settings: ConnectionSettings) -> EngineAdapter:
        """mypy proves here that CockroachAdapter implements the EngineAdapter protocol."""
        return CockroachAdapter(settings)
