"""The initSQL statement splitter and hash (dbops.engines.initsql): `---` lines split, except inside quoted text and
comments; pieces are trimmed and empty ones dropped (api.md 5.13)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dbops.engines.initsql import (
    CLICKHOUSE,
    MYSQL,
    POSTGRES,
    SplitDialect,
    dialect_for,
    literal_contents,
    split_statements,
    statements_hash,
)


def test_splits_on_separator_lines_trims_and_drops_empty_pieces() -> None:
    text = "CREATE TABLE a (id int);\n---\n  INSERT INTO a VALUES (1);  \n---\n\n---\n   \n---\nSELECT 1\n"
    assert split_statements(text) == ["CREATE TABLE a (id int);", "INSERT INTO a VALUES (1);", "SELECT 1"]


def test_separator_lines_may_carry_surrounding_whitespace_and_crlf() -> None:
    assert split_statements("SELECT 1\r\n  ---  \r\nSELECT 2\r\n") == ["SELECT 1", "SELECT 2"]


def test_a_text_without_separator_is_one_statement() -> None:
    text = "CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);"
    assert split_statements(text) == [text]


def test_empty_text_has_no_statements() -> None:
    assert split_statements("") == []
    assert split_statements("\n---\n   \n") == []


def test_dashes_that_are_not_a_whole_line_do_not_split() -> None:
    text = "SELECT 1 --- a comment\n----\nSELECT '---'"
    assert split_statements(text) == [text]


def test_separator_inside_a_dollar_quoted_body_does_not_split() -> None:
    body = "CREATE FUNCTION f() RETURNS int AS $fn$\nBEGIN\n---\n  RETURN 1;\nEND\n$fn$ LANGUAGE plpgsql"
    assert split_statements(body + "\n---\nSELECT f()") == [body, "SELECT f()"]


def test_anonymous_dollar_quotes_and_nested_other_tags() -> None:
    body = "DO $$\nBEGIN\n  PERFORM $x$\n---\n$x$;\nEND\n$$"
    assert split_statements(body + "\n---\nSELECT 2") == [body, "SELECT 2"]


def test_dollar_in_identifiers_and_parameters_is_not_a_quote() -> None:
    text = "SELECT a$b$c FROM t\n---\nSELECT $1"
    assert split_statements(text) == ["SELECT a$b$c FROM t", "SELECT $1"]


def test_separator_inside_string_literals_does_not_split() -> None:
    literal = "INSERT INTO notes VALUES ('first\n---\nsecond', 'it''s')"
    assert split_statements(literal + "\n---\nSELECT 1") == [literal, "SELECT 1"]


def test_escape_strings_keep_backslash_quotes_inside() -> None:
    literal = "SELECT E'a\\'\n---\nb'"
    assert split_statements(literal + "\n---\nSELECT 1") == [literal, "SELECT 1"]
    # Without E, standard-conforming strings: the backslash is ordinary, the literal ends at the second quote.
    assert split_statements("SELECT 'a\\'\n---\nSELECT 'b'") == ["SELECT 'a\\'", "SELECT 'b'"]


def test_separator_inside_quoted_identifiers_and_block_comments_does_not_split() -> None:
    ident = 'CREATE TABLE "odd\n---\nname" (id int)'
    comment = "/* outer /* nested\n---\n */ still comment\n---\n*/ SELECT 1"
    assert split_statements(ident + "\n---\n" + comment) == [ident, comment]


def test_line_comment_ends_at_the_newline() -> None:
    assert split_statements("SELECT 1 -- note 'unclosed\n---\nSELECT 2") == ["SELECT 1 -- note 'unclosed", "SELECT 2"]


def test_unterminated_quote_keeps_the_rest_together() -> None:
    text = "SELECT 'oops\n---\nSELECT 2"
    assert split_statements(text) == [text]


def test_mysql_rules() -> None:
    literal = "INSERT INTO t VALUES ('a\\'\n---\nb', \"c\n---\nd\")"
    assert split_statements(literal + "\n---\nSELECT 1", MYSQL) == [literal, "SELECT 1"]
    backtick = "CREATE TABLE `x\n---\ny` (id int)"
    assert split_statements(backtick + "\n---\nSELECT 1", MYSQL) == [backtick, "SELECT 1"]
    hashed = "SELECT 1 # it's a comment\n---\nSELECT 2"
    assert split_statements(hashed, MYSQL) == ["SELECT 1 # it's a comment", "SELECT 2"]
    # `$$` means nothing to MySQL, so a separator after it still splits.
    assert split_statements("SELECT '$$'\n---\nSELECT 2", MYSQL) == ["SELECT '$$'", "SELECT 2"]


def test_dialect_for_engine_names() -> None:
    assert dialect_for("postgres") is POSTGRES
    assert dialect_for("cockroachdb") is POSTGRES
    assert dialect_for("mysql") is MYSQL
    assert dialect_for("mariadb") is MYSQL
    assert dialect_for("clickhouse") is CLICKHOUSE


def test_hash_is_sha256_of_statements_joined_by_separator_lines() -> None:
    expected = hashlib.sha256(b"SELECT 1\n---\nSELECT 2").hexdigest()
    assert statements_hash(["SELECT 1", "SELECT 2"]) == expected
    assert statements_hash(["SELECT 1", "SELECT 2"]) != statements_hash(["SELECT 1;", "SELECT 2"])
    assert statements_hash([]) == hashlib.sha256(b"").hexdigest()


def test_split_then_hash_equals_inline_hash_of_the_same_statements() -> None:
    text = "CREATE TABLE t (id int)\n---\nINSERT INTO t VALUES (1)\n"
    assert statements_hash(split_statements(text)) == statements_hash(
        ["CREATE TABLE t (id int)", "INSERT INTO t VALUES (1)"]
    )


def test_literal_contents_for_redaction() -> None:
    statement = "CREATE ROLE x PASSWORD 's3cr''et'; SELECT $b$body text$b$, E'e\\'sc', \"ident\""
    found = literal_contents(statement)
    assert "s3cr''et" in found and "body text" in found and "e\\'sc" in found
    assert "ident" not in found  # identifiers are not literals
    assert found == sorted(found, key=len, reverse=True)


@pytest.mark.parametrize("dialect", [POSTGRES, MYSQL, CLICKHOUSE])
@given(pieces=st.lists(st.text(alphabet="abc ;()\n\t", max_size=30), max_size=6))
def test_plain_pieces_come_back_trimmed(dialect: SplitDialect, pieces: list[str]) -> None:
    """Without quotes or comments, every separator line splits and nothing else changes."""
    assert split_statements("\n---\n".join(pieces), dialect) == [p.strip() for p in pieces if p.strip()]


@pytest.mark.parametrize("dialect", [POSTGRES, MYSQL, CLICKHOUSE])
@given(text=st.text(alphabet="ab ;'\"`$-/*#\n\\E", max_size=60))
def test_splitting_is_stable(dialect: SplitDialect, text: str) -> None:
    """Re-joining the pieces with separator lines and splitting again gives the same pieces, and no piece is empty
    or carries outer whitespace: the splitter only ever cuts at top-level separator lines."""
    out = split_statements(text, dialect)
    assert all(piece and piece == piece.strip() for piece in out)
    assert split_statements("\n---\n".join(out), dialect) == out
