"""Compression codecs (backup.md 7): level mapping, round trips, bounded output, truncation, detection."""

from __future__ import annotations

import gzip
import zlib

import lz4.frame
import pytest
import zstandard

from dbops.api.storage import CompressionAlgorithm
from dbops.backup.compression import (
    ALGORITHMS,
    EXTENSIONS,
    CompressionSettings,
    Decompressor,
    compressor,
    detect,
    library_level,
)
from dbops.backup.errors import CorruptStream, TruncatedStream
from dbops.engines.errors import InvalidSpec
from tests.unit.backup.fakes import compressible, random_bytes, run_codec

MiB = 1 << 20


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("gzip", [1, 2, 3, 4, 5, 6, 7, 8, 9]),
        ("zstd", [1, 1, 1, 3, 3, 3, 11, 11, 11]),
        ("lz4", [0, 0, 0, 5, 5, 5, 9, 9, 9]),
    ],
)
def test_level_mapping(algorithm: CompressionAlgorithm, expected: list[int]) -> None:
    assert [library_level(algorithm, level) for level in range(1, 10)] == expected


@pytest.mark.parametrize("level", [0, 10, -1, True])
def test_level_out_of_range_is_invalid_spec(level: int) -> None:
    with pytest.raises(InvalidSpec, match="1 to 9"):
        CompressionSettings("gzip", level)


def test_extensions_and_magic() -> None:
    assert EXTENSIONS == {"gzip": ".gz", "lz4": ".lz4", "zstd": ".zst"}
    assert detect(b"\x1f\x8b\x08\x00") == "gzip"
    assert detect(b"\x28\xb5\x2f\xfd") == "zstd"
    assert detect(b"\x04\x22\x4d\x18") == "lz4"
    assert detect(b"PGDMP") is None


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("level", [1, 6, 9])
def test_output_is_readable_by_the_reference_tools(algorithm: CompressionAlgorithm, level: int) -> None:
    data = compressible(3 * MiB)
    stored = run_codec(compressor(CompressionSettings(algorithm, level)), data)
    assert len(stored) < len(data) * 3 // 4
    reference = {
        "gzip": gzip.decompress,
        "zstd": lambda b: zstandard.ZstdDecompressor().decompressobj().decompress(b),
        "lz4": lz4.frame.decompress,
    }[algorithm]
    assert reference(stored) == data


def test_lz4_fast_and_high_compression_modes_differ() -> None:
    data = compressible(2 * MiB)
    fast = run_codec(compressor(CompressionSettings("lz4", 1)), data)
    high = run_codec(compressor(CompressionSettings("lz4", 9)), data)
    assert len(high) < len(fast)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("make", [compressible, random_bytes, lambda n: b""])
@pytest.mark.parametrize("piece", [4093, 1 << 20])
def test_round_trip(algorithm: CompressionAlgorithm, make: object, piece: int) -> None:
    data = make(3 * MiB)  # type: ignore[operator]
    stored = run_codec(compressor(CompressionSettings(algorithm, 6)), data)
    decompressor = Decompressor(algorithm)
    assert run_codec(decompressor, stored, piece) == data
    assert decompressor.algorithm == algorithm
    assert decompressor.warnings == []


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_byte_at_a_time_feeding_decodes(algorithm: CompressionAlgorithm) -> None:
    data = compressible(20_000)
    stored = run_codec(compressor(CompressionSettings(algorithm, 6)), data)
    assert run_codec(Decompressor(algorithm), stored, 1) == data


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_decompression_output_is_bounded_whatever_the_ratio(algorithm: CompressionAlgorithm) -> None:
    """256 MiB of zeros compress to kilobytes; decoding must still yield pieces of at most max_output."""
    zeros = bytes(256 * MiB)
    stored = run_codec(compressor(CompressionSettings(algorithm, 9)), zeros, piece=4 * MiB)
    assert len(stored) < 2 * MiB
    decompressor = Decompressor(algorithm, max_output=MiB)
    total = 0
    largest = 0
    for start in range(0, len(stored), MiB):
        for piece in decompressor.update(stored[start : start + MiB]):
            largest = max(largest, len(piece))
            total += len(piece)
    for piece in decompressor.finish():
        largest = max(largest, len(piece))
        total += len(piece)
    assert total == len(zeros)
    assert largest <= MiB


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("keep", [0.5, -1])
def test_truncation_is_detected(algorithm: CompressionAlgorithm, keep: float) -> None:
    stored = run_codec(compressor(CompressionSettings(algorithm, 6)), compressible(MiB))
    cut = stored[: int(len(stored) * keep)] if keep > 0 else stored[:-1]
    with pytest.raises(TruncatedStream, match=algorithm):
        run_codec(Decompressor(algorithm), cut)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_corruption_is_detected(algorithm: CompressionAlgorithm) -> None:
    stored = bytearray(run_codec(compressor(CompressionSettings(algorithm, 6)), compressible(MiB)))
    stored[len(stored) // 2] ^= 0x40
    with pytest.raises(CorruptStream):
        run_codec(Decompressor(algorithm), bytes(stored))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_concatenated_members_are_decoded_in_sequence(algorithm: CompressionAlgorithm) -> None:
    a, b = compressible(100_000, seed=2), compressible(70_000, seed=3)
    settings = CompressionSettings(algorithm, 3)
    stored = run_codec(compressor(settings), a) + run_codec(compressor(settings), b)
    assert run_codec(Decompressor(algorithm), stored, 5000) == a + b


def test_trailing_garbage_is_corrupt() -> None:
    stored = run_codec(compressor(CompressionSettings("zstd", 3)), compressible(10_000)) + b"garbage!"
    with pytest.raises(CorruptStream):
        run_codec(Decompressor("zstd"), stored)


def test_magic_bytes_win_over_configuration() -> None:
    data = compressible(200_000)
    stored = run_codec(compressor(CompressionSettings("zstd", 3)), data)
    wrong = Decompressor("gzip")
    assert run_codec(wrong, stored) == data
    assert wrong.algorithm == "zstd"
    assert wrong.warnings == ["the stored stream is zstd-compressed (configured compression: gzip); using the stream"]


def test_uncompressed_stream_passes_through() -> None:
    data = b"PGDMP" + random_bytes(100_000)
    configured_none = Decompressor("none")
    assert run_codec(configured_none, data) == data
    assert configured_none.algorithm is None
    assert configured_none.warnings == []
    configured_gzip = Decompressor("gzip")
    assert run_codec(configured_gzip, data) == data
    assert "not compressed" in configured_gzip.warnings[0]


def test_tiny_streams() -> None:
    assert run_codec(Decompressor(None), b"") == b""
    assert run_codec(Decompressor(None), b"ab") == b"ab"
    with pytest.raises(TruncatedStream):
        run_codec(Decompressor("gzip"), b"\x1f\x8b\x08")


def test_gzip_detects_bad_crc() -> None:
    stored = bytearray(gzip.compress(b"hello world" * 100))
    stored[-8] ^= 1  # CRC-32 of the member
    with pytest.raises(CorruptStream):
        run_codec(Decompressor("gzip"), bytes(stored))
    assert zlib.crc32(b"") == 0
