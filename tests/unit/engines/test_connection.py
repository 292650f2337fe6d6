"""Connection settings: the effective TLS rule table of api.md 5.3, fingerprints, and no password in repr."""

from __future__ import annotations

import dataclasses

import pytest

from dbops.engines.connection import ConnectionSettings, TLSMaterial, TLSMode, effective_tls_mode


@pytest.mark.parametrize(
    ("engine", "kwargs", "expected"),
    [
        # Row 1: tls.enabled with a mode other than disable wins over everything.
        ("postgres", {"tls_enabled": True, "tls_mode": "verify-ca", "postgres_ssl_mode": "disable"}, TLSMode.VERIFY_CA),
        ("mysql", {"tls_enabled": True, "tls_mode": "require", "mysql_tls": "required"}, TLSMode.REQUIRE),
        # Row 2: the engine block's own mode.
        ("postgres", {"tls_enabled": False, "tls_mode": None, "postgres_ssl_mode": "prefer"}, TLSMode.PREFER),
        (
            "cockroachdb",
            {"tls_enabled": False, "tls_mode": None, "postgres_ssl_mode": "verify-full"},
            TLSMode.VERIFY_FULL,
        ),
        ("mariadb", {"tls_enabled": False, "tls_mode": None, "mysql_tls": "preferred"}, TLSMode.PREFER),
        ("mysql", {"tls_enabled": False, "tls_mode": None, "mysql_tls": "required"}, TLSMode.VERIFY_FULL),
        ("mysql", {"tls_enabled": False, "tls_mode": None, "mysql_tls": "skip-verify"}, TLSMode.REQUIRE),
        ("mysql", {"tls_enabled": False, "tls_mode": None, "mysql_tls": "disabled"}, TLSMode.DISABLE),
        ("clickhouse", {"tls_enabled": False, "tls_mode": None, "clickhouse_secure": True}, TLSMode.VERIFY_FULL),
        # Row 3: tls.enabled with mode disable means TLS without verification.
        ("postgres", {"tls_enabled": True, "tls_mode": "disable"}, TLSMode.REQUIRE),
        ("clickhouse", {"tls_enabled": True, "tls_mode": "disable", "clickhouse_secure": False}, TLSMode.REQUIRE),
        # Row 4: nothing set.
        ("postgres", {"tls_enabled": False, "tls_mode": None}, TLSMode.DISABLE),
        # A block of another family does not count.
        ("mysql", {"tls_enabled": False, "tls_mode": None, "postgres_ssl_mode": "require"}, TLSMode.DISABLE),
    ],
)
def test_effective_tls_mode_follows_the_first_matching_row(
    engine: str, kwargs: dict[str, object], expected: TLSMode
) -> None:
    assert effective_tls_mode(engine, **kwargs) is expected  # type: ignore[arg-type]


def settings(**changes: object) -> ConnectionSettings:
    base = ConnectionSettings(
        engine="postgres", host="db", port=5432, username="admin", password="s3cret-pw", database="postgres"
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_password_and_key_never_appear_in_repr() -> None:
    text = repr(settings(tls=TLSMaterial(ca_pem="CA", cert_pem="CERT", key_pem="PRIVATE-KEY")))
    assert "s3cret-pw" not in text and "PRIVATE-KEY" not in text
    assert "admin" in text


@pytest.mark.parametrize(
    "change",
    [
        {"host": "other"},
        {"port": 5433},
        {"username": "root"},
        {"password": "rotated"},
        {"tls_mode": TLSMode.REQUIRE},
        {"tls": TLSMaterial(ca_pem="new CA")},
        {"statement_timeout": "5s"},
    ],
)
def test_fingerprint_changes_with_everything_that_must_close_connections(change: dict[str, object]) -> None:
    assert settings().fingerprint() == settings().fingerprint()
    assert settings(**change).fingerprint() != settings().fingerprint()


def test_for_database_keeps_the_account_and_endpoint() -> None:
    other = settings().for_database("app")
    assert other.database == "app"
    assert dataclasses.replace(other, database="postgres") == settings()
