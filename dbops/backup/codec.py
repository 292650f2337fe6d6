"""The unit of work of a stream: a synchronous, incremental byte transform.

A :class:`Codec` turns input chunks into output pieces through two generator methods, ``update(data)`` and
``finish()``. Generators rather than "return all the output" because output size is not bounded by input size when
decoding: 8 KiB of zstd can hold 256 MiB of zeros. A codec yields its output in pieces of bounded size and does a
bounded amount of work between two pieces, and the driver (:mod:`dbops.backup.pipeline`) pulls the next piece only
when the next buffer has room. So back-pressure reaches *inside* a decompressor, and a decompression bomb costs
time, never memory.

Codecs are plain synchronous objects so they can be tested without an event loop and run off it: a codec whose
``offload`` is true (compression, encryption, hashing) has each step executed in the stage's worker thread, one step
at a time, so its state is never touched by two threads at once. Cheap codecs (counters, the hold-back) run on the
loop.

``finish()`` is called once, only after an orderly end of input, and is where a codec checks that its input was
complete (a final encrypted chunk, the end of a compressed frame, a checksum). It raises instead of yielding when
something is missing or wrong; :mod:`dbops.backup.errors` lists what it raises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol, runtime_checkable

__all__ = ["ByteCounter", "Codec", "Identity", "Sniffer"]


@runtime_checkable
class Codec(Protocol):
    """An incremental byte transform (see the module docstring for the contract)."""

    @property
    def name(self) -> str:
        """Short name for thread names and messages (``gzip``, ``aes-256-gcm``, ``sha256``)."""
        ...

    @property
    def offload(self) -> bool:
        """True when a step is CPU-heavy and must run off the event loop. May change once, after sniffing."""
        ...

    def update(self, data: bytes) -> Iterator[bytes]:
        """Consume ``data``; yield output pieces of bounded size (empty pieces are allowed and ignored)."""
        ...

    def finish(self) -> Iterator[bytes]:
        """After the orderly end of input: yield the remaining output, or raise if the input was incomplete."""
        ...


class Identity:
    """Passes bytes through unchanged (compression or encryption switched off, or not detected)."""

    name = "none"
    offload = False

    def update(self, data: bytes) -> Iterator[bytes]:
        yield data

    def finish(self) -> Iterator[bytes]:
        yield from ()


class ByteCounter:
    """Counts the bytes that pass and reports the running total (the raw counter of backup.md 2).

    ``on_progress`` is called with the total after every chunk. The counter runs on the event loop (``offload`` is
    false), so the callback may touch loop objects; it must be cheap (the runner throttles its own status writes).
    """

    offload = False

    def __init__(self, name: str = "counter", on_progress: Callable[[int], None] | None = None) -> None:
        self.name = name
        self.count = 0
        self._on_progress = on_progress

    def update(self, data: bytes) -> Iterator[bytes]:
        self.count += len(data)
        if self._on_progress is not None:
            self._on_progress(self.count)
        yield data

    def finish(self) -> Iterator[bytes]:
        yield from ()


class Sniffer:
    """Base of codecs that choose what to do from the first bytes of the stream (magic bytes, headers).

    The first ``sniff_size`` bytes are held until they have all arrived (or the stream ends sooner); then
    :meth:`choose` picks the codec that handles the whole stream, and everything is delegated to it. Detection
    from content makes restores of hand-made objects work when the configuration is wrong (backup.md 7, 8.4).
    """

    sniff_size = 8

    def __init__(self, name: str) -> None:
        self._name = name
        self._head = b""
        self._inner: Codec | None = None

    @property
    def name(self) -> str:
        return self._inner.name if self._inner is not None else self._name

    @property
    def offload(self) -> bool:
        # Until the choice is made, assume the worst: the step that sniffs also starts the chosen codec.
        return self._inner.offload if self._inner is not None else True

    @property
    def chosen(self) -> Codec | None:
        """The codec picked from the stream's first bytes, once it is known."""
        return self._inner

    def choose(self, head: bytes) -> Codec:
        """The codec for a stream starting with ``head`` (shorter than ``sniff_size`` only for a short stream)."""
        raise NotImplementedError

    def update(self, data: bytes) -> Iterator[bytes]:
        if self._inner is None:
            self._head += data
            if len(self._head) < self.sniff_size:
                return
            self._inner = self.choose(self._head)
            data, self._head = self._head, b""
        yield from self._inner.update(data)

    def finish(self) -> Iterator[bytes]:
        if self._inner is None:
            self._inner = self.choose(self._head)
            if self._head:
                yield from self._inner.update(self._head)
            self._head = b""
        yield from self._inner.finish()
