"""OwnWrites drops exactly the first watch event showing the content the controller announced, and nothing else."""

from __future__ import annotations

from typing import Any

from dbops.runtime.informer import ADDED, DELETED, MODIFIED, Event
from dbops.runtime.own_writes import OwnWrites, data_fingerprint


def secret(rv: str, password: str = "c2VjcmV0", name: str = "s", ns: str = "ns", **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": ns, "resourceVersion": rv, **extra},
        "type": "Opaque",
        "data": {"password": password},
    }


def test_the_event_of_an_announced_create_is_dropped_once() -> None:
    own = OwnWrites()
    own.expect(secret(""))
    assert not own.not_own_write(Event(ADDED, secret("10")))
    # the same content seen again (someone added a label) is not ours any more to swallow
    assert own.not_own_write(Event(MODIFIED, secret("11", labels={"x": "y"}), secret("10")))
    assert len(own) == 0


def test_other_content_and_other_objects_pass() -> None:
    own = OwnWrites()
    own.expect(secret(""))
    assert own.not_own_write(Event(MODIFIED, secret("11", password="b3RoZXI="), secret("10")))
    assert own.not_own_write(Event(ADDED, secret("12", name="other")))
    assert len(own) == 1


def test_deletions_always_pass_and_clear_the_expectation() -> None:
    own = OwnWrites()
    own.expect(secret(""))
    assert own.not_own_write(Event(DELETED, secret("10")))
    assert len(own) == 0
    assert own.not_own_write(Event(ADDED, secret("11")))


def test_a_failed_write_is_forgotten() -> None:
    own = OwnWrites()
    own.expect(secret(""))
    own.forget(secret(""))
    assert own.not_own_write(Event(ADDED, secret("10")))


def test_fingerprint_ignores_metadata_but_not_type_or_data() -> None:
    base = data_fingerprint(secret("1"))
    assert data_fingerprint(secret("2", labels={"a": "b"})) == base
    assert data_fingerprint({**secret("1"), "type": "kubernetes.io/basic-auth"}) != base
    assert data_fingerprint(secret("1", password="eA==")) != base
