"""Compression of the backup stream: gzip, lz4 (frame format) and zstd (backup.md 7).

* **Levels.** The API's level 1-9 is mapped per algorithm by :func:`library_level` (gzip as is; zstd 1-3 → 1,
  4-6 → 3, 7-9 → 11; lz4 1-3 → fast mode, 4-6 → high-compression 5, 7-9 → high-compression 9).
* **Writing.** :func:`compressor` returns an incremental compressor. Each format's own content check is switched on
  (gzip always has CRC-32 and length; lz4 and zstd get their content checksums), so a hand-made, unencrypted object
  without a metadata file still cannot be silently corrupt.
* **Reading.** :class:`Decompressor` takes the algorithm from the stream's magic bytes — they win over the
  configuration (a wrong ``fromPath.compression`` does not break a restore) — and records a warning when the two
  disagree. A stream without any known magic is passed through unchanged. Output comes in bounded pieces
  (``max_length`` for zlib and lz4, block-by-block feeding for zstd, see :mod:`dbops.backup.zstdframe`), and a stream
  that ends inside a member or frame raises :class:`~dbops.backup.errors.TruncatedStream`. Concatenated members or
  frames (``cat a.gz b.gz``, ``pigz``) are decoded in sequence.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final, Literal

import lz4.frame
import zstandard

from dbops.api.storage import CompressionAlgorithm
from dbops.backup.codec import Codec, Identity, Sniffer
from dbops.backup.errors import CorruptStream, TruncatedStream
from dbops.backup.zstdframe import BLOCK_MAX_SIZE, ZSTD_MAGIC, ZstdFrameScanner
from dbops.engines.errors import InvalidSpec

__all__ = [
    "ALGORITHMS",
    "DEFAULT_LEVEL",
    "EXTENSIONS",
    "MAGIC",
    "CompressionSettings",
    "Decompressor",
    "compressor",
    "detect",
    "library_level",
]

ALGORITHMS: Final[tuple[CompressionAlgorithm, ...]] = ("gzip", "lz4", "zstd")
DEFAULT_LEVEL: Final = 6
EXTENSIONS: Final[dict[CompressionAlgorithm, str]] = {"gzip": ".gz", "lz4": ".lz4", "zstd": ".zst"}
MAGIC: Final[dict[CompressionAlgorithm, bytes]] = {
    "gzip": b"\x1f\x8b",
    "zstd": ZSTD_MAGIC,
    "lz4": b"\x04\x22\x4d\x18",
}
_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS
_DEFAULT_MAX_OUTPUT: Final = 1 << 20


@dataclass(frozen=True)
class CompressionSettings:
    """What the backup applies: ``algorithm`` and the API level (1-9, mapped by :func:`library_level`)."""

    algorithm: CompressionAlgorithm = "gzip"
    level: int = DEFAULT_LEVEL

    def __post_init__(self) -> None:
        library_level(self.algorithm, self.level)  # validates both

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.algorithm]


def library_level(algorithm: CompressionAlgorithm, level: int) -> int:
    """The library's level for API ``level`` 1-9 (backup.md 7). For lz4, 0 is the fast (non-HC) mode."""
    if algorithm not in ALGORITHMS:
        raise InvalidSpec("compression.algorithm", f"must be one of {', '.join(ALGORITHMS)}")
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 9:
        raise InvalidSpec("compression.level", "must be an integer from 1 to 9")
    if algorithm == "gzip":
        return level
    band = (level - 1) // 3  # 1-3 → 0, 4-6 → 1, 7-9 → 2
    return (1, 3, 11)[band] if algorithm == "zstd" else (0, 5, 9)[band]


def detect(head: bytes) -> CompressionAlgorithm | None:
    """The algorithm whose magic bytes start ``head``, or ``None``."""
    for algorithm, magic in MAGIC.items():
        if head.startswith(magic):
            return algorithm
    return None


# --- writing ----------------------------------------------------------------------------------------------------


class _Compressor:
    """Adapts a library compressor object (``compress``/``flush``) to :class:`~dbops.backup.codec.Codec`."""

    offload = True

    def __init__(self, name: str, compress: Callable[[bytes], bytes], flush: Callable[[], bytes], head: bytes) -> None:
        self.name = name
        self._compress = compress
        self._flush = flush
        self._head = head

    def update(self, data: bytes) -> Iterator[bytes]:
        out = self._compress(data)
        if self._head:
            out, self._head = self._head + out, b""
        yield out

    def finish(self) -> Iterator[bytes]:
        out = self._flush()
        if self._head:
            out, self._head = self._head + out, b""
        yield out


def compressor(settings: CompressionSettings) -> Codec:
    """An incremental compressor for ``settings`` (a fresh one per stream)."""
    level = library_level(settings.algorithm, settings.level)
    if settings.algorithm == "gzip":
        z = zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS)
        return _Compressor("gzip", z.compress, z.flush, b"")
    if settings.algorithm == "zstd":
        zc = zstandard.ZstdCompressor(level=level, write_checksum=True).compressobj()
        return _Compressor("zstd", zc.compress, zc.flush, b"")
    lz = lz4.frame.LZ4FrameCompressor(compression_level=level, content_checksum=True)
    return _Compressor("lz4", lz.compress, lz.flush, lz.begin())


# --- reading ----------------------------------------------------------------------------------------------------


class _GzipDecoder:
    """gzip members in sequence, output in pieces of at most ``max_output`` bytes."""

    name = "gzip"
    offload = True

    def __init__(self, max_output: int) -> None:
        self._max = max_output
        self._z: zlib._Decompress | None = None

    def update(self, data: bytes) -> Iterator[bytes]:
        while data:
            if self._z is None:
                self._z = zlib.decompressobj(_GZIP_WBITS)
            try:
                out = self._z.decompress(data, self._max)
            except zlib.error as exc:
                raise CorruptStream(f"corrupt gzip stream: {exc}") from None
            if out:
                yield out
            if self._z.eof:
                data, self._z = self._z.unused_data, None
            else:
                data = self._z.unconsumed_tail

    def finish(self) -> Iterator[bytes]:
        if self._z is not None:
            raise TruncatedStream("truncated gzip stream: it ends inside a compressed member")
        yield from ()


class _Lz4Decoder:
    """lz4 frames in sequence, output in pieces of at most ``max_output`` bytes."""

    name = "lz4"
    offload = True

    def __init__(self, max_output: int) -> None:
        self._max = max_output
        self._d: lz4.frame.LZ4FrameDecompressor | None = None

    def update(self, data: bytes) -> Iterator[bytes]:
        while True:
            if self._d is None:
                if not data:
                    return
                self._d = lz4.frame.LZ4FrameDecompressor()
            try:
                out = self._d.decompress(data, max_length=self._max)
            except RuntimeError as exc:
                raise CorruptStream(f"corrupt lz4 stream: {exc}") from None
            if out:
                yield out
            if self._d.eof:
                data, self._d = self._d.unused_data or b"", None
            elif self._d.needs_input:
                return
            else:
                data = b""  # output was capped: call again for the rest of what it holds

    def finish(self) -> Iterator[bytes]:
        if self._d is not None:
            raise TruncatedStream("truncated lz4 stream: it ends inside a frame")
        yield from ()


class _ZstdDecoder:
    """zstd frames in sequence, fed one block at a time so each step decodes at most 128 KiB."""

    name = "zstd"
    offload = True

    def __init__(self, max_output: int) -> None:
        self._target = max(1, max_output - BLOCK_MAX_SIZE)
        self._frames = ZstdFrameScanner()
        self._z = zstandard.ZstdDecompressor().decompressobj(write_size=BLOCK_MAX_SIZE, read_across_frames=True)

    def update(self, data: bytes) -> Iterator[bytes]:
        pending: list[bytes] = []
        size = 0
        for segment in self._frames.segments(data):
            try:
                out = self._z.decompress(segment)
            except zstandard.ZstdError as exc:
                raise CorruptStream(f"corrupt zstd stream: {exc}") from None
            if out:
                pending.append(out)
                size += len(out)
            if size >= self._target:
                yield b"".join(pending)
                pending, size = [], 0
        if pending:
            yield b"".join(pending)

    def finish(self) -> Iterator[bytes]:
        if not self._frames.complete:
            raise TruncatedStream("truncated zstd stream: it ends inside a frame")
        yield from ()


_DECODERS: Final[dict[CompressionAlgorithm, Callable[[int], Codec]]] = {
    "gzip": _GzipDecoder,
    "lz4": _Lz4Decoder,
    "zstd": _ZstdDecoder,
}


class Decompressor(Sniffer):
    """Decompresses what the magic bytes say, whatever was configured (``expected``: the configured algorithm).

    ``algorithm`` is the detected algorithm (``None``: stored uncompressed) once the first bytes have been seen;
    ``warnings`` holds a note when it contradicts ``expected``.
    """

    sniff_size = 4

    def __init__(
        self,
        expected: CompressionAlgorithm | Literal["none"] | None = None,
        *,
        max_output: int = _DEFAULT_MAX_OUTPUT,
    ) -> None:
        super().__init__("decompress")
        self.expected = None if expected == "none" else expected
        self.algorithm: CompressionAlgorithm | None = None
        self.warnings: list[str] = []
        self._max_output = max_output

    def choose(self, head: bytes) -> Codec:
        self.algorithm = detect(head)
        if self.algorithm != self.expected:
            found = f"{self.algorithm}-compressed" if self.algorithm else "not compressed"
            wanted = self.expected or "none"
            self.warnings.append(f"the stored stream is {found} (configured compression: {wanted}); using the stream")
        if self.algorithm is None:
            return Identity()
        return _DECODERS[self.algorithm](self._max_output)
