"""Object keys: the shape every backend accepts, so no key can leave a PVC's directory."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dbops.storage.base import MAX_KEY_BYTES, check_key, check_prefix


@pytest.mark.parametrize(
    "key",
    [
        "app-db-nightly-20260101-000000.dump.zst.enc",
        "prefix/sub/name.sql",
        "a",
        "we ird/ünï cödé/%2F.sql",
        "x.meta.json",
    ],
)
def test_valid_keys(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize(
    "key",
    ["", "/abs/key", "../up", "a/../../b", "a/..", "./a", "a/./b", "a//b", "a/", "nul\x00byte", "tab\tkey", "x" * 1025],
)
def test_invalid_keys(key: str) -> None:
    with pytest.raises(ValueError):
        check_key(key)


def test_length_counts_utf8_bytes() -> None:
    check_key("é" * (MAX_KEY_BYTES // 2))
    with pytest.raises(ValueError):
        check_key("é" * (MAX_KEY_BYTES // 2 + 1))


@pytest.mark.parametrize("prefix", ["", "p/", "p/q", "p/q/"])
def test_valid_prefixes(prefix: str) -> None:
    assert check_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["/", "/p/", "../", "p//"])
def test_invalid_prefixes(prefix: str) -> None:
    with pytest.raises(ValueError):
        check_prefix(prefix)


@given(st.lists(st.sampled_from(["a", "b", "..", ".", "", "c.d"]), min_size=1, max_size=6))
def test_accepted_keys_never_climb(segments: list[str]) -> None:
    """Whatever is accepted, normalising it keeps it inside its root."""
    key = "/".join(segments)
    try:
        check_key(key)
    except ValueError:
        return
    depth = 0
    for segment in key.split("/"):
        depth += -1 if segment == ".." else 1
        assert depth > 0
