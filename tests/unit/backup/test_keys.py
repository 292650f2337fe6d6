"""Encryption key forms (backup.md 8.1) and their redaction."""

from __future__ import annotations

import base64

import pytest

from dbops.backup.keys import EncryptionKey, parse_key
from dbops.engines.errors import InvalidSpec

RAW = bytes(range(100, 132))


@pytest.mark.parametrize(
    "value",
    [
        RAW,
        RAW.hex(),
        RAW.hex().upper().encode(),
        RAW.hex() + "\n",
        base64.b64encode(RAW),
        base64.b64encode(RAW).decode() + "\n",
    ],
)
def test_accepted_forms(value: bytes | str) -> None:
    assert parse_key(value).material == RAW


def test_raw_wins_for_32_bytes() -> None:
    """32 bytes are the raw key even when they also look like text of another form."""
    text = b"0123456789abcdef0123456789abcdef"
    assert parse_key(text).material == text


@pytest.mark.parametrize(
    "value",
    [b"", b"short", RAW + b"x", RAW.hex()[:-1], base64.b64encode(RAW[:31]), "zz" * 32, base64.urlsafe_b64encode(RAW)],
)
def test_rejected_forms_name_the_forms_not_the_value(value: bytes | str) -> None:
    with pytest.raises(InvalidSpec) as caught:
        parse_key(value, field="spec.encryption.secretRef")
    message = str(caught.value)
    assert message.startswith("spec.encryption.secretRef: the encryption key must be 32 raw bytes, 64 hexadecimal")
    assert caught.value.reason == "InvalidSpec"
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    if len(text) > 4:
        assert text not in message and text not in repr(caught.value)


def test_key_never_shows_its_material() -> None:
    key = parse_key(RAW.hex())
    for shown in (repr(key), str(key), f"{key}", f"{key!r}"):
        assert "redacted" in shown
        assert RAW.hex() not in shown
    assert key == EncryptionKey(RAW)
    assert key != EncryptionKey(bytes(32))
    with pytest.raises(TypeError):
        __import__("pickle").dumps(key)
