"""The operator's encryption stream format (backup.md 8.2), checked against an independent reading of the spec."""

from __future__ import annotations

import hashlib
import hmac
import struct

import pytest
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dbops.api.storage import EncryptionAlgorithm
from dbops.backup.encryption import HEADER_SIZE, Decryptor, EncryptionSettings, Encryptor
from dbops.backup.errors import AuthenticationFailed, IntegrityError, StreamError, TruncatedStream
from dbops.backup.keys import EncryptionKey
from tests.unit.backup.fakes import compressible, random_bytes, run_codec

KEY = EncryptionKey(bytes(range(32)))
OTHER_KEY = EncryptionKey(bytes(range(1, 33)))
SALT = bytes(range(200, 232))
ALGORITHMS: tuple[EncryptionAlgorithm, ...] = ("aes-256-gcm", "aes-256-cbc")
CHUNK = 1024  # small chunks so tests cross many chunk boundaries


def encrypt(data: bytes, algorithm: EncryptionAlgorithm = "aes-256-gcm", chunk: int = CHUNK, piece: int = 777) -> bytes:
    return run_codec(Encryptor(EncryptionSettings(KEY, algorithm, chunk), salt=SALT), data, piece)


def decrypt(stored: bytes, key: EncryptionKey = KEY, piece: int = 1000) -> bytes:
    return run_codec(Decryptor(key), stored, piece)


def derive(info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=SALT, info=info).derive(KEY.material)


def reference_decrypt(stored: bytes) -> list[tuple[int, bool, bytes]]:
    """Decrypt by following the spec's text literally; returns (index, final, plaintext) per chunk."""
    magic, version, algorithm, chunk_size, salt = struct.unpack(">8sBBI32s", stored[:46])
    assert (magic, version, salt) == (b"DBOPSENC", 2, SALT)
    header, body = stored[:46], stored[46:]
    enc_key = derive(b"dbops-backup-v2 enc")
    chunks = []
    if algorithm == 1:
        size = chunk_size + 16
        pieces = [body[i : i + size] for i in range(0, len(body), size)]
        for index, sealed in enumerate(pieces):
            final = index == len(pieces) - 1
            nonce = index.to_bytes(11, "big") + bytes([final])
            chunks.append((index, final, AESGCM(enc_key).decrypt(nonce, sealed, header)))
    else:
        mac_key = derive(b"dbops-backup-v2 mac")
        size = 16 + (chunk_size // 16 + 1) * 16 + 32
        pieces = [body[i : i + size] for i in range(0, len(body), size)]
        for index, sealed in enumerate(pieces):
            final = index == len(pieces) - 1
            iv, ciphertext, mac = sealed[:16], sealed[16:-32], sealed[-32:]
            signed = header + index.to_bytes(8, "big") + bytes([final]) + iv + ciphertext
            assert hmac.compare_digest(mac, hmac.new(mac_key, signed, hashlib.sha256).digest())
            decryptor = Cipher(algorithms.AES(enc_key), modes.CBC(iv)).decryptor()
            unpadder = padding.PKCS7(128).unpadder()
            padded = decryptor.update(ciphertext) + decryptor.finalize()
            chunks.append((index, final, unpadder.update(padded) + unpadder.finalize()))
    return chunks


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK, 5 * CHUNK + 17])
def test_layout_follows_the_spec(algorithm: EncryptionAlgorithm, size: int) -> None:
    data = random_bytes(size)
    stored = encrypt(data, algorithm)
    assert stored[:8] == b"DBOPSENC"
    assert stored[8] == 2
    assert stored[9] == {"aes-256-gcm": 1, "aes-256-cbc": 2}[algorithm]
    assert int.from_bytes(stored[10:14], "big") == CHUNK
    assert stored[14:46] == SALT
    chunks = reference_decrypt(stored)
    assert b"".join(c[2] for c in chunks) == data
    assert len(chunks) == size // CHUNK + 1  # an explicit final chunk, empty when size is a multiple of the chunk
    assert all(len(c[2]) == CHUNK for c in chunks[:-1])
    assert len(chunks[-1][2]) == size % CHUNK
    assert decrypt(stored) == data


def test_default_chunk_size_and_header_size() -> None:
    stored = run_codec(Encryptor(EncryptionSettings(KEY), salt=SALT), b"x")
    assert HEADER_SIZE == 46
    assert int.from_bytes(stored[10:14], "big") == 65536
    assert len(stored) == 46 + 1 + 16


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("piece", [1, 100, CHUNK + 16, 1 << 16])
def test_round_trip_in_any_piece_size(algorithm: EncryptionAlgorithm, piece: int) -> None:
    data = compressible(40 * CHUNK + 3) if piece > 1 else compressible(3 * CHUNK + 3)
    stored = run_codec(Encryptor(EncryptionSettings(KEY, algorithm, CHUNK)), data, piece)
    decryptor = Decryptor(KEY)
    assert run_codec(decryptor, stored, piece) == data
    assert decryptor.format == "dbops-v2"
    assert decryptor.name == algorithm


def test_every_object_has_its_own_salt_and_ciphertext() -> None:
    data = compressible(10 * CHUNK)
    one = run_codec(Encryptor(EncryptionSettings(KEY, "aes-256-gcm", CHUNK)), data)
    two = run_codec(Encryptor(EncryptionSettings(KEY, "aes-256-gcm", CHUNK)), data)
    assert one[14:46] != two[14:46]
    assert one[46:] != two[46:]


def test_encryptor_holds_less_than_one_chunk_of_plaintext() -> None:
    encryptor = Encryptor(EncryptionSettings(KEY, "aes-256-gcm", CHUNK))
    fed = 0
    emitted_plaintext = 0
    for size in (10, CHUNK, 3 * CHUNK + 5, 1, CHUNK - 1):
        out = b"".join(encryptor.update(bytes(size)))
        fed += size
        emitted_plaintext += (len(out) - (HEADER_SIZE if fed == size else 0)) // (CHUNK + 16) * CHUNK
        assert fed - emitted_plaintext < CHUNK


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_truncation_at_a_chunk_boundary_fails_authentication(algorithm: EncryptionAlgorithm) -> None:
    stored = encrypt(random_bytes(5 * CHUNK + 9), algorithm)
    sealed = (CHUNK + 16) if algorithm == "aes-256-gcm" else 16 + (CHUNK // 16 + 1) * 16 + 32
    for chunks in (1, 3, 5):
        with pytest.raises(AuthenticationFailed, match=f"chunk {chunks - 1} failed authentication"):
            decrypt(stored[: HEADER_SIZE + chunks * sealed])


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_truncation_inside_fails(algorithm: EncryptionAlgorithm) -> None:
    stored = encrypt(random_bytes(3 * CHUNK), algorithm)
    with pytest.raises(TruncatedStream, match="header"):
        decrypt(stored[:20])
    with pytest.raises(TruncatedStream, match="final chunk is missing"):
        decrypt(stored[:HEADER_SIZE])
    with pytest.raises(IntegrityError):
        decrypt(stored[:-1])
    with pytest.raises(AuthenticationFailed):
        decrypt(encrypt(random_bytes(3 * CHUNK + 500), algorithm)[:-1])


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_any_bit_flip_fails(algorithm: EncryptionAlgorithm) -> None:
    stored = encrypt(random_bytes(3 * CHUNK + 100), algorithm)
    for position in (9, 13, 20, HEADER_SIZE, HEADER_SIZE + CHUNK, len(stored) - 40, len(stored) - 1):
        flipped = bytearray(stored)
        flipped[position] ^= 0x01
        with pytest.raises((AuthenticationFailed, StreamError)):
            decrypt(bytes(flipped))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_reordered_or_appended_chunks_fail(algorithm: EncryptionAlgorithm) -> None:
    stored = encrypt(random_bytes(4 * CHUNK + 5), algorithm)
    sealed = (CHUNK + 16) if algorithm == "aes-256-gcm" else 16 + (CHUNK // 16 + 1) * 16 + 32
    header, body = stored[:HEADER_SIZE], stored[HEADER_SIZE:]
    chunks = [body[i : i + sealed] for i in range(0, len(body), sealed)]
    swapped = header + chunks[1] + chunks[0] + b"".join(chunks[2:])
    with pytest.raises(AuthenticationFailed, match="chunk 0"):
        decrypt(swapped)
    with pytest.raises(AuthenticationFailed):
        decrypt(stored + chunks[-1])


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_wrong_key_fails_before_any_plaintext(algorithm: EncryptionAlgorithm) -> None:
    stored = encrypt(random_bytes(10 * CHUNK), algorithm)
    decryptor = Decryptor(OTHER_KEY)
    with pytest.raises(AuthenticationFailed, match="wrong encryption key") as caught:
        list(decryptor.update(stored))
    assert KEY.material.hex() not in str(caught.value)


def test_encrypted_object_without_a_key_is_refused() -> None:
    with pytest.raises(StreamError, match="no encryption key is configured"):
        run_codec(Decryptor(None), encrypt(b"secret"))


def test_unencrypted_object_passes_through() -> None:
    data = compressible(5000)
    decryptor = Decryptor(KEY)
    assert run_codec(decryptor, data) == data
    assert decryptor.format is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [(8, 3, "version 3"), (9, 7, "algorithm id 7"), (10, 0xFF, "chunk size")],
)
def test_unsupported_headers(field: int, value: int, message: str) -> None:
    stored = bytearray(encrypt(b"data"))
    stored[field] = value
    with pytest.raises(StreamError, match=message):
        decrypt(bytes(stored))
