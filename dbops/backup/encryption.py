"""Encryption of the backup stream in the operator's chunked, authenticated format (backup.md 8.2).

Why chunked: a single AES-GCM message is limited to about 64 GiB and authenticates only at its very end, and
CBC alone cannot be authenticated at all. Here every chunk is authenticated on its own, so a restore never hands
unauthenticated plaintext to the sink, and memory is one chunk, not one object.

Layout of an object::

    header  = b"DBOPSENC" | version 2 | algorithm (1 GCM, 2 CBC+HMAC) | chunk size (u32 BE) | salt (32 bytes)
    chunk i = GCM:  AES-256-GCM(key_enc, nonce = i as 11 bytes BE | final flag, aad = header) → ciphertext | tag
              CBC:  IV (16) | AES-256-CBC(key_enc, IV, PKCS#7(plaintext)) | HMAC-SHA256(key_mac,
                    header | i as 8 bytes BE | final flag | IV | ciphertext)

``key_enc`` / ``key_mac`` are HKDF-SHA256 of the 32-byte secret with the object's random salt (info
``dbops-backup-v2 enc`` / ``… mac``), so every object has its own keys and the GCM nonce — a counter — is never
reused under a key. Every chunk but the last holds exactly ``chunk size`` bytes of plaintext; the last is shorter
(empty when the plaintext length is a multiple of the chunk size), so every stream has an explicit final chunk.
The final flag inside the nonce or MAC makes truncation at a chunk boundary, reordering, appending and tampering
fail authentication. The header is authenticated by every chunk, so a changed chunk size or algorithm byte fails
too.

The reader (:class:`Decryptor`) knows a chunk is final when end of input follows it, so it always keeps the last
complete chunk until it sees either more bytes or the end. A chunk that fails raises
:class:`~dbops.backup.errors.AuthenticationFailed` before any of its plaintext is yielded. Objects without the
``DBOPSENC`` header are handed to the legacy reader (:mod:`dbops.backup.legacy`) when a legacy algorithm is
configured.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dbops.api.storage import EncryptionAlgorithm
from dbops.backup.codec import Codec, Identity, Sniffer
from dbops.backup.errors import AuthenticationFailed, StreamError, TruncatedStream
from dbops.backup.keys import EncryptionKey
from dbops.backup.legacy import legacy_decryptor

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "EXTENSION",
    "HEADER_SIZE",
    "MAGIC",
    "MAX_CHUNK_SIZE",
    "STREAM_FORMAT",
    "Decryptor",
    "EncryptionSettings",
    "Encryptor",
    "Header",
]

MAGIC: Final = b"DBOPSENC"
VERSION: Final = 2
DEFAULT_CHUNK_SIZE: Final = 65536
MAX_CHUNK_SIZE: Final = 1 << 20
"""Largest chunk size a reader accepts: the header is only authenticated with the first chunk, so its chunk size
must not make the reader buffer an arbitrary amount before that."""
EXTENSION: Final = ".enc"
STREAM_FORMAT: Final = "dbops-v2"
"""The format name recorded in the metadata file (``encryption.format``)."""
SALT_SIZE: Final = 32
_HEADER: Final = struct.Struct(">8sBBI32s")
HEADER_SIZE: Final = _HEADER.size
_ALGORITHM_IDS: Final[dict[EncryptionAlgorithm, int]] = {"aes-256-gcm": 1, "aes-256-cbc": 2}
_TAG: Final = 16
_IV: Final = 16
_MAC: Final = 32
_BLOCK: Final = 16


@dataclass(frozen=True)
class EncryptionSettings:
    """What the backup applies: the key and the algorithm."""

    key: EncryptionKey
    algorithm: EncryptionAlgorithm = "aes-256-gcm"
    chunk_size: int = DEFAULT_CHUNK_SIZE


@dataclass(frozen=True)
class Header:
    """The fixed header of an encrypted object."""

    algorithm: EncryptionAlgorithm
    chunk_size: int
    salt: bytes

    def encode(self) -> bytes:
        return _HEADER.pack(MAGIC, VERSION, _ALGORITHM_IDS[self.algorithm], self.chunk_size, self.salt)

    @classmethod
    def decode(cls, data: bytes) -> Header:
        magic, version, algorithm_id, chunk_size, salt = _HEADER.unpack(data)
        if magic != MAGIC:
            raise StreamError("not an object in the operator's encryption format")
        if version != VERSION:
            raise StreamError(f"unsupported encryption format version {version} (this operator reads version 2)")
        algorithm = next((name for name, i in _ALGORITHM_IDS.items() if i == algorithm_id), None)
        if algorithm is None:
            raise StreamError(f"unsupported encryption algorithm id {algorithm_id} in the object header")
        if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
            raise StreamError(f"unsupported encryption chunk size {chunk_size} in the object header")
        return cls(algorithm, chunk_size, salt)


def _derive(key: EncryptionKey, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(key.material)


class _ChunkCipher:
    """Seals and opens single chunks for one object (keys derived from the header's salt)."""

    def __init__(self, key: EncryptionKey, header: Header) -> None:
        self.header = header
        self._aad = header.encode()
        self._enc_key = _derive(key, header.salt, b"dbops-backup-v2 enc")
        if header.algorithm == "aes-256-gcm":
            self._gcm: AESGCM | None = AESGCM(self._enc_key)
            self._mac_key = b""
            self.sealed_size = header.chunk_size + _TAG
            self.min_final = _TAG
        else:
            self._gcm = None
            self._mac_key = _derive(key, header.salt, b"dbops-backup-v2 mac")
            self.sealed_size = _IV + (header.chunk_size // _BLOCK + 1) * _BLOCK + _MAC
            self.min_final = _IV + _BLOCK + _MAC

    def _mac(self, index: int, final: bool, body: bytes | bytearray | memoryview) -> bytes:
        prefix = self._aad + index.to_bytes(8, "big") + (b"\x01" if final else b"\x00")
        return hmac.new(self._mac_key, prefix + bytes(body), hashlib.sha256).digest()

    def seal(self, index: int, final: bool, plaintext: bytes | bytearray | memoryview) -> bytes:
        if self._gcm is not None:
            return self._gcm.encrypt(_nonce(index, final), plaintext, self._aad)
        iv = os.urandom(_IV)
        padder = padding.PKCS7(128).padder()
        padded = padder.update(bytes(plaintext)) + padder.finalize()
        encryptor = Cipher(algorithms.AES(self._enc_key), modes.CBC(iv)).encryptor()
        body = iv + encryptor.update(padded) + encryptor.finalize()
        return body + self._mac(index, final, body)

    def open(self, index: int, final: bool, sealed: bytes | bytearray | memoryview) -> bytes:
        failure = AuthenticationFailed(
            f"encrypted chunk {index} failed authentication: wrong encryption key, or the stored backup is "
            "corrupt or was modified"
        )
        if self._gcm is not None:
            try:
                return self._gcm.decrypt(_nonce(index, final), sealed, self._aad)
            except InvalidTag:
                raise failure from None
        body, mac = sealed[:-_MAC], sealed[-_MAC:]
        if (len(body) - _IV) % _BLOCK or not hmac.compare_digest(self._mac(index, final, body), mac):
            raise failure
        decryptor = Cipher(algorithms.AES(self._enc_key), modes.CBC(bytes(body[:_IV]))).decryptor()
        padded = decryptor.update(body[_IV:]) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError:  # authenticated, so only a writer bug gets here
            raise failure from None


def _nonce(index: int, final: bool) -> bytes:
    if index >= 1 << 88:
        raise StreamError("encrypted stream too long: chunk counter exhausted")
    return index.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


class Encryptor:
    """Writes the stream format of backup.md 8.2; holds less than one chunk of plaintext between calls."""

    offload = True

    def __init__(self, settings: EncryptionSettings, *, salt: bytes | None = None) -> None:
        if not 1 <= settings.chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError(f"the encryption chunk size must be 1..{MAX_CHUNK_SIZE}")
        salt = os.urandom(SALT_SIZE) if salt is None else salt
        if len(salt) != SALT_SIZE:
            raise ValueError(f"the salt has {SALT_SIZE} bytes")
        self.name = settings.algorithm
        self.header = Header(settings.algorithm, settings.chunk_size, salt)
        self._cipher = _ChunkCipher(settings.key, self.header)
        self._chunk = settings.chunk_size
        self._buffer = bytearray()
        self._index = 0
        self._started = False

    def _seal(self, plaintext: bytes | bytearray | memoryview, final: bool) -> bytes:
        sealed = self._cipher.seal(self._index, final, plaintext)
        self._index += 1
        return sealed

    def _prefix(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        return [self.header.encode()]

    def update(self, data: bytes) -> Iterator[bytes]:
        out = self._prefix()
        view = memoryview(data)
        if self._buffer:
            fill = self._chunk - len(self._buffer)
            self._buffer += view[:fill]
            view = view[fill:]
            if len(self._buffer) == self._chunk:
                out.append(self._seal(self._buffer, final=False))
                self._buffer.clear()
        while len(view) >= self._chunk:
            out.append(self._seal(view[: self._chunk], final=False))
            view = view[self._chunk :]
        self._buffer += view
        yield b"".join(out)

    def finish(self) -> Iterator[bytes]:
        out = self._prefix()
        out.append(self._seal(bytes(self._buffer), final=True))
        self._buffer.clear()
        yield b"".join(out)


class _StreamOpener:
    """Reads the chunks after a parsed header; keeps the last complete chunk until it knows whether it is final."""

    offload = True

    def __init__(self, key: EncryptionKey, header: Header) -> None:
        self.name = header.algorithm
        self._cipher = _ChunkCipher(key, header)
        self._buffer = bytearray()
        self._index = 0

    def update(self, data: bytes) -> Iterator[bytes]:
        self._buffer += data
        size = self._cipher.sealed_size
        out: list[bytes] = []
        pos = 0
        with memoryview(self._buffer) as view:
            while len(view) - pos > size:  # more follows this chunk, so it is not the final one
                out.append(self._cipher.open(self._index, False, view[pos : pos + size]))
                self._index += 1
                pos += size
        del self._buffer[:pos]
        yield b"".join(out)

    def finish(self) -> Iterator[bytes]:
        if len(self._buffer) < self._cipher.min_final:
            raise TruncatedStream("truncated encrypted stream: the final chunk is missing")
        plaintext = self._cipher.open(self._index, True, bytes(self._buffer))
        self._buffer.clear()
        yield plaintext


class _HeaderReader:
    """Collects the header, then reads the chunks with the keys it names."""

    offload = True

    def __init__(self, key: EncryptionKey) -> None:
        self.name = "dbops-v2"
        self._key = key
        self._head = b""
        self._body: _StreamOpener | None = None

    def update(self, data: bytes) -> Iterator[bytes]:
        if self._body is None:
            self._head += data
            if len(self._head) < HEADER_SIZE:
                return
            self._body = _StreamOpener(self._key, Header.decode(self._head[:HEADER_SIZE]))
            self.name = self._body.name
            data, self._head = self._head[HEADER_SIZE:], b""
        yield from self._body.update(data)

    def finish(self) -> Iterator[bytes]:
        if self._body is None:
            raise TruncatedStream("truncated encrypted stream: it ends inside the header")
        yield from self._body.finish()


class Decryptor(Sniffer):
    """Decrypts what the stream is: the operator's format when it starts with ``DBOPSENC``, else the legacy layout of
    ``legacy_algorithm`` (backup.md 8.4), else nothing (stored unencrypted).

    ``key`` may be ``None`` when no encryption is configured; an object that turns out to be in the operator's format
    then fails with a clear message instead of feeding ciphertext to the restore tool. ``format`` is the detected
    layout (``dbops-v2``, ``legacy``, or ``None`` for unencrypted) and ``warnings`` notes legacy CBC's lack of
    authentication.
    """

    sniff_size = len(MAGIC)

    def __init__(self, key: EncryptionKey | None, *, legacy_algorithm: EncryptionAlgorithm | None = None) -> None:
        super().__init__("decrypt")
        self._key = key
        self._legacy = legacy_algorithm
        self.format: str | None = None
        self.warnings: list[str] = []

    def choose(self, head: bytes) -> Codec:
        if head.startswith(MAGIC):
            if self._key is None:
                raise StreamError("the stored backup is encrypted but no encryption key is configured")
            self.format = STREAM_FORMAT
            return _HeaderReader(self._key)
        if self._legacy is None or self._key is None:
            return Identity()
        self.format = "legacy"
        if self._legacy == "aes-256-cbc":
            self.warnings.append("legacy unauthenticated encryption")
        return legacy_decryptor(self._key, self._legacy)
