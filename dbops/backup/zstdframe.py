"""Structure of a zstd stream (RFC 8878), followed without decoding it.

The ``zstandard`` library's streaming decompressor returns *all* the output of the input it is given (no
``max_length``) and its stream reader accepts a truncated stream as a complete one. This scanner fills both gaps at
the cost of reading a few header bytes per block:

* :meth:`ZstdFrameScanner.segments` cuts the input right after every block, so each call into the decompressor
  decodes at most one block — at most 128 KiB of output — whatever the compression ratio;
* :attr:`ZstdFrameScanner.complete` says whether the stream ended between frames, so a stream cut inside a frame is
  reported as truncated instead of silently restored in part.

Skippable frames are followed too; the decompressor itself skips them. Anything that is neither a zstd nor a
skippable frame is :class:`~dbops.backup.errors.CorruptStream`.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum, auto
from typing import Final

from dbops.backup.errors import CorruptStream

__all__ = ["BLOCK_MAX_SIZE", "ZSTD_MAGIC", "ZstdFrameScanner"]

ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
BLOCK_MAX_SIZE: Final = 128 * 1024
"""Largest decoded size of one block (RFC 8878 3.1.1.2.3)."""
_SKIPPABLE_TAIL: Final = b"\x2a\x4d\x18"  # magic 0x184D2A5? little-endian: 5? 2a 4d 18


class _State(Enum):
    MAGIC = auto()
    DESCRIPTOR = auto()
    HEADER = auto()
    BLOCK_HEADER = auto()
    BLOCK_BODY = auto()
    CHECKSUM = auto()
    SKIP_SIZE = auto()
    SKIP_BODY = auto()


_FCS_SIZES: Final = (0, 2, 4, 8)
_DICT_ID_SIZES: Final = (0, 1, 2, 4)


class ZstdFrameScanner:
    """Follows frame and block boundaries of a zstd stream fed in arbitrary pieces."""

    def __init__(self) -> None:
        self.frames = 0
        self._state = _State.MAGIC
        self._need = 4  # bytes still needed to finish the current field
        self._field = bytearray()  # bytes of a field that has to be parsed (magic, descriptor, headers)
        self._checksum = False
        self._last_block = False

    @property
    def complete(self) -> bool:
        """True when the input so far ends exactly after a frame (and at least one zstd frame was seen)."""
        return self._state is _State.MAGIC and not self._field and self.frames > 0

    def segments(self, data: bytes) -> Iterator[memoryview]:
        """``data`` cut into consecutive segments, each ending at most at one block end (the last one anywhere)."""
        view = memoryview(data)
        start = pos = 0
        while pos < len(view):
            parse = self._state in (_State.MAGIC, _State.DESCRIPTOR, _State.BLOCK_HEADER, _State.SKIP_SIZE)
            take = min(self._need, len(view) - pos)
            if parse:
                self._field += view[pos : pos + take]
            pos += take
            self._need -= take
            if self._need:
                break
            if self._advance():
                yield view[start:pos]
                start = pos
        if start < len(view):
            yield view[start:]

    def _advance(self) -> bool:
        """Enter the next state once a field is complete; True when a block has just ended."""
        field, self._field = bytes(self._field), bytearray()
        state = self._state
        if state is _State.MAGIC:
            if field == ZSTD_MAGIC:
                self._state, self._need = _State.DESCRIPTOR, 1
            elif field[0] & 0xF0 == 0x50 and field[1:] == _SKIPPABLE_TAIL:
                self._state, self._need = _State.SKIP_SIZE, 4
            else:
                raise CorruptStream("corrupt zstd stream: expected the start of a frame")
        elif state is _State.DESCRIPTOR:
            fhd = field[0]
            if fhd & 0x08:
                raise CorruptStream("corrupt zstd stream: reserved bit set in a frame header")
            single_segment = bool(fhd & 0x20)
            fcs = _FCS_SIZES[fhd >> 6] or (1 if single_segment else 0)
            self._checksum = bool(fhd & 0x04)
            rest = (0 if single_segment else 1) + _DICT_ID_SIZES[fhd & 0x03] + fcs
            self.frames += 1
            self._state, self._need = (_State.HEADER, rest) if rest else (_State.BLOCK_HEADER, 3)
        elif state is _State.HEADER:
            self._state, self._need = _State.BLOCK_HEADER, 3
        elif state is _State.BLOCK_HEADER:
            header = int.from_bytes(field, "little")
            self._last_block = bool(header & 1)
            block_type = (header >> 1) & 0x03
            size = header >> 3
            if block_type == 3:
                raise CorruptStream("corrupt zstd stream: reserved block type")
            body = 1 if block_type == 1 else size
            if body:
                self._state, self._need = _State.BLOCK_BODY, body
            else:
                return self._end_block()
        elif state is _State.BLOCK_BODY:
            return self._end_block()
        elif state is _State.CHECKSUM:
            self._state, self._need = _State.MAGIC, 4
        elif state is _State.SKIP_SIZE:
            size = int.from_bytes(field, "little")
            self._state, self._need = (_State.SKIP_BODY, size) if size else (_State.MAGIC, 4)
        else:  # SKIP_BODY
            self._state, self._need = _State.MAGIC, 4
        return False

    def _end_block(self) -> bool:
        if not self._last_block:
            self._state, self._need = _State.BLOCK_HEADER, 3
        elif self._checksum:
            self._state, self._need = _State.CHECKSUM, 4
        else:
            self._state, self._need = _State.MAGIC, 4
        return True
