"""initSQL text handling shared by every engine (api.md 5.13, behaviour.md 12): splitting, hashing, redaction help,
and the optional adapter capability that runs the statements.

A ConfigMap or Secret key holds statements separated by lines of ``---``. A plain ``text.split("---")`` would also
cut inside a dollar-quoted function body, a string literal or a block comment that happens to contain such a line
(or the characters ``---`` anywhere), so the splitter lexes the text: only a line that consists of ``---`` (spaces
around it allowed) and starts outside every quoted string, quoted identifier, dollar-quoted body and comment
separates two statements. Each piece is trimmed and empty pieces are dropped. A piece is one statement for counting
(``statementsExecuted``) and is sent to the server as written, in one call.

Running initSQL is a capability, not part of `EngineAdapter`: an adapter that implements `InitSQLRunner` can run
it; the controller reports ``spec.initSQL`` as unsupported on the others instead of failing the Database.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from dbops.api.database import DatabaseSpec

__all__ = [
    "CLICKHOUSE",
    "MYSQL",
    "POSTGRES",
    "SEPARATOR",
    "InitSQLRun",
    "InitSQLRunner",
    "SplitDialect",
    "dialect_for",
    "literal_contents",
    "split_statements",
    "statements_hash",
]

SEPARATOR = "---"
"""A line holding only this separates two statements of a ConfigMap or Secret source."""

_HASH_JOINER = "\n---\n"


@dataclass(frozen=True)
class SplitDialect:
    """The lexical rules that decide where quoted text and comments start and end."""

    dollar_quotes: bool = False
    """PostgreSQL/CockroachDB ``$tag$ … $tag$`` bodies."""
    escape_strings: bool = False
    """PostgreSQL ``E'…'`` literals, in which a backslash escapes the next character."""
    backslash_escapes: bool = False
    """MySQL/ClickHouse: a backslash escapes the next character in every quoted string."""
    backticks: bool = False
    """Backtick-quoted identifiers."""
    hash_comments: bool = False
    """``#`` starts a line comment (MySQL, ClickHouse)."""
    dash_comment_needs_space: bool = False
    """MySQL: ``--`` starts a comment only when followed by whitespace (``---`` is still a separator line)."""
    nested_block_comments: bool = False
    """PostgreSQL: ``/* /* */ */`` nests."""


POSTGRES = SplitDialect(dollar_quotes=True, escape_strings=True, nested_block_comments=True)
MYSQL = SplitDialect(backslash_escapes=True, backticks=True, hash_comments=True, dash_comment_needs_space=True)
CLICKHOUSE = SplitDialect(backslash_escapes=True, backticks=True, hash_comments=True)


def dialect_for(engine: str) -> SplitDialect:
    """The lexical rules of an engine name (``postgres``, ``cockroachdb``, ``mysql``, ``mariadb``, ``clickhouse``)."""
    if engine in ("mysql", "mariadb"):
        return MYSQL
    if engine == "clickhouse":
        return CLICKHOUSE
    return POSTGRES


_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$")
_IDENT_CHAR = re.compile(r"[A-Za-z0-9_$\u0080-\uffff]")


@dataclass(frozen=True)
class _Span:
    """A region that is not code: ``[start, end)`` of the whole token, ``[inner_start, inner_end)`` of its text."""

    kind: str  # "literal", "identifier", "comment"
    start: int
    end: int
    inner_start: int
    inner_end: int


def _quoted_end(text: str, start: int, quote: str, backslash: bool) -> int:
    """Index just past the quote closing the token opened at ``start`` (doubling the quote escapes it); the end of
    the text when it is never closed."""
    i, n = start + 1, len(text)
    while i < n:
        ch = text[i]
        if backslash and ch == "\\":
            i += 2
            continue
        if ch == quote:
            if i + 1 < n and text[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return n


def _block_comment_end(text: str, start: int, nested: bool) -> int:
    depth, i, n = 1, start + 2, len(text)
    while i < n:
        if nested and text.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif text.startswith("*/", i):
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        else:
            i += 1
    return n


def _spans(text: str, dialect: SplitDialect) -> Iterator[_Span]:
    """The literals, quoted identifiers and comments of ``text``, in order."""
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "-" and text.startswith("--", i):
            after = text[i + 2 : i + 3]
            if not dialect.dash_comment_needs_space or after in ("", "-") or after.isspace():
                end = text.find("\n", i)
                end = n if end < 0 else end
                yield _Span("comment", i, end, i, end)
                i = end
                continue
        if ch == "#" and dialect.hash_comments:
            end = text.find("\n", i)
            end = n if end < 0 else end
            yield _Span("comment", i, end, i, end)
            i = end
            continue
        if ch == "/" and text.startswith("/*", i):
            end = _block_comment_end(text, i, dialect.nested_block_comments)
            yield _Span("comment", i, end, i, end)
            i = end
            continue
        if ch == "'":
            escaped = dialect.backslash_escapes or (
                dialect.escape_strings
                and i > 0
                and text[i - 1] in "eE"
                and (i == 1 or not _IDENT_CHAR.match(text[i - 2]))
            )
            end = _quoted_end(text, i, "'", escaped)
            yield _Span("literal", i, end, i + 1, max(i + 1, end - 1))
            i = end
            continue
        if ch == '"' or (ch == "`" and dialect.backticks):
            end = _quoted_end(text, i, ch, dialect.backslash_escapes)
            kind = "literal" if ch == '"' and dialect.backslash_escapes else "identifier"
            yield _Span(kind, i, end, i + 1, max(i + 1, end - 1))
            i = end
            continue
        if ch == "$" and dialect.dollar_quotes and (i == 0 or not _IDENT_CHAR.match(text[i - 1])):
            tag = _DOLLAR_TAG.match(text, i)
            if tag is not None:
                close = text.find(tag.group(0), tag.end())
                end = n if close < 0 else close + len(tag.group(0))
                inner_end = n if close < 0 else close
                yield _Span("literal", i, end, tag.end(), inner_end)
                i = end
                continue
        i += 1


def split_statements(text: str, dialect: SplitDialect = POSTGRES) -> list[str]:
    """The statements of a ConfigMap/Secret source: split on ``---`` lines outside quotes and comments, each piece
    trimmed, empty pieces dropped (api.md 5.13)."""
    spans = list(_spans(text, dialect))
    pieces: list[str] = []
    start = offset = 0
    k = 0
    for line in text.splitlines(keepends=True):
        line_start, offset = offset, offset + len(line)
        while k < len(spans) and spans[k].end <= line_start:
            k += 1
        inside = k < len(spans) and spans[k].start < line_start < spans[k].end
        if line.strip() == SEPARATOR and not inside:
            pieces.append(text[start:line_start])
            start = offset
    pieces.append(text[start:])
    return [p.strip() for p in pieces if p.strip()]


def literal_contents(statement: str, dialect: SplitDialect = POSTGRES) -> list[str]:
    """The text inside every string literal and dollar-quoted body of ``statement``, longest first.

    Used to redact a server message about a statement from a Secret source: whatever it quoted from those literals
    (a password in CREATE ROLE, a token in an INSERT) is replaced before the message reaches status or an event.
    """
    found = {
        statement[s.inner_start : s.inner_end]
        for s in _spans(statement, dialect)
        if s.kind == "literal" and s.inner_end > s.inner_start
    }
    return sorted(found, key=len, reverse=True)


def statements_hash(statements: Sequence[str]) -> str:
    """SHA-256 (hex) of the statements joined by ``\\n---\\n`` (behaviour.md 12)."""
    return hashlib.sha256(_HASH_JOINER.join(statements).encode()).hexdigest()


@dataclass(frozen=True)
class InitSQLRun:
    """What one run did: ``executed`` statements succeeded; when ``failed_at`` (1-based) is set, that statement failed
    with the redacted server message ``error`` and nothing after it ran."""

    executed: int
    failed_at: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.failed_at is None


@runtime_checkable
class InitSQLRunner(Protocol):
    """An adapter able to run initSQL (behaviour.md 12 "Execution")."""

    async def run_init_sql(
        self, spec: DatabaseSpec, statements: Sequence[str], *, role: str | None, sensitive: bool
    ) -> InitSQLRun:
        """Run ``statements`` in order, one at a time in autocommit mode, on one session to the database
        ``spec.name`` (with whatever session settings the spec's engine block asks for, e.g. MySQL ``sqlMode``);
        under the identity ``role`` when given (switched by its own statement before the first, reset after the
        last).

        A failing statement ends the run and is reported in the result, not raised. ``sensitive`` (Secret source):
        the literals of the failing statement are redacted from its message too. Raises ``EngineError`` /
        ``ConnectionFailure`` when the session cannot be opened, the identity cannot be switched, or the connection
        is lost: those are transient failures of the reconcile, not of the SQL.
        """
        ...
