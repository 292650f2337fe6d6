"""Password generation (api.md 5.10 PasswordConfig)."""

from __future__ import annotations

import string
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dbops.engines.errors import InvalidSpec
from dbops.secrets.password import (
    ALPHANUMERIC,
    DEFAULT_LENGTH,
    SPECIAL_CHARS,
    PasswordPolicy,
    alphabet,
    generate_password,
)


def test_defaults() -> None:
    pw = generate_password()
    assert len(pw) == DEFAULT_LENGTH == 32
    assert set(pw) <= set(ALPHANUMERIC + SPECIAL_CHARS)
    assert alphabet(PasswordPolicy()) == ALPHANUMERIC + "-_.~!*$&"


def test_special_chars_are_url_userinfo_safe() -> None:
    # RFC 3986 userinfo = unreserved / sub-delims / ":" (without percent-encoding), minus ":" which separates
    unreserved = set(string.ascii_letters + string.digits + "-._~")
    sub_delims = set("!$&'()*+,;=")
    assert set(SPECIAL_CHARS) <= unreserved | sub_delims
    assert not set(SPECIAL_CHARS) & set("@:/?#%")


@pytest.mark.parametrize("length", [8, 9, 64, 128])
def test_length(length: int) -> None:
    assert len(generate_password(PasswordPolicy(length=length))) == length


@pytest.mark.parametrize("length", [0, 7, 129, -1])
def test_length_out_of_range(length: int) -> None:
    with pytest.raises(InvalidSpec) as info:
        generate_password(PasswordPolicy(length=length))
    assert info.value.field == "spec.passwordSecret.length"


def test_length_must_be_int() -> None:
    with pytest.raises(TypeError):
        generate_password(PasswordPolicy(length=True))


def test_without_special_chars() -> None:
    policy = PasswordPolicy(length=128, include_special_chars=False)
    assert alphabet(policy) == ALPHANUMERIC
    for _ in range(20):
        assert set(generate_password(policy)) <= set(ALPHANUMERIC)


def test_exclude_chars() -> None:
    policy = PasswordPolicy(length=128, exclude_chars="0OoIl1$&")
    chars = alphabet(policy)
    assert not set(chars) & set("0OoIl1$&")
    for _ in range(20):
        assert not set(generate_password(policy)) & set("0OoIl1$&")


def test_exclude_everything_falls_back_to_alphanumerics() -> None:
    policy = PasswordPolicy(exclude_chars=ALPHANUMERIC + SPECIAL_CHARS)
    assert alphabet(policy) == ALPHANUMERIC
    assert set(generate_password(policy)) <= set(ALPHANUMERIC)


def test_exclude_chars_outside_alphabet_are_ignored() -> None:
    assert alphabet(PasswordPolicy(exclude_chars="@#%é")) == ALPHANUMERIC + SPECIAL_CHARS


@given(st.text(alphabet=ALPHANUMERIC + SPECIAL_CHARS + "@# ", max_size=80), st.booleans(), st.integers(8, 128))
def test_every_combination(exclude: str, special: bool, length: int) -> None:
    policy = PasswordPolicy(length=length, include_special_chars=special, exclude_chars=exclude)
    pw = generate_password(policy)
    assert len(pw) == length
    assert set(pw) <= set(alphabet(policy))


def test_uniform_over_the_alphabet() -> None:
    """Every character appears, none is heavily favoured (a generous bound: this is not a randomness test suite)."""
    policy = PasswordPolicy(length=128, include_special_chars=True)
    counts = Counter("".join(generate_password(policy) for _ in range(400)))
    chars = alphabet(policy)
    assert set(counts) == set(chars)
    expected = 400 * 128 / len(chars)
    assert all(0.7 * expected < counts[c] < 1.3 * expected for c in chars)


def test_passwords_differ() -> None:
    assert len({generate_password() for _ in range(100)}) == 100
