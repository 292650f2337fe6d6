"""Default Secret names (api.md 5.10)."""

from __future__ import annotations

import re

import pytest

from dbops.secrets.naming import credentials_secret_name, password_source_secret_name

DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")


@pytest.mark.parametrize(
    ("username", "secret"),
    [
        ("app", "app-credentials"),
        ("App_User", "app-user-credentials"),
        ("_svc", "svc-credentials"),
        ("A1", "a1-credentials"),
    ],
)
def test_credentials_secret_name(username: str, secret: str) -> None:
    assert credentials_secret_name(username) == secret
    assert DNS_SUBDOMAIN.fullmatch(secret)


def test_password_source_secret_name() -> None:
    assert password_source_secret_name("app-credentials") == "app-credentials-dbops-source"
