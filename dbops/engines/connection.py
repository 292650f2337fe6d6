"""What the operator needs to open a session to a database server, independent of the engine.

The instance controller turns an instance's spec, admin Secret and TLS Secret into `ConnectionSettings`; every
engine adapter takes only that. Keeping it a frozen value makes "did the endpoint, TLS material or credentials
change?" a comparison of fingerprints, which is what decides when cached connections must be closed
(behaviour.md 2).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from enum import StrEnum


class TLSMode(StrEnum):
    """Verification level of a TLS session, in libpq's words, shared by every engine family.

    `allow` and `prefer` only exist for the PostgreSQL family (plaintext fallback); MySQL's `preferred` maps to
    `prefer`, `skip-verify` to `require`, `required` to `verify-full` (api.md 5.3 row 2).
    """

    DISABLE = "disable"
    ALLOW = "allow"
    PREFER = "prefer"
    REQUIRE = "require"
    VERIFY_CA = "verify-ca"
    VERIFY_FULL = "verify-full"

    @property
    def verifies_chain(self) -> bool:
        return self in (TLSMode.VERIFY_CA, TLSMode.VERIFY_FULL)


@dataclass(frozen=True)
class TLSMaterial:
    """PEM text read from the instance's TLS Secret; all optional (no CA means the system trust store)."""

    ca_pem: str | None = None
    cert_pem: str | None = None
    key_pem: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class TrackingConfig:
    """Where MySQL-family and ClickHouse servers keep tracking text (api.md 5.7 `resourceTracking.mysql`):
    `database=None` is the admin database. PostgreSQL keeps it in comments and ignores this."""

    database: str | None = None
    table: str = "_dbops_metadata"
    use_user_attributes: bool = True


@dataclass(frozen=True)
class ConnectionSettings:
    """One instance's endpoint, admin account, TLS and session settings. The password never appears in repr."""

    engine: str
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    database: str
    tls_mode: TLSMode = TLSMode.DISABLE
    tls: TLSMaterial = field(default_factory=TLSMaterial)
    connect_timeout: float = 10.0
    statement_timeout: str | None = None
    application_name: str = "db-provision-operator"
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    max_sessions: int = 4
    """Pooled sessions to the admin database; the registry sets it to --max-operations-per-instance, so the pool
    never caps the operation limit below what the flag promises."""

    def fingerprint(self) -> str:
        """A digest of everything that, when changed, must close the cached connections (password included)."""
        parts = (
            self.engine,
            self.host,
            str(self.port),
            self.username,
            self.password,
            self.database,
            self.tls_mode.value,
            self.tls.ca_pem or "",
            self.tls.cert_pem or "",
            self.tls.key_pem or "",
            str(self.connect_timeout),
            self.statement_timeout or "",
            self.application_name,
            repr(self.tracking),
            str(self.max_sessions),
        )
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def for_database(self, database: str) -> ConnectionSettings:
        """The same server and account, connected to another database (PostgreSQL-family in-database work)."""
        return dataclasses.replace(self, database=database)


DEFAULT_ADMIN_DATABASE = {
    "postgres": "postgres",
    "cockroachdb": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "clickhouse": "default",
}
"""The admin connection database when `spec.connection.database` is empty (behaviour.md 6.1)."""

_MYSQL_TLS = {
    "disabled": TLSMode.DISABLE,
    "preferred": TLSMode.PREFER,
    "required": TLSMode.VERIFY_FULL,
    "skip-verify": TLSMode.REQUIRE,
}


def effective_tls_mode(
    engine: str,
    *,
    tls_enabled: bool,
    tls_mode: str | None,
    postgres_ssl_mode: str | None = None,
    mysql_tls: str | None = None,
    clickhouse_secure: bool | None = None,
) -> TLSMode:
    """The one TLS mode every connection to an instance uses: the first matching row of api.md 5.3.

    `postgres_ssl_mode` / `mysql_tls` / `clickhouse_secure` are the engine block's values, or None when the block
    (or the field, for the connection.sslMode alias) is absent; the schema default of a present block is expected
    to have been applied by the API server already.
    """
    if tls_enabled and tls_mode and tls_mode != "disable":
        return TLSMode(tls_mode)
    if engine in ("postgres", "cockroachdb") and postgres_ssl_mode:
        return TLSMode(postgres_ssl_mode)
    if engine in ("mysql", "mariadb") and mysql_tls:
        return _MYSQL_TLS[mysql_tls]
    if engine == "clickhouse" and clickhouse_secure:
        return TLSMode.VERIFY_FULL
    if tls_enabled:
        return TLSMode.REQUIRE
    return TLSMode.DISABLE


class FailureCategory(StrEnum):
    """Why a connection failed; it starts the `Connected` condition's message (behaviour.md 6.3)."""

    CREDENTIALS_UNAVAILABLE = "CredentialsUnavailable"
    AUTHENTICATION_FAILED = "AuthenticationFailed"
    TLS_FAILED = "TLSFailed"
    UNREACHABLE = "Unreachable"
    TIMEOUT = "Timeout"
    SERVER_ERROR = "ServerError"


class ConnectionFailure(Exception):
    """A session could not be opened. The message is already redacted and safe for status, events and logs."""

    def __init__(self, category: FailureCategory, message: str) -> None:
        super().__init__(f"{category.value}: {message}")
        self.category = category
        self.detail = message


@dataclass(frozen=True)
class ServerInfo:
    """What a health check learns: the version string for `status.version` and the detected flavour."""

    version: str
    flavour: str
