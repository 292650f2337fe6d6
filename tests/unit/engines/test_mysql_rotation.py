"""Which adapters have the dual-password capability, and how a refusal names the server (behaviour.md 8.6: "a
message naming the engine and version"). The capability's statements run against real servers in
tests/e2e/test_mariadb_rotation.py; their text is tested in tests/unit/sql/test_mysql_rotation.py."""

from __future__ import annotations

from dbops.engines.connection import ConnectionSettings
from dbops.engines.mysql.adapter import MySQLAdapter
from dbops.engines.mysql.rotation import MySQLDualPassword, server_label
from dbops.engines.mysql.sql import Flavour, MySQLDialect, detect_dialect
from dbops.engines.postgres.adapter import PostgresAdapter
from dbops.engines.rotation import DualPasswordAdapter, dual_password_adapter


def settings(engine: str) -> ConnectionSettings:
    return ConnectionSettings(engine=engine, host="127.0.0.1", port=1, username="a", password="p", database="")


def test_only_the_mysql_family_has_the_capability() -> None:
    for engine in ("mysql", "mariadb"):
        capability = dual_password_adapter(MySQLAdapter(settings(engine)))
        assert isinstance(capability, MySQLDualPassword) and isinstance(capability, DualPasswordAdapter)
    assert dual_password_adapter(PostgresAdapter(settings("postgres"))) is None


def test_the_server_label_names_flavour_and_version() -> None:
    assert server_label(detect_dialect("10.11.6-MariaDB-1:10.11.6+maria~ubu2204")) == "MariaDB 10.11.6"
    assert server_label(detect_dialect("5.5.5-10.6.12-MariaDB")) == "MariaDB 10.6.12"
    assert server_label(MySQLDialect(Flavour.MYSQL, (8, 0, 13))) == "MySQL 8.0.13"
    assert server_label(detect_dialect("8.0.36")) == "MySQL 8.0.36"
