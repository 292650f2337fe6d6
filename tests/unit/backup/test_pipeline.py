"""The whole stream: backup → stored object → restore, lifecycle guarantees, and bounded memory."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from dbops.api.storage import CompressionAlgorithm, EncryptionAlgorithm
from dbops.backup.codec import ByteCounter
from dbops.backup.compression import CompressionSettings
from dbops.backup.encryption import EncryptionSettings
from dbops.backup.errors import (
    AuthenticationFailed,
    ChecksumMismatch,
    CorruptStream,
    IntegrityError,
    SizeMismatch,
    TruncatedStream,
)
from dbops.backup.keys import EncryptionKey
from dbops.backup.pipeline import BackupResult, RestoreResult, StreamLimits, run_backup, run_restore, run_stream
from tests.unit.backup.fakes import BlockingSource, MemorySink, MemorySource, MemoryWriter, compressible, random_bytes

KiB = 1 << 10
MiB = 1 << 20
KEY = EncryptionKey(bytes(range(7, 39)))
SMALL = StreamLimits(chunk_size=64 * KiB, buffer_chunks=4)  # many buffers and parts over a few MiB of data
PART = 256 * KiB
HOLDBACK = 128 * KiB
COMPRESSIONS: tuple[CompressionAlgorithm | None, ...] = (None, "gzip", "lz4", "zstd")
ENCRYPTIONS: tuple[EncryptionAlgorithm | None, ...] = (None, "aes-256-gcm", "aes-256-cbc")


def settings(
    compression: CompressionAlgorithm | None, encryption: EncryptionAlgorithm | None
) -> tuple[CompressionSettings | None, EncryptionSettings | None]:
    return (
        CompressionSettings(compression, 6) if compression else None,
        EncryptionSettings(KEY, encryption) if encryption else None,
    )


async def backup(
    data: bytes,
    compression: CompressionAlgorithm | None = None,
    encryption: EncryptionAlgorithm | None = None,
    *,
    writer: MemoryWriter | None = None,
    source: MemorySource | None = None,
    limits: StreamLimits = SMALL,
    part_size: int = PART,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[BackupResult, MemoryWriter]:
    writer = writer or MemoryWriter()
    c, e = settings(compression, encryption)
    result = await run_backup(
        source or MemorySource(data, read_size=50_000),
        writer,
        compression=c,
        encryption=e,
        part_size=part_size,
        limits=limits,
        on_progress=on_progress,
    )
    return result, writer


async def restore(
    stored: bytes, sink: MemorySink, *, checked: bool = True, key: EncryptionKey | None = KEY, **kw: Any
) -> RestoreResult:
    checksum = "sha256:" + hashlib.sha256(stored).hexdigest() if checked else None
    return await run_restore(
        MemorySource(stored, read_size=40_000),
        sink,
        key=key,
        expected_checksum=kw.pop("expected_checksum", checksum),
        expected_size=kw.pop("expected_size", len(stored) if checked else None),
        holdback=HOLDBACK,
        limits=SMALL,
        **kw,
    )


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("encryption", ENCRYPTIONS)
@pytest.mark.parametrize("make", [random_bytes, compressible], ids=["random", "compressible"])
async def test_round_trip(
    compression: CompressionAlgorithm | None, encryption: EncryptionAlgorithm | None, make: Callable[[int], bytes]
) -> None:
    data = make(3 * MiB + 12345)
    progress: list[int] = []
    result, writer = await backup(data, compression, encryption, on_progress=progress.append)
    stored = writer.data
    assert result.size_bytes == len(data) == progress[-1]
    assert progress == sorted(progress)
    assert result.stored_bytes == len(stored)
    assert result.checksum == "sha256:" + hashlib.sha256(stored).hexdigest()
    assert result.parts == len(writer.parts) == -(-len(stored) // PART)
    assert (writer.complete_calls, writer.abort_calls) == (1, 0)
    if compression and make is compressible:
        assert len(stored) < len(data)
    if encryption:
        assert stored.startswith(b"DBOPSENC")

    sink = MemorySink()
    restored = await restore(stored, sink, expected_compression=compression or "none")
    assert sink.data == data
    assert (sink.complete_calls, sink.abort_calls) == (1, 0)
    assert restored.restored_bytes == len(data)
    assert restored.stored_bytes == len(stored)
    assert restored.compression == compression
    assert restored.encryption == ("dbops-v2" if encryption else None)
    assert restored.warnings == ()


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("encryption", ENCRYPTIONS)
async def test_empty_stream_round_trip(
    compression: CompressionAlgorithm | None, encryption: EncryptionAlgorithm | None
) -> None:
    result, writer = await backup(b"", compression, encryption)
    assert result.parts == 1 and writer.last_flags == {1: True}
    sink = MemorySink()
    await restore(writer.data, sink)
    assert sink.data == b"" and sink.complete_calls == 1


async def test_round_trip_with_default_sizes() -> None:
    """The production sizes: 1 MiB chunks, 4-chunk buffers, 16 MiB parts, 1 MiB hold-back."""
    data = compressible(40 * MiB)
    writer = MemoryWriter()
    c, e = settings("zstd", "aes-256-gcm")
    result = await run_backup(MemorySource(data), writer, compression=c, encryption=e)
    assert max(result.stats.buffer_high_water) <= 4 * MiB
    sink = MemorySink()
    restored = await run_restore(
        MemorySource(writer.data), sink, key=KEY, expected_checksum=result.checksum, expected_size=result.stored_bytes
    )
    assert sink.data == data
    assert max(restored.stats.buffer_high_water) <= 4 * MiB


# --- integrity failures reach the consumer as an abort, never as an end ------------------------------------------


def flip(data: bytes, position: int) -> bytes:
    changed = bytearray(data)
    changed[position] ^= 0x10
    return bytes(changed)


async def expect_refused(
    stored: bytes, error: type[Exception] | tuple[type[Exception], ...], original_size: int, **kw: Any
) -> MemorySink:
    sink = MemorySink()
    with pytest.raises(error):
        await restore(stored, sink, **kw)
    assert (sink.complete_calls, sink.abort_calls) == (0, 1)
    assert sink.received_at_abort is not None
    assert sink.received_at_abort <= original_size - HOLDBACK  # the tail never reached the tool
    return sink


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("encryption", ENCRYPTIONS)
async def test_bit_flip_is_detected(
    compression: CompressionAlgorithm | None, encryption: EncryptionAlgorithm | None
) -> None:
    data = random_bytes(2 * MiB)
    _, writer = await backup(data, compression, encryption)
    stored = writer.data
    good = "sha256:" + hashlib.sha256(stored).hexdigest()
    for position in (len(stored) // 2, len(stored) - 1):
        # With the metadata's checksum: always detected (which stage notices first may vary).
        await expect_refused(flip(stored, position), IntegrityError, len(data), expected_checksum=good)
    if compression is None and encryption is None:
        sink = await expect_refused(flip(stored, len(stored) - 1), ChecksumMismatch, len(data), expected_checksum=good)
        assert sink.received_at_abort == len(data) - HOLDBACK
    if encryption is not None:  # without metadata, authentication alone still catches it
        await expect_refused(flip(stored, len(stored) - 1), AuthenticationFailed, len(data), checked=False)


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("encryption", ENCRYPTIONS)
async def test_truncation_is_detected(
    compression: CompressionAlgorithm | None, encryption: EncryptionAlgorithm | None
) -> None:
    data = compressible(2 * MiB)
    _, writer = await backup(data, compression, encryption)
    stored = writer.data
    cut = stored[: len(stored) - 100]
    good = "sha256:" + hashlib.sha256(stored).hexdigest()
    await expect_refused(cut, SizeMismatch, len(data), expected_checksum=good, expected_size=len(stored))
    if encryption or compression:  # no metadata: the formats' own end markers catch it
        await expect_refused(cut, IntegrityError, len(data), checked=False)


async def test_truncation_without_metadata_of_a_compressed_stream() -> None:
    data = compressible(2 * MiB)
    _, writer = await backup(data, "gzip")
    await expect_refused(writer.data[:-5], TruncatedStream, len(data), checked=False)
    await expect_refused(writer.data[:-5] + b"\x00" * 5, (CorruptStream, TruncatedStream), len(data), checked=False)


@pytest.mark.parametrize("encryption", ["aes-256-gcm", "aes-256-cbc"])
async def test_wrong_key_delivers_nothing(encryption: EncryptionAlgorithm) -> None:
    _, writer = await backup(random_bytes(MiB), "lz4", encryption)
    sink = MemorySink()
    with pytest.raises(AuthenticationFailed, match="wrong encryption key"):
        await restore(writer.data, sink, key=EncryptionKey(bytes(32)))
    assert (sink.data, sink.complete_calls, sink.abort_calls) == (b"", 0, 1)


# --- cancellation and errors: abort exactly once, never complete ------------------------------------------------


def never() -> asyncio.Future[None]:
    return asyncio.get_running_loop().create_future()


async def test_cancellation_while_uploading() -> None:
    source = MemorySource(random_bytes(4 * MiB), read_size=50_000)
    writer = MemoryWriter()
    part_two = asyncio.Event()

    def gate(number: int) -> asyncio.Future[None] | None:
        if number == 2:
            part_two.set()
            return never()
        return None

    writer.gate = gate
    task = asyncio.create_task(backup(b"", "gzip", "aes-256-gcm", writer=writer, source=source))
    await part_two.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (writer.complete_calls, writer.abort_calls) == (0, 1)
    assert (source.finish_calls, source.abort_calls) == (0, 1)
    assert writer.in_flight == 0  # every write_part ended before abort


async def test_cancellation_while_the_source_hangs() -> None:
    source = BlockingSource(random_bytes(3 * MiB), read_size=50_000)
    writer = MemoryWriter()
    task = asyncio.create_task(backup(b"", "zstd", None, writer=writer, source=source))
    await source.blocked.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (writer.complete_calls, writer.abort_calls) == (0, 1)
    assert (source.finish_calls, source.abort_calls) == (0, 1)


class SlowCodec:
    """An offloaded codec whose first step blocks its thread until the test releases it."""

    name = "slow"
    offload = True

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.running = False
        self.closed_while_running = False

    def update(self, data: bytes) -> Iterator[bytes]:
        self.running = True
        self.entered.set()
        self.release.wait()
        self.running = False
        try:
            yield data
        except GeneratorExit:
            self.closed_while_running = self.running
            raise

    def finish(self) -> Iterator[bytes]:
        yield from ()


async def test_cancellation_while_a_codec_runs_in_its_thread() -> None:
    from dbops.backup.parts import PartUploader

    codec = SlowCodec()
    source = MemorySource(random_bytes(MiB))
    writer = MemoryWriter()
    task = asyncio.create_task(run_stream(source, [codec], PartUploader(writer, PART), limits=SMALL))
    await asyncio.to_thread(codec.entered.wait)
    task.cancel()
    codec.release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not codec.closed_while_running
    assert (writer.complete_calls, writer.abort_calls) == (0, 1)
    assert source.abort_calls == 1


async def test_failed_source_is_never_completed() -> None:
    source = MemorySource(random_bytes(MiB), fail_finish=RuntimeError("pg_dump exited with status 1"))
    writer = MemoryWriter()
    with pytest.raises(RuntimeError, match="pg_dump exited with status 1"):  # itself, not an exception group
        await backup(b"", "gzip", writer=writer, source=source)
    assert (writer.complete_calls, writer.abort_calls) == (0, 1)
    assert source.abort_calls == 1


async def test_failed_part_aborts() -> None:
    writer = MemoryWriter()
    writer.fail_part = 3
    source = MemorySource(random_bytes(2 * MiB))
    with pytest.raises(OSError, match="storage refused part 3"):
        await backup(b"", writer=writer, source=source)
    assert (writer.complete_calls, writer.abort_calls) == (0, 1)
    assert source.abort_calls == 1


async def test_failed_complete_aborts_once() -> None:
    writer = MemoryWriter()
    writer.fail_complete = OSError("CompleteMultipartUpload failed")
    source = MemorySource(random_bytes(MiB))
    with pytest.raises(OSError, match="CompleteMultipartUpload"):
        await backup(b"", writer=writer, source=source)
    assert (writer.complete_calls, writer.abort_calls) == (1, 1)
    assert (source.finish_calls, source.abort_calls) == (1, 0)  # the source had finished: nothing to abort


async def test_failing_abort_does_not_hide_the_error() -> None:
    class BadAbort(MemoryWriter):
        async def abort(self) -> None:
            await super().abort()
            raise OSError("AbortMultipartUpload failed")

    writer = BadAbort()
    writer.fail_part = 1
    with pytest.raises(OSError, match="storage refused part 1") as caught:
        await backup(b"", writer=writer, source=MemorySource(random_bytes(MiB)))
    assert "aborting the upload or restore target also failed: AbortMultipartUpload failed" in caught.value.__notes__


async def test_a_failing_stage_is_reported_as_itself() -> None:
    def explode(count: int) -> None:
        if count > MiB:
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await backup(random_bytes(3 * MiB), "gzip", "aes-256-gcm", on_progress=explode)


# --- bounded memory and back-pressure, measured by instrumentation ---------------------------------------------


async def test_memory_is_bounded_and_backpressure_stops_the_source() -> None:
    """A slow writer: part k is only accepted once the source has been read well ahead of it. The pipeline must
    absorb that lead (buffers fill up) and never more than its bound (the source is not read further)."""
    data = random_bytes(16 * MiB)
    source = MemorySource(data, read_size=50_000)
    writer = MemoryWriter()
    codecs = 2  # raw counter + hasher
    channels = codecs + 1
    bound = channels * SMALL.buffer_bytes + 3 * PART + (codecs + 2) * SMALL.chunk_size
    lead = 2 * PART + 2 * SMALL.buffer_bytes
    ahead: list[int] = []
    source.on_read = lambda position: ahead.append(position - writer.written)

    def gate(number: int) -> asyncio.Future[None]:
        return asyncio.ensure_future(source.reached((number - 1) * PART + lead))

    writer.gate = gate
    result, _ = await backup(b"", writer=writer, source=source)
    assert writer.data == data
    assert max(ahead) <= bound
    assert max(ahead) >= lead
    assert all(high <= SMALL.buffer_bytes for high in result.stats.buffer_high_water)
    assert max(result.stats.buffer_high_water) == SMALL.buffer_bytes  # a buffer did fill: back-pressure engaged


async def test_restore_memory_is_bounded_for_a_decompression_bomb() -> None:
    zeros = bytes(128 * MiB)
    result, writer = await backup(zeros, "zstd", "aes-256-gcm", part_size=4 * MiB)
    assert result.stored_bytes < MiB

    class CountingSink(MemorySink):
        async def write(self, data: bytes) -> None:
            assert len(data) <= SMALL.chunk_size
            self.chunks.append(b"")
            self.total = getattr(self, "total", 0) + len(data)

    sink = CountingSink()
    restored = await restore(writer.data, sink)
    assert getattr(sink, "total", 0) == len(zeros) == restored.restored_bytes
    assert all(high <= SMALL.buffer_bytes for high in restored.stats.buffer_high_water)


async def test_counter_reports_progress_as_bytes_pass() -> None:
    counter = ByteCounter()
    assert list(counter.update(b"abc")) == [b"abc"]
    assert counter.count == 3


async def test_progress_is_reported_on_the_event_loop_thread() -> None:
    loop_thread = threading.get_ident()
    seen: list[tuple[int, int]] = []

    def record(count: int) -> None:
        seen.append((threading.get_ident(), count))

    data = compressible(2 * MiB)
    result, writer = await backup(data, "zstd", "aes-256-gcm", on_progress=record)
    assert seen[-1] == (loop_thread, len(data))
    seen.clear()
    await run_restore(MemorySource(writer.data), MemorySink(), key=KEY, on_progress=record, limits=SMALL)
    assert seen[-1] == (loop_thread, result.stored_bytes)
    assert {thread for thread, _ in seen} == {loop_thread}
