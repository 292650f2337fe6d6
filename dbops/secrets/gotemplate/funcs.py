"""Template functions: Go's built-ins (``text/template/funcs.go``) and the documented additions (api.md 5.10).

Each function declares Go-like parameter types so the evaluator can apply Go's argument rules: a ``string``
parameter accepts only strings (so the integer ``.Port`` is refused, as the spec says); ``any`` and ``value`` (Go's
``interface{}`` and ``reflect.Value``) accept everything, nil included.

Function errors are raised as :class:`FuncError` with messages that never contain argument values.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum, auto
from typing import Any
from urllib.parse import quote as _url_quote
from urllib.parse import quote_plus as _url_quote_plus

from dbops.secrets.gotemplate.gofmt import format_float, sprint, sprintf, sprintln
from dbops.secrets.gotemplate.literals import decode_bytes, encode_text
from dbops.secrets.gotemplate.values import Kind, Struct, Uint8, is_true, kind_of, type_name

__all__ = ["BUILTINS", "EXTRAS", "FUNCTIONS", "FuncError", "Function", "ParamType"]


class FuncError(Exception):
    """A function refused its arguments (Go: the function returned a non-nil error)."""


class ParamType(Enum):
    STRING = auto()  # Go string
    ANY = auto()  # Go interface{}
    VALUE = auto()  # Go reflect.Value: any value, nil included


@dataclass(frozen=True)
class Function:
    name: str
    params: tuple[ParamType, ...]
    variadic: ParamType | None
    impl: Callable[..., Any]
    builtin: bool = False


# --------------------------------------------------------------------------------------------------------------------
# Built-ins


def _not(arg: Any) -> bool:
    return not is_true(arg)


_BASIC = {Kind.BOOL, Kind.INT, Kind.UINT, Kind.FLOAT, Kind.STRING}


def _basic_kind(v: Any) -> Kind | None:
    k = kind_of(v)
    return k if k in _BASIC else None


def _go_str_key(s: str) -> bytes:
    return encode_text(s)


def _eq(arg1: Any, *args: Any) -> bool:
    if not args:
        raise FuncError("missing argument for comparison")
    k1 = _basic_kind(arg1)
    for arg in args:
        k2 = _basic_kind(arg)
        if k1 != k2:
            if (k1 is Kind.INT and k2 is Kind.UINT) or (k1 is Kind.UINT and k2 is Kind.INT):
                truth = int(arg1) == int(arg)
            else:
                if arg1 is not None and arg is not None:
                    raise FuncError(f"incompatible types for comparison: {type_name(arg1)} and {type_name(arg)}")
                truth = False
        elif k1 is None:
            if kind_of(arg1) is Kind.SLICE or kind_of(arg) is Kind.SLICE:
                raise FuncError(f"non-comparable types {type_name(arg1)}, {type_name(arg)}")
            truth = arg1 is arg
        elif k1 is Kind.STRING:
            truth = arg1 == arg
        else:
            truth = arg1 == arg
        if truth:
            return True
    return False


def _ne(arg1: Any, arg2: Any) -> bool:
    return not _eq(arg1, arg2)


def _lt(arg1: Any, arg2: Any) -> bool:
    k1 = _basic_kind(arg1)
    k2 = _basic_kind(arg2)
    if k1 is None or k2 is None:
        raise FuncError("invalid type for comparison")
    if k1 != k2:
        if (k1 is Kind.INT and k2 is Kind.UINT) or (k1 is Kind.UINT and k2 is Kind.INT):
            return bool(int(arg1) < int(arg2))
        raise FuncError(f"incompatible types for comparison: {type_name(arg1)} and {type_name(arg2)}")
    if k1 is Kind.BOOL:
        raise FuncError("invalid type for comparison")
    if k1 is Kind.STRING:
        return _go_str_key(arg1) < _go_str_key(arg2)
    return bool(arg1 < arg2)


def _le(arg1: Any, arg2: Any) -> bool:
    return _lt(arg1, arg2) or _eq(arg1, arg2)


def _gt(arg1: Any, arg2: Any) -> bool:
    return not _le(arg1, arg2)


def _ge(arg1: Any, arg2: Any) -> bool:
    return not _lt(arg1, arg2)


def _len(item: Any) -> int:
    k = kind_of(item)
    if k is Kind.STRING:
        return len(encode_text(item))
    if k is Kind.SLICE:
        return len(item)
    raise FuncError(f"len of type {type_name(item)}")


def _index_arg(index: Any, cap: int) -> int:
    k = kind_of(index)
    if k is Kind.INVALID:
        raise FuncError("cannot index slice/array with nil")
    if k not in (Kind.INT, Kind.UINT):
        raise FuncError(f"cannot index slice/array with type {type_name(index)}")
    x = int(index)
    if x < 0 or x > cap:
        raise FuncError(f"index out of range: {x}")
    return x


def _index(item: Any, *indexes: Any) -> Any:
    if item is None:
        raise FuncError("index of untyped nil")
    for index in indexes:
        k = kind_of(item)
        if k is Kind.STRING:
            data = encode_text(item)
            x = _index_arg(index, len(data))
            if x == len(data):
                raise FuncError(f"index out of range: {x}")
            item = Uint8(data[x])
        elif k is Kind.SLICE:
            x = _index_arg(index, len(item))
            if x == len(item):
                raise FuncError(f"index out of range: {x}")
            item = item[x]
        else:
            raise FuncError(f"can't index item of type {type_name(item)}")
    return item


def _slice(item: Any, *indexes: Any) -> Any:
    if item is None:
        raise FuncError("slice of untyped nil")
    if len(indexes) > 3:
        raise FuncError(f"too many slice indexes: {len(indexes)}")
    k = kind_of(item)
    if k is Kind.STRING:
        if len(indexes) == 3:
            raise FuncError("cannot 3-index slice a string")
        data: bytes | Sequence[Any] = encode_text(item)
    elif k is Kind.SLICE:
        data = item
    else:
        raise FuncError(f"can't slice item of type {type_name(item)}")
    idx = [0, len(data), len(data)]
    for i, index in enumerate(indexes):
        idx[i] = _index_arg(index, len(data))
    if idx[0] > idx[1]:
        raise FuncError(f"invalid slice index: {idx[0]} > {idx[1]}")
    if len(indexes) == 3 and idx[1] > idx[2]:
        raise FuncError(f"invalid slice index: {idx[1]} > {idx[2]}")
    part = data[idx[0] : idx[1]]
    if isinstance(part, bytes):
        return decode_bytes(part)
    return list(part)


def _eval_args(args: Sequence[Any]) -> str:
    """Go's ``evalArgs``: a single string as is, otherwise ``fmt.Sprint`` of the arguments."""
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    # printableValue turns an untyped nil into the string "<no value>" before fmt sees it.
    return sprint(["<no value>" if a is None else a for a in args])


def html_escape(s: str) -> str:
    """``template.HTMLEscapeString``."""
    out = []
    for ch in s:
        out.append({"&": "&amp;", "'": "&#39;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "\x00": "\ufffd"}.get(ch, ch))
    return "".join(out)


def js_escape(s: str) -> str:
    """``template.JSEscapeString``."""
    table = {
        "\\": "\\\\",
        "'": "\\'",
        '"': '\\"',
        "<": "\\u003C",
        ">": "\\u003E",
        "&": "\\u0026",
        "=": "\\u003D",
    }
    out = []
    for ch in s:
        cp = ord(ch)
        if ch in table:
            out.append(table[ch])
        elif cp < 0x20:
            out.append(f"\\u00{cp:02X}")
        elif cp < 0x80 or 0xDC80 <= cp <= 0xDCFF or ch.isprintable():
            out.append(ch)
        else:
            out.append(f"\\u{cp:04X}")
    return "".join(out)


def _html(*args: Any) -> str:
    return html_escape(_eval_args(args))


def _js(*args: Any) -> str:
    return js_escape(_eval_args(args))


def _urlquery(*args: Any) -> str:
    return _query_escape(_eval_args(args))


def _print(*args: Any) -> str:
    return sprint(args)


def _println(*args: Any) -> str:
    return sprintln(args)


def _printf(fmt: str, *args: Any) -> str:
    return sprintf(fmt, args)


def _call(fn: Any, *args: Any) -> Any:
    if fn is None:
        raise FuncError("call of nil")
    # The template data holds no functions, so nothing can be called.
    raise FuncError(f"non-function of type {type_name(fn)}")


# --------------------------------------------------------------------------------------------------------------------
# Additions (api.md 5.10)


def _query_escape(s: str) -> str:
    """``url.QueryEscape``: unreserved characters kept, space as ``+``, everything else percent-encoded."""
    return _url_quote_plus(encode_text(s), safe="")


def _path_escape(s: str) -> str:
    """``url.PathEscape``: like QueryEscape but space is ``%20`` and ``$&+:=@`` are kept."""
    return _url_quote(encode_text(s), safe="$&+:=@")


def _base64_encode(s: str) -> str:
    return base64.b64encode(encode_text(s)).decode("ascii")


def _base64_decode(s: str) -> str:
    data = s.replace("\r", "").replace("\n", "")  # Go's decoder ignores line breaks
    try:
        if len(data) % 4:
            raise binascii.Error
        return decode_bytes(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError):
        raise FuncError("illegal base64 data") from None


def _replace_invalid(s: str) -> str:
    """Go's string functions turn each invalid UTF-8 byte into U+FFFD when they rewrite a string."""
    return "".join("\ufffd" if 0xDC80 <= ord(ch) <= 0xDCFF else ch for ch in s)


def _simple_upper(ch: str) -> str:
    """``unicode.ToUpper`` (simple case mapping: one code point to one code point)."""
    up = ch.upper()
    if len(up) == 1:
        return up
    title = ch.title()
    return title if len(title) == 1 else ch


def _simple_lower(ch: str) -> str:
    """``unicode.ToLower`` (simple case mapping)."""
    if ch == "\u0130":
        return "i"
    low = ch.lower()
    return low if len(low) == 1 else ch


def _upper(s: str) -> str:
    if s.isascii():
        return s.upper()
    return "".join(_simple_upper(ch) for ch in _replace_invalid(s))


def _lower(s: str) -> str:
    if s.isascii():
        return s.lower()
    return "".join(_simple_lower(ch) for ch in _replace_invalid(s))


def _title(s: str) -> str:
    if not s:
        return s
    first = "\ufffd" if 0xDC80 <= ord(s[0]) <= 0xDCFF else _simple_upper(s[0])
    return first + s[1:]


#: ``unicode.IsSpace``: what ``strings.TrimSpace`` removes (Python's ``str.strip`` also removes \x1c to \x1f).
GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B)) + "\u2028\u2029\u202f\u205f\u3000"
)


def _trim(s: str) -> str:
    return s.strip(GO_SPACE)


def _trim_prefix(s: str, affix: str) -> str:
    return s[len(affix) :] if affix and s.startswith(affix) else s


def _trim_suffix(s: str, affix: str) -> str:
    return s[: len(s) - len(affix)] if affix and s.endswith(affix) else s


def _replace(s: str, old: str, new: str) -> str:
    return s.replace(old, new)


def json_string(s: str) -> str:
    """A string as Go's ``json.Marshal`` writes it (HTML-safe escapes, invalid UTF-8 as U+FFFD)."""
    out = ['"']
    for ch in s:
        cp = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in "\b\f\n\r\t":
            out.append({"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif cp < 0x20 or ch in "<>&" or cp in (0x2028, 0x2029):
            out.append(f"\\u{cp:04x}")
        elif 0xD800 <= cp <= 0xDFFF:
            out.append("\\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def json_float(v: float) -> str:
    """A float64 as Go's ``json.Marshal`` writes it: shortest digits, exponent form outside [1e-6, 1e21)."""
    a = abs(v)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        b = format_float(v, "e", -1)
        if len(b) >= 4 and b[-4] == "e" and b[-3] == "-" and b[-2] == "0":  # e-09 -> e-9
            b = b[:-2] + b[-1]
        return b
    return format_float(v, "f", -1)


def to_json(value: Any) -> str:
    """Go's ``json.Marshal`` for the template value kinds."""
    k = kind_of(value)
    if k is Kind.INVALID:
        return "null"
    if k is Kind.BOOL:
        return "true" if value else "false"
    if k in (Kind.INT, Kind.UINT):
        return str(int(value))
    if k is Kind.FLOAT:
        return json_float(value)
    if k is Kind.STRING:
        return json_string(value)
    if k is Kind.SLICE:
        return "[" + ",".join(to_json(v) for v in value) + "]"
    assert isinstance(value, Struct)
    return "{" + ",".join(json_string(name) + ":" + to_json(v) for name, v in value.fields.items()) + "}"


def _quote(s: str) -> str:
    return json_string(s)


def _squote(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


def _empty(value: Any) -> bool:
    """Sprig's ``empty``: nil, false, 0 and empty strings or lists; structs are never empty."""
    return not is_true(value)


def _default(default: Any, *given: Any) -> Any:
    if not given or _empty(given[0]):
        return default
    return given[0]


def _to_json(value: Any) -> str:
    return to_json(value)


def _join(items: Any, sep: str) -> str:
    """Elements joined by ``sep``; like Sprig, nil elements are skipped and a single value is a one-item list."""
    k = kind_of(items)
    if k is Kind.INVALID:
        return ""
    values = list(items) if k is Kind.SLICE else [items]
    return sep.join(v if isinstance(v, str) else sprint([v]) for v in values if v is not None)


S, A, V = ParamType.STRING, ParamType.ANY, ParamType.VALUE

BUILTINS: dict[str, Function] = {
    f.name: f
    for f in (
        Function("and", (V,), V, lambda *a: a[-1], builtin=True),  # evaluated lazily by the evaluator
        Function("or", (V,), V, lambda *a: a[-1], builtin=True),
        Function("not", (V,), None, _not, builtin=True),
        Function("eq", (V,), V, _eq, builtin=True),
        Function("ne", (V, V), None, _ne, builtin=True),
        Function("lt", (V, V), None, _lt, builtin=True),
        Function("le", (V, V), None, _le, builtin=True),
        Function("gt", (V, V), None, _gt, builtin=True),
        Function("ge", (V, V), None, _ge, builtin=True),
        Function("len", (V,), None, _len, builtin=True),
        Function("index", (V,), V, _index, builtin=True),
        Function("slice", (V,), V, _slice, builtin=True),
        Function("print", (), A, _print, builtin=True),
        Function("printf", (S,), A, _printf, builtin=True),
        Function("println", (), A, _println, builtin=True),
        Function("html", (), A, _html, builtin=True),
        Function("js", (), A, _js, builtin=True),
        Function("urlquery", (), A, _urlquery, builtin=True),
        Function("call", (V,), V, _call, builtin=True),
    )
}

EXTRAS: dict[str, Function] = {
    f.name: f
    for f in (
        Function("urlEncode", (S,), None, _query_escape),
        Function("urlPathEncode", (S,), None, _path_escape),
        Function("base64Encode", (S,), None, _base64_encode),
        Function("base64Decode", (S,), None, _base64_decode),
        Function("upper", (S,), None, _upper),
        Function("lower", (S,), None, _lower),
        Function("title", (S,), None, _title),
        Function("trim", (S,), None, _trim),
        Function("trimPrefix", (S, S), None, _trim_prefix),
        Function("trimSuffix", (S, S), None, _trim_suffix),
        Function("replace", (S, S, S), None, _replace),
        Function("quote", (S,), None, _quote),
        Function("squote", (S,), None, _squote),
        Function("default", (A,), A, _default),
        Function("toJson", (A,), None, _to_json),
        Function("join", (A, S), None, _join),
    )
}

#: Every function a template may call.
FUNCTIONS: dict[str, Function] = {**BUILTINS, **EXTRAS}
