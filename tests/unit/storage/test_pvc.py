"""The PVC backend on a real temporary directory (accepted as a plain directory: mounting needs root)."""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dbops.api.storage import PVCStorage
from dbops.backup.compression import CompressionSettings
from dbops.backup.encryption import EncryptionSettings
from dbops.backup.keys import EncryptionKey
from dbops.backup.pipeline import run_backup, run_restore
from dbops.storage import ObjectStore, StorageError, open_store
from dbops.storage.pvc import PVCStore, not_mounted_message
from tests.unit.backup.fakes import MemorySink, MemorySource, compressible

CLAIM = "backups"


@pytest.fixture
def mount_root(tmp_path: Path) -> Path:
    (tmp_path / CLAIM).mkdir()
    return tmp_path


@pytest.fixture
async def store(mount_root: Path) -> AsyncIterator[PVCStore]:
    store = PVCStore(CLAIM, mount_root, require_mount_point=False)
    yield store
    await store.close()


def files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


async def read_all(store: PVCStore, key: str) -> tuple[bytes, int]:
    reader = await store.open_reader(key)
    pieces = []
    while data := await reader.read(1 << 30):
        pieces.append(data)
    await reader.finish()
    return b"".join(pieces), max((len(p) for p in pieces), default=0)


def test_is_an_object_store(store: PVCStore) -> None:
    assert isinstance(store, ObjectStore)


async def test_write_in_parts_then_complete(store: PVCStore, mount_root: Path) -> None:
    root = mount_root / CLAIM
    writer = await store.open_writer("sub/dir/db.sql", size_hint=30)
    assert writer.concurrent_parts == 1
    await writer.write_part(1, b"a" * 10, last=False)
    await writer.write_part(2, b"b" * 10, last=False)
    assert files(root) == ["sub/dir/db.sql.partial"]  # nothing under the final name yet
    assert await store.stat("sub/dir/db.sql") is None
    await writer.write_part(3, b"c" * 5, last=True)
    await writer.complete()
    assert files(root) == ["sub/dir/db.sql"]
    assert (root / "sub/dir/db.sql").read_bytes() == b"a" * 10 + b"b" * 10 + b"c" * 5
    info = await store.stat("sub/dir/db.sql")
    assert info is not None and info.size == 25 and info.key == "sub/dir/db.sql"


async def test_reads_stream_in_bounded_chunks(mount_root: Path) -> None:
    store = PVCStore(CLAIM, mount_root, require_mount_point=False, read_chunk=4096)
    try:
        data = os.urandom(50_000)
        writer = await store.open_writer("r.bin")
        await writer.write_part(1, data, last=True)
        await writer.complete()
        read, largest = await read_all(store, "r.bin")
        assert read == data and largest <= 4096
    finally:
        await store.close()


async def test_abort_removes_the_partial_file(store: PVCStore, mount_root: Path) -> None:
    writer = await store.open_writer("db.sql")
    await writer.write_part(1, b"x" * 100, last=False)
    await writer.abort()
    await writer.abort()  # once is enough; again is harmless
    assert files(mount_root / CLAIM) == []


async def test_abort_after_complete_keeps_the_object(store: PVCStore) -> None:
    writer = await store.open_writer("db.sql")
    await writer.write_part(1, b"x", last=True)
    await writer.complete()
    await writer.abort()
    assert await store.stat("db.sql") is not None


async def test_parts_must_come_in_order(store: PVCStore) -> None:
    writer = await store.open_writer("db.sql")
    with pytest.raises(RuntimeError, match="in order"):
        await writer.write_part(2, b"x", last=False)
    await writer.abort()


async def test_a_rewrite_replaces_a_stale_partial(store: PVCStore, mount_root: Path) -> None:
    (mount_root / CLAIM / "db.sql.partial").write_bytes(b"left by an interrupted attempt" * 100)
    writer = await store.open_writer("db.sql")
    await writer.write_part(1, b"new", last=True)
    await writer.complete()
    assert (mount_root / CLAIM / "db.sql").read_bytes() == b"new"


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
async def test_full_volume_on_write(mount_root: Path, code: int) -> None:
    written = 0

    def filling_write(fd: int, data: memoryview) -> int:
        nonlocal written
        if written + len(data) > 1000:
            raise OSError(code, os.strerror(code))
        written += len(data)
        return os.write(fd, data)

    store = PVCStore(CLAIM, mount_root, require_mount_point=False, write=filling_write)
    try:
        writer = await store.open_writer("big.sql")
        await writer.write_part(1, b"x" * 600, last=False)
        with pytest.raises(StorageError) as caught:
            await writer.write_part(2, b"x" * 600, last=True)
        await writer.abort()
    finally:
        await store.close()
    assert caught.value.kind == "full"
    assert str(caught.value).startswith(f'PVC "{CLAIM}" is full')
    assert "big.sql" in str(caught.value)
    assert files(mount_root / CLAIM) == []


async def test_full_volume_reported_late_by_fsync(mount_root: Path) -> None:
    def failing_fsync(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    store = PVCStore(CLAIM, mount_root, require_mount_point=False, fsync=failing_fsync)
    try:
        writer = await store.open_writer("late.sql")
        await writer.write_part(1, b"x" * 10, last=True)
        with pytest.raises(StorageError, match=f'PVC "{CLAIM}" is full'):
            await writer.complete()
        await writer.abort()
    finally:
        await store.close()
    assert files(mount_root / CLAIM) == []


async def test_a_short_write_is_continued(mount_root: Path) -> None:
    def short_write(fd: int, data: memoryview) -> int:
        return os.write(fd, data[:7])

    store = PVCStore(CLAIM, mount_root, require_mount_point=False, write=short_write)
    try:
        writer = await store.open_writer("short.sql")
        await writer.write_part(1, b"0123456789" * 10, last=True)
        await writer.complete()
    finally:
        await store.close()
    assert (mount_root / CLAIM / "short.sql").read_bytes() == b"0123456789" * 10


async def test_not_a_mount_point_fails_with_the_documented_message(mount_root: Path) -> None:
    store = PVCStore(CLAIM, mount_root)  # a plain directory is not accepted by default
    try:
        for attempt in (store.open_writer("k"), store.open_reader("k"), store.stat("k"), store.delete("k")):
            with pytest.raises(StorageError) as caught:
                await attempt
            assert caught.value.kind == "not-mounted"
            assert str(caught.value) == not_mounted_message(CLAIM, mount_root / CLAIM)
        assert str(caught.value) == (
            f'PVC "{CLAIM}" is not mounted into the operator at {mount_root / CLAIM}; add it to the Helm value '
            "backupStorage.pvcs (or mount it there) and restart the operator"
        )
    finally:
        await store.close()


async def test_missing_claim_directory(tmp_path: Path) -> None:
    store = PVCStore("absent", tmp_path, require_mount_point=False)
    try:
        with pytest.raises(StorageError) as caught:
            await store.open_writer("k")
    finally:
        await store.close()
    assert caught.value.kind == "not-mounted" and "absent" in str(caught.value)


async def test_a_real_mount_point_passes_the_check() -> None:
    """/proc is a mount point on every Linux machine: the check accepts it (read-only use, nothing written)."""
    store = PVCStore("proc", "/")
    try:
        assert await store.stat("dbops-no-such-object") is None
    finally:
        await store.close()


@pytest.mark.parametrize("key", ["../escape", "/etc/passwd", "a/../../b", "a//b", "", "x.partial"])
async def test_keys_that_could_escape_are_refused(store: PVCStore, key: str) -> None:
    with pytest.raises(StorageError) as caught:
        await store.open_writer(key)
    assert caught.value.kind == "invalid"


async def test_a_symlinked_directory_cannot_lead_outside(store: PVCStore, mount_root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (mount_root / CLAIM / "link").symlink_to(outside)
    for attempt in (store.open_writer("link/x.sql"), store.open_writer("link/deeper/x.sql"), store.stat("link/x")):
        with pytest.raises(StorageError, match="outside the volume") as caught:
            await attempt
        assert caught.value.kind == "invalid"
    assert list(outside.iterdir()) == []  # not even a directory was created out there


async def test_a_symlinked_file_is_not_read(store: PVCStore, mount_root: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    (mount_root / CLAIM / "db.sql").symlink_to(secret)
    with pytest.raises(StorageError) as caught:
        await store.open_reader("db.sql")
    assert caught.value.kind == "invalid" and "symbolic link" in str(caught.value)
    assert await store.stat("db.sql") is None


async def test_missing_object(store: PVCStore) -> None:
    with pytest.raises(StorageError) as caught:
        await store.open_reader("missing.sql")
    assert caught.value.kind == "not-found"
    assert "missing.sql" in str(caught.value) and CLAIM in str(caught.value)
    assert await store.stat("missing.sql") is None
    await store.delete("missing.sql")  # missing = success


async def test_list_walks_the_directory(store: PVCStore, mount_root: Path) -> None:
    for key in ["p/a.sql", "p/a.sql.meta.json", "p/sub/b.sql", "q/c.sql", "pz.sql"]:
        writer = await store.open_writer(key)
        await writer.write_part(1, key.encode(), last=True)
        await writer.complete()
    unfinished = await store.open_writer("p/unfinished.sql")
    await unfinished.write_part(1, b"x", last=False)
    (mount_root / CLAIM / "p" / "link.sql").symlink_to(mount_root / CLAIM / "q" / "c.sql")

    keys = [i.key async for i in store.list("p/")]
    assert keys == ["p/a.sql", "p/a.sql.meta.json", "p/sub/b.sql"]
    assert [i.key async for i in store.list("p")] == ["p/a.sql", "p/a.sql.meta.json", "p/sub/b.sql", "pz.sql"]
    assert [i.key async for i in store.list("p/a")] == ["p/a.sql", "p/a.sql.meta.json"]
    assert len([i async for i in store.list("")]) == 5
    assert [i.key async for i in store.list("nothing/")] == []
    sizes = {i.key: i.size async for i in store.list("q/")}
    assert sizes == {"q/c.sql": len(b"q/c.sql")}
    await unfinished.abort()


async def test_delete(store: PVCStore) -> None:
    writer = await store.open_writer("d/x.sql")
    await writer.write_part(1, b"x", last=True)
    await writer.complete()
    await store.delete("d/x.sql")
    assert await store.stat("d/x.sql") is None


async def test_unwritable_claim_is_reported(mount_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A claim mounted read-only (or without the fsGroup): os.access is what the check asks, and root could
    write anywhere, so the answer is faked here."""
    real_access = os.access
    claim_dir = str(mount_root / CLAIM)
    monkeypatch.setattr(
        "dbops.storage.pvc.os.access", lambda path, mode: False if str(path) == claim_dir else real_access(path, mode)
    )
    store = PVCStore(CLAIM, mount_root, require_mount_point=False)
    try:
        with pytest.raises(StorageError) as caught:
            await store.open_writer("k")
        assert await store.stat("k") is None  # reading needs no write access
    finally:
        await store.close()
    assert caught.value.kind == "access-denied" and "not writable" in str(caught.value)


async def test_open_store_builds_a_pvc_store(mount_root: Path) -> None:
    from dbops.api.storage import StorageConfig

    config = StorageConfig(type="pvc", pvc=PVCStorage(claim_name=CLAIM, sub_path="nightly"))
    store = open_store(config, pvc_mount_root=mount_root)
    assert isinstance(store, PVCStore) and store.root == mount_root / CLAIM
    await store.close()


async def test_backup_pipeline_into_a_pvc_and_back(store: PVCStore) -> None:
    data = compressible(3 << 20, seed=4)
    key = EncryptionKey(bytes(range(32)))
    writer = await store.open_writer("nightly/app-db.sql.zst.enc")
    result = await run_backup(
        MemorySource(data),
        writer,
        compression=CompressionSettings("zstd", 3),
        encryption=EncryptionSettings(key, "aes-256-gcm"),
        part_size=256 * 1024,
    )
    info = await store.stat("nightly/app-db.sql.zst.enc")
    assert info is not None and info.size == result.stored_bytes
    sink = MemorySink()
    await run_restore(
        await store.open_reader("nightly/app-db.sql.zst.enc"),
        sink,
        key=key,
        expected_checksum=result.checksum,
        expected_size=result.stored_bytes,
    )
    assert hashlib.sha256(sink.data).digest() == hashlib.sha256(data).digest()


async def test_failed_backup_leaves_nothing_on_the_volume(store: PVCStore, mount_root: Path) -> None:
    writer = await store.open_writer("failed.sql")
    source = MemorySource(compressible(1 << 20), fail_finish=RuntimeError("pg_dump exited with status 1"))
    with pytest.raises(RuntimeError, match="pg_dump"):
        await run_backup(source, writer, part_size=64 * 1024)
    assert files(mount_root / CLAIM) == []
