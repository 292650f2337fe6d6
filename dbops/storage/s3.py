"""Amazon S3 and S3-compatible stores, on aioboto3 (backup.md 5.1, 5.4).

* **Writes.** An object that fits in one part (the pipeline's single ``last`` part 1) is one ``PutObject``; a larger
  one is a multipart upload: ``CreateMultipartUpload`` on the first part, ``UploadPart`` for each (two at once, as
  the pipeline allows), ``CompleteMultipartUpload`` with the ETags in part order. ``abort()`` aborts the upload (a
  missing upload is fine, so it is idempotent) and removes an object this writer may already have made visible
  (the single PUT, or a ``complete`` whose answer was lost), so a failed attempt leaves nothing behind.
* **Interrupted attempts.** Opening a writer first aborts incomplete multipart uploads left at the same key by an
  interrupted attempt (backup.md 5.1), best effort: a policy that allows writes but not listing uploads must not
  make every backup fail. :meth:`S3Store.abort_incomplete_uploads` does the same for a whole prefix and an age.
* **Reads** stream ``GetObject`` in bounded chunks (aiohttp's buffer pauses the socket, so memory stays at about
  one chunk). A connection lost mid-object resumes with a ``Range`` request pinned to the first response's ETag
  (``If-Match``), so a resumed read can never splice two versions of an object.
* **Retries** are ours, not botocore's (its retries are turned off): up to five, with backoff and jitter, for 5xx,
  throttling, request timeouts and connection failures only (:mod:`dbops.storage.retry`). Authentication and
  permission errors, a missing bucket and invalid endpoints fail at once (backup.md 5.4).
* **Messages** name the backend, bucket, endpoint and key and the service's error code; credentials never appear
  (they are redacted from anything a service sends back, and the credentials' ``repr`` hides them).

Checksums: botocore's default CRC trailers are switched to "when required", because many S3-compatible services do
not accept them; the pipeline's own SHA-256 of the stored bytes (backup.md 9) is what proves an object intact.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit, urlunsplit

import aioboto3
import aiohttp
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    HTTPClientError,
    IncompleteReadError,
    ResponseStreamingError,
    SSLError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from dbops.api.storage import S3SecretKeys, S3Storage
from dbops.runtime.log import get_logger
from dbops.storage.base import ErrorKind, ObjectInfo, StorageError, check_key, check_prefix
from dbops.storage.retry import DEFAULT_RETRY, RetryPolicy, Sleep, is_transient_os_error, with_retries

__all__ = ["MAX_S3_PARTS", "S3Credentials", "S3Reader", "S3Store", "S3Writer", "is_retryable"]

T = TypeVar("T")
_log = get_logger("storage.s3")

MAX_S3_PARTS: Final = 10_000
SESSION_TOKEN_KEY: Final = "AWS_SESSION_TOKEN"
DEFAULT_READ_CHUNK: Final = 1 << 20
"""Largest piece one ``read`` returns (the pipeline's chunk size, backup.md 2)."""

_THROTTLING: Final = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "SlowDown",
        "PriorRequestNotComplete",
    }
)
_TRANSIENT: Final = frozenset({"RequestTimeout", "RequestTimeoutException", "InternalError", "ServiceUnavailable"})
_ACCESS: Final = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "TokenRefreshRequired",
        "AllAccessDisabled",
        "AccountProblem",
        "InvalidSecurity",
    }
)
_NOT_FOUND: Final = frozenset({"NoSuchKey", "NotFound", "404"})
_NO_UPLOAD: Final = frozenset({"NoSuchUpload"})


@dataclass(frozen=True)
class S3Credentials:
    """Access keys, as the caller read them from the storage Secret (this module never reads Kubernetes).

    ``repr`` shows none of the values, so a credentials object in a log line or a traceback leaks nothing.
    """

    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_secret_data(
        cls, data: Mapping[str, str], keys: S3SecretKeys | None = None, *, secret_name: str = "the storage Secret"
    ) -> S3Credentials:
        """Credentials from a Secret's decoded data (api.md: ``secretRef.keys``, and ``AWS_SESSION_TOKEN`` when
        present). A missing key is a :class:`ValueError` naming the key, never a value."""
        keys = keys or S3SecretKeys()
        missing = [k for k in (keys.access_key, keys.secret_key) if not data.get(k)]
        if missing:
            raise ValueError(f"Secret {secret_name!r} has no key {' or '.join(repr(k) for k in missing)}")
        return cls(data[keys.access_key], data[keys.secret_key], data.get(SESSION_TOKEN_KEY) or None)

    def redact(self, text: str) -> str:
        """``text`` with every credential value replaced (for messages that came from a service)."""
        for value in sorted((v for v in self._values() if v), key=len, reverse=True):
            text = text.replace(value, "[REDACTED]")
        return text

    def _values(self) -> tuple[str, ...]:
        return (self.access_key_id, self.secret_access_key, self.session_token or "")


def is_retryable(exc: BaseException) -> bool:
    """Throttling, 5xx, request timeouts and connection failures; never 4xx like AccessDenied or NoSuchBucket, and
    never a TLS verification failure (retrying cannot change a certificate)."""
    if isinstance(exc, ClientError):
        code, status = _code(exc), _status(exc)
        return code in _THROTTLING or code in _TRANSIENT or status == 429 or (status is not None and status >= 500)
    if isinstance(exc, SSLError):
        return False
    if isinstance(
        exc,
        BotoConnectionError
        | EndpointConnectionError
        | ConnectionClosedError
        | HTTPClientError
        | ResponseStreamingError
        | IncompleteReadError
        | _Truncated
        # a body cut short can surface as aiohttp's own error where aiobotocore does not translate it
        | aiohttp.ClientPayloadError
        | aiohttp.ClientConnectionError,
    ):
        return True
    return is_transient_os_error(exc)


class _Truncated(Exception):
    """A GET body ended before its Content-Length: resumed like a connection reset."""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int | None:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status is not None else None


def _public_endpoint(endpoint: str | None) -> str | None:
    """The endpoint without any user:password part (a URL is configuration, but userinfo would be a credential)."""
    if not endpoint:
        return None
    parts = urlsplit(endpoint)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class S3Store:
    """One bucket of an S3 or S3-compatible service, the objects addressed by full key."""

    backend = "s3"

    def __init__(
        self,
        config: S3Storage,
        credentials: S3Credentials,
        *,
        verify: str | bool | None = None,
        policy: RetryPolicy = DEFAULT_RETRY,
        sleep: Sleep = asyncio.sleep,
        read_chunk: int = DEFAULT_READ_CHUNK,
        connect_timeout: float = 10,
        read_timeout: float = 60,
    ) -> None:
        """``verify``: ``None``/``True`` for the default trust store, a CA bundle path (the system store plus the
        chart's ``extraCACertificates``, combined by the caller), ``False`` only for tests."""
        self.config = config
        self.bucket = config.bucket
        self._credentials = credentials
        self._verify = verify
        self.policy = policy
        self._sleep = sleep
        self.read_chunk = read_chunk
        self._timeouts = (connect_timeout, read_timeout)
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None
        self._client_lock = asyncio.Lock()
        self._closed = False
        endpoint = _public_endpoint(config.endpoint)
        self.location = f"bucket {config.bucket!r}" + (f" at {endpoint}" if endpoint else f" in {config.region}")

    # -- the ObjectStore interface --------------------------------------------------------------------------------

    async def open_writer(self, key: str, *, size_hint: int | None = None) -> S3Writer:
        """A writer for ``key``; ``size_hint`` is advisory (parts are sized by the pipeline)."""
        self._check_key(key)
        try:
            await self.abort_incomplete_uploads(key, exact_key=True)
        except StorageError as error:  # best effort (module docstring), but a missing bucket is final
            if error.kind == "no-bucket":
                raise
            _log.warning("could not look for interrupted uploads", bucket=self.bucket, key=key, error=str(error))
        return S3Writer(self, key)

    async def open_reader(self, key: str) -> S3Reader:
        self._check_key(key)
        reader = S3Reader(self, key, self.read_chunk)
        await reader.open()
        return reader

    async def stat(self, key: str) -> ObjectInfo | None:
        self._check_key(key)
        try:
            head = await self.call("HeadObject", key, lambda s3: s3.head_object(Bucket=self.bucket, Key=key))
        except StorageError as error:
            if error.kind != "not-found":
                raise
            # HEAD has no body, so a missing bucket is a bare 404 too: tell the two apart.
            try:
                await self.call("HeadBucket", key, lambda s3: s3.head_bucket(Bucket=self.bucket))
            except StorageError as bucket_error:
                if bucket_error.kind == "not-found":
                    raise self._storage_error("the bucket does not exist", key, "no-bucket") from None
                raise
            return None
        return ObjectInfo(key, int(head["ContentLength"]), _utc(head["LastModified"]))

    async def delete(self, key: str) -> None:
        """DELETE; a missing object is success (S3 answers 204 for it anyway)."""
        self._check_key(key)
        try:
            await self.call("DeleteObject", key, lambda s3: s3.delete_object(Bucket=self.bucket, Key=key))
        except StorageError as error:
            if error.kind != "not-found":
                raise

    async def list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        """Paginated ListObjectsV2; each page is retried on its own."""
        check_prefix(prefix)
        token: str | None = None
        while True:
            params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
            if token:
                params["ContinuationToken"] = token
            page = await self.call("ListObjectsV2", prefix or None, functools.partial(_list_objects, params=params))
            for item in page.get("Contents", []):
                yield ObjectInfo(item["Key"], int(item["Size"]), _utc(item["LastModified"]))
            token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
            if not token:
                return

    async def close(self) -> None:
        self._closed = True
        async with self._client_lock:
            self._client = None
            await self._stack.aclose()

    # -- beyond the interface --------------------------------------------------------------------------------------

    async def abort_incomplete_uploads(
        self,
        prefix: str,
        *,
        older_than: timedelta = timedelta(0),
        exact_key: bool = False,
        now: datetime | None = None,
    ) -> builtins.list[str]:
        """Abort the multipart uploads under ``prefix`` (exactly at key ``prefix`` with ``exact_key``) started more
        than ``older_than`` ago; return their keys.

        ``older_than`` keeps the uploads of runs still in progress under a shared prefix safe; at a single key, any
        upload is an interrupted attempt's, since each attempt writes a key of its own (backup.md 5.1, 6.1).
        """
        check_prefix(prefix)
        cutoff = (now or datetime.now(UTC)) - older_than
        aborted: builtins.list[str] = []
        markers: dict[str, str] = {}
        while True:
            params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, **markers}
            page = await self.call(
                "ListMultipartUploads", prefix or None, functools.partial(_list_uploads, params=params)
            )
            for upload in page.get("Uploads", []):
                key, upload_id = upload["Key"], upload["UploadId"]
                if (exact_key and key != prefix) or _utc(upload["Initiated"]) > cutoff:
                    continue
                await self.abort_upload(key, upload_id)
                aborted.append(key)
            if not page.get("IsTruncated"):
                return aborted
            markers = {"KeyMarker": page.get("NextKeyMarker", ""), "UploadIdMarker": page.get("NextUploadIdMarker", "")}

    async def abort_upload(self, key: str, upload_id: str) -> None:
        """AbortMultipartUpload; an upload that is gone already (aborted, or completed) is success."""
        try:
            await self.call(
                "AbortMultipartUpload",
                key,
                lambda s3: s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id),
            )
        except StorageError as error:
            if error.code not in _NO_UPLOAD and error.kind != "not-found":
                raise

    async def call(self, operation: str, key: str | None, request: Callable[[Any], Awaitable[T]]) -> T:
        """``request(client)`` with the retry policy; any failure becomes a :class:`StorageError` about ``key``."""
        client = await self._get_client(key)

        def retrying(retry: int, exc: Exception, delay: float) -> None:
            _log.warning(
                "storage request failed, retrying",
                backend=self.backend,
                bucket=self.bucket,
                key=key,
                operation=operation,
                retry=retry,
                delay=round(delay, 3),
                error=self._describe(exc),
            )

        try:
            return await with_retries(
                lambda: request(client),
                retryable=is_retryable,
                policy=self.policy,
                sleep=self._sleep,
                on_retry=retrying,
            )
        except (ClientError, BotoCoreError, OSError, aiohttp.ClientError, _Truncated) as exc:
            raise self.error(exc, operation, key) from None

    def error(self, exc: BaseException, operation: str, key: str | None) -> StorageError:
        """The :class:`StorageError` for ``exc``: kind from the S3 error code, message without credentials.

        Raised ``from None`` by :meth:`call`: botocore's own exception text is never attached, so nothing a library
        formats can carry a credential into a log line; what matters of it (code, status, message) is in ours.
        """
        kind: ErrorKind = "failed"
        code: str | None = None
        if isinstance(exc, ClientError):
            code, status = _code(exc) or None, _status(exc)
            if code in _ACCESS or status in (401, 403):
                kind = "access-denied"
            elif code == "NoSuchBucket":
                kind = "no-bucket"
            elif code in _NOT_FOUND or status == 404:
                kind = "not-found"
            elif is_retryable(exc):
                kind = "unavailable"
            elif status == 400 or code in ("InvalidRequest", "InvalidArgument", "InvalidBucketName"):
                kind = "invalid"
        elif isinstance(exc, SSLError):
            kind = "invalid"
        elif is_retryable(exc):
            kind = "unavailable"
        return self._storage_error(f"{operation} failed: {self._describe(exc)}", key, kind, code=code)

    # -- internals -------------------------------------------------------------------------------------------------

    def _storage_error(self, detail: str, key: str | None, kind: ErrorKind, *, code: str | None = None) -> StorageError:
        where = f"s3 {self.location}" + (f", key {key!r}" if key else "")
        return StorageError(
            f"{where}: {detail}",
            backend=self.backend,
            location=self.location,
            key=key,
            kind=kind,
            retryable=kind == "unavailable",
            code=code,
        )

    def _describe(self, exc: BaseException) -> str:
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            status = _status(exc)
            code = _code(exc) or "error"
            text = f"{code} (HTTP {status})" if status else code
            message = str(error.get("Message") or "").strip()
            if code == "NoSuchBucket":
                message = message or "the bucket does not exist"
            text += f": {message}" if message else ""
        elif isinstance(exc, _Truncated):
            text = str(exc)
        else:
            text = f"{type(exc).__name__}: {exc}"
        return self._credentials.redact(text)

    def _check_key(self, key: str) -> None:
        try:
            check_key(key)
        except ValueError as exc:
            raise self._storage_error(str(exc), None, "invalid") from None

    async def _get_client(self, key: str | None) -> Any:
        if self._client is not None:
            return self._client
        async with self._client_lock:
            if self._closed:
                raise self._storage_error("the store is closed", key, "failed")
            if self._client is None:
                self._client = await self._create_client(key)
            return self._client

    async def _create_client(self, key: str | None) -> Any:
        creds = self._credentials
        session = aioboto3.Session(
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            aws_session_token=creds.session_token,
            region_name=self.config.region,
        )
        connect_timeout, read_timeout = self._timeouts
        config = Config(
            region_name=self.config.region,
            signature_version="s3v4",
            s3={"addressing_style": "path" if self.config.force_path_style else "auto"},
            retries={"total_max_attempts": 1, "mode": "standard"},  # ours, see the module docstring
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_pool_connections=8,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        kwargs: dict[str, Any] = {"config": config}
        if self.config.endpoint:
            kwargs["endpoint_url"] = self.config.endpoint
        if self._verify is not None:
            kwargs["verify"] = self._verify
        try:
            return await self._stack.enter_async_context(session.client("s3", **kwargs))
        except ValueError as exc:  # botocore: "Invalid endpoint: …"
            raise self._storage_error(
                f"invalid endpoint: {self._credentials.redact(str(exc))}", key, "invalid"
            ) from None


class S3Writer:
    """One object being written: a single PUT, or a multipart upload (module docstring)."""

    def __init__(self, store: S3Store, key: str) -> None:
        self.store = store
        self.key = key
        self.upload_id: str | None = None
        self._etags: dict[int, str] = {}
        self._last_part: int | None = None
        self._create_lock = asyncio.Lock()
        self._create_attempted = False
        self._put_attempted = False
        self._complete_attempted = False
        self._completed = False
        self._aborted = False

    @property
    def concurrent_parts(self) -> int:
        return 2

    async def write_part(self, number: int, data: bytes, *, last: bool) -> None:
        if self._aborted or self._completed:
            raise RuntimeError("write_part after complete() or abort()")
        if number > MAX_S3_PARTS:
            raise self.store._storage_error(
                f"an object has at most {MAX_S3_PARTS} parts; raise the part size", self.key, "invalid"
            )
        bucket, key = self.store.bucket, self.key
        if number == 1 and last:
            self._put_attempted = True
            await self.store.call("PutObject", key, lambda s3: s3.put_object(Bucket=bucket, Key=key, Body=data))
            self._last_part = 1
            return
        upload_id = await self._upload()
        answer = await self.store.call(
            f"UploadPart {number}",
            key,
            lambda s3: s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data),
        )
        self._etags[number] = answer["ETag"]
        if last:
            self._last_part = number

    async def complete(self) -> None:
        if self._completed:
            return
        if self._last_part is None or self._aborted:
            raise RuntimeError("complete() before the last part was written, or after abort()")
        if self.upload_id is None:  # the single PUT made the object visible already
            self._completed = True
            return
        if sorted(self._etags) != list(range(1, self._last_part + 1)):
            raise RuntimeError(f"complete() with parts missing: have {sorted(self._etags)}")
        bucket, key, upload_id = self.store.bucket, self.key, self.upload_id
        parts = [{"PartNumber": n, "ETag": self._etags[n]} for n in range(1, self._last_part + 1)]
        attempts = 0

        async def complete_once(s3: Any) -> None:
            nonlocal attempts
            attempts += 1
            try:
                await s3.complete_multipart_upload(
                    Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
                )
            except ClientError as exc:
                # A retry after an answer lost on the way back finds the upload gone because it completed.
                if attempts > 1 and _code(exc) in _NO_UPLOAD:
                    await s3.head_object(Bucket=bucket, Key=key)
                    return
                raise

        self._complete_attempted = True
        await self.store.call("CompleteMultipartUpload", key, complete_once)
        self._completed = True

    async def abort(self) -> None:
        """Abort the upload and remove what may be visible already; safe to call again, a no-op after complete."""
        if self._completed or self._aborted:
            return
        self._aborted = True
        async with self._create_lock:  # a CreateMultipartUpload in flight ends first
            upload_id = self.upload_id
        if upload_id is not None:
            await self.store.abort_upload(self.key, upload_id)
        elif self._create_attempted:  # created, but the answer never arrived: find it by key
            await self.store.abort_incomplete_uploads(self.key, exact_key=True)
        if self._put_attempted or self._complete_attempted:
            await self.store.delete(self.key)

    async def _upload(self) -> str:
        """The multipart upload's ID, created by the first part that needs it (parts 1 and 2 may race here)."""
        async with self._create_lock:
            if self.upload_id is None:
                if self._aborted:
                    raise RuntimeError("write_part after abort()")
                self._create_attempted = True
                bucket, key = self.store.bucket, self.key
                answer = await self.store.call(
                    "CreateMultipartUpload", key, lambda s3: s3.create_multipart_upload(Bucket=bucket, Key=key)
                )
                self.upload_id = str(answer["UploadId"])
            return self.upload_id


class S3Reader:
    """A streaming GetObject: at most ``chunk`` bytes per ``read``, resumed by range after a lost connection."""

    def __init__(self, store: S3Store, key: str, chunk: int = DEFAULT_READ_CHUNK) -> None:
        self.store = store
        self.key = key
        self.chunk = chunk
        self.position = 0
        self.length: int | None = None
        self.etag: str | None = None
        self._body: Any = None
        self._closed = False

    async def open(self) -> None:
        """The first GET: learns the length and ETag (raises ``not-found`` for a missing object)."""
        await self.store.call("GetObject", self.key, self._get)

    async def read(self, size: int) -> bytes:
        if self._closed:
            raise RuntimeError("read after finish() or abort()")
        if self.length is not None and self.position >= self.length:
            return b""
        data = await self.store.call("GetObject", self.key, lambda s3: self._read_once(s3, min(size, self.chunk)))
        self.position += len(data)
        return data

    async def finish(self) -> None:
        self._closed = True
        self._drop_body()
        if self.length is not None and self.position != self.length:
            raise self.store._storage_error(
                f"read ended after {self.position} of {self.length} bytes", self.key, "failed"
            )

    async def abort(self) -> None:
        self._closed = True
        self._drop_body()

    async def _get(self, s3: Any) -> None:
        params: dict[str, Any] = {"Bucket": self.store.bucket, "Key": self.key}
        if self.position:
            params["Range"] = f"bytes={self.position}-"
            if self.etag:
                params["IfMatch"] = self.etag
        answer = await s3.get_object(**params)
        self._body = answer["Body"]
        if self.length is None:
            self.length = int(answer["ContentLength"])
            self.etag = answer.get("ETag")

    async def _read_once(self, s3: Any, size: int) -> bytes:
        if self._body is None:
            await self._get(s3)
        try:
            data: bytes = await self._body.read(size)
        except BaseException:
            self._drop_body()
            raise
        if not data:
            self._drop_body()
            raise _Truncated(f"the connection ended at byte {self.position} of {self.length}")
        return data

    def _drop_body(self) -> None:
        """Close the response and its connection (an unread body cannot go back to the pool)."""
        body, self._body = self._body, None
        if body is not None:
            with contextlib.suppress(Exception):
                body.close()


async def _list_objects(s3: Any, *, params: dict[str, Any]) -> Any:
    return await s3.list_objects_v2(**params)


async def _list_uploads(s3: Any, *, params: dict[str, Any]) -> Any:
    return await s3.list_multipart_uploads(**params)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
