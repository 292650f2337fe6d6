"""Catalog queries that read MySQL and MariaDB server state (engines.md 1.4, 4.5, 4.6, 4.8, 5), and their parsers.

Every query takes its values as aiomysql ``%s`` bind parameters; no name is ever spliced into these queries, so no
quoting is involved. Because aiomysql interpolates ``%s`` on the client, a literal ``%`` never appears in a query
text here: the host pattern ``%`` is always passed as a parameter.

Privileges are read from the grant tables (``mysql.user``, ``mysql.db``, ``mysql.tables_priv``,
``mysql.columns_priv``, ``mysql.procs_priv``) rather than by parsing SHOW GRANTS: the tables have one fixed shape on
both servers, hold exactly the privileges granted directly to one account, and need no parser for the server's
quoting. The parsers here turn rows (dicts, as aiomysql's ``DictCursor`` returns them) into the
:class:`~dbops.engines.mysql.grants.Privilege` tuples that :func:`~dbops.engines.mysql.grants.expand_entry`
produces from a spec, so drift is a set comparison.

The account queries differ by server: MySQL keeps lock state and JSON user attributes (failed-login settings,
tracking text) as columns of ``mysql.user``; MariaDB 10.4+ keeps account settings as JSON in ``mysql.global_priv``
and ``mysql.user`` is a view without the lock flag.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from dbops.engines.mysql.grants import GRANT_OPTION, LEVEL_ALL, Privilege, unescape_db_pattern
from dbops.engines.mysql.sql import TRACKING_ATTRIBUTE_KEY, Account, MySQLDialect, Require
from dbops.engines.sql.privileges import MYSQL_PRIVILEGE_LEVELS, MySQLLevel

__all__ = [
    "ACCOUNT_HOSTS",
    "AUTHENTICATION",
    "AUTH_PLUGINS",
    "COLUMN_PRIVILEGES",
    "DATABASE_PRIVILEGES",
    "DATABASE_SIZE",
    "DATABASE_SIZES",
    "EXCLUDED_ACCOUNTS",
    "EXCLUDED_ACCOUNT_PREFIXES",
    "EXCLUDED_DATABASES",
    "PARTIAL_REVOKES",
    "PRIVILEGE_COLUMNS",
    "ROUTINE_PRIVILEGES",
    "SCHEMA",
    "SERVER_VERSION",
    "SESSIONS_IN_DATABASE",
    "SESSIONS_OF_USER",
    "STORAGE_ENGINE_SUPPORT",
    "TABLE_PRIVILEGES",
    "USER_OBJECT_COUNT",
    "AccountRow",
    "CatalogQuery",
    "account_rows",
    "column_privileges",
    "database_privileges",
    "default_role_holders",
    "default_roles",
    "definer_user",
    "global_privileges",
    "global_privileges_query",
    "grant_table_params",
    "is_excluded_account",
    "is_excluded_database",
    "memberships",
    "owned_objects",
    "parse_account_row",
    "parse_default_roles",
    "parse_memberships",
    "routine_privileges",
    "table_privileges",
]

#: A query and its bind parameters.
CatalogQuery = tuple[str, tuple[object, ...]]

# --------------------------------------------------------------------------------------------------------------------
# Version and server facts (engines.md 1.4)

#: ``status.version``, and flavour detection (MariaDB when it contains ``MariaDB``).
SERVER_VERSION: Final = "SELECT VERSION()"
#: MySQL 8.0.16+: with partial revokes ON, database names in grants are not LIKE patterns. Fails on MariaDB.
PARTIAL_REVOKES: Final = "SELECT @@GLOBAL.partial_revokes"
#: Authentication plugins the server can use for IDENTIFIED WITH.
AUTH_PLUGINS: Final = (
    "SELECT PLUGIN_NAME FROM information_schema.PLUGINS "
    "WHERE PLUGIN_TYPE = 'AUTHENTICATION' AND PLUGIN_STATUS = 'ACTIVE'"
)
#: ``YES``/``DEFAULT`` when the storage engine can be used (api.md 6.3 ``defaultStorageEngine``).
STORAGE_ENGINE_SUPPORT: Final = "SELECT SUPPORT FROM information_schema.ENGINES WHERE ENGINE = %s"

# --------------------------------------------------------------------------------------------------------------------
# Databases (engines.md 4.1, 4.5)

#: The comparison may be case-insensitive (information_schema collation); callers keep only the exact name.
SCHEMA: Final = (
    "SELECT SCHEMA_NAME AS name, DEFAULT_CHARACTER_SET_NAME AS charset, DEFAULT_COLLATION_NAME AS collation "
    "FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s"
)
USER_OBJECT_COUNT: Final = (
    "SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s)"
    " + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s)"
    " + (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s) AS n"
)
"""Tables (views included), routines and events of a schema: the restore's data-loss guard (backup.md 10.2)."""
DATABASE_SIZE: Final = (
    "SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) AS size_bytes "
    "FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s"
)
#: Every database with its size in one query (behaviour.md 6.5); databases without tables count 0.
DATABASE_SIZES: Final = (
    "SELECT s.SCHEMA_NAME AS name, COALESCE(SUM(t.DATA_LENGTH + t.INDEX_LENGTH), 0) AS size_bytes "
    "FROM information_schema.SCHEMATA s LEFT JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = s.SCHEMA_NAME "
    "GROUP BY s.SCHEMA_NAME"
)

# --------------------------------------------------------------------------------------------------------------------
# Sessions (engines.md 4.6)

SESSIONS_IN_DATABASE: Final = (
    "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = %s AND ID <> CONNECTION_ID()"
)
SESSIONS_OF_USER: Final = (
    "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = %s AND ID <> CONNECTION_ID()"
)

# --------------------------------------------------------------------------------------------------------------------
# Accounts (engines.md 4.5)

ACCOUNT_HOSTS: Final = "SELECT Host AS host FROM mysql.user WHERE User = %s"
#: The stored authentication of one host entry (password-equivalent for some plugins: never logged).
AUTHENTICATION: Final = "SELECT plugin, authentication_string AS auth FROM mysql.user WHERE User = %s AND Host = %s"

_MYSQL_ACCOUNT = (
    "SELECT Host AS host, plugin, ssl_type, max_questions, max_updates, max_connections, max_user_connections, "
    "{locked} AS account_locked, authentication_string = '' AS no_password, {attributes} AS attributes, "
    "'N' AS is_role FROM mysql.user WHERE User = %s"
)
_MARIADB_ACCOUNT = (
    "SELECT u.Host AS host, u.plugin, u.ssl_type, u.max_questions, u.max_updates, u.max_connections, "
    "u.max_user_connections, {locked} AS account_locked, u.authentication_string = '' AS no_password, "
    "NULL AS attributes, u.is_role FROM mysql.user u {join} WHERE u.User = %s"
)


def account_rows(user: str, dialect: MySQLDialect) -> CatalogQuery:
    """One row per account (host entry) with this user name: plugin, TLS requirement, limits, lock, attributes.

    On MariaDB the rows include roles (``is_role = 'Y'``, empty host); callers separate them.
    """
    if dialect.is_mariadb:
        if dialect.global_priv_table:
            sql = _MARIADB_ACCOUNT.format(
                locked="JSON_VALUE(g.Priv, '$.account_locked')",
                join="LEFT JOIN mysql.global_priv g ON g.Host = u.Host AND g.User = u.User",
            )
        else:
            sql = _MARIADB_ACCOUNT.format(locked="NULL", join="")
        return sql, (user,)
    locked = "account_locked" if dialect.account_lock else "'N'"
    attributes = "User_attributes" if dialect.version >= (8, 0, 14) else "NULL"
    return _MYSQL_ACCOUNT.format(locked=locked, attributes=attributes), (user,)


@dataclass(frozen=True)
class AccountRow:
    """One host entry, in the spec's terms (api.md 4.4 field names map onto these)."""

    host: str
    plugin: str
    require: Require
    max_queries_per_hour: int
    max_updates_per_hour: int
    max_connections_per_hour: int
    max_user_connections: int
    locked: bool
    no_password: bool
    failed_login_attempts: int
    password_lock_time: int
    tracking: str | None
    is_role: bool

    def attributes(self) -> dict[str, object]:
        """The spec field names and values of this entry (``spec.mysql.*``)."""
        return {
            "authPlugin": self.plugin,
            "requireSSL": self.require is Require.SSL,
            "requireX509": self.require is Require.X509,
            "maxQueriesPerHour": self.max_queries_per_hour,
            "maxUpdatesPerHour": self.max_updates_per_hour,
            "maxConnectionsPerHour": self.max_connections_per_hour,
            "maxUserConnections": self.max_user_connections,
            "accountLocked": self.locked,
            "failedLoginAttempts": self.failed_login_attempts,
            "passwordLockTime": self.password_lock_time,
        }


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", "replace")
    return str(value)


def _truthy(value: Any) -> bool:
    """``Y``, ``1``, ``true`` (lock flags come as enum text on MySQL and as JSON text on MariaDB)."""
    return _text(value).strip().lower() in ("y", "1", "true")


_SSL_TYPES = {"": Require.NONE, "ANY": Require.SSL, "X509": Require.X509}


def parse_account_row(row: Mapping[str, Any]) -> AccountRow:
    """An :class:`AccountRow` from one row of :func:`account_rows`.

    MySQL's ``User_attributes`` JSON holds ``Password_locking`` (``password_lock_time_days`` -1 means UNBOUNDED,
    which the spec writes as 0) and ``metadata`` (the ATTRIBUTE object with the tracking text). A ``SPECIFIED``
    TLS requirement (cipher/issuer/subject), which the API cannot express, reads as REQUIRE X509.
    """
    attributes: dict[str, Any] = {}
    raw = row.get("attributes")
    if raw:
        try:
            loaded = json.loads(_text(raw))
        except ValueError:
            loaded = None
        if isinstance(loaded, dict):
            attributes = loaded
    locking = attributes.get("Password_locking") or {}
    metadata = attributes.get("metadata") or {}
    lock_days = int(locking.get("password_lock_time_days", 0) or 0)
    tracking = metadata.get(TRACKING_ATTRIBUTE_KEY) if isinstance(metadata, dict) else None
    return AccountRow(
        host=_text(row["host"]),
        plugin=_text(row.get("plugin")),
        require=_SSL_TYPES.get(_text(row.get("ssl_type")).upper(), Require.X509),
        max_queries_per_hour=int(row.get("max_questions") or 0),
        max_updates_per_hour=int(row.get("max_updates") or 0),
        max_connections_per_hour=int(row.get("max_connections") or 0),
        max_user_connections=int(row.get("max_user_connections") or 0),
        locked=_truthy(row.get("account_locked")),
        no_password=bool(row.get("no_password")),
        failed_login_attempts=int(locking.get("failed_login_attempts", 0) or 0),
        password_lock_time=max(lock_days, 0),
        tracking=tracking if isinstance(tracking, str) else None,
        is_role=_truthy(row.get("is_role")),
    )


# Memberships and default roles ---------------------------------------------------------------------------------------


def memberships(user: str, dialect: MySQLDialect) -> CatalogQuery:
    """Roles granted to the accounts of ``user``: rows ``(host, role, role_host)``.

    MySQL: ``mysql.role_edges`` (granted role = FROM, grantee = TO). MariaDB: ``mysql.roles_mapping`` (``Host`` and
    ``User`` are the grantee, empty host for a role grantee; roles have no host).
    """
    if dialect.is_mariadb:
        return "SELECT Host AS host, Role AS role, NULL AS role_host FROM mysql.roles_mapping WHERE User = %s", (user,)
    return (
        "SELECT TO_HOST AS host, FROM_USER AS role, FROM_HOST AS role_host FROM mysql.role_edges WHERE TO_USER = %s",
        (user,),
    )


def parse_memberships(rows: Iterable[Mapping[str, Any]]) -> dict[str, frozenset[str]]:
    """Host → role names granted to that host entry."""
    out: dict[str, set[str]] = {}
    for row in rows:
        out.setdefault(_text(row["host"]), set()).add(_text(row["role"]))
    return {host: frozenset(roles) for host, roles in out.items()}


def default_roles(user: str, dialect: MySQLDialect) -> CatalogQuery:
    """Roles active at login per host entry: ``mysql.default_roles`` (MySQL) or ``mysql.user.default_role``."""
    if dialect.is_mariadb:
        return "SELECT Host AS host, default_role AS role FROM mysql.user WHERE User = %s", (user,)
    return "SELECT HOST AS host, DEFAULT_ROLE_USER AS role FROM mysql.default_roles WHERE USER = %s", (user,)


def default_role_holders(role: str, dialect: MySQLDialect) -> CatalogQuery | None:
    """Accounts whose login role is ``role``: rows ``(user, host)``. MariaDB only (``mysql.user.default_role``):
    there the name outlives a revoke or DROP ROLE of that role, so the adapter looks for it to repair the default.
    ``None`` on MySQL, where a default role names no single role to move (SET DEFAULT ROLE ALL is sent again with
    every membership grant) and this build does no repair."""
    if not dialect.is_mariadb:
        return None
    return "SELECT User AS user, Host AS host FROM mysql.user WHERE default_role = %s AND is_role = 'N'", (role,)


def parse_default_roles(rows: Iterable[Mapping[str, Any]]) -> dict[str, frozenset[str]]:
    """Host → default role names (MariaDB's empty ``default_role`` means none)."""
    out: dict[str, set[str]] = {}
    for row in rows:
        roles = out.setdefault(_text(row["host"]), set())
        role = _text(row.get("role"))
        if role:
            roles.add(role)
    return {host: frozenset(roles) for host, roles in out.items()}


# --------------------------------------------------------------------------------------------------------------------
# Privileges (engines.md 4.4, 4.5)

#: ``mysql.user`` / ``mysql.db`` privilege columns and the allow-list name each stands for.
PRIVILEGE_COLUMNS: Final = {
    "Select_priv": "SELECT",
    "Insert_priv": "INSERT",
    "Update_priv": "UPDATE",
    "Delete_priv": "DELETE",
    "Create_priv": "CREATE",
    "Drop_priv": "DROP",
    "Reload_priv": "RELOAD",
    "Shutdown_priv": "SHUTDOWN",
    "Process_priv": "PROCESS",
    "File_priv": "FILE",
    "Grant_priv": GRANT_OPTION,
    "References_priv": "REFERENCES",
    "Index_priv": "INDEX",
    "Alter_priv": "ALTER",
    "Show_db_priv": "SHOW DATABASES",
    "Super_priv": "SUPER",
    "Create_tmp_table_priv": "CREATE TEMPORARY TABLES",
    "Lock_tables_priv": "LOCK TABLES",
    "Execute_priv": "EXECUTE",
    "Repl_slave_priv": "REPLICATION SLAVE",
    "Repl_client_priv": "REPLICATION CLIENT",
    "Create_view_priv": "CREATE VIEW",
    "Show_view_priv": "SHOW VIEW",
    "Create_routine_priv": "CREATE ROUTINE",
    "Alter_routine_priv": "ALTER ROUTINE",
    "Create_user_priv": "CREATE USER",
    "Event_priv": "EVENT",
    "Trigger_priv": "TRIGGER",
    "Create_tablespace_priv": "CREATE TABLESPACE",
}

_DB_COLUMNS: Final = tuple(
    c for c, p in PRIVILEGE_COLUMNS.items() if p == GRANT_OPTION or MySQLLevel.DATABASE in MYSQL_PRIVILEGE_LEVELS[p]
)


def global_privileges_query() -> str:
    """Global privileges of one account (``User``, ``Host`` parameters): its ``mysql.user`` privilege columns."""
    return f"SELECT {', '.join(PRIVILEGE_COLUMNS)} FROM mysql.user WHERE User = %s AND Host = %s"


DATABASE_PRIVILEGES: Final = f"SELECT Db, {', '.join(_DB_COLUMNS)} FROM mysql.db WHERE User = %s AND Host = %s"
TABLE_PRIVILEGES: Final = "SELECT Db, Table_name, Table_priv FROM mysql.tables_priv WHERE User = %s AND Host = %s"
COLUMN_PRIVILEGES: Final = (
    "SELECT Db, Table_name, Column_name, Column_priv FROM mysql.columns_priv WHERE User = %s AND Host = %s"
)
ROUTINE_PRIVILEGES: Final = (
    "SELECT Db, Routine_name, Routine_type, Proc_priv FROM mysql.procs_priv WHERE User = %s AND Host = %s"
)


def grant_table_params(account: Account) -> tuple[str, str]:
    """``(User, Host)`` for the privilege queries; MariaDB roles are stored with an empty host."""
    return account.user, account.host if account.host is not None else ""


def _allowed(privilege: str, level: MySQLLevel) -> bool:
    if privilege == GRANT_OPTION:
        return True
    return privilege in LEVEL_ALL.get(level, frozenset()) or (
        level is MySQLLevel.COLUMN and MySQLLevel.COLUMN in MYSQL_PRIVILEGE_LEVELS.get(privilege, frozenset())
    )


def _flag_columns(row: Mapping[str, Any], level: MySQLLevel, database: str) -> set[Privilege]:
    out: set[Privilege] = set()
    for column, privilege in PRIVILEGE_COLUMNS.items():
        if column in row and _truthy(row[column]) and _allowed(privilege, level):
            out.add(Privilege(level.value, database, "", "", privilege))
    return out


def global_privileges(rows: Iterable[Mapping[str, Any]]) -> frozenset[Privilege]:
    """Rows of :func:`global_privileges_query` → global privileges (``ON *.*``)."""
    out: set[Privilege] = set()
    for row in rows:
        out |= _flag_columns(row, MySQLLevel.GLOBAL, "")
    return frozenset(out)


def database_privileges(rows: Iterable[Mapping[str, Any]], *, escaped: bool = True) -> frozenset[Privilege]:
    """Rows of :data:`DATABASE_PRIVILEGES` → database-level privileges; ``Db`` patterns are unescaped when the
    dialect escapes database names in grants."""
    out: set[Privilege] = set()
    for row in rows:
        db = _text(row["Db"])
        out |= _flag_columns(row, MySQLLevel.DATABASE, unescape_db_pattern(db) if escaped else db)
    return frozenset(out)


def _set_values(value: Any) -> list[str]:
    """A SET column (``Select,Insert,Grant``) as upper-case names; ``GRANT`` is the grant option."""
    items = [_text(v) for v in value] if isinstance(value, set | frozenset) else _text(value).split(",")
    names = [" ".join(v.split()).upper() for v in items if v.strip()]
    return [GRANT_OPTION if n == "GRANT" else n for n in names]


def table_privileges(rows: Iterable[Mapping[str, Any]]) -> frozenset[Privilege]:
    """Rows of :data:`TABLE_PRIVILEGES` → table-level privileges (column privileges are read separately)."""
    out: set[Privilege] = set()
    for row in rows:
        db, table = _text(row["Db"]), _text(row["Table_name"])
        for p in _set_values(row["Table_priv"]):
            if _allowed(p, MySQLLevel.TABLE):
                out.add(Privilege(MySQLLevel.TABLE.value, db, table, "", p))
    return frozenset(out)


def column_privileges(rows: Iterable[Mapping[str, Any]]) -> frozenset[Privilege]:
    """Rows of :data:`COLUMN_PRIVILEGES` → column-level privileges."""
    out: set[Privilege] = set()
    for row in rows:
        db, table, column = _text(row["Db"]), _text(row["Table_name"]), _text(row["Column_name"])
        for p in _set_values(row["Column_priv"]):
            if _allowed(p, MySQLLevel.COLUMN):
                out.add(Privilege(MySQLLevel.COLUMN.value, db, table, column, p))
    return frozenset(out)


def routine_privileges(rows: Iterable[Mapping[str, Any]]) -> frozenset[Privilege]:
    """Rows of :data:`ROUTINE_PRIVILEGES` → procedure and function privileges."""
    out: set[Privilege] = set()
    for row in rows:
        kind = _text(row["Routine_type"]).upper()
        level = MySQLLevel.FUNCTION if kind == "FUNCTION" else MySQLLevel.PROCEDURE
        db, name = _text(row["Db"]), _text(row["Routine_name"])
        for p in _set_values(row["Proc_priv"]):
            if _allowed(p, level):
                out.add(Privilege(level.value, db, name, "", p))
    return frozenset(out)


# --------------------------------------------------------------------------------------------------------------------
# Owned objects (engines.md 4.6)

_OWNED = " UNION ALL ".join(
    f"SELECT {schema} AS db, {kind} AS kind, {name} AS name, DEFINER AS definer "
    f"FROM information_schema.{table} WHERE DEFINER LIKE %s"
    for schema, kind, name, table in (
        ("TABLE_SCHEMA", "'view'", "TABLE_NAME", "VIEWS"),
        ("ROUTINE_SCHEMA", "LOWER(ROUTINE_TYPE)", "ROUTINE_NAME", "ROUTINES"),
        ("TRIGGER_SCHEMA", "'trigger'", "TRIGGER_NAME", "TRIGGERS"),
        ("EVENT_SCHEMA", "'event'", "EVENT_NAME", "EVENTS"),
    )
)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def owned_objects(user: str) -> CatalogQuery:
    """Views, routines, triggers and events whose DEFINER's user part is ``user`` (any host), across all schemas.

    The LIKE narrows the scan; callers keep rows whose DEFINER, cut at its last ``@``, equals ``user`` exactly
    (LIKE on information_schema may ignore case).
    """
    pattern = _like_escape(user) + "@%"
    return _OWNED, (pattern, pattern, pattern, pattern)


def definer_user(definer: str) -> str:
    """The user part of a ``user@host`` DEFINER."""
    return definer.rsplit("@", 1)[0]


# --------------------------------------------------------------------------------------------------------------------
# Discovery exclusions (engines.md 4.8, 5)

EXCLUDED_DATABASES: Final = frozenset({"mysql", "information_schema", "performance_schema", "sys"})
EXCLUDED_ACCOUNTS: Final = frozenset({"root", "PUBLIC", "mariadb.sys"})
EXCLUDED_ACCOUNT_PREFIXES: Final = ("mysql.", "mariadb.", "debian-sys-")


def is_excluded_database(name: str) -> bool:
    return name in EXCLUDED_DATABASES


def is_excluded_account(name: str, admin: str | None = None) -> bool:
    return name in EXCLUDED_ACCOUNTS or name == admin or name.startswith(EXCLUDED_ACCOUNT_PREFIXES)
