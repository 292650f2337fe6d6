"""The GCS backend's pure logic: error kinds, retryability, chunk and range arithmetic, messages without secrets."""

from __future__ import annotations

import json

import aiohttp
import pytest

from dbops.api.common import SecretKeySelector
from dbops.api.storage import GCSStorage
from dbops.storage.gcs import (
    CHUNK_ALIGN,
    GCSCredentials,
    GCSStore,
    HTTPError,
    aligned_split,
    content_range,
    error_kind,
    is_retryable,
    persisted_bytes,
)

PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nMIIsecretKEYmaterial\n-----END PRIVATE KEY-----\n"
SA = json.dumps(
    {"type": "service_account", "client_email": "b@p.iam.gserviceaccount.com", "private_key": PRIVATE_KEY,
     "private_key_id": "kid-0123456789"}
)  # fmt: skip


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [(401, "access-denied", False), (403, "access-denied", False), (404, "not-found", False),
     (429, "unavailable", True), (500, "unavailable", True), (503, "unavailable", True), (400, "invalid", False),
     (412, "failed", False)],
)  # fmt: skip
def test_status_mapping(status: int, kind: str, retryable: bool) -> None:
    error = HTTPError(status, "m")
    assert error_kind(error) == kind and is_retryable(error) is retryable


def test_connection_errors_are_retryable() -> None:
    assert is_retryable(aiohttp.ServerDisconnectedError())
    assert is_retryable(ConnectionResetError())
    assert is_retryable(aiohttp.ClientPayloadError("cut"))
    assert not is_retryable(ValueError("x"))


def test_aligned_split() -> None:
    assert aligned_split(b"") == (b"", b"")
    assert aligned_split(b"x" * 10) == (b"", b"x" * 10)
    head, rest = aligned_split(b"y" * (2 * CHUNK_ALIGN + 7))
    assert len(head) == 2 * CHUNK_ALIGN and len(rest) == 7


def test_content_range_and_persisted() -> None:
    assert content_range(0, CHUNK_ALIGN, None) == f"bytes 0-{CHUNK_ALIGN - 1}/*"
    assert (
        content_range(CHUNK_ALIGN, 10, CHUNK_ALIGN + 10) == f"bytes {CHUNK_ALIGN}-{CHUNK_ALIGN + 9}/{CHUNK_ALIGN + 10}"
    )
    assert content_range(0, 0, 0) == "bytes */0"
    assert persisted_bytes(None) == 0
    assert persisted_bytes("bytes=0-262143") == CHUNK_ALIGN
    with pytest.raises(ValueError):
        persisted_bytes("bytes=5-9")


def test_credentials_are_checked_and_hidden() -> None:
    creds = GCSCredentials.from_secret_data({"sa.json": SA}, "sa.json")
    assert PRIVATE_KEY not in repr(creds)
    with pytest.raises(ValueError) as caught:
        GCSCredentials.from_secret_data({"sa.json": '{"type": "authorized_user"}'}, "sa.json")
    assert "sa.json" in str(caught.value)
    with pytest.raises(ValueError):
        GCSCredentials.from_secret_data({}, "sa.json")


def test_messages_never_carry_secrets() -> None:
    store = GCSStore(GCSStorage(bucket="bk", secret_ref=SecretKeySelector(name="s", key="k")), GCSCredentials(SA))
    store._access_token = "ya29.token-value"
    text = store.redact(
        f"boom {PRIVATE_KEY} {json.dumps(PRIVATE_KEY)} kid-0123456789 ya29.token-value "
        "http://h/upload/storage/v1/b/bk/o?uploadType=resumable&upload_id=SESSIONSECRET"
    )
    for secret in ("MIIsecretKEYmaterial", "kid-0123456789", "ya29.token-value", "SESSIONSECRET"):
        assert secret not in text
    error = store._storage_error(store.redact("x ya29.token-value"), "a/b.sql", "access-denied")
    assert str(error).startswith("gcs bucket 'bk', key 'a/b.sql'") and "ya29" not in str(error)
    assert error.backend == "gcs" and error.kind == "access-denied" and not error.retryable
