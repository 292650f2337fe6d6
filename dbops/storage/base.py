"""The storage backend interface every backup store implements (backup.md 5), and what they share.

* :class:`ObjectStore` — the one protocol the backup and restore runners use: write an object in parts
  (:class:`~dbops.backup.interfaces.ObjectWriter`), read it as a stream (:class:`~dbops.backup.interfaces.Source`),
  ``stat``, ``delete`` and ``list`` by prefix. Keys are **full keys** (backup.md 6.1: the prefix is applied once, by
  the caller); a store never adds a prefix of its own, so a recorded ``status.backup.path`` is used as is.
* :class:`StorageError` — every failure of a store, with a message that names the backend, the bucket or path and
  the key, never a credential, so controllers can put it into a condition as it is.
* :func:`check_key` — the shape every key must have on every backend, so an object written to S3 can be written
  to a PVC under the same key (and no key can leave a PVC's directory).

The retry policy lives in :mod:`dbops.storage.retry`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal, Protocol, runtime_checkable

from dbops.backup.errors import BackupError
from dbops.backup.interfaces import ObjectWriter, Source

__all__ = [
    "MAX_KEY_BYTES",
    "ErrorKind",
    "ObjectInfo",
    "ObjectStore",
    "StorageError",
    "check_key",
    "check_prefix",
]

MAX_KEY_BYTES: Final = 1024
"""S3's limit on a key's UTF-8 length; applied everywhere so keys stay portable between backends."""

ErrorKind = Literal[
    "access-denied",  # authentication or permission (not retried, backup.md 5.4)
    "no-bucket",  # the bucket or container does not exist (not retried)
    "not-found",  # the object does not exist
    "invalid",  # an invalid endpoint, key or request (not retried)
    "full",  # the volume is full (PVC)
    "not-mounted",  # the PVC is not mounted into the operator (backup.md 5.5)
    "unavailable",  # a retryable failure that persisted through every retry
    "failed",  # anything else
]


class StorageError(BackupError):
    """A storage operation failed.

    ``str()`` is the user-facing message: backend, location (bucket or directory) and key, then what happened.
    Credentials never appear in it; backends build it only from their configuration's non-secret parts and from the
    service's error code and message.
    """

    def __init__(
        self,
        message: str,
        *,
        backend: str,
        location: str,
        key: str | None = None,
        kind: ErrorKind = "failed",
        retryable: bool = False,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.backend = backend
        self.location = location
        self.key = key
        self.kind: ErrorKind = kind
        self.retryable = retryable
        """True when the cause was transient (retries ran out): a later attempt may succeed."""
        self.code = code
        """The service's error code (``AccessDenied``, ``NoSuchBucket``) or errno name, when there is one."""


@dataclass(frozen=True)
class ObjectInfo:
    """What ``stat`` and ``list`` report of one stored object."""

    key: str
    size: int
    modified: datetime
    """Last modification, timezone-aware (UTC)."""


@runtime_checkable
class ObjectStore(Protocol):
    """One configured storage location (an S3 bucket, a mounted PVC)."""

    @property
    def backend(self) -> str:
        """``s3``, ``pvc``, …: the name used in messages and metrics."""
        ...

    async def open_writer(self, key: str, *, size_hint: int | None = None) -> ObjectWriter:
        """Start writing ``key``; nothing is visible under it until ``complete()``.

        ``size_hint`` is the expected stored size when known (advisory: it never makes a write fail).
        """
        ...

    async def open_reader(self, key: str) -> Source:
        """A streaming read of ``key`` in bounded chunks; raises :class:`StorageError` (kind ``not-found``) when
        it does not exist."""
        ...

    async def stat(self, key: str) -> ObjectInfo | None:
        """Size and modification time of ``key``, ``None`` when it does not exist."""
        ...

    async def delete(self, key: str) -> None:
        """Remove ``key``; a missing object is success."""
        ...

    def list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        """Every complete object whose key starts with ``prefix`` (a plain string prefix, as S3 has it)."""
        ...

    async def close(self) -> None:
        """Release connections and threads; the store is unusable afterwards."""
        ...


def check_key(key: str) -> str:
    """``key`` when it is a valid object key, else :class:`ValueError`.

    A key is a relative ``/``-separated path: not empty, not absolute, no empty, ``.`` or ``..`` segment, no NUL or
    other control character, at most :data:`MAX_KEY_BYTES` UTF-8 bytes. These are the keys that mean the same thing
    on every backend: on a PVC a ``..`` segment or a leading ``/`` would leave the volume's directory, and on S3 they
    would create objects a file-system backend could never hold.
    """
    if not key:
        raise ValueError("an object key must not be empty")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise ValueError(f"an object key must be at most {MAX_KEY_BYTES} bytes")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in key):
        raise ValueError("an object key must not contain control characters")
    if key.startswith("/"):
        raise ValueError(f"an object key must be relative, not {key!r}")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise ValueError(f"an object key must not contain empty, '.' or '..' segments: {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    """``prefix`` when it is valid for ``list``: empty, or a key, or a key followed by a single ``/``."""
    if prefix:
        check_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix
