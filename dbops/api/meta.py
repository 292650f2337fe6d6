"""Building blocks shared by every API model: the pydantic base, CEL rules, integer formats, object metadata,
conditions and the generic whole-object envelope.

Why pydantic (v2) and not dataclasses: the models are parsed from apiserver JSON (camelCase, with fields the
operator may not know yet), must apply the schema's defaults and constraints when they are built in Python, and are
the single source of the CRD schemas. Pydantic gives aliases, defaults, constraint checking and a JSON schema out of
the box; with dataclasses all three would have to be written by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

GROUP = "dbops.dbprovision.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

#: The literal value of an acknowledgement that a restore may destroy data.
DATA_LOSS_ACK = "I-UNDERSTAND-DATA-LOSS"

#: Server-side names: databases, accounts, roles (api.md 1.2 "identifier").
IDENTIFIER_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
#: One entry of a privilege list (api.md 1.2).
PRIVILEGE_PATTERN = r"^[A-Z][A-Z ]*$"


@dataclass(frozen=True)
class CelRule:
    """One ``x-kubernetes-validations`` entry, with the Python predicate that means the same thing.

    ``check`` receives the model instance at the rule's location (defaults already applied, as the apiserver does
    before it runs CEL) and returns True when the object is valid. Keeping the predicate next to the CEL text lets
    :mod:`dbops.api.validation` check manifests offline, and the tests prove both reject the same objects.
    """

    rule: str
    message: str
    check: Callable[[Any], bool]
    field_path: str | None = None

    def to_schema(self) -> dict[str, str]:
        out = {"message": self.message, "rule": self.rule}
        if self.field_path:
            out["fieldPath"] = self.field_path
        return out


class ApiModel(BaseModel):
    """Base of every spec and status type.

    Python attributes are snake_case; the wire names are camelCase aliases, and both are accepted on input.
    Unknown fields are kept (``extra="allow"``) so that an object written by a newer CRD survives a parse/dump
    round trip, for example when a schedule copies its template into a backup. The schema generator removes the
    resulting ``additionalProperties: true``; the apiserver prunes unknown fields anyway.

    Class-level CEL rules go in ``cel_rules`` and end up as ``x-kubernetes-validations`` on this type's schema,
    wherever the type is used.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="allow",
    )

    cel_rules: ClassVar[tuple[CelRule, ...]] = ()

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler(core_schema)
        if cls.cel_rules:
            target = handler.resolve_ref_schema(schema)
            target["x-kubernetes-validations"] = [rule.to_schema() for rule in cls.cel_rules]
        return schema

    def to_dict(self) -> dict[str, Any]:
        """Wire form: camelCase keys, JSON types, absent optional fields omitted."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


@dataclass(frozen=True)
class Immutable:
    """Marks a field whose value may not change after creation (CEL transition rule ``self == oldSelf``).

    Used as ``Annotated[str, Immutable("name is immutable")]``; :func:`dbops.api.validation.validate_update`
    enforces the same rule in Python.
    """

    message: str
    rule: str = "self == oldSelf"

    def __get_pydantic_json_schema__(self, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema.setdefault("x-kubernetes-validations", []).append({"message": self.message, "rule": self.rule})
        return schema


@dataclass(frozen=True)
class _IntFormat:
    """Adds the OpenAPI ``format`` (int32/int64) that Kubernetes clients use to pick integer widths."""

    fmt: str

    def __get_pydantic_json_schema__(self, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["format"] = self.fmt
        return schema


@dataclass(frozen=True)
class SchemaExtra:
    """Extra OpenAPI keywords for one field that pydantic has no notion of (list types, map keys)."""

    values: tuple[tuple[str, Any], ...]

    def __get_pydantic_json_schema__(self, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler(core_schema)
        # Values are stored as tuples (the marker must be hashable); OpenAPI wants lists.
        schema.update({k: list(v) if isinstance(v, tuple) else v for k, v in self.values})
        return schema


Int32 = Annotated[int, _IntFormat("int32")]
Int64 = Annotated[int, _IntFormat("int64")]
Identifier = Annotated[str, Field(min_length=1, max_length=63, pattern=IDENTIFIER_PATTERN)]
Privilege = Annotated[str, Field(pattern=PRIVILEGE_PATTERN)]
#: A privilege list: 1-20 upper-case entries (api.md 1.2).
PrivilegeList = Annotated[list[Privilege], Field(min_length=1, max_length=20)]

ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(ApiModel):
    """A standard Kubernetes condition (metav1.Condition), with the same schema constraints."""

    type: str = Field(
        max_length=316,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
        description="Type of condition in CamelCase: Ready, Connected, Healthy, Synced or OptionsHonored.",
    )
    status: ConditionStatus = Field(description="Status of the condition: True, False or Unknown.")
    observed_generation: Int64 | None = Field(
        None, ge=0, description="The metadata.generation that the condition was computed for."
    )
    last_transition_time: datetime = Field(
        description="Last time the condition's status changed; a change of reason or message alone keeps it."
    )
    reason: str = Field(
        min_length=1,
        max_length=1024,
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        description="Programmatic CamelCase identifier of the reason for the condition's last change.",
    )
    message: str = Field(max_length=32768, description="Human-readable details about the condition; may be empty.")


#: ``status.conditions`` of every kind: a list keyed by ``type`` (server-side apply merges by type).
Conditions = Annotated[
    list[Condition],
    SchemaExtra((("x-kubernetes-list-type", "map"), ("x-kubernetes-list-map-keys", ("type",)))),
]


class OwnerReference(BaseModel):
    """metav1.OwnerReference, as far as the operator uses it."""

    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, validate_by_alias=True, serialize_by_alias=True, extra="allow"
    )

    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ObjectMeta(BaseModel):
    """metav1.ObjectMeta, as far as the operator uses it; everything else is kept as extra fields.

    Labels, annotations, finalizers and owner references default to empty containers so that controllers can
    read them without None checks.
    """

    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, validate_by_alias=True, serialize_by_alias=True, extra="allow"
    )

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    finalizers: list[str] = Field(default_factory=list)
    owner_references: list[OwnerReference] = Field(default_factory=list)


SpecT = TypeVar("SpecT", bound=ApiModel)
StatusT = TypeVar("StatusT", bound=ApiModel)


class Resource(BaseModel, Generic[SpecT, StatusT]):
    """A whole custom object: ``apiVersion``, ``kind``, ``metadata``, ``spec`` and ``status``.

    Subclasses fix ``kind`` to a literal, so parsing the wrong kind fails loudly instead of producing a
    half-filled model. Unknown top-level fields are kept.
    """

    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, validate_by_alias=True, serialize_by_alias=True, extra="allow"
    )

    api_version: str = API_VERSION
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: SpecT
    status: StatusT | None = None

    @property
    def name(self) -> str:
        return self.metadata.name or ""

    @property
    def namespace(self) -> str | None:
        return self.metadata.namespace

    def to_dict(self) -> dict[str, Any]:
        """Wire form: camelCase keys, JSON types, absent optional fields omitted."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


ItemT = TypeVar("ItemT", bound=BaseModel)


class ResourceList(BaseModel, Generic[ItemT]):
    """A ``<Kind>List`` response: the list's metadata (resourceVersion, continue) and the items."""

    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, validate_by_alias=True, serialize_by_alias=True, extra="allow"
    )

    api_version: str = API_VERSION
    kind: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
    items: list[ItemT] = Field(default_factory=list)
