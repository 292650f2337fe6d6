"""A PersistentVolumeClaim mounted into the operator pod, as backup storage (backup.md 5.5).

The operator cannot attach volumes to itself, so a claim ``<claimName>`` is used only where it was mounted in
advance: ``<mount root>/<claimName>`` (``--pvc-mount-root``). Every operation first checks that this directory
exists and is a mount point — without the check, a missing mount would silently write backups into the container's
own file system, where they vanish with the pod. Tests, which cannot mount as a non-root user, pass
``require_mount_point=False`` to accept a plain directory; nothing else should.

* **Keys** are paths relative to the claim's directory (the ``subPath`` is part of the key, backup.md 6.1). Besides
  :func:`~dbops.storage.base.check_key` (no ``..``, no absolute keys), a key's resolved directory must lie inside
  the claim's directory, and files are opened with ``O_NOFOLLOW``: a symbolic link in the volume cannot lead a write
  or a read outside it. Keys ending in ``.partial`` are refused: that name belongs to unfinished writes.
* **Writes** go to ``<file>.partial``, strictly in order (``concurrent_parts`` is 1: a file is appended to), then
  ``complete()`` flushes it to disk (``fsync``), renames it into place and flushes the directory, so a crash never
  leaves a truncated file under the final name. ``abort()`` removes the partial file. A full volume (``ENOSPC``,
  ``EDQUOT``, also when reported late by ``fsync``) fails with ``PVC "<claimName>" is full``.
* **Blocking I/O** runs in the store's own small thread pool, never on the event loop and never in a pool shared
  with other work.

The write and fsync functions are parameters so tests can make a disk fill up without filling one.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import errno
import os
import stat as stat_module
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, TypeVar

from dbops.api.storage import PVCStorage
from dbops.storage.base import ErrorKind, ObjectInfo, StorageError, check_key, check_prefix

__all__ = ["PARTIAL_SUFFIX", "PVCReader", "PVCStore", "PVCWriter", "not_mounted_message"]

T = TypeVar("T")
WriteFn = Callable[[int, memoryview], int]
FsyncFn = Callable[[int], None]

PARTIAL_SUFFIX: Final = ".partial"
DEFAULT_READ_CHUNK: Final = 1 << 20
_FULL: Final = frozenset({errno.ENOSPC, errno.EDQUOT})
_FILE_MODE: Final = 0o640


def not_mounted_message(claim_name: str, path: Path | str) -> str:
    """The message of backup.md 5.5 for a claim that is not mounted where the convention says."""
    return (
        f'PVC "{claim_name}" is not mounted into the operator at {path}; add it to the Helm value '
        "backupStorage.pvcs (or mount it there) and restart the operator"
    )


class PVCStore:
    """The directory ``<mount root>/<claim name>``, objects addressed by relative key."""

    backend = "pvc"

    def __init__(
        self,
        claim_name: str,
        mount_root: str | Path,
        *,
        require_mount_point: bool = True,
        write: WriteFn = os.write,
        fsync: FsyncFn = os.fsync,
        read_chunk: int = DEFAULT_READ_CHUNK,
    ) -> None:
        if not claim_name or "/" in claim_name or claim_name in (".", ".."):
            raise ValueError(f"invalid claim name {claim_name!r}")
        self.claim_name = claim_name
        self.root = Path(mount_root) / claim_name
        self.require_mount_point = require_mount_point
        self.read_chunk = read_chunk
        self._write = write
        self._fsync = fsync
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"dbops-pvc-{claim_name}")
        self.location = f'PVC "{claim_name}" at {self.root}'

    @classmethod
    def from_config(cls, config: PVCStorage, mount_root: str | Path, **options: object) -> PVCStore:
        """The store for a ``storage.pvc`` block; ``subPath`` is not applied here but in the keys (backup.md 6.1)."""
        return cls(config.claim_name, mount_root, **options)  # type: ignore[arg-type]

    # -- the ObjectStore interface --------------------------------------------------------------------------------

    async def open_writer(self, key: str, *, size_hint: int | None = None) -> PVCWriter:
        """A writer of ``<key>.partial``; ``size_hint`` is advisory (a compressed dump is smaller than estimated)."""
        path = self._path(key)
        fd = await self._run("open for writing", key, self._open_partial, path)
        return PVCWriter(self, key, path, fd)

    async def open_reader(self, key: str) -> PVCReader:
        path = self._path(key)
        fd = await self._run("read", key, self._open_read, path)
        return PVCReader(self, key, fd)

    async def stat(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        st = await self._run("stat", key, self._stat, path)
        if st is None or not stat_module.S_ISREG(st.st_mode):
            return None
        return ObjectInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))

    async def delete(self, key: str) -> None:
        """Remove the file; a missing file is success. (The caller removes ``<key>.meta.json`` the same way.)"""
        path = self._path(key)
        await self._run("delete", key, self._unlink, path)

    async def list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        """Every regular file whose key starts with ``prefix``, sorted by key; partial files and links skipped."""
        try:
            check_prefix(prefix)
        except ValueError as exc:
            raise self._error(str(exc), prefix or None, "invalid") from None
        for info in await self._run("list", prefix or None, self._walk, prefix):
            yield info

    async def close(self) -> None:
        self._executor.shutdown(wait=True)

    # -- internals (the blocking parts run in the executor) --------------------------------------------------------

    def check_mounted(self, *, for_write: bool) -> None:
        """The convention of backup.md 5.5: the claim's directory exists, is a mount point, is writable for writes."""
        if not self.root.is_dir() or (self.require_mount_point and not os.path.ismount(self.root)):
            raise self._error(not_mounted_message(self.claim_name, self.root), None, "not-mounted", prefix=False)
        if for_write and not os.access(self.root, os.W_OK):
            raise self._error(
                f'PVC "{self.claim_name}" is mounted at {self.root} but not writable by the operator '
                f"(uid {os.geteuid()}); check the volume's permissions and the pod's fsGroup, and that it is not "
                "mounted readOnly",
                None,
                "access-denied",
                prefix=False,
            )

    def _path(self, key: str) -> Path:
        try:
            check_key(key)
        except ValueError as exc:
            raise self._error(str(exc), None, "invalid") from None
        if key.endswith(PARTIAL_SUFFIX):
            raise self._error(f"keys ending in {PARTIAL_SUFFIX!r} are reserved for unfinished writes", key, "invalid")
        return self.root / key

    def _inside(self, path: Path, key: str) -> None:
        """Refuse ``path`` when its directory resolves (through symbolic links) outside the claim's directory."""
        root = os.path.realpath(self.root)
        parent = os.path.realpath(path.parent)
        if parent != root and not parent.startswith(root + os.sep):
            raise self._error("the key leads outside the volume (through a symbolic link)", key, "invalid")

    def _open_partial(self, path: Path) -> int:
        self.check_mounted(for_write=True)
        key = str(path.relative_to(self.root))
        self._inside(path, key)  # before mkdir: never create directories behind a link that leaves the volume
        path.parent.mkdir(parents=True, exist_ok=True)
        self._inside(path, key)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
        return os.open(_partial(path), flags, _FILE_MODE)

    def _open_read(self, path: Path) -> int:
        self.check_mounted(for_write=False)
        self._inside(path, str(path.relative_to(self.root)))
        return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)

    def _stat(self, path: Path) -> os.stat_result | None:
        self.check_mounted(for_write=False)
        self._inside(path, str(path.relative_to(self.root)))
        try:
            return os.stat(path, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def _unlink(self, path: Path) -> None:
        self.check_mounted(for_write=True)
        self._inside(path, str(path.relative_to(self.root)))
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    def _walk(self, prefix: str) -> builtins.list[ObjectInfo]:
        self.check_mounted(for_write=False)
        directory = prefix.rpartition("/")[0]
        start = self.root / directory if directory else self.root
        if directory:
            self._inside(start / "x", directory)
        found: builtins.list[ObjectInfo] = []
        for dirpath, dirnames, filenames in os.walk(start, followlinks=False):
            dirnames.sort()
            for name in filenames:
                path = Path(dirpath) / name
                key = path.relative_to(self.root).as_posix()
                if not key.startswith(prefix) or name.endswith(PARTIAL_SUFFIX):
                    continue
                st = os.stat(path, follow_symlinks=False)
                if stat_module.S_ISREG(st.st_mode):
                    found.append(ObjectInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC)))
        return sorted(found, key=lambda info: info.key)

    async def _run(self, operation: str, key: str | None, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` in the store's threads; an :class:`OSError` becomes a :class:`StorageError` about ``key``."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        except OSError as exc:
            raise self.os_error(exc, operation, key) from None

    def os_error(self, exc: OSError, operation: str, key: str | None) -> StorageError:
        """The :class:`StorageError` for a failed system call: a full volume says so; a missing file is
        ``not-found``."""
        code = errno.errorcode.get(exc.errno or 0)
        if exc.errno in _FULL:
            return StorageError(
                f'PVC "{self.claim_name}" is full ({operation} {key!r} at {self.root}: {exc.strerror})',
                backend=self.backend,
                location=self.location,
                key=key,
                kind="full",
                code=code,
            )
        kind: ErrorKind = "failed"
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            kind = "not-found"
        elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            kind = "access-denied"
        elif exc.errno == errno.ELOOP:
            kind = "invalid"
        reason = "the object is a symbolic link" if exc.errno == errno.ELOOP else exc.strerror or str(exc)
        return self._error(f"{operation} failed: {reason}", key, kind, code=code)

    def _error(
        self, detail: str, key: str | None, kind: ErrorKind, *, code: str | None = None, prefix: bool = True
    ) -> StorageError:
        where = f"pvc {self.location}" + (f", key {key!r}" if key else "")
        return StorageError(
            f"{where}: {detail}" if prefix else detail,
            backend=self.backend,
            location=self.location,
            key=key,
            kind=kind,
            code=code,
        )


class PVCWriter:
    """``<key>.partial`` being appended to, renamed into place by ``complete()``."""

    def __init__(self, store: PVCStore, key: str, path: Path, fd: int) -> None:
        self.store = store
        self.key = key
        self.path = path
        self.partial = _partial(path)
        self._fd: int | None = fd
        self._next = 1
        self._last_written = False
        self._renamed = False
        self._completed = False
        self._aborted = False

    @property
    def concurrent_parts(self) -> int:
        return 1

    async def write_part(self, number: int, data: bytes, *, last: bool) -> None:
        if self._fd is None or self._last_written:
            raise RuntimeError("write_part after the last part, complete() or abort()")
        if number != self._next:
            raise RuntimeError(f"parts must be written in order: expected {self._next}, got {number}")
        await self.store._run("write", self.key, self._write_all, self._fd, data)
        self._next += 1
        self._last_written = last

    async def complete(self) -> None:
        if self._completed:
            return
        if not self._last_written or self._aborted:
            raise RuntimeError("complete() before the last part was written, or after abort()")
        await self.store._run("complete", self.key, self._finish)
        self._completed = True

    async def abort(self) -> None:
        """Close and remove the partial file (and the file, if an interrupted ``complete()`` renamed it already)."""
        if self._completed or self._aborted:
            return
        self._aborted = True
        await self.store._run("abort", self.key, self._remove)

    def _write_all(self, fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = self.store._write(fd, view)
            view = view[written:]

    def _finish(self) -> None:
        assert self._fd is not None
        self.store._fsync(self._fd)
        fd, self._fd = self._fd, None
        os.close(fd)
        os.replace(self.partial, self.path)
        self._renamed = True
        directory = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def _remove(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            self.partial.unlink()
        if self._renamed:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


class PVCReader:
    """A file read in chunks of at most ``store.read_chunk`` bytes."""

    def __init__(self, store: PVCStore, key: str, fd: int) -> None:
        self.store = store
        self.key = key
        self._fd: int | None = fd

    async def read(self, size: int) -> bytes:
        if self._fd is None:
            raise RuntimeError("read after finish() or abort()")
        return await self.store._run("read", self.key, os.read, self._fd, min(size, self.store.read_chunk))

    async def finish(self) -> None:
        self._close()

    async def abort(self) -> None:
        self._close()

    def _close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.close(fd)


def _partial(path: Path) -> Path:
    return path.with_name(path.name + PARTIAL_SUFFIX)
