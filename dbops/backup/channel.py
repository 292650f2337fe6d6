"""The bounded buffer between two stages of a stream.

A :class:`Channel` carries byte chunks from one producer task to one consumer task. It is bounded by **bytes** (not
by item count), so the bound holds whatever chunk sizes a stage produces: ``put`` waits while the buffer would
exceed ``capacity``, which is how a slow consumer (an upload) slows every stage before it, down to the dump tool's
pipe — back-pressure instead of memory growth. The spec's "four 1 MiB chunks" is ``capacity = 4 MiB`` with
``max_chunk = 1 MiB``; larger pieces are split on the way in, so a single put can always fit once the buffer drains.

End of stream is :meth:`close`, and it is the *only* way a consumer sees an end. There is deliberately no
"close with error": when a stage fails, the pipeline cancels every task and the channel is simply abandoned, so a
consumer can never read an orderly end after a failure. An end therefore proves that every stage before it finished
successfully — the property the restore hold-back relies on.

``high_water`` records the most bytes ever held, for tests and benchmarks that check the memory bound.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Final

__all__ = ["DEFAULT_BUFFER_CHUNKS", "DEFAULT_CHUNK_SIZE", "Channel"]

DEFAULT_CHUNK_SIZE: Final = 1 << 20
"""Largest chunk passed between stages (backup.md 2: 1 MiB)."""
DEFAULT_BUFFER_CHUNKS: Final = 4
"""Chunks a buffer holds (backup.md 2: four)."""


class Channel:
    """A single-producer, single-consumer byte buffer of at most ``capacity`` bytes."""

    def __init__(
        self,
        capacity: int = DEFAULT_BUFFER_CHUNKS * DEFAULT_CHUNK_SIZE,
        *,
        max_chunk: int = DEFAULT_CHUNK_SIZE,
        name: str = "",
    ) -> None:
        if max_chunk <= 0 or capacity < max_chunk:
            raise ValueError("a channel needs 0 < max_chunk <= capacity")
        self.capacity = capacity
        self.max_chunk = max_chunk
        self.name = name
        self.high_water = 0
        self._items: deque[bytes] = deque()
        self._held = 0
        self._closed = False
        self._changed = asyncio.Condition()

    @property
    def held(self) -> int:
        """Bytes currently buffered."""
        return self._held

    async def put(self, data: bytes) -> None:
        """Append ``data`` (split into pieces of at most ``max_chunk``), waiting for room for each piece."""
        if self._closed:
            raise RuntimeError(f"put on closed channel {self.name!r}")
        for start in range(0, len(data), self.max_chunk):
            piece = data if len(data) <= self.max_chunk else data[start : start + self.max_chunk]
            size = len(piece)
            async with self._changed:
                await self._changed.wait_for(lambda: self._held + size <= self.capacity)  # noqa: B023 (awaited here)
                self._items.append(piece)
                self._held += len(piece)
                self.high_water = max(self.high_water, self._held)
                self._changed.notify_all()

    async def get(self) -> bytes | None:
        """The next chunk, or ``None`` once the producer has closed the channel and it is drained."""
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self._items) or self._closed)
            if not self._items:
                return None
            piece = self._items.popleft()
            self._held -= len(piece)
            self._changed.notify_all()
            return piece

    async def close(self) -> None:
        """Mark the orderly end of the stream; the consumer reads ``None`` after the buffered chunks."""
        async with self._changed:
            self._closed = True
            self._changed.notify_all()
