"""The restore hold-back (backup.md 2, 8.4): the end of the decoded stream waits for the integrity checks.

The checksum of a stored object can only be compared once its last byte has been read, but the restore tool reads
while we download. The hold-back keeps the last ``size`` bytes (1 MiB) of the decoded stream and releases them only
from ``finish()`` — which the pipeline calls only after an orderly end of input, and an orderly end only reaches this
stage when every stage before it (checksum verifier, decryptor with its final-chunk authentication, decompressor
with its end-of-frame check) finished without error. On any failure the held bytes are dropped with the pipeline
and the sink is aborted, so the tool is terminated before it sees the end of its input, and tools that restore in a
single transaction roll everything back. A stream shorter than ``size`` is held entirely.

Bytes are held as the pieces that arrived (no copying), so at most ``size`` plus one piece is held.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Final

__all__ = ["DEFAULT_HOLDBACK", "HoldBack"]

DEFAULT_HOLDBACK: Final = 1 << 20


class HoldBack:
    """Releases all but the last ``size`` bytes as they arrive, and those only on an orderly end."""

    name = "holdback"
    offload = False

    def __init__(self, size: int = DEFAULT_HOLDBACK) -> None:
        if size < 0:
            raise ValueError("the hold-back size cannot be negative")
        self.size = size
        self.high_water = 0
        self._pieces: deque[bytes] = deque()
        self._held = 0

    @property
    def held(self) -> int:
        return self._held

    def update(self, data: bytes) -> Iterator[bytes]:
        self._pieces.append(data)
        self._held += len(data)
        self.high_water = max(self.high_water, self._held)
        while self._pieces and self._held - len(self._pieces[0]) >= self.size:
            piece = self._pieces.popleft()
            self._held -= len(piece)
            yield piece

    def finish(self) -> Iterator[bytes]:
        while self._pieces:
            piece = self._pieces.popleft()
            self._held -= len(piece)
            yield piece
