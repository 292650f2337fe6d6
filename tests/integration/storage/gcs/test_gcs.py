"""The GCS backend against a real JSON-API server (fake-gcs-server, see conftest.py): resumable writes in parts,
streaming reads, lists, aborts, error kinds, and the backup pipeline end to end."""

from __future__ import annotations

import hashlib
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from dbops.backup.pipeline import run_backup, run_restore
from dbops.storage import StorageError
from dbops.storage.gcs import CHUNK_ALIGN, GCSCredentials, GCSStore
from tests.integration.storage.gcs.conftest import FakeGCS, gcs_config
from tests.unit.backup.fakes import MemorySink, MemorySource, random_bytes


async def write(store: GCSStore, key: str, parts: list[bytes]) -> None:
    writer = await store.open_writer(key)
    assert writer.concurrent_parts == 1
    for number, part in enumerate(parts, 1):
        await writer.write_part(number, part, last=number == len(parts))
    await writer.complete()


async def read_all(store: GCSStore, key: str, *, chunk: int = 1 << 20) -> tuple[bytes, int]:
    reader = await store.open_reader(key)
    reader.chunk = chunk
    pieces: list[bytes] = []
    while data := await reader.read(4 << 20):
        pieces.append(data)
    await reader.finish()
    return b"".join(pieces), max((len(p) for p in pieces), default=0)


async def test_empty_object(store: GCSStore) -> None:
    await write(store, "empty", [b""])
    info = await store.stat("empty")
    assert info is not None and info.size == 0
    assert (await read_all(store, "empty"))[0] == b""


async def test_one_part(store: GCSStore) -> None:
    data = random_bytes(300_000, seed=3)
    await write(store, "db/one.sql", [data])
    assert (await read_all(store, "db/one.sql"))[0] == data


async def test_multi_part_invisible_until_complete_and_streamed_back(store: GCSStore) -> None:
    parts = [random_bytes(2 * CHUNK_ALIGN, seed=1), random_bytes(2 * CHUNK_ALIGN, seed=2), random_bytes(1000, seed=3)]
    writer = await store.open_writer("big/object.bin")
    await writer.write_part(1, parts[0], last=False)
    await writer.write_part(2, parts[1], last=False)
    await writer.write_part(3, parts[2], last=True)
    assert await store.stat("big/object.bin") is None  # nothing visible before complete()
    await writer.complete()
    data, largest = await read_all(store, "big/object.bin", chunk=64 * 1024)
    assert hashlib.sha256(data).digest() == hashlib.sha256(b"".join(parts)).digest()
    assert largest <= 64 * 1024


async def test_unaligned_parts_and_aligned_last_part(store: GCSStore) -> None:
    parts = [
        random_bytes(CHUNK_ALIGN + 5, seed=4),
        random_bytes(CHUNK_ALIGN + 5, seed=5),
        random_bytes(CHUNK_ALIGN - 10),
    ]
    await write(store, "odd.bin", parts)
    assert (await read_all(store, "odd.bin"))[0] == b"".join(parts)


async def test_abort_leaves_no_object(store: GCSStore) -> None:
    writer = await store.open_writer("aborted.bin")
    await writer.write_part(1, random_bytes(CHUNK_ALIGN), last=False)
    await writer.write_part(2, b"tail", last=True)
    await writer.abort()
    await writer.abort()  # idempotent
    assert await store.stat("aborted.bin") is None
    assert [i async for i in store.list("")] == []


async def test_missing_bucket(fake_gcs: FakeGCS) -> None:
    store = GCSStore(gcs_config("no-such-bucket-here"), None, endpoint=fake_gcs.endpoint)
    try:
        writer = await store.open_writer("k.sql")
        with pytest.raises(StorageError) as caught:
            await writer.write_part(1, b"x", last=True)
        with pytest.raises(StorageError) as stat_error:
            await store.stat("k.sql")
    finally:
        await store.close()
    assert caught.value.kind == "no-bucket" and stat_error.value.kind == "no-bucket"
    assert "no-such-bucket-here" in str(caught.value) and "k.sql" in str(caught.value)
    assert str(caught.value).startswith("gcs bucket")


async def test_not_found_read(store: GCSStore, bucket: str) -> None:
    with pytest.raises(StorageError) as caught:
        await store.open_reader("nothing-here")
    assert caught.value.kind == "not-found" and bucket in str(caught.value) and "nothing-here" in str(caught.value)


async def test_stat_list_delete(store: GCSStore) -> None:
    keys = ["p/a.sql", "p/b.sql", "p/sub/c.sql", "q/d.sql"]
    for i, key in enumerate(keys):
        await write(store, key, [b"x" * (i + 1)])
    info = await store.stat("p/b.sql")
    assert info is not None and info.key == "p/b.sql" and info.size == 2
    assert [i.key async for i in store.list("p/")] == ["p/a.sql", "p/b.sql", "p/sub/c.sql"]
    assert [i.size async for i in store.list("p/a")] == [1]
    assert len([i async for i in store.list("")]) == 4
    await store.delete("p/a.sql")
    await store.delete("p/a.sql")  # missing = success
    assert await store.stat("p/a.sql") is None


async def test_pipeline_round_trip(store: GCSStore) -> None:
    payload = random_bytes(3 * CHUNK_ALIGN + 123, seed=11)
    writer = await store.open_writer("pipe/db.sql")
    result = await run_backup(MemorySource(payload), writer, part_size=5 << 20)
    sink = MemorySink()
    reader = await store.open_reader("pipe/db.sql")
    await run_restore(reader, sink, expected_checksum=result.checksum, expected_size=result.stored_bytes)
    assert b"".join(sink.chunks) == payload


def service_account(token_uri: str) -> GCSCredentials:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    doc = {"type": "service_account", "client_email": "b@p.iam.gserviceaccount.com", "private_key": pem.decode(),
           "private_key_id": "kid-test", "token_uri": token_uri}  # fmt: skip
    return GCSCredentials(json.dumps(doc))


async def test_refused_token_is_access_denied_without_secrets(fake_gcs: FakeGCS, bucket: str) -> None:
    credentials = service_account(f"{fake_gcs.endpoint}/no-token-endpoint-here")  # a real signed JWT, refused
    delays: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)

    store = GCSStore(gcs_config(bucket), credentials, endpoint=fake_gcs.endpoint, sleep=sleep)
    try:
        with pytest.raises(StorageError) as caught:
            await store.stat("secret-test/key.sql")
    finally:
        await store.close()
    message = str(caught.value)
    assert caught.value.kind == "access-denied" and delays == []
    assert bucket in message and "secret-test/key.sql" in message
    assert "PRIVATE KEY" not in message and "kid-test" not in message and caught.value.__cause__ is None
