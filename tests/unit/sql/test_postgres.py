"""PostgreSQL/CockroachDB statement builders (engines.md 2.1, 2.2, 2.5, 2.6, 3).

Every expected statement below was also executed against a PostgreSQL 15 server while the builders were written.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from dbops.engines.errors import InvalidSpec
from dbops.engines.postgres import sql as pg
from dbops.engines.postgres.sql import (
    COCKROACHDB,
    INFINITY,
    POSTGRES,
    DatabaseOptions,
    PgDialect,
    PgPassword,
    RoleAttributes,
)

# --------------------------------------------------------------------------------------------------------------------
# Databases


def test_create_database_minimal() -> None:
    assert pg.create_database(DatabaseOptions("app")) == 'CREATE DATABASE "app"'


def test_create_database_every_option() -> None:
    opts = DatabaseOptions(
        "AppDb",
        owner="Owner",
        template="template0",
        encoding="UTF8",
        lc_collate="C",
        lc_ctype="en_US.UTF-8",
        tablespace="pg_default",
        connection_limit=10,
        is_template=False,
    )
    assert pg.create_database(opts) == (
        'CREATE DATABASE "AppDb" WITH OWNER = "Owner" TEMPLATE = "template0" ENCODING = \'UTF8\' '
        "LC_COLLATE = 'C' LC_CTYPE = 'en_US.UTF-8' TABLESPACE = \"pg_default\" CONNECTION LIMIT = 10 "
        "IS_TEMPLATE = false"
    )


def test_create_database_quotes_everything() -> None:
    opts = DatabaseOptions('we"ird', owner="o'wner", lc_collate="x'; DROP", is_template=True)
    assert pg.create_database(opts) == (
        'CREATE DATABASE "we""ird" WITH OWNER = "o\'wner" LC_COLLATE = \'x\'\'; DROP\' IS_TEMPLATE = true'
    )


def test_create_database_field_paths() -> None:
    with pytest.raises(InvalidSpec) as info:
        pg.create_database(DatabaseOptions("app", lc_ctype="a\x00"))
    assert info.value.field == "spec.postgres.lcCtype"
    with pytest.raises(InvalidSpec) as info:
        pg.create_database(DatabaseOptions("app", connection_limit=-2))
    assert info.value.field == "spec.postgres.connectionLimit"
    with pytest.raises(InvalidSpec) as info:
        pg.create_database(DatabaseOptions("x" * 64))
    assert info.value.field == "spec.name"
    with pytest.raises(TypeError):
        pg.create_database(DatabaseOptions("app", connection_limit=True))


def test_create_database_cockroach() -> None:
    opts = DatabaseOptions(
        "app",
        owner="o",
        template="template0",
        encoding="utf-8",
        lc_collate="C",
        tablespace="ts",
        connection_limit=5,
        is_template=True,
    )
    assert pg.create_database(opts, COCKROACHDB) == (
        'CREATE DATABASE IF NOT EXISTS "app" WITH OWNER = "o" ENCODING = \'UTF8\''
    )
    assert pg.create_database(DatabaseOptions("app", encoding="LATIN1"), COCKROACHDB) == (
        'CREATE DATABASE IF NOT EXISTS "app"'
    )


def test_cockroach_unsupported_database_fields() -> None:
    defaults = DatabaseOptions(
        "app", template="template0", encoding="UTF8", tablespace="pg_default", connection_limit=-1
    )
    assert pg.cockroach_unsupported_database_fields(defaults) == []
    everything = DatabaseOptions(
        "app",
        template="tmpl",
        encoding="LATIN1",
        lc_collate="C",
        lc_ctype="C",
        tablespace="fast",
        connection_limit=3,
        is_template=True,
    )
    assert pg.cockroach_unsupported_database_fields(everything, allow_connections=False, extensions=2) == [
        "spec.postgres.encoding",
        "spec.postgres.lcCollate",
        "spec.postgres.lcCtype",
        "spec.postgres.tablespace",
        "spec.postgres.template",
        "spec.postgres.isTemplate",
        "spec.postgres.allowConnections",
        "spec.postgres.connectionLimit",
        "spec.postgres.extensions",
    ]


def test_alter_database() -> None:
    assert pg.alter_database_owner("d", "o") == 'ALTER DATABASE "d" OWNER TO "o"'
    assert pg.alter_database_tablespace("d", "t") == 'ALTER DATABASE "d" SET TABLESPACE "t"'
    assert pg.alter_database_connection_limit("d", -1) == 'ALTER DATABASE "d" WITH CONNECTION LIMIT -1'
    assert pg.alter_database_connection_limit("d", 25) == 'ALTER DATABASE "d" WITH CONNECTION LIMIT 25'
    assert pg.alter_database_is_template("d", True) == 'ALTER DATABASE "d" WITH IS_TEMPLATE true'
    assert pg.alter_database_allow_connections("d", False) == 'ALTER DATABASE "d" WITH ALLOW_CONNECTIONS false'
    assert pg.alter_database_allow_connections("d", True) == 'ALTER DATABASE "d" WITH ALLOW_CONNECTIONS true'


def test_comments() -> None:
    assert pg.comment_on_database("d", "it's tracked") == "COMMENT ON DATABASE \"d\" IS 'it''s tracked'"
    assert pg.comment_on_database("d", None) == 'COMMENT ON DATABASE "d" IS NULL'
    assert pg.comment_on_role("r", "managed-by:x") == "COMMENT ON ROLE \"r\" IS 'managed-by:x'"
    assert pg.comment_on_role("r", None) == 'COMMENT ON ROLE "r" IS NULL'
    assert pg.comment_on_schema("s", "x") == "COMMENT ON SCHEMA \"s\" IS 'x'"


def test_drop_database() -> None:
    assert pg.drop_database("d") == ['DROP DATABASE IF EXISTS "d" WITH (FORCE)']
    assert pg.drop_database("d", PgDialect(major_version=12)) == ['DROP DATABASE IF EXISTS "d"']
    assert pg.drop_database("d", POSTGRES, is_template=True) == [
        'ALTER DATABASE "d" WITH IS_TEMPLATE false',
        'DROP DATABASE IF EXISTS "d" WITH (FORCE)',
    ]
    assert pg.drop_database("d", COCKROACHDB, is_template=True) == ['DROP DATABASE IF EXISTS "d" CASCADE']


# --------------------------------------------------------------------------------------------------------------------
# Extensions, schemas, initSQL identity


def test_extensions() -> None:
    assert pg.create_extension("citext") == 'CREATE EXTENSION IF NOT EXISTS "citext"'
    assert pg.create_extension("pgcrypto", "public", "1.3") == (
        'CREATE EXTENSION IF NOT EXISTS "pgcrypto" WITH SCHEMA "public" VERSION \'1.3\''
    )
    assert pg.alter_extension_version("pgcrypto", "1.3") == "ALTER EXTENSION \"pgcrypto\" UPDATE TO '1.3'"
    with pytest.raises(InvalidSpec) as info:
        pg.create_extension("x", version="1\x00", field="spec.postgres.extensions[2]")
    assert info.value.field == "spec.postgres.extensions[2].version"


def test_schemas() -> None:
    assert pg.create_schema("Sales", "Owner") == 'CREATE SCHEMA IF NOT EXISTS "Sales" AUTHORIZATION "Owner"'
    assert pg.alter_schema_owner("Sales", "svc") == 'ALTER SCHEMA "Sales" OWNER TO "svc"'
    with pytest.raises(InvalidSpec) as info:
        pg.create_schema("", "o", field="spec.postgres.schemas[1]")
    assert info.value.field == "spec.postgres.schemas[1].name"


def test_set_and_reset_role() -> None:
    assert pg.set_role("Owner") == 'SET ROLE "Owner"'
    assert pg.reset_role() == "RESET ROLE"


# --------------------------------------------------------------------------------------------------------------------
# Roles


def test_create_user_defaults() -> None:
    assert pg.create_role("app", RoleAttributes(login=True)) == (
        'CREATE ROLE "app" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION NOBYPASSRLS'
    )


def test_create_role_defaults() -> None:
    assert pg.create_role("readers", RoleAttributes(login=False), field="spec.roleName") == (
        'CREATE ROLE "readers" WITH NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION NOBYPASSRLS'
    )


def test_create_user_every_attribute() -> None:
    attrs = RoleAttributes(
        login=True,
        superuser=True,
        create_db=True,
        create_role=True,
        inherit=False,
        replication=True,
        bypass_rls=True,
        connection_limit=5,
        valid_until=datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))),
    )
    sql = pg.create_role("app", attrs, password=PgPassword.plaintext("p'w\\x"), in_roles=["Owner", "r2"])
    assert sql == (
        'CREATE ROLE "app" WITH LOGIN SUPERUSER CREATEDB CREATEROLE NOINHERIT REPLICATION BYPASSRLS '
        "CONNECTION LIMIT 5 VALID UNTIL '2030-01-02 01:04:05+00:00' PASSWORD 'p''w\\x' "
        'IN ROLE "Owner", "r2"'
    )


def test_create_role_cockroach_leaves_out_what_it_lacks() -> None:
    attrs = RoleAttributes(
        login=True, superuser=True, inherit=False, replication=True, bypass_rls=True, connection_limit=3
    )
    sql = pg.create_role("app", attrs, password=PgPassword.plaintext("x"), in_roles=["r"], dialect=COCKROACHDB)
    assert sql == "CREATE ROLE \"app\" WITH LOGIN NOCREATEDB NOCREATEROLE PASSWORD 'x'"
    newer = PgDialect(cockroach=True, role_replication=True, role_bypass_rls=True, role_connection_limit=True)
    assert pg.create_role("app", attrs, dialect=newer) == (
        'CREATE ROLE "app" WITH LOGIN NOCREATEDB NOCREATEROLE REPLICATION BYPASSRLS CONNECTION LIMIT 3'
    )


def test_cockroach_unsupported_role_fields() -> None:
    assert pg.cockroach_unsupported_role_fields(RoleAttributes(login=True, connection_limit=-1)) == []
    attrs = RoleAttributes(
        login=True, superuser=True, inherit=False, replication=True, bypass_rls=True, connection_limit=2
    )
    assert pg.cockroach_unsupported_role_fields(attrs) == [
        "spec.postgres.superuser",
        "spec.postgres.inherit",
        "spec.postgres.replication",
        "spec.postgres.bypassRLS",
        "spec.postgres.connectionLimit",
    ]


def test_alter_role_full_attribute_set() -> None:
    attrs = RoleAttributes(login=True, create_role=True, connection_limit=-1, valid_until=INFINITY)
    assert pg.alter_role("u", attrs, password=PgPassword.null()) == (
        'ALTER ROLE "u" WITH LOGIN NOSUPERUSER NOCREATEDB CREATEROLE INHERIT NOREPLICATION NOBYPASSRLS '
        "CONNECTION LIMIT -1 VALID UNTIL 'infinity' PASSWORD NULL"
    )


def test_valid_until_must_be_aware_or_infinity() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        pg.create_role("u", RoleAttributes(login=True, valid_until=datetime(2030, 1, 1)))
    with pytest.raises(ValueError, match="INFINITY"):
        pg.create_role("u", RoleAttributes(login=True, valid_until="tomorrow"))  # type: ignore[arg-type]
    assert "VALID UNTIL '2030-01-01 00:00:00+00:00'" in pg.create_role(
        "u", RoleAttributes(login=True, valid_until=datetime(2030, 1, 1, tzinfo=UTC))
    )


def test_passwords() -> None:
    assert pg.alter_role_password("u", PgPassword.plaintext("it's")) == "ALTER ROLE \"u\" WITH PASSWORD 'it''s'"
    scram = PgPassword.scram("secret", salt=b"0123456789abcdef")
    assert scram.text is not None and scram.text.startswith("SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$")
    assert pg.alter_role_password("u", scram) == f"ALTER ROLE \"u\" WITH PASSWORD '{scram.text}'"
    assert "secret" not in pg.alter_role_password("u", scram)
    assert "secret" not in repr(PgPassword.plaintext("secret"))


def test_password_nul_error_does_not_show_the_password() -> None:
    with pytest.raises(InvalidSpec) as info:
        pg.alter_role_password("u", PgPassword.plaintext("hunter2\x00"))
    assert info.value.field == "password"
    assert "hunter2" not in str(info.value)


def test_disable_login() -> None:
    assert pg.disable_login("app_20240101") == 'ALTER ROLE "app_20240101" WITH NOLOGIN'


def test_memberships() -> None:
    assert pg.grant_membership("readers", "app") == 'GRANT "readers" TO "app"'
    assert pg.grant_membership("owner", "admin", admin_option=True) == 'GRANT "owner" TO "admin" WITH ADMIN OPTION'
    assert pg.revoke_membership("readers", "app") == 'REVOKE "readers" FROM "app"'


def test_role_parameters() -> None:
    assert pg.set_role_parameter("u", "work_mem", "64MB") == 'ALTER ROLE "u" SET "work_mem" TO \'64MB\''
    assert pg.set_role_parameter("u", "search_path", '"$user", public, "My Schema"') == (
        "ALTER ROLE \"u\" SET \"search_path\" TO '$user', 'public', 'My Schema'"
    )
    assert pg.set_role_parameter("u", "DateStyle", "ISO, DMY") == "ALTER ROLE \"u\" SET \"DateStyle\" TO 'ISO', 'DMY'"
    assert pg.set_role_parameter("u", "search_path", " , ") == 'ALTER ROLE "u" SET "search_path" TO \'\''
    assert pg.set_role_parameter("u", "app.tenant", "a,b") == 'ALTER ROLE "u" SET "app.tenant" TO \'a,b\''
    assert pg.reset_role_parameter("u", "work_mem") == 'ALTER ROLE "u" RESET "work_mem"'
    assert pg.set_role_parameters("u", {"b": "2", "a": "1"}) == [
        'ALTER ROLE "u" SET "a" TO \'1\'',
        'ALTER ROLE "u" SET "b" TO \'2\'',
    ]


@pytest.mark.parametrize("name", ["work-mem", "1x", "a;b", 'x" TO', ""])
def test_role_parameter_names_are_checked(name: str) -> None:
    with pytest.raises(InvalidSpec) as info:
        pg.set_role_parameter("u", name, "v")
    assert info.value.field.startswith("spec.postgres.configParameters")
    with pytest.raises(InvalidSpec):
        pg.reset_role_parameter("u", name)


def test_default_role() -> None:
    assert pg.set_default_role("app", "Owner") == 'ALTER ROLE "app" SET "role" TO \'Owner\''


# --------------------------------------------------------------------------------------------------------------------
# Dropping roles


def test_role_cleanup() -> None:
    assert pg.reassign_owned("app", "dbops_admin") == 'REASSIGN OWNED BY "app" TO "dbops_admin"'
    assert pg.drop_owned("app") == 'DROP OWNED BY "app"'
    assert pg.revoke_all_on_database("d", "app") == 'REVOKE ALL ON DATABASE "d" FROM "app"'
    assert pg.drop_role("app") == 'DROP ROLE IF EXISTS "app"'


def test_redact_is_exported() -> None:
    assert pg.redact("ALTER ROLE x PASSWORD 'pw'") == "ALTER ROLE x PASSWORD '***'"
