"""Cutting the stored stream into upload parts (backup.md 2).

Parts are ``--backup-part-size`` bytes (default 16 MiB, minimum 5 MiB — S3's minimum for all parts but the last).
Object stores cap the number of parts (S3: 10,000), so :func:`choose_part_size` raises the part size of an object
whose estimated size would need more than 9,000 parts to the next power-of-two number of MiB that keeps it within
9,000, leaving a margin for an estimate that falls short.

:class:`PartUploader` is the last stage of a backup. It fills one part while at most ``parts_in_flight`` (two)
earlier parts are being written, so memory is about three parts: the one being filled, and the ones in flight.
A full part is held until the next byte arrives, because only then is it known not to be the last one
(``write_part(..., last=...)``); while the writer is busy, the uploader stops reading, and back-pressure travels up
the chain to the dump tool.
"""

from __future__ import annotations

import asyncio
import io
import math
from typing import Final

from dbops.backup.channel import Channel
from dbops.backup.interfaces import ObjectWriter
from dbops.backup.tasks import task_group

__all__ = [
    "DEFAULT_PARTS_IN_FLIGHT",
    "DEFAULT_PART_SIZE",
    "MAX_PARTS",
    "MIN_PART_SIZE",
    "MiB",
    "PartUploader",
    "choose_part_size",
]

MiB: Final = 1 << 20
DEFAULT_PART_SIZE: Final = 16 * MiB
MIN_PART_SIZE: Final = 5 * MiB
MAX_PARTS: Final = 9000
DEFAULT_PARTS_IN_FLIGHT: Final = 2


def choose_part_size(estimated_size: int | None, configured: int = DEFAULT_PART_SIZE) -> int:
    """The part size for an object of about ``estimated_size`` bytes (unknown: ``None`` or 0)."""
    if configured < MIN_PART_SIZE:
        raise ValueError(f"the backup part size must be at least {MIN_PART_SIZE // MiB} MiB")
    if not estimated_size or math.ceil(estimated_size / configured) <= MAX_PARTS:
        return configured
    mib = 1 << max(0, math.ceil(math.log2(estimated_size / MAX_PARTS / MiB)))
    while math.ceil(estimated_size / (mib * MiB)) > MAX_PARTS:  # guard against float rounding
        mib *= 2
    return mib * MiB


class PartUploader:
    """Reads the stored stream from a channel and writes it to an :class:`ObjectWriter` in parts."""

    def __init__(
        self, writer: ObjectWriter, part_size: int = DEFAULT_PART_SIZE, parts_in_flight: int = DEFAULT_PARTS_IN_FLIGHT
    ) -> None:
        if part_size <= 0 or parts_in_flight <= 0:
            raise ValueError("part size and parts in flight must be positive")
        self.writer = writer
        self.part_size = part_size
        self.parts_in_flight = max(1, min(parts_in_flight, writer.concurrent_parts))
        self.parts = 0
        self.held_high_water = 0
        """Most bytes held at once in parts (filling, waiting and in flight): the memory bound, for tests."""
        self._held = 0

    async def complete(self) -> None:
        await self.writer.complete()

    async def abort(self) -> None:
        await self.writer.abort()

    async def run(self, source: Channel) -> None:
        """Upload everything ``source`` delivers until its orderly end."""
        slots = asyncio.Semaphore(self.parts_in_flight)
        async with task_group() as uploads:
            filling = io.BytesIO()
            full: bytes | None = None  # a complete part, held until we know whether it is the last one
            while (chunk := await source.get()) is not None:
                view = memoryview(chunk)
                while view:
                    if full is not None:
                        await self._ship(uploads, slots, full, last=False)
                        full = None
                    room = self.part_size - filling.tell()
                    filling.write(view[:room])
                    self._account(min(room, len(view)))
                    view = view[room:]
                    if filling.tell() == self.part_size:
                        full, filling = filling.getvalue(), io.BytesIO()
            if full is not None:  # the stream ended exactly at a part boundary (filling is empty)
                await self._ship(uploads, slots, full, last=True)
            elif filling.tell() or self.parts == 0:  # the shorter last part, or the single empty part
                await self._ship(uploads, slots, filling.getvalue(), last=True)

    def _account(self, delta: int) -> None:
        self._held += delta
        self.held_high_water = max(self.held_high_water, self._held)

    async def _ship(self, uploads: asyncio.TaskGroup, slots: asyncio.Semaphore, data: bytes, *, last: bool) -> None:
        await slots.acquire()
        self.parts += 1
        uploads.create_task(self._write(slots, self.parts, data, last))

    async def _write(self, slots: asyncio.Semaphore, number: int, data: bytes, last: bool) -> None:
        try:
            await self.writer.write_part(number, data, last=last)
        finally:
            self._held -= len(data)
            slots.release()
