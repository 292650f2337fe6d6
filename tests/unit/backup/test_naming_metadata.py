"""Object names and keys (backup.md 6.1, 6.2) and the metadata file (6.3)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from dbops.backup.metadata import BackupMetadata, BackupReference, CompressionInfo, EncryptionInfo, MetadataError
from dbops.backup.naming import (
    backup_name,
    candidate_keys,
    escape_name,
    metadata_key,
    normalize_prefix,
    object_key,
    timestamp,
)

START = datetime(2024, 3, 9, 4, 5, 6, 789, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"format": "custom", "compression": "gzip", "encrypted": True}, "app-nightly-20240309-040506.dump.gz.enc"),
        ({"format": "plain", "compression": "zstd"}, "app-nightly-20240309-040506.sql.zst"),
        ({"format": "tar", "compression": "lz4"}, "app-nightly-20240309-040506.tar.lz4"),
        ({"format": "directory"}, "app-nightly-20240309-040506.dir.tar"),
        ({"format": "mysqldump", "encrypted": True}, "app-nightly-20240309-040506.sql.enc"),
        ({"format": "clickhouse-dump-v1", "compression": "gzip"}, "app-nightly-20240309-040506.chdump.gz"),
        ({"format": "cockroachdb-native", "compression": "gzip", "encrypted": True}, "app-nightly-20240309-040506"),
    ],
)
def test_backup_name(kwargs: dict[str, object], name: str) -> None:
    assert backup_name("app", "nightly", START, **kwargs) == name  # type: ignore[arg-type]


def test_timestamp_is_utc_and_refuses_naive_times() -> None:
    assert timestamp(datetime(2024, 3, 9, 6, 5, 6, tzinfo=timezone(timedelta(hours=2)))) == "20240309-040506"
    with pytest.raises(ValueError, match="timezone-aware"):
        timestamp(datetime(2024, 3, 9))


def test_database_names_cannot_escape_the_prefix() -> None:
    assert escape_name("../../etc") == "..%2F..%2Fetc"
    assert escape_name("a%2Fb") == "a%252Fb"  # reversible: % itself is escaped
    assert escape_name("données\n") == "données%0A"
    assert "/" not in backup_name("x/../y", "b", START, format="plain")


@pytest.mark.parametrize(
    ("prefix", "key"), [(None, "n"), ("", "n"), ("/", "n"), ("backups", "backups/n"), ("/a/b/", "a/b/n")]
)
def test_object_key_applies_the_prefix_once(prefix: str | None, key: str) -> None:
    assert object_key(prefix, "n") == key
    assert metadata_key(key) == key + ".meta.json"
    assert normalize_prefix(prefix) == (prefix or "").strip("/")


def test_candidate_keys() -> None:
    assert candidate_keys("backups/n.dump", "/backups/") == ("backups/n.dump", "backups/backups/n.dump")
    assert candidate_keys("n.dump", "backups") == ("n.dump", "backups/n.dump")
    assert candidate_keys("n.dump", None) == ("n.dump",)


def sample(**changes: object) -> BackupMetadata:
    fields: dict[str, object] = {
        "engine": "postgres",
        "server_version": "15.6",
        "database": "app",
        "backup": BackupReference(name="nightly", namespace="prod", uid="6f1c"),
        "started_at": START,
        "completed_at": START + timedelta(minutes=3),
        "tool": "pg_dump",
        "tool_version": "15.6",
        "format": "custom",
        "compression": CompressionInfo(algorithm="zstd", level=6),
        "encryption": EncryptionInfo(algorithm="aes-256-gcm", format="dbops-v2"),
        "size_bytes": 123456789,
        "compressed_size_bytes": 23456789,
        "checksum": "sha256:" + "ab" * 32,
        "table_count": 12,
    }
    fields.update(changes)
    return BackupMetadata(**fields)


def test_metadata_round_trip_and_wire_names() -> None:
    metadata = sample()
    document = json.loads(metadata.to_json())
    assert document == {
        "formatVersion": 1,
        "engine": "postgres",
        "serverVersion": "15.6",
        "database": "app",
        "backup": {"name": "nightly", "namespace": "prod", "uid": "6f1c"},
        "startedAt": "2024-03-09T04:05:06Z",
        "completedAt": "2024-03-09T04:08:06Z",
        "tool": "pg_dump",
        "toolVersion": "15.6",
        "format": "custom",
        "compression": {"algorithm": "zstd", "level": 6},
        "encryption": {"algorithm": "aes-256-gcm", "format": "dbops-v2"},
        "sizeBytes": 123456789,
        "compressedSizeBytes": 23456789,
        "checksum": "sha256:" + "ab" * 32,
        "tableCount": 12,
    }
    assert BackupMetadata.from_json(metadata.to_json()) == metadata
    assert "key" not in metadata.to_json().decode().lower().replace("keys", "")


def test_metadata_reading_ignores_unknown_fields_and_accepts_minimal_documents() -> None:
    document = json.loads(sample().to_json())
    document["addedLater"] = {"x": 1}
    for optional in ("serverVersion", "tool", "toolVersion", "tableCount"):
        del document[optional]
    parsed = BackupMetadata.from_json(json.dumps(document))
    assert parsed.table_count is None
    assert parsed.checksum == "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"formatVersion": 2}, "formatVersion"),
        ({"checksum": "md5:00"}, "checksum"),
        ({"sizeBytes": -1}, "sizeBytes"),
        ({"startedAt": "2024-03-09T04:05:06"}, "startedAt"),
    ],
)
def test_metadata_errors_name_the_field(change: dict[str, object], field: str) -> None:
    document = json.loads(sample().to_json()) | change
    with pytest.raises(MetadataError, match=f"invalid backup metadata file: {field}"):
        BackupMetadata.from_json(json.dumps(document))
    with pytest.raises(MetadataError, match="document"):
        BackupMetadata.from_json(b"not json")
