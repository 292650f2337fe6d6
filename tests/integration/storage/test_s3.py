"""The S3 backend against a real S3 server (versitygw, see conftest.py): writes, reads, lists, aborts, errors, and
the backup pipeline end to end."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dbops.backup.compression import CompressionSettings
from dbops.backup.encryption import EncryptionSettings
from dbops.backup.keys import EncryptionKey
from dbops.backup.parts import MIN_PART_SIZE
from dbops.backup.pipeline import run_backup, run_restore
from dbops.storage import StorageError
from dbops.storage.retry import RetryPolicy
from dbops.storage.s3 import S3Credentials, S3Reader, S3Store
from tests.integration.storage.conftest import SECRET_KEY, Gateway, s3_config
from tests.unit.backup.fakes import MemorySink, MemorySource, compressible, random_bytes

MiB = 1 << 20


class CountingSleep:
    """Records the retry delays instead of sleeping."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


async def read_all(store: S3Store, key: str, *, chunk: int | None = None) -> tuple[bytes, int]:
    """The object's bytes and the largest single read."""
    reader = await store.open_reader(key)
    if chunk is not None:
        reader.chunk = chunk
    pieces: list[bytes] = []
    while data := await reader.read(4 * MiB):
        pieces.append(data)
    await reader.finish()
    return b"".join(pieces), max((len(p) for p in pieces), default=0)


async def pending_uploads(raw_s3: Any, bucket: str) -> list[str]:
    answer = await raw_s3.list_multipart_uploads(Bucket=bucket)
    return [u["Key"] for u in answer.get("Uploads", [])]


async def test_single_part_is_one_put(store: S3Store, raw_s3: Any, bucket: str) -> None:
    data = random_bytes(300_000, seed=3)
    writer = await store.open_writer("db/one.sql", size_hint=len(data))
    await writer.write_part(1, data, last=True)
    await writer.complete()
    assert writer.upload_id is None  # never a multipart upload
    head = await raw_s3.head_object(Bucket=bucket, Key="db/one.sql")
    assert "-" not in head["ETag"]  # a PUT's ETag, not a multipart "<md5>-<parts>"
    assert (await read_all(store, "db/one.sql"))[0] == data


async def test_empty_object(store: S3Store) -> None:
    writer = await store.open_writer("empty")
    await writer.write_part(1, b"", last=True)
    await writer.complete()
    info = await store.stat("empty")
    assert info is not None and info.size == 0
    assert (await read_all(store, "empty"))[0] == b""


async def test_multipart_three_parts_concurrently_streamed_back(store: S3Store, raw_s3: Any, bucket: str) -> None:
    parts = [random_bytes(MIN_PART_SIZE, seed=1), random_bytes(MIN_PART_SIZE, seed=2), random_bytes(MiB + 7, seed=3)]
    writer = await store.open_writer("big/object.bin")
    assert writer.concurrent_parts == 2
    await asyncio.gather(writer.write_part(1, parts[0], last=False), writer.write_part(2, parts[1], last=False))
    assert await pending_uploads(raw_s3, bucket) == ["big/object.bin"]
    assert await store.stat("big/object.bin") is None  # nothing visible before complete()
    await writer.write_part(3, parts[2], last=True)
    await writer.complete()

    head = await raw_s3.head_object(Bucket=bucket, Key="big/object.bin")
    assert head["ETag"].strip('"').endswith("-3")
    assert await pending_uploads(raw_s3, bucket) == []
    data, largest_read = await read_all(store, "big/object.bin", chunk=256 * 1024)
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256(b"".join(parts)).hexdigest()
    assert largest_read <= 256 * 1024  # streamed in bounded chunks, never the whole object


async def test_read_resumes_after_a_lost_connection(store: S3Store) -> None:
    data = random_bytes(3 * MiB, seed=9)
    writer = await store.open_writer("resume.bin")
    await writer.write_part(1, data, last=True)
    await writer.complete()

    reader = await store.open_reader("resume.bin")
    assert isinstance(reader, S3Reader)
    resumed_at: list[int] = []
    first_get = reader._get

    async def counting_get(s3: Any) -> None:
        resumed_at.append(reader.position)
        await first_get(s3)

    reader._get = counting_get  # type: ignore[method-assign]
    first = await reader.read(MiB)
    reader._body.close()  # the connection drops mid-object
    rest = bytearray()
    while chunk := await reader.read(MiB):
        rest += chunk
    await reader.finish()
    assert resumed_at == [len(first)]  # one ranged GET from where the first response broke off
    assert first + bytes(rest) == data


async def test_stat_list_delete(store: S3Store) -> None:
    keys = ["p/a.sql", "p/b.sql", "p/sub/c.sql", "q/d.sql"]
    for i, key in enumerate(keys):
        writer = await store.open_writer(key)
        await writer.write_part(1, b"x" * (i + 1), last=True)
        await writer.complete()

    info = await store.stat("p/b.sql")
    assert info is not None and info.key == "p/b.sql" and info.size == 2
    assert abs(info.modified - datetime.now(UTC)) < timedelta(minutes=5)
    assert await store.stat("p/missing.sql") is None

    assert [i.key for i in [i async for i in store.list("p/")]] == ["p/a.sql", "p/b.sql", "p/sub/c.sql"]
    assert [i.size for i in [i async for i in store.list("p/a")]] == [1]
    assert len([i async for i in store.list("")]) == 4

    await store.delete("p/a.sql")
    await store.delete("p/a.sql")  # missing = success
    assert await store.stat("p/a.sql") is None
    assert [i.key for i in [i async for i in store.list("p/")]] == ["p/b.sql", "p/sub/c.sql"]


async def test_open_reader_of_missing_object(store: S3Store, bucket: str) -> None:
    with pytest.raises(StorageError) as caught:
        await store.open_reader("nothing-here")
    assert caught.value.kind == "not-found"
    assert bucket in str(caught.value) and "nothing-here" in str(caught.value)


async def test_abort_leaves_no_object_and_no_upload(store: S3Store, raw_s3: Any, bucket: str) -> None:
    writer = await store.open_writer("aborted.bin")
    await writer.write_part(1, random_bytes(MIN_PART_SIZE), last=False)
    await writer.write_part(2, b"tail", last=True)
    assert await pending_uploads(raw_s3, bucket) == ["aborted.bin"]
    await writer.abort()
    await writer.abort()  # idempotent
    assert await pending_uploads(raw_s3, bucket) == []
    assert await store.stat("aborted.bin") is None


async def test_abort_after_a_single_put_removes_the_object(store: S3Store) -> None:
    writer = await store.open_writer("put-then-fail.sql")
    await writer.write_part(1, b"all of it", last=True)
    await writer.abort()  # the run failed before complete(): the object must not stay
    assert await store.stat("put-then-fail.sql") is None


async def test_abort_after_complete_finds_nothing(store: S3Store, raw_s3: Any, bucket: str) -> None:
    writer = await store.open_writer("done.bin")
    await writer.write_part(1, random_bytes(MIN_PART_SIZE), last=False)
    await writer.write_part(2, b"end", last=True)
    await writer.complete()
    assert writer.upload_id is not None
    await store.abort_upload("done.bin", writer.upload_id)  # the upload completed: nothing to abort, no error
    await writer.abort()
    assert (await store.stat("done.bin")) is not None
    assert await pending_uploads(raw_s3, bucket) == []


async def test_stale_uploads_are_aborted(store: S3Store, raw_s3: Any, bucket: str) -> None:
    for key in ("backups/a.dump", "backups/b.dump", "other/c.dump"):
        await raw_s3.create_multipart_upload(Bucket=bucket, Key=key)

    assert await store.abort_incomplete_uploads("backups/", older_than=timedelta(hours=1)) == []  # too young
    later = datetime.now(UTC) + timedelta(hours=2)
    aborted = await store.abort_incomplete_uploads("backups/", older_than=timedelta(hours=1), now=later)
    assert sorted(aborted) == ["backups/a.dump", "backups/b.dump"]
    assert await pending_uploads(raw_s3, bucket) == ["other/c.dump"]

    # Opening a writer aborts what an interrupted attempt left at the same key (backup.md 5.1), nothing else.
    await raw_s3.create_multipart_upload(Bucket=bucket, Key="other/c.dump.more")
    writer = await store.open_writer("other/c.dump")
    assert await pending_uploads(raw_s3, bucket) == ["other/c.dump.more"]
    await writer.write_part(1, b"fresh", last=True)
    await writer.complete()


async def test_wrong_credentials_name_bucket_and_key_never_the_secret(versitygw: Gateway, bucket: str) -> None:
    wrong_secret = "wrong-secret-value-1234"
    sleep = CountingSleep()
    store = S3Store(s3_config(versitygw, bucket), S3Credentials("dbops-test-access", wrong_secret), sleep=sleep)
    try:
        writer = await store.open_writer("secret-test/key.sql")
        with pytest.raises(StorageError) as caught:
            await writer.write_part(1, b"data", last=True)
    finally:
        await store.close()
    error = caught.value
    message = str(error)
    assert error.kind == "access-denied" and not error.retryable
    assert bucket in message and "secret-test/key.sql" in message and message.startswith("s3 bucket")
    for secret in (wrong_secret, SECRET_KEY):
        assert secret not in message and secret not in repr(error) and secret not in str(error.__context__)
    assert error.__cause__ is None
    assert sleep.delays == []  # not retried


async def test_missing_bucket_is_not_retried(versitygw: Gateway) -> None:
    sleep = CountingSleep()
    store = S3Store(s3_config(versitygw, "no-such-bucket-here"), versitygw.credentials, sleep=sleep)
    try:
        with pytest.raises(StorageError) as caught:
            await store.open_writer("k.sql")  # its look for interrupted uploads meets the missing bucket
        with pytest.raises(StorageError) as stat_error:
            await store.stat("k.sql")  # HEAD's bare 404 is told apart from a missing object
    finally:
        await store.close()
    assert caught.value.kind == "no-bucket" and caught.value.code == "NoSuchBucket"
    assert "no-such-bucket-here" in str(caught.value) and "k.sql" in str(caught.value)
    assert stat_error.value.kind == "no-bucket"
    assert sleep.delays == []


async def test_unreachable_endpoint_is_retried_then_reported(versitygw: Gateway, bucket: str) -> None:
    sleep = CountingSleep()
    config = s3_config(versitygw, bucket).model_copy(update={"endpoint": "http://127.0.0.1:9"})  # discard port
    store = S3Store(config, versitygw.credentials, sleep=sleep, policy=RetryPolicy(retries=5))
    try:
        with pytest.raises(StorageError) as caught:
            await store.stat("k")
    finally:
        await store.close()
    assert caught.value.kind == "unavailable" and caught.value.retryable
    assert len(sleep.delays) == 5
    assert "127.0.0.1:9" in str(caught.value)


async def test_invalid_endpoint_is_reported(versitygw: Gateway, bucket: str) -> None:
    config = s3_config(versitygw, bucket).model_copy(update={"endpoint": "not a url"})
    store = S3Store(config, versitygw.credentials)
    try:
        with pytest.raises(StorageError) as caught:
            await store.stat("k")
    finally:
        await store.close()
    assert caught.value.kind == "invalid"


@pytest.mark.parametrize("size", [3 * MiB, 12 * MiB + 12345])
async def test_backup_pipeline_into_s3_and_back(store: S3Store, raw_s3: Any, bucket: str, size: int) -> None:
    """The real pipeline (zstd + AES-GCM) writes through the S3 writer and restores through the S3 reader."""
    data = compressible(size // 2, seed=5) + random_bytes(size - size // 2, seed=6)
    key_material = EncryptionKey(bytes(range(32)))
    writer = await store.open_writer("pipeline/app-backup.sql.zst.enc", size_hint=size)
    result = await run_backup(
        MemorySource(data),
        writer,
        compression=CompressionSettings("zstd", 3),
        encryption=EncryptionSettings(key_material, "aes-256-gcm"),
        part_size=MIN_PART_SIZE,
    )
    assert result.size_bytes == size
    assert result.parts == -(-result.stored_bytes // MIN_PART_SIZE)
    info = await store.stat("pipeline/app-backup.sql.zst.enc")
    assert info is not None and info.size == result.stored_bytes
    assert await pending_uploads(raw_s3, bucket) == []

    sink = MemorySink()
    restored = await run_restore(
        await store.open_reader("pipeline/app-backup.sql.zst.enc"),
        sink,
        key=key_material,
        expected_checksum=result.checksum,
        expected_size=result.stored_bytes,
    )
    assert restored.checksum == result.checksum
    assert restored.compression == "zstd" and restored.encryption == "dbops-v2"
    assert hashlib.sha256(sink.data).digest() == hashlib.sha256(data).digest()
    assert sink.complete_calls == 1


async def test_failed_backup_leaves_nothing_in_s3(store: S3Store, raw_s3: Any, bucket: str) -> None:
    """A dump that fails after several parts were uploaded: the pipeline aborts the writer, nothing remains."""
    data = random_bytes(12 * MiB, seed=8)
    writer = await store.open_writer("failed/backup.sql")
    with pytest.raises(RuntimeError, match="dump tool failed"):
        await run_backup(
            MemorySource(data, fail_finish=RuntimeError("dump tool failed")), writer, part_size=MIN_PART_SIZE
        )
    assert await pending_uploads(raw_s3, bucket) == []
    assert await store.stat("failed/backup.sql") is None
