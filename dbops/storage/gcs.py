"""Google Cloud Storage, on aiohttp with gcloud-aio-auth's service-account tokens (backup.md 5.2, 5.4).

Why not gcloud-aio-storage: its "resumable" upload sends the whole object in one PUT from a seekable stream of known
length, and has no way to upload a stream in parts or to cancel a session. The backup pipeline hands over parts of
an object of unknown size, so this module speaks the JSON API's resumable-upload protocol itself: initiate a session
(POST ``uploadType=resumable``), PUT chunks with ``Content-Range: bytes a-b/*`` whose sizes are multiples of
256 KiB, then a final chunk carrying the total size; abort is a DELETE of the session URI. Tokens come from
gcloud-aio-auth's :class:`~gcloud.aio.auth.Token` (JWT signed with the service account's key, exchanged at its
``token_uri``); we call its ``refresh`` ourselves and cache the result, because its own ``acquire_access_token``
retries every failure (also invalid credentials) for minutes, against backup.md 5.4.

* **Writes** buffer the 256 KiB-unaligned remainder of each part, and hold back the final chunk until
  ``complete()``, so the object becomes visible only then; ``concurrent_parts`` is 1 (GCS appends in order).
* **Reads** stream ``alt=media`` in bounded chunks, pinned to the generation the metadata GET reported.
* **Errors** name backend, bucket and key; the session URI (it is a bearer credential for the upload), the access
  token and the service-account key never appear. A 404 is told apart (missing bucket or object) by a bucket GET.
"""

from __future__ import annotations

import asyncio
import functools
import io
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, TypeVar
from urllib.parse import quote

import aiohttp
from gcloud.aio.auth import Token

from dbops.api.storage import GCSStorage
from dbops.storage.base import ErrorKind, ObjectInfo, StorageError, check_key, check_prefix
from dbops.storage.retry import DEFAULT_RETRY, RetryPolicy, Sleep, is_transient_os_error, with_retries

__all__ = ["CHUNK_ALIGN", "GCSCredentials", "GCSReader", "GCSStore", "GCSWriter", "HTTPError", "aligned_split"]

T = TypeVar("T")
CHUNK_ALIGN: Final = 256 * 1024
"""Every chunk of a resumable upload but the last is a multiple of this (the JSON API's rule)."""
DEFAULT_ENDPOINT: Final = "https://storage.googleapis.com"
DEFAULT_READ_CHUNK: Final = 1 << 20
SCOPE: Final = "https://www.googleapis.com/auth/devstorage.read_write"
_SESSION_SECRET = re.compile(r"upload_id=[^&\s\"']+")


@dataclass(frozen=True)
class GCSCredentials:
    """A service-account JSON document, as the caller read it from the Secret; ``repr`` hides it."""

    service_account_json: str = field(repr=False)

    @classmethod
    def from_secret_data(
        cls, data: Mapping[str, str], key: str, *, secret_name: str = "the storage Secret"
    ) -> GCSCredentials:
        """Credentials from a Secret's decoded data; a missing or malformed key is a :class:`ValueError` that
        names the key, never the value."""
        raw = data.get(key)
        if not raw:
            raise ValueError(f"Secret {secret_name!r} has no key {key!r}")
        creds = cls(raw)
        creds.parsed(secret_name=secret_name, key=key)
        return creds

    def parsed(self, *, secret_name: str = "the storage Secret", key: str = "the key") -> dict[str, Any]:
        """The document, checked: a ``service_account`` with ``client_email`` and ``private_key``. Checked here
        because gcloud-aio-auth silently falls back to the metadata server for a document it cannot read."""
        try:
            doc = json.loads(self.service_account_json)
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or doc.get("type") != "service_account":
            raise ValueError(f"Secret {secret_name!r} key {key!r} is not a service-account JSON document")
        missing = [f for f in ("client_email", "private_key") if not doc.get(f)]
        if missing:
            raise ValueError(f"Secret {secret_name!r} key {key!r} lacks {', '.join(missing)}")
        return doc

    def secrets(self) -> tuple[str, ...]:
        """Values never to show: the private key (also as JSON-escaped text), its id, the whole document."""
        try:
            doc = json.loads(self.service_account_json)
        except ValueError:
            return (self.service_account_json,)
        values = [self.service_account_json]
        if isinstance(doc, dict):
            for name in ("private_key", "private_key_id"):
                if isinstance(doc.get(name), str):
                    values += [doc[name], json.dumps(doc[name])[1:-1]]
        return tuple(values)


class HTTPError(Exception):
    """A service answer with an error status; ``message`` is the JSON API's ``error.message`` (or the body)."""

    def __init__(self, status: int, message: str, reason: str | None = None) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.reason = reason


def is_retryable(exc: BaseException) -> bool:
    """429, 408, 5xx and connection failures; never 401/403/404 or other 4xx."""
    if isinstance(exc, HTTPError):
        return exc.status in (408, 429) or exc.status >= 500
    if isinstance(exc, aiohttp.ClientResponseError):
        return exc.status in (408, 429) or exc.status >= 500
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return False
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientConnectionError | TimeoutError):
        return True
    return is_transient_os_error(exc)


def error_kind(exc: BaseException) -> ErrorKind:
    """The :class:`StorageError` kind for ``exc`` (a 404 means ``not-found``; callers tell a bucket apart)."""
    status = exc.status if isinstance(exc, HTTPError | aiohttp.ClientResponseError) else None
    if status in (401, 403):
        return "access-denied"
    if status == 400 and isinstance(exc, aiohttp.ClientResponseError):  # the token endpoint: invalid_grant
        return "access-denied"
    if status == 404:
        return "not-found"
    if is_retryable(exc):
        return "unavailable"
    if status == 400 or isinstance(exc, aiohttp.InvalidURL | ValueError):
        return "invalid"
    return "failed"


def aligned_split(data: bytes) -> tuple[bytes, bytes]:
    """``data`` cut into its largest multiple of :data:`CHUNK_ALIGN` and the remainder."""
    cut = len(data) - len(data) % CHUNK_ALIGN
    return data[:cut], data[cut:]


def content_range(start: int, length: int, total: int | None) -> str:
    """The ``Content-Range`` of a chunk of ``length`` bytes at ``start``; ``total`` only on the final one."""
    size = "*" if total is None else str(total)
    if length == 0:
        return f"bytes */{size}"
    return f"bytes {start}-{start + length - 1}/{size}"


def persisted_bytes(range_header: str | None) -> int:
    """How many bytes a 308 answer says the session holds (``Range: bytes=0-N``; absent: none)."""
    if not range_header:
        return 0
    match = re.fullmatch(r"bytes=0-(\d+)", range_header.strip())
    if not match:
        raise ValueError(f"unexpected Range header {range_header!r}")
    return int(match.group(1)) + 1


class GCSStore:
    """One GCS bucket, objects addressed by full key."""

    backend = "gcs"

    def __init__(
        self,
        config: GCSStorage,
        credentials: GCSCredentials | None,
        *,
        endpoint: str | None = None,
        policy: RetryPolicy = DEFAULT_RETRY,
        sleep: Sleep = asyncio.sleep,
        read_chunk: int = DEFAULT_READ_CHUNK,
        timeout: float = 60,
    ) -> None:
        """``endpoint``: base URL of an emulator (the API model has no such field); ``credentials`` ``None``
        sends no Authorization header (for emulators only)."""
        self.config = config
        self.bucket = config.bucket
        self.endpoint = (endpoint or DEFAULT_ENDPOINT).rstrip("/")
        self._credentials = credentials
        self.policy = policy
        self._sleep = sleep
        self.read_chunk = read_chunk
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._token: Token | None = None
        self._access_token: str | None = None
        self._token_expiry = 0.0
        self._token_lock = asyncio.Lock()
        self._closed = False
        self.location = f"bucket {config.bucket!r}" + (f" at {self.endpoint}" if endpoint else "")

    # -- the ObjectStore interface --------------------------------------------------------------------------------

    async def open_writer(self, key: str, *, size_hint: int | None = None) -> GCSWriter:
        self._check_key(key)
        return GCSWriter(self, key)

    async def open_reader(self, key: str) -> GCSReader:
        self._check_key(key)
        meta = await self._object_meta(key)
        if meta is None:
            raise self._storage_error("the object does not exist", key, "not-found")
        return GCSReader(self, key, int(meta["size"]), str(meta.get("generation") or ""), self.read_chunk)

    async def stat(self, key: str) -> ObjectInfo | None:
        self._check_key(key)
        meta = await self._object_meta(key)
        return None if meta is None else _info(meta)

    async def delete(self, key: str) -> None:
        self._check_key(key)
        try:
            await self.call("delete", key, lambda: self._json("DELETE", self._object_url(key)))
        except StorageError as error:
            if error.kind != "not-found":
                raise

    async def list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        check_prefix(prefix)
        token: str | None = None
        while True:
            params = {"prefix": prefix, "fields": "items(name,size,updated),nextPageToken"}
            if token:
                params["pageToken"] = token
            page = await self.call("list", prefix or None, functools.partial(self._list_page, params))
            for item in page.get("items", []):
                yield _info(item)
            token = page.get("nextPageToken")
            if not token:
                return

    async def close(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    # -- requests --------------------------------------------------------------------------------------------------

    async def call(self, operation: str, key: str | None, request: Callable[[], Awaitable[T]]) -> T:
        """``request()`` with the retry policy; any failure becomes a :class:`StorageError` about ``key``; a 404
        becomes ``no-bucket`` when the bucket is missing."""
        try:
            return await with_retries(request, retryable=is_retryable, policy=self.policy, sleep=self._sleep)
        except StorageError:
            raise
        except (HTTPError, aiohttp.ClientError, OSError, ValueError, TimeoutError) as exc:
            kind = error_kind(exc)
            if kind == "not-found" and await self._bucket_missing():
                raise self._storage_error("the bucket does not exist", key, "no-bucket") from None
            raise self._storage_error(f"{operation} failed: {self._describe(exc)}", key, kind) from None

    async def _list_page(self, params: dict[str, str]) -> dict[str, Any]:
        return await self._json("GET", f"{self.endpoint}/storage/v1/b/{quote(self.bucket, safe='')}/o", params=params)

    async def _bucket_missing(self) -> bool:
        """True only when a bucket GET says 404 (a 403 — no storage.buckets.get — cannot tell)."""
        try:
            await self._json("GET", f"{self.endpoint}/storage/v1/b/{quote(self.bucket, safe='')}")
        except HTTPError as exc:
            return exc.status == 404
        except (aiohttp.ClientError, OSError, TimeoutError):
            return False
        return False

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        auth: bool = True,
        ok: tuple[int, ...] = (200, 201, 204),
    ) -> aiohttp.ClientResponse:
        """One HTTP request; a status outside ``ok`` is :class:`HTTPError` (the response released)."""
        session = self._get_session()
        all_headers = dict(headers or {})
        if auth:
            all_headers.update(await self._auth_headers())
        response = await session.request(
            method, url, params=params, data=data, headers=all_headers, allow_redirects=False
        )
        if response.status not in ok:
            body = await response.text(errors="replace")
            response.release()
            raise _http_error(response.status, body)
        return response

    async def _json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        response = await self.request(method, url, **kwargs)
        try:
            if response.status == 204:
                return {}
            text = await response.text()
            parsed = json.loads(text) if text.strip() else None
            return dict(parsed) if isinstance(parsed, dict) else {}  # a DELETE may answer "null"
        finally:
            response.release()

    async def _object_meta(self, key: str) -> dict[str, Any] | None:
        try:
            return await self.call("get", key, lambda: self._json("GET", self._object_url(key)))
        except StorageError as error:
            if error.kind == "not-found":
                return None
            raise

    def _object_url(self, key: str) -> str:
        return f"{self.endpoint}/storage/v1/b/{quote(self.bucket, safe='')}/o/{quote(key, safe='')}"

    async def _auth_headers(self) -> dict[str, str]:
        if self._credentials is None:
            return {}
        loop = asyncio.get_running_loop()
        async with self._token_lock:
            if self._access_token is None or loop.time() > self._token_expiry:
                if self._token is None:
                    self._credentials.parsed()
                    self._token = Token(
                        service_file=io.StringIO(self._credentials.service_account_json),
                        session=self._get_session(),  # type: ignore[arg-type, unused-ignore]  # the session type differs between installs
                        scopes=[SCOPE],
                    )
                try:
                    answer = await self._token.refresh(timeout=30)
                except aiohttp.ClientResponseError as exc:  # the token endpoint refused: 4xx is the credentials
                    status = 401 if exc.status < 500 and exc.status != 429 else exc.status
                    raise HTTPError(status, f"token request refused (HTTP {exc.status})") from None
                except (KeyError, ValueError) as exc:
                    raise HTTPError(401, f"token answer unusable ({type(exc).__name__})") from None
                self._access_token = answer.value
                self._token_expiry = loop.time() + max(60, answer.expires_in - 300)
        return {"Authorization": f"Bearer {self._access_token}"}

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("the store is closed")
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout, auto_decompress=False)
        return self._session

    # -- messages --------------------------------------------------------------------------------------------------

    def _describe(self, exc: BaseException) -> str:
        if isinstance(exc, HTTPError):
            text = str(exc)
        elif isinstance(exc, aiohttp.ClientResponseError):  # gcloud-aio-auth's token request
            text = f"token request HTTP {exc.status}: {exc.message}"
        else:
            text = f"{type(exc).__name__}: {exc}"
        return self.redact(text)

    def redact(self, text: str) -> str:
        """``text`` without credentials, the access token or an upload session's id."""
        values = [*(self._credentials.secrets() if self._credentials else ()), self._access_token or ""]
        for value in sorted((v for v in values if v), key=len, reverse=True):
            text = text.replace(value, "[REDACTED]")
        return _SESSION_SECRET.sub("upload_id=[REDACTED]", text)

    def _storage_error(self, detail: str, key: str | None, kind: ErrorKind) -> StorageError:
        where = f"gcs {self.location}" + (f", key {key!r}" if key else "")
        return StorageError(
            f"{where}: {detail}",
            backend=self.backend,
            location=self.location,
            key=key,
            kind=kind,
            retryable=kind == "unavailable",
        )

    def _check_key(self, key: str) -> None:
        try:
            check_key(key)
        except ValueError as exc:
            raise self._storage_error(str(exc), None, "invalid") from None


class GCSWriter:
    """One resumable upload session (module docstring): aligned chunks, the final one sent by ``complete()``."""

    def __init__(self, store: GCSStore, key: str) -> None:
        self.store = store
        self.key = key
        self.session_uri: str | None = None
        self.sent = 0
        """Bytes the session holds."""
        self._pending = b""
        self._last_seen = False
        self._complete_attempted = False
        self._completed = False
        self._aborted = False

    @property
    def concurrent_parts(self) -> int:
        return 1

    async def write_part(self, number: int, data: bytes, *, last: bool) -> None:
        if self._aborted or self._completed or self._last_seen:
            raise RuntimeError("write_part after the last part, complete() or abort()")
        if self.session_uri is None:
            await self._initiate()
        buffered = self._pending + data
        chunk, rest = aligned_split(buffered)
        if last and not rest and chunk:  # keep the final chunk non-empty, for complete()
            chunk, rest = chunk[:-CHUNK_ALIGN], chunk[-CHUNK_ALIGN:]
        if chunk:
            await self._put(chunk, final=False)
        self._pending = rest
        self._last_seen = last

    async def complete(self) -> None:
        if self._completed:
            return
        if not self._last_seen or self._aborted:
            raise RuntimeError("complete() before the last part was written, or after abort()")
        self._complete_attempted = True
        await self._put(self._pending, final=True)
        self._pending = b""
        self._completed = True

    async def abort(self) -> None:
        """Cancel the session (nothing was made visible); after a ``complete()`` that failed midway, also delete
        whatever it may have made visible. Idempotent; a no-op after ``complete()``."""
        if self._completed or self._aborted:
            return
        self._aborted = True
        self._pending = b""
        if self.session_uri is not None:
            uri = self.session_uri
            try:
                await self.store.call(
                    "cancel upload",
                    self.key,
                    lambda: self._drain(self.store.request("DELETE", uri, auth=False, ok=(200, 204, 404, 410, 499))),
                )
            except StorageError:
                if not self._complete_attempted:
                    raise
        if self._complete_attempted:
            await self.store.delete(self.key)

    async def _initiate(self) -> None:
        store = self.store
        url = f"{store.endpoint}/upload/storage/v1/b/{quote(store.bucket, safe='')}/o"
        body = json.dumps({"name": self.key}).encode()
        headers = {
            "Content-Type": "application/json; charset=UTF-8",
            "X-Upload-Content-Type": "application/octet-stream",
        }

        async def initiate() -> str:
            response = await store.request(
                "POST", url, params={"uploadType": "resumable", "name": self.key}, data=body, headers=headers
            )
            response.release()
            location = response.headers.get("Location")
            if not location:
                raise HTTPError(response.status, "the upload session answer has no Location")
            return location

        self.session_uri = await store.call("start upload", self.key, initiate)

    async def _put(self, chunk: bytes, *, final: bool) -> None:
        """PUT ``chunk`` at ``self.sent``; after a failure, ask the session how much it holds and send the rest."""
        start = self.sent
        total = start + len(chunk) if final else None
        uri = self.session_uri
        assert uri is not None
        store = self.store
        need_status = False

        async def once() -> None:
            nonlocal need_status
            if need_status:
                response = await store.request(
                    "PUT",
                    uri,
                    headers={"Content-Range": f"bytes */{'*' if total is None else total}"},
                    auth=False,
                    ok=(200, 201, 308),
                )
                response.release()
                if response.status in (200, 201):
                    self.sent = start + len(chunk)
                    return
                self.sent = persisted_bytes(response.headers.get("Range"))
            need_status = True
            offset = self.sent - start
            if offset < 0 or offset > len(chunk):
                raise ValueError(
                    f"the upload session holds {self.sent} bytes, expected {start} to {start + len(chunk)}"
                )
            piece = chunk[offset:]
            if not piece and not final:
                return
            response = await store.request(
                "PUT",
                uri,
                data=piece,
                auth=False,
                ok=(200, 201, 308),
                headers={"Content-Range": content_range(self.sent, len(piece), total)},
            )
            response.release()
            held = (
                start + len(chunk) if response.status in (200, 201) else persisted_bytes(response.headers.get("Range"))
            )
            self.sent = held
            if held < start + len(chunk):
                raise aiohttp.ClientPayloadError(f"the session kept {held} of {start + len(chunk)} bytes")
            need_status = False

        await store.call("upload", self.key, once)

    @staticmethod
    async def _drain(response: Awaitable[aiohttp.ClientResponse]) -> None:
        (await response).release()


class GCSReader:
    """A streaming ``alt=media`` GET of one generation, resumed by range after a lost connection."""

    def __init__(self, store: GCSStore, key: str, length: int, generation: str, chunk: int) -> None:
        self.store = store
        self.key = key
        self.length = length
        self.generation = generation
        self.chunk = chunk
        self.position = 0
        self._response: aiohttp.ClientResponse | None = None
        self._closed = False

    async def read(self, size: int) -> bytes:
        if self._closed:
            raise RuntimeError("read after finish() or abort()")
        if self.position >= self.length:
            return b""
        data = await self.store.call("download", self.key, lambda: self._read_once(min(size, self.chunk)))
        self.position += len(data)
        return data

    async def finish(self) -> None:
        self._closed = True
        self._drop()
        if self.position != self.length:
            raise self.store._storage_error(
                f"read ended after {self.position} of {self.length} bytes", self.key, "failed"
            )

    async def abort(self) -> None:
        self._closed = True
        self._drop()

    async def _read_once(self, size: int) -> bytes:
        if self._response is None:
            params = {"alt": "media"}
            if self.generation:
                params["generation"] = self.generation
            headers = {"Accept-Encoding": "identity"}
            if self.position:
                headers["Range"] = f"bytes={self.position}-"
            self._response = await self.store.request(
                "GET", self.store._object_url(self.key), params=params, headers=headers, ok=(200, 206)
            )
        try:
            data = await self._response.content.read(size)
        except BaseException:
            self._drop()
            raise
        if not data:
            self._drop()
            raise aiohttp.ClientPayloadError(f"the connection ended at byte {self.position} of {self.length}")
        return data

    def _drop(self) -> None:
        response, self._response = self._response, None
        if response is not None:
            response.close()


def _http_error(status: int, body: str) -> HTTPError:
    try:
        error = json.loads(body).get("error", {})
        message = str(error.get("message") or "")
        errors = error.get("errors") or [{}]
        reason = errors[0].get("reason")
    except (ValueError, AttributeError):
        message, reason = body.strip()[:500], None
    return HTTPError(status, message or f"status {status}", reason)


def _info(item: Mapping[str, Any]) -> ObjectInfo:
    return ObjectInfo(str(item["name"]), int(item.get("size", 0)), _parse_time(str(item.get("updated", ""))))


def _parse_time(value: str) -> datetime:
    if not value:
        return datetime.fromtimestamp(0, UTC)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
