"""MySQL and MariaDB statement builders: dialect, databases, accounts, roles, memberships, sessions, tracking.

engines.md section 4 (MySQL), section 5 (MariaDB differences) and 8.1. Every builder is a pure function of plain typed
parameters and a :class:`MySQLDialect` that returns SQL text; adapters only execute what these return. Names are
quoted identifiers, accounts are two literals (``'user'@'host'``), free text (passwords, hosts, character sets,
JSON attributes) are literals quoted with :func:`~dbops.engines.sql.quoting.mysql_literal`, which relies on the
operator's sessions running without ``NO_BACKSLASH_ESCAPES`` (engines.md 1.3). Numbers come from Python ``int``s.

Grants live in :mod:`dbops.engines.mysql.grants`, catalog reads in :mod:`dbops.engines.mysql.catalog`.

The differences between the two servers are all decided here, from the dialect, so an adapter never branches on
the flavour to pick SQL text: which authentication clause a plugin gets, whether roles have a host part, whether an
account can carry two passwords, failed-login locking, user attributes, the default-role statement, and the names of
the dump and client tools.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final

from dbops.engines.errors import InvalidSpec
from dbops.engines.sql.dialect import Engine
from dbops.engines.sql.quoting import (
    NameKind,
    check_mysql_account_name,
    check_name_length,
    check_text,
    mysql_account,
    mysql_ident,
    mysql_literal,
)

__all__ = [
    "CACHING_SHA2",
    "DEFAULT_MARIADB",
    "DEFAULT_MYSQL",
    "MAX_LOCK_VALUE",
    "MYSQL_NATIVE",
    "NATIVE_HASH",
    "PLUGINS",
    "SHA256",
    "STRIP_NO_BACKSLASH_ESCAPES",
    "TRACKING_ATTRIBUTE_KEY",
    "Account",
    "AccountOptions",
    "Flavour",
    "MySQLDialect",
    "Require",
    "alter_database",
    "alter_user",
    "alter_user_password",
    "create_database",
    "create_metadata_table",
    "create_role",
    "create_user",
    "create_user_from_hash",
    "delete_tracking",
    "detect_dialect",
    "discard_old_password",
    "drop_database",
    "drop_role",
    "drop_user",
    "grant_role",
    "kill_connection",
    "lock_account",
    "parse_version",
    "revoke_role",
    "role_account",
    "select_tracking",
    "set_default_roles",
    "set_names",
    "set_session_sql_mode",
    "set_session_storage_engine",
    "set_user_attribute",
    "tracking_attribute",
    "unsupported_account_fields",
    "unsupported_role_fields",
    "upsert_tracking",
    "with_plugins",
]


# --------------------------------------------------------------------------------------------------------------------
# Dialect (engines.md 1.4, 4.7, 5, 8.1)


class Flavour(StrEnum):
    """The server flavour detected from ``VERSION()``; also the instance ``engine`` value it corresponds to."""

    MYSQL = "mysql"
    MARIADB = "mariadb"


MYSQL_NATIVE: Final = "mysql_native_password"
CACHING_SHA2: Final = "caching_sha2_password"
SHA256: Final = "sha256_password"
#: The plugins of the API enum; the only plugin names that ever reach SQL (unquoted, like keywords).
PLUGINS: Final = frozenset({MYSQL_NATIVE, CACHING_SHA2, SHA256})

Version = tuple[int, int, int]

_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


def parse_version(text: str) -> Version:
    """``(major, minor, patch)`` from a ``VERSION()`` string.

    MariaDB servers may present ``5.5.5-10.11.6-MariaDB…`` (the replication-compatibility prefix of the handshake);
    the real version follows the prefix. An unparsable string gives ``(0, 0, 0)``, which disables every
    version-dependent feature rather than guessing.
    """
    if "MariaDB" in text and text.startswith("5.5.5-"):
        text = text[len("5.5.5-") :]
    match = _VERSION.search(text)
    if match is None:
        return (0, 0, 0)
    return (int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))


@dataclass(frozen=True)
class MySQLDialect:
    """What the connected server accepts, decided from flavour and version (engines.md 4.7).

    ``escape_db_wildcards``: database names in database-level GRANT/REVOKE are LIKE patterns on both servers, so an
    ``_`` in ``app_db`` would also cover ``appXdb``; the builders escape ``_``, ``%`` and ``\\`` there. MySQL with
    ``partial_revokes`` ON takes those names literally, and the adapter then turns the escaping off.

    ``auth_plugins``: the active authentication plugins when the adapter read them from
    ``information_schema.PLUGINS``; otherwise ``None`` and the version table of engines.md 4.7 decides.
    """

    flavour: Flavour = Flavour.MYSQL
    version: Version = (8, 0, 36)
    escape_db_wildcards: bool = True
    auth_plugins: frozenset[str] | None = None

    @property
    def engine(self) -> Engine:
        """The quoting engine (name length limits: 32 characters for MySQL accounts, 80 for MariaDB)."""
        return Engine.MARIADB if self.is_mariadb else Engine.MYSQL

    @property
    def is_mariadb(self) -> bool:
        return self.flavour is Flavour.MARIADB

    def _mysql_at_least(self, *version: int) -> bool:
        return not self.is_mariadb and self.version >= version

    def _mariadb_at_least(self, *version: int) -> bool:
        return self.is_mariadb and self.version >= version

    @property
    def native_roles(self) -> bool:
        """CREATE ROLE exists: MySQL 8.0, MariaDB 10.0.5."""
        return self._mysql_at_least(8, 0, 0) or self._mariadb_at_least(10, 0, 5)

    @property
    def roles_have_host(self) -> bool:
        """MySQL roles are accounts (``'role'@'%'``); MariaDB roles are bare names."""
        return not self.is_mariadb

    @property
    def account_lock(self) -> bool:
        """ACCOUNT LOCK / UNLOCK: MySQL 5.7.6, MariaDB 10.4.2."""
        return self._mysql_at_least(5, 7, 6) or self._mariadb_at_least(10, 4, 2)

    @property
    def dual_password(self) -> bool:
        """RETAIN CURRENT PASSWORD / DISCARD OLD PASSWORD: MySQL 8.0.14; never on MariaDB."""
        return self._mysql_at_least(8, 0, 14)

    @property
    def failed_login_lock(self) -> bool:
        """Per-account FAILED_LOGIN_ATTEMPTS / PASSWORD_LOCK_TIME: MySQL 8.0.19; never on MariaDB."""
        return self._mysql_at_least(8, 0, 19)

    @property
    def user_attributes(self) -> bool:
        """CREATE/ALTER USER … ATTRIBUTE: MySQL 8.0.21; never on MariaDB (the metadata table is used instead)."""
        return self._mysql_at_least(8, 0, 21)

    @property
    def multiple_default_roles(self) -> bool:
        """MySQL activates every granted role at login (SET DEFAULT ROLE ALL); MariaDB only one."""
        return not self.is_mariadb

    @property
    def account_grants(self) -> bool:
        """An account (a stand-in role) can be granted to another account like a role: MySQL 8.0 only."""
        return self._mysql_at_least(8, 0, 0)

    @property
    def global_priv_table(self) -> bool:
        """MariaDB 10.4+ keeps account settings as JSON in ``mysql.global_priv`` (``mysql.user`` is a view)."""
        return self._mariadb_at_least(10, 4, 0)

    @property
    def default_plugin(self) -> str:
        """The plugin an account gets without IDENTIFIED WITH."""
        return CACHING_SHA2 if self._mysql_at_least(8, 0, 0) else MYSQL_NATIVE

    def has_plugin(self, plugin: str) -> bool:
        """Whether IDENTIFIED WITH ``plugin`` works on this server (engines.md 4.7)."""
        if self.is_mariadb:
            return plugin == MYSQL_NATIVE
        if self.auth_plugins is not None:
            return plugin in self.auth_plugins
        if plugin == CACHING_SHA2:
            return self.version >= (8, 0, 0)
        if plugin == MYSQL_NATIVE:
            return self.version < (8, 4, 0)  # off by default in 8.4, removed in 9.0
        if plugin == SHA256:
            return self.version >= (5, 7, 0)
        return False

    # Tools (engines.md 5 "Dump and client tools", 7, 8.1) -----------------------------------------------------------

    @property
    def dump_tools(self) -> tuple[str, ...]:
        """Dump tool names in order of preference; MariaDB packages may ship only ``mariadb-dump``."""
        return ("mariadb-dump", "mysqldump") if self.is_mariadb else ("mysqldump",)

    @property
    def client_tools(self) -> tuple[str, ...]:
        """Client tool names in order of preference (restores)."""
        return ("mariadb", "mysql") if self.is_mariadb else ("mysql",)

    @property
    def physical_backup_tool(self) -> str:
        return "mariadb-backup" if self.is_mariadb else "xtrabackup"

    @property
    def gtid_purged_switch(self) -> bool:
        """``--set-gtid-purged`` exists only in MySQL's dump tool (MariaDB GTIDs differ)."""
        return not self.is_mariadb


DEFAULT_MYSQL: Final = MySQLDialect()
DEFAULT_MARIADB: Final = MySQLDialect(flavour=Flavour.MARIADB, version=(10, 11, 0))


def detect_dialect(version_text: str, *, partial_revokes: bool = False) -> MySQLDialect:
    """The dialect for a ``VERSION()`` string (engines.md 1.4: MariaDB when the text contains ``MariaDB``)."""
    flavour = Flavour.MARIADB if "MariaDB" in version_text else Flavour.MYSQL
    return MySQLDialect(
        flavour=flavour,
        version=parse_version(version_text),
        escape_db_wildcards=not (partial_revokes and flavour is Flavour.MYSQL),
    )


# --------------------------------------------------------------------------------------------------------------------
# Small checks

_CHARSET = re.compile(r"[a-zA-Z0-9_]+")
_INT32_MAX = 2**31 - 1
#: FAILED_LOGIN_ATTEMPTS and PASSWORD_LOCK_TIME accept 0 … 32767.
MAX_LOCK_VALUE: Final = 32767


def _charset_name(value: str, field: str) -> str:
    """Character set and collation names: the schema pattern again (builders may be called without the API)."""
    if _CHARSET.fullmatch(value) is None:
        raise InvalidSpec(field, "must match ^[a-zA-Z0-9_]+$")
    return mysql_literal(value, field)


def _count(value: int, field: str, maximum: int = _INT32_MAX) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{field} must be an int")
    if value < 0 or value > maximum:
        raise InvalidSpec(field, f"must be between 0 and {maximum}")
    return str(value)


# --------------------------------------------------------------------------------------------------------------------
# Databases (engines.md 4.1)


def create_database(name: str, *, charset: str | None = None, collation: str | None = None) -> str:
    """CREATE DATABASE IF NOT EXISTS with the default character set and collation."""
    sql = "CREATE DATABASE IF NOT EXISTS " + mysql_ident(name, "spec.name", kind=NameKind.DATABASE)
    return sql + _charset_clauses(charset, collation)


def alter_database(name: str, *, charset: str | None = None, collation: str | None = None) -> str:
    """ALTER DATABASE … CHARACTER SET / COLLATE (affects tables created afterwards only)."""
    clauses = _charset_clauses(charset, collation)
    if not clauses:
        raise ValueError("alter_database needs a character set or a collation")
    return "ALTER DATABASE " + mysql_ident(name, "spec.name", kind=NameKind.DATABASE) + clauses


def _charset_clauses(charset: str | None, collation: str | None) -> str:
    out = ""
    if charset is not None:
        out += " CHARACTER SET = " + _charset_name(charset, "spec.mysql.charset")
    if collation is not None:
        out += " COLLATE = " + _charset_name(collation, "spec.mysql.collation")
    return out


def drop_database(name: str) -> str:
    """DROP DATABASE IF EXISTS, run after the database's other sessions were ended (engines.md 4.6)."""
    return "DROP DATABASE IF EXISTS " + mysql_ident(name, "spec.name", kind=NameKind.DATABASE)


#: Removes NO_BACKSLASH_ESCAPES from the session's SQL mode, whatever the server's default (engines.md 1.3), in one
#: statement that needs no round trip to read the mode first: the mode list is wrapped in commas, the item cut out,
#: and the commas trimmed again. Every escaped literal the builders produce relies on this.
STRIP_NO_BACKSLASH_ESCAPES: Final = (
    "SET SESSION sql_mode = TRIM(BOTH ',' FROM "
    "REPLACE(CONCAT(',', @@SESSION.sql_mode, ','), ',NO_BACKSLASH_ESCAPES,', ','))"
)


def set_names(charset: str, collation: str | None = None) -> str:
    """SET NAMES '<charset>' [COLLATE '<collation>']: the connection character set and collation (engines.md 1.3)."""
    sql = "SET NAMES " + _charset_name(charset, "spec.mysql.charset")
    if collation is not None:
        sql += " COLLATE " + _charset_name(collation, "spec.mysql.collation")
    return sql


def set_session_sql_mode(mode: str) -> str:
    """SET SESSION sql_mode for sessions opened for a Database's initSQL and verification (engines.md 1.3)."""
    return "SET SESSION sql_mode = " + mysql_literal(mode, "spec.mysql.sqlMode")


def set_session_storage_engine(engine: str) -> str:
    """SET SESSION default_storage_engine, so tables created by initSQL use the Database's engine."""
    return "SET SESSION default_storage_engine = " + mysql_literal(engine, "spec.mysql.defaultStorageEngine")


# --------------------------------------------------------------------------------------------------------------------
# Accounts (engines.md 4.2)


@dataclass(frozen=True)
class Account:
    """One server account. ``host`` is ``None`` only for MariaDB roles, which have no host part."""

    user: str
    host: str | None = "%"

    def sql(self, dialect: MySQLDialect, field: str = "spec.username") -> str:
        """``'user'@'host'``, or ``'role'`` for a host-less MariaDB role."""
        if self.host is None:
            check_text(self.user, field)
            check_mysql_account_name(self.user, field)
            if self.user == "":
                raise InvalidSpec(field, "must not be empty")
            check_name_length(dialect.engine, NameKind.ACCOUNT, self.user, field)
            return mysql_literal(self.user, field)
        return mysql_account(self.user, self.host, field, engine=dialect.engine)

    def __str__(self) -> str:
        return self.user if self.host is None else f"{self.user}@{self.host}"


class Require(StrEnum):
    """REQUIRE clause; ``requireX509`` takes precedence over ``requireSSL`` (api.md 6.4)."""

    NONE = "NONE"
    SSL = "SSL"
    X509 = "X509"

    @classmethod
    def of(cls, *, ssl: bool, x509: bool) -> Require:
        return cls.X509 if x509 else cls.SSL if ssl else cls.NONE


@dataclass(frozen=True)
class AccountOptions:
    """The account settings of ``spec.mysql`` (engines.md 4.2), in builder terms.

    ``attribute`` is the tracking text for ``ATTRIBUTE`` (MySQL 8.0.21+); ``None`` leaves attributes alone.
    """

    auth_plugin: str = CACHING_SHA2
    require: Require = Require.NONE
    max_queries_per_hour: int = 0
    max_updates_per_hour: int = 0
    max_connections_per_hour: int = 0
    max_user_connections: int = 0
    locked: bool = False
    failed_login_attempts: int = 0
    password_lock_time: int = 0
    attribute: str | None = None


#: Key of the JSON user attribute that holds the tracking text (engines.md 4.2 "resource tracking").
TRACKING_ATTRIBUTE_KEY: Final = "dbops"


def tracking_attribute(text: str | None) -> str:
    """The JSON object for ATTRIBUTE: ``{"dbops": text}``; ``None`` removes the key (MySQL merges attributes)."""
    if text is not None:
        check_text(text, "comment")
    return json.dumps({TRACKING_ATTRIBUTE_KEY: text}, ensure_ascii=False)


def _identified(password: str, plugin: str | None, dialect: MySQLDialect) -> str:
    """``IDENTIFIED [WITH plugin] BY '…'``.

    MariaDB: always IDENTIFIED BY (its default plugin is ``mysql_native_password``; the other two API plugins do not
    exist there and the account gets the default, engines.md 5). MySQL: WITH the plugin when the server has it,
    otherwise the server default (reported by :func:`unsupported_account_fields`).
    """
    secret = mysql_literal(password, "password")
    if plugin is not None:
        if plugin not in PLUGINS:
            raise InvalidSpec("spec.mysql.authPlugin", "is not a supported authentication plugin")
        if not dialect.is_mariadb and dialect.has_plugin(plugin):
            return f"IDENTIFIED WITH {plugin} BY {secret}"
    return f"IDENTIFIED BY {secret}"


def _option_clauses(opts: AccountOptions, dialect: MySQLDialect) -> list[str]:
    """REQUIRE, WITH resource limits, lock and failed-login options, ATTRIBUTE — in the order both servers accept."""
    out = ["REQUIRE " + opts.require.value]
    out.append(
        "WITH MAX_QUERIES_PER_HOUR "
        + _count(opts.max_queries_per_hour, "spec.mysql.maxQueriesPerHour")
        + " MAX_UPDATES_PER_HOUR "
        + _count(opts.max_updates_per_hour, "spec.mysql.maxUpdatesPerHour")
        + " MAX_CONNECTIONS_PER_HOUR "
        + _count(opts.max_connections_per_hour, "spec.mysql.maxConnectionsPerHour")
        + " MAX_USER_CONNECTIONS "
        + _count(opts.max_user_connections, "spec.mysql.maxUserConnections")
    )
    if dialect.account_lock:
        out.append("ACCOUNT LOCK" if opts.locked else "ACCOUNT UNLOCK")
    if dialect.failed_login_lock:
        attempts = _count(opts.failed_login_attempts, "spec.mysql.failedLoginAttempts", MAX_LOCK_VALUE)
        lock_time = _count(opts.password_lock_time, "spec.mysql.passwordLockTime", MAX_LOCK_VALUE)
        if opts.failed_login_attempts > 0 and opts.password_lock_time == 0:
            lock_time = "UNBOUNDED"
        out.append(f"FAILED_LOGIN_ATTEMPTS {attempts} PASSWORD_LOCK_TIME {lock_time}")
    if opts.attribute is not None and dialect.user_attributes:
        out.append("ATTRIBUTE " + mysql_literal(tracking_attribute(opts.attribute), "comment"))
    return out


def set_user_attribute(
    account: Account, text: str | None, dialect: MySQLDialect = DEFAULT_MYSQL, *, field: str = "spec.username"
) -> str:
    """ALTER USER … ATTRIBUTE '{"dbops": …}' (MySQL 8.0.21+): write, or with ``None`` remove, the tracking text."""
    if not dialect.user_attributes:
        raise ValueError("user attributes need MySQL 8.0.21 or later")
    return f"ALTER USER {account.sql(dialect, field)} ATTRIBUTE " + mysql_literal(tracking_attribute(text), "comment")


def create_user(
    account: Account,
    password: str | None,
    opts: AccountOptions,
    dialect: MySQLDialect = DEFAULT_MYSQL,
    *,
    field: str = "spec.username",
) -> str:
    """CREATE USER IF NOT EXISTS for one host entry with the password and every setting.

    ``password=None`` creates an account without a password (role stand-ins, which are also locked). An existing
    account is left unchanged by the server (IF NOT EXISTS), so a take-over sets the password and settings with
    :func:`alter_user_password` and :func:`alter_user`.
    """
    sql = "CREATE USER IF NOT EXISTS " + account.sql(dialect, field)
    if password is not None:
        sql += " " + _identified(password, opts.auth_plugin, dialect)
    return sql + " " + " ".join(_option_clauses(opts, dialect))


#: A ``mysql_native_password`` authentication string: ``*`` and 40 upper-case hex digits (SHA1(SHA1(password))).
NATIVE_HASH: Final = re.compile(r"\*[0-9A-F]{40}")


def create_user_from_hash(
    account: Account,
    native_hash: str,
    opts: AccountOptions,
    dialect: MySQLDialect = DEFAULT_MYSQL,
    *,
    field: str = "spec.username",
) -> str:
    """CREATE USER IF NOT EXISTS … IDENTIFIED WITH mysql_native_password AS '<hash>' and every setting.

    How a host added to ``allowedHosts`` gets "the same password" when the plaintext is not at hand: the stored
    hash of an existing host entry is copied. Only ``mysql_native_password`` hashes qualify (printable, and the
    same for every host); other plugins' strings embed binary salts. The hash is password-equivalent for that
    plugin, so callers treat it as a secret.
    """
    if NATIVE_HASH.fullmatch(native_hash) is None:
        raise ValueError("not a mysql_native_password hash")
    sql = "CREATE USER IF NOT EXISTS " + account.sql(dialect, field)
    sql += f" IDENTIFIED WITH {MYSQL_NATIVE} AS " + mysql_literal(native_hash, "password")
    opts = replace(opts, auth_plugin=MYSQL_NATIVE)
    return sql + " " + " ".join(_option_clauses(opts, dialect))


def alter_user(
    account: Account, opts: AccountOptions, dialect: MySQLDialect = DEFAULT_MYSQL, *, field: str = "spec.username"
) -> str:
    """ALTER USER with every setting except the password: the whole set, so limits can go back to 0 (api.md 6.4)."""
    return "ALTER USER " + account.sql(dialect, field) + " " + " ".join(_option_clauses(opts, dialect))


def alter_user_password(
    account: Account,
    password: str,
    dialect: MySQLDialect = DEFAULT_MYSQL,
    *,
    plugin: str | None = None,
    retain_current: bool = False,
    field: str = "spec.username",
) -> str:
    """ALTER USER … IDENTIFIED [WITH plugin] BY '…' [RETAIN CURRENT PASSWORD].

    Without ``plugin`` the account keeps its plugin (MySQL) or gets the default one (MariaDB). ``retain_current``
    is dual-password rotation (MySQL 8.0.14+): the old password keeps working until
    :func:`discard_old_password`. A plugin change cannot keep the old password (engines.md 4.2), so the two are
    refused together; the caller rotates without retention and reports it.
    """
    if retain_current:
        if not dialect.dual_password:
            raise InvalidSpec("spec.passwordRotation.strategy", "dual-password rotation needs MySQL 8.0.14 or later")
        if plugin is not None:
            raise ValueError("a retained password cannot be combined with a change of authentication plugin")
    sql = "ALTER USER " + account.sql(dialect, field) + " " + _identified(password, plugin, dialect)
    return sql + (" RETAIN CURRENT PASSWORD" if retain_current else "")


def discard_old_password(
    account: Account, dialect: MySQLDialect = DEFAULT_MYSQL, *, field: str = "spec.username"
) -> str:
    """ALTER USER … DISCARD OLD PASSWORD (end of dual-password rotation)."""
    if not dialect.dual_password:
        raise InvalidSpec("spec.passwordRotation.strategy", "dual-password rotation needs MySQL 8.0.14 or later")
    return "ALTER USER " + account.sql(dialect, field) + " DISCARD OLD PASSWORD"


def lock_account(
    account: Account, locked: bool = True, dialect: MySQLDialect = DEFAULT_MYSQL, *, field: str = "spec.username"
) -> str:
    """ALTER USER … ACCOUNT LOCK | UNLOCK (also how a superseded rotated account is disabled)."""
    if not dialect.account_lock:
        raise InvalidSpec("spec.mysql.accountLocked", "account locking needs MySQL 5.7.6 or MariaDB 10.4.2")
    return "ALTER USER " + account.sql(dialect, field) + (" ACCOUNT LOCK" if locked else " ACCOUNT UNLOCK")


def drop_user(account: Account, dialect: MySQLDialect = DEFAULT_MYSQL, *, field: str = "spec.username") -> str:
    """DROP USER IF EXISTS for one host entry."""
    return "DROP USER IF EXISTS " + account.sql(dialect, field)


def unsupported_account_fields(
    opts: AccountOptions,
    dialect: MySQLDialect,
    *,
    dual_password: bool = False,
    role_count: int = 0,
) -> list[str]:
    """Field paths this server cannot honour for an account (engines.md 1.7), for ``UnsupportedOption``.

    The schema default ``caching_sha2_password`` is not reported where it silently becomes the server default
    (MySQL 5.7, MariaDB); an explicit other plugin the server lacks is. ``role_count`` is the number of role
    memberships that should be active at login: MariaDB activates only one.
    """
    out: list[str] = []
    if opts.auth_plugin != CACHING_SHA2 and not dialect.has_plugin(opts.auth_plugin):
        out.append("spec.mysql.authPlugin")
    if not dialect.failed_login_lock:
        if opts.failed_login_attempts:
            out.append("spec.mysql.failedLoginAttempts")
        if opts.password_lock_time:
            out.append("spec.mysql.passwordLockTime")
    if opts.locked and not dialect.account_lock:
        out.append("spec.mysql.accountLocked")
    if dual_password and not dialect.dual_password:
        out.append("spec.passwordRotation.strategy")
    if role_count > 1 and not dialect.multiple_default_roles:
        out.append("spec.roles")
    if role_count and not dialect.native_roles:
        out.append("spec.roles")
    return list(dict.fromkeys(out))


# --------------------------------------------------------------------------------------------------------------------
# Roles (engines.md 4.3, 5)


def role_account(role: str, dialect: MySQLDialect = DEFAULT_MYSQL, *, native: bool = True) -> Account:
    """The account a role name stands for: ``'role'@'%'`` on MySQL and for stand-ins, a bare name for MariaDB roles."""
    if native and dialect.native_roles and not dialect.roles_have_host:
        return Account(role, None)
    return Account(role, "%")


def create_role(
    role: str, dialect: MySQLDialect = DEFAULT_MYSQL, *, native: bool = True, field: str = "spec.roleName"
) -> str:
    """CREATE ROLE IF NOT EXISTS, or the stand-in: a locked account ``<role>@%`` without a password.

    A native role is asked for but the server has none (MySQL 5.7): the stand-in is used and the caller reports
    ``spec.mysql.useNativeRoles`` (:func:`unsupported_role_fields`).
    """
    account = role_account(role, dialect, native=native)
    if native and dialect.native_roles:
        return "CREATE ROLE IF NOT EXISTS " + account.sql(dialect, field)
    locked = " ACCOUNT LOCK" if dialect.account_lock else ""
    return "CREATE USER IF NOT EXISTS " + account.sql(dialect, field) + locked


def drop_role(
    role: str, dialect: MySQLDialect = DEFAULT_MYSQL, *, native: bool = True, field: str = "spec.roleName"
) -> str:
    """DROP ROLE IF EXISTS, or DROP USER IF EXISTS for a stand-in."""
    account = role_account(role, dialect, native=native)
    if native and dialect.native_roles:
        return "DROP ROLE IF EXISTS " + account.sql(dialect, field)
    return "DROP USER IF EXISTS " + account.sql(dialect, field)


def unsupported_role_fields(dialect: MySQLDialect, *, native: bool = True) -> list[str]:
    """``spec.mysql.useNativeRoles`` when native roles are asked for on a server without them (MySQL 5.7)."""
    return ["spec.mysql.useNativeRoles"] if native and not dialect.native_roles else []


# --------------------------------------------------------------------------------------------------------------------
# Memberships and default roles (engines.md 4.2, 4.4, 5)


def grant_role(
    role: Account, grantee: Account, dialect: MySQLDialect = DEFAULT_MYSQL, *, field: str = "spec.roles[0]"
) -> str:
    """GRANT <role> TO <account> (one statement per host entry of the grantee)."""
    return f"GRANT {role.sql(dialect, field)} TO {grantee.sql(dialect, 'grantee')}"


def revoke_role(
    role: Account, grantee: Account, dialect: MySQLDialect = DEFAULT_MYSQL, *, field: str = "spec.roles[0]"
) -> str:
    """REVOKE <role> FROM <account>."""
    return f"REVOKE {role.sql(dialect, field)} FROM {grantee.sql(dialect, 'grantee')}"


def set_default_roles(
    grantee: Account, roles: Sequence[Account], dialect: MySQLDialect = DEFAULT_MYSQL, *, field: str = "spec.roles"
) -> str:
    """Make granted roles active at login.

    MySQL: SET DEFAULT ROLE ALL TO <account> (every granted role, engines.md 4.2). MariaDB: SET DEFAULT ROLE <role>
    FOR <account> with the first of ``roles`` (only one can be active; the others are reported), or NONE when
    ``roles`` is empty.
    """
    target = grantee.sql(dialect, "grantee")
    if dialect.multiple_default_roles:
        return f"SET DEFAULT ROLE {'ALL' if roles else 'NONE'} TO {target}"
    first = roles[0].sql(dialect, f"{field}[0]") if roles else "NONE"
    return f"SET DEFAULT ROLE {first} FOR {target}"


# --------------------------------------------------------------------------------------------------------------------
# Sessions (engines.md 4.6)


def kill_connection(connection_id: int) -> str:
    """KILL CONNECTION <id>; the id comes from the process list and is formatted from an int."""
    if isinstance(connection_id, bool) or not isinstance(connection_id, int) or connection_id < 0:
        raise TypeError("connection_id must be a non-negative int")
    return f"KILL CONNECTION {connection_id}"


# --------------------------------------------------------------------------------------------------------------------
# Tracking metadata table (engines.md 4.8)
#
# The queries with bind parameters are run with aiomysql's client-side ``%s`` interpolation, so a ``%`` inside a
# quoted table name must be doubled to survive it; :func:`_bindable` does that after quoting.


def _bindable(sql: str) -> str:
    return sql.replace("%", "%%")


def _metadata_table(database: str, table: str) -> str:
    return (
        mysql_ident(database, "resourceTracking.mysql.metadataDatabase", kind=NameKind.DATABASE)
        + "."
        + mysql_ident(table, "resourceTracking.mysql.metadataTableName")
    )


def create_metadata_table(database: str, table: str) -> str:
    """CREATE TABLE IF NOT EXISTS for the tracking table: (resource type, resource name) → text, first-managed time.

    Binary collation on the key, so names that differ only in case are different rows, as they are on the server.
    """
    return (
        "CREATE TABLE IF NOT EXISTS "
        + _metadata_table(database, table)
        + " (resource_type VARCHAR(64) NOT NULL, resource_name VARCHAR(255) NOT NULL, tracking TEXT NOT NULL, "
        "first_managed_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, PRIMARY KEY (resource_type, resource_name)) "
        "DEFAULT CHARACTER SET = 'utf8mb4' COLLATE = 'utf8mb4_bin'"
    )


def upsert_tracking(database: str, table: str, resource_type: str, name: str, text: str) -> tuple[str, tuple[str, ...]]:
    """Write the tracking text of one resource (insert, or update keeping the first-managed time)."""
    check_text(text, "comment")
    sql = (
        "INSERT INTO "
        + _bindable(_metadata_table(database, table))
        + " (resource_type, resource_name, tracking) VALUES (%s, %s, %s)"
        " ON DUPLICATE KEY UPDATE tracking = VALUES(tracking)"
    )
    return sql, (resource_type, name, text)


def select_tracking(database: str, table: str, resource_type: str, name: str) -> tuple[str, tuple[str, ...]]:
    """Read the tracking text of one resource."""
    sql = (
        "SELECT tracking, first_managed_at FROM "
        + _bindable(_metadata_table(database, table))
        + " WHERE resource_type = %s AND resource_name = %s"
    )
    return sql, (resource_type, name)


def delete_tracking(database: str, table: str, resource_type: str, name: str) -> tuple[str, tuple[str, ...]]:
    """Remove the tracking row (object deleted but retained on the server)."""
    sql = (
        "DELETE FROM "
        + _bindable(_metadata_table(database, table))
        + " WHERE resource_type = %s AND resource_name = %s"
    )
    return sql, (resource_type, name)


def with_plugins(dialect: MySQLDialect, plugins: Sequence[str]) -> MySQLDialect:
    """The dialect with the active authentication plugins read from the server."""
    return replace(dialect, auth_plugins=frozenset(plugins))
