"""Quoting for the three families (engines.md 1.1) and name-length rules (1.2)."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from dbops.engines.errors import InvalidSpec
from dbops.engines.sql.dialect import Engine, Family, family_of
from dbops.engines.sql.quoting import (
    NameKind,
    ch_ident,
    ch_literal,
    check_name_length,
    check_setting_name,
    check_text,
    mysql_account,
    mysql_ident,
    mysql_literal,
    name_limit,
    pg_ident,
    pg_literal,
    pg_qualified,
    quote_ident,
    quote_literal,
    truncate_name,
)
from tests.unit.sql.lexers import clickhouse_token, doubled_quote_token, mysql_literal_token

# Text without NUL or lone surrogates, biased towards the characters that matter to SQL lexers.
_NASTY = st.sampled_from(list("'\"`\\ \n\r\t;-/*$%_?:@éß中😀\u2028\ufeff"))
_ANY_CHAR = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
TEXT = st.text(st.one_of(_NASTY, _ANY_CHAR), max_size=40)
NAME = TEXT.filter(lambda s: s != "")


# --------------------------------------------------------------------------------------------------------------------
# Exact forms


@pytest.mark.parametrize(
    ("value", "ident", "literal"),
    [
        ("app", '"app"', "'app'"),
        ("AppUser", '"AppUser"', "'AppUser'"),
        ('a"b', '"a""b"', "'a\"b'"),
        ("it's", '"it\'s"', "'it''s'"),
        ("back\\slash", '"back\\slash"', "'back\\slash'"),
        ("x; DROP TABLE y; --", '"x; DROP TABLE y; --"', "'x; DROP TABLE y; --'"),
    ],
)
def test_pg_forms(value: str, ident: str, literal: str) -> None:
    assert pg_ident(value, "f") == ident
    assert pg_literal(value, "f") == literal


def test_pg_literal_allows_empty() -> None:
    assert pg_literal("", "f") == "''"


def test_pg_qualified() -> None:
    assert pg_qualified("My Schema", 't"1', "s", "t") == '"My Schema"."t""1"'


@pytest.mark.parametrize(
    ("value", "ident", "literal"),
    [
        ("app", "`app`", "'app'"),
        ("a`b", "`a``b`", "'a`b'"),
        ("it's", "`it's`", "'it''s'"),
        ("c:\\dir\\", "`c:\\dir\\`", "'c:\\\\dir\\\\'"),
        ("\\'", "`\\'`", "'\\\\'''"),
    ],
)
def test_mysql_forms(value: str, ident: str, literal: str) -> None:
    assert mysql_ident(value, "f") == ident
    assert mysql_literal(value, "f") == literal


def test_mysql_account() -> None:
    assert mysql_account("app", "%", "spec.username") == "'app'@'%'"
    assert mysql_account("o'neil", "10.0.0.%", "spec.username") == "'o''neil'@'10.0.0.%'"


@pytest.mark.parametrize(
    ("value", "ident", "literal"),
    [
        ("app", "`app`", "'app'"),
        ("a`b", "`a\\`b`", "'a`b'"),
        ("it's", "`it's`", "'it\\'s'"),
        ("c:\\d", "`c:\\\\d`", "'c:\\\\d'"),
    ],
)
def test_clickhouse_forms(value: str, ident: str, literal: str) -> None:
    assert ch_ident(value, "f") == ident
    assert ch_literal(value, "f") == literal


@pytest.mark.parametrize(
    ("engine", "ident", "literal"),
    [
        (Engine.POSTGRES, '"a`\'"', "'a`'''"),
        (Engine.COCKROACHDB, '"a`\'"', "'a`'''"),
        (Engine.MYSQL, "`a``'`", "'a`'''"),
        (Engine.MARIADB, "`a``'`", "'a`'''"),
        (Engine.CLICKHOUSE, "`a\\`'`", "'a`\\''"),
    ],
)
def test_dispatch_by_engine(engine: Engine, ident: str, literal: str) -> None:
    assert quote_ident(engine, "a`'", "f") == ident
    assert quote_literal(engine, "a`'", "f") == literal


def test_families() -> None:
    assert family_of(Engine.COCKROACHDB) is Family.POSTGRESQL
    assert family_of(Engine.MARIADB) is Family.MYSQL
    assert family_of(Engine.CLICKHOUSE) is Family.CLICKHOUSE


# --------------------------------------------------------------------------------------------------------------------
# Rejections


@pytest.mark.parametrize(
    "quote",
    [pg_ident, pg_literal, mysql_ident, mysql_literal, ch_ident, ch_literal, check_text],
)
def test_nul_is_rejected_with_field_and_without_value(quote: object) -> None:
    with pytest.raises(InvalidSpec) as info:
        quote("sec\x00ret", "spec.postgres.configParameters.x")  # type: ignore[operator]
    assert info.value.field == "spec.postgres.configParameters.x"
    assert "NUL" in str(info.value)
    assert "sec" not in str(info.value)


def test_lone_surrogate_is_rejected() -> None:
    with pytest.raises(InvalidSpec, match="not valid Unicode"):
        pg_literal("a\ud800", "password")


@pytest.mark.parametrize("quote", [pg_ident, mysql_ident, ch_ident])
def test_empty_identifier_is_rejected(quote: object) -> None:
    with pytest.raises(InvalidSpec, match="must not be empty"):
        quote("", "spec.name")  # type: ignore[operator]


def test_pg_identifier_limit_is_63_bytes() -> None:
    assert pg_ident("a" * 63, "spec.name") == '"' + "a" * 63 + '"'
    with pytest.raises(InvalidSpec) as info:
        pg_ident("a" * 64, "spec.name")
    assert info.value.field == "spec.name"
    # 32 two-byte characters are 64 bytes although only 32 characters
    with pytest.raises(InvalidSpec, match="63 bytes"):
        pg_ident("é" * 32, "spec.name")
    assert pg_ident("é" * 31 + "a", "spec.name")


def test_mysql_identifier_rules() -> None:
    with pytest.raises(InvalidSpec, match="Basic Multilingual Plane"):
        mysql_ident("a😀", "spec.name")
    with pytest.raises(InvalidSpec, match="end with a space"):
        mysql_ident("name ", "spec.name")
    assert mysql_ident("x" * 64, "spec.name", kind=NameKind.DATABASE)
    with pytest.raises(InvalidSpec, match="64 characters"):
        mysql_ident("x" * 65, "spec.name", kind=NameKind.DATABASE)


def test_mysql_account_length_per_engine() -> None:
    assert mysql_account("u" * 32, "%", "spec.username", engine=Engine.MYSQL)
    with pytest.raises(InvalidSpec, match="32 characters") as info:
        mysql_account("u" * 33, "%", "spec.username", engine=Engine.MYSQL)
    assert info.value.field == "spec.username"
    assert mysql_account("u" * 80, "%", "spec.username", engine=Engine.MARIADB)
    with pytest.raises(InvalidSpec, match="80 characters"):
        mysql_account("u" * 81, "%", "spec.username", engine=Engine.MARIADB)
    with pytest.raises(InvalidSpec, match="255 characters"):
        mysql_account("u", "h" * 256, "spec.username")


@pytest.mark.parametrize(
    ("engine", "kind", "maximum", "in_bytes"),
    [
        (Engine.POSTGRES, NameKind.DATABASE, 63, True),
        (Engine.POSTGRES, NameKind.ACCOUNT, 63, True),
        (Engine.COCKROACHDB, NameKind.OBJECT, 63, True),
        (Engine.MYSQL, NameKind.DATABASE, 64, False),
        (Engine.MYSQL, NameKind.ACCOUNT, 32, False),
        (Engine.MYSQL, NameKind.HOST, 255, False),
        (Engine.MYSQL, NameKind.OBJECT, 64, False),
        (Engine.MARIADB, NameKind.ACCOUNT, 80, False),
        (Engine.MARIADB, NameKind.DATABASE, 64, False),
    ],
)
def test_name_limits(engine: Engine, kind: NameKind, maximum: int, in_bytes: bool) -> None:
    limit = name_limit(engine, kind)
    assert limit is not None
    assert (limit.maximum, limit.in_bytes) == (maximum, in_bytes)
    check_name_length(engine, kind, "a" * maximum, "f")
    with pytest.raises(InvalidSpec):
        check_name_length(engine, kind, "a" * (maximum + 1), "f")


def test_clickhouse_has_no_name_limit() -> None:
    assert name_limit(Engine.CLICKHOUSE, NameKind.ACCOUNT) is None
    assert check_name_length(Engine.CLICKHOUSE, NameKind.ACCOUNT, "a" * 500, "f") == "a" * 500
    assert truncate_name(Engine.CLICKHOUSE, NameKind.ACCOUNT, "a" * 500) == "a" * 500


def test_truncate_generated_names() -> None:
    assert truncate_name(Engine.MYSQL, NameKind.ACCOUNT, "u" * 40) == "u" * 32
    assert truncate_name(Engine.MARIADB, NameKind.ACCOUNT, "u" * 90) == "u" * 80
    assert truncate_name(Engine.POSTGRES, NameKind.ACCOUNT, "a" * 70) == "a" * 63
    # a byte limit never splits a character
    cut = truncate_name(Engine.POSTGRES, NameKind.ACCOUNT, "a" + "é" * 40)
    assert cut == "a" + "é" * 31
    assert len(cut.encode()) == 63
    assert truncate_name(Engine.POSTGRES, NameKind.ACCOUNT, "short") == "short"


@pytest.mark.parametrize("name", ["search_path", "work_mem", "_x", "my_ext.setting", "A.b.c", "max_threads"])
def test_setting_names_accepted(name: str) -> None:
    assert check_setting_name(name, "f") == name


@pytest.mark.parametrize("name", ["", "1abc", "a-b", "a b", "a;b", '"a"', ".a", "search_path\n", "é"])
def test_setting_names_rejected(name: str) -> None:
    with pytest.raises(InvalidSpec, match="setting name") as info:
        check_setting_name(name, "spec.postgres.configParameters")
    assert info.value.field == "spec.postgres.configParameters"


# --------------------------------------------------------------------------------------------------------------------
# Properties: no input escapes its quotes


def _roundtrip(lexed: tuple[str, int], quoted: str) -> str:
    value, end = lexed
    assert end == len(quoted), "the quoted token ended before the end of the output"
    return value


@given(TEXT)
@example("'")
@example("''")
@example("\\")
@example("\\'")
def test_pg_literal_roundtrip(value: str) -> None:
    quoted = pg_literal(value, "f")
    assert _roundtrip(doubled_quote_token(quoted, "'"), quoted) == value


@given(NAME)
@example('"')
@example('""')
def test_pg_ident_roundtrip(value: str) -> None:
    if len(value.encode()) > 63:
        with pytest.raises(InvalidSpec):
            pg_ident(value, "f")
        return
    quoted = pg_ident(value, "f")
    assert _roundtrip(doubled_quote_token(quoted, '"'), quoted) == value


@given(TEXT)
@example("\\")
@example("\\'")
@example("'\\")
@example("\\%\\_")
def test_mysql_literal_roundtrip(value: str) -> None:
    quoted = mysql_literal(value, "f")
    assert _roundtrip(mysql_literal_token(quoted), quoted) == value


@given(NAME)
@example("`")
def test_mysql_ident_roundtrip(value: str) -> None:
    valid = all(ord(c) <= 0xFFFF for c in value) and not value.endswith(" ") and len(value) <= 64
    if not valid:
        with pytest.raises(InvalidSpec):
            mysql_ident(value, "f")
        return
    quoted = mysql_ident(value, "f")
    assert _roundtrip(doubled_quote_token(quoted, "`"), quoted) == value


@given(TEXT, TEXT)
def test_mysql_account_roundtrip(user: str, host: str) -> None:
    if user == "" or len(user) > 32 or len(host) > 255 or user.endswith(" "):  # trailing spaces: refused below
        return
    quoted = mysql_account(user, host, "f")
    u, end = mysql_literal_token(quoted)
    assert quoted[end] == "@"
    h, end2 = mysql_literal_token(quoted[end + 1 :])
    assert end + 1 + end2 == len(quoted)
    assert (u, h) == (user, host)


@given(TEXT)
@example("\\")
@example("'")
def test_clickhouse_literal_roundtrip(value: str) -> None:
    quoted = ch_literal(value, "f")
    assert _roundtrip(clickhouse_token(quoted, "'"), quoted) == value


@given(NAME)
@example("`")
@example("\\`")
def test_clickhouse_ident_roundtrip(value: str) -> None:
    quoted = ch_ident(value, "f")
    assert _roundtrip(clickhouse_token(quoted, "`"), quoted) == value


@given(TEXT)
def test_no_quoted_form_contains_nul(value: str) -> None:
    for quote in (pg_literal, mysql_literal, ch_literal):
        assert "\x00" not in quote(value, "f")


def test_mysql_account_names_with_trailing_spaces_are_refused() -> None:
    """MariaDB stores `'app '` as account `app` (found by tests/integration/engines/test_hostile_fuzz.py)."""
    from dbops.engines.sql.quoting import mysql_account

    with pytest.raises(InvalidSpec, match="trailing spaces"):
        mysql_account("app ", "%", "spec.username")
    assert mysql_account(" app", "%", "spec.username") == "' app'@'%'"
