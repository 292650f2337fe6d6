"""Offline validation of manifests with the same rules the apiserver applies.

Parsing a model already enforces the schema (required fields, enums, patterns, ranges, item counts). The CEL rules
are *not* run at parse time on purpose: an object stored before a rule existed must still parse, or a controller
could not even release its finalizer. Callers that want the full admission check (``dbctl``, tests, the adoption
code before it creates objects) use :func:`validate_manifest` and :func:`validate_update`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from dbops.api.kinds import by_kind
from dbops.api.meta import ApiModel, Immutable, ObjectMeta


@dataclass(frozen=True)
class Violation:
    """One reason an object would be rejected, with the field path as the apiserver spells it."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _alias(model: BaseModel, name: str) -> str:
    field = type(model).model_fields[name]
    return field.alias or name


def _children(model: BaseModel, path: str) -> Iterator[tuple[BaseModel, str]]:
    for name in type(model).model_fields:
        value = getattr(model, name)
        child_path = _join(path, _alias(model, name))
        if isinstance(value, BaseModel):
            yield value, child_path
        elif isinstance(value, list):
            yield from ((v, _join(child_path, i)) for i, v in enumerate(value) if isinstance(v, BaseModel))
        elif isinstance(value, dict):
            yield from ((v, _join(child_path, k)) for k, v in value.items() if isinstance(v, BaseModel))


def cel_violations(model: BaseModel, path: str = "") -> list[Violation]:
    """The CEL rules (Python equivalents) that ``model`` or anything inside it breaks."""
    out: list[Violation] = []
    if isinstance(model, ApiModel):
        for rule in model.cel_rules:
            if not rule.check(model):
                out.append(Violation(path + (rule.field_path or ""), rule.message))
    for child, child_path in _children(model, path):
        out.extend(cel_violations(child, child_path))
    return out


def unknown_fields(model: BaseModel, path: str = "") -> list[Violation]:
    """Fields the schema does not know (the apiserver would prune them; ``kubectl`` rejects them as strict)."""
    if isinstance(model, ObjectMeta):
        return []
    out = [Violation(_join(path, key), "unknown field") for key in (model.model_extra or {})]
    for child, child_path in _children(model, path):
        out.extend(unknown_fields(child, child_path))
    return out


def _pydantic_violations(error: ValidationError) -> list[Violation]:
    out = []
    for err in error.errors():
        path = ""
        for key in err["loc"]:
            path = _join(path, key)
        out.append(Violation(path, err["msg"]))
    return out


def validate_manifest(obj: dict[str, Any]) -> list[Violation]:
    """Everything the apiserver would reject in a create of ``obj``: schema, CEL rules and unknown fields."""
    try:
        info = by_kind(str(obj.get("kind")))
    except KeyError:
        return [Violation("kind", f"unknown kind {obj.get('kind')!r}")]
    try:
        resource = info.model.model_validate(obj)
    except ValidationError as exc:
        return _pydantic_violations(exc)
    return unknown_fields(resource) + cel_violations(resource)


def _immutable_violations(old: BaseModel, new: BaseModel, path: str) -> Iterator[Violation]:
    for name, field in type(new).model_fields.items():
        old_value, new_value = getattr(old, name, None), getattr(new, name)
        field_path = _join(path, field.alias or name)
        marker = next((m for m in field.metadata if isinstance(m, Immutable)), None)
        # A transition rule runs only when the field exists in both the old and the new object.
        if marker and old_value is not None and new_value is not None and old_value != new_value:
            yield Violation(field_path, marker.message)
        if isinstance(old_value, BaseModel) and isinstance(new_value, BaseModel):
            yield from _immutable_violations(old_value, new_value, field_path)


def validate_update(old: dict[str, Any], new: dict[str, Any]) -> list[Violation]:
    """Everything the apiserver would reject in an update from ``old`` to ``new``, including immutable fields."""
    problems = validate_manifest(new)
    if problems:
        return problems
    info = by_kind(str(new.get("kind")))
    old_resource = info.model.model_validate(old)
    new_resource = info.model.model_validate(new)
    return list(_immutable_violations(old_resource, new_resource, ""))
