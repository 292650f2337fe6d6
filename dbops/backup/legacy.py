"""Reading objects in the previous operator's single-message layout (backup.md 8.4). Read only: never written.

* GCM: a 12-byte nonce, the ciphertext, a 16-byte tag over the whole object, with the raw 32-byte key and no
  associated data. The plaintext is released as it is decrypted — unavoidable for a single message — and the tag
  is checked at the end; the restore hold-back (:mod:`dbops.backup.holdback`) keeps the last part of the plaintext
  from the tool until it has verified, so single-transaction restores do not commit a tampered object.
* CBC: a 16-byte IV and PKCS#7-padded ciphertext without authentication. Only padding errors can be detected; the
  restore records "legacy unauthenticated encryption" and relies on the recorded checksum when there is one.

The layout has no header, so the algorithm comes from the configuration.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import AEADDecryptionContext, Cipher, CipherContext, algorithms, modes

from dbops.api.storage import EncryptionAlgorithm
from dbops.backup.codec import Codec
from dbops.backup.errors import AuthenticationFailed, CorruptStream, TruncatedStream
from dbops.backup.keys import EncryptionKey

__all__ = ["legacy_decryptor"]

_NONCE: Final = 12
_TAG: Final = 16
_IV: Final = 16


class _LegacyGcm:
    name = "aes-256-gcm"
    offload = True

    def __init__(self, key: EncryptionKey) -> None:
        self._key = key
        self._buffer = bytearray()  # the nonce while it arrives, then the last 16 bytes (possibly the tag)
        self._cipher: AEADDecryptionContext | None = None

    def update(self, data: bytes) -> Iterator[bytes]:
        self._buffer += data
        if self._cipher is None:
            if len(self._buffer) < _NONCE:
                return
            nonce = bytes(self._buffer[:_NONCE])
            del self._buffer[:_NONCE]
            self._cipher = Cipher(algorithms.AES(self._key.material), modes.GCM(nonce)).decryptor()
        if len(self._buffer) > _TAG:
            body = bytes(self._buffer[:-_TAG])
            del self._buffer[:-_TAG]
            yield self._cipher.update(body)

    def finish(self) -> Iterator[bytes]:
        if self._cipher is None or len(self._buffer) < _TAG:
            raise TruncatedStream("truncated legacy encrypted object: shorter than its nonce and tag")
        try:
            tail = self._cipher.finalize_with_tag(bytes(self._buffer))
        except InvalidTag:
            raise AuthenticationFailed(
                "the legacy encrypted object failed authentication: wrong encryption key, or the stored backup is "
                "corrupt or was modified"
            ) from None
        yield tail


class _LegacyCbc:
    name = "aes-256-cbc"
    offload = True

    def __init__(self, key: EncryptionKey) -> None:
        self._key = key
        self._iv = b""
        self._decryptor: CipherContext | None = None
        self._unpadder = padding.PKCS7(128).unpadder()

    def update(self, data: bytes) -> Iterator[bytes]:
        if self._decryptor is None:
            self._iv += data
            if len(self._iv) < _IV:
                return
            data, iv = self._iv[_IV:], self._iv[:_IV]
            self._decryptor = Cipher(algorithms.AES(self._key.material), modes.CBC(iv)).decryptor()
        yield self._unpadder.update(self._decryptor.update(data))

    def finish(self) -> Iterator[bytes]:
        if self._decryptor is None:
            raise TruncatedStream("truncated legacy encrypted object: shorter than its IV")
        try:
            tail = self._decryptor.finalize()
            tail = self._unpadder.update(tail) + self._unpadder.finalize()
        except ValueError:
            raise CorruptStream(
                "the legacy encrypted object does not decrypt: wrong encryption key, or it is truncated or corrupt"
            ) from None
        yield tail


def legacy_decryptor(key: EncryptionKey, algorithm: EncryptionAlgorithm) -> Codec:
    """A reader for a legacy object encrypted with ``algorithm`` under the raw ``key``."""
    return _LegacyGcm(key) if algorithm == "aes-256-gcm" else _LegacyCbc(key)
