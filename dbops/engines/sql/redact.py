"""Redaction of server messages that may echo a statement (engines.md 1.1 last bullet, api.md 1.7).

Database servers quote the failing statement, or part of it, in some error messages and log lines; if that statement
set a password, the password would travel into the operator's logs, a status message or an event. Every server
message passes through :func:`redact` before it is logged or copied anywhere.

Two layers, because neither alone is enough:

* the caller passes the secrets it knows were in the statement (the password, storage keys); every occurrence is
  replaced, also in the quoted spellings the statement used (``'`` doubled, backslash doubled) — this catches a
  password echoed in an unexpected place;
* patterns remove what follows the password clauses of every dialect (``PASSWORD '…'``, ``IDENTIFIED … BY '…'``),
  SCRAM and MD5 verifiers, credentials in URIs and storage options — this catches secrets the caller did not know
  about (for example in ``initSQL`` text).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["REDACTED", "redact"]

REDACTED = "***"

# A quoted literal as any of our dialects writes it; may be cut off by the server's message length limit, and may
# consume more than the literal when backslashes are ordinary characters (over-redaction is the safe direction).
_LITERAL = r"'(?:[^'\\]|''|\\.)*(?:'|$)"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # PostgreSQL / CockroachDB: [ENCRYPTED] PASSWORD '…'
    (re.compile(r"(\bPASSWORD\s*(?:=\s*)?)" + _LITERAL, re.IGNORECASE | re.DOTALL), r"\1'" + REDACTED + "'"),
    # MySQL / MariaDB / ClickHouse: IDENTIFIED [WITH plugin] BY|AS '…', IDENTIFIED BY PASSWORD '…', PASSWORD('…')
    (
        re.compile(
            r"(\bIDENTIFIED\s+(?:(?:WITH|VIA)\s+[`'\"]?\w+[`'\"]?\s+)?(?:BY|AS|USING)\s+(?:PASSWORD\s*\(?\s*)?)"
            + _LITERAL,
            re.IGNORECASE | re.DOTALL,
        ),
        r"\1'" + REDACTED + "'",
    ),
    (re.compile(r"(\bPASSWORD\s*\(\s*)" + _LITERAL, re.IGNORECASE | re.DOTALL), r"\1'" + REDACTED + "'"),
    # MySQL / MariaDB: SET PASSWORD [FOR account] = '…'
    (
        re.compile(r"(\bSET\s+PASSWORD\b[^=]*=\s*)" + _LITERAL, re.IGNORECASE | re.DOTALL),
        r"\1'" + REDACTED + "'",
    ),
    # Stored verifiers are password-equivalent for SCRAM/MD5 logins.
    (re.compile(r"SCRAM-SHA-256\$[^\s'\"]*"), "SCRAM-SHA-256$" + REDACTED),
    (re.compile(r"\bmd5[0-9a-f]{32}\b"), "md5" + REDACTED),
    # userinfo in URIs: scheme://user:secret@host
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s'\"@]*@"), r"\1" + REDACTED + "@"),
    # credentials as URI query parameters or key=value options (storage URIs, CockroachDB BACKUP options)
    (
        re.compile(
            r"(\b(?:AWS_SECRET_ACCESS_KEY|AWS_ACCESS_KEY_ID|AWS_SESSION_TOKEN|AZURE_ACCOUNT_KEY|AZURE_CLIENT_SECRET"
            r"|CREDENTIALS|BEARER_TOKEN|ASSUME_ROLE|SECRET_ACCESS_KEY|ACCOUNT_KEY|SAS_TOKEN|sig|password|secret"
            r"|access_key|secret_key|token)=)[^&\s'\"]*",
            re.IGNORECASE,
        ),
        r"\1" + REDACTED,
    ),
    (
        re.compile(r"(\b(?:encryption_passphrase|kms|encryption_info_dir)\s*=\s*)" + _LITERAL, re.IGNORECASE),
        r"\1'" + REDACTED + "'",
    ),
)


def _spellings(secret: str) -> set[str]:
    return {
        secret,
        secret.replace("'", "''"),  # PostgreSQL literal
        secret.replace("\\", "\\\\").replace("'", "''"),  # MySQL literal
        secret.replace("\\", "\\\\").replace("'", "\\'"),  # ClickHouse literal
    }


def redact(message: str, secrets: Iterable[str] = ()) -> str:
    """Remove secrets from a server message.

    ``secrets`` are exact values known to have been in the statement (empty strings are ignored; values shorter than
    four characters are still replaced, since a short password is still a password). Patterns for password clauses,
    verifiers and credentials in URIs are applied afterwards.
    """
    out = message
    spellings = {s for secret in secrets if secret for s in _spellings(secret)}
    for s in sorted(spellings, key=len, reverse=True):
        out = out.replace(s, REDACTED)
    for pattern, repl in _PATTERNS:
        out = pattern.sub(repl, out)
    return out
