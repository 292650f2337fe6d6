"""SCRAM-SHA-256 password verifiers, computed the way PostgreSQL computes them (engines.md 1.5).

When the server stores SCRAM verifiers (``password_encryption = scram-sha-256``, the default since PostgreSQL 14),
sending the verifier instead of the plaintext keeps the plaintext out of the server's statement log, its
``pg_stat_statements`` and any error message that echoes the statement. The server accepts a string of this exact
shape in ``PASSWORD '…'`` as an already-hashed password.

The result must match what libpq's ``PQencryptPasswordConn`` produces for the same salt and iteration count:
the password is first prepared with SASLprep (RFC 4013) exactly as ``pg_saslprep()`` does, falling back to the raw
bytes when SASLprep refuses the string, as the server does at login.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import stringprep
import unicodedata

__all__ = ["DEFAULT_ITERATIONS", "SALT_LENGTH", "is_scram_verifier", "pg_saslprep", "scram_sha256_verifier"]

#: PostgreSQL's default ``scram_iterations`` and salt length (``SCRAM_SHA_256_DEFAULT_ITERATIONS``,
#: ``SCRAM_DEFAULT_SALT_LEN``).
DEFAULT_ITERATIONS = 4096
SALT_LENGTH = 16

_PROHIBITED = (
    stringprep.in_table_c12,
    stringprep.in_table_c21_c22,
    stringprep.in_table_c3,
    stringprep.in_table_c4,
    stringprep.in_table_c5,
    stringprep.in_table_c6,
    stringprep.in_table_c7,
    stringprep.in_table_c8,
    stringprep.in_table_c9,
    stringprep.in_table_a1,  # unassigned code points are prohibited for stored strings
)


def pg_saslprep(password: str) -> bytes:
    """The bytes PostgreSQL hashes for ``password``.

    Mirrors ``pg_saslprep()``: pure-ASCII input is used unchanged; otherwise map (non-ASCII spaces to space,
    "commonly mapped to nothing" removed), NFKC-normalise, then refuse prohibited, unassigned and badly mixed
    bidirectional text. A refused (or empty after mapping) password is used as its raw UTF-8 bytes.
    """
    raw = password.encode("utf-8")
    if password.isascii():
        return raw
    # Space mapping is checked first, as pg_saslprep() does: U+200B is in both tables and becomes a space.
    mapped = "".join(
        " " if stringprep.in_table_c12(ch) else ch
        for ch in password
        if stringprep.in_table_c12(ch) or not stringprep.in_table_b1(ch)
    )
    if not mapped:
        return raw
    normalised = unicodedata.normalize("NFKC", mapped)
    if any(check(ch) for ch in normalised for check in _PROHIBITED):
        return raw
    if any(stringprep.in_table_d1(ch) for ch in normalised):
        if any(stringprep.in_table_d2(ch) for ch in normalised):
            return raw
        if not (stringprep.in_table_d1(normalised[0]) and stringprep.in_table_d1(normalised[-1])):
            return raw
    return normalised.encode("utf-8")


def scram_sha256_verifier(password: str, *, salt: bytes | None = None, iterations: int = DEFAULT_ITERATIONS) -> str:
    """``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`` for ``password``.

    ``salt`` defaults to 16 fresh random bytes; pass one only to reproduce a known verifier (tests).
    """
    if iterations < 1:
        raise ValueError("iterations must be positive")
    if salt is None:
        salt = secrets.token_bytes(SALT_LENGTH)
    salted = hashlib.pbkdf2_hmac("sha256", pg_saslprep(password), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def is_scram_verifier(text: str) -> bool:
    """Whether ``text`` has the shape of a SCRAM-SHA-256 verifier (what ``pg_authid.rolpassword`` holds)."""
    if not text.startswith("SCRAM-SHA-256$"):
        return False
    try:
        head, keys = text[len("SCRAM-SHA-256$") :].split("$")
        iterations, salt = head.split(":")
        stored, server = keys.split(":")
        return (
            int(iterations) > 0
            and len(base64.b64decode(salt, validate=True)) > 0
            and len(base64.b64decode(stored, validate=True)) == 32
            and len(base64.b64decode(server, validate=True)) == 32
        )
    except ValueError:
        return False
