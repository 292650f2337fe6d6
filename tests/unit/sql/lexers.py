"""Reference lexers for quoted tokens, written from the servers' documented lexing rules (not from the quoting code).

Each reads one quoted token at the start of ``text`` the way the server's lexer would and returns the value and the
index just past the token. A quoting function is safe when, for every input, the token ends exactly at the end of
its output (nothing can follow inside the same statement) and reads back as the input.
"""

from __future__ import annotations


class Unterminated(ValueError):
    pass


def doubled_quote_token(text: str, quote: str) -> tuple[str, int]:
    """PostgreSQL identifiers and literals (standard_conforming_strings on), MySQL identifiers: quote doubled."""
    assert text[0] == quote
    out: list[str] = []
    i = 1
    while i < len(text):
        ch = text[i]
        if ch == quote:
            if i + 1 < len(text) and text[i + 1] == quote:
                out.append(quote)
                i += 2
                continue
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise Unterminated(text)


_MYSQL_ESCAPES = {"0": "\x00", "'": "'", '"': '"', "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a", "\\": "\\"}


def mysql_literal_token(text: str) -> tuple[str, int]:
    """A MySQL string literal without NO_BACKSLASH_ESCAPES: backslash escapes and doubled quotes."""
    assert text[0] == "'"
    out: list[str] = []
    i = 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            if i + 1 >= len(text):
                raise Unterminated(text)
            nxt = text[i + 1]
            # \% and \_ keep their backslash (they are LIKE escapes); any other escaped character stands for itself.
            out.append("\\" + nxt if nxt in "%_" else _MYSQL_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        if ch == "'":
            if i + 1 < len(text) and text[i + 1] == "'":
                out.append("'")
                i += 2
                continue
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise Unterminated(text)


_CH_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "0": "\x00", "a": "\a", "v": "\v"}


def clickhouse_token(text: str, quote: str) -> tuple[str, int]:
    """ClickHouse quoted identifiers and literals: backslash escapes, or the quote doubled."""
    assert text[0] == quote
    out: list[str] = []
    i = 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            if i + 1 >= len(text):
                raise Unterminated(text)
            nxt = text[i + 1]
            out.append(_CH_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        if ch == quote:
            if i + 1 < len(text) and text[i + 1] == quote:
                out.append(quote)
                i += 2
                continue
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise Unterminated(text)
