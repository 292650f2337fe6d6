"""Pure spec ↔ catalog mappings of the PostgreSQL adapter (engines.md 1.7, 2.1, 2.2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from dbops.api.database import (
    DatabaseClickHouseConfig,
    DatabaseMySQLConfig,
    DatabasePostgresConfig,
    DatabaseSpec,
    PostgresOwnershipConfig,
)
from dbops.api.grants import PostgresDefaultPrivilege
from dbops.api.user import DatabaseUserSpec, PasswordConfig, PasswordRotationConfig, UserMySQLConfig, UserPostgresConfig
from dbops.engines.errors import InvalidSpec
from dbops.engines.postgres import mapping as m
from dbops.engines.postgres.sql import INFINITY, DatabaseOptions, RoleAttributes
from dbops.engines.sql.privileges import PgDefaultObjectType


def db(postgres: DatabasePostgresConfig | None = None, **fields: Any) -> DatabaseSpec:
    return DatabaseSpec.model_construct(name="app", postgres=postgres, **fields)


def user(postgres: UserPostgresConfig | None = None, **fields: Any) -> DatabaseUserSpec:
    return DatabaseUserSpec.model_construct(username="u", postgres=postgres, **fields)


# --------------------------------------------------------------------------------------------------------------------
# Databases


def test_absent_block_means_the_schema_defaults() -> None:
    assert m.database_options(db(), None) == DatabaseOptions(
        name="app",
        template="template0",
        encoding="UTF8",
        tablespace="pg_default",
        connection_limit=-1,
        is_template=False,
    )
    assert m.user_config(user()) == UserPostgresConfig()


def test_database_options_carry_every_creation_option() -> None:
    config = DatabasePostgresConfig(
        encoding="LATIN1",
        lc_collate="C",
        lc_ctype="POSIX",
        tablespace="fast",
        template="template1",
        connection_limit=4,
        is_template=True,
    )
    assert m.database_options(db(config), "owner") == DatabaseOptions(
        "app", "owner", "template1", "LATIN1", "C", "POSIX", "fast", 4, True
    )
    assert m.database_options(db(config), None, tablespace=False).tablespace is None


def test_default_privileges_are_validated_and_all_is_expanded() -> None:
    config = DatabasePostgresConfig(
        default_privileges=[
            PostgresDefaultPrivilege(role="r", schema_="s", object_type="tables", privileges=["SELECT", "INSERT"]),
            PostgresDefaultPrivilege(role="r", schema_="s", object_type="sequences", privileges=["ALL PRIVILEGES"]),
            PostgresDefaultPrivilege(role="r", schema_="s", object_type="functions", privileges=["EXECUTE"]),
        ]
    )
    first, second, third = m.desired_default_privileges(config)
    assert (first.field, first.requested, first.privileges) == (
        "spec.postgres.defaultPrivileges[0]",
        ("SELECT", "INSERT"),
        frozenset({"SELECT", "INSERT"}),
    )
    assert second.requested == ("ALL",) and second.privileges == {"USAGE", "SELECT", "UPDATE"}
    assert third.object_type is PgDefaultObjectType.FUNCTIONS and third.privileges == {"EXECUTE"}


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        (
            PostgresDefaultPrivilege(role="r", schema_="s", object_type="tables", privileges=["SELECT", "EXECUTE"]),
            "spec.postgres.defaultPrivileges[0].privileges[1]",
        ),
        (
            PostgresDefaultPrivilege(role="r" * 64, schema_="s", object_type="tables", privileges=["SELECT"]),
            "spec.postgres.defaultPrivileges[0].role",
        ),
        (
            PostgresDefaultPrivilege(role="r", schema_="s\x00", object_type="types", privileges=["USAGE"]),
            "spec.postgres.defaultPrivileges[0].schema",
        ),
    ],
)
def test_default_privilege_errors_name_the_field(entry: PostgresDefaultPrivilege, field: str) -> None:
    with pytest.raises(InvalidSpec) as info:
        m.desired_default_privileges(DatabasePostgresConfig(default_privileges=[entry]))
    assert info.value.field == field


def test_all_expansion_matches_the_default_acl_codes() -> None:
    assert {m.default_privilege_acl_code(t) for t in PgDefaultObjectType} == {"r", "S", "f", "T"}
    assert set(m.ALL_EXPANSION) == set(PgDefaultObjectType)


def test_char_columns_decode_from_bytes() -> None:
    assert m.char_value(b"S") == "S" and m.char_value("r") == "r" and m.char_value(None) is None


@pytest.mark.parametrize(
    ("text", "major"), [("15.20 (Debian 15.20-0+deb12u1)", 15), ("9.6.24", 9), ("17beta1", 17), (" 16.1", 16)]
)
def test_major_version(text: str, major: int) -> None:
    assert m.major_version(text) == major


def test_major_version_rejects_other_text() -> None:
    with pytest.raises(ValueError):
        m.major_version("CockroachDB CCL v24.1.0")


# --------------------------------------------------------------------------------------------------------------------
# Roles


def test_valid_until_parsing() -> None:
    assert m.parse_valid_until(None) is None
    assert m.parse_valid_until("infinity") == INFINITY
    assert m.parse_valid_until("2030-01-02T03:04:05+02:00") == datetime(2030, 1, 2, 1, 4, 5, tzinfo=UTC)
    assert m.parse_valid_until("2030-01-02T03:04:05Z") == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    for bad in ("soon", "2030-01-02T03:04:05"):
        with pytest.raises(InvalidSpec) as info:
            m.parse_valid_until(bad)
        assert info.value.field == "spec.postgres.validUntil"


def test_valid_until_text() -> None:
    assert m.valid_until_text(None) is None
    assert m.valid_until_text(datetime.max) == INFINITY  # asyncpg's decoding of 'infinity'
    assert m.valid_until_text(datetime(2030, 1, 2, 5, 0, tzinfo=timezone(timedelta(hours=2)))) == "2030-01-02T03:00:00Z"
    assert m.valid_until_text(datetime(2030, 1, 2, 3, 0, 0, 500)) == "2030-01-02T03:00:00.000500Z"


def test_role_attributes_from_the_spec() -> None:
    config = UserPostgresConfig(
        connection_limit=3,
        valid_until="2030-01-01T00:00:00Z",
        superuser=True,
        create_db=True,
        create_role=True,
        replication=True,
        bypass_rls=True,
        inherit=False,
        login=False,
    )
    assert m.role_attributes(user(config)) == RoleAttributes(
        login=False,
        superuser=True,
        create_db=True,
        create_role=True,
        inherit=False,
        replication=True,
        bypass_rls=True,
        connection_limit=3,
        valid_until=datetime(2030, 1, 1, tzinfo=UTC),
    )
    assert m.role_attributes(user()) == RoleAttributes(login=True, connection_limit=-1)


ROW = {
    "name": "u",
    "login": True,
    "superuser": False,
    "create_db": True,
    "create_role": False,
    "inherit": True,
    "replication": False,
    "bypass_rls": False,
    "connection_limit": 5,
    "valid_until": datetime(2030, 1, 1, tzinfo=UTC),
}


def test_observed_attributes_use_the_spec_field_names() -> None:
    assert m.observed_role_attributes(ROW) == {
        "login": True,
        "superuser": False,
        "createDB": True,
        "createRole": False,
        "inherit": True,
        "replication": False,
        "bypassRLS": False,
        "connectionLimit": 5,
        "validUntil": "2030-01-01T00:00:00Z",
    }
    aliases = {field.alias for field in UserPostgresConfig.model_fields.values()}
    assert set(m.ATTRIBUTE_KEYS.values()) <= aliases, "observed keys are the spec block's wire names"


def test_attribute_differences() -> None:
    observed = m.observed_role_attributes(ROW)
    same = RoleAttributes(login=True, create_db=True, connection_limit=5, valid_until=datetime(2030, 1, 1, tzinfo=UTC))
    assert m.attribute_differences(same, observed) == []
    unmanaged = RoleAttributes(login=True, create_db=True, connection_limit=None, valid_until=None)
    assert m.attribute_differences(unmanaged, observed) == []
    other = RoleAttributes(
        login=False,
        create_db=True,
        superuser=True,
        connection_limit=-1,
        valid_until=datetime(2030, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))),  # the same instant
    )
    assert m.attribute_differences(other, observed) == ["login", "superuser", "connection_limit"]
    assert m.attribute_differences(RoleAttributes(login=True, create_db=True, valid_until=INFINITY), observed) == [
        "valid_until"
    ]
    infinite = {**observed, "validUntil": INFINITY}
    assert m.attribute_differences(RoleAttributes(login=True, create_db=True, valid_until=INFINITY), infinite) == []
    never = {**observed, "validUntil": None}
    later = RoleAttributes(login=True, create_db=True, valid_until=datetime(2031, 1, 1, tzinfo=UTC))
    assert m.attribute_differences(later, never) == ["valid_until"]


def test_split_settings_takes_the_default_role_apart() -> None:
    settings, role = m.split_settings(['search_path="$user", public', "role=app_rw", "x.y=a=b"])
    assert settings == {"search_path": '"$user", public', "x.y": "a=b"} and role == "app_rw"
    assert m.split_settings([]) == ({}, None)


@pytest.mark.parametrize(
    ("parameter", "desired", "stored", "matches"),
    [
        ("search_path", '"$user", public', '"$user", public', True),
        ("search_path", "$user,public", '"$user", public', True),
        ("search_path", "public, $user", '"$user", public', False),
        ("statement_timeout", "5s", "5s", True),
        ("statement_timeout", "5s", "5000ms", False),
        ("work_mem", "8MB", None, False),
    ],
)
def test_setting_matches(parameter: str, desired: str, stored: str | None, matches: bool) -> None:
    assert m.setting_matches(parameter, desired, stored) is matches


def test_stored_setting_ignores_the_case_of_names() -> None:
    settings = {"TimeZone": "UTC", "work_mem": "8MB"}
    assert m.stored_setting(settings, "timezone") == "UTC"
    assert m.stored_setting(settings, "work_mem") == "8MB"
    assert m.stored_setting(settings, "search_path") is None


def test_memberships_keep_the_first_field_and_include_the_default_role() -> None:
    spec = user(UserPostgresConfig(in_roles=["b", "a"], default_role="c"), roles=["a"])
    assert m.desired_memberships(spec) == [
        m.Membership("a", "spec.roles[0]"),
        m.Membership("b", "spec.postgres.inRoles[0]"),
        m.Membership("c", "spec.postgres.defaultRole"),
    ]
    with pytest.raises(InvalidSpec) as info:
        m.desired_memberships(user(UserPostgresConfig(in_roles=["ok", "x" * 64])))
    assert info.value.field == "spec.postgres.inRoles[1]"


# --------------------------------------------------------------------------------------------------------------------
# Unsupported options


def test_unsupported_database_fields() -> None:
    assert m.unsupported_database_fields(db(DatabasePostgresConfig())) == []
    spec = db(
        DatabasePostgresConfig(ownership=PostgresOwnershipConfig(auto_ownership=True)),
        mysql=DatabaseMySQLConfig(),
        clickhouse=DatabaseClickHouseConfig(),
    )
    assert m.unsupported_database_fields(spec) == ["spec.mysql", "spec.clickhouse"]
    off = db(DatabasePostgresConfig(ownership=PostgresOwnershipConfig(auto_ownership=False)))
    assert m.unsupported_database_fields(off) == []


def test_a_different_owner_next_to_auto_ownership_is_reported() -> None:
    auto = DatabasePostgresConfig(ownership=PostgresOwnershipConfig(auto_ownership=True))
    assert m.unsupported_database_fields(db(auto).model_copy(update={"owner": "someone"})) == ["spec.owner"]
    same = db(auto).model_copy(update={"owner": f"db_{db(auto).name}_owner"})
    assert m.unsupported_database_fields(same) == []
    named = DatabasePostgresConfig(ownership=PostgresOwnershipConfig(auto_ownership=True, role_name="boss"))
    assert m.unsupported_database_fields(db(named).model_copy(update={"owner": "boss"})) == []
    plain = db(DatabasePostgresConfig()).model_copy(update={"owner": "someone"})
    assert m.unsupported_database_fields(plain) == []


def test_unsupported_user_fields() -> None:
    assert m.unsupported_user_fields(user(UserPostgresConfig())) == []
    spec = user(
        password_rotation=PasswordRotationConfig(enabled=True, strategy="dual-password"),
        password_secret=PasswordConfig(secret_name="s", format="vault"),
        mysql=UserMySQLConfig(),
    )
    assert m.unsupported_user_fields(spec) == [
        "spec.passwordRotation.strategy",
        "spec.passwordSecret.format",
        "spec.mysql",
    ]
    default = user(password_rotation=PasswordRotationConfig(), password_secret=PasswordConfig(secret_name="s"))
    assert m.unsupported_user_fields(default) == []
