"""Identifier and literal quoting for the three dialect families (engines.md 1.1) and name-length rules (1.2).

Why every name is quoted, even ``public``: quoting is the only way to make a name mean exactly its text. An unquoted
identifier is case-folded by PostgreSQL and can collide with keywords; a quoted one cannot break out of its quotes
if the single escaping rule of its dialect is applied. The functions here are the only place in dbops where names
and free text are turned into SQL text, so the rules are written once and fuzzed (tests/unit/sql).

All checks that fail raise :class:`~dbops.engines.errors.InvalidSpec` with the caller's field path. Messages name
the rule, never the value, because the value may be a password.

| Family | Identifier | Literal |
|---|---|---|
| PostgreSQL, CockroachDB | ``"…"``, ``"`` doubled | ``'…'``, ``'`` doubled (standard-conforming strings are on) |
| MySQL, MariaDB | backticks, backtick doubled; accounts ``'user'@'host'`` | ``'…'``, ``'`` doubled, ``\\`` doubled |
| ClickHouse | backticks; backtick and ``\\`` escaped with ``\\`` | ``'…'``; ``'`` and ``\\`` escaped with ``\\`` |
"""

from __future__ import annotations

import re
from enum import StrEnum

from dbops.engines.errors import InvalidSpec
from dbops.engines.sql.dialect import Engine, Family, family_of

__all__ = [
    "SETTING_NAME_PATTERN",
    "NameKind",
    "NameLimit",
    "ch_ident",
    "ch_literal",
    "check_mysql_account_name",
    "check_name_length",
    "check_setting_name",
    "check_text",
    "mysql_account",
    "mysql_ident",
    "mysql_literal",
    "name_limit",
    "pg_ident",
    "pg_literal",
    "pg_qualified",
    "quote_ident",
    "quote_literal",
    "truncate_name",
]

#: Keys that end up in SQL as setting names (PostgreSQL ``configParameters``, ClickHouse role settings), engines.md 1.1.
SETTING_NAME_PATTERN = re.compile(r"[a-zA-Z_][a-zA-Z0-9_.]*")

#: PostgreSQL's NAMEDATALEN - 1: longer identifiers are silently truncated by the server, so they are refused here.
PG_MAX_IDENTIFIER_BYTES = 63


class NameKind(StrEnum):
    """What a name denotes; MySQL-family limits differ per kind (engines.md 1.2)."""

    DATABASE = "database"
    ACCOUNT = "account"  # user or role name (the user part of a MySQL account)
    HOST = "host"  # the host part of a MySQL account
    OBJECT = "object"  # schema, table, column, routine, extension, tablespace, setting …


class NameLimit:
    """A maximum name length, counted in UTF-8 bytes or in characters."""

    __slots__ = ("in_bytes", "maximum")

    def __init__(self, maximum: int, *, in_bytes: bool) -> None:
        self.maximum = maximum
        self.in_bytes = in_bytes

    def measure(self, name: str) -> int:
        return len(name.encode("utf-8")) if self.in_bytes else len(name)

    def describe(self) -> str:
        return f"{self.maximum} {'bytes' if self.in_bytes else 'characters'}"

    def __repr__(self) -> str:
        return f"NameLimit({self.maximum}, in_bytes={self.in_bytes})"


_PG = NameLimit(PG_MAX_IDENTIFIER_BYTES, in_bytes=True)
_LIMITS: dict[Engine, dict[NameKind, NameLimit]] = {
    Engine.POSTGRES: {k: _PG for k in NameKind},
    Engine.COCKROACHDB: {k: _PG for k in NameKind},
    Engine.MYSQL: {
        NameKind.DATABASE: NameLimit(64, in_bytes=False),
        NameKind.ACCOUNT: NameLimit(32, in_bytes=False),
        NameKind.HOST: NameLimit(255, in_bytes=False),
        NameKind.OBJECT: NameLimit(64, in_bytes=False),
    },
    Engine.MARIADB: {
        NameKind.DATABASE: NameLimit(64, in_bytes=False),
        NameKind.ACCOUNT: NameLimit(80, in_bytes=False),
        NameKind.HOST: NameLimit(255, in_bytes=False),
        NameKind.OBJECT: NameLimit(64, in_bytes=False),
    },
    Engine.CLICKHOUSE: {},  # no limit beyond the schema's own 63 characters
}


# --------------------------------------------------------------------------------------------------------------------
# Generic checks


def check_text(value: str, field: str) -> str:
    """Reject text that cannot be sent safely: NUL (engines.md 1.1) and lone surrogates (not encodable as UTF-8).

    NUL terminates C strings inside the servers and drivers, so a value containing one could be cut short after
    quoting; it is refused before any statement is built.
    """
    if "\x00" in value:
        raise InvalidSpec(field, "must not contain a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidSpec(field, "is not valid Unicode text") from None
    return value


def check_setting_name(name: str, field: str) -> str:
    """Setting/parameter names must match ``^[a-zA-Z_][a-zA-Z0-9_.]*$`` (engines.md 1.1)."""
    if SETTING_NAME_PATTERN.fullmatch(name) is None:
        raise InvalidSpec(field, "must be a setting name matching ^[a-zA-Z_][a-zA-Z0-9_.]*$")
    return name


def name_limit(engine: Engine, kind: NameKind) -> NameLimit | None:
    """The engine's limit for a kind of name, or ``None`` when the engine has none (ClickHouse)."""
    return _LIMITS[engine].get(kind)


def check_name_length(engine: Engine, kind: NameKind, name: str, field: str) -> str:
    """Refuse names longer than the engine allows (engines.md 1.2) instead of letting the server truncate or fail."""
    limit = name_limit(engine, kind)
    if limit is not None and limit.measure(name) > limit.maximum:
        raise InvalidSpec(field, f"is longer than {engine} allows for a {kind} name ({limit.describe()})")
    return name


def truncate_name(engine: Engine, kind: NameKind, name: str) -> str:
    """Cut a *generated* name (rotation account, suffix, derived role) to the engine's limit.

    Byte limits are cut at a character boundary so the result stays valid UTF-8.
    """
    limit = name_limit(engine, kind)
    if limit is None:
        return name
    if not limit.in_bytes:
        return name[: limit.maximum]
    out = name
    while len(out.encode("utf-8")) > limit.maximum:
        out = out[:-1]
    return out


def _check_name(name: str, field: str) -> None:
    check_text(name, field)
    if name == "":
        raise InvalidSpec(field, "must not be empty")


# --------------------------------------------------------------------------------------------------------------------
# PostgreSQL and CockroachDB


def pg_ident(name: str, field: str) -> str:
    """A PostgreSQL-family quoted identifier: ``"name"`` with ``"`` doubled.

    Names over 63 bytes are refused because the server would silently truncate them and act on a different object.
    """
    _check_name(name, field)
    if len(name.encode("utf-8")) > PG_MAX_IDENTIFIER_BYTES:
        raise InvalidSpec(field, f"is longer than {PG_MAX_IDENTIFIER_BYTES} bytes, which PostgreSQL would truncate")
    return '"' + name.replace('"', '""') + '"'


def pg_qualified(schema: str, name: str, schema_field: str, name_field: str) -> str:
    """``"schema"."name"``."""
    return pg_ident(schema, schema_field) + "." + pg_ident(name, name_field)


def pg_literal(value: str, field: str) -> str:
    """A PostgreSQL-family string literal: ``'value'`` with ``'`` doubled.

    Correct only with ``standard_conforming_strings = on``, which every operator session sets (engines.md 1.3):
    backslashes are then ordinary characters.
    """
    check_text(value, field)
    return "'" + value.replace("'", "''") + "'"


# --------------------------------------------------------------------------------------------------------------------
# MySQL and MariaDB


def mysql_ident(name: str, field: str, *, engine: Engine = Engine.MYSQL, kind: NameKind = NameKind.OBJECT) -> str:
    """A MySQL-family quoted identifier: backticks with embedded backticks doubled.

    MySQL also refuses identifiers outside the Basic Multilingual Plane and names ending in a space; both are
    reported here with the field path rather than as a server error.
    """
    _check_name(name, field)
    if any(ord(ch) > 0xFFFF for ch in name):
        raise InvalidSpec(
            field, "contains characters outside the Unicode Basic Multilingual Plane, which MySQL refuses"
        )
    if name.endswith(" "):
        raise InvalidSpec(field, "must not end with a space")
    check_name_length(engine, kind, name, field)
    return "`" + name.replace("`", "``") + "`"


def mysql_literal(value: str, field: str) -> str:
    """A MySQL-family string literal: ``'`` doubled and every backslash doubled.

    Correct only without the ``NO_BACKSLASH_ESCAPES`` SQL mode (engines.md 1.3), which the operator's sessions never
    set: then a doubled backslash is one backslash and no escape sequence (``\\0``, ``\\'``, …) can be formed.
    """
    check_text(value, field)
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def check_mysql_account_name(user: str, field: str) -> str:
    """MySQL and MariaDB store and compare account names without their trailing spaces (``'app '`` is account
    ``app``), so such a name would manage — and at deletion drop — another account than the one named. Refused."""
    if user != user.rstrip(" "):
        raise InvalidSpec(field, "must not end with a space: MySQL and MariaDB drop trailing spaces of account names")
    return user


def mysql_account(user: str, host: str, field: str, *, engine: Engine = Engine.MYSQL) -> str:
    """A MySQL-family account name ``'user'@'host'`` (two literals), with the per-engine length checks."""
    _check_name(user, field)
    check_mysql_account_name(user, field)
    check_name_length(engine, NameKind.ACCOUNT, user, field)
    check_name_length(engine, NameKind.HOST, host, f"{field} (host)")
    return mysql_literal(user, field) + "@" + mysql_literal(host, f"{field} (host)")


# --------------------------------------------------------------------------------------------------------------------
# ClickHouse


def _ch_escape(value: str, quote: str) -> str:
    return value.replace("\\", "\\\\").replace(quote, "\\" + quote)


def ch_ident(name: str, field: str) -> str:
    """A ClickHouse quoted identifier: backticks, with backtick and backslash escaped by a backslash."""
    _check_name(name, field)
    return "`" + _ch_escape(name, "`") + "`"


def ch_literal(value: str, field: str) -> str:
    """A ClickHouse string literal: ``'`` and backslash escaped by a backslash."""
    check_text(value, field)
    return "'" + _ch_escape(value, "'") + "'"


# --------------------------------------------------------------------------------------------------------------------
# Engine dispatch


def quote_ident(engine: Engine, name: str, field: str, kind: NameKind = NameKind.OBJECT) -> str:
    """Quote ``name`` as an identifier for ``engine``, applying that engine's name-length rule for ``kind``."""
    family = family_of(engine)
    if family is Family.POSTGRESQL:
        return pg_ident(name, field)
    if family is Family.MYSQL:
        return mysql_ident(name, field, engine=engine, kind=kind)
    return ch_ident(name, field)


def quote_literal(engine: Engine, value: str, field: str) -> str:
    """Quote ``value`` as a string literal for ``engine``."""
    family = family_of(engine)
    if family is Family.POSTGRESQL:
        return pg_literal(value, field)
    if family is Family.MYSQL:
        return mysql_literal(value, field)
    return ch_literal(value, field)
