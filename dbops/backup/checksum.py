"""SHA-256 and byte count of the stored bytes (backup.md 9).

On backup, :class:`Sha256Hasher` sits right before the uploader and sees exactly the bytes that are stored, so
``checksum`` and ``compressedSizeBytes`` describe the object as uploaded. On restore, :class:`ChecksumVerifier` sits
right after the downloader and compares both at the end of the stream.

The verifier raises from ``finish()``; because the pipeline only ever delivers an orderly end downstream after
``finish()`` returned, nothing after it (in particular the hold-back in front of the restore tool) sees the end of a
stream whose checksum did not match. A recorded size also lets the verifier fail *early*: the moment more bytes
arrive than were recorded.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Final

from dbops.backup.codec import ByteCounter
from dbops.backup.errors import ChecksumMismatch, SizeMismatch

__all__ = ["CHECKSUM_PREFIX", "ChecksumVerifier", "Sha256Hasher", "format_checksum", "parse_checksum"]

CHECKSUM_PREFIX: Final = "sha256:"
_CHECKSUM = re.compile(r"sha256:([0-9a-fA-F]{64})")


def format_checksum(digest: bytes) -> str:
    """``sha256:<64 lowercase hex>`` for a raw SHA-256 digest."""
    if len(digest) != 32:
        raise ValueError("a SHA-256 digest has 32 bytes")
    return CHECKSUM_PREFIX + digest.hex()


def parse_checksum(value: str) -> str:
    """Normalise a recorded checksum to lowercase ``sha256:<hex>``; ``ValueError`` when it is not one."""
    match = _CHECKSUM.fullmatch(value.strip())
    if match is None:
        raise ValueError("a checksum is 'sha256:' followed by 64 hexadecimal digits")
    return CHECKSUM_PREFIX + match.group(1).lower()


class Sha256Hasher(ByteCounter):
    """Hashes and counts the bytes that pass through unchanged (the "hasher and stored counter" of backup.md 2)."""

    offload = True

    def __init__(self) -> None:
        super().__init__("sha256")  # no progress callback: this runs in a worker thread
        self._hash = hashlib.sha256()

    @property
    def checksum(self) -> str:
        """``sha256:<hex>`` of the bytes seen so far (final once the stream has ended)."""
        return format_checksum(self._hash.digest())

    def update(self, data: bytes) -> Iterator[bytes]:
        self._hash.update(data)
        yield from super().update(data)


class ChecksumVerifier(Sha256Hasher):
    """A :class:`Sha256Hasher` that checks the recorded size and checksum, when they are known.

    Without a recorded checksum (a hand-made object without a metadata file) it only measures; the restore then
    relies on authenticated encryption and the compressed formats' own checks.
    """

    def __init__(
        self,
        expected_checksum: str | None = None,
        expected_size: int | None = None,
    ) -> None:
        super().__init__()
        self.expected_checksum = parse_checksum(expected_checksum) if expected_checksum is not None else None
        self.expected_size = expected_size

    def update(self, data: bytes) -> Iterator[bytes]:
        if self.expected_size is not None and self.count + len(data) > self.expected_size:
            raise SizeMismatch(self.expected_size, self.count + len(data), at_least=True)
        yield from super().update(data)

    def finish(self) -> Iterator[bytes]:
        if self.expected_size is not None and self.count != self.expected_size:
            raise SizeMismatch(self.expected_size, self.count)
        if self.expected_checksum is not None and self.checksum != self.expected_checksum:
            raise ChecksumMismatch(self.expected_checksum, self.checksum)
        yield from ()
