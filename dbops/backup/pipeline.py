"""Running a stream: source → codecs → consumer, concurrently, with bounded buffers (backup.md 2).

Every stage is its own asyncio task and stages are joined by :class:`~dbops.backup.channel.Channel` buffers::

    Source ─pump─▶ [ch0] ─codec 1─▶ [ch1] ─codec 2─▶ … ─▶ [chN] ─consumer─▶ ObjectWriter | StreamSink

* **Concurrency.** The dump, the CPU work and the upload overlap: while part *k* uploads, the compressor works on
  part *k+1* and the tool keeps writing. CPU-heavy codec steps run in a thread of the run's own pool — one thread per
  codec at most, never a shared executor that other work (or other runs) could exhaust — so the event loop keeps
  serving reconciles and watches. zlib, zstd, lz4, OpenSSL and hashlib release the GIL on large buffers, so stages
  really run in parallel.
* **Back-pressure and memory.** A codec step produces one bounded piece (see :mod:`dbops.backup.codec`), and the
  driver asks for the next piece only after the previous one fitted into the next channel. Memory is therefore the
  channels (``buffer_chunks * chunk_size`` bytes each), one piece per codec, the codecs' own small state, and the
  consumer's parts — independent of the data size and of the compression ratio.
* **Errors.** The first exception in any stage cancels all the others and is the one raised (not an exception group).
  Then ``abort()`` is called exactly once on the consumer and on the source (unless the source had already finished),
  and ``complete()`` is never called. Cancelling the task that runs the stream has the same effect.
* **Integrity.** A channel only ever ends by an explicit close, which a stage performs after its codec's
  ``finish()`` returned — so an end that reaches the consumer proves every check upstream passed (source exit
  status, checksum, authentication of the final encrypted chunk, end of the compressed frame). ``complete()`` is
  called only after every stage returned. On restore, :class:`~dbops.backup.holdback.HoldBack` keeps the last MiB
  of the decoded stream back until that end arrives.

:func:`run_backup` and :func:`run_restore` assemble the standard chains; :func:`run_stream` runs any chain.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from dbops.api.storage import CompressionAlgorithm, EncryptionAlgorithm
from dbops.backup.channel import DEFAULT_BUFFER_CHUNKS, DEFAULT_CHUNK_SIZE, Channel
from dbops.backup.checksum import ChecksumVerifier, Sha256Hasher
from dbops.backup.codec import ByteCounter, Codec
from dbops.backup.compression import CompressionSettings, Decompressor, compressor
from dbops.backup.encryption import Decryptor, EncryptionSettings, Encryptor
from dbops.backup.holdback import DEFAULT_HOLDBACK, HoldBack
from dbops.backup.interfaces import ObjectWriter, Source, StreamSink
from dbops.backup.keys import EncryptionKey
from dbops.backup.parts import DEFAULT_PART_SIZE, DEFAULT_PARTS_IN_FLIGHT, PartUploader
from dbops.backup.tasks import task_group

__all__ = [
    "BackupResult",
    "Consumer",
    "RestoreResult",
    "SinkWriter",
    "StreamLimits",
    "StreamStats",
    "run_backup",
    "run_restore",
    "run_stream",
]

T = TypeVar("T")


@dataclass(frozen=True)
class StreamLimits:
    """Sizes of the stream's buffers (defaults: backup.md 2)."""

    chunk_size: int = DEFAULT_CHUNK_SIZE
    """Largest chunk between two stages, and the size the pump reads from the source."""
    buffer_chunks: int = DEFAULT_BUFFER_CHUNKS
    """Chunks one buffer between two stages holds."""

    @property
    def buffer_bytes(self) -> int:
        return self.chunk_size * self.buffer_chunks


class Consumer(Protocol):
    """The last stage: reads the final channel, then is completed or aborted by :func:`run_stream`."""

    async def run(self, source: Channel) -> None: ...

    async def complete(self) -> None: ...

    async def abort(self) -> None: ...


class SinkWriter:
    """Consumer that writes every chunk to a :class:`~dbops.backup.interfaces.StreamSink` (the restore tool)."""

    def __init__(self, sink: StreamSink) -> None:
        self.sink = sink
        self.count = 0

    async def run(self, source: Channel) -> None:
        while (chunk := await source.get()) is not None:
            await self.sink.write(chunk)
            self.count += len(chunk)

    async def complete(self) -> None:
        await self.sink.complete()

    async def abort(self) -> None:
        await self.sink.abort()


@dataclass(frozen=True)
class StreamStats:
    """What a run measured of its own buffers: the most bytes each channel held, in chain order."""

    buffer_high_water: tuple[int, ...]


@dataclass(frozen=True)
class BackupResult:
    """Sizes and checksum of a completed backup (status ``backup.*`` and the metadata file)."""

    size_bytes: int
    """Raw dump bytes, before compression and encryption."""
    stored_bytes: int
    """Bytes stored (``compressedSizeBytes``)."""
    checksum: str
    """``sha256:<hex>`` of the stored bytes."""
    parts: int
    stats: StreamStats


@dataclass(frozen=True)
class RestoreResult:
    """What a completed restore read and delivered."""

    stored_bytes: int
    restored_bytes: int
    checksum: str
    compression: CompressionAlgorithm | None
    """Detected from the stream (``None``: not compressed)."""
    encryption: str | None
    """Detected layout: ``dbops-v2``, ``legacy`` or ``None``."""
    warnings: tuple[str, ...]
    stats: StreamStats = field(repr=False)


async def run_backup(
    source: Source,
    writer: ObjectWriter,
    *,
    compression: CompressionSettings | None = None,
    encryption: EncryptionSettings | None = None,
    part_size: int = DEFAULT_PART_SIZE,
    parts_in_flight: int = DEFAULT_PARTS_IN_FLIGHT,
    limits: StreamLimits = StreamLimits(),
    on_progress: Callable[[int], None] | None = None,
) -> BackupResult:
    """Dump → raw counter → compressor → encryptor → hasher → parts, then ``writer.complete()``.

    ``on_progress`` receives the raw byte count (``sizeBytes`` so far). ``part_size`` should come from
    :func:`~dbops.backup.parts.choose_part_size`.
    """
    raw = ByteCounter("raw", on_progress)
    hasher = Sha256Hasher()
    codecs: list[Codec] = [raw]
    if compression is not None:
        codecs.append(compressor(compression))
    if encryption is not None:
        codecs.append(Encryptor(encryption))
    codecs.append(hasher)
    uploader = PartUploader(writer, part_size, parts_in_flight)
    stats = await run_stream(source, codecs, uploader, limits=limits)
    return BackupResult(raw.count, hasher.count, hasher.checksum, uploader.parts, stats)


async def run_restore(
    source: Source,
    sink: StreamSink,
    *,
    key: EncryptionKey | None = None,
    legacy_encryption: EncryptionAlgorithm | None = None,
    expected_compression: CompressionAlgorithm | Literal["none"] | None = None,
    expected_checksum: str | None = None,
    expected_size: int | None = None,
    holdback: int = DEFAULT_HOLDBACK,
    limits: StreamLimits = StreamLimits(),
    on_progress: Callable[[int], None] | None = None,
) -> RestoreResult:
    """Download → checksum verifier → decryptor → decompressor → hold-back → sink, then ``sink.complete()``.

    ``key`` is needed for encrypted objects (the operator's format is recognised by its header);
    ``legacy_encryption`` names the algorithm of an object in the legacy layout (backup.md 8.4), which has no
    header. Compression is detected from magic bytes; ``expected_compression`` only produces a warning when it
    disagrees. ``expected_checksum``/``expected_size`` come from the metadata file; without them only the formats'
    own checks apply. ``on_progress`` receives the stored byte count read so far.
    """
    stored = ByteCounter("stored", on_progress)  # on the loop, unlike the verifier's thread
    verifier = ChecksumVerifier(expected_checksum, expected_size)
    decryptor = Decryptor(key, legacy_algorithm=legacy_encryption)
    decompressor = Decompressor(expected_compression, max_output=limits.chunk_size)
    writer = SinkWriter(sink)
    codecs: list[Codec] = [stored, verifier, decryptor, decompressor, HoldBack(holdback)]
    stats = await run_stream(source, codecs, writer, limits=limits)
    return RestoreResult(
        stored_bytes=verifier.count,
        restored_bytes=writer.count,
        checksum=verifier.checksum,
        compression=decompressor.algorithm,
        encryption=decryptor.format,
        warnings=tuple(decryptor.warnings + decompressor.warnings),
        stats=stats,
    )


async def run_stream(
    source: Source,
    codecs: Sequence[Codec],
    consumer: Consumer,
    *,
    limits: StreamLimits = StreamLimits(),
) -> StreamStats:
    """Run ``source`` through ``codecs`` into ``consumer``; complete it on success, abort everything otherwise."""
    channels = [
        Channel(limits.buffer_bytes, max_chunk=limits.chunk_size, name=f"buffer-{i}") for i in range(len(codecs) + 1)
    ]
    executor = ThreadPoolExecutor(max_workers=max(1, len(codecs)), thread_name_prefix="dbops-stream")
    source_finished = False

    async def pump() -> None:
        nonlocal source_finished
        await _pump(source, channels[0], limits.chunk_size)
        source_finished = True
        await channels[0].close()

    try:
        try:
            await _first_error(
                [
                    pump(),
                    *(_drive(c, channels[i], channels[i + 1], executor) for i, c in enumerate(codecs)),
                    consumer.run(channels[-1]),
                ]
            )
            await consumer.complete()
        except BaseException as exc:
            if not source_finished:
                await _cleanup(source.abort, exc, "the source")
            await _cleanup(consumer.abort, exc, "the upload or restore target")
            raise
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
    return StreamStats(tuple(c.high_water for c in channels))


async def _pump(source: Source, out: Channel, chunk_size: int) -> None:
    """Read the source into the first channel, in chunks of about ``chunk_size`` (small pipe reads are coalesced so
    the stages downstream do per-chunk work at a sensible granularity); then confirm its end."""
    pending = bytearray()
    while data := await source.read(chunk_size - len(pending)):
        pending += data
        if len(pending) >= chunk_size:
            await out.put(bytes(pending))
            pending.clear()
    if pending:
        await out.put(bytes(pending))
    await source.finish()


async def _drive(codec: Codec, inp: Channel, out: Channel, executor: ThreadPoolExecutor) -> None:
    """One stage: feed every chunk of ``inp`` to ``codec`` and move its pieces to ``out`` as room appears."""

    async def drain(pieces: Iterator[bytes]) -> None:
        try:
            while True:
                piece = await _off_loop(executor, next, pieces, None) if codec.offload else next(pieces, None)
                if piece is None:
                    return
                if piece:
                    await out.put(piece)
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()

    while (chunk := await inp.get()) is not None:
        await drain(codec.update(chunk))
    await drain(codec.finish())
    await out.close()


async def _off_loop(executor: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in ``executor``. If the caller is cancelled meanwhile, wait for the step to end before
    propagating, so the codec is never touched by the loop while its thread still runs (a step is short: one piece)."""
    future = asyncio.get_running_loop().run_in_executor(executor, fn, *args)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await _settle(future)
        raise


async def _settle(awaitable: Awaitable[Any]) -> None:
    """Wait for ``awaitable`` to end, ignoring its outcome and any cancellation of the waiter (re-delivered after)."""
    task = asyncio.ensure_future(awaitable)
    cancelled = False
    while not task.done():
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:
            cancelled = True
    if not task.cancelled():
        task.exception()  # mark retrieved
    if cancelled:
        current = asyncio.current_task()
        if current is not None:
            current.cancel()


async def _cleanup(action: Callable[[], Coroutine[Any, Any, None]], error: BaseException, what: str) -> None:
    """Run an ``abort()`` to its end even while the run is being cancelled; a failure of it is attached to the
    error being raised, never replacing it."""
    task = asyncio.ensure_future(action())
    await _settle(task)
    if not task.cancelled() and (failure := task.exception()) is not None:
        error.add_note(f"aborting {what} also failed: {failure}")


async def _first_error(coroutines: Sequence[Coroutine[Any, Any, None]]) -> None:
    """Run all, concurrently; the first exception cancels the others and is raised as itself."""
    async with task_group() as group:
        for coroutine in coroutines:
            group.create_task(coroutine)
