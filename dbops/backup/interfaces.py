"""The three protocols the stream is written against; engines and storage backends implement them.

* :class:`Source` — where bytes come from: a dump tool's standard output or an engine stream (backup), a storage
  download (restore).
* :class:`ObjectWriter` — where a backup goes: a storage backend's upload in parts (S3 multipart, GCS resumable,
  Azure staged blocks, a PVC ``.partial`` file).
* :class:`StreamSink` — where a restore goes: the restore tool's standard input or an engine loader.

Lifecycle, guaranteed by :mod:`dbops.backup.pipeline` and relied on by implementations:

* The end is explicit. A source's end of data is confirmed by :meth:`Source.finish` (exit status of the tool), and
  only after every stage has finished is :meth:`ObjectWriter.complete` / :meth:`StreamSink.complete` called — at
  most once. An object is therefore never completed from a failed or partial dump.
* Failure is explicit too. If the run fails or is cancelled (deadline, deletion, shutdown, ``Replace``) at any
  point, ``abort()`` is called **exactly once** on the writer or sink and on the source (unless the source's
  ``finish()`` had already returned), after every in-flight ``write_part``/``write`` call has ended or been
  cancelled, and ``complete()`` is never called afterwards. ``abort()`` runs to its end even while the run is being
  cancelled; it should bound its own duration (the dump tool: SIGTERM, then SIGKILL after 10 s).
* If ``complete()`` itself fails or is interrupted, ``abort()`` is still called once: it must then clean up whatever
  ``complete()`` may have left (an S3 abort of an upload that did complete simply finds nothing to abort; the
  metadata file, which marks a complete backup, is never written in that case).

Nothing here may put credentials in an exception message: the stream's errors are reported to users as they are.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["ObjectWriter", "Source", "StreamSink"]


@runtime_checkable
class Source(Protocol):
    """A byte stream with an explicit, checked end."""

    async def read(self, size: int) -> bytes:
        """Up to ``size`` bytes (fewer is fine); ``b""`` only at the end of the data."""
        ...

    async def finish(self) -> None:
        """Called once after ``read`` returned ``b""``: confirm the source ended successfully (for a dump tool, wait
        for it and raise if its exit status or output says it failed); release what it holds (scratch files)."""
        ...

    async def abort(self) -> None:
        """The run failed or was cancelled: stop producing and release everything (terminate the tool, SIGKILL after
        a grace period; cancel engine-side jobs; remove scratch files). Must not raise for an already ended source."""
        ...


@runtime_checkable
class ObjectWriter(Protocol):
    """An object being written in parts.

    ``write_part`` is called with part numbers 1, 2, 3, … (started in that order); every part but the last has the
    same size (the part size of the run), the last has 0 to part-size bytes and is flagged ``last=True``. An empty
    stream is one empty last part, so a backend can always turn a single-part object into a simple upload. Up to
    ``concurrent_parts`` calls (and at most the run's limit, two by default) run at the same time; with 1 they are
    strictly sequential, for backends that must append in order.
    """

    @property
    def concurrent_parts(self) -> int:
        """How many ``write_part`` calls may be in flight at once (at least 1)."""
        ...

    async def write_part(self, number: int, data: bytes, *, last: bool) -> None:
        """Store part ``number`` (1-based). Retries are the backend's business; raise when it gives up."""
        ...

    async def complete(self) -> None:
        """Make the object visible under its key, after every part was written."""
        ...

    async def abort(self) -> None:
        """Remove every trace of the unfinished object (abort the multipart upload, delete the ``.partial`` file)."""
        ...


@runtime_checkable
class StreamSink(Protocol):
    """A consumer of the restored byte stream."""

    async def write(self, data: bytes) -> None:
        """Deliver ``data``; returning only when the consumer has taken it (e.g. ``drain()``) is the back-pressure."""
        ...

    async def complete(self) -> None:
        """End of input, after every integrity check passed: close the consumer's input and wait for it to finish;
        raise when it failed."""
        ...

    async def abort(self) -> None:
        """The stream failed (corrupt, wrong key, cancelled): stop the consumer *before* it sees the end of its
        input, so tools that restore in one transaction roll back."""
        ...
