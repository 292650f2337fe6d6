"""The Go value model the evaluator works on.

Python values stand for Go values: ``str`` is ``string``, ``bool`` is ``bool``, ``int`` is ``int``, :class:`Uint8`
is ``uint8`` (what ``index`` returns for a string), ``float`` is ``float64``, ``None`` is an untyped nil, ``list``
and ``tuple`` are ``[]interface {}``, and :class:`Struct` is the template's data (a struct with named fields).
Only the kinds matter for evaluation (truth, comparison, which function parameters accept a value); type names
only appear in error messages and ``printf``'s ``%T``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum, auto
from typing import Any

__all__ = ["Kind", "Struct", "Uint8", "is_true", "kind_of", "type_name"]


class Uint8(int):
    """A Go ``uint8`` (a byte)."""

    __slots__ = ()


class Struct:
    """A Go struct value: an ordered set of exported fields, addressed by exact (case-sensitive) name."""

    __slots__ = ("fields", "type_name")

    def __init__(self, type_name: str, fields: Mapping[str, Any]) -> None:
        self.type_name = type_name
        self.fields = dict(fields)

    def __repr__(self) -> str:  # never show field values: they include the password
        return f"Struct({self.type_name}, fields={list(self.fields)})"


class Kind(Enum):
    INVALID = auto()  # untyped nil
    BOOL = auto()
    INT = auto()
    UINT = auto()
    FLOAT = auto()
    STRING = auto()
    SLICE = auto()
    STRUCT = auto()


def kind_of(value: Any) -> Kind:
    if value is None:
        return Kind.INVALID
    if isinstance(value, bool):
        return Kind.BOOL
    if isinstance(value, Uint8):
        return Kind.UINT
    if isinstance(value, int):
        return Kind.INT
    if isinstance(value, float):
        return Kind.FLOAT
    if isinstance(value, str):
        return Kind.STRING
    if isinstance(value, Struct):
        return Kind.STRUCT
    if isinstance(value, Sequence):
        return Kind.SLICE
    raise TypeError(f"unsupported template value type {type(value).__name__}")


_TYPE_NAMES = {
    Kind.INVALID: "<nil>",
    Kind.BOOL: "bool",
    Kind.INT: "int",
    Kind.UINT: "uint8",
    Kind.FLOAT: "float64",
    Kind.STRING: "string",
    Kind.SLICE: "[]interface {}",
}


def type_name(value: Any) -> str:
    """Go's ``reflect.TypeOf(v).String()`` for the values the engine handles."""
    k = kind_of(value)
    if k is Kind.STRUCT:
        return str(value.type_name)
    return _TYPE_NAMES[k]


def is_true(value: Any) -> bool:
    """Go's ``template.IsTrue``: false, 0, nil and empty strings or lists are false; structs are true."""
    k = kind_of(value)
    if k is Kind.INVALID:
        return False
    if k is Kind.STRUCT:
        return True
    if k in (Kind.STRING, Kind.SLICE):
        return len(value) > 0
    return bool(value)
