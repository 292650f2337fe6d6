"""Tokenizer for Go template syntax, a port of ``text/template/parse/lex.go`` with the default ``{{ }}`` delimiters.

Ported state by state so that trim markers, comments, numbers and quoting behave exactly as in Go; in particular a
``-`` only trims when it is followed (``{{- ``) or preceded (`` -}}``) by white space, so ``{{-3}}`` is the number -3.
Tokens are produced lazily, like Go's lexer, so that a parse error earlier in the text is reported before a lexical
error later in it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, auto

__all__ = ["Lexer", "Token", "TokenType"]

LEFT_DELIM = "{{"
RIGHT_DELIM = "}}"
LEFT_COMMENT = "/*"
RIGHT_COMMENT = "*/"
TRIM_MARKER = "-"
TRIM_MARKER_LEN = 2  # marker plus the space before or after it
SPACE_CHARS = " \t\r\n"
EOF = ""


class TokenType(Enum):
    ERROR = auto()
    BOOL = auto()
    CHAR = auto()  # a printable ASCII character not otherwise handled (only ',' is meaningful)
    CHAR_CONSTANT = auto()
    COMPLEX = auto()
    ASSIGN = auto()  # =
    DECLARE = auto()  # :=
    EOF = auto()
    FIELD = auto()  # .Name
    IDENTIFIER = auto()
    LEFT_DELIM = auto()
    LEFT_PAREN = auto()
    NUMBER = auto()
    PIPE = auto()
    RAW_STRING = auto()
    RIGHT_DELIM = auto()
    RIGHT_PAREN = auto()
    SPACE = auto()
    STRING = auto()
    TEXT = auto()
    VARIABLE = auto()  # $ or $name
    # keywords
    BLOCK = auto()
    BREAK = auto()
    CONTINUE = auto()
    DOT = auto()
    DEFINE = auto()
    ELSE = auto()
    END = auto()
    IF = auto()
    NIL = auto()
    RANGE = auto()
    TEMPLATE = auto()
    WITH = auto()


KEYWORDS = {
    ".": TokenType.DOT,
    "block": TokenType.BLOCK,
    "break": TokenType.BREAK,
    "continue": TokenType.CONTINUE,
    "define": TokenType.DEFINE,
    "else": TokenType.ELSE,
    "end": TokenType.END,
    "if": TokenType.IF,
    "range": TokenType.RANGE,
    "nil": TokenType.NIL,
    "template": TokenType.TEMPLATE,
    "with": TokenType.WITH,
}


@dataclass(frozen=True)
class Token:
    typ: TokenType
    pos: int  # character offset in the source
    val: str

    def __str__(self) -> str:
        if self.typ is TokenType.EOF:
            return "EOF"
        if self.typ is TokenType.ERROR:
            return self.val
        if self.typ in _KEYWORD_TYPES:
            return f"<{self.val}>"
        if len(self.val) > 10:
            return f"{self.val[:10]!r}..."
        return repr(self.val)


_KEYWORD_TYPES = frozenset(KEYWORDS.values()) - {TokenType.DOT}


def is_space(ch: str) -> bool:
    return ch != EOF and ch in SPACE_CHARS


def is_alphanumeric(ch: str) -> bool:
    """Go's ``r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)``."""
    return ch == "_" or (ch != EOF and (ch.isalpha() or unicodedata.category(ch) == "Nd"))


def has_left_trim_marker(s: str, i: int) -> bool:
    return len(s) - i >= 2 and s[i] == TRIM_MARKER and is_space(s[i + 1])


def has_right_trim_marker(s: str, i: int) -> bool:
    return len(s) - i >= 2 and is_space(s[i]) and s[i + 1] == TRIM_MARKER


def go_unicode_repr(ch: str) -> str:
    """Go's ``%#U``: ``U+00E9 'é'``."""
    cp = ord(ch)
    text = f"U+{cp:04X}"
    if ch.isprintable():
        text += f" '{ch}'"
    return text


State = Callable[[], "State | None"]


class Lexer:
    """Produces :class:`Token` values on demand from template source text."""

    def __init__(self, source: str) -> None:
        self.input = source
        self.start = 0
        self.pos = 0
        self.paren_depth = 0
        self.inside_action = False
        self._pending: list[Token] = []
        self._state: State | None = self._lex_text
        self._done = False

    # -- driver ------------------------------------------------------------------------------------------------------

    def next_token(self) -> Token:
        while not self._pending:
            if self._state is None:
                return Token(TokenType.EOF, self.pos, "")
            self._state = self._state()
        return self._pending.pop(0)

    # -- primitives --------------------------------------------------------------------------------------------------

    def _next(self) -> str:
        if self.pos >= len(self.input):
            self.pos = len(self.input) + 1  # so that backup() of EOF is a no-op in effect
            return EOF
        ch = self.input[self.pos]
        self.pos += 1
        return ch

    def _peek(self) -> str:
        return self.input[self.pos] if self.pos < len(self.input) else EOF

    def _backup(self) -> None:
        self.pos -= 1

    def _emit(self, typ: TokenType) -> None:
        self._pending.append(Token(typ, self.start, self.input[self.start : self.pos]))
        self.start = self.pos

    def _ignore(self) -> None:
        self.start = self.pos

    def _accept(self, valid: str) -> bool:
        if (ch := self._next()) != EOF and ch in valid:
            return True
        self._backup()
        return False

    def _accept_run(self, valid: str) -> None:
        while (ch := self._next()) != EOF and ch in valid:
            pass
        self._backup()

    def _error(self, message: str) -> None:
        self._pending.append(Token(TokenType.ERROR, self.start, message))
        self.start = len(self.input)
        self.pos = len(self.input)

    def _at_right_delim(self) -> tuple[bool, bool]:
        if has_right_trim_marker(self.input, self.pos) and self.input.startswith(
            RIGHT_DELIM, self.pos + TRIM_MARKER_LEN
        ):
            return True, True
        if self.input.startswith(RIGHT_DELIM, self.pos):
            return True, False
        return False, False

    def _at_terminator(self) -> bool:
        ch = self._peek()
        if is_space(ch):
            return True
        if ch in (EOF, ".", ",", "|", ":", ")", "("):
            return True
        return self.input.startswith(RIGHT_DELIM, self.pos)

    # -- states ------------------------------------------------------------------------------------------------------

    def _lex_text(self) -> State | None:
        x = self.input.find(LEFT_DELIM, self.pos)
        if x >= 0:
            if x > self.pos:
                self.pos = x
                trim_length = 0
                delim_end = self.pos + len(LEFT_DELIM)
                if has_left_trim_marker(self.input, delim_end):
                    text = self.input[self.start : self.pos]
                    trim_length = len(text) - len(text.rstrip(SPACE_CHARS))
                self.pos -= trim_length
                if self.pos > self.start:
                    self._emit(TokenType.TEXT)
                self.pos += trim_length
                self._ignore()
            return self._lex_left_delim
        self.pos = len(self.input)
        if self.pos > self.start:
            self._emit(TokenType.TEXT)
        self._emit(TokenType.EOF)
        return None

    def _lex_left_delim(self) -> State | None:
        self.pos += len(LEFT_DELIM)
        trim_space = has_left_trim_marker(self.input, self.pos)
        after_marker = TRIM_MARKER_LEN if trim_space else 0
        if self.input.startswith(LEFT_COMMENT, self.pos + after_marker):
            self.pos += after_marker
            self._ignore()
            return self._lex_comment
        self._pending.append(Token(TokenType.LEFT_DELIM, self.start, LEFT_DELIM))
        self.inside_action = True
        self.pos += after_marker
        self._ignore()
        self.paren_depth = 0
        return self._lex_inside_action

    def _lex_comment(self) -> State | None:
        self.pos += len(LEFT_COMMENT)
        x = self.input.find(RIGHT_COMMENT, self.pos)
        if x < 0:
            self._error("unclosed comment")
            return None
        self.pos = x + len(RIGHT_COMMENT)
        delim, trim_space = self._at_right_delim()
        if not delim:
            self._error("comment ends before closing delimiter")
            return None
        if trim_space:
            self.pos += TRIM_MARKER_LEN
        self.pos += len(RIGHT_DELIM)
        if trim_space:
            rest = self.input[self.pos :]
            self.pos += len(rest) - len(rest.lstrip(SPACE_CHARS))
        self._ignore()
        return self._lex_text

    def _lex_right_delim(self) -> State | None:
        _, trim_space = self._at_right_delim()
        if trim_space:
            self.pos += TRIM_MARKER_LEN
            self._ignore()
        self.pos += len(RIGHT_DELIM)
        self._emit(TokenType.RIGHT_DELIM)
        if trim_space:
            rest = self.input[self.pos :]
            self.pos += len(rest) - len(rest.lstrip(SPACE_CHARS))
            self._ignore()
        self.inside_action = False
        return self._lex_text

    def _lex_inside_action(self) -> State | None:
        delim, _ = self._at_right_delim()
        if delim:
            if self.paren_depth == 0:
                return self._lex_right_delim
            self._error("unclosed left paren")
            return None
        ch = self._next()
        if ch == EOF:
            self._error("unclosed action")
            return None
        if is_space(ch):
            self._backup()
            return self._lex_space
        if ch == "=":
            self._emit(TokenType.ASSIGN)
            return self._lex_inside_action
        if ch == ":":
            if self._next() != "=":
                self._error("expected :=")
                return None
            self._emit(TokenType.DECLARE)
            return self._lex_inside_action
        if ch == "|":
            self._emit(TokenType.PIPE)
            return self._lex_inside_action
        if ch == '"':
            return self._lex_quote
        if ch == "`":
            return self._lex_raw_quote
        if ch == "$":
            return self._lex_variable
        if ch == "'":
            return self._lex_char
        if ch == ".":
            nxt = self._peek()
            if nxt == EOF or not ("0" <= nxt <= "9"):
                return self._lex_field
            self._backup()
            return self._lex_number
        if ch in "+-" or "0" <= ch <= "9":
            self._backup()
            return self._lex_number
        if is_alphanumeric(ch):
            self._backup()
            return self._lex_identifier
        if ch == "(":
            self.paren_depth += 1
            self._emit(TokenType.LEFT_PAREN)
            return self._lex_inside_action
        if ch == ")":
            self.paren_depth -= 1
            if self.paren_depth < 0:
                self._error("unexpected right paren")
                return None
            self._emit(TokenType.RIGHT_PAREN)
            return self._lex_inside_action
        if " " <= ch <= "~":
            self._emit(TokenType.CHAR)
            return self._lex_inside_action
        self._error(f"unrecognized character in action: {go_unicode_repr(ch)}")
        return None

    def _lex_space(self) -> State | None:
        num_spaces = 0
        while is_space(self._peek()):
            self._next()
            num_spaces += 1
        if has_right_trim_marker(self.input, self.pos - 1) and self.input.startswith(
            RIGHT_DELIM, self.pos - 1 + TRIM_MARKER_LEN
        ):
            self._backup()
            if num_spaces == 1:
                return self._lex_right_delim
        self._emit(TokenType.SPACE)
        return self._lex_inside_action

    def _lex_identifier(self) -> State | None:
        while True:
            ch = self._next()
            if is_alphanumeric(ch):
                continue
            self._backup()
            word = self.input[self.start : self.pos]
            if not self._at_terminator():
                self._error(f"bad character {go_unicode_repr(ch) if ch else 'EOF'}")
                return None
            typ = KEYWORDS.get(word)
            if typ is not None and typ is not TokenType.DOT:
                self._emit(typ)
            elif word in ("true", "false"):
                self._emit(TokenType.BOOL)
            else:
                self._emit(TokenType.IDENTIFIER)
            return self._lex_inside_action

    def _lex_field(self) -> State | None:
        return self._lex_field_or_variable(TokenType.FIELD)

    def _lex_variable(self) -> State | None:
        if self._at_terminator():
            self._emit(TokenType.VARIABLE)
            return self._lex_inside_action
        return self._lex_field_or_variable(TokenType.VARIABLE)

    def _lex_field_or_variable(self, typ: TokenType) -> State | None:
        if self._at_terminator():
            self._emit(TokenType.VARIABLE if typ is TokenType.VARIABLE else TokenType.DOT)
            return self._lex_inside_action
        while True:
            ch = self._next()
            if not is_alphanumeric(ch):
                self._backup()
                break
        if not self._at_terminator():
            self._error(f"bad character {go_unicode_repr(ch) if ch else 'EOF'}")
            return None
        self._emit(typ)
        return self._lex_inside_action

    def _lex_char(self) -> State | None:
        while True:
            ch = self._next()
            if ch == "\\":
                esc = self._next()
                if esc not in (EOF, "\n"):
                    continue
                self._error("unterminated character constant")
                return None
            if ch in (EOF, "\n"):
                self._error("unterminated character constant")
                return None
            if ch == "'":
                break
        self._emit(TokenType.CHAR_CONSTANT)
        return self._lex_inside_action

    def _lex_number(self) -> State | None:
        if not self._scan_number():
            self._error(f"bad number syntax: {self.input[self.start : self.pos]!r}")
            return None
        if self._peek() in ("+", "-") and self._peek() != EOF:
            if not self._scan_number() or self.input[self.pos - 1] != "i":
                self._error(f"bad number syntax: {self.input[self.start : self.pos]!r}")
                return None
            self._emit(TokenType.COMPLEX)
            return self._lex_inside_action
        self._emit(TokenType.NUMBER)
        return self._lex_inside_action

    def _scan_number(self) -> bool:
        self._accept("+-")
        digits = "0123456789_"
        if self._accept("0"):
            if self._accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self._accept("oO"):
                digits = "01234567_"
            elif self._accept("bB"):
                digits = "01_"
        self._accept_run(digits)
        if self._accept("."):
            self._accept_run(digits)
        if len(digits) == 10 + 1 and self._accept("eE"):
            self._accept("+-")
            self._accept_run("0123456789_")
        if len(digits) == 16 + 6 + 1 and self._accept("pP"):
            self._accept("+-")
            self._accept_run("0123456789_")
        self._accept("i")
        if is_alphanumeric(self._peek()):
            self._next()
            return False
        return True

    def _lex_quote(self) -> State | None:
        while True:
            ch = self._next()
            if ch == "\\":
                esc = self._next()
                if esc not in (EOF, "\n"):
                    continue
                self._error("unterminated quoted string")
                return None
            if ch in (EOF, "\n"):
                self._error("unterminated quoted string")
                return None
            if ch == '"':
                break
        self._emit(TokenType.STRING)
        return self._lex_inside_action

    def _lex_raw_quote(self) -> State | None:
        while True:
            ch = self._next()
            if ch == EOF:
                self._error("unterminated raw quoted string")
                return None
            if ch == "`":
                break
        self._emit(TokenType.RAW_STRING)
        return self._lex_inside_action
