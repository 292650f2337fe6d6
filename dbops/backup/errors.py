"""Errors of the backup stream.

Two families matter to a controller, because they lead to different conditions and messages:

* :class:`IntegrityError` — the stored bytes are not what was written (checksum or size mismatch, failed
  authentication, truncation, corrupt compressed data). A restore that raises one never released the end of its
  stream to the sink (see :mod:`dbops.backup.holdback`).
* :class:`StreamError` — everything else the stream itself detects (an unsupported format version, a key missing
  for an encrypted object).

Invalid settings (a key that is not 32 bytes, a compression level out of range) are
:class:`~dbops.engines.errors.InvalidSpec`, like every other spec error, so they map to reason ``InvalidSpec``.

No message ever contains key material, a password or stored payload bytes; they name the object's structure (chunk
index, byte counts, algorithm) only.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationFailed",
    "BackupError",
    "ChecksumMismatch",
    "CorruptStream",
    "IntegrityError",
    "SizeMismatch",
    "StreamError",
    "TruncatedStream",
]


class BackupError(Exception):
    """Base of the errors raised by :mod:`dbops.backup`."""


class StreamError(BackupError):
    """The stream cannot be processed as configured (format version, missing key, unknown layout)."""


class IntegrityError(BackupError):
    """The stored bytes are not the bytes that were written: the object is corrupt, truncated or was modified."""


class ChecksumMismatch(IntegrityError):
    """The SHA-256 of the stored bytes differs from the recorded checksum (backup.md 9)."""

    def __init__(self, expected: str, actual: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__("checksum mismatch: the stored backup is corrupt or was modified")


class SizeMismatch(IntegrityError):
    """The number of stored bytes differs from the recorded ``compressedSizeBytes``."""

    def __init__(self, expected: int, actual: int, *, at_least: bool = False) -> None:
        self.expected = expected
        self.actual = actual
        got = f"more than {expected}" if at_least else str(actual)
        super().__init__(
            f"size mismatch: the stored backup has {got} bytes where {expected} were recorded; "
            "it is truncated, corrupt or was modified"
        )


class AuthenticationFailed(IntegrityError):
    """An encrypted chunk (or a legacy object's tag) did not authenticate: wrong key, or corrupt/modified bytes.

    AES-GCM cannot tell a wrong key from tampering, so the message names both.
    """


class TruncatedStream(IntegrityError):
    """The stream ended before its format says it is complete (inside a header, chunk or compressed frame)."""


class CorruptStream(IntegrityError):
    """The bytes do not follow the format they claim (bad compressed data, bad padding, malformed frame)."""
