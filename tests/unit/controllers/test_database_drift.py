"""The Database kind's use of the drift checker, pure parts: which adapters have a Database drift half, how initSQL
and drift share `Synced` without losing the checker's record, and which adapters verify with the `mysql` block."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dbops.api.database import DatabaseMySQLConfig, DatabaseSpec
from dbops.controllers.base import StatusDraft
from dbops.controllers.database import _verify
from dbops.controllers.database_drift import BASE_MESSAGE, synced_condition, with_init_sql
from dbops.controllers.drift import recorded
from dbops.engines.access import Difference
from dbops.engines.base import accepts_session_config, database_drift_support
from dbops.engines.clickhouse.adapter import ClickHouseAdapter
from dbops.engines.cockroach.adapter import CockroachAdapter
from dbops.engines.connection import ConnectionSettings
from dbops.engines.mysql.adapter import MySQLAdapter
from dbops.engines.mysql.drift import MySQLDatabaseDrift
from dbops.engines.postgres.adapter import PostgresAdapter, PostgresDatabaseDrift
from tests.unit.controllers.test_drift import NOW, FakeReconciler, Server, run


def settings(engine: str) -> ConnectionSettings:
    return ConnectionSettings(engine=engine, host="127.0.0.1", port=1, username="admin", password="pw", database="d")


def test_database_drift_halves_per_engine() -> None:
    support = database_drift_support(PostgresAdapter(settings("postgres")))
    assert isinstance(support, PostgresDatabaseDrift)
    # CockroachDB subclasses the PostgreSQL adapter but reads databases differently: it must not inherit the half.
    assert database_drift_support(CockroachAdapter(settings("cockroachdb"))) is None
    assert isinstance(database_drift_support(MySQLAdapter(settings("mysql"))), MySQLDatabaseDrift)
    assert isinstance(database_drift_support(MySQLAdapter(settings("mariadb"))), MySQLDatabaseDrift)
    assert database_drift_support(ClickHouseAdapter(settings("clickhouse"))) is None


def test_only_adapters_taking_the_mysql_block_verify_with_it() -> None:
    assert accepts_session_config(MySQLAdapter(settings("mysql")))
    assert accepts_session_config(MySQLAdapter(settings("mariadb")))
    assert not accepts_session_config(PostgresAdapter(settings("postgres")))
    assert not accepts_session_config(CockroachAdapter(settings("cockroachdb")))
    assert not accepts_session_config(ClickHouseAdapter(settings("clickhouse")))
    assert not accepts_session_config(object())


async def test_a_configured_verification_receives_the_block() -> None:
    """What `_verify` relies on: the keyword is accepted by the real signature (no session is opened here)."""
    seen: list[Any] = []

    class Adapter:
        async def verify_database(self, name: str, *, config: DatabaseMySQLConfig | None = None) -> None:
            seen.append((name, config))

    block = DatabaseMySQLConfig(sql_mode="ANSI_QUOTES")
    await _verify(Adapter(), DatabaseSpec.model_construct(name="app", mysql=block))  # type: ignore[arg-type]
    assert seen == [("app", block)]


OWNER = Difference("owner", "o", "mallory", destructive=True)


async def test_init_sql_keeps_the_reason_and_the_drift_record_so_nothing_loops() -> None:
    reconciler = FakeReconciler()
    annotated = {"metadata": {"name": "r", "namespace": "ns", "annotations": {}}}
    first, outcome = await run(reconciler, None, Server([OWNER]), "correct", applied=True, raw=annotated)
    assert outcome.checked and [d.field for d in outcome.remaining] == ["owner"]
    with_init_sql(first, "InitSQLFailed", "initSQL statement 1 failed: boom")
    synced = synced_condition(first)
    assert synced["reason"] == "InitSQLFailed" and synced["status"] == "False"
    assert synced["message"].startswith("initSQL statement 1 failed: boom; spec applied; drift in fields [owner]")
    previous = recorded(first.data)
    assert previous.mode == "correct" and not previous.destructive_allowed and previous.fields == ("owner",)

    # The next reconcile, a second later: not due (the record says nothing changed), and nothing to write.
    second, outcome = await run(reconciler, first.data, Server([OWNER]), "correct", now=NOW + timedelta(seconds=1))
    assert not outcome.checked
    with_init_sql(second, "InitSQLFailed", "initSQL statement 1 failed: boom")
    assert not second.changed()
    assert [e[1] for e in reconciler.events] == ["DriftDetected"]


def test_init_sql_without_a_drift_message_names_the_applied_spec() -> None:
    draft = StatusDraft(None, 1)
    with_init_sql(draft, "ConnectionsDisallowed", "initSQL waits")
    assert synced_condition(draft)["message"] == f"initSQL waits; {BASE_MESSAGE}"
