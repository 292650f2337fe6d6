"""The encryption key (backup.md 8.1): 32 bytes from a Secret, in one of three spellings.

The Secret value may be the 32 raw bytes (what existing keys use), 64 hexadecimal characters, or standard base64
decoding to 32 bytes. Raw wins when the value is exactly 32 bytes long, so every existing key keeps its meaning; the
two text forms may carry surrounding whitespace (a newline left by ``echo`` is the common case). Anything else is
:class:`~dbops.engines.errors.InvalidSpec` naming the accepted forms and the length received — never the value.

:class:`EncryptionKey` wraps the bytes so that a ``repr``, an f-string or a log line cannot show them by accident.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import string
from typing import Final

from dbops.engines.errors import InvalidSpec

__all__ = ["KEY_SIZE", "EncryptionKey", "parse_key"]

KEY_SIZE: Final = 32
_HEX: Final = frozenset(string.hexdigits.encode())
_FORMS: Final = "32 raw bytes, 64 hexadecimal characters, or standard base64 of 32 bytes"


class EncryptionKey:
    """32 bytes of key material that never show up in ``repr``/``str``."""

    __slots__ = ("_material",)

    def __init__(self, material: bytes) -> None:
        if len(material) != KEY_SIZE:
            raise InvalidSpec("encryption.secretRef", f"the key must be exactly {KEY_SIZE} bytes")
        self._material = bytes(material)

    @property
    def material(self) -> bytes:
        """The raw key bytes: for the cipher only."""
        return self._material

    def __repr__(self) -> str:
        return "EncryptionKey(<redacted>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EncryptionKey) and hmac.compare_digest(self._material, other._material)

    def __hash__(self) -> int:
        return hash((EncryptionKey, len(self._material)))

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("an EncryptionKey cannot be pickled")


def parse_key(value: bytes | str, *, field: str = "encryption.secretRef") -> EncryptionKey:
    """The key encoded by a Secret value (the decoded ``data`` bytes, or ``stringData`` text)."""
    raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    if len(raw) == KEY_SIZE:
        return EncryptionKey(raw)
    text = raw.strip()
    if len(text) == 2 * KEY_SIZE and all(c in _HEX for c in text):
        return EncryptionKey(bytes.fromhex(text.decode("ascii")))
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if len(decoded) == KEY_SIZE:
        return EncryptionKey(decoded)
    raise InvalidSpec(field, f"the encryption key must be {_FORMS}; the Secret value has {len(raw)} bytes")
