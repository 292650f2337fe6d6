"""The metadata file written next to every backup object (backup.md 6.3).

It is written *after* the object upload has completed, so its presence marks a complete backup, and a restore learns
format, compression, encryption and checksum from it. The file never holds key material: ``encryption`` names the
algorithm and the stream format only.

Reading is tolerant of what later versions may add (unknown fields are ignored) but strict about what a restore
relies on: ``formatVersion`` must be 1, the checksum must be a ``sha256:`` checksum, sizes must be non-negative.
Any problem is a :class:`MetadataError` naming the field, never echoing the document.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Final, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer, ValidationError
from pydantic.alias_generators import to_camel

from dbops.backup.checksum import parse_checksum
from dbops.backup.errors import StreamError

__all__ = [
    "FORMAT_VERSION",
    "BackupMetadata",
    "BackupReference",
    "CompressionInfo",
    "EncryptionInfo",
    "MetadataError",
]

FORMAT_VERSION: Final = 1


class MetadataError(StreamError):
    """A metadata file that cannot be used."""


def _to_utc_seconds(value: datetime) -> datetime:
    # Times are written like Kubernetes timestamps (RFC 3339, UTC, whole seconds); normalising on input too keeps a
    # model equal to what it reads back.
    return value.astimezone(UTC).replace(microsecond=0)


def _rfc3339(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


Time = Annotated[AwareDatetime, AfterValidator(_to_utc_seconds), PlainSerializer(_rfc3339, return_type=str)]
Checksum = Annotated[str, AfterValidator(parse_checksum)]


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="ignore",
        frozen=True,
    )


class BackupReference(_Model):
    """The DatabaseBackup resource that produced the object."""

    name: str
    namespace: str
    uid: str


class CompressionInfo(_Model):
    """``algorithm``: ``none``, ``gzip``, ``lz4``, ``zstd`` or ``native`` (CockroachDB); ``level``: the API level."""

    algorithm: str
    level: int | None = None


class EncryptionInfo(_Model):
    """``algorithm``: ``none``, ``aes-256-gcm`` or ``aes-256-cbc``; ``format``: ``dbops-v2`` (the operator's stream
    format), ``cockroachdb`` (passphrase encryption by the cluster) or ``None`` when not encrypted."""

    algorithm: str
    format: str | None = None


class BackupMetadata(_Model):
    """The ``<key>.meta.json`` document."""

    format_version: Literal[1] = FORMAT_VERSION
    engine: str
    server_version: str | None = None
    database: str
    backup: BackupReference
    started_at: Time
    completed_at: Time
    tool: str | None = None
    tool_version: str | None = None
    format: str
    compression: CompressionInfo
    encryption: EncryptionInfo
    size_bytes: int = Field(ge=0)
    compressed_size_bytes: int = Field(ge=0)
    checksum: Checksum
    table_count: int | None = Field(default=None, ge=0)

    def to_json(self) -> bytes:
        """The document as written to storage: UTF-8 JSON, camelCase keys, every field present."""
        return (self.model_dump_json(indent=2) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes | str) -> BackupMetadata:
        """Parse a stored document; :class:`MetadataError` when it is not a usable version-1 metadata file."""
        try:
            return cls.model_validate_json(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in error['loc']) or 'document'}: {error['msg']}" for error in exc.errors()
            )
            raise MetadataError(f"invalid backup metadata file: {problems}") from None
