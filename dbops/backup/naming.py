"""Object names and keys (backup.md 6.1, 6.2): pure functions.

``<database>-<backup>-<YYYYMMDD-HHMMSS><format ext><compression ext><encryption ext>`` under the prefix, applied
once. CockroachDB collections have no extensions. The metadata file is ``<key>.meta.json``.

Database names on the server may contain characters that are separators or special on a file system or in a URL
path (``/`` would create a directory on a PVC, and ``..`` with it a path outside the prefix). The name part is
therefore escaped: ``%``, ``/``, ``\\`` and control characters become ``%XX`` (so the escape is reversible and two
databases never share a name); every other character, unicode included, is kept, since object stores accept it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from dbops.api.storage import CompressionAlgorithm
from dbops.backup.compression import EXTENSIONS as COMPRESSION_EXTENSIONS
from dbops.backup.encryption import EXTENSION as ENCRYPTION_EXTENSION

__all__ = [
    "FORMAT_EXTENSIONS",
    "METADATA_SUFFIX",
    "backup_name",
    "candidate_keys",
    "escape_name",
    "format_of_key",
    "metadata_key",
    "normalize_prefix",
    "object_key",
    "timestamp",
]

FORMAT_EXTENSIONS: Final[dict[str, str]] = {
    "custom": ".dump",
    "tar": ".tar",
    "plain": ".sql",
    "directory": ".dir.tar",
    "mysqldump": ".sql",
    "clickhouse-dump-v1": ".chdump",
    "cockroachdb-native": "",
}
"""Extension per ``status.backup.format`` (backup.md 4)."""
METADATA_SUFFIX: Final = ".meta.json"
_NATIVE: Final = "cockroachdb-native"


def escape_name(name: str) -> str:
    """``name`` with ``%``, ``/``, ``\\`` and control characters percent-encoded (UTF-8 bytes)."""
    out = []
    for char in name:
        if char in "%/\\" or ord(char) < 0x20 or ord(char) == 0x7F:
            out.append("".join(f"%{b:02X}" for b in char.encode("utf-8")))
        else:
            out.append(char)
    return "".join(out)


def timestamp(started_at: datetime) -> str:
    """``YYYYMMDD-HHMMSS`` of the attempt's start, in UTC. A naive datetime is refused: its zone is unknown."""
    if started_at.tzinfo is None or started_at.utcoffset() is None:
        raise ValueError("the start time must be timezone-aware")
    return started_at.astimezone(UTC).strftime("%Y%m%d-%H%M%S")


def backup_name(
    database: str,
    backup: str,
    started_at: datetime,
    *,
    format: str,
    compression: CompressionAlgorithm | None = None,
    encrypted: bool = False,
) -> str:
    """The object (or CockroachDB collection) name of one attempt."""
    if not database or not backup:
        raise ValueError("the database and backup names must not be empty")
    try:
        extension = FORMAT_EXTENSIONS[format]
    except KeyError:
        raise ValueError(f"unknown backup format {format!r}") from None
    base = f"{escape_name(database)}-{escape_name(backup)}-{timestamp(started_at)}"
    if format == _NATIVE:
        return base
    if compression is not None:
        extension += COMPRESSION_EXTENSIONS[compression]
    if encrypted:
        extension += ENCRYPTION_EXTENSION
    return base + extension


def normalize_prefix(prefix: str | None) -> str:
    """The prefix without leading and trailing slashes (``""`` for none)."""
    return (prefix or "").strip("/")


def object_key(prefix: str | None, name: str) -> str:
    """``<prefix>/<name>``, or ``name`` without a prefix. The result is recorded as is and never prefixed again."""
    clean = normalize_prefix(prefix)
    return f"{clean}/{name}" if clean else name


def metadata_key(key: str) -> str:
    """The metadata file next to the object (or collection) at ``key``."""
    return key + METADATA_SUFFIX


def candidate_keys(key: str, prefix: str | None) -> tuple[str, ...]:
    """Keys to try, in order, for a recorded or hand-written ``key`` (backup.md 6.2): as written, then under the
    prefix — which resolves keys written relative to the prefix and objects of deployments that stored it twice."""
    clean = normalize_prefix(prefix)
    if not clean:
        return (key,)
    return (key, f"{clean}/{key.lstrip('/')}")


def format_of_key(key: str, engine: str) -> str | None:
    """The dump format a key's extensions name (for a ``fromPath`` object without metadata file): encryption and
    compression suffixes are stripped first. ``.sql`` is ``plain`` on PostgreSQL and ``mysqldump`` on MySQL/MariaDB.
    None when the extension names no format this engine restores."""
    name = key.rsplit("/", 1)[-1]
    if name.endswith(ENCRYPTION_EXTENSION):
        name = name[: -len(ENCRYPTION_EXTENSION)]
    for extension in COMPRESSION_EXTENSIONS.values():
        if name.endswith(extension):
            name = name[: -len(extension)]
            break
    if name.endswith(".sql"):
        return "mysqldump" if engine in ("mysql", "mariadb") else "plain"
    by_length = sorted(FORMAT_EXTENSIONS.items(), key=lambda item: -len(item[1]))  # `.dir.tar` before `.tar`
    for format_name, extension in by_length:
        if extension and extension != ".sql" and name.endswith(extension):
            return format_name
    return None
