"""ClickHouse statement builders and catalog queries (engines.md 6).

Pure functions returning SQL text; names are backtick identifiers and free text single-quoted literals, both escaped
with backslashes (:func:`~dbops.engines.sql.quoting.ch_ident`, :func:`~dbops.engines.sql.quoting.ch_literal`).
Catalog queries bind their values as ClickHouse query parameters (``{name:String}``), which the HTTP interface
substitutes on the server, so no name is spliced into them.

What ClickHouse does differently from the SQL families: users have no per-host accounts but one HOST clause, the
password is always sent for ``sha256_password`` (only a hash is stored, engines.md 1.5), the database engine is part
of CREATE DATABASE and is parsed and re-emitted rather than passed through, roles carry setting values, and the
server itself rejects a privilege that does not apply at a level.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from dbops.engines.errors import InvalidSpec
from dbops.engines.sql.privileges import ClickHouseLevel, clickhouse_privileges
from dbops.engines.sql.quoting import ch_ident, ch_literal, check_setting_name, check_text

__all__ = [
    "DATABASE",
    "DATABASE_SIZES",
    "DEFAULT_ROLES",
    "EXCLUDED_DATABASES",
    "GRANTS",
    "ROLE",
    "ROLE_GRANTS",
    "ROLE_SETTINGS",
    "SERVER_VERSION",
    "SETTING_EXISTS",
    "USER",
    "USER_OBJECT_COUNT",
    "ClickHouseGrantEntry",
    "alter_role_settings",
    "alter_user",
    "create_database",
    "create_metadata_table",
    "create_role",
    "create_user",
    "database_engine",
    "delete_tracking",
    "disable_user",
    "drop_database",
    "drop_role",
    "drop_user",
    "grant_entry",
    "grant_role",
    "host_clause",
    "kill_queries_in_database",
    "revoke_entry",
    "revoke_role",
    "select_tracking",
    "set_default_roles_all",
    "set_password",
    "upsert_tracking",
]

# --------------------------------------------------------------------------------------------------------------------
# Databases (engines.md 6.1)

_ENGINE = re.compile(r"\s*(?P<name>[A-Za-z]+)\s*(?:\((?P<args>.*)\))?\s*", re.DOTALL)
_ARG = re.compile(r"\s*(?:(?P<int>\d+)|'(?P<str>(?:[^'\\]|\\.)*)')\s*", re.DOTALL)
#: Argument kinds per accepted engine; ``None``: no parentheses at all.
_ENGINE_ARGS: Final[dict[str, tuple[tuple[str, ...] | None, ...]]] = {
    "Atomic": (None,),
    "Ordinary": (None,),
    "Memory": (None,),
    "Lazy": (("int",),),
    "Replicated": (None, ("str", "str", "str")),
}
_ESCAPES: Final = {"n": "\n", "t": "\t", "r": "\r", "0": "\x00", "b": "\b", "f": "\f"}


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text, flags=re.DOTALL)


def _engine_args(raw: str, field: str) -> list[tuple[str, str]]:
    """``1`` / ``'a', 'b'`` → ``[("int", "1")]`` / ``[("str", "a"), ("str", "b")]``; anything else is refused."""
    out: list[tuple[str, str]] = []
    position = 0
    while True:
        arg = _ARG.match(raw, position)
        if arg is None:
            raise InvalidSpec(field, "has arguments that are not integers or single-quoted strings")
        if arg.group("int") is not None:
            out.append(("int", arg.group("int")))
        else:
            out.append(("str", _unescape(arg.group("str"))))
        position = arg.end()
        if position == len(raw):
            return out
        if raw[position] != ",":
            raise InvalidSpec(field, "has arguments that are not integers or single-quoted strings")
        position += 1


def database_engine(value: str, field: str = "spec.clickhouse.engine") -> str:
    """Parse ``clickhouse.engine`` and re-emit it with the operator's quoting (``ENGINE = …`` without the prefix).

    Accepted: ``Atomic``, ``Ordinary``, ``Memory``, ``Lazy(<seconds>)``, ``Replicated`` and
    ``Replicated('<path>', '<shard>', '<replica>')``. Everything else — engines that embed remote credentials or
    paths (MySQL, PostgreSQL, S3 …), wrong argument kinds or counts, unparsable text — is refused before any SQL.
    """
    check_text(value, field)
    match = _ENGINE.fullmatch(value)
    if match is None or match.group("name") not in _ENGINE_ARGS:
        raise InvalidSpec(field, "must be Atomic, Ordinary, Memory, Lazy(<seconds>) or Replicated[('<path>', …)]")
    name, raw = match.group("name"), match.group("args")
    args = None if raw is None else _engine_args(raw, field)
    kinds = None if args is None else tuple(kind for kind, _ in args)
    if kinds not in _ENGINE_ARGS[name]:
        raise InvalidSpec(field, f"has the wrong arguments for the {name} engine")
    if not args:
        return name
    emitted = [str(int(text)) if kind == "int" else ch_literal(text, field) for kind, text in args]
    return f"{name}({', '.join(emitted)})"


def create_database(name: str, engine: str | None = None) -> str:
    """CREATE DATABASE IF NOT EXISTS … [ENGINE = …] (the engine is immutable afterwards)."""
    sql = "CREATE DATABASE IF NOT EXISTS " + ch_ident(name, "spec.name")
    return sql + (" ENGINE = " + database_engine(engine) if engine is not None else "")


def drop_database(name: str) -> str:
    """DROP DATABASE IF EXISTS … SYNC (waits until the data is gone, so a re-create with that name works)."""
    return "DROP DATABASE IF EXISTS " + ch_ident(name, "spec.name") + " SYNC"


def kill_queries_in_database(name: str) -> str:
    """KILL QUERY for running queries whose current database is the one being dropped, asynchronously."""
    return "KILL QUERY WHERE current_database = " + ch_literal(name, "spec.name") + " ASYNC"


# --------------------------------------------------------------------------------------------------------------------
# Users (engines.md 6.2)


def _host_item(entry: str, field: str) -> str | None:
    """One ``allowedHosts`` entry as a HOST item; ``None`` means ANY."""
    check_text(entry, field)
    if entry in ("%", "::/0"):
        return None
    if entry == "localhost":
        return "LOCAL"
    if "%" in entry or "_" in entry:
        return "LIKE " + ch_literal(entry, field)
    try:
        ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return "NAME " + ch_literal(entry, field)
    return "IP " + ch_literal(entry, field)


def host_clause(hosts: Sequence[str] | None, field: str = "spec.clickhouse.allowedHosts") -> str:
    """HOST …: an empty list, ``%`` or ``::/0`` anywhere means ANY."""
    items = [_host_item(h, f"{field}[{i}]") for i, h in enumerate(hosts or ())]
    if not items or any(item is None for item in items):
        return "HOST ANY"
    return "HOST " + ", ".join(dict.fromkeys(item for item in items if item is not None))


def _identified(password: str) -> str:
    return "IDENTIFIED WITH sha256_password BY " + ch_literal(password, "password")


def _default_database(database: str | None) -> str:
    if database is None:
        return ""
    return " DEFAULT DATABASE " + ch_ident(database, "spec.clickhouse.defaultDatabase")


def create_user(
    name: str,
    password: str,
    *,
    hosts: Sequence[str] | None = None,
    default_database: str | None = None,
    field: str = "spec.username",
) -> str:
    """CREATE USER IF NOT EXISTS … IDENTIFIED WITH sha256_password BY '…' HOST … [DEFAULT DATABASE …]."""
    return (
        "CREATE USER IF NOT EXISTS "
        + ch_ident(name, field)
        + " "
        + _identified(password)
        + " "
        + host_clause(hosts)
        + _default_database(default_database)
    )


def alter_user(
    name: str, *, hosts: Sequence[str] | None = None, default_database: str | None = None, field: str = "spec.username"
) -> str:
    """ALTER USER … HOST … [DEFAULT DATABASE …] (the same clauses as creation, without the password)."""
    return "ALTER USER " + ch_ident(name, field) + " " + host_clause(hosts) + _default_database(default_database)


def set_password(name: str, password: str, *, field: str = "spec.username") -> str:
    """ALTER USER … IDENTIFIED WITH sha256_password BY '…'."""
    return "ALTER USER " + ch_ident(name, field) + " " + _identified(password)


def disable_user(name: str, *, field: str = "spec.username") -> str:
    """ALTER USER … HOST NONE: a superseded account can no longer log in from anywhere."""
    return "ALTER USER " + ch_ident(name, field) + " HOST NONE"


def drop_user(name: str, *, field: str = "spec.username") -> str:
    return "DROP USER IF EXISTS " + ch_ident(name, field)


# --------------------------------------------------------------------------------------------------------------------
# Roles (engines.md 6.3)

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _settings(settings: Mapping[str, str] | None, field: str) -> str:
    """``SETTINGS name = value, …``: numbers unquoted, other values as literals, names checked."""
    if not settings:
        return ""
    parts: list[str] = []
    for key in sorted(settings):
        check_setting_name(key, f"{field}.{key}")
        value = settings[key]
        check_text(value, f"{field}.{key}")
        parts.append(f"{key} = " + (value if _NUMBER.fullmatch(value) else ch_literal(value, f"{field}.{key}")))
    return " SETTINGS " + ", ".join(parts)


def create_role(name: str, settings: Mapping[str, str] | None = None, *, field: str = "spec.roleName") -> str:
    """CREATE ROLE IF NOT EXISTS … [SETTINGS …]; that the names exist in system.settings is the adapter's check."""
    return "CREATE ROLE IF NOT EXISTS " + ch_ident(name, field) + _settings(settings, "spec.clickhouse.settings")


def alter_role_settings(name: str, settings: Mapping[str, str], *, field: str = "spec.roleName") -> str:
    """ALTER ROLE … SETTINGS … (listed values are set; settings removed from the spec are left alone)."""
    if not settings:
        raise ValueError("alter_role_settings needs at least one setting")
    return "ALTER ROLE " + ch_ident(name, field) + _settings(settings, "spec.clickhouse.settings")


def drop_role(name: str, *, field: str = "spec.roleName") -> str:
    return "DROP ROLE IF EXISTS " + ch_ident(name, field)


def grant_role(role: str, grantee: str, *, field: str = "spec.roles[0]") -> str:
    return f"GRANT {ch_ident(role, field)} TO {ch_ident(grantee, 'grantee')}"


def revoke_role(role: str, grantee: str, *, field: str = "spec.roles[0]") -> str:
    return f"REVOKE {ch_ident(role, field)} FROM {ch_ident(grantee, 'grantee')}"


def set_default_roles_all(user: str) -> str:
    """SET DEFAULT ROLE ALL TO …: every granted role is active at login (engines.md 6.2)."""
    return "SET DEFAULT ROLE ALL TO " + ch_ident(user, "spec.username")


# --------------------------------------------------------------------------------------------------------------------
# Grants (engines.md 6.4)


@dataclass(frozen=True)
class ClickHouseGrantEntry:
    """One ``clickhouse.grants[]`` entry (api.md 5.16)."""

    level: ClickHouseLevel
    privileges: Sequence[str]
    database: str | None = None
    table: str | None = None
    with_grant_option: bool = False


def _target(entry: ClickHouseGrantEntry, field: str) -> str:
    level = ClickHouseLevel(entry.level)
    prefix = f"{field}." if field else ""
    if level is ClickHouseLevel.GLOBAL:
        for name in ("database", "table"):
            if getattr(entry, name) is not None:
                raise InvalidSpec(f"{prefix}{name}", "is not used at global level")
        return "*.*"
    if entry.database is None:
        raise InvalidSpec(f"{prefix}database", f"is required at {level} level")
    database = ch_ident(entry.database, f"{prefix}database")
    if level is ClickHouseLevel.DATABASE:
        if entry.table is not None:
            raise InvalidSpec(f"{prefix}table", "is not used at database level")
        return database + ".*"
    if entry.table is None:
        raise InvalidSpec(f"{prefix}table", "is required at table level")
    return database + "." + ch_ident(entry.table, f"{prefix}table")


def grant_entry(entry: ClickHouseGrantEntry, grantee: str, *, field: str = "") -> str:
    """GRANT <privileges> ON <target> TO <grantee> [WITH GRANT OPTION]."""
    privileges = ", ".join(clickhouse_privileges(entry.privileges, f"{field}.privileges" if field else "privileges"))
    option = " WITH GRANT OPTION" if entry.with_grant_option else ""
    return f"GRANT {privileges} ON {_target(entry, field)} TO {ch_ident(grantee, 'grantee')}{option}"


def revoke_entry(entry: ClickHouseGrantEntry, grantee: str, *, field: str = "") -> str:
    """REVOKE <privileges> ON <target> FROM <grantee> (the grant option goes with the privileges)."""
    privileges = ", ".join(clickhouse_privileges(entry.privileges, f"{field}.privileges" if field else "privileges"))
    return f"REVOKE {privileges} ON {_target(entry, field)} FROM {ch_ident(grantee, 'grantee')}"


# --------------------------------------------------------------------------------------------------------------------
# Tracking table (engines.md 6.5)


def _table(database: str, table: str) -> str:
    return ch_ident(database, "metadataDatabase") + "." + ch_ident(table, "metadataTableName")


def create_metadata_table(database: str, table: str = "_dbops_metadata") -> str:
    """A replacing merge tree ordered by (resource type, name); the newest version of a row wins on FINAL reads."""
    return (
        "CREATE TABLE IF NOT EXISTS "
        + _table(database, table)
        + " (resource_type String, resource_name String, tracking String, first_managed_at DateTime,"
        " version DateTime64(6)) ENGINE = ReplacingMergeTree(version) ORDER BY (resource_type, resource_name)"
    )


def upsert_tracking(database: str, table: str, resource_type: str, name: str, text: str) -> str:
    """A new version of the row; the first-managed time of an earlier version is kept."""
    t = _table(database, table)
    rt, rn = ch_literal(resource_type, "resourceType"), ch_literal(name, "name")
    return (
        f"INSERT INTO {t} (resource_type, resource_name, tracking, first_managed_at, version) SELECT {rt}, {rn}, "
        + ch_literal(text, "comment")
        + f", ifNull((SELECT min(first_managed_at) FROM {t} WHERE resource_type = {rt} AND resource_name = {rn}"
        " HAVING count() > 0), now()), now64(6)"
    )


def select_tracking(database: str, table: str) -> str:
    """The current tracking text of one resource (parameters ``type`` and ``name``)."""
    return (
        "SELECT tracking FROM "
        + _table(database, table)
        + " FINAL WHERE resource_type = {type:String} AND resource_name = {name:String}"
    )


def delete_tracking(database: str, table: str, resource_type: str, name: str) -> str:
    """Lightweight DELETE of the resource's rows."""
    return (
        "DELETE FROM "
        + _table(database, table)
        + " WHERE resource_type = "
        + ch_literal(resource_type, "resourceType")
        + " AND resource_name = "
        + ch_literal(name, "name")
    )


# --------------------------------------------------------------------------------------------------------------------
# Catalog queries (engines.md 6.5); parameters are bound by the server

SERVER_VERSION: Final = "SELECT version() AS version"
DATABASE: Final = "SELECT name, engine FROM system.databases WHERE name = {name:String}"
USER_OBJECT_COUNT: Final = "SELECT count() AS n FROM system.tables WHERE database = {name:String}"
DATABASE_SIZES: Final = (
    "SELECT d.name AS name, toInt64(sum(ifNull(p.bytes_on_disk, 0))) AS size_bytes FROM system.databases d "
    "LEFT JOIN (SELECT database, bytes_on_disk FROM system.parts WHERE active) p ON p.database = d.name "
    "GROUP BY d.name"
)
USER: Final = (
    "SELECT name, storage, host_ip, host_names, host_names_like, host_names_regexp, default_database "
    "FROM system.users WHERE name = {name:String}"
)
ROLE: Final = "SELECT name, storage FROM system.roles WHERE name = {name:String}"
ROLE_SETTINGS: Final = (
    "SELECT setting_name, value FROM system.settings_profile_elements WHERE role_name = {name:String} "
    "AND setting_name IS NOT NULL"
)
SETTING_EXISTS: Final = "SELECT count() AS n FROM system.settings WHERE name = {name:String}"
ROLE_GRANTS: Final = (
    "SELECT granted_role_name AS role, granted_role_is_default AS is_default FROM system.role_grants "
    "WHERE user_name = {name:String} OR role_name = {name:String}"
)
DEFAULT_ROLES: Final = "SELECT default_roles_all, default_roles_list FROM system.users WHERE name = {name:String}"
GRANTS: Final = (
    "SELECT access_type, database, table, column, is_partial_revoke, grant_option FROM system.grants "
    "WHERE user_name = {name:String} OR role_name = {name:String}"
)

EXCLUDED_DATABASES: Final = frozenset({"system", "information_schema", "INFORMATION_SCHEMA", "default"})
