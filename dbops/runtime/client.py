"""A small typed client for arbitrary Kubernetes resources over their REST paths.

Why not kubernetes-asyncio's generated APIs: custom resources and core kinds must be handled the same way (plain
dicts, the shape the cache stores), watches need a client-side inactivity timeout and 410 detection that the
generated ``Watch`` helper does not offer, and every request must pass one client-side QPS/burst limiter
(``runtime.md`` 2) and be counted in ``rest_client_requests_total``. So the client speaks HTTP itself over an aiohttp
session of its own, and uses kubernetes-asyncio only through its public configuration API: the kubeconfig and
in-cluster loaders fill a ``Configuration`` (server, CA, client certificate, proxy, bearer token and its refresh hook
for exec plugins and OIDC), from which the client builds its TLS context and asks for the Authorization header on
every request (``Configuration.auth_settings``). ENGINEERING.md 4 says why.

Errors are :class:`ApiError` subclasses keyed by HTTP status (:class:`NotFound`, :class:`Conflict`,
:class:`AlreadyExists`, :class:`Gone`, …) with :attr:`ApiError.transient` telling the controller whether to back off.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, urlencode, urlsplit

import aiohttp
import aiohttp.helpers
import yarl
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config

from dbops import __version__
from dbops.runtime import metrics
from dbops.runtime.log import get_logger
from dbops.runtime.ratelimit import TokenBucket

Obj = dict[str, Any]
Objs = list[Obj]
T = TypeVar("T")
WriteObserver = Callable[["Resource", Obj], None]

USER_AGENT = f"db-provision-operator/{__version__}"

_PATCH_CONTENT_TYPES = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}
_META_ACCEPT = "application/json;as={kind};g=meta.k8s.io;v=v1,application/json"


@dataclass(frozen=True, slots=True)
class Resource:
    """Identifies a resource type by its REST coordinates (group ``""`` is the core group)."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def name(self) -> str:
        """``plural.group`` (``plural`` for core kinds): a stable, human-readable identifier."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        """The REST path; ``namespace=None`` on a namespaced kind addresses all namespaces (list/watch only)."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{quote(name, safe='')}"
            if subresource:
                base += f"/{subresource}"
        return base


SECRETS = Resource("", "v1", "secrets", "Secret")
CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap")
EVENTS = Resource("", "v1", "events", "Event")
NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease")
CRDS = Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False)


# ------------------------------------------------------------------------------------------------------ errors


class ApiError(Exception):
    """An error answer from the API server (or a transport failure, ``status == 0``)."""

    def __init__(self, status: int, reason: str = "", message: str = "", body: Obj | None = None) -> None:
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body or {}
        details = self.body.get("details") or {}
        self.retry_after: float | None = details.get("retryAfterSeconds")
        super().__init__(f"{status} {reason}: {message}" if message else f"{status} {reason}")

    @property
    def transient(self) -> bool:
        """Whether retrying later can help: transport errors, 409, 429, 5xx."""
        return self.status == 0 or self.status in (409, 429) or self.status >= 500


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class AlreadyExists(Conflict):
    pass


class Gone(ApiError):
    """410: the requested resourceVersion is too old (a watch must relist)."""


class Invalid(ApiError):
    """422: validation failed, or a JSON-patch ``test`` operation did not match."""


class TooManyRequests(ApiError):
    pass


class Forbidden(ApiError):
    pass


class WatchStalled(TimeoutError):
    """Nothing, not even a bookmark, arrived on a watch for the inactivity timeout."""


def _error_for(status: int, body: Obj | None, text: str) -> ApiError:
    body = body or {}
    reason = str(body.get("reason") or "")
    message = str(body.get("message") or text[:500])
    cls: type[ApiError] = ApiError
    if status == 404:
        cls = NotFound
    elif status == 409:
        cls = AlreadyExists if reason == "AlreadyExists" else Conflict
    elif status == 410:
        cls = Gone
    elif status == 422:
        cls = Invalid
    elif status == 429:
        cls = TooManyRequests
    elif status == 403:
        cls = Forbidden
    return cls(status, reason, message, body)


# ------------------------------------------------------------------------------------------------------ client


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
"""Requests that change state: each is logged at debug level (path only, never the body), so "who wrote what" can be
answered from the log when counting writes (observability.md: Kubernetes API writes)."""
_log = get_logger("kube-client")


class KubeClient:
    """Requests against one API server, with the TLS settings and credentials of a kubernetes-asyncio
    ``Configuration``. Construct from one, or with :meth:`from_kubeconfig` / :meth:`in_cluster` / :meth:`load`."""

    def __init__(
        self,
        configuration: k8s_client.Configuration,
        *,
        qps: float = 20.0,
        burst: int = 30,
        user_agent: str = USER_AGENT,
        request_timeout: float = 30.0,
        connect_timeout: float = 10.0,
    ) -> None:
        self.configuration = configuration
        self.host = str(self.configuration.host).rstrip("/")
        self._host_label = urlsplit(self.host).netloc or self.host
        self.limiter = TokenBucket(qps, burst) if qps > 0 else None
        self.user_agent = user_agent
        self.request_timeout = request_timeout
        self.connect_timeout = connect_timeout
        self.write_observers: list[WriteObserver] = []
        self.max_429_retries = 3
        self._http: aiohttp.ClientSession | None = None
        self._transport_options = self._resolve_transport_options()

    @classmethod
    async def from_kubeconfig(cls, path: str | None = None, *, context: str | None = None, **kw: Any) -> KubeClient:
        cfg = k8s_client.Configuration()
        await k8s_config.load_kube_config(config_file=path, context=context, client_configuration=cfg)
        return cls(cfg, **kw)

    @classmethod
    def in_cluster(cls, **kw: Any) -> KubeClient:
        cfg = k8s_client.Configuration()
        k8s_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        return cls(cfg, **kw)

    @classmethod
    async def load(cls, kubeconfig: str | None = None, **kw: Any) -> KubeClient:
        """``kubeconfig`` if given, else in-cluster if available, else the default kubeconfig."""
        if kubeconfig:
            return await cls.from_kubeconfig(kubeconfig, **kw)
        try:
            return cls.in_cluster(**kw)
        except k8s_config.ConfigException:
            return await cls.from_kubeconfig(None, **kw)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --------------------------------------------------------------------------------------------- plumbing

    @property
    def _session(self) -> aiohttp.ClientSession:
        """The client's aiohttp session, opened on first use (inside the event loop).

        ``trust_env`` is off: with it aiohttp reads ``~/.netrc`` and the proxy environment in a worker thread on every
        request (two thread hops, about 5 % of the operator's CPU while 1,000 users are created); the proxy is
        resolved once instead (:meth:`_resolve_transport_options`).
        """
        if self._http is None or self._http.closed:
            limit = self.configuration.connection_pool_maxsize
            connector = aiohttp.TCPConnector(limit=limit, ssl=self._ssl_context())
            self._http = aiohttp.ClientSession(connector=connector, read_bufsize=2**21)
        return self._http

    def _ssl_context(self) -> ssl.SSLContext:
        """TLS as the configuration says: its CA (else the system store), its client certificate, and no
        verification only when the kubeconfig asks for ``insecure-skip-tls-verify``."""
        cfg = self.configuration
        context = ssl.create_default_context(cafile=cfg.ssl_ca_cert)
        if cfg.cert_file:
            context.load_cert_chain(cfg.cert_file, keyfile=cfg.key_file)
        if not cfg.verify_ssl:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if getattr(cfg, "disable_strict_ssl_verification", False):
            context.verify_flags &= ~ssl.VERIFY_X509_STRICT
        return context

    def _resolve_transport_options(self) -> dict[str, Any]:
        """Per-request options fixed for the client's life: TLS server name, and the proxy (the kubeconfig's
        ``proxy-url``, else ``HTTPS_PROXY``/``NO_PROXY`` from the environment as client-go reads them)."""
        options: dict[str, Any] = {}
        if self.configuration.tls_server_name:
            options["server_hostname"] = self.configuration.tls_server_name
        if self.configuration.proxy:
            options["proxy"] = self.configuration.proxy
            if self.configuration.proxy_headers:
                options["proxy_headers"] = self.configuration.proxy_headers
            return options
        try:
            proxy, proxy_auth = aiohttp.helpers.get_env_proxy_for_url(yarl.URL(self.host))
        except LookupError:
            return options
        options["proxy"], options["proxy_auth"] = proxy, proxy_auth
        return options

    async def _headers(self, accept: str, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": accept, "User-Agent": self.user_agent}
        if content_type:
            headers["Content-Type"] = content_type
        for setting in (await self.configuration.auth_settings()).values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[setting["key"]] = setting["value"]
        return headers

    def _url(self, path: str, query: Mapping[str, Any] | None) -> str:
        url = self.host + path
        if query:
            q = {k: ("true" if v is True else "false" if v is False else v) for k, v in query.items() if v is not None}
            if q:
                url += "?" + urlencode(q)
        return url

    def _count(self, code: int | str, method: str) -> None:
        metrics.REST_CLIENT_REQUESTS.labels(str(code), method, self._host_label).inc()

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str | None = None,
        accept: str = "application/json",
        request_timeout: float | None = None,
    ) -> Any:
        """One request; returns the decoded JSON body. Raises :class:`ApiError`. 429 is retried (Retry-After)."""
        data: bytes | None = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            content_type = content_type or "application/json"
        url = self._url(path, query)
        client_timeout = aiohttp.ClientTimeout(
            total=request_timeout or self.request_timeout,
            connect=self.connect_timeout,
            sock_connect=self.connect_timeout,
        )
        attempt = 0
        while True:
            if self.limiter is not None:
                await self.limiter.acquire()
            headers = await self._headers(accept, content_type)
            try:
                async with self._session.request(
                    method, url, data=data, headers=headers, timeout=client_timeout, **self._transport_options
                ) as resp:
                    text = await resp.text()
                    status = resp.status
                    retry_after = resp.headers.get("Retry-After")
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                self._count("<error>", method)
                raise ApiError(0, "TransportError", f"{type(exc).__name__}: {exc}") from exc
            self._count(status, method)
            if method in WRITE_METHODS:
                _log.debug("kubernetes API write", method=method, path=path, code=status)
            if status < 400:
                return json.loads(text) if text else None
            try:
                err_body = json.loads(text) if text else None
            except ValueError:
                err_body = None
            err = _error_for(status, err_body if isinstance(err_body, dict) else None, text)
            if status == 429 and attempt < self.max_429_retries:
                attempt += 1
                delay = err.retry_after or _float(retry_after) or 1.0
                await asyncio.sleep(min(delay, 10.0))
                continue
            raise err

    def _observe_write(self, resource: Resource, obj: Any) -> None:
        if isinstance(obj, dict) and obj.get("metadata"):
            for observer in self.write_observers:
                observer(resource, obj)

    # ------------------------------------------------------------------------------------------------ verbs

    async def get(
        self, resource: Resource, name: str, namespace: str | None = None, *, subresource: str | None = None
    ) -> Obj:
        obj: Obj = await self.request("GET", resource.path(namespace, name, subresource))
        return obj

    async def get_or_none(self, resource: Resource, name: str, namespace: str | None = None) -> Obj | None:
        try:
            return await self.get(resource, name, namespace)
        except NotFound:
            return None

    async def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
        resource_version: str | None = None,
        metadata_only: bool = False,
    ) -> Obj:
        """One page of a list (the raw ``List`` object, with ``metadata.continue`` when more pages exist)."""
        query = {
            "labelSelector": label_selector,
            "fieldSelector": field_selector,
            "limit": limit,
            "continue": continue_token,
            "resourceVersion": resource_version,
        }
        accept = _META_ACCEPT.format(kind="PartialObjectMetadataList") if metadata_only else "application/json"
        page: Obj = await self.request("GET", resource.path(namespace), query=query, accept=accept)
        return page

    async def list_all(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int = 500,
        metadata_only: bool = False,
    ) -> tuple[Objs, str]:
        """All items over paginated, consistent reads; returns ``(items, list resourceVersion)``.

        Raises :class:`Gone` if a continue token expired mid-way (the caller restarts the list).
        """
        items: Objs = []
        token: str | None = None
        rv = ""
        while True:
            page = await self.list(
                resource,
                namespace,
                label_selector=label_selector,
                field_selector=field_selector,
                limit=page_size,
                continue_token=token,
                metadata_only=metadata_only,
            )
            items.extend(page.get("items") or [])
            meta = page.get("metadata") or {}
            rv = meta.get("resourceVersion", rv)
            token = meta.get("continue")
            if not token:
                return items, rv

    async def create(self, resource: Resource, obj: Obj, namespace: str | None = None) -> Obj:
        ns = namespace or (obj.get("metadata") or {}).get("namespace")
        out: Obj = await self.request("POST", resource.path(ns), body=obj)
        self._observe_write(resource, out)
        return out

    async def replace(self, resource: Resource, obj: Obj, *, subresource: str | None = None) -> Obj:
        meta = obj.get("metadata") or {}
        out: Obj = await self.request("PUT", resource.path(meta.get("namespace"), meta["name"], subresource), body=obj)
        self._observe_write(resource, out)
        return out

    async def patch(
        self,
        resource: Resource,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: str = "merge",
        subresource: str | None = None,
        field_manager: str | None = None,
        force: bool | None = None,
    ) -> Obj:
        """Patch with ``patch_type`` ``merge`` (RFC 7386), ``json`` (RFC 6902), ``strategic`` or ``apply``."""
        content_type = _PATCH_CONTENT_TYPES[patch_type]
        query = {"fieldManager": field_manager, "force": force}
        out: Obj = await self.request(
            "PATCH", resource.path(namespace, name, subresource), query=query, body=patch, content_type=content_type
        )
        self._observe_write(resource, out)
        return out

    async def patch_status(
        self, resource: Resource, name: str, patch: Any, namespace: str | None = None, *, patch_type: str = "merge"
    ) -> Obj:
        return await self.patch(resource, name, patch, namespace, patch_type=patch_type, subresource="status")

    async def delete(
        self,
        resource: Resource,
        name: str,
        namespace: str | None = None,
        *,
        propagation_policy: str | None = None,
        preconditions: Obj | None = None,
    ) -> Obj | None:
        body: Obj | None = None
        if propagation_policy or preconditions:
            body = {"kind": "DeleteOptions", "apiVersion": "v1"}
            if propagation_policy:
                body["propagationPolicy"] = propagation_policy
            if preconditions:
                body["preconditions"] = preconditions
        out: Obj | None = await self.request("DELETE", resource.path(namespace, name), body=body)
        return out

    async def watch(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        timeout_seconds: int | None = None,
        inactivity_timeout: float = 70.0,
        label_selector: str | None = None,
        field_selector: str | None = None,
        allow_bookmarks: bool = True,
        metadata_only: bool = False,
    ) -> AsyncGenerator[Obj, None]:
        """Yield raw watch events (``{"type": ..., "object": ...}``) until the server ends the stream.

        Raises :class:`ApiError` (:class:`Gone` for 410) if the watch cannot start, and :class:`WatchStalled` if
        nothing arrives for ``inactivity_timeout`` seconds. ``ERROR`` events are yielded as they are; the caller
        decides (an ``ERROR`` with code 410 means relist).
        """
        query = {
            "watch": True,
            "resourceVersion": resource_version,
            "timeoutSeconds": timeout_seconds,
            "allowWatchBookmarks": allow_bookmarks or None,
            "labelSelector": label_selector,
            "fieldSelector": field_selector,
        }
        accept = _META_ACCEPT.format(kind="PartialObjectMetadata") if metadata_only else "application/json"
        url = self._url(resource.path(namespace), query)
        if self.limiter is not None:
            await self.limiter.acquire()
        headers = await self._headers(accept, None)
        client_timeout = aiohttp.ClientTimeout(
            total=None, connect=self.connect_timeout, sock_connect=self.connect_timeout
        )
        try:
            resp_cm = self._session.request(
                "GET", url, headers=headers, timeout=client_timeout, **self._transport_options
            )
            resp = await asyncio.wait_for(resp_cm.__aenter__(), inactivity_timeout)
        except (aiohttp.ClientError, OSError) as exc:
            self._count("<error>", "WATCH")
            raise ApiError(0, "TransportError", f"{type(exc).__name__}: {exc}") from exc
        except TimeoutError as exc:
            self._count("<error>", "WATCH")
            raise WatchStalled("watch request got no response headers") from exc
        try:
            self._count(resp.status, "WATCH")
            if resp.status >= 400:
                text = await resp.text()
                try:
                    err_body = json.loads(text) if text else None
                except ValueError:
                    err_body = None
                raise _error_for(resp.status, err_body if isinstance(err_body, dict) else None, text)
            # Lines are split by hand: aiohttp's readline() refuses lines above its buffer limit, and one watch
            # event is one line as large as the object.
            buf = bytearray()
            while True:
                try:
                    chunk = await asyncio.wait_for(resp.content.readany(), inactivity_timeout)
                except TimeoutError:
                    raise WatchStalled(f"no watch data for {inactivity_timeout:g}s") from None
                except (aiohttp.ClientError, OSError) as exc:
                    raise ApiError(0, "TransportError", f"{type(exc).__name__}: {exc}") from exc
                if not chunk:
                    return
                buf.extend(chunk)
                if b"\n" not in chunk:
                    continue
                end = buf.rfind(b"\n")
                complete = bytes(buf[:end])
                del buf[: end + 1]
                for line in complete.split(b"\n"):
                    if line.strip():
                        yield json.loads(line)
        finally:
            resp.release()
            resp.close()


async def retry_on_conflict(operation: Callable[[], Awaitable[T]], attempts: int = 3) -> T:
    """Run ``operation`` (which must re-read what it modifies) again after a 409, up to ``attempts`` times.

    ``runtime.md`` 8: conflicts are retried from a fresh read up to three times, then surface as a (transient)
    :class:`Conflict`, which the controller answers with backoff.
    """
    for attempt in range(attempts):
        try:
            return await operation()
        except AlreadyExists:
            raise
        except Conflict:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def api_error_status(exc: BaseException) -> int | None:
    """HTTP status of an :class:`ApiError` (``None`` for other exceptions)."""
    return exc.status if isinstance(exc, ApiError) else None


def owner_reference(obj: Obj, *, controller: bool = True, block_owner_deletion: bool = True) -> Obj:
    """An ``ownerReferences`` entry pointing at ``obj``."""
    meta = obj["metadata"]
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": controller,
        "blockOwnerDeletion": block_owner_deletion,
    }


__all__: Sequence[str] = (
    "CONFIGMAPS",
    "CRDS",
    "EVENTS",
    "LEASES",
    "NAMESPACES",
    "SECRETS",
    "AlreadyExists",
    "ApiError",
    "Conflict",
    "Forbidden",
    "Gone",
    "Invalid",
    "KubeClient",
    "NotFound",
    "Resource",
    "TooManyRequests",
    "WatchStalled",
    "owner_reference",
    "retry_on_conflict",
)
