"""Statements of dual-password rotation (behaviour.md 8.6, engines.md 4.2/4.7): `ALTER USER … IDENTIFIED BY '<new>'
RETAIN CURRENT PASSWORD` and `ALTER USER … DISCARD OLD PASSWORD`, one per host entry, the password escaped like every
other account literal, refused on servers without dual passwords naming `spec.passwordRotation.strategy`, and never
showing the password in an error."""

from __future__ import annotations

import pytest
from hypothesis import example, given

from dbops.engines.errors import InvalidSpec
from dbops.engines.mysql.sql import (
    DEFAULT_MARIADB,
    Account,
    MySQLDialect,
    alter_user_password,
    discard_old_password,
    parse_version,
)
from tests.unit.sql.mysql_lexer import bare, quoted
from tests.unit.sql.test_mysql import TEXT, USER

MYSQL_8014 = MySQLDialect(version=(8, 0, 14))
HOSTS = ("%", "10.0.0.%", "localhost")

_RETAIN_WORDS = ["ALTER", "USER", "@", "IDENTIFIED", "BY", "RETAIN", "CURRENT", "PASSWORD"]
_DISCARD_WORDS = ["ALTER", "USER", "@", "DISCARD", "OLD", "PASSWORD"]


def test_retain_and_discard_for_every_host_entry() -> None:
    retain = [alter_user_password(Account("app", h), "n3w", MYSQL_8014, retain_current=True) for h in HOSTS]
    assert retain == [
        "ALTER USER 'app'@'%' IDENTIFIED BY 'n3w' RETAIN CURRENT PASSWORD",
        "ALTER USER 'app'@'10.0.0.%' IDENTIFIED BY 'n3w' RETAIN CURRENT PASSWORD",
        "ALTER USER 'app'@'localhost' IDENTIFIED BY 'n3w' RETAIN CURRENT PASSWORD",
    ]
    discard = [discard_old_password(Account("app", h), MYSQL_8014) for h in HOSTS]
    assert discard == [
        "ALTER USER 'app'@'%' DISCARD OLD PASSWORD",
        "ALTER USER 'app'@'10.0.0.%' DISCARD OLD PASSWORD",
        "ALTER USER 'app'@'localhost' DISCARD OLD PASSWORD",
    ]


def test_the_undo_of_a_rotation_keeps_the_plugin_and_retains_nothing() -> None:
    """The flow's undo (`restore_password`) is a plain IDENTIFIED BY without plugin: the account keeps its plugin,
    and MySQL leaves the secondary password as it is."""
    assert alter_user_password(Account("app", "%"), "old", MYSQL_8014) == "ALTER USER 'app'@'%' IDENTIFIED BY 'old'"


@pytest.mark.parametrize(
    ("password", "literal"),
    [
        ("it's", "'it''s'"),
        ("back\\slash", r"'back\\slash'"),
        ("' RETAIN CURRENT PASSWORD; DROP USER root; -- ", "''' RETAIN CURRENT PASSWORD; DROP USER root; -- '"),
        ('"dq"`bt`', """'"dq"`bt`'"""),
        ("line\nbreak", "'line\nbreak'"),
    ],
)
def test_hostile_passwords_are_escaped_like_every_account_literal(password: str, literal: str) -> None:
    """Quotes doubled, backslashes doubled (the server reads backslash escapes), everything else as it is: the same
    literal as the plain password change."""
    statement = alter_user_password(Account("app", "%"), password, MYSQL_8014, retain_current=True)
    assert statement == f"ALTER USER 'app'@'%' IDENTIFIED BY {literal} RETAIN CURRENT PASSWORD"
    assert statement == alter_user_password(Account("app", "%"), password, MYSQL_8014) + " RETAIN CURRENT PASSWORD"
    assert quoted(statement) == ["app", "%", password]


@given(USER, TEXT, TEXT)
@example("a'", "%'", "' RETAIN CURRENT PASSWORD --")
@example("`", "\\'", "\\")
def test_rotation_statements_keep_every_value_quoted(user: str, host: str, password: str) -> None:
    retain = alter_user_password(Account(user, host), password, MYSQL_8014, retain_current=True)
    assert quoted(retain) == [user, host, password]
    assert bare(retain) == _RETAIN_WORDS
    discard = discard_old_password(Account(user, host), MYSQL_8014)
    assert quoted(discard) == [user, host]
    assert bare(discard) == _DISCARD_WORDS


@pytest.mark.parametrize(
    "dialect",
    [
        DEFAULT_MARIADB,
        MySQLDialect(version=parse_version("10.11.6-MariaDB"), flavour=DEFAULT_MARIADB.flavour),
        MySQLDialect(version=(8, 0, 13)),
        MySQLDialect(version=(5, 7, 44)),
    ],
)
def test_servers_without_dual_passwords_refuse_naming_the_strategy(dialect: MySQLDialect) -> None:
    with pytest.raises(InvalidSpec) as retain:
        alter_user_password(Account("app", "%"), "s3cret-pw", dialect, retain_current=True)
    with pytest.raises(InvalidSpec) as discard:
        discard_old_password(Account("app", "%"), dialect)
    for error in (retain.value, discard.value):
        assert error.field == "spec.passwordRotation.strategy"
        assert "8.0.14" in str(error) and "s3cret-pw" not in str(error)


def test_a_password_with_nul_is_refused_without_showing_it() -> None:
    with pytest.raises(InvalidSpec) as info:
        alter_user_password(Account("app", "%"), "s3cret\x00pw", MYSQL_8014, retain_current=True)
    assert "s3cret" not in str(info.value)


def test_dual_passwords_start_at_8_0_14() -> None:
    assert not MySQLDialect(version=(8, 0, 13)).dual_password
    assert MYSQL_8014.dual_password and MySQLDialect(version=(8, 4, 0)).dual_password
    assert not DEFAULT_MARIADB.dual_password
