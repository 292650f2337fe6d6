"""The CockroachDB adapter without a cluster: version parsing, reported options, and the statements of the
operations that differ from PostgreSQL (engines.md 3), recorded instead of executed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from dbops.api.database import DatabaseSpec
from dbops.api.user import DatabaseUserSpec
from dbops.engines.base import EngineAdapter
from dbops.engines.cockroach.adapter import CockroachAdapter, cockroach_version
from dbops.engines.connection import ConnectionSettings
from dbops.engines.postgres import catalog

SETTINGS = ConnectionSettings(
    engine="cockroachdb", host="127.0.0.1", port=1, username="root", password="s3cr'et", database="defaultdb"
)


class Recording(CockroachAdapter):
    """Answers catalog reads from a table and records statements with the database they ran in."""

    def __init__(self, answers: dict[str, list[dict[str, Any]]]) -> None:
        super().__init__(SETTINGS)
        self.answers = answers
        self.ran: list[tuple[str | None, str]] = []

    async def _fetch(self, query: catalog.CatalogQuery, *, database: str | None = None) -> list[Any]:
        text, _ = query
        for key, rows in self.answers.items():
            if key in text:
                return rows
        return []

    async def _execute(
        self, statements: Sequence[str], *, database: str | None = None, seconds: float = 0, secrets: Any = ()
    ) -> None:
        self.ran += [(database, s) for s in statements]


def test_is_an_engine_adapter() -> None:
    adapter: EngineAdapter = CockroachAdapter(SETTINGS)
    assert adapter.engine == "cockroachdb" and "s3cr" not in repr(adapter)


@pytest.mark.parametrize(
    ("banner", "version"),
    [("CockroachDB CCL v24.1.0 (x86_64-pc-linux-gnu, built 2024/05/15)", (24, 1)), ("nonsense", (0, 0))],
)
def test_version_from_the_banner(banner: str, version: tuple[int, int]) -> None:
    assert cockroach_version(banner) == version


def test_reported_database_options() -> None:
    spec = DatabaseSpec.model_validate(
        {
            "instanceRef": {"name": "i"},
            "name": "d",
            "postgres": {
                "lcCollate": "C",
                "tablespace": "fast",
                "template": "template1",
                "isTemplate": True,
                "allowConnections": False,
                "connectionLimit": 5,
                "extensions": [{"name": "pgcrypto"}],
            },
        }
    )
    assert CockroachAdapter(SETTINGS).unsupported_database_fields(spec, None) == [
        "spec.postgres.lcCollate",
        "spec.postgres.tablespace",
        "spec.postgres.template",
        "spec.postgres.isTemplate",
        "spec.postgres.allowConnections",
        "spec.postgres.connectionLimit",
        "spec.postgres.extensions",
    ]
    plain = DatabaseSpec.model_validate({"instanceRef": {"name": "i"}, "name": "d"})
    assert CockroachAdapter(SETTINGS).unsupported_database_fields(plain, None) == []


def test_reported_user_options() -> None:
    spec = DatabaseUserSpec.model_validate(
        {
            "instanceRef": {"name": "i"},
            "username": "u",
            "postgres": {"superuser": True, "inherit": False, "replication": True, "connectionLimit": 3},
            "passwordRotation": {"enabled": True, "strategy": "dual-password"},
        }
    )
    assert CockroachAdapter(SETTINGS).unsupported_user_fields(spec, None) == [
        "spec.passwordRotation.strategy",
        "spec.postgres.superuser",
        "spec.postgres.inherit",
        "spec.postgres.replication",
        "spec.postgres.connectionLimit",
    ]


async def test_drop_database_cascades_without_ending_sessions() -> None:
    adapter = Recording({})
    await adapter.drop_database("app")
    assert adapter.ran == [(None, 'DROP DATABASE IF EXISTS "app" CASCADE')]


async def test_owned_objects_search_every_database_but_system() -> None:
    adapter = Recording(
        {
            "r.oid = d.datdba": [{"database": "owned_db"}],
            "d.datistemplate": [{"name": "system"}, {"name": "app"}],
            "user_namespaces": [{"schema": "public", "type": "table", "name": "t"}],
        }
    )
    owned = await adapter.owned_objects("u")
    assert [(o.database, o.kind, o.name) for o in owned] == [
        ("owned_db", "database", "owned_db"),
        ("app", "table", "t"),
    ]


async def test_drop_role_revokes_database_privileges_first() -> None:
    adapter = Recording(
        {"rolname": [{"rolname": "u"}], "d.datistemplate": [{"name": "system"}, {"name": "a"}, {"name": "b"}]}
    )
    await adapter.drop_account("u")
    assert adapter.ran == [
        (None, 'REVOKE ALL ON DATABASE "a" FROM "u"'),
        (None, 'REVOKE ALL ON DATABASE "b" FROM "u"'),
        ("a", 'REASSIGN OWNED BY "u" TO "root"'),
        ("a", 'DROP OWNED BY "u"'),
        ("b", 'REASSIGN OWNED BY "u" TO "root"'),
        ("b", 'DROP OWNED BY "u"'),
        (None, 'DROP ROLE IF EXISTS "u"'),
    ]


async def test_drop_of_a_missing_role_does_nothing() -> None:
    adapter = Recording({})
    await adapter.drop_account("ghost")
    assert adapter.ran == []
