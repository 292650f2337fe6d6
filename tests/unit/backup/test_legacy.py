"""Legacy single-message objects (backup.md 8.4): readable, never written; GCM authenticated at the end."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dbops.backup.encryption import Decryptor
from dbops.backup.errors import AuthenticationFailed, CorruptStream, TruncatedStream
from dbops.backup.keys import EncryptionKey
from tests.unit.backup.fakes import compressible, run_codec

RAW = bytes(range(50, 82))
KEY = EncryptionKey(RAW)


def legacy_gcm(data: bytes, nonce: bytes = bytes(range(12))) -> bytes:
    return nonce + AESGCM(RAW).encrypt(nonce, data, None)  # Go's gcm.Seal(nonce, nonce, data, nil)


def legacy_cbc(data: bytes, key: bytes = RAW, iv: bytes = bytes(range(16))) -> bytes:
    padder = padding.PKCS7(128).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return iv + encryptor.update(padded) + encryptor.finalize()


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 300_000])
@pytest.mark.parametrize("piece", [1, 13, 65536])
def test_legacy_gcm_round_trip(size: int, piece: int) -> None:
    data = compressible(size if piece > 1 else min(size, 2000))
    decryptor = Decryptor(KEY, legacy_algorithm="aes-256-gcm")
    assert run_codec(decryptor, legacy_gcm(data), piece) == data
    assert decryptor.format == "legacy"
    assert decryptor.warnings == []


def test_legacy_gcm_tampering_fails_at_the_end() -> None:
    stored = bytearray(legacy_gcm(compressible(100_000)))
    stored[5000] ^= 1
    with pytest.raises(AuthenticationFailed, match="legacy"):
        run_codec(Decryptor(KEY, legacy_algorithm="aes-256-gcm"), bytes(stored))
    with pytest.raises(AuthenticationFailed):
        run_codec(Decryptor(EncryptionKey(bytes(32)), legacy_algorithm="aes-256-gcm"), legacy_gcm(b"x" * 100))
    with pytest.raises(TruncatedStream):
        run_codec(Decryptor(KEY, legacy_algorithm="aes-256-gcm"), legacy_gcm(b"")[:20])


@pytest.mark.parametrize("size", [0, 1, 16, 100_001])
def test_legacy_cbc_round_trip_with_warning(size: int) -> None:
    data = os.urandom(size)
    decryptor = Decryptor(KEY, legacy_algorithm="aes-256-cbc")
    assert run_codec(decryptor, legacy_cbc(data), 1000) == data
    assert decryptor.warnings == ["legacy unauthenticated encryption"]


def test_legacy_cbc_bad_padding_or_length_is_corrupt() -> None:
    stored = legacy_cbc(b"hello world, this is a legacy backup")
    with pytest.raises(CorruptStream):
        run_codec(Decryptor(KEY, legacy_algorithm="aes-256-cbc"), stored[:-3])
    # A fixed wrong key whose last block does not unpad (deterministic: fixed key, IV and data).
    with pytest.raises(CorruptStream):
        run_codec(Decryptor(EncryptionKey(bytes(32)), legacy_algorithm="aes-256-cbc"), stored)


def test_operator_format_is_preferred_over_the_legacy_setting() -> None:
    from dbops.backup.encryption import EncryptionSettings, Encryptor

    stored = run_codec(Encryptor(EncryptionSettings(KEY)), b"new format")
    decryptor = Decryptor(KEY, legacy_algorithm="aes-256-cbc")
    assert run_codec(decryptor, stored) == b"new format"
    assert decryptor.format == "dbops-v2"
