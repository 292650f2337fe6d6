"""A reference tokenizer for whole MySQL statements, for tests that check nothing escapes its quotes.

It reads a statement the way the server's lexer splits it (without ``NO_BACKSLASH_ESCAPES``, without ``ANSI_QUOTES``):
backtick identifiers with doubled backticks, string literals with backslash escapes and doubled quotes (both via
:mod:`tests.unit.sql.lexers`), bare words, numbers and single punctuation characters. A statement built from
hostile input is safe when its bare words are all expected keywords and its quoted tokens read back as the inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.unit.sql.lexers import doubled_quote_token, mysql_literal_token


@dataclass(frozen=True)
class Token:
    kind: str  # "ident", "literal", "word", "punct"
    value: str


def tokenize(statement: str) -> list[Token]:
    out: list[Token] = []
    i = 0
    while i < len(statement):
        ch = statement[i]
        if ch.isspace():
            i += 1
        elif ch == "`":
            value, end = doubled_quote_token(statement[i:], "`")
            out.append(Token("ident", value))
            i += end
        elif ch == "'":
            value, end = mysql_literal_token(statement[i:])
            out.append(Token("literal", value))
            i += end
        elif ch.isalnum() or ch in "_$":
            j = i
            while j < len(statement) and (statement[j].isalnum() or statement[j] in "_$"):
                j += 1
            out.append(Token("word", statement[i:j]))
            i = j
        else:
            out.append(Token("punct", ch))
            i += 1
    return out


def quoted(statement: str) -> list[str]:
    """The values of the identifiers and literals, in order."""
    return [t.value for t in tokenize(statement) if t.kind in ("ident", "literal")]


def bare(statement: str) -> list[str]:
    """The words and punctuation outside quotes, in order."""
    return [t.value for t in tokenize(statement) if t.kind in ("word", "punct")]
