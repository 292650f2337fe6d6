"""The parts of Go's ``fmt`` and ``strconv`` that template output depends on.

Go prints an action's value with ``fmt.Fprint`` and implements ``print``, ``printf`` and ``println`` with
``fmt.Sprint*``, so a faithful port is needed for output to match: spacing rules of ``Sprint``, every verb, flag,
width, precision and argument index of ``Sprintf``, and its in-band error notation (``%!d(string=x)``,
``%!s(MISSING)``, ``%!(EXTRA …)``). Ported from ``fmt/print.go``, ``fmt/format.go`` and ``strconv/quote.go``.
The few corners that are not ported (hexadecimal and binary float verbs, ``%#v`` of a struct or list) raise
:class:`Unsupported` rather than print something Go would not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dbops.secrets.gotemplate.literals import encode_text
from dbops.secrets.gotemplate.values import Kind, Struct, kind_of, type_name

__all__ = [
    "Unsupported",
    "can_backquote",
    "format_float",
    "go_is_print",
    "quote",
    "quote_rune",
    "quote_to_ascii",
    "sprint",
    "sprintf",
    "sprintln",
]

MAX_RUNE = 0x10FFFF
RUNE_ERROR = 0xFFFD
_LOWERHEX = "0123456789abcdef"
_UPPERHEX = "0123456789ABCDEF"


class Unsupported(Exception):
    """A formatting corner this port does not implement."""


# --------------------------------------------------------------------------------------------------------------------
# strconv


def _invalid_byte(ch: str) -> int | None:
    """The raw byte a surrogate-escaped character stands for (invalid UTF-8 in a Go string), else None."""
    cp = ord(ch)
    return cp - 0xDC00 if 0xDC80 <= cp <= 0xDCFF else None


def go_is_print(cp: int) -> bool:
    """``strconv.IsPrint``: letters, marks, numbers, punctuation, symbols and the ASCII space."""
    if cp > MAX_RUNE or 0xD800 <= cp <= 0xDFFF:
        return False
    return chr(cp).isprintable()


def _escaped_rune(cp: int, quote_ch: str, ascii_only: bool) -> str:
    if cp == ord(quote_ch) or cp == ord("\\"):
        return "\\" + chr(cp)
    if ascii_only:
        if cp < 0x80 and go_is_print(cp):
            return chr(cp)
    elif go_is_print(cp):
        return chr(cp)
    simple = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}
    if cp in simple:
        return simple[cp]
    if cp < 0x20 or cp == 0x7F:
        return "\\x" + _LOWERHEX[cp >> 4] + _LOWERHEX[cp & 0xF]
    if cp > MAX_RUNE or 0xD800 <= cp <= 0xDFFF:
        cp = RUNE_ERROR
    if cp < 0x10000:
        return "\\u" + "".join(_LOWERHEX[(cp >> s) & 0xF] for s in (12, 8, 4, 0))
    return "\\U" + "".join(_LOWERHEX[(cp >> s) & 0xF] for s in (28, 24, 20, 16, 12, 8, 4, 0))


def _quote_with(s: str, quote_ch: str, ascii_only: bool) -> str:
    out = [quote_ch]
    for ch in s:
        b = _invalid_byte(ch)
        if b is not None:
            out.append("\\x" + _LOWERHEX[b >> 4] + _LOWERHEX[b & 0xF])
        else:
            out.append(_escaped_rune(ord(ch), quote_ch, ascii_only))
    out.append(quote_ch)
    return "".join(out)


def quote(s: str) -> str:
    """``strconv.Quote``."""
    return _quote_with(s, '"', False)


def quote_to_ascii(s: str) -> str:
    """``strconv.QuoteToASCII``."""
    return _quote_with(s, '"', True)


def quote_rune(cp: int, ascii_only: bool = False) -> str:
    """``strconv.QuoteRune`` / ``QuoteRuneToASCII``."""
    if cp > MAX_RUNE or cp < 0 or 0xD800 <= cp <= 0xDFFF:
        cp = RUNE_ERROR
    return "'" + _escaped_rune(cp, "'", ascii_only) + "'"


def can_backquote(s: str) -> bool:
    """``strconv.CanBackquote``."""
    for ch in s:
        cp = ord(ch)
        if _invalid_byte(ch) is not None:
            return False
        if cp >= 0x80:
            if cp == 0xFEFF:
                return False
            continue
        if (cp < 0x20 and ch != "\t") or ch == "`" or cp == 0x7F:
            return False
    return True


def _shortest_digits(v: float) -> tuple[str, int]:
    """Shortest decimal digits that round-trip ``v`` (>= 0) and the decimal point position (Go's ``digs``)."""
    if v == 0:
        return "", 0
    _, digit_tuple, exponent = Decimal(repr(v)).as_tuple()
    assert isinstance(exponent, int)
    all_digits = "".join(str(d) for d in digit_tuple)
    text = all_digits.rstrip("0")
    return text, len(all_digits) + exponent


def _fmt_e(digs: str, dp: int, prec: int, e: str) -> str:
    first = digs[0] if digs else "0"
    out = first
    if prec > 0:
        out += "." + (digs[1 : 1 + prec]).ljust(prec, "0")
    exp = 0 if not digs else dp - 1
    sign = "-" if exp < 0 else "+"
    exp = abs(exp)
    return f"{out}{e}{sign}{exp:02d}"


def _fmt_f(digs: str, dp: int, prec: int) -> str:
    out = digs[:dp].ljust(dp, "0") if dp > 0 else "0"
    if prec > 0:
        frac = "".join(digs[dp + i] if 0 <= dp + i < len(digs) else "0" for i in range(prec))
        out += "." + frac
    return out


def format_float(v: float, verb: str, prec: int) -> str:
    """``strconv.FormatFloat(v, verb, prec, 64)`` for verbs e, E, f, g, G."""
    neg = v < 0 or (v == 0 and str(v).startswith("-"))
    a = abs(v)
    if prec < 0:
        digs, dp = _shortest_digits(a)
        if verb in "eE":
            body = _fmt_e(digs, dp, max(len(digs) - 1, 0), verb)
        elif verb == "f":
            body = _fmt_f(digs, dp, max(len(digs) - dp, 0))
        else:
            eprec = 6
            exp = dp - 1
            if exp < -4 or exp >= eprec:
                body = _fmt_e(digs, dp, max(len(digs) - 1, 0), "e" if verb == "g" else "E")
            else:
                body = _fmt_f(digs, dp, max(len(digs) - dp, 0))
    elif verb == "f":
        body = format(a, f".{prec}f")
    elif verb in "eE":
        body = format(a, f".{prec}{verb}")
    else:
        body = format(a, f".{max(prec, 1)}{verb}")
    return ("-" if neg else "") + body


# --------------------------------------------------------------------------------------------------------------------
# fmt


@dataclass
class _Flags:
    plus: bool = False
    minus: bool = False
    sharp: bool = False
    space: bool = False
    zero: bool = False
    plus_v: bool = False
    sharp_v: bool = False
    wid: int = 0
    wid_present: bool = False
    prec: int = 0
    prec_present: bool = False


class _Printer:
    """One ``fmt.pp``: an output buffer and the current verb's flags."""

    def __init__(self) -> None:
        self.buf: list[str] = []
        self.f = _Flags()

    def text(self) -> str:
        return "".join(self.buf)

    # -- padding -----------------------------------------------------------------------------------------------------

    def write_padding(self, n: int) -> None:
        if n > 0:
            self.buf.append(("0" if self.f.zero and not self.f.minus else " ") * n)

    def pad(self, s: str) -> None:
        if not self.f.wid_present or self.f.wid == 0:
            self.buf.append(s)
            return
        width = self.f.wid - len(s)
        if not self.f.minus:
            self.write_padding(width)
            self.buf.append(s)
        else:
            self.buf.append(s)
            self.write_padding(width)

    def truncate(self, s: str) -> str:
        if self.f.prec_present:
            return s[: self.f.prec]
        return s

    # -- per kind ----------------------------------------------------------------------------------------------------

    def bad_verb(self, verb: str, arg: Any) -> None:
        self.buf.append("%!" + verb + "(")
        if arg is None:
            self.buf.append("<nil>")
        else:
            self.buf.append(type_name(arg) + "=")
            self.print_arg(arg, "v")
        self.buf.append(")")

    def fmt_integer(self, value: int, signed: bool, verb: str, arg: Any) -> None:
        if verb == "v":
            if self.f.sharp_v and not signed:
                self._fmt_0x64(value)
            else:
                self._fmt_int(value, 10, signed, verb, _LOWERHEX)
        elif verb == "d":
            self._fmt_int(value, 10, signed, verb, _LOWERHEX)
        elif verb == "b":
            self._fmt_int(value, 2, signed, verb, _LOWERHEX)
        elif verb in "oO":
            self._fmt_int(value, 8, signed, verb, _LOWERHEX)
        elif verb == "x":
            self._fmt_int(value, 16, signed, verb, _LOWERHEX)
        elif verb == "X":
            self._fmt_int(value, 16, signed, verb, _UPPERHEX)
        elif verb == "c":
            self.pad(_rune_text(value))
        elif verb == "q":
            self.pad(quote_rune(_as_rune(value), ascii_only=self.f.plus))
        elif verb == "U":
            self._fmt_unicode(value)
        else:
            self.bad_verb(verb, arg)

    def _fmt_0x64(self, value: int) -> None:
        sharp = self.f.sharp
        self.f.sharp = True
        self._fmt_int(value, 16, False, "v", _LOWERHEX)
        self.f.sharp = sharp

    def _fmt_int(self, value: int, base: int, signed: bool, verb: str, digits: str) -> None:
        f = self.f
        negative = signed and value < 0
        u = -value if negative else value
        if not signed and u < 0:
            u &= (1 << 64) - 1
        prec = 0
        if f.prec_present:
            prec = f.prec
            if prec == 0 and u == 0:
                zero = f.zero
                f.zero = False
                self.write_padding(f.wid)
                f.zero = zero
                return
        elif f.zero and not f.minus and f.wid_present:
            prec = f.wid
            if negative or f.plus or f.space:
                prec -= 1
        out = ""
        while True:
            out = digits[u % base] + out
            u //= base
            if u == 0:
                break
        out = out.rjust(prec, "0")
        if f.sharp:
            if base == 2:
                out = "0b" + out
            elif base == 8:
                if out[0] != "0":
                    out = "0" + out
            elif base == 16:
                out = "0" + ("X" if digits is _UPPERHEX else "x") + out
        if verb == "O":
            out = "0o" + out
        if negative:
            out = "-" + out
        elif f.plus:
            out = "+" + out
        elif f.space:
            out = " " + out
        zero = f.zero
        f.zero = False
        self.pad(out)
        f.zero = zero

    def _fmt_unicode(self, value: int) -> None:
        u = value & ((1 << 64) - 1)
        prec = 4
        if self.f.prec_present and self.f.prec > 4:
            prec = self.f.prec
        out = format(u, "X").rjust(prec, "0")
        text = "U+" + out
        if self.f.sharp and u <= MAX_RUNE and go_is_print(u):
            text += " '" + chr(u) + "'"
        zero = self.f.zero
        self.f.zero = False
        self.pad(text)
        self.f.zero = zero

    def fmt_float(self, v: float, verb: str, arg: Any) -> None:
        if verb == "v":
            self._fmt_float(v, "g", -1)
        elif verb in "gG":
            self._fmt_float(v, verb, -1)
        elif verb in "feE":
            self._fmt_float(v, verb, 6)
        elif verb == "F":
            self._fmt_float(v, "f", 6)
        elif verb in "bxX":
            raise Unsupported(f"printf verb %{verb} is not supported for floats")
        else:
            self.bad_verb(verb, arg)

    def _fmt_float(self, v: float, verb: str, prec: int) -> None:
        f = self.f
        if f.prec_present:
            prec = f.prec
        num = format_float(v, verb, prec)
        num = num if num[0] in "+-" else "+" + num
        if f.space and num[0] == "+" and not f.plus:
            num = " " + num[1:]
        if f.sharp:
            num = self._sharp_float(num, verb, prec)
        if f.plus or num[0] != "+":
            if f.zero and not f.minus and f.wid_present and f.wid > len(num):
                self.buf.append(num[0])
                self.write_padding(f.wid - len(num))
                self.buf.append(num[1:])
                return
            self.pad(num)
            return
        self.pad(num[1:])

    @staticmethod
    def _sharp_float(num: str, verb: str, prec: int) -> str:
        digits = 0
        if verb in ("v", "g", "G", "x"):
            digits = 6 if prec == -1 else prec
        tail = ""
        has_point = False
        saw_nonzero = False
        body = num
        i = 1
        while i < len(body):
            ch = body[i]
            if ch == ".":
                has_point = True
            elif ch in "eE":
                tail = body[i:]
                body = body[:i]
                break
            else:
                if ch != "0":
                    saw_nonzero = True
                if saw_nonzero:
                    digits -= 1
            i += 1
        if not has_point:
            if len(body) == 2 and body[1] == "0":
                digits -= 1
            body += "."
        if digits > 0:
            body += "0" * digits
        return body + tail

    def fmt_string(self, s: str, verb: str, arg: Any) -> None:
        if verb == "v":
            if self.f.sharp_v:
                self._fmt_q(s)
            else:
                self.pad(self.truncate(s))
        elif verb == "s":
            self.pad(self.truncate(s))
        elif verb in "xX":
            self._fmt_sx(s, _LOWERHEX if verb == "x" else _UPPERHEX)
        elif verb == "q":
            self._fmt_q(s)
        else:
            self.bad_verb(verb, arg)

    def _fmt_q(self, s: str) -> None:
        s = self.truncate(s)
        if self.f.sharp and can_backquote(s):
            self.pad("`" + s + "`")
        elif self.f.plus:
            self.pad(quote_to_ascii(s))
        else:
            self.pad(quote(s))

    def _fmt_sx(self, s: str, digits: str) -> None:
        f = self.f
        data = encode_text(s)
        length = len(data)
        if f.prec_present and f.prec < length:
            length = f.prec
        width = 2 * length
        if width > 0:
            if f.space:
                if f.sharp:
                    width *= 2
                width += length - 1
            elif f.sharp:
                width += 2
        else:
            if f.wid_present:
                self.write_padding(f.wid)
            return
        if f.wid_present and f.wid > width and not f.minus:
            self.write_padding(f.wid - width)
        out: list[str] = []
        if f.sharp:
            out.append("0X" if digits is _UPPERHEX else "0x")
        for i in range(length):
            if f.space and i > 0:
                out.append(" ")
                if f.sharp:
                    out.append("0X" if digits is _UPPERHEX else "0x")
            c = data[i]
            out.append(digits[c >> 4] + digits[c & 0xF])
        self.buf.append("".join(out))
        if f.wid_present and f.wid > width and f.minus:
            self.write_padding(f.wid - width)

    # -- dispatch ----------------------------------------------------------------------------------------------------

    def print_arg(self, arg: Any, verb: str) -> None:
        if arg is None:
            if verb in ("T", "v"):
                self.pad("<nil>")
            else:
                self.bad_verb(verb, None)
            return
        if verb == "T":
            self.pad(self.truncate(type_name(arg)))
            return
        if verb == "p":
            self.bad_verb(verb, arg)
            return
        k = kind_of(arg)
        if k is Kind.BOOL:
            if verb in ("t", "v"):
                self.pad("true" if arg else "false")
            else:
                self.bad_verb(verb, arg)
        elif k is Kind.FLOAT:
            self.fmt_float(arg, verb, arg)
        elif k is Kind.INT:
            self.fmt_integer(arg, True, verb, arg)
        elif k is Kind.UINT:
            self.fmt_integer(int(arg), False, verb, arg)
        elif k is Kind.STRING:
            self.fmt_string(arg, verb, arg)
        elif k is Kind.SLICE:
            if self.f.sharp_v:
                raise Unsupported("printf %#v of a list is not supported")
            self.buf.append("[")
            for i, item in enumerate(arg):
                if i > 0:
                    self.buf.append(" ")
                if item is None:
                    self.buf.append("<nil>")
                else:
                    self.print_arg(item, verb)
            self.buf.append("]")
        else:
            assert isinstance(arg, Struct)
            if self.f.sharp_v:
                raise Unsupported("printf %#v of the template data is not supported")
            self.buf.append("{")
            for i, (name, item) in enumerate(arg.fields.items()):
                if i > 0:
                    self.buf.append(" ")
                if self.f.plus_v:
                    self.buf.append(name + ":")
                if item is None:
                    self.buf.append("<nil>" if verb == "v" else f"%!{verb}(<nil>)")
                else:
                    self.print_arg(item, verb)
            self.buf.append("}")


def _as_rune(value: int) -> int:
    u = value & ((1 << 64) - 1)
    return RUNE_ERROR if u > MAX_RUNE else u


def _rune_text(value: int) -> str:
    cp = _as_rune(value)
    if 0xD800 <= cp <= 0xDFFF:
        cp = RUNE_ERROR
    return chr(cp)


def sprint(args: Sequence[Any]) -> str:
    """``fmt.Sprint``: operands formatted with %v; a space between two operands when neither is a string."""
    p = _Printer()
    prev_string = False
    for i, arg in enumerate(args):
        is_string = isinstance(arg, str)
        if i > 0 and not is_string and not prev_string:
            p.buf.append(" ")
        p.print_arg(arg, "v")
        prev_string = is_string
    return p.text()


def sprintln(args: Sequence[Any]) -> str:
    """``fmt.Sprintln``: operands formatted with %v, always space-separated, then a newline."""
    p = _Printer()
    for i, arg in enumerate(args):
        if i > 0:
            p.buf.append(" ")
        p.print_arg(arg, "v")
    p.buf.append("\n")
    return p.text()


def _parsenum(s: str, start: int, end: int) -> tuple[int, bool, int]:
    if start >= end:
        return 0, False, end
    num = 0
    isnum = False
    i = start
    while i < end and "0" <= s[i] <= "9":
        if num > 1_000_000:
            return 0, False, end
        num = num * 10 + ord(s[i]) - 48
        isnum = True
        i += 1
    return num, isnum, i


def _int_from_arg(args: Sequence[Any], arg_num: int) -> tuple[int, bool, int]:
    num, is_int = 0, False
    if arg_num < len(args):
        a = args[arg_num]
        if kind_of(a) in (Kind.INT, Kind.UINT):
            num, is_int = int(a), True
        arg_num += 1
        if num > 1_000_000 or num < -1_000_000:
            num, is_int = 0, False
    return num, is_int, arg_num


def sprintf(fmt: str, args: Sequence[Any]) -> str:
    """``fmt.Sprintf`` (``fmt/print.go`` ``doPrintf``)."""
    p = _Printer()
    end = len(fmt)
    arg_num = 0
    after_index = False
    reordered = False
    i = 0

    def arg_number(arg_num: int, i: int) -> tuple[int, int, bool, bool]:
        """(new arg_num, new i, found, good)."""
        nonlocal reordered
        if i >= end or fmt[i] != "[":
            return arg_num, i, False, True
        reordered = True
        # parseArgNumber
        index, wid, ok = 0, 1, False
        if end - i >= 3:
            for j in range(i + 1, end):
                if fmt[j] == "]":
                    width, isnum, newi = _parsenum(fmt, i + 1, j)
                    if not isnum or newi != j:
                        index, wid, ok = 0, j - i + 1, False
                    else:
                        index, wid, ok = width - 1, j - i + 1, True
                    break
        if ok and 0 <= index < len(args):
            return index, i + wid, True, True
        return arg_num, i + wid, ok, False

    while i < end:
        good_arg_num = True
        lasti = i
        while i < end and fmt[i] != "%":
            i += 1
        if i > lasti:
            p.buf.append(fmt[lasti:i])
        if i >= end:
            break
        i += 1
        p.f = _Flags()
        simple_done = False
        while i < end:
            c = fmt[i]
            if c == "#":
                p.f.sharp = True
            elif c == "0":
                p.f.zero = True
            elif c == "+":
                p.f.plus = True
            elif c == "-":
                p.f.minus = True
            elif c == " ":
                p.f.space = True
            else:
                if "a" <= c <= "z" and arg_num < len(args):
                    if c in ("v", "w"):
                        p.f.sharp_v, p.f.sharp = p.f.sharp, False
                        p.f.plus_v, p.f.plus = p.f.plus, False
                    p.print_arg(args[arg_num], c)
                    arg_num += 1
                    i += 1
                    simple_done = True
                break
            i += 1
        if simple_done:
            continue

        arg_num, i, after_index, good = arg_number(arg_num, i)
        good_arg_num = good_arg_num and good

        if i < end and fmt[i] == "*":
            i += 1
            p.f.wid, p.f.wid_present, arg_num = _int_from_arg(args, arg_num)
            if not p.f.wid_present:
                p.buf.append("%!(BADWIDTH)")
            if p.f.wid < 0:
                p.f.wid = -p.f.wid
                p.f.minus = True
                p.f.zero = False
            after_index = False
        else:
            p.f.wid, p.f.wid_present, i = _parsenum(fmt, i, end)
            if after_index and p.f.wid_present:
                good_arg_num = False

        if i + 1 < end and fmt[i] == ".":
            i += 1
            if after_index:
                good_arg_num = False
            arg_num, i, after_index, good = arg_number(arg_num, i)
            good_arg_num = good_arg_num and good
            if i < end and fmt[i] == "*":
                i += 1
                p.f.prec, p.f.prec_present, arg_num = _int_from_arg(args, arg_num)
                if p.f.prec < 0:
                    p.f.prec, p.f.prec_present = 0, False
                if not p.f.prec_present:
                    p.buf.append("%!(BADPREC)")
                after_index = False
            else:
                p.f.prec, p.f.prec_present, i = _parsenum(fmt, i, end)
                if not p.f.prec_present:
                    p.f.prec, p.f.prec_present = 0, True

        if not after_index:
            arg_num, i, after_index, good = arg_number(arg_num, i)
            good_arg_num = good_arg_num and good

        if i >= end:
            p.buf.append("%!(NOVERB)")
            break

        verb = fmt[i]
        i += 1
        if verb == "%":
            p.buf.append("%")
        elif not good_arg_num:
            p.buf.append(f"%!{verb}(BADINDEX)")
        elif arg_num >= len(args):
            p.buf.append(f"%!{verb}(MISSING)")
        else:
            if verb in ("v", "w"):
                p.f.sharp_v, p.f.sharp = p.f.sharp, False
                p.f.plus_v, p.f.plus = p.f.plus, False
            p.print_arg(args[arg_num], verb)
            arg_num += 1

    if not reordered and arg_num < len(args):
        p.f = _Flags()
        p.buf.append("%!(EXTRA ")
        for j, arg in enumerate(args[arg_num:]):
            if j > 0:
                p.buf.append(", ")
            if arg is None:
                p.buf.append("<nil>")
            else:
                p.buf.append(type_name(arg) + "=")
                p.print_arg(arg, "v")
        p.buf.append(")")
    return p.text()
