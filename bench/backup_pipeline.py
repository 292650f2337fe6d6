"""Benchmark: throughput of the backup stream (dbops.backup) with no database and no storage server involved.

A generated dump (SQL-like text, moderately compressible; a 32 MiB pool served repeatedly, larger than every
compressor's window) is pushed in 1 MiB reads through raw counter → compressor → encryptor → SHA-256 → parts of
16 MiB into a writer that discards them. Prints MB/s of raw input, the stored ratio and the peak RSS growth, for
gzip / zstd / lz4 (API level 6) and no compression, each with and without AES-256-GCM. With ``--restore`` the stored
object is kept in memory and read back through the restore chain (verify → decrypt → decompress → hold-back).
Numbers only; never a pass/fail test.

    python bench/backup_pipeline.py [--size-mib 256] [--level 6] [--restore]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dbops.api.storage import CompressionAlgorithm
from dbops.backup.compression import CompressionSettings
from dbops.backup.encryption import EncryptionSettings
from dbops.backup.keys import EncryptionKey
from dbops.backup.pipeline import run_backup, run_restore

MiB = 1 << 20
KEY = EncryptionKey(bytes(range(32)))


def make_pool(size: int) -> bytes:
    rng = random.Random(42)
    words = [
        b"INSERT INTO orders VALUES (",
        b"'2024-03-09 04:05:06+00'",
        b"'pending'",
        b"'shipped'",
        b"NULL",
        b"true",
        b"false",
        "'Zürich'".encode(),
        b"'customer@example.com'",
        b");\n",
        b", ",
    ]
    pool = bytearray()
    while len(pool) < size:
        pool += b", ".join(rng.choices(words, k=8)) + b", " + str(rng.getrandbits(40)).encode() + b");\n"
    del pool[size:]
    return bytes(pool)


class GeneratedSource:
    """Serves ``size`` bytes cut from a repeating pool, in reads of the requested size."""

    def __init__(self, pool: bytes, size: int) -> None:
        self.pool = pool
        self.remaining = size
        self.offset = 0

    async def read(self, size: int) -> bytes:
        n = min(size, self.remaining)
        if n <= 0:
            return b""
        if self.offset + n > len(self.pool):
            self.offset = 0
        chunk = self.pool[self.offset : self.offset + n]
        self.offset += n
        self.remaining -= n
        return chunk

    async def finish(self) -> None:
        return None

    async def abort(self) -> None:
        return None


class DiscardingWriter:
    concurrent_parts = 2

    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self.parts: list[bytes] = []

    async def write_part(self, number: int, data: bytes, *, last: bool) -> None:
        if self.keep:
            self.parts.append(data)

    async def complete(self) -> None:
        return None

    async def abort(self) -> None:
        return None


class MemorySource:
    def __init__(self, parts: list[bytes]) -> None:
        self.parts = list(reversed(parts))

    async def read(self, size: int) -> bytes:
        return self.parts.pop() if self.parts else b""

    async def finish(self) -> None:
        return None

    async def abort(self) -> None:
        return None


class NullSink:
    async def write(self, data: bytes) -> None:
        return None

    async def complete(self) -> None:
        return None

    async def abort(self) -> None:
        return None


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def one(
    pool: bytes, size: int, algorithm: CompressionAlgorithm | None, level: int, encrypt: bool, restore: bool
) -> None:
    compression = CompressionSettings(algorithm, level) if algorithm else None
    encryption = EncryptionSettings(KEY) if encrypt else None
    writer = DiscardingWriter(keep=restore)
    started = time.perf_counter()
    result = await run_backup(GeneratedSource(pool, size), writer, compression=compression, encryption=encryption)
    elapsed = time.perf_counter() - started
    label = f"{algorithm or 'none':5} {'+ aes-256-gcm' if encrypt else '             '}"
    line = (
        f"{label}  backup {size / MiB / elapsed:8.1f} MB/s  stored {result.stored_bytes / size:6.1%}"
        f"  buffers peak {max(result.stats.buffer_high_water) / MiB:.1f} MiB  peak RSS {peak_rss_mib():6.1f} MiB"
    )
    if restore:
        started = time.perf_counter()
        await run_restore(
            MemorySource(writer.parts),
            NullSink(),
            key=KEY if encrypt else None,
            expected_checksum=result.checksum,
            expected_size=result.stored_bytes,
        )
        line += f"  restore {size / MiB / (time.perf_counter() - started):8.1f} MB/s"
    print(line, flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--level", type=int, default=6)
    parser.add_argument("--restore", action="store_true", help="also read each object back (keeps it in memory)")
    args = parser.parse_args()
    pool = make_pool(32 * MiB)
    size = args.size_mib * MiB
    print(f"{args.size_mib} MiB per run, API level {args.level}, 1 MiB chunks, 16 MiB parts")
    print(f"peak RSS before the runs (interpreter, libraries, the 32 MiB data pool): {peak_rss_mib():.1f} MiB")
    if args.restore:
        print("(--restore keeps every stored object in memory, so peak RSS grows with it)")
    for algorithm in (None, "gzip", "zstd", "lz4"):
        for encrypt in (False, True):
            await one(pool, size, algorithm, args.level, encrypt, args.restore)


if __name__ == "__main__":
    asyncio.run(main())
