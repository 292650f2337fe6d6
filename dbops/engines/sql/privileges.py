"""Privilege allow-lists and object-type mapping tables (engines.md 2.3, 4.4, 6.4).

Privileges are the one part of a grant that is *not* quoted (SQL has no quoting for keywords), so they are only ever
emitted after being normalised (trimmed, inner white space collapsed, upper-cased) and found on the engine's fixed
allow-list. Anything else fails with :class:`~dbops.engines.errors.InvalidSpec` naming the list item, before any SQL
runs. Object types (``tables``, ``sequences``, …) come from schema enums and are mapped through the fixed tables
below, so no user text reaches SQL as a keyword.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum

from dbops.engines.errors import InvalidSpec

__all__ = [
    "CLICKHOUSE_PRIVILEGES",
    "MYSQL_PRIVILEGES",
    "MYSQL_PRIVILEGE_LEVELS",
    "PG_DATABASE_PRIVILEGES",
    "PG_DEFAULT_ACL_OBJTYPE",
    "PG_DEFAULT_OBJECT_KEYWORD",
    "PG_DEFAULT_PRIVILEGES",
    "PG_FUNCTION_PRIVILEGES",
    "PG_PRIVILEGES",
    "PG_SCHEMA_LEVEL_TABLE_PRIVILEGES",
    "PG_SCHEMA_PRIVILEGES",
    "PG_SEQUENCE_PRIVILEGES",
    "PG_TABLE_PRIVILEGES",
    "PG_TYPE_PRIVILEGES",
    "ClickHouseLevel",
    "MySQLLevel",
    "PgDefaultObjectType",
    "clickhouse_privileges",
    "mysql_privileges",
    "normalise_privilege",
    "pg_canonical",
    "pg_privileges",
    "pg_privileges_for",
]


def normalise_privilege(privilege: str) -> str:
    """Trim, collapse runs of white space to one space and upper-case: ``" all  privileges"`` → ``ALL PRIVILEGES``."""
    return " ".join(privilege.split()).upper()


def _dedupe(items: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return tuple(seen)


def _check_list(privileges: Sequence[str], field: str) -> None:
    if isinstance(privileges, str):  # a bare string would be iterated character by character
        raise TypeError("privileges must be a sequence of strings, not a string")
    if not privileges:
        raise InvalidSpec(field, "must list at least one privilege")


# --------------------------------------------------------------------------------------------------------------------
# PostgreSQL and CockroachDB (engines.md 2.3)

#: The whole family's allow-list, as written in manifests (before aliases are resolved).
PG_PRIVILEGES = frozenset(
    {
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "TRUNCATE",
        "REFERENCES",
        "TRIGGER",
        "CREATE",
        "CONNECT",
        "TEMPORARY",
        "TEMP",
        "EXECUTE",
        "USAGE",
        "ALL",
        "ALL PRIVILEGES",
    }
)

#: Spellings that mean the same privilege: the canonical form is what builders emit and what drift compares.
_PG_ALIASES = {"TEMP": "TEMPORARY", "ALL PRIVILEGES": "ALL"}

PG_DATABASE_PRIVILEGES = frozenset({"CONNECT", "CREATE", "TEMPORARY", "ALL"})
PG_SCHEMA_PRIVILEGES = frozenset({"USAGE", "CREATE", "ALL"})
PG_TABLE_PRIVILEGES = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER", "ALL"})
PG_SEQUENCE_PRIVILEGES = frozenset({"USAGE", "SELECT", "UPDATE", "ALL"})
PG_FUNCTION_PRIVILEGES = frozenset({"EXECUTE", "ALL"})
PG_TYPE_PRIVILEGES = frozenset({"USAGE", "ALL"})

#: At schema level (engines.md 2.3 "schema, no objects") these go ON ALL TABLES IN SCHEMA.
PG_SCHEMA_LEVEL_TABLE_PRIVILEGES = frozenset(
    {"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER", "ALL"}
)


class PgDefaultObjectType(StrEnum):
    """``objectType`` of default-privilege entries (api.md 5.16)."""

    TABLES = "tables"
    SEQUENCES = "sequences"
    FUNCTIONS = "functions"
    TYPES = "types"


#: The keyword after ON in ALTER DEFAULT PRIVILEGES.
PG_DEFAULT_OBJECT_KEYWORD = {
    PgDefaultObjectType.TABLES: "TABLES",
    PgDefaultObjectType.SEQUENCES: "SEQUENCES",
    PgDefaultObjectType.FUNCTIONS: "FUNCTIONS",
    PgDefaultObjectType.TYPES: "TYPES",
}

#: ``pg_default_acl.defaclobjtype`` for each object type, for reading default privileges back.
PG_DEFAULT_ACL_OBJTYPE = {
    PgDefaultObjectType.TABLES: "r",
    PgDefaultObjectType.SEQUENCES: "S",
    PgDefaultObjectType.FUNCTIONS: "f",
    PgDefaultObjectType.TYPES: "T",
}

#: Valid privileges per default-privilege object type ("tables as for tables, sequences as for sequences, functions
#: EXECUTE, types USAGE"; ALL is accepted everywhere because the server treats it as exactly those).
PG_DEFAULT_PRIVILEGES = {
    PgDefaultObjectType.TABLES: PG_TABLE_PRIVILEGES,
    PgDefaultObjectType.SEQUENCES: PG_SEQUENCE_PRIVILEGES,
    PgDefaultObjectType.FUNCTIONS: PG_FUNCTION_PRIVILEGES,
    PgDefaultObjectType.TYPES: PG_TYPE_PRIVILEGES,
}


def pg_canonical(privilege: str) -> str:
    """The canonical spelling of one PostgreSQL privilege (normalised, aliases resolved); no allow-list check."""
    p = normalise_privilege(privilege)
    return _PG_ALIASES.get(p, p)


def pg_privileges(privileges: Sequence[str], field: str) -> tuple[str, ...]:
    """Normalise and allow-list-check a PostgreSQL privilege list; return canonical names without duplicates.

    ``TEMP`` becomes ``TEMPORARY`` and ``ALL PRIVILEGES`` becomes ``ALL``. The item path is ``<field>[i]``.
    """
    _check_list(privileges, field)
    out: list[str] = []
    for i, raw in enumerate(privileges):
        p = normalise_privilege(raw)
        if p not in PG_PRIVILEGES:
            raise InvalidSpec(f"{field}[{i}]", f"privilege {p!r} is not on the PostgreSQL allow-list")
        out.append(_PG_ALIASES.get(p, p))
    return _dedupe(out)


def pg_privileges_for(privileges: Sequence[str], valid: frozenset[str], field: str, level: str) -> tuple[str, ...]:
    """:func:`pg_privileges`, then require every privilege to be in ``valid`` (one object level).

    ``ALL`` cannot be combined with other privileges in one PostgreSQL GRANT, and already includes them, so a list
    containing ``ALL`` collapses to ``("ALL",)``.
    """
    canonical = pg_privileges(privileges, field)
    for i, raw in enumerate(privileges):
        p = pg_canonical(raw)
        if p not in valid:
            raise InvalidSpec(f"{field}[{i}]", f"privilege {p!r} does not exist at {level} level")
    return ("ALL",) if "ALL" in canonical else canonical


# --------------------------------------------------------------------------------------------------------------------
# MySQL and MariaDB (engines.md 4.4)


class MySQLLevel(StrEnum):
    """``level`` of MySQL grant entries (api.md 5.16)."""

    GLOBAL = "global"
    DATABASE = "database"
    TABLE = "table"
    COLUMN = "column"
    PROCEDURE = "procedure"
    FUNCTION = "function"


_G, _D, _T, _C, _P, _F = (
    MySQLLevel.GLOBAL,
    MySQLLevel.DATABASE,
    MySQLLevel.TABLE,
    MySQLLevel.COLUMN,
    MySQLLevel.PROCEDURE,
    MySQLLevel.FUNCTION,
)


def _levels(privs: str, levels: frozenset[MySQLLevel]) -> dict[str, frozenset[MySQLLevel]]:
    return {p.strip(): levels for p in privs.split(",")}


#: Which levels each MySQL privilege may be granted at ("Valid levels, checked by the operator before sending").
MYSQL_PRIVILEGE_LEVELS: dict[str, frozenset[MySQLLevel]] = {
    **_levels(
        "CREATE TABLESPACE, CREATE USER, FILE, PROCESS, RELOAD, REPLICATION CLIENT, REPLICATION SLAVE, "
        "SHOW DATABASES, SHUTDOWN, SUPER",
        frozenset({_G}),
    ),
    **_levels("CREATE ROUTINE, CREATE TEMPORARY TABLES, EVENT, LOCK TABLES", frozenset({_G, _D})),
    **_levels("ALTER ROUTINE, EXECUTE", frozenset({_G, _D, _P, _F})),
    **_levels("ALTER, CREATE, CREATE VIEW, DELETE, DROP, INDEX, SHOW VIEW, TRIGGER", frozenset({_G, _D, _T})),
    **_levels("SELECT, INSERT, UPDATE, REFERENCES", frozenset({_G, _D, _T, _C})),
    **_levels("GRANT OPTION, ALL, ALL PRIVILEGES, USAGE", frozenset({_G, _D, _T, _P, _F})),
}

#: The MySQL-family allow-list (32 names).
MYSQL_PRIVILEGES = frozenset(MYSQL_PRIVILEGE_LEVELS)


def mysql_privileges(privileges: Sequence[str], level: MySQLLevel, field: str) -> tuple[str, ...]:
    """Normalise a MySQL privilege list and check each item against the allow-list and the entry's ``level``."""
    _check_list(privileges, field)
    out: list[str] = []
    for i, raw in enumerate(privileges):
        p = normalise_privilege(raw)
        levels = MYSQL_PRIVILEGE_LEVELS.get(p)
        if levels is None:
            raise InvalidSpec(f"{field}[{i}]", f"privilege {p!r} is not on the MySQL allow-list")
        if level not in levels:
            raise InvalidSpec(f"{field}[{i}]", f"privilege {p!r} cannot be granted at {level} level")
        out.append(p)
    return _dedupe(out)


# --------------------------------------------------------------------------------------------------------------------
# ClickHouse (engines.md 6.4)


class ClickHouseLevel(StrEnum):
    """``level`` of ClickHouse grant entries (api.md 5.16)."""

    GLOBAL = "global"
    DATABASE = "database"
    TABLE = "table"


#: The ClickHouse allow-list (28 names). The server itself rejects a privilege that does not apply at a level.
CLICKHOUSE_PRIVILEGES = frozenset(
    {
        "ALL",
        "SELECT",
        "INSERT",
        "ALTER",
        "CREATE",
        "DROP",
        "TRUNCATE",
        "SHOW",
        "OPTIMIZE",
        "CREATE DATABASE",
        "CREATE TABLE",
        "CREATE VIEW",
        "CREATE DICTIONARY",
        "CREATE TEMPORARY TABLE",
        "CREATE FUNCTION",
        "ALTER TABLE",
        "ALTER VIEW",
        "DROP DATABASE",
        "DROP TABLE",
        "DROP VIEW",
        "DROP DICTIONARY",
        "DROP FUNCTION",
        "SHOW DATABASES",
        "SHOW TABLES",
        "SHOW DICTIONARIES",
        "SHOW COLUMNS",
        "KILL QUERY",
        "SYSTEM",
    }
)


def clickhouse_privileges(privileges: Sequence[str], field: str) -> tuple[str, ...]:
    """Normalise a ClickHouse privilege list and check it against the allow-list."""
    _check_list(privileges, field)
    out: list[str] = []
    for i, raw in enumerate(privileges):
        p = normalise_privilege(raw)
        if p not in CLICKHOUSE_PRIVILEGES:
            raise InvalidSpec(f"{field}[{i}]", f"privilege {p!r} is not on the ClickHouse allow-list")
        out.append(p)
    return _dedupe(out)
