"""MySQL and MariaDB statement builders (engines.md 4, 5, 8.1), statement by statement, and hostile-input properties."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from dbops.engines.errors import InvalidSpec
from dbops.engines.mysql.sql import (
    CACHING_SHA2,
    DEFAULT_MARIADB,
    DEFAULT_MYSQL,
    MYSQL_NATIVE,
    SHA256,
    Account,
    AccountOptions,
    Flavour,
    MySQLDialect,
    Require,
    alter_database,
    alter_user,
    alter_user_password,
    create_database,
    create_metadata_table,
    create_role,
    create_user,
    create_user_from_hash,
    delete_tracking,
    detect_dialect,
    discard_old_password,
    drop_database,
    drop_role,
    drop_user,
    grant_role,
    kill_connection,
    lock_account,
    parse_version,
    revoke_role,
    role_account,
    select_tracking,
    set_default_roles,
    set_session_sql_mode,
    set_session_storage_engine,
    tracking_attribute,
    unsupported_account_fields,
    unsupported_role_fields,
    upsert_tracking,
    with_plugins,
)
from dbops.engines.sql.redact import redact
from tests.unit.sql.mysql_lexer import bare, quoted

MYSQL_57 = MySQLDialect(version=(5, 7, 44))
MYSQL_8013 = MySQLDialect(version=(8, 0, 13))
MYSQL_8018 = MySQLDialect(version=(8, 0, 18))
MYSQL_8020 = MySQLDialect(version=(8, 0, 20))
MYSQL_84 = MySQLDialect(version=(8, 4, 0))
MARIADB_103 = MySQLDialect(flavour=Flavour.MARIADB, version=(10, 3, 39))

# --------------------------------------------------------------------------------------------------------------------
# Dialect and flavour detection


@pytest.mark.parametrize(
    ("text", "flavour", "version"),
    [
        ("8.0.36", Flavour.MYSQL, (8, 0, 36)),
        ("8.4.0-commercial", Flavour.MYSQL, (8, 4, 0)),
        ("5.7.44-log", Flavour.MYSQL, (5, 7, 44)),
        ("10.11.19-MariaDB-0+deb12u1", Flavour.MARIADB, (10, 11, 19)),
        ("11.2.2-MariaDB-1:11.2.2+maria~ubu2204", Flavour.MARIADB, (11, 2, 2)),
        ("5.5.5-10.6.16-MariaDB-log", Flavour.MARIADB, (10, 6, 16)),
    ],
)
def test_detect_dialect(text: str, flavour: Flavour, version: tuple[int, int, int]) -> None:
    dialect = detect_dialect(text)
    assert dialect.flavour is flavour
    assert dialect.version == version
    assert dialect.escape_db_wildcards


def test_unparsable_version_disables_version_features() -> None:
    assert parse_version("unknown") == (0, 0, 0)
    dialect = detect_dialect("unknown")
    assert not dialect.native_roles and not dialect.account_lock and not dialect.dual_password


def test_partial_revokes_turns_off_wildcard_escaping_on_mysql_only() -> None:
    assert not detect_dialect("8.0.36", partial_revokes=True).escape_db_wildcards
    assert detect_dialect("10.11.2-MariaDB", partial_revokes=True).escape_db_wildcards


def test_feature_table_mysql() -> None:
    assert not MYSQL_57.native_roles and MYSQL_57.account_lock and not MYSQL_57.account_grants
    assert DEFAULT_MYSQL.native_roles and DEFAULT_MYSQL.roles_have_host and DEFAULT_MYSQL.account_grants
    assert not MYSQL_8013.dual_password and MySQLDialect(version=(8, 0, 14)).dual_password
    assert not MYSQL_8018.failed_login_lock and MySQLDialect(version=(8, 0, 19)).failed_login_lock
    assert not MYSQL_8020.user_attributes and MySQLDialect(version=(8, 0, 21)).user_attributes
    assert DEFAULT_MYSQL.multiple_default_roles
    assert MYSQL_57.default_plugin == MYSQL_NATIVE and DEFAULT_MYSQL.default_plugin == CACHING_SHA2


def test_feature_table_mariadb() -> None:
    m = DEFAULT_MARIADB
    assert m.native_roles and not m.roles_have_host and not m.account_grants
    assert m.account_lock and not MARIADB_103.account_lock
    assert not m.dual_password and not m.failed_login_lock and not m.user_attributes
    assert not m.multiple_default_roles
    assert m.global_priv_table and not MARIADB_103.global_priv_table
    assert m.has_plugin(MYSQL_NATIVE) and not m.has_plugin(CACHING_SHA2) and not m.has_plugin(SHA256)


def test_plugins_by_version_and_as_read_from_the_server() -> None:
    assert not MYSQL_57.has_plugin(CACHING_SHA2) and MYSQL_57.has_plugin(SHA256)
    assert DEFAULT_MYSQL.has_plugin(MYSQL_NATIVE)
    assert not MYSQL_84.has_plugin(MYSQL_NATIVE)
    loaded = with_plugins(MYSQL_84, [CACHING_SHA2, MYSQL_NATIVE])
    assert loaded.has_plugin(MYSQL_NATIVE) and not loaded.has_plugin(SHA256)


def test_tool_names() -> None:
    assert DEFAULT_MYSQL.dump_tools == ("mysqldump",) and DEFAULT_MYSQL.client_tools == ("mysql",)
    assert DEFAULT_MARIADB.dump_tools == ("mariadb-dump", "mysqldump")
    assert DEFAULT_MARIADB.client_tools == ("mariadb", "mysql")
    assert DEFAULT_MYSQL.physical_backup_tool == "xtrabackup"
    assert DEFAULT_MARIADB.physical_backup_tool == "mariadb-backup"
    assert DEFAULT_MYSQL.gtid_purged_switch and not DEFAULT_MARIADB.gtid_purged_switch


# --------------------------------------------------------------------------------------------------------------------
# Databases


def test_create_database() -> None:
    assert create_database("app") == "CREATE DATABASE IF NOT EXISTS `app`"
    assert (
        create_database("a`b", charset="utf8mb4", collation="utf8mb4_unicode_ci")
        == "CREATE DATABASE IF NOT EXISTS `a``b` CHARACTER SET = 'utf8mb4' COLLATE = 'utf8mb4_unicode_ci'"
    )


def test_alter_and_drop_database() -> None:
    assert alter_database("app", charset="latin1") == "ALTER DATABASE `app` CHARACTER SET = 'latin1'"
    assert alter_database("app", collation="latin1_bin") == "ALTER DATABASE `app` COLLATE = 'latin1_bin'"
    with pytest.raises(ValueError, match="character set or a collation"):
        alter_database("app")
    assert drop_database("x'y") == "DROP DATABASE IF EXISTS `x'y`"


@pytest.mark.parametrize(("charset", "collation", "field"), [("utf8'", None, "charset"), (None, "a b", "collation")])
def test_charset_names_are_checked(charset: str | None, collation: str | None, field: str) -> None:
    with pytest.raises(InvalidSpec) as info:
        create_database("app", charset=charset, collation=collation)
    assert info.value.field == f"spec.mysql.{field}"


def test_database_name_limit_is_64_characters() -> None:
    assert create_database("d" * 64)
    with pytest.raises(InvalidSpec) as info:
        create_database("d" * 65)
    assert info.value.field == "spec.name"


def test_session_settings() -> None:
    assert set_session_sql_mode("STRICT_ALL_TABLES,ANSI") == "SET SESSION sql_mode = 'STRICT_ALL_TABLES,ANSI'"
    assert set_session_storage_engine("InnoDB") == "SET SESSION default_storage_engine = 'InnoDB'"
    assert set_session_sql_mode("x'; DROP") == "SET SESSION sql_mode = 'x''; DROP'"


# --------------------------------------------------------------------------------------------------------------------
# Accounts

APP = Account("app", "%")
FULL = AccountOptions(
    auth_plugin=CACHING_SHA2,
    require=Require.X509,
    max_queries_per_hour=1,
    max_updates_per_hour=2,
    max_connections_per_hour=3,
    max_user_connections=4,
    locked=True,
    failed_login_attempts=5,
    password_lock_time=6,
    attribute="managed-by:db-provision-operator,cr:ns/app",
)
LIMITS_ZERO = "WITH MAX_QUERIES_PER_HOUR 0 MAX_UPDATES_PER_HOUR 0 MAX_CONNECTIONS_PER_HOUR 0 MAX_USER_CONNECTIONS 0"


def test_account_rendering() -> None:
    assert APP.sql(DEFAULT_MYSQL) == "'app'@'%'"
    assert Account("o'n", "10.0.0.%").sql(DEFAULT_MYSQL) == "'o''n'@'10.0.0.%'"
    assert Account("r", None).sql(DEFAULT_MARIADB) == "'r'"
    assert str(Account("u", "h")) == "u@h" and str(Account("r", None)) == "r"
    with pytest.raises(InvalidSpec):
        Account("", None).sql(DEFAULT_MARIADB)


def test_account_name_limits_differ_between_servers() -> None:
    assert Account("u" * 80).sql(DEFAULT_MARIADB)
    with pytest.raises(InvalidSpec) as info:
        Account("u" * 33).sql(DEFAULT_MYSQL)
    assert info.value.field == "spec.username"
    with pytest.raises(InvalidSpec):
        Account("u" * 81, None).sql(DEFAULT_MARIADB)


def test_create_user_defaults_mysql8() -> None:
    assert create_user(APP, "pw", AccountOptions()) == (
        "CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED WITH caching_sha2_password BY 'pw' REQUIRE NONE "
        f"{LIMITS_ZERO} ACCOUNT UNLOCK FAILED_LOGIN_ATTEMPTS 0 PASSWORD_LOCK_TIME 0"
    )


def test_create_user_every_option_mysql8() -> None:
    attribute = json.dumps({"dbops": FULL.attribute})
    assert create_user(APP, "p'w\\", FULL) == (
        "CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED WITH caching_sha2_password BY 'p''w\\\\' REQUIRE X509 "
        "WITH MAX_QUERIES_PER_HOUR 1 MAX_UPDATES_PER_HOUR 2 MAX_CONNECTIONS_PER_HOUR 3 MAX_USER_CONNECTIONS 4 "
        f"ACCOUNT LOCK FAILED_LOGIN_ATTEMPTS 5 PASSWORD_LOCK_TIME 6 ATTRIBUTE '{attribute}'"
    )


def test_password_lock_time_zero_with_attempts_is_unbounded() -> None:
    sql = create_user(APP, "pw", AccountOptions(failed_login_attempts=3))
    assert sql.endswith("FAILED_LOGIN_ATTEMPTS 3 PASSWORD_LOCK_TIME UNBOUNDED")


def test_version_dependent_account_clauses_are_left_out() -> None:
    sql = create_user(APP, "pw", FULL, MYSQL_8018)
    assert "FAILED_LOGIN_ATTEMPTS" not in sql and "ATTRIBUTE" not in sql and sql.endswith("ACCOUNT LOCK")
    sql = create_user(APP, "pw", FULL, MYSQL_8020)
    assert "FAILED_LOGIN_ATTEMPTS 5 PASSWORD_LOCK_TIME 6" in sql and "ATTRIBUTE" not in sql
    assert "ACCOUNT" not in create_user(APP, "pw", FULL, MARIADB_103)


def test_create_user_mariadb_uses_identified_by_and_no_mysql_only_clauses() -> None:
    assert create_user(APP, "pw", FULL, DEFAULT_MARIADB) == (
        "CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY 'pw' REQUIRE X509 "
        "WITH MAX_QUERIES_PER_HOUR 1 MAX_UPDATES_PER_HOUR 2 MAX_CONNECTIONS_PER_HOUR 3 MAX_USER_CONNECTIONS 4 "
        "ACCOUNT LOCK"
    )
    for plugin in (MYSQL_NATIVE, SHA256, CACHING_SHA2):
        sql = create_user(APP, "pw", AccountOptions(auth_plugin=plugin), DEFAULT_MARIADB)
        assert "IDENTIFIED BY 'pw'" in sql and "WITH mysql" not in sql


def test_plugin_the_server_lacks_falls_back_to_the_default() -> None:
    assert "IDENTIFIED BY 'pw'" in create_user(APP, "pw", AccountOptions(), MYSQL_57)
    assert "IDENTIFIED BY 'pw'" in create_user(APP, "pw", AccountOptions(auth_plugin=MYSQL_NATIVE), MYSQL_84)
    assert "IDENTIFIED WITH mysql_native_password BY 'pw'" in create_user(
        APP, "pw", AccountOptions(auth_plugin=MYSQL_NATIVE)
    )
    assert "IDENTIFIED WITH sha256_password BY 'pw'" in create_user(APP, "pw", AccountOptions(auth_plugin=SHA256))


def test_unknown_plugin_is_refused() -> None:
    with pytest.raises(InvalidSpec) as info:
        create_user(APP, "pw", AccountOptions(auth_plugin="auth_socket; DROP"))
    assert info.value.field == "spec.mysql.authPlugin"


def test_require_precedence() -> None:
    assert Require.of(ssl=True, x509=True) is Require.X509
    assert Require.of(ssl=True, x509=False) is Require.SSL
    assert Require.of(ssl=False, x509=False) is Require.NONE
    assert "REQUIRE SSL" in alter_user(APP, AccountOptions(require=Require.SSL))


@pytest.mark.parametrize(
    ("opts", "field"),
    [
        (AccountOptions(max_queries_per_hour=-1), "spec.mysql.maxQueriesPerHour"),
        (AccountOptions(max_user_connections=2**31), "spec.mysql.maxUserConnections"),
        (AccountOptions(failed_login_attempts=32768), "spec.mysql.failedLoginAttempts"),
        (AccountOptions(password_lock_time=40000), "spec.mysql.passwordLockTime"),
    ],
)
def test_limits_out_of_range(opts: AccountOptions, field: str) -> None:
    with pytest.raises(InvalidSpec) as info:
        create_user(APP, "pw", opts)
    assert info.value.field == field


def test_limit_must_be_an_int() -> None:
    with pytest.raises(TypeError):
        create_user(APP, "pw", AccountOptions(max_queries_per_hour=True))


def test_create_user_without_password() -> None:
    assert create_user(APP, None, AccountOptions(locked=True), DEFAULT_MARIADB) == (
        f"CREATE USER IF NOT EXISTS 'app'@'%' REQUIRE NONE {LIMITS_ZERO} ACCOUNT LOCK"
    )


def test_alter_user_sends_the_whole_set() -> None:
    assert alter_user(Account("app", "10.%"), AccountOptions(), DEFAULT_MARIADB) == (
        f"ALTER USER 'app'@'10.%' REQUIRE NONE {LIMITS_ZERO} ACCOUNT UNLOCK"
    )
    assert "IDENTIFIED" not in alter_user(APP, FULL)


def test_alter_user_password() -> None:
    assert alter_user_password(APP, "new") == "ALTER USER 'app'@'%' IDENTIFIED BY 'new'"
    assert (
        alter_user_password(APP, "new", plugin=MYSQL_NATIVE)
        == "ALTER USER 'app'@'%' IDENTIFIED WITH mysql_native_password BY 'new'"
    )
    assert (
        alter_user_password(APP, "new", retain_current=True)
        == "ALTER USER 'app'@'%' IDENTIFIED BY 'new' RETAIN CURRENT PASSWORD"
    )
    assert alter_user_password(APP, "new", DEFAULT_MARIADB, plugin=MYSQL_NATIVE).endswith("IDENTIFIED BY 'new'")


def test_dual_password_needs_mysql_8_0_14() -> None:
    for dialect in (MYSQL_8013, DEFAULT_MARIADB):
        with pytest.raises(InvalidSpec) as info:
            alter_user_password(APP, "new", dialect, retain_current=True)
        assert info.value.field == "spec.passwordRotation.strategy"
        with pytest.raises(InvalidSpec):
            discard_old_password(APP, dialect)
    assert discard_old_password(APP) == "ALTER USER 'app'@'%' DISCARD OLD PASSWORD"


def test_retained_password_cannot_change_the_plugin() -> None:
    with pytest.raises(ValueError, match="plugin"):
        alter_user_password(APP, "new", plugin=MYSQL_NATIVE, retain_current=True)


def test_password_errors_never_show_the_password() -> None:
    with pytest.raises(InvalidSpec) as info:
        create_user(APP, "secret\x00value", AccountOptions())
    assert "secret" not in str(info.value) and "secret" not in repr(info.value)
    assert info.value.field == "password"


def test_lock_and_drop() -> None:
    assert lock_account(APP) == "ALTER USER 'app'@'%' ACCOUNT LOCK"
    assert lock_account(APP, False) == "ALTER USER 'app'@'%' ACCOUNT UNLOCK"
    with pytest.raises(InvalidSpec):
        lock_account(APP, True, MARIADB_103)
    assert drop_user(Account("a", "h'")) == "DROP USER IF EXISTS 'a'@'h'''"


def test_tracking_attribute_json() -> None:
    assert json.loads(tracking_attribute("x\"y'z")) == {"dbops": "x\"y'z"}
    assert json.loads(tracking_attribute(None)) == {"dbops": None}


def test_unsupported_account_fields() -> None:
    defaults = AccountOptions()
    assert unsupported_account_fields(defaults, DEFAULT_MYSQL) == []
    # The schema default plugin silently becomes the server default where it does not exist.
    assert unsupported_account_fields(defaults, DEFAULT_MARIADB) == []
    assert unsupported_account_fields(defaults, MYSQL_57) == []
    assert unsupported_account_fields(AccountOptions(auth_plugin=SHA256), DEFAULT_MARIADB) == ["spec.mysql.authPlugin"]
    assert unsupported_account_fields(AccountOptions(auth_plugin=MYSQL_NATIVE), DEFAULT_MARIADB) == []
    lockout = AccountOptions(failed_login_attempts=3, password_lock_time=1)
    assert unsupported_account_fields(lockout, MYSQL_8018) == [
        "spec.mysql.failedLoginAttempts",
        "spec.mysql.passwordLockTime",
    ]
    assert unsupported_account_fields(lockout, DEFAULT_MYSQL) == []
    assert unsupported_account_fields(defaults, MYSQL_8013, dual_password=True) == ["spec.passwordRotation.strategy"]
    assert unsupported_account_fields(defaults, DEFAULT_MARIADB, role_count=2) == ["spec.roles"]
    assert unsupported_account_fields(defaults, DEFAULT_MARIADB, role_count=1) == []
    assert unsupported_account_fields(defaults, MYSQL_57, role_count=1) == ["spec.roles"]
    assert unsupported_account_fields(AccountOptions(locked=True), MARIADB_103) == ["spec.mysql.accountLocked"]


# --------------------------------------------------------------------------------------------------------------------
# Roles and memberships


def test_native_roles() -> None:
    assert create_role("readers") == "CREATE ROLE IF NOT EXISTS 'readers'@'%'"
    assert create_role("readers", DEFAULT_MARIADB) == "CREATE ROLE IF NOT EXISTS 'readers'"
    assert drop_role("readers") == "DROP ROLE IF EXISTS 'readers'@'%'"
    assert drop_role("readers", DEFAULT_MARIADB) == "DROP ROLE IF EXISTS 'readers'"


def test_stand_in_roles() -> None:
    for dialect in (DEFAULT_MYSQL, DEFAULT_MARIADB):
        assert create_role("r", dialect, native=False) == "CREATE USER IF NOT EXISTS 'r'@'%' ACCOUNT LOCK"
        assert drop_role("r", dialect, native=False) == "DROP USER IF EXISTS 'r'@'%'"
    # MySQL 5.7 has no roles: the stand-in is used and useNativeRoles is reported.
    assert create_role("r", MYSQL_57) == "CREATE USER IF NOT EXISTS 'r'@'%' ACCOUNT LOCK"
    assert unsupported_role_fields(MYSQL_57) == ["spec.mysql.useNativeRoles"]
    assert unsupported_role_fields(MYSQL_57, native=False) == []
    assert unsupported_role_fields(DEFAULT_MARIADB) == []


def test_role_accounts() -> None:
    assert role_account("r") == Account("r", "%")
    assert role_account("r", DEFAULT_MARIADB) == Account("r", None)
    assert role_account("r", DEFAULT_MARIADB, native=False) == Account("r", "%")


def test_role_name_field_path() -> None:
    with pytest.raises(InvalidSpec) as info:
        create_role("r" * 33)
    assert info.value.field == "spec.roleName"


def test_memberships() -> None:
    assert grant_role(role_account("r"), APP) == "GRANT 'r'@'%' TO 'app'@'%'"
    assert revoke_role(role_account("r"), APP) == "REVOKE 'r'@'%' FROM 'app'@'%'"
    role = role_account("r", DEFAULT_MARIADB)
    assert grant_role(role, APP, DEFAULT_MARIADB) == "GRANT 'r' TO 'app'@'%'"
    assert revoke_role(role, APP, DEFAULT_MARIADB) == "REVOKE 'r' FROM 'app'@'%'"


def test_default_roles() -> None:
    roles = [role_account("a"), role_account("b")]
    assert set_default_roles(APP, roles) == "SET DEFAULT ROLE ALL TO 'app'@'%'"
    assert set_default_roles(APP, []) == "SET DEFAULT ROLE NONE TO 'app'@'%'"
    mroles = [role_account("a", DEFAULT_MARIADB), role_account("b", DEFAULT_MARIADB)]
    assert set_default_roles(APP, mroles, DEFAULT_MARIADB) == "SET DEFAULT ROLE 'a' FOR 'app'@'%'"
    assert set_default_roles(APP, [], DEFAULT_MARIADB) == "SET DEFAULT ROLE NONE FOR 'app'@'%'"


# --------------------------------------------------------------------------------------------------------------------
# Sessions and tracking


def test_kill_connection() -> None:
    assert kill_connection(42) == "KILL CONNECTION 42"
    for bad in (-1, True, "42"):
        with pytest.raises(TypeError):
            kill_connection(bad)  # type: ignore[arg-type]


def test_metadata_table() -> None:
    assert create_metadata_table("mysql", "_dbops_metadata").startswith(
        "CREATE TABLE IF NOT EXISTS `mysql`.`_dbops_metadata` (resource_type VARCHAR(64) NOT NULL, "
    )
    sql, params = upsert_tracking("ops", "t%x", "Database", "app", "text")
    assert sql == (
        "INSERT INTO `ops`.`t%%x` (resource_type, resource_name, tracking) VALUES (%s, %s, %s)"
        " ON DUPLICATE KEY UPDATE tracking = VALUES(tracking)"
    )
    assert params == ("Database", "app", "text")
    sql, params = select_tracking("ops", "t", "DatabaseUser", "u")
    assert sql == ("SELECT tracking, first_managed_at FROM `ops`.`t` WHERE resource_type = %s AND resource_name = %s")
    assert params == ("DatabaseUser", "u")
    sql, params = delete_tracking("ops", "t", "DatabaseRole", "r")
    assert sql == "DELETE FROM `ops`.`t` WHERE resource_type = %s AND resource_name = %s"
    assert params == ("DatabaseRole", "r")


def test_bindable_statements_survive_client_side_interpolation() -> None:
    """aiomysql formats ``query % escaped_args``: a quoted ``%`` must come out as itself."""
    sql, params = upsert_tracking("o%s", "t%", "Database", "app", "text")
    formatted = sql % tuple(f"'{p}'" for p in params)
    assert formatted.startswith("INSERT INTO `o%s`.`t%` (")


# --------------------------------------------------------------------------------------------------------------------
# Properties: hostile names, hosts and passwords never leave their quotes

_NASTY = st.sampled_from(list("'\"`\\ \n\r\t;-/*#$%_?:@éß中\u2028\ufeff"))
_BMP = st.characters(exclude_categories=["Cs"], exclude_characters="\x00", max_codepoint=0xFFFF)
TEXT = st.text(st.one_of(_NASTY, _BMP), max_size=30)
NAME = st.text(st.one_of(_NASTY, _BMP), min_size=1, max_size=30).filter(lambda s: not s.endswith(" "))
USER = NAME.filter(lambda s: len(s) <= 32)

_CREATE_USER_WORDS = {
    "CREATE", "USER", "IF", "NOT", "EXISTS", "IDENTIFIED", "WITH", "BY", "caching_sha2_password", "REQUIRE", "X509",
    "MAX_QUERIES_PER_HOUR", "MAX_UPDATES_PER_HOUR", "MAX_CONNECTIONS_PER_HOUR", "MAX_USER_CONNECTIONS", "ACCOUNT",
    "LOCK", "FAILED_LOGIN_ATTEMPTS", "PASSWORD_LOCK_TIME", "ATTRIBUTE", "@",
}  # fmt: skip


@given(USER, TEXT, TEXT, TEXT)
@example("a'", "%'", "\\", "'\\'")
@example("`", "\\'", "' OR 1=1 -- ", "*/")
def test_create_user_keeps_every_value_quoted(user: str, host: str, password: str, text: str) -> None:
    sql = create_user(Account(user, host), password, replace(FULL, attribute=text))
    assert quoted(sql) == [user, host, password, tracking_attribute(text)]
    assert all(w in _CREATE_USER_WORDS or w.isdigit() for w in bare(sql))


@given(NAME.filter(lambda s: len(s) <= 64))
@example("a`b")
@example("`; DROP DATABASE mysql; --")
def test_database_statements_keep_the_name_quoted(name: str) -> None:
    sql = create_database(name, charset="utf8mb4")
    assert quoted(sql) == [name, "utf8mb4"]
    assert bare(sql) == ["CREATE", "DATABASE", "IF", "NOT", "EXISTS", "CHARACTER", "SET", "="]
    assert quoted(drop_database(name)) == [name]
    assert bare(drop_database(name)) == ["DROP", "DATABASE", "IF", "EXISTS"]
    assert quoted(alter_database(name, collation="x")) == [name, "x"]


@given(NAME.filter(lambda s: len(s) <= 32), USER, TEXT)
def test_role_statements_keep_names_quoted(role: str, user: str, host: str) -> None:
    for dialect in (DEFAULT_MYSQL, DEFAULT_MARIADB):
        r = role_account(role, dialect)
        expected_role = [role] if r.host is None else [role, "%"]
        assert quoted(create_role(role, dialect)) == expected_role
        assert quoted(grant_role(r, Account(user, host), dialect)) == [*expected_role, user, host]
        assert bare(grant_role(r, Account(user, host), dialect)) == ["GRANT", *bare(r.sql(dialect)), "TO", "@"]


@given(TEXT)
@example("NO_BACKSLASH_ESCAPES")
@example("'; SET sql_mode='")
def test_session_settings_keep_values_quoted(value: str) -> None:
    assert quoted(set_session_sql_mode(value)) == [value]
    assert bare(set_session_sql_mode(value)) == ["SET", "SESSION", "sql_mode", "="]


def test_create_user_from_a_native_hash() -> None:
    digest = "*" + "A1" * 20
    assert create_user_from_hash(Account("app", "10.%"), digest, FULL, DEFAULT_MARIADB) == (
        f"CREATE USER IF NOT EXISTS 'app'@'10.%' IDENTIFIED WITH mysql_native_password AS '{digest}' REQUIRE X509 "
        "WITH MAX_QUERIES_PER_HOUR 1 MAX_UPDATES_PER_HOUR 2 MAX_CONNECTIONS_PER_HOUR 3 MAX_USER_CONNECTIONS 4 "
        "ACCOUNT LOCK"
    )
    for bad in ("$A$005$salt", "*" + "a1" * 20, "*' OR '1"):
        with pytest.raises(ValueError, match="not a mysql_native_password hash"):
            create_user_from_hash(APP, bad, FULL)
    assert redact(create_user_from_hash(APP, digest, FULL)).count(digest) == 0
