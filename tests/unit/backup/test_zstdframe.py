"""The zstd frame scanner: cuts at block ends, follows skippable frames, knows when a stream is complete."""

from __future__ import annotations

import pytest
import zstandard

from dbops.backup.errors import CorruptStream
from dbops.backup.zstdframe import ZstdFrameScanner
from tests.unit.backup.fakes import compressible


def frame(data: bytes, **kwargs: object) -> bytes:
    return zstandard.ZstdCompressor(level=3, **kwargs).compress(data)  # type: ignore[arg-type]


def scan(stream: bytes, piece: int) -> tuple[ZstdFrameScanner, list[bytes]]:
    scanner = ZstdFrameScanner()
    segments = [
        bytes(s) for start in range(0, len(stream), piece) for s in scanner.segments(stream[start : start + piece])
    ]
    return scanner, segments


@pytest.mark.parametrize("piece", [1, 7, 1000, 1 << 20])
@pytest.mark.parametrize(
    "options", [{}, {"write_checksum": True}, {"write_content_size": False}, {"write_dict_id": False}]
)
def test_segments_reassemble_and_each_decodes_at_most_one_block(piece: int, options: dict[str, object]) -> None:
    data = compressible(600_000)
    stream = frame(data, **options) + frame(b"", **options) + frame(data[:1000], **options)
    scanner, segments = scan(stream, piece)
    assert b"".join(segments) == stream
    assert scanner.complete
    assert scanner.frames == 3
    decoder = zstandard.ZstdDecompressor().decompressobj(read_across_frames=True)
    outputs = [decoder.decompress(s) for s in segments]
    assert b"".join(outputs) == data + data[:1000]
    assert max(len(o) for o in outputs) <= 128 * 1024


def test_incomplete_stream_is_not_complete() -> None:
    stream = frame(compressible(300_000), write_checksum=True)
    for cut in (0, 3, 4, 5, 10, len(stream) // 2, len(stream) - 4, len(stream) - 1):
        scanner, _ = scan(stream[:cut], 1000)
        assert not scanner.complete, cut


def test_skippable_frames_are_followed() -> None:
    skippable = b"\x5a\x2a\x4d\x18" + (5).to_bytes(4, "little") + b"hello"
    stream = skippable + frame(b"data") + b"\x50\x2a\x4d\x18" + bytes(4)
    scanner, segments = scan(stream, 3)
    assert b"".join(segments) == stream
    assert scanner.complete
    assert zstandard.ZstdDecompressor().decompressobj(read_across_frames=True).decompress(stream) == b"data"


def test_garbage_is_corrupt() -> None:
    with pytest.raises(CorruptStream):
        scan(frame(b"x") + b"nonsense", 100)
