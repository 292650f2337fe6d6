"""Checksum verification (backup.md 9) and the restore hold-back (backup.md 2)."""

from __future__ import annotations

import hashlib

import pytest

from dbops.backup.checksum import ChecksumVerifier, Sha256Hasher, format_checksum, parse_checksum
from dbops.backup.errors import ChecksumMismatch, SizeMismatch
from dbops.backup.holdback import HoldBack
from tests.unit.backup.fakes import random_bytes, run_codec

DATA = random_bytes(100_000)
GOOD = "sha256:" + hashlib.sha256(DATA).hexdigest()


def test_hasher_measures_and_passes_through() -> None:
    hasher = Sha256Hasher()
    assert run_codec(hasher, DATA, 999) == DATA
    assert hasher.checksum == GOOD
    assert hasher.count == len(DATA)


def test_checksum_format() -> None:
    assert format_checksum(bytes(32)) == "sha256:" + "00" * 32
    assert parse_checksum(GOOD.upper().replace("SHA256", "sha256")) == GOOD
    for bad in ("md5:abc", "sha256:xyz", GOOD[:-1], ""):
        with pytest.raises(ValueError):
            parse_checksum(bad)


def test_verifier_accepts_the_right_stream() -> None:
    assert run_codec(ChecksumVerifier(GOOD, len(DATA)), DATA) == DATA
    assert run_codec(ChecksumVerifier(None, None), DATA) == DATA


def test_verifier_rejects_a_modified_stream() -> None:
    modified = bytearray(DATA)
    modified[-1] ^= 1
    with pytest.raises(ChecksumMismatch, match="checksum mismatch: the stored backup is corrupt or was modified"):
        run_codec(ChecksumVerifier(GOOD, len(DATA)), bytes(modified))


def test_verifier_rejects_short_and_long_streams() -> None:
    with pytest.raises(SizeMismatch, match="has 99999 bytes where 100000"):
        run_codec(ChecksumVerifier(GOOD, len(DATA)), DATA[:-1])
    verifier = ChecksumVerifier(GOOD, len(DATA) - 10)
    with pytest.raises(SizeMismatch, match="more than 99990"):
        list(verifier.update(DATA))  # fails on the chunk that overflows, before the end of the stream


def test_holdback_keeps_the_tail_until_finish() -> None:
    holdback = HoldBack(1000)
    released: list[bytes] = []
    for start in range(0, len(DATA), 300):
        released.extend(holdback.update(DATA[start : start + 300]))
        assert len(DATA[: start + 300]) - sum(map(len, released)) >= min(1000, start + 300)
        assert holdback.held < 1000 + 300
    assert len(DATA) - sum(map(len, released)) >= 1000
    released.extend(holdback.finish())
    assert b"".join(released) == DATA


def test_holdback_holds_a_short_stream_entirely() -> None:
    holdback = HoldBack(1 << 20)
    assert list(holdback.update(DATA)) == []
    assert b"".join(holdback.finish()) == DATA
