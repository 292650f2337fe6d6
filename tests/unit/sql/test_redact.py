"""Redaction of server messages (engines.md 1.1, api.md 1.7)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dbops.engines.sql.quoting import ch_literal, mysql_literal, pg_literal
from dbops.engines.sql.redact import REDACTED, redact


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "syntax error at or near \"x\" in ALTER ROLE \"u\" WITH LOGIN PASSWORD 's3cret' VALID UNTIL '2030'",
            "syntax error at or near \"x\" in ALTER ROLE \"u\" WITH LOGIN PASSWORD '***' VALID UNTIL '2030'",
        ),
        ("CREATE ROLE u ENCRYPTED PASSWORD 'x'", "CREATE ROLE u ENCRYPTED PASSWORD '***'"),
        ("statement: CREATE ROLE u PASSWORD 'cut off by the serv", "statement: CREATE ROLE u PASSWORD '***'"),
        (
            "CREATE USER IF NOT EXISTS 'a'@'%' IDENTIFIED WITH caching_sha2_password BY 'p\\\\w''d' REQUIRE NONE",
            "CREATE USER IF NOT EXISTS 'a'@'%' IDENTIFIED WITH caching_sha2_password BY '***' REQUIRE NONE",
        ),
        ("ALTER USER u IDENTIFIED BY 'pw'", "ALTER USER u IDENTIFIED BY '***'"),
        (
            "CREATE USER u IDENTIFIED WITH sha256_password BY 'a\\'b'",
            "CREATE USER u IDENTIFIED WITH sha256_password BY '***'",
        ),
        ("GRANT x TO u IDENTIFIED BY PASSWORD '*6BB4837EB'", "GRANT x TO u IDENTIFIED BY PASSWORD '***'"),
        ("SET PASSWORD FOR 'u'@'%' = 'pw'", "SET PASSWORD FOR 'u'@'%' = '***'"),
        ("select PASSWORD('pw')", "select PASSWORD('***')"),
        ("rolpassword SCRAM-SHA-256$4096:abc=$def:ghi= end", "rolpassword SCRAM-SHA-256$*** end"),
        ("md5" + "0123456789abcdef" * 2, "md5***"),
        (
            "could not connect to postgresql://admin:hunter2@db:5432/x",
            "could not connect to postgresql://***@db:5432/x",
        ),
        (
            "BACKUP INTO 's3://b/p?AWS_ACCESS_KEY_ID=AKIA1&AWS_SECRET_ACCESS_KEY=abc%2F&AWS_REGION=eu'",
            "BACKUP INTO 's3://b/p?AWS_ACCESS_KEY_ID=***&AWS_SECRET_ACCESS_KEY=***&AWS_REGION=eu'",
        ),
        (
            "azure-blob://c/p?AZURE_ACCOUNT_NAME=n&AZURE_ACCOUNT_KEY=k==",
            "azure-blob://c/p?AZURE_ACCOUNT_NAME=n&AZURE_ACCOUNT_KEY=***",
        ),
        ("WITH encryption_passphrase = 'abcd'", "WITH encryption_passphrase = '***'"),
        ("host=db password=pw user=u", "host=db password=*** user=u"),
        ('relation "t" does not exist', 'relation "t" does not exist'),
    ],
)
def test_patterns(message: str, expected: str) -> None:
    assert redact(message) == expected


def test_known_secrets_in_every_spelling() -> None:
    secret = "it's\\x"
    message = (
        f"echo {secret} and {pg_literal(secret, 'f')} and {mysql_literal(secret, 'f')} and {ch_literal(secret, 'f')}"
    )
    out = redact(message, [secret])
    assert "it" not in out.replace("echo", "")
    assert out.count(REDACTED) == 4


def test_empty_secret_is_ignored() -> None:
    assert redact("nothing here", ["", "zzz"]) == "nothing here"


@given(st.text(min_size=1, max_size=30).filter(lambda s: s.strip() != "" and "*" not in s))
def test_secret_never_survives_in_a_password_clause(secret: str) -> None:
    for literal in (pg_literal, mysql_literal, ch_literal):
        try:
            quoted = literal(secret, "password")
        except ValueError:
            return
        statement = f"ERROR: near ALTER ROLE x WITH PASSWORD {quoted}"
        assert secret not in redact(statement, [secret])
        assert redact(statement).endswith(f"PASSWORD '{REDACTED}'")
