"""Turns a model's pydantic JSON schema into a structural OpenAPI v3 schema that kube-apiserver accepts.

Pydantic already knows every field's type, alias, default, enum and constraint, so the model stays the single source
of truth; this module only reshapes its output:

* ``$ref`` / ``$defs`` are inlined (structural schemas cannot reference),
* ``anyOf: [X, null]`` of optional fields collapses to ``X`` and ``default: null`` is dropped (absent == unset),
* ``title`` and the ``additionalProperties: true`` that ``extra="allow"`` produces are removed,
* every node must end up with a ``type``, and every field must carry a ``description`` (``kubectl explain``).

Anything pydantic emits that has no structural equivalent (real unions, ``const``, ``oneOf``) is an error, so a
model change that cannot be expressed in a CRD fails generation instead of producing a schema the apiserver rejects.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

JsonSchema = dict[str, Any]

_DROP = frozenset({"title"})
_FORBIDDEN = frozenset({"oneOf", "const", "$defs", "not", "discriminator"})


class SchemaError(ValueError):
    """The model cannot be expressed as a structural CRD schema."""


def openapi_schema(model: type[BaseModel]) -> JsonSchema:
    """The structural OpenAPI v3 schema of ``model`` (wire names, defaults, validations, descriptions)."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs: dict[str, JsonSchema] = raw.pop("$defs", {})
    return _convert(raw, defs, model.__name__)


def _resolve(node: JsonSchema, defs: dict[str, JsonSchema], path: str) -> JsonSchema:
    """Inline ``$ref``, ``allOf: [ref]`` and ``anyOf: [X, null]``; keys on ``node`` override the target's."""
    node = dict(node)
    if "$ref" in node:
        target = copy.deepcopy(defs[node.pop("$ref").rsplit("/", 1)[-1]])
        return _resolve({**target, **node}, defs, path)
    if "allOf" in node:
        parts = node.pop("allOf")
        if len(parts) != 1:
            raise SchemaError(f"{path}: allOf with {len(parts)} parts is not supported")
        return _resolve({**parts[0], **node}, defs, path)
    if "anyOf" in node:
        branches = [b for b in node.pop("anyOf") if b != {"type": "null"}]
        if len(branches) != 1:
            raise SchemaError(f"{path}: unions are not structural ({len(branches)} non-null branches)")
        if node.get("default", ...) is None:
            del node["default"]
        return _resolve({**branches[0], **node}, defs, path)
    return node


def _convert(node: JsonSchema, defs: dict[str, JsonSchema], path: str) -> JsonSchema:
    node = _resolve(node, defs, path)
    bad = _FORBIDDEN & node.keys()
    if bad:
        raise SchemaError(f"{path}: {sorted(bad)} has no structural equivalent")
    out: JsonSchema = {k: v for k, v in node.items() if k not in _DROP}
    if out.get("default", ...) is None:
        del out["default"]

    if isinstance(out.get("additionalProperties"), bool):
        del out["additionalProperties"]
    if "properties" in out:
        props: JsonSchema = {}
        for name, prop in out["properties"].items():
            if "description" not in prop:
                raise SchemaError(f"{path}.{name}: every field needs a description (kubectl explain shows it)")
            props[name] = _convert(prop, defs, f"{path}.{name}")
        out["properties"] = props
        out.setdefault("type", "object")
    if "required" in out:
        out["required"] = sorted(out["required"])
    if "items" in out:
        out["items"] = _convert(out["items"], defs, f"{path}[]")
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = _convert(out["additionalProperties"], defs, f"{path}{{}}")

    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if "type" not in out:
        raise SchemaError(f"{path}: no type (structural schemas need one on every node)")
    if not isinstance(out["type"], str):
        raise SchemaError(f"{path}: type must be a single type, got {out['type']!r}")
    return out
