"""The engine- and storage-neutral core of backups and restores (backup.md 2, 6-9).

Backup: ``Source → raw counter → compressor → encryptor → SHA-256/stored counter → parts → ObjectWriter``.
Restore: ``Source → SHA-256 verifier → decryptor → decompressor → hold-back → StreamSink``.

Design — why a chain of tasks joined by bounded byte channels, with synchronous codecs:

* **Stages are tasks joined by** :class:`~dbops.backup.channel.Channel` **buffers** (4 x 1 MiB), not one chain of
  async generators. A generator chain runs every stage in one task, one after the other: the dump would wait for each
  upload and the upload for each compression step. Separate tasks let the dump, the CPU work and the upload overlap,
  and a bounded buffer between two tasks is exactly the spec's "bounded buffers with backpressure": a full buffer
  makes the producer wait, all the way up to the dump tool's pipe.
* **The transforms are plain synchronous** :class:`~dbops.backup.codec.Codec` **objects** whose ``update``/``finish``
  are generators yielding bounded pieces. The driver pulls one piece at a time, in the run's own worker thread for
  CPU-heavy codecs, and only when the next buffer has room — so memory stays bounded even where output is not
  bounded by input (a decompression bomb, or honest zstd-compressed zeros at 30,000 : 1), the event loop is never
  blocked by compression, encryption or hashing, and every codec is unit-testable without an event loop.
* **An orderly end is proof of integrity.** A channel ends only by an explicit close, issued after the stage's
  ``finish()`` (where checksums, final-chunk authentication and end-of-frame checks happen) returned. Errors are never
  sent down a channel: the first one cancels every stage and is re-raised, the writer or sink is aborted exactly once
  and never completed. On restore the :class:`~dbops.backup.holdback.HoldBack` keeps the last MiB of decoded data
  until that end arrives, so the restore tool never reaches the end of a corrupt stream.

Modules: :mod:`~dbops.backup.interfaces` (Source, ObjectWriter, StreamSink), :mod:`~dbops.backup.pipeline`
(run_backup, run_restore, run_stream), :mod:`~dbops.backup.channel`, :mod:`~dbops.backup.codec`,
:mod:`~dbops.backup.checksum`, :mod:`~dbops.backup.compression` (+ :mod:`~dbops.backup.zstdframe`),
:mod:`~dbops.backup.encryption` (+ :mod:`~dbops.backup.legacy`), :mod:`~dbops.backup.keys`,
:mod:`~dbops.backup.holdback`, :mod:`~dbops.backup.parts`, :mod:`~dbops.backup.naming`,
:mod:`~dbops.backup.metadata`, :mod:`~dbops.backup.errors`.
"""

from dbops.backup.compression import CompressionSettings
from dbops.backup.encryption import EncryptionSettings
from dbops.backup.errors import BackupError, IntegrityError, StreamError
from dbops.backup.interfaces import ObjectWriter, Source, StreamSink
from dbops.backup.keys import EncryptionKey, parse_key
from dbops.backup.metadata import BackupMetadata
from dbops.backup.parts import choose_part_size
from dbops.backup.pipeline import BackupResult, RestoreResult, StreamLimits, run_backup, run_restore, run_stream

__all__ = [
    "BackupError",
    "BackupMetadata",
    "BackupResult",
    "CompressionSettings",
    "EncryptionKey",
    "EncryptionSettings",
    "IntegrityError",
    "ObjectWriter",
    "RestoreResult",
    "Source",
    "StreamError",
    "StreamLimits",
    "StreamSink",
    "choose_part_size",
    "parse_key",
    "run_backup",
    "run_restore",
    "run_stream",
]
