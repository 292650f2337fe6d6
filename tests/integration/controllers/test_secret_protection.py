"""Admin-credential Secret protection against the real API server: deleted while in use, it stays readable."""

from __future__ import annotations

from typing import Any

from dbops.controllers.secret_protection import FINALIZER, protect, release
from dbops.runtime import SECRETS, KubeClient, Store, make_key


async def cached(kube: KubeClient, namespace: str, name: str) -> Store:
    """A store holding the Secret as the instance controller's metadata cache would."""
    store = Store()
    store.upsert(await kube.get(SECRETS, name, namespace))
    return store


def admin(namespace: str, name: str = "admin") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "stringData": {"username": "u", "password": "p"},
    }


async def test_a_protected_secret_survives_deletion_until_released(api_client: Any, namespace: str) -> None:
    kube = KubeClient(api_client.configuration)
    await kube.create(SECRETS, admin(namespace), namespace)
    key = make_key(namespace, "admin")

    assert await protect(kube, await cached(kube, namespace, "admin"), key)
    assert not await protect(kube, await cached(kube, namespace, "admin"), key)  # already there: no write
    await kube.delete(SECRETS, "admin", namespace)
    terminating = await kube.get(SECRETS, "admin", namespace)
    assert terminating["metadata"]["deletionTimestamp"]
    assert terminating["data"]["password"]  # still readable for the dependents' cleanup

    # another instance still uses it: kept
    assert not await release(kube, await cached(kube, namespace, "admin"), key, ["DatabaseInstance/x/other"])
    assert FINALIZER in (await kube.get(SECRETS, "admin", namespace))["metadata"]["finalizers"]
    # the last user is gone: released, and the pending deletion completes
    assert await release(kube, await cached(kube, namespace, "admin"), key, [])
    assert await kube.get_or_none(SECRETS, "admin", namespace) is None


async def test_nothing_is_added_to_a_secret_already_being_deleted(api_client: Any, namespace: str) -> None:
    kube = KubeClient(api_client.configuration)
    body = admin(namespace, "held")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    await kube.create(SECRETS, body, namespace)
    await kube.delete(SECRETS, "held", namespace)
    key = make_key(namespace, "held")
    assert not await protect(kube, await cached(kube, namespace, "held"), key)
    meta = (await kube.get(SECRETS, "held", namespace))["metadata"]
    assert meta["finalizers"] == ["example.com/hold"]
    await kube.patch(SECRETS, "held", {"metadata": {"finalizers": None}}, namespace)


async def test_missing_secret_is_neither_protected_nor_released(api_client: Any, namespace: str) -> None:
    kube = KubeClient(api_client.configuration)
    key = make_key(namespace, "absent")
    assert not await protect(kube, Store(), key)
    assert not await release(kube, Store(), key, [])


async def test_a_secret_not_cached_yet_is_protected_from_the_api(api_client: Any, namespace: str) -> None:
    kube = KubeClient(api_client.configuration)
    await kube.create(SECRETS, admin(namespace, "fresh"), namespace)
    assert await protect(kube, Store(), make_key(namespace, "fresh"))
    assert FINALIZER in (await kube.get(SECRETS, "fresh", namespace))["metadata"]["finalizers"]
    await kube.patch(SECRETS, "fresh", {"metadata": {"finalizers": None}}, namespace)
