"""Go literal syntax: ``strconv.Unquote``, ``UnquoteChar``, ``ParseInt``/``ParseUint``/``ParseFloat`` with base 0.

Template constants are interpreted exactly as Go's parser interprets them (``0755`` is octal, ``1_000`` is a
thousand, ``"\\x80"`` is a single byte), so the rendered text matches Go's. Byte strings that are not valid UTF-8 are
carried in Python strings with the ``surrogateescape`` error handler, so no byte is lost.
"""

from __future__ import annotations

import re

__all__ = [
    "decode_bytes",
    "encode_text",
    "parse_float",
    "parse_int",
    "parse_uint",
    "unquote",
    "unquote_char",
]

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
UINT64_MAX = (1 << 64) - 1
MAX_RUNE = 0x10FFFF

_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}
_DEC_FLOAT = re.compile(r"[+-]?(?=[0-9_]*\.?[0-9])[0-9_]*(?:\.[0-9_]*)?(?:[eE][+-]?[0-9_]+)?")
_HEX_FLOAT = re.compile(r"[+-]?0[xX](?=[0-9a-fA-F_]*\.?[0-9a-fA-F])[0-9a-fA-F_]*(?:\.[0-9a-fA-F_]*)?[pP][+-]?[0-9_]+")


def encode_text(text: str) -> bytes:
    """The bytes a Go string holds for ``text``."""
    return text.encode("utf-8", "surrogateescape")


def decode_bytes(data: bytes) -> str:
    """A Python string holding exactly ``data`` (invalid UTF-8 bytes become lone surrogates)."""
    return data.decode("utf-8", "surrogateescape")


class SyntaxErr(ValueError):
    """strconv.ErrSyntax."""


def unquote_char(s: str, i: int, quote: str) -> tuple[int, bool, int]:
    """Go's ``strconv.UnquoteChar`` on ``s[i:]``: (value, multibyte, next index)."""
    if i >= len(s):
        raise SyntaxErr
    c = s[i]
    if c == quote and quote in ("'", '"'):
        raise SyntaxErr
    if ord(c) >= 0x80:
        return ord(c), True, i + 1
    if c != "\\":
        return ord(c), False, i + 1
    if i + 1 >= len(s):
        raise SyntaxErr
    c = s[i + 1]
    i += 2
    if c in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[c], False, i
    if c in "xuU":
        n = {"x": 2, "u": 4, "U": 8}[c]
        digits = s[i : i + n]
        if len(digits) < n or any(d not in "0123456789abcdefABCDEF" for d in digits):
            raise SyntaxErr
        v = int(digits, 16)
        if c == "x":
            return v, False, i + n
        if v > MAX_RUNE or 0xD800 <= v <= 0xDFFF:
            raise SyntaxErr
        return v, True, i + n
    if "0" <= c <= "7":
        digits = s[i : i + 2]
        if len(digits) < 2 or any(not "0" <= d <= "7" for d in digits):
            raise SyntaxErr
        v = int(c + digits, 8)
        if v > 255:
            raise SyntaxErr
        return v, False, i + 2
    if c in ("'", '"'):
        if c != quote:
            raise SyntaxErr
        return ord(c), False, i
    raise SyntaxErr


def unquote(quoted: str) -> str:
    """Go's ``strconv.Unquote`` for double-quoted and back-quoted strings."""
    if len(quoted) < 2 or quoted[0] != quoted[-1]:
        raise SyntaxErr
    quote, body = quoted[0], quoted[1:-1]
    if quote == "`":
        if "`" in body:
            raise SyntaxErr
        return body.replace("\r", "")
    if quote != '"' or "\n" in body:
        raise SyntaxErr
    out = bytearray()
    i = 0
    while i < len(body):
        value, multibyte, i = unquote_char(body, i, '"')
        if value < 0x80 or not multibyte:
            out.append(value)  # escapes that are not multibyte (\x, octal, \n …) are single bytes
        else:
            out += encode_text(chr(value))
    return decode_bytes(bytes(out))


def _underscore_ok(s: str) -> bool:
    """Go's ``underscoreOK``: underscores only between digits (a base prefix counts as a digit)."""
    saw = "^"
    i = 0
    if s[:1] in ("-", "+"):
        s = s[1:]
    hexa = False
    if len(s) >= 2 and s[0] == "0" and s[1].lower() in "box":
        i = 2
        saw = "0"
        hexa = s[1].lower() == "x"
    while i < len(s):
        ch = s[i]
        if "0" <= ch <= "9" or (hexa and "a" <= ch.lower() <= "f"):
            saw = "0"
        elif ch == "_":
            if saw != "0":
                return False
            saw = "_"
        else:
            if saw == "_":
                return False
            saw = "!"
        i += 1
    return saw != "_"


def parse_uint(s0: str) -> int | None:
    """``strconv.ParseUint(s, 0, 64)``; ``None`` on any error."""
    if not s0:
        return None
    s = s0
    base = 10
    if s[0] == "0":
        if len(s) >= 3 and s[1] in "bB":
            base, s = 2, s[2:]
        elif len(s) >= 3 and s[1] in "oO":
            base, s = 8, s[2:]
        elif len(s) >= 3 and s[1] in "xX":
            base, s = 16, s[2:]
        else:
            base, s = 8, s[1:]
    n = 0
    underscores = False
    for ch in s:
        if ch == "_":
            underscores = True
            continue
        if "0" <= ch <= "9":
            d = ord(ch) - 48
        elif "a" <= ch.lower() <= "z" and ch.isascii():
            d = ord(ch.lower()) - ord("a") + 10
        else:
            return None
        if d >= base:
            return None
        n = n * base + d
    if n > UINT64_MAX:
        return None
    if underscores and not _underscore_ok(s0):
        return None
    return n


def parse_int(s: str) -> int | None:
    """``strconv.ParseInt(s, 0, 64)``; ``None`` on any error."""
    if not s:
        return None
    neg = s[0] == "-"
    body = s[1:] if s[0] in "+-" else s
    u = parse_uint(body)
    if u is None:
        return None
    if neg:
        return -u if u <= -INT64_MIN else None
    return u if u <= INT64_MAX else None


def parse_float(s: str) -> float | None:
    """``strconv.ParseFloat(s, 64)`` for the forms the lexer can produce; ``None`` on error or overflow."""
    if _HEX_FLOAT.fullmatch(s):
        if "_" in s and not _underscore_ok(s):
            return None
        try:
            value = float.fromhex(s.replace("_", ""))
        except (ValueError, OverflowError):
            return None
    elif _DEC_FLOAT.fullmatch(s):
        if "_" in s and not _underscore_ok(s):
            return None
        value = float(s.replace("_", ""))
    else:
        return None
    if value in (float("inf"), float("-inf")):
        return None
    return value
