"""In-memory Source, ObjectWriter and StreamSink for the stream tests, instrumented to observe the lifecycle."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable


def compressible(size: int, seed: int = 1) -> bytes:
    """SQL-like text with repetition: compresses several times, but is not trivial."""
    words = [b"INSERT", b"INTO", b"users", b"VALUES", b"(", b")", b"'alice'", b"'bob'", b"NULL", b"42", b";\n"]
    out = bytearray()
    state = seed
    while len(out) < size:
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        out += words[state % len(words)] + b" " + str(state % 9973).encode() + b" "
    return bytes(out[:size])


def random_bytes(size: int, seed: int = 1) -> bytes:
    """Incompressible bytes, reproducible per seed."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.shake_256(f"{seed}:{counter}".encode()).digest(1 << 16)
        counter += 1
    return bytes(out[:size])


class MemorySource:
    """Serves ``data`` in reads of at most ``read_size`` bytes; records the lifecycle calls."""

    def __init__(self, data: bytes, *, read_size: int = 1 << 16, fail_finish: Exception | None = None) -> None:
        self.data = data
        self.read_size = read_size
        self.position = 0
        self.finish_calls = 0
        self.abort_calls = 0
        self.fail_finish = fail_finish
        self.on_read: Callable[[int], None] | None = None
        self.read_progress = asyncio.Condition()

    async def read(self, size: int) -> bytes:
        n = min(size, self.read_size)
        chunk = self.data[self.position : self.position + n]
        self.position += len(chunk)
        if self.on_read is not None:
            self.on_read(self.position)
        async with self.read_progress:
            self.read_progress.notify_all()
        return chunk

    async def reached(self, position: int) -> None:
        async with self.read_progress:
            await self.read_progress.wait_for(lambda: self.position >= min(position, len(self.data)))

    async def finish(self) -> None:
        self.finish_calls += 1
        if self.fail_finish is not None:
            raise self.fail_finish

    async def abort(self) -> None:
        self.abort_calls += 1


class BlockingSource(MemorySource):
    """Serves ``data``, then blocks forever in ``read`` (a dump tool that hangs), signalling ``blocked``."""

    def __init__(self, data: bytes, **kwargs: object) -> None:
        super().__init__(data, **kwargs)  # type: ignore[arg-type]
        self.blocked = asyncio.Event()

    async def read(self, size: int) -> bytes:
        if self.position >= len(self.data):
            self.blocked.set()
            await asyncio.Event().wait()
        return await super().read(size)


class MemoryWriter:
    """Collects parts in memory; ``gate`` (when set) is awaited by every ``write_part`` before it returns."""

    def __init__(self, concurrent_parts: int = 2) -> None:
        self.concurrent_parts = concurrent_parts
        self.parts: dict[int, bytes] = {}
        self.last_flags: dict[int, bool] = {}
        self.started: list[int] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.complete_calls = 0
        self.abort_calls = 0
        self.part_entered = asyncio.Event()
        self.gate: Callable[[int], asyncio.Future[None] | None] | None = None
        self.fail_part: int | None = None
        self.fail_complete: Exception | None = None

    @property
    def data(self) -> bytes:
        return b"".join(self.parts[n] for n in sorted(self.parts))

    @property
    def written(self) -> int:
        return sum(len(p) for p in self.parts.values())

    async def write_part(self, number: int, data: bytes, *, last: bool) -> None:
        self.started.append(number)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.part_entered.set()
        try:
            if self.fail_part == number:
                raise OSError(f"storage refused part {number}")
            if self.gate is not None:
                waiter = self.gate(number)
                if waiter is not None:
                    await waiter
            self.parts[number] = data
            self.last_flags[number] = last
        finally:
            self.in_flight -= 1

    async def complete(self) -> None:
        self.complete_calls += 1
        if self.fail_complete is not None:
            raise self.fail_complete

    async def abort(self) -> None:
        self.abort_calls += 1


class MemorySink:
    """Collects the restored stream; records the lifecycle calls."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.complete_calls = 0
        self.abort_calls = 0
        self.received_at_abort: int | None = None

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)

    async def write(self, data: bytes) -> None:
        self.chunks.append(data)

    async def complete(self) -> None:
        self.complete_calls += 1

    async def abort(self) -> None:
        self.abort_calls += 1
        self.received_at_abort = len(self.data)


def run_codec(codec: object, data: bytes, piece: int = 1 << 16) -> bytes:
    """Feed ``data`` through a codec synchronously in ``piece``-sized chunks and return all its output."""
    out = []
    for start in range(0, len(data), piece):
        out.extend(codec.update(data[start : start + piece]))  # type: ignore[attr-defined]
    out.extend(codec.finish())  # type: ignore[attr-defined]
    return b"".join(out)
