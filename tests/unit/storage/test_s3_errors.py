"""S3 error classification and messages, without a server: what is retried, what kind each error is, and that no
credential reaches a message."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
    ResponseStreamingError,
    SSLError,
)

from dbops.api.storage import S3SecretKeys, S3SecretRef, S3Storage, StorageConfig
from dbops.storage import open_store
from dbops.storage.s3 import S3Credentials, S3Store, is_retryable

CREDS = S3Credentials("AKIAEXAMPLEKEY", "s3cr3t/Value+With=Chars", "session-token-value")
CONFIG = S3Storage(
    bucket="backups",
    region="eu-west-1",
    endpoint="https://user:pw@s3.example.net:9000/",
    force_path_style=True,
    secret_ref=S3SecretRef(name="s3"),
)


def client_error(code: str, status: int, message: str = "", operation: str = "PutObject") -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, operation)


@pytest.mark.parametrize(
    ("code", "status", "retryable"),
    [
        ("SlowDown", 503, True),
        ("Throttling", 400, True),
        ("RequestTimeout", 400, True),
        ("InternalError", 500, True),
        ("ServiceUnavailable", 503, True),
        ("BadGateway", 502, True),
        ("TooManyRequests", 429, True),
        ("AccessDenied", 403, False),
        ("InvalidAccessKeyId", 403, False),
        ("SignatureDoesNotMatch", 403, False),
        ("NoSuchBucket", 404, False),
        ("NoSuchKey", 404, False),
        ("InvalidRequest", 400, False),
        ("EntityTooSmall", 400, False),
    ],
)
def test_client_errors(code: str, status: int, retryable: bool) -> None:
    assert is_retryable(client_error(code, status)) is retryable


@pytest.mark.parametrize(
    ("exc", "retryable"),
    [
        (EndpointConnectionError(endpoint_url="http://x"), True),
        (ConnectionClosedError(endpoint_url="http://x"), True),
        (ConnectTimeoutError(endpoint_url="http://x"), True),
        (ReadTimeoutError(endpoint_url="http://x"), True),
        (ResponseStreamingError(error="reset"), True),
        (ConnectionResetError(), True),
        (TimeoutError(), True),
        (aiohttp.ClientPayloadError("Response payload is not completed"), True),
        (SSLError(endpoint_url="https://x", error="certificate verify failed"), False),
        (ValueError("bad"), False),
    ],
)
def test_transport_errors(exc: Exception, retryable: bool) -> None:
    assert is_retryable(exc) is retryable


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (client_error("AccessDenied", 403, "Access Denied"), "access-denied"),
        (client_error("InvalidAccessKeyId", 403), "access-denied"),
        (client_error("403", 403), "access-denied"),
        (client_error("NoSuchBucket", 404, "The specified bucket does not exist"), "no-bucket"),
        (client_error("NoSuchKey", 404), "not-found"),
        (client_error("404", 404), "not-found"),
        (client_error("SlowDown", 503), "unavailable"),
        (client_error("InvalidArgument", 400), "invalid"),
        (EndpointConnectionError(endpoint_url="http://x"), "unavailable"),
        (SSLError(endpoint_url="https://x", error="certificate verify failed"), "invalid"),
    ],
)
def test_error_kinds(exc: Exception, kind: str) -> None:
    error = S3Store(CONFIG, CREDS).error(exc, "PutObject", "db/key.sql")
    assert error.kind == kind
    assert error.retryable is (kind == "unavailable")
    assert error.backend == "s3" and error.key == "db/key.sql"


def test_message_names_backend_bucket_endpoint_and_key_never_credentials() -> None:
    echoed = f"denied for {CREDS.access_key_id} with {CREDS.secret_access_key} and {CREDS.session_token}"
    error = S3Store(CONFIG, CREDS).error(client_error("AccessDenied", 403, echoed), "UploadPart 3", "db/key.sql")
    message = str(error)
    assert message.startswith("s3 bucket 'backups' at https://s3.example.net:9000/, key 'db/key.sql': UploadPart 3")
    assert "AccessDenied (HTTP 403)" in message
    for secret in (CREDS.access_key_id, CREDS.secret_access_key, "session-token-value", "user:pw", ":pw@"):
        assert secret not in message
    assert "[REDACTED]" in message


def test_credentials_repr_shows_no_values() -> None:
    text = repr(CREDS) + str(CREDS)
    for secret in (CREDS.access_key_id, CREDS.secret_access_key, "session-token-value"):
        assert secret not in text


def test_credentials_from_secret_data() -> None:
    data = {"AWS_ACCESS_KEY_ID": "ak", "AWS_SECRET_ACCESS_KEY": "sk"}
    assert S3Credentials.from_secret_data(data) == S3Credentials("ak", "sk")
    with_token = S3Credentials.from_secret_data({**data, "AWS_SESSION_TOKEN": "tok"})
    assert with_token.session_token == "tok"
    custom = S3Credentials.from_secret_data({"id": "a", "key": "b"}, S3SecretKeys(access_key="id", secret_key="key"))
    assert (custom.access_key_id, custom.secret_access_key) == ("a", "b")


def test_missing_secret_key_names_the_key_not_values() -> None:
    with pytest.raises(ValueError) as caught:
        S3Credentials.from_secret_data({"AWS_ACCESS_KEY_ID": "visible-id"}, secret_name="s3-creds")
    assert "AWS_SECRET_ACCESS_KEY" in str(caught.value) and "s3-creds" in str(caught.value)
    assert "visible-id" not in str(caught.value)


async def test_invalid_keys_are_refused_before_any_request() -> None:
    store = S3Store(CONFIG, CREDS)
    for key in ("/abs", "a/../b", ""):
        with pytest.raises(Exception) as caught:
            await store.stat(key)
        assert getattr(caught.value, "kind", None) == "invalid"
    await store.close()


def test_open_store_needs_credentials_for_s3_and_refuses_other_types() -> None:
    config = StorageConfig(type="s3", s3=CONFIG)
    with pytest.raises(ValueError, match="credentials"):
        open_store(config)
    assert isinstance(open_store(config, s3_credentials=CREDS), S3Store)
    gcs = StorageConfig.model_validate({"type": "gcs", "gcs": {"bucket": "b", "secretRef": {"name": "n", "key": "k"}}})
    with pytest.raises(ValueError, match="service-account"):
        open_store(gcs)
    azure = StorageConfig.model_validate(
        {"type": "azure", "azure": {"container": "c", "storageAccount": "a", "secretRef": {"name": "n"}}}
    )
    with pytest.raises(NotImplementedError, match="azure"):
        open_store(azure)
