"""SCRAM-SHA-256 verifiers, checked against libpq (engines.md 1.5).

The vectors were produced by libpq 15's ``PQencryptPasswordConn(conn, password, user, "scram-sha-256")``; their salt
and iteration count are fed back into :func:`scram_sha256_verifier`, which must reproduce the keys exactly. The
non-ASCII cases exercise every branch of SASLprep (mapping to space, mapping to nothing, NFKC, prohibited and
unassigned characters, and the bidirectional rules) including the fallback to the raw bytes.
"""

from __future__ import annotations

import base64

import pytest

from dbops.engines.postgres.scram import is_scram_verifier, pg_saslprep, scram_sha256_verifier

LIBPQ_VECTORS = [
    (
        "pencil",
        "SCRAM-SHA-256$4096:7zjW8BMcDXilOINZmpRzUA==$lF+z7SaMbZrB6vpFfN2E6k0qmRv8n/f9nQuj8fDKIJo=:gP0EssMsPVqetA6wOFOloANbDirHoZRLKJ4V49xbVjw=",
    ),
    (
        "s3cret ü",
        "SCRAM-SHA-256$4096:a2Yugrl9/6a3tTiTEztCPA==$RIVFfal5VQBhMxjpOzbb69GyLDTBINhZ8kKdd08tVtM=:eJNfg/5hTKyP0gc99rbvjnXskRCn4m8vN8lC4cuQYKs=",
    ),
    (
        "ﬁx",
        "SCRAM-SHA-256$4096:3pX+W/QgoNkl10y3f9j2iQ==$tTjJ3I4EtyoClBg2RPia8GB9yFCeQ2FXVnCmesDOMlY=:yPS4gtPavPv7eWU9KfkX2gjATagxFVDp8satjnegO/s=",
    ),
    (
        "\xa0x y",
        "SCRAM-SHA-256$4096:hd6bPiYVZFQrLf+JIjU//g==$Iy2WfPwtuNSOqgUyE8OqKhIUCLIG6ZhZl+3FBw81pYI=:wuOYPVyk5omnkLKi0gL5c/HZjty8YbxLjqG8yxOwxxw=",
    ),
    (
        "a\xadb",
        "SCRAM-SHA-256$4096:g2VMs1HDd8Brsmzqp5pEhw==$E7H5df/rRoWV8KEysDESTXGcJLVYjQmP9dc+kr6Pyo8=:37aob0hOS9UOtcHOz5wbDL10rVOMvTC1cmrVWvY1oj4=",
    ),
    (
        "\u06271",
        "SCRAM-SHA-256$4096:XeKm5GrWzRsm+iB8kFxxWQ==$I0761ilz8eo7I282HVehzoiL1Bu8K9yp6PNGkFPMwfU=:n6ABXR/K4W3R49iGXuuOT2BpXyS/BDaRzZqEUjH+eSQ=",
    ),
    (
        "\u0627\u0628",
        "SCRAM-SHA-256$4096:pDLQLw4IIK+FCgTbsfhXTA==$IBgu1P7oGzf8XuH9/6VWKN4MublaP+IIBBRRkqKyM6U=:w7+OWZ0Ntzy6D131L/KSkKoj2QZmx8LlrmOEQ4GDeTA=",
    ),
    (
        "abc\u0627",
        "SCRAM-SHA-256$4096://PVOupjum2flCIn9XNCqA==$0oigmPmXqlXrRnLfdRdSB0SjvElceYg2emIXg2OimLc=:/+kTxlKwFIaT00K/cx9G+hzD7iaBQHqKnbehtU2VbfY=",
    ),
    (
        "ȡz",
        "SCRAM-SHA-256$4096:kLDQKr5fW+MKl/3fYTbaZg==$6ZfGExx6IeCuQOei48ioyGveuWmvll7xKWhTKvIKE5k=:wndvCdvmast8J1K36DBBNwn9kaxpzc8r9f7Pg28zypQ=",
    ),
    (
        "x\u2000y",
        "SCRAM-SHA-256$4096:H9YZPfxS0rr6lXtE28XEDg==$Jx6O5bKzkhHjl8Zqb1+tPLJG84y6DeMQJ+cHe9sgGgI=:CXI9HkynNd9bZRF7stdcqxyBNBgwVP5S5P7iQ1HvmCY=",
    ),
    (
        "Ⅸ",
        "SCRAM-SHA-256$4096:nwolE6MZOBUzplUEuc87FA==$qWJOKUWMoGQsvDpOa0PgSmSFKI6dya4USID4zeh/U5w=:dxdL/5++KgokOA82Dqdfz5IuatSC8awBIB61C6mgSHs=",
    ),
    (
        "\u200b",
        "SCRAM-SHA-256$4096:uzULZtMDwM3KznFxC29/Ig==$NE2G4+r/DdnpssJtA79tKvR0/suF9RugyTCvuHr2R+Q=:9k0taxJjG3oa34YEZHOU6cD7LkJLRUdSs4O+js5tzxI=",
    ),
    (
        "é",
        "SCRAM-SHA-256$4096:metmzKV4hgKwKW08OP26Pw==$Bx/9qavIBmLerK+IVZJs9LrnxGlrKbZK+D60zujLOm0=:mXdKsvlxCz+wtv9skwqQuGWZU8Fst4/Wi/dNbxJh2jM=",
    ),
    (
        "é",
        "SCRAM-SHA-256$4096:/0V83/mtSI3C2doc6bKN1w==$CWMBk9l0lHRlierOh6QRHShMnMbF4RuErSYE2weKzsQ=:649EyO1/btFgd/e8u060VDuEthEvDPb4RA1fRRa+7j8=",
    ),
    (
        "tab\tü",
        "SCRAM-SHA-256$4096:Nz7DzejPyAXlKhZsmTufAQ==$CUASAiZ81e8vmuS/EI1c72STZlLQYz7Oa5m665ElvmI=:v3ZKuyZjjrBNvlD7KsXHHpRMCJMONuoJcyOwqtdPKyY=",
    ),
]


@pytest.mark.parametrize(("password", "expected"), LIBPQ_VECTORS)
def test_matches_libpq(password: str, expected: str) -> None:
    iterations, salt = expected.split("$")[1].split(":")
    assert scram_sha256_verifier(password, salt=base64.b64decode(salt), iterations=int(iterations)) == expected


def test_random_salt_and_shape() -> None:
    password = "correct horse battery staple"  # long enough that base64 output cannot contain it by chance
    a = scram_sha256_verifier(password)
    b = scram_sha256_verifier(password)
    assert a != b
    assert is_scram_verifier(a)
    assert a.startswith("SCRAM-SHA-256$4096:")
    assert len(base64.b64decode(a.split("$")[1].split(":")[1])) == 16
    assert password not in a


def test_iterations() -> None:
    assert scram_sha256_verifier("pw", salt=b"s" * 16, iterations=10).startswith("SCRAM-SHA-256$10:")
    with pytest.raises(ValueError):
        scram_sha256_verifier("pw", iterations=0)


@pytest.mark.parametrize(
    ("password", "prepared"),
    [
        ("plain ascii\t", b"plain ascii\t"),  # ASCII is used unchanged, even control characters
        ("\u00a0x", b" x"),  # non-ASCII space becomes a space
        ("a\u00adb", b"ab"),  # soft hyphen is mapped to nothing
        ("\ufb01", b"fi"),  # NFKC
        ("\u200b", b" "),  # in both mapping tables: pg_saslprep maps it to a space first
        ("abc\u0627", "abc\u0627".encode()),  # mixed bidi: raw bytes
        ("\u0221", "\u0221".encode()),  # unassigned in Unicode 3.2: raw bytes
    ],
)
def test_saslprep(password: str, prepared: bytes) -> None:
    assert pg_saslprep(password) == prepared


@pytest.mark.parametrize(
    "text",
    [
        "",
        "md5abc",
        "SCRAM-SHA-256$",
        "SCRAM-SHA-256$4096:c2FsdA==$a:b",
        "SCRAM-SHA-256$x:c2FsdA==$" + "A" * 44 + ":" + "A" * 44,
    ],
)
def test_is_scram_verifier_rejects(text: str) -> None:
    assert not is_scram_verifier(text)
