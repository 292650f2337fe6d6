from __future__ import annotations

import pytest
from kubernetes_asyncio import client as k8s_client

from dbops.runtime.client import (
    AlreadyExists,
    ApiError,
    Conflict,
    KubeClient,
    Resource,
    _error_for,
    retry_on_conflict,
)
from dbops.runtime.server import parse_bind_address


def test_resource_paths() -> None:
    dbs = Resource("dbops.dbprovision.io", "v1alpha1", "databases", "Database")
    expected = "/apis/dbops.dbprovision.io/v1alpha1/namespaces/ns/databases/orders/status"
    assert dbs.path("ns", "orders", "status") == expected
    assert dbs.path() == "/apis/dbops.dbprovision.io/v1alpha1/databases"
    secrets = Resource("", "v1", "secrets", "Secret")
    assert secrets.path("a b") == "/api/v1/namespaces/a%20b/secrets"
    assert secrets.api_version == "v1" and dbs.api_version == "dbops.dbprovision.io/v1alpha1"
    cluster = Resource("x.io", "v1", "things", "Thing", namespaced=False)
    assert cluster.path("ignored", "t") == "/apis/x.io/v1/things/t"


def test_error_classification() -> None:
    assert isinstance(_error_for(409, {"reason": "AlreadyExists"}, ""), AlreadyExists)
    conflict = _error_for(409, {"reason": "Conflict"}, "")
    assert isinstance(conflict, Conflict) and not isinstance(conflict, AlreadyExists) and conflict.transient
    too_many = _error_for(429, {"details": {"retryAfterSeconds": 3}}, "")
    assert too_many.transient and too_many.retry_after == 3
    assert _error_for(503, None, "unavailable").transient
    assert not _error_for(422, {"reason": "Invalid"}, "").transient
    assert ApiError(0, "TransportError").transient


async def test_retry_on_conflict() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise Conflict(409, "Conflict")
        return "ok"

    assert await retry_on_conflict(flaky) == "ok" and calls == 3

    async def always() -> str:
        raise Conflict(409, "Conflict")

    with pytest.raises(Conflict):
        await retry_on_conflict(always)

    exists_calls = 0

    async def exists() -> str:
        nonlocal exists_calls
        exists_calls += 1
        raise AlreadyExists(409, "AlreadyExists")

    with pytest.raises(AlreadyExists):
        await retry_on_conflict(exists)
    assert exists_calls == 1


def test_parse_bind_address() -> None:
    assert parse_bind_address(":8080") == ("0.0.0.0", 8080)
    assert parse_bind_address("127.0.0.1:0") == ("127.0.0.1", 0)
    assert parse_bind_address("[::1]:9") == ("::1", 9)
    assert parse_bind_address("0") is None and parse_bind_address("") is None
    for bad in ("8080", "host:port", ":70000"):
        with pytest.raises(ValueError):
            parse_bind_address(bad)


async def transport_options(host: str, proxy: str | None = None) -> dict[str, object]:
    configuration = k8s_client.Configuration(host=host)
    configuration.proxy = proxy
    client = KubeClient(configuration, qps=0)
    try:
        return client._transport_options
    finally:
        await client.close()


async def test_the_proxy_is_resolved_once_from_the_kubeconfig_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The client's session does not trust the environment per request (that cost a thread hop per request), so the
    proxy client-go would use must be resolved when the client is made."""
    for name in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    host = "https://10.0.0.1:6443"
    assert "proxy" not in await transport_options(host)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert str((await transport_options(host))["proxy"]) == "http://proxy.example:3128"
    monkeypatch.setenv("NO_PROXY", "10.0.0.1")
    assert "proxy" not in await transport_options(host)
    configured = await transport_options(host, proxy="http://kubeconfig-proxy:8080")
    assert configured["proxy"] == "http://kubeconfig-proxy:8080"
