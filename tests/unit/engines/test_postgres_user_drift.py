"""DatabaseUser drift on PostgreSQL, the pure part (behaviour.md 11.3, api.md 4.4 DatabaseUser row): which differences
`account_drift` reports with which flags and corrections, the order corrections run in, the account mapping of the
single catalog row, and which spec a rotated login is compared with."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from dbops.api.user import DatabaseUserSpec, UserPostgresConfig
from dbops.engines.access import Difference
from dbops.engines.base import ObservedAccount
from dbops.engines.errors import InvalidSpec
from dbops.engines.postgres.access import Fix
from dbops.engines.postgres.adapter import PostgresUserDrift, _correction_rank, account_drift
from dbops.engines.postgres.mapping import observed_account

CONVERGED: dict[str, object] = {
    "login": True,
    "superuser": False,
    "createDB": False,
    "createRole": False,
    "inherit": True,
    "replication": False,
    "bypassRLS": False,
    "connectionLimit": -1,
    "validUntil": None,
    "defaultRole": None,
}


def user(postgres: UserPostgresConfig | None = None, username: str = "app", **fields: Any) -> DatabaseUserSpec:
    return DatabaseUserSpec.model_construct(username=username, postgres=postgres, **fields)


def account(
    member_of: Sequence[str] = (), settings: dict[str, str] | None = None, **attributes: object
) -> ObservedAccount:
    return ObservedAccount(
        name="app",
        attributes={**CONVERGED, **attributes},
        member_of=frozenset(member_of),
        settings=settings or {},
    )


def fields(diffs: Sequence[Difference]) -> list[str]:
    return [d.field for d in diffs]


def statements(diff: Difference) -> tuple[str, ...]:
    assert isinstance(diff.fix, Fix)
    return diff.fix.statements


def test_a_converged_account_has_no_drift() -> None:
    assert account_drift(user(), account(), ()) == []
    config = UserPostgresConfig(
        connection_limit=5,
        create_db=True,
        valid_until="2099-01-01T01:00:00+01:00",
        in_roles=["readers"],
        default_role="owners",
        config_parameters={"search_path": '"$user", public', "timezone": "UTC"},
    )
    observed = account(
        ["readers", "owners"],
        {"search_path": '"$user", public', "TimeZone": "UTC"},
        connectionLimit=5,
        createDB=True,
        validUntil="2099-01-01T00:00:00Z",  # the same instant
        defaultRole="owners",
    )
    assert account_drift(user(config), observed, ()) == []


def test_each_attribute_is_one_diff_with_a_one_attribute_alter() -> None:
    observed = account(connectionLimit=20, createDB=True, superuser=True, login=False, validUntil="infinity")
    config = UserPostgresConfig(valid_until="2030-06-01T00:00:00Z")
    diffs = account_drift(user(config), observed, ())
    assert [d.status() for d in diffs] == [
        {"field": "connectionLimit", "expected": "-1", "actual": "20", "destructive": False, "immutable": False},
        {"field": "createdb", "expected": "false", "actual": "true", "destructive": False, "immutable": False},
        {"field": "login", "expected": "true", "actual": "false", "destructive": False, "immutable": False},
        {"field": "superuser", "expected": "false", "actual": "true", "destructive": True, "immutable": False},
        {
            "field": "validUntil",
            "expected": "2030-06-01T00:00:00Z",
            "actual": "infinity",
            "destructive": False,
            "immutable": False,
        },
    ]
    by_field = {d.field: statements(d) for d in diffs}
    assert by_field["connectionLimit"] == ('ALTER ROLE "app" WITH CONNECTION LIMIT -1',)
    assert by_field["createdb"] == ('ALTER ROLE "app" WITH NOCREATEDB',)
    assert by_field["superuser"] == ('ALTER ROLE "app" WITH NOSUPERUSER',)


def test_an_unmanaged_valid_until_is_never_drift() -> None:
    assert account_drift(user(), account(validUntil="2020-01-01T00:00:00Z"), ()) == []


def test_memberships_missing_and_extra_relative_to_everything_declared() -> None:
    config = UserPostgresConfig(in_roles=["readers"], default_role="owners")
    observed = account(["from_grant", "svc_app", "stray", "other"], defaultRole="owners")
    diffs = account_drift(user(config, roles=["writers"]), observed, {"from_grant", "svc_app"})
    assert [d.status() for d in diffs] == [
        {
            "field": "inRoles.extra",
            "expected": "from_grant, owners, readers, svc_app, writers",
            "actual": "other, stray",
            "destructive": True,
            "immutable": False,
        },
        {
            "field": "inRoles.missing",
            "expected": "writers, readers, owners",
            "actual": "from_grant, other, stray, svc_app",
            "destructive": False,
            "immutable": False,
        },
    ]
    extra, missing = diffs
    assert statements(missing) == (
        'GRANT "writers" TO "app"',
        'GRANT "readers" TO "app"',
        'GRANT "owners" TO "app"',
    )
    assert statements(extra) == ('REVOKE "other" FROM "app"', 'REVOKE "stray" FROM "app"')


def test_default_role_and_parameters() -> None:
    config = UserPostgresConfig(default_role="owners", config_parameters={"work_mem": "8MB", "search_path": "a, b"})
    observed = account(["owners"], {"work_mem": "16MB", "search_path": "a, c", "statement_timeout": "5s"})
    diffs = account_drift(user(config), observed, ())
    assert [d.status() for d in diffs] == [
        {
            "field": "configParameters.search_path",
            "expected": "a, b",
            "actual": "a, c",
            "destructive": False,
            "immutable": False,
        },
        {
            "field": "configParameters.statement_timeout",
            "expected": "unset",
            "actual": "5s",
            "destructive": True,
            "immutable": False,
        },
        {
            "field": "configParameters.work_mem",
            "expected": "8MB",
            "actual": "16MB",
            "destructive": False,
            "immutable": False,
        },
        {"field": "defaultRole", "expected": "owners", "actual": "none", "destructive": False, "immutable": False},
    ]
    by_field = {d.field: statements(d) for d in diffs}
    assert by_field["configParameters.search_path"] == ("ALTER ROLE \"app\" SET \"search_path\" TO 'a', 'b'",)
    assert by_field["configParameters.statement_timeout"] == ('ALTER ROLE "app" RESET "statement_timeout"',)
    assert by_field["defaultRole"] == ('ALTER ROLE "app" SET "role" TO \'owners\'',)


def test_names_are_quoted_in_every_correction() -> None:
    name = "we\"ird'; DROP ROLE x; --"
    config = UserPostgresConfig(connection_limit=3, in_roles=['r"1'])
    diffs = account_drift(user(config, username=name), account(["s'2"], connectionLimit=1), ())
    quoted = '"we""ird\'; DROP ROLE x; --"'
    texts = [s for d in diffs for s in statements(d)]
    assert texts == [
        f"ALTER ROLE {quoted} WITH CONNECTION LIMIT 3",
        f'REVOKE "s\'2" FROM {quoted}',
        f'GRANT "r""1" TO {quoted}',
    ]


def test_an_invalid_declared_role_of_the_user_fails_before_any_statement() -> None:
    with pytest.raises(InvalidSpec, match=r"spec.postgres.inRoles\[0\]"):
        account_drift(user(UserPostgresConfig(in_roles=["x" * 64])), account(), ())


def test_corrections_grant_memberships_first_and_remove_last() -> None:
    diffs = [
        Difference("inRoles.extra", "", ""),
        Difference("defaultRole", "", ""),
        Difference("configParameters.a", "", ""),
        Difference("connectionLimit", "", ""),
        Difference("inRoles.missing", "", ""),
    ]
    assert fields(sorted(diffs, key=_correction_rank)) == [
        "inRoles.missing",
        "connectionLimit",
        "defaultRole",
        "configParameters.a",
        "inRoles.extra",
    ]


def test_the_single_catalog_row_maps_like_the_four_queries_did() -> None:
    row = {
        "name": "app",
        "login": True,
        "superuser": False,
        "create_db": True,
        "create_role": False,
        "inherit": True,
        "replication": False,
        "bypass_rls": False,
        "connection_limit": 5,
        "valid_until": datetime(2099, 1, 1, tzinfo=UTC),
        "settings": ["role=owners", 'search_path="$user", public', "work_mem=8MB"],
        "member_of": ["owners", "readers"],
        "comment": "dbops: ns/app",
    }
    observed = observed_account(row)
    assert observed == ObservedAccount(
        name="app",
        attributes={**CONVERGED, "createDB": True, "connectionLimit": 5, "validUntil": "2099-01-01T00:00:00Z"}
        | {"defaultRole": "owners"},
        member_of=frozenset({"owners", "readers"}),
        settings={"search_path": '"$user", public', "work_mem": "8MB"},
        comment="dbops: ns/app",
    )
    empty = observed_account({**row, "settings": [], "member_of": [], "comment": None, "valid_until": None})
    assert empty.settings == {} and empty.member_of == frozenset() and empty.comment is None
    assert empty.attributes["defaultRole"] is None and empty.attributes["validUntil"] is None


class OneAccount:
    """Stands in for the adapter's one read (`observe_account`); everything else is the real drift half."""

    def __init__(self, observed: ObservedAccount | None) -> None:
        self.observed = observed
        self.asked: list[str] = []

    async def observe_account(self, username: str) -> ObservedAccount | None:
        self.asked.append(username)
        return self.observed


async def test_a_rotated_login_is_compared_with_the_spec_as_rotation_applies_it() -> None:
    spec = user(UserPostgresConfig(login=False, inherit=False, in_roles=["readers"]))
    rotated = ObservedAccount(
        name="app_20260101", attributes=dict(CONVERGED), member_of=frozenset({"readers", "svc_app"})
    )
    source = OneAccount(rotated)
    drift = PostgresUserDrift(source)  # type: ignore[arg-type]
    assert await drift.user_drift(spec, login="app_20260101", service_role="svc_app", declared=()) == []
    assert source.asked == ["app_20260101"]

    source.observed = ObservedAccount(name="app_20260101", attributes=dict(CONVERGED), member_of=frozenset())
    diffs = await drift.user_drift(spec, login="app_20260101", service_role="svc_app", declared=())
    assert [(d.field, d.expected) for d in diffs] == [("inRoles.missing", "svc_app, readers")]
    assert statements(diffs[0]) == ('GRANT "svc_app" TO "app_20260101"', 'GRANT "readers" TO "app_20260101"')


async def test_spec_username_counts_the_service_role_as_declared_and_a_missing_account_has_no_drift() -> None:
    spec = user(UserPostgresConfig(in_roles=["readers"]))
    source = OneAccount(account(["readers", "svc_app"]))
    drift = PostgresUserDrift(source)  # type: ignore[arg-type]
    assert await drift.user_drift(spec, login="app", service_role="svc_app", declared=()) == []
    diffs = await drift.user_drift(spec, login="app", service_role=None, declared=())
    assert [(d.field, d.actual) for d in diffs] == [("inRoles.extra", "svc_app")]
    source.observed = None
    assert await drift.user_drift(spec, login="app", service_role=None, declared=()) == []
