"""`MySQLAdapter`: the `EngineAdapter` for the `mysql` and `mariadb` engines (engines.md 4, 5, 8.1).

The registry imports this class for both engines. `engine` starts as `settings.engine` and becomes the detected
flavour after the first health check (a MariaDB server behind `engine: mysql` is reported by the instance
controller as `EngineMismatch`, and MariaDB rules are used, engines.md 1.4). Every SQL difference between the two
servers is decided by the `MySQLDialect` the server handle detects; this module never branches on the flavour to
choose SQL text.

Databases and login accounts implement the protocol. Operations beyond the protocol, for the controllers that need
them:

* Roles, memberships and grants (`MySQLAccessMixin`, `dbops.engines.mysql.access`): `observe_role`, `create_role`,
  `drop_role`, `grantee_accounts`, `grant_roles`, `revoke_roles`, `apply_grants`, `revoke_grants`,
  `observe_privileges`, `grant_drift`, and for drift correction `grant_privileges` / `revoke_privileges`. Drift diffs
  in api.md 4.4 terms come from `dbops.engines.mysql.spec` (`database_drift`, `account_drift`, `privilege_drift`)
  and, with their corrections, from `dbops.engines.mysql.drift`.

* `verify_database(name, config=...)` / `run_in_database(...)`: sessions on one database with its `sqlMode` and
  `defaultStorageEngine` (verification).
* `run_init_sql(spec, statements, ...)`: initSQL (`dbops.engines.initsql.InitSQLRunner`, behaviour.md 12) on such a
  session; implementing it is what makes `spec.initSQL` supported on MySQL/MariaDB.
* Drift: importing this module registers the drift halves of `dbops.engines.mysql.drift` for `mysql` and `mariadb`
  (Database charset/collation, roles and grants, accounts), and dual-password rotation (`dbops.engines.rotation`).
* `terminate_sessions(database)`: KILL CONNECTION for every other session on a database (engines.md 4.6).
* `rotate_password(username, password, retain_current=...)`, `discard_old_password(username)`: dual-password
  rotation on MySQL 8.0.14+ (behaviour.md 8.6); `disable_account(username)`: ACCOUNT LOCK on every host entry;
  `drop_hosts(username, hosts)`: correction of `allowedHosts.extra`.
* `read_tracking` / `write_tracking` / `remove_tracking`: the tracking text (user attribute on MySQL 8.0.21+,
  otherwise the metadata table of engines.md 4.8).

Passwords only travel inside account statements as escaped literals (engines.md 1.5) and are passed as `secrets`
to the server handle, which cuts them out of any error message.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dbops.api.database import DatabaseMySQLConfig, DatabaseSpec
from dbops.api.user import DatabaseUserSpec
from dbops.engines.access import AccessOutcome, GrantSpec, RoleGrantAdapter, RoleSpec
from dbops.engines.base import EngineAdapter, EngineError, ObservedAccount, ObservedDatabase, OwnedObject
from dbops.engines.connection import ConnectionFailure, ConnectionSettings, ServerInfo, TrackingConfig
from dbops.engines.errors import InvalidSpec
from dbops.engines.initsql import MYSQL as MYSQL_SPLIT
from dbops.engines.initsql import InitSQLRun, InitSQLRunner, literal_contents
from dbops.engines.mysql import catalog, sql
from dbops.engines.mysql.access import EntryOutcome, MySQLAccessMixin
from dbops.engines.mysql.drift import register as _register_drift
from dbops.engines.mysql.rotation import MySQLDualPassword
from dbops.engines.mysql.server import (
    SESSION_LOST,
    MySQLServer,
    MySQLServerError,
    SessionOptions,
    quit_connection,
)
from dbops.engines.mysql.spec import (
    account_options,
    database_config,
    desired_attributes,
    grant_entries,
    hosts_of,
    other_engine_blocks,
    secret_format_unsupported,
    user_config,
    uses_dual_password,
)
from dbops.engines.mysql.sql import PLUGINS, Account, Flavour, MySQLDialect, parse_version
from dbops.engines.observer import ConnectionObserver
from dbops.engines.rotation import register_dual_password
from dbops.engines.sql.quoting import NameKind, mysql_ident
from dbops.engines.sql.redact import redact

__all__ = ["LONG_SECONDS", "MySQLAdapter", "TrackingConfig"]

LONG_SECONDS = 600.0
"""Limit for long operations such as dropping a large database (behaviour.md 2)."""

_NO_TABLE = frozenset({1049, 1146})  # unknown database, unknown table: no tracking table yet
_UNKNOWN_THREAD = 1094  # KILL of a session that ended meanwhile
_CHARSET_ERRORS = {
    1115: "spec.mysql.charset",  # ER_UNKNOWN_CHARACTER_SET
    1273: "spec.mysql.collation",  # ER_UNKNOWN_COLLATION
    1253: "spec.mysql.collation",  # ER_COLLATION_CHARSET_MISMATCH
}
"""Server refusals of a database's character set or collation, and the field each one is about."""


class MySQLAdapter(MySQLAccessMixin):
    """Operations on one MySQL or MariaDB server through its admin account; see the module docstring."""

    def __init__(
        self,
        settings: ConnectionSettings,
        observer: ConnectionObserver | None = None,
        *,
        options: SessionOptions | None = None,
        tracking: TrackingConfig | None = None,
    ) -> None:
        self.settings = settings
        self.engine = settings.engine
        self.server = MySQLServer(settings, observer, options)
        self.tracking = tracking or settings.tracking

    async def _dialect(self) -> MySQLDialect:
        dialect = await self.server.detect()
        self.engine = dialect.flavour.value
        return dialect

    def _static_dialect(self, server: ServerInfo | None) -> MySQLDialect:
        """The dialect for synchronous reporting: the detected one, else one from `server`, else the engine's."""
        if self.server.dialect is not None:
            return self.server.dialect
        if server is not None and server.flavour in (Flavour.MYSQL, Flavour.MARIADB):
            return MySQLDialect(flavour=Flavour(server.flavour), version=parse_version(server.version))
        return sql.DEFAULT_MARIADB if self.settings.engine == Flavour.MARIADB else sql.DEFAULT_MYSQL

    async def check(self) -> ServerInfo:
        """One health check (engines.md 1.4); sets `engine` to the detected flavour."""
        info = await self.server.check()
        self.engine = info.flavour
        return info

    async def close(self) -> None:
        await self.server.close()

    # Databases (engines.md 4.1) ----------------------------------------------------------------------------------

    def unsupported_database_fields(self, spec: DatabaseSpec, server: ServerInfo | None) -> list[str]:
        """`spec.owner` (MySQL has no database owners) and other engines' blocks; the `mysql` block is honoured."""
        return (["spec.owner"] if spec.owner else []) + other_engine_blocks(spec)

    async def observe_database(self, name: str) -> ObservedDatabase | None:
        rows = [r for r in await self.server.fetch(catalog.SCHEMA, (name,)) if r["name"] == name]
        if not rows:
            return None
        size = await self.server.fetch(catalog.DATABASE_SIZE, (name,))
        return ObservedDatabase(
            name=name,
            charset=str(rows[0]["charset"]),
            collation=str(rows[0]["collation"]),
            size_bytes=int(size[0]["size_bytes"]) if size else None,
            comment=await self._metadata_text("Database", name),
        )

    async def _check_storage_engine(self, config: DatabaseMySQLConfig) -> None:
        rows = await self.server.fetch(catalog.STORAGE_ENGINE_SUPPORT, (config.default_storage_engine,))
        if not any(str(r["SUPPORT"]).upper() in ("YES", "DEFAULT") for r in rows):
            raise InvalidSpec("spec.mysql.defaultStorageEngine", "is not a storage engine this server offers")

    async def create_database(self, spec: DatabaseSpec, *, owner: str | None, comment: str | None) -> None:
        """CREATE DATABASE IF NOT EXISTS with character set and collation; `owner` is not applicable (reported)."""
        config = database_config(spec)
        statement = sql.create_database(spec.name, charset=config.charset, collation=config.collation)
        await self._check_storage_engine(config)
        await self._execute_charset_statement(statement)
        if comment is not None:
            await self.write_tracking("Database", spec.name, comment)

    async def verify_database(self, name: str, *, config: DatabaseMySQLConfig | None = None) -> None:
        """A fresh session on the database with its SQL mode and storage engine, and `SELECT 1` (behaviour.md 7.4).

        `config` is the Database's `mysql` block (the protocol passes only the name; without it the session uses
        the server's defaults). EngineError until it works.
        """
        await self.run_in_database(name, ["SELECT 1"], config=config)

    async def run_in_database(
        self, name: str, statements: Sequence[str], *, config: DatabaseMySQLConfig | None = None
    ) -> int:
        """Run statements one at a time on a dedicated session whose default database is `name`. Returns how many
        succeeded before the first failure, which raises `EngineError` with the statement's index and the redacted
        server message."""
        connection = await self._database_session(name, config)
        done = 0
        try:
            for statement in statements:
                try:
                    await self.server.run(connection, [statement])
                except MySQLServerError as error:
                    raise MySQLServerError(error.code, f"statement {done + 1}: {error.detail}") from None
                done += 1
        finally:
            await quit_connection(connection)
        return done

    async def _database_session(self, name: str, config: DatabaseMySQLConfig | None) -> Any:
        """A dedicated session (never a pooled one: the statements may change session state) whose default database
        is `name`, with the Database's `sqlMode` and `defaultStorageEngine` as session values (engines.md 1.3)."""
        setup: list[str] = []
        if config is not None:
            if config.sql_mode is not None:
                setup.append(sql.set_session_sql_mode(config.sql_mode))
            setup.append(sql.set_session_storage_engine(config.default_storage_engine))
        try:
            return await self.server.dial(name, setup=setup)
        except ConnectionFailure as failure:
            raise EngineError(f"cannot open a session on database {name!r}: {failure}") from None

    async def run_init_sql(
        self, spec: DatabaseSpec, statements: Sequence[str], *, role: str | None, sensitive: bool
    ) -> InitSQLRun:
        """behaviour.md 12 on MySQL/MariaDB: a session of its own whose default database is the target, with the
        Database's `sqlMode` and `defaultStorageEngine`, as the admin account (`role` does not apply: databases
        have no owners here, and `spec.owner` is reported unsupported). Statements run one at a time in autocommit
        mode, each as written in one call (multi-statements are off, so `a; b` is refused by the server rather than
        counted as one), with the usual statement time limit.

        A server error or a time-out of statement k ends the run with `executed = k - 1`; with a Secret source
        (`sensitive`) the literals of that statement are cut out of its message too. A lost session or a session
        that cannot be opened raises (transient). The statements are never logged.
        """
        mysql_ident(spec.name, "spec.name", kind=NameKind.DATABASE)
        connection = await self._database_session(spec.name, database_config(spec))
        try:
            for index, statement in enumerate(statements, start=1):
                secrets = literal_contents(statement, MYSQL_SPLIT) if sensitive else []
                try:
                    await self.server.run(connection, [statement], secrets=secrets)
                except MySQLServerError as error:
                    message = redact(str(error), secrets)
                    if error.code in SESSION_LOST:
                        raise EngineError(f"initSQL statement {index}: {message}") from None
                    return InitSQLRun(executed=index - 1, failed_at=index, error=message)
            return InitSQLRun(executed=len(statements))
        finally:
            await quit_connection(connection)

    async def apply_database(self, spec: DatabaseSpec, observed: ObservedDatabase, *, owner: str | None) -> list[str]:
        """Character set and collation (behaviour.md 7.5); checks that `defaultStorageEngine` exists."""
        config = database_config(spec)
        await self._check_storage_engine(config)
        changed: list[str] = []
        if (observed.charset or "").lower() != config.charset.lower():
            changed.append("spec.mysql.charset")
        if (observed.collation or "").lower() != config.collation.lower():
            changed.append("spec.mysql.collation")
        if changed:
            # Both clauses together: a character set alone would reset the collation to the set's default.
            await self._execute_charset_statement(
                sql.alter_database(spec.name, charset=config.charset, collation=config.collation)
            )
        return changed

    async def _execute_charset_statement(self, statement: str) -> None:
        """CREATE/ALTER DATABASE with a character set and collation. The schema only checks the names' spelling; the
        server decides whether it knows them and whether they belong together, and that answer is a spec error
        naming the field (`InvalidSpec`, not retried), not a transient failure."""
        try:
            await self.server.execute(statement)
        except MySQLServerError as error:
            field = _CHARSET_ERRORS.get(error.code)
            if field is None:
                raise
            raise InvalidSpec(field, error.detail) from None

    async def terminate_sessions(self, database: str) -> int:
        """End every other session whose current database is `database` (best effort). Returns how many ended."""
        ended = 0
        async with self.server.session() as connection:
            rows = await self.server.fetch_on(connection, catalog.SESSIONS_IN_DATABASE, (database,))
            for row in rows:
                try:
                    await self.server.run(connection, [sql.kill_connection(int(row["id"]))])
                    ended += 1
                except MySQLServerError as error:
                    if error.code != _UNKNOWN_THREAD:
                        raise
        return ended

    async def drop_database(self, name: str) -> None:
        """End the database's other sessions (best effort, engines.md 4.6), then DROP DATABASE IF EXISTS."""
        # Best effort: without PROCESS/CONNECTION_ADMIN the drop may still succeed, or wait for the sessions.
        with contextlib.suppress(MySQLServerError):
            await self.terminate_sessions(name)
        await self.server.execute(sql.drop_database(name), seconds=LONG_SECONDS)

    async def user_object_count(self, name: str) -> int:
        rows = await self.server.fetch(catalog.USER_OBJECT_COUNT, (name, name, name))
        return int(rows[0]["n"]) if rows else 0

    async def database_sizes(self) -> dict[str, int]:
        return {str(r["name"]): int(r["size_bytes"]) for r in await self.server.fetch(catalog.DATABASE_SIZES)}

    # Login accounts (engines.md 4.2) -----------------------------------------------------------------------------

    def unsupported_user_fields(self, spec: DatabaseUserSpec, server: ServerInfo | None) -> list[str]:
        """Plugin the server lacks, failed-login locking before 8.0.19/on MariaDB, dual-password rotation where
        unavailable, more than one role to activate on MariaDB (engines.md 1.7), a non-Kubernetes secret format, and
        other engines' blocks."""
        dialect = self._static_dialect(server)
        fields = sql.unsupported_account_fields(
            account_options(user_config(spec)),
            dialect,
            dual_password=uses_dual_password(spec),
            role_count=len(spec.roles or ()),
        )
        return fields + secret_format_unsupported(spec) + other_engine_blocks(spec)

    async def _account_rows(self, username: str) -> list[catalog.AccountRow]:
        dialect = await self._dialect()
        query, params = catalog.account_rows(username, dialect)
        rows = [catalog.parse_account_row(r) for r in await self.server.fetch(query, params)]
        return [r for r in rows if not r.is_role]

    async def observe_account(self, username: str) -> ObservedAccount | None:
        """Every host entry of `username`: attributes in spec field names (a value that differs between host entries
        is reported as a host → value map, so it never equals the spec), memberships, default roles, tracking."""
        rows = await self._account_rows(username)
        if not rows:
            return None
        dialect = await self._dialect()
        attributes: dict[str, object] = {}
        for key in rows[0].attributes():
            values = {r.host: r.attributes()[key] for r in rows}
            distinct = set(map(repr, values.values()))
            attributes[key] = next(iter(values.values())) if len(distinct) == 1 else values
        query, params = catalog.memberships(username, dialect)
        members = catalog.parse_memberships(await self.server.fetch(query, params))
        query, params = catalog.default_roles(username, dialect)
        defaults = catalog.parse_default_roles(await self.server.fetch(query, params))
        hosts = frozenset(r.host for r in rows)
        comment = next((r.tracking for r in rows if r.tracking is not None), None)
        if comment is None:
            comment = await self._metadata_text("DatabaseUser", username)
        default_roles = sorted(set().union(*(defaults.get(h, frozenset()) for h in hosts)))
        return ObservedAccount(
            name=username,
            attributes=attributes,
            member_of=frozenset().union(*(members.get(h, frozenset()) for h in hosts)),
            settings={"defaultRoles": ",".join(default_roles)},
            comment=comment,
            hosts=hosts,
        )

    def _uses_attributes(self, dialect: MySQLDialect) -> bool:
        return self.tracking.use_user_attributes and dialect.user_attributes

    async def create_account(self, spec: DatabaseUserSpec, *, password: str, comment: str | None) -> None:
        """CREATE USER IF NOT EXISTS per allowed host with the password and every setting, then the role
        memberships, made active at login (behaviour.md 8.3)."""
        dialect = await self._dialect()
        config = user_config(spec)
        attribute = comment if self._uses_attributes(dialect) else None
        opts = account_options(config, attribute=attribute)
        statements = [
            sql.create_user(Account(spec.username, host), password, opts, dialect) for host in hosts_of(spec, dialect)
        ]
        await self.server.execute_all(statements, secrets=[password])
        if spec.roles:
            await self.grant_roles(spec.username, spec.roles)
        if comment is not None and attribute is None:
            await self.write_tracking("DatabaseUser", spec.username, comment)

    async def apply_account(
        self, spec: DatabaseUserSpec, observed: ObservedAccount, *, password: str | None = None
    ) -> list[str]:
        """Add missing hosts (with `password`, or a copy of a `mysql_native_password` hash), ALTER USER every host
        entry when an attribute differs (the whole set, so limits can return to 0), change the plugin (needs
        `password`), and grant missing memberships. Returns the changed field paths."""
        dialect = await self._dialect()
        config = user_config(spec)
        hosts = hosts_of(spec, dialect)
        changed: list[str] = []
        secrets = [password] if password else []
        missing_hosts = [h for h in hosts if h not in observed.hosts]
        if missing_hosts:
            await self._add_hosts(spec.username, missing_hosts, account_options(config), observed, password)
            changed.append("spec.mysql.allowedHosts")
        desired = desired_attributes(config, dialect)
        differing = [key for key, value in desired.items() if observed.attributes.get(key) != value]
        plugin_change = "authPlugin" in differing
        other = [key for key in differing if key != "authPlugin"]
        existing = [Account(spec.username, h) for h in sorted(observed.hosts)]
        if other:
            opts = account_options(config)
            await self.server.execute_all([sql.alter_user(a, opts, dialect) for a in existing])
            changed += [f"spec.mysql.{key}" for key in other]
        if plugin_change and password is not None and config.auth_plugin in PLUGINS:
            statements = [sql.alter_user_password(a, password, dialect, plugin=config.auth_plugin) for a in existing]
            await self.server.execute_all(statements, secrets=secrets)
            changed.append("spec.mysql.authPlugin")
        missing_roles = [r for r in spec.roles or () if r not in observed.member_of]
        if missing_roles or (spec.roles and missing_hosts):
            await self.grant_roles(spec.username, spec.roles or [])
            changed.append("spec.roles")
        return changed

    async def _add_hosts(
        self,
        username: str,
        hosts: Sequence[str],
        opts: sql.AccountOptions,
        observed: ObservedAccount,
        password: str | None,
    ) -> None:
        """New host entries with the account's password: from `password` when given, else by copying the stored
        `mysql_native_password` hash of an existing entry (MariaDB's default plugin). Other plugins store salted
        binary strings that cannot be copied: then the password is required."""
        dialect = await self._dialect()
        if password is not None:
            statements = [sql.create_user(Account(username, h), password, opts, dialect) for h in hosts]
            await self.server.execute_all(statements, secrets=[password])
            return
        native_hash = None
        for host in sorted(observed.hosts):
            rows = await self.server.fetch(catalog.AUTHENTICATION, (username, host))
            auth = str(rows[0]["auth"]) if rows else ""
            if rows and rows[0]["plugin"] == sql.MYSQL_NATIVE and sql.NATIVE_HASH.fullmatch(auth):
                native_hash = auth
                break
        if native_hash is None:
            raise EngineError(f"adding hosts {', '.join(hosts)} to {username!r} needs the account's password")
        statements = [sql.create_user_from_hash(Account(username, h), native_hash, opts, dialect) for h in hosts]
        await self.server.execute_all(statements, secrets=[native_hash])

    async def drop_hosts(self, username: str, hosts: Sequence[str]) -> None:
        """Drift correction of `allowedHosts.extra` (destructive): DROP USER IF EXISTS for those host entries only."""
        dialect = await self._dialect()
        await self.server.execute_all([sql.drop_user(Account(username, h), dialect) for h in hosts])

    async def set_password(self, username: str, password: str) -> None:
        """ALTER USER … IDENTIFIED BY on every host entry. On MySQL each entry keeps its own plugin, named
        explicitly; on MariaDB the account gets the default plugin (engines.md 5)."""
        dialect = await self._dialect()
        rows = await self._account_rows(username)
        statements = [
            sql.alter_user_password(
                Account(username, r.host),
                password,
                dialect,
                plugin=r.plugin if r.plugin in PLUGINS and not dialect.is_mariadb else None,
            )
            for r in rows
        ]
        await self.server.execute_all(statements, secrets=[password])

    async def rotate_password(self, username: str, password: str, *, retain_current: bool = True) -> None:
        """Dual-password rotation (MySQL 8.0.14+): the new password on every host entry, the current one retained
        until `discard_old_password`. `InvalidSpec` on servers without dual passwords."""
        dialect = await self._dialect()
        statements = [
            sql.alter_user_password(Account(username, r.host), password, dialect, retain_current=retain_current)
            for r in await self._account_rows(username)
        ]
        await self.server.execute_all(statements, secrets=[password])

    async def discard_old_password(self, username: str) -> None:
        """ALTER USER … DISCARD OLD PASSWORD on every host entry (end of the dual-password grace period)."""
        dialect = await self._dialect()
        rows = await self._account_rows(username)
        await self.server.execute_all([sql.discard_old_password(Account(username, r.host), dialect) for r in rows])

    async def disable_account(self, username: str) -> None:
        """ACCOUNT LOCK on every host entry (a superseded rotated account, `oldUserPolicy.action: disable`)."""
        dialect = await self._dialect()
        rows = await self._account_rows(username)
        await self.server.execute_all([sql.lock_account(Account(username, r.host), True, dialect) for r in rows])

    async def owned_objects(self, username: str) -> list[OwnedObject]:
        """Views, routines, triggers and events whose DEFINER is this user (any host), engines.md 4.6."""
        query, params = catalog.owned_objects(username)
        rows = await self.server.fetch(query, params)
        return sorted(
            (
                OwnedObject(database=str(r["db"]), schema=None, kind=str(r["kind"]), name=str(r["name"]))
                for r in rows
                if catalog.definer_user(str(r["definer"])) == username
            ),
            key=lambda o: (o.database, o.kind, o.name),
        )

    async def drop_account(self, username: str) -> None:
        """DROP USER IF EXISTS for every host entry found in `mysql.user` (never a MariaDB role of that name), and
        the tracking row. A missing account is not an error."""
        dialect = await self._dialect()
        rows = await self._account_rows(username)
        await self.server.execute_all([sql.drop_user(Account(username, r.host), dialect) for r in rows])
        await self.remove_tracking("DatabaseUser", username)

    # Roles and grants for the controllers (RoleGrantAdapter over MySQLAccessMixin) ----------------------------------

    async def create_managed_role(self, spec: RoleSpec) -> None:
        """A native role, or the locked stand-in account when `useNativeRoles` is false; then its grants."""
        native = spec.mysql.use_native_roles if spec.mysql else True
        entries = grant_entries(spec.mysql.grants if spec.mysql else None)
        await self._plans(entries, "spec.mysql.grants")  # InvalidSpec before any SQL
        await self.create_role(spec.role_name, native=native)
        _raise_failures(await self.apply_grants(spec.role_name, entries), "spec.mysql.grants")

    async def apply_managed_role(self, spec: RoleSpec, observed: ObservedAccount) -> list[str]:
        """Grant the role's entries again (GRANT is idempotent); the role has no attributes to alter here."""
        entries = grant_entries(spec.mysql.grants if spec.mysql else None)
        _raise_failures(await self.apply_grants(spec.role_name, entries), "spec.mysql.grants")
        return []

    async def drop_managed_role(self, spec: RoleSpec) -> None:
        """DROP ROLE IF EXISTS, or DROP USER IF EXISTS for the stand-in form."""
        await self.drop_role(spec.role_name, native=spec.mysql.use_native_roles if spec.mysql else True)

    async def apply_access(self, grantee: str, spec: GrantSpec) -> AccessOutcome:
        """`mysql.roles` (made active at login), then every `mysql.grants[]` entry for every host of the grantee."""
        config = spec.mysql
        if config is None:
            return AccessOutcome()
        entries = grant_entries(config.grants)
        await self._plans(entries, "spec.mysql.grants")
        roles = list(config.roles or ())
        failures: list[tuple[str, str]] = []
        try:
            await self.grant_roles(grantee, roles, field="spec.mysql.roles")
        except MySQLServerError as error:
            failures.append(("spec.mysql.roles", str(error)))
        outcomes = await self.apply_grants(grantee, entries)
        failures += [(f"spec.mysql.grants[{o.index}]", o.error or "") for o in outcomes if not o.applied]
        return AccessOutcome(
            roles=() if failures[:1] and failures[0][0] == "spec.mysql.roles" else tuple(roles),
            direct_grants=sum(1 for o in outcomes if o.applied),
            failures=tuple(failures),
        )

    async def revoke_access(self, grantee: str, spec: GrantSpec) -> AccessOutcome:
        """REVOKE every entry and membership; what is no longer held is skipped."""
        config = spec.mysql
        if config is None:
            return AccessOutcome()
        entries = grant_entries(config.grants)
        outcomes = await self.revoke_grants(grantee, entries)
        roles = list(config.roles or ())
        failures = [(f"spec.mysql.grants[{o.index}]", o.error or "") for o in outcomes if not o.applied]
        try:
            await self.revoke_roles(grantee, roles, field="spec.mysql.roles")
        except MySQLServerError as error:
            failures.append(("spec.mysql.roles", str(error)))
        return AccessOutcome(
            roles=tuple(roles),
            direct_grants=sum(1 for o in outcomes if o.applied),
            failures=tuple(failures),
        )

    # Tracking (engines.md 4.8, api.md 5.7) -----------------------------------------------------------------------

    def _tracking_table(self) -> tuple[str, str]:
        return self.tracking.database or self.settings.database, self.tracking.table

    async def _metadata_text(self, resource_type: str, name: str) -> str | None:
        database, table = self._tracking_table()
        query, params = sql.select_tracking(database, table, resource_type, name)
        try:
            rows = await self.server.fetch(query, params)
        except MySQLServerError as error:
            if error.code in _NO_TABLE:
                return None
            raise
        return str(rows[0]["tracking"]) if rows else None

    async def read_tracking(self, resource_type: str, name: str) -> str | None:
        """The tracking text of a resource (`Database`, `DatabaseUser`, `DatabaseRole`), wherever it is kept."""
        if resource_type == "DatabaseUser" and self._uses_attributes(await self._dialect()):
            rows = await self._account_rows(name)
            text = next((r.tracking for r in rows if r.tracking is not None), None)
            if text is not None:
                return text
        return await self._metadata_text(resource_type, name)

    async def write_tracking(self, resource_type: str, name: str, text: str) -> None:
        """Write the tracking text: a user attribute for accounts on MySQL 8.0.21+ (with `useUserAttributes`),
        otherwise a row of the metadata table, created when missing."""
        dialect = await self._dialect()
        if resource_type == "DatabaseUser" and self._uses_attributes(dialect):
            rows = await self._account_rows(name)
            await self.server.execute_all([sql.set_user_attribute(Account(name, r.host), text, dialect) for r in rows])
            return
        database, table = self._tracking_table()
        query, params = sql.upsert_tracking(database, table, resource_type, name, text)
        async with self.server.session() as connection:
            await self.server.run(connection, [sql.create_metadata_table(database, table)])
            await self.server.fetch_on(connection, query, params)

    async def remove_tracking(self, resource_type: str, name: str) -> None:
        """Remove the tracking text (object deleted but retained on the server); missing is not an error."""
        dialect = await self._dialect()
        if resource_type == "DatabaseUser" and self._uses_attributes(dialect):
            rows = await self._account_rows(name)
            await self.server.execute_all([sql.set_user_attribute(Account(name, r.host), None, dialect) for r in rows])
        database, table = self._tracking_table()
        query, params = sql.delete_tracking(database, table, resource_type, name)
        try:
            await self.server.fetch(query, params)
        except MySQLServerError as error:
            if error.code not in _NO_TABLE:
                raise


def _raise_failures(outcomes: Sequence[EntryOutcome], field: str) -> None:
    """A role's own grants are all-or-error: every entry was attempted, the failing ones are named."""
    failed = [f"{field}[{o.index}]: {o.error}" for o in outcomes if not o.applied]
    if failed:
        raise EngineError("; ".join(failed))


if TYPE_CHECKING:

    def _conforms(settings: ConnectionSettings) -> EngineAdapter:
        """mypy proves here that MySQLAdapter implements the EngineAdapter protocol."""
        return MySQLAdapter(settings)

    def _grants_conform(settings: ConnectionSettings) -> RoleGrantAdapter:
        return MySQLAdapter(settings)

    def _init_sql_conforms(settings: ConnectionSettings) -> InitSQLRunner:
        return MySQLAdapter(settings)


def _register_capabilities() -> None:
    """What the adapter offers beyond the protocol, registered for both engine names whenever this module (and so a
    MySQL-family adapter) exists: the drift halves and dual-password rotation."""
    _register_drift()
    for engine in ("mysql", "mariadb"):
        register_dual_password(engine, MySQLDualPassword)


_register_capabilities()
