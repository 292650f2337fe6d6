"""Server objects that are another resource's are neither taken over nor dropped (issue 13, api.md 5.7 and row 15).

Through the operator process, on the environment's PostgreSQL and MariaDB:

* with `spec.resourceTracking` the operator marks what it creates or takes over (PostgreSQL: COMMENT ON DATABASE /
  ROLE; MariaDB: the metadata table), and removes the mark when the resource is deleted with the object retained;
* an object whose marker names another resource is refused with `OwnershipConflict` (one Warning), and deleting the
  refused resource leaves the object on the server;
* without tracking, another resource's record is enough: a second tenant declaring a database the first tenant's
  Database created, on the same server, is refused, and its deletion drops nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from dbops.secrets.naming import credentials_secret_name
from tests.conftest import Kubectl
from tests.e2e import test_mariadb as maria
from tests.e2e.conftest import Operator, events, get, wait_for
from tests.e2e.test_database_user import database, phase, superuser, unique, user  # noqa: F401 (fixture)
from tests.e2e.test_instance import admin_secret, instance
from tests.e2e.test_trust_boundaries import refused
from tests.support.env import DevEnv

TRACKING = "  resourceTracking: {enabled: true}\n"


def tracked_instance(dev_env: DevEnv) -> str:
    return instance(dev_env, interval=30) + TRACKING


@pytest.fixture
def tracked(kubectl: Kubectl, namespace: str, operator: Operator, dev_env: DevEnv) -> str:
    """A Ready PostgreSQL instance `pg` with resource tracking."""
    kubectl("apply", "-n", namespace, "-f", "-", input=admin_secret(dev_env) + "---\n" + tracked_instance(dev_env))
    wait_for(lambda: phase(kubectl, "dbi", namespace, "pg") == "Ready", 60, "instance pg Ready")
    return "pg"


@pytest.fixture
def other_tenant(namespace: str, kubectl: Kubectl, dev_env: DevEnv) -> Iterator[str]:
    """A second tenant with an instance of its own on the same PostgreSQL server (no tracking there)."""
    name = f"{namespace[:50]}-b"
    kubectl("create", "namespace", name)
    kubectl("apply", "-n", name, "-f", "-", input=admin_secret(dev_env) + "---\n" + instance(dev_env, interval=30))
    wait_for(lambda: phase(kubectl, "dbi", name, "pg") == "Ready", 60, "the second tenant's instance Ready")
    yield name
    kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def conflict(kubectl: Kubectl, kind: str, namespace: str, name: str) -> dict[str, Any]:
    """Wait until the object is refused with OwnershipConflict; return its Ready condition."""
    return refused(kubectl, kind, namespace, name, "OwnershipConflict")


def deleted_and_kept(kubectl: Kubectl, kind: str, namespace: str, name: str) -> str:
    """Delete the object, wait until it is gone and its Deleted event says what was kept; return that message."""
    kubectl("delete", kind, name, "-n", namespace, "--wait=false")
    wait_for(lambda: get(kubectl, kind, namespace, name) is None, 60, f"{kind} {name} to be deleted")
    found = wait_for(lambda: events(kubectl, namespace, name, "Deleted"), 30, f"the Deleted event of {name}")
    assert len(found) == 1, found
    return str(found[0]["message"])


async def database_comment(conn: Any, name: str) -> str | None:
    value = await conn.fetchval(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1", name
    )
    return None if value is None else str(value)


async def role_comment(conn: Any, name: str) -> str | None:
    value = await conn.fetchval("SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = $1", name)
    return None if value is None else str(value)


async def test_tracking_marks_what_it_creates_and_takes_over_and_unmarks_what_it_retains(
    kubectl: Kubectl,
    namespace: str,
    tracked: str,
    superuser: Any,  # noqa: F811
    dev_env: DevEnv,
) -> None:
    created, adopted, kept = unique("created"), unique("adopted"), unique("kept")
    # Made by a DBA for the operator's account (commenting on a database needs its owner's rights).
    await superuser.execute(f'CREATE DATABASE "{adopted}" OWNER "{dev_env.postgres.admin_user}"')
    await superuser.execute(f"COMMENT ON DATABASE \"{adopted}\" IS 'made by hand for the billing team'")
    username = unique("tracked")
    kubectl("apply", "-n", namespace, "-f", "-", input=database("created", created))
    kubectl("apply", "-n", namespace, "-f", "-", input=database("adopted", adopted))
    kubectl("apply", "-n", namespace, "-f", "-", input=database("kept", kept, policy="Retain"))
    kubectl("apply", "-n", namespace, "-f", "-", input=user("tracked", username))
    for kind, name in (("db", "created"), ("db", "adopted"), ("db", "kept"), ("dbu", "tracked")):
        wait_for(lambda k=kind, n=name: phase(kubectl, k, namespace, n) == "Ready", 60, f"{kind} {name} Ready")

    def marker(name: str) -> str:
        return f"managed-by:db-provision-operator,cr:{namespace}/{name}"

    assert await database_comment(superuser, created) == marker("created")
    assert await database_comment(superuser, adopted) == marker("adopted")  # a person's comment is no marker
    assert await role_comment(superuser, username) == marker("tracked")

    message = deleted_and_kept(kubectl, "db", namespace, "kept")
    assert "kept on the server (deletionPolicy Retain)" in message, message
    assert await superuser.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", kept) == 1
    assert await database_comment(superuser, kept) is None  # the mark goes with the resource


async def test_a_marker_naming_another_resource_refuses_the_take_over_and_the_drop(
    kubectl: Kubectl,
    namespace: str,
    tracked: str,
    superuser: Any,  # noqa: F811
    dev_env: DevEnv,
) -> None:
    theirs = "managed-by:db-provision-operator,cr:finance/ledger"
    db_name, username, role_name = unique("ledger"), unique("ledger"), unique("ledger_reader")
    await superuser.execute(f'CREATE DATABASE "{db_name}" OWNER "{dev_env.postgres.admin_user}"')
    await superuser.execute(f"COMMENT ON DATABASE \"{db_name}\" IS '{theirs}'")
    await superuser.execute(f"CREATE ROLE \"{username}\" LOGIN PASSWORD 'the-finance-password'")
    await superuser.execute(f"COMMENT ON ROLE \"{username}\" IS '{theirs}'")
    await superuser.execute(f'CREATE ROLE "{role_name}" NOLOGIN')
    await superuser.execute(f"COMMENT ON ROLE \"{role_name}\" IS '{theirs}'")
    try:
        role = f"""apiVersion: dbops.dbprovision.io/v1alpha1
kind: DatabaseRole
metadata: {{name: reader}}
spec:
  instanceRef: {{name: pg}}
  roleName: {role_name}
"""
        kubectl("apply", "-n", namespace, "-f", "-", input=database("ledger", db_name))
        kubectl("apply", "-n", namespace, "-f", "-", input=user("ledger", username))
        kubectl("apply", "-n", namespace, "-f", "-", input=role)
        for kind, name, noun, server_name in (
            ("db", "ledger", "database", db_name),
            ("dbu", "ledger", "account", username),
            ("databaserole", "reader", "role", role_name),
        ):
            ready = conflict(kubectl, kind, namespace, name)
            assert ready["message"] == (
                f"{noun} {server_name} on instance pg: its tracking marker names resource finance/ledger"
            ), ready
            assert phase(kubectl, kind, namespace, name) == "Failed"
        # One Warning per object (the Database and the DatabaseUser share the name "ledger").
        assert len(events(kubectl, namespace, "ledger", "ReconcileFailed")) == 2
        assert len(events(kubectl, namespace, "reader", "ReconcileFailed")) == 1
        # The account's password was not changed, and no Secret was written for it.
        assert get(kubectl, "secret", namespace, credentials_secret_name(username)) is None
        assert await superuser.fetchval("SELECT rolpassword IS NOT NULL FROM pg_authid WHERE rolname = $1", username)

        for kind, name in (("db", "ledger"), ("dbu", "ledger"), ("databaserole", "reader")):
            kubectl("delete", kind, name, "-n", namespace, "--wait=false")
            wait_for(lambda k=kind, n=name: get(kubectl, k, namespace, n) is None, 60, f"{kind} {name} deleted")
        assert await superuser.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", db_name) == 1
        assert (
            await superuser.fetchval(
                "SELECT count(*) FROM pg_roles WHERE rolname = ANY($1::text[])", [username, role_name]
            )
            == 2
        )
        assert await database_comment(superuser, db_name) == theirs  # untouched
        released = wait_for(
            lambda: [e for e in events(kubectl, namespace, "reader", "Deleted")], 30, "the role's Deleted event"
        )
        assert released[0]["message"] == (
            f"Released DatabaseRole reader; role {role_name} kept: this DatabaseRole never created or took over "
            f"role {role_name}"
        ), released
    finally:
        await superuser.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        await superuser.execute(f'DROP ROLE IF EXISTS "{username}"')
        await superuser.execute(f'DROP ROLE IF EXISTS "{role_name}"')


async def test_another_tenants_database_is_neither_taken_over_nor_dropped_without_tracking(
    kubectl: Kubectl,
    namespace: str,
    tracked: str,
    other_tenant: str,
    superuser: Any,  # noqa: F811
) -> None:
    db_name = unique("orders")
    kubectl("apply", "-n", namespace, "-f", "-", input=database("orders", db_name))
    wait_for(lambda: phase(kubectl, "db", namespace, "orders") == "Ready", 60, "the first tenant's Database Ready")

    kubectl("apply", "-n", other_tenant, "-f", "-", input=database("orders", db_name))
    ready = conflict(kubectl, "db", other_tenant, "orders")
    assert ready["message"] == f"database {db_name} on instance pg is managed by Database {namespace}/orders", ready
    assert len(events(kubectl, other_tenant, "orders", "ReconcileFailed")) == 1

    message = deleted_and_kept(kubectl, "db", other_tenant, "orders")
    assert message == (
        f"Released Database orders; database {db_name} kept: this Database never created or took over database "
        f"{db_name}"
    ), message
    assert await superuser.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", db_name) == 1
    assert phase(kubectl, "db", namespace, "orders") == "Ready"
    assert await database_comment(superuser, db_name) == f"managed-by:db-provision-operator,cr:{namespace}/orders"


@pytest.fixture
def tracked_maria(kubectl: Kubectl, namespace: str, operator: Operator, dev_env: DevEnv) -> str:
    manifest = maria.admin_secret(dev_env) + "---\n" + maria.instance(dev_env) + TRACKING
    kubectl("apply", "-n", namespace, "-f", "-", input=manifest)
    wait_for(lambda: phase(kubectl, "dbi", namespace, "maria") == "Ready", 60, "instance maria Ready")
    return "maria"


def test_mariadb_keeps_markers_in_the_metadata_table_and_refuses_a_foreign_one(
    kubectl: Kubectl, namespace: str, tracked_maria: str, dev_env: DevEnv
) -> None:
    server = dev_env.mariadb
    root = pymysql.connect(
        host=server.host, port=server.port, user=server.superuser, password=server.superuser_password,
        autocommit=True,
    )  # fmt: skip

    def marker(kind: str, name: str) -> str | None:
        with root.cursor() as cursor:
            cursor.execute(
                "SELECT tracking FROM mysql._dbops_metadata WHERE resource_type = %s AND resource_name = %s",
                (kind, name),
            )
            row = cursor.fetchone()
        return None if row is None else str(row[0])

    ours, foreign = unique("ours"), unique("foreign")
    with root.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{foreign}`")
    try:
        kubectl("apply", "-n", namespace, "-f", "-", input=maria.database("ours", ours, policy="Retain"))
        wait_for(lambda: phase(kubectl, "db", namespace, "ours") == "Ready", 60, "Database ours Ready")
        assert marker("Database", ours) == f"managed-by:db-provision-operator,cr:{namespace}/ours"
        with root.cursor() as cursor:  # the metadata table exists now: mark the foreign database as finance's
            cursor.execute(
                "INSERT INTO mysql._dbops_metadata (resource_type, resource_name, tracking, first_managed_at) "
                "VALUES ('Database', %s, 'managed-by:db-provision-operator,cr:finance/ledger', NOW())",
                (foreign,),
            )
        kubectl("apply", "-n", namespace, "-f", "-", input=maria.database("foreign", foreign))
        ready = conflict(kubectl, "db", namespace, "foreign")
        assert ready["message"].endswith("its tracking marker names resource finance/ledger"), ready

        kubectl("delete", "db", "foreign", "-n", namespace, "--wait=false")
        message = deleted_and_kept(kubectl, "db", namespace, "ours")
        assert "kept on the server" in message, message
        wait_for(lambda: get(kubectl, "db", namespace, "foreign") is None, 60, "Database foreign deleted")
        with root.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN (%s, %s)",
                           (ours, foreign))  # fmt: skip
            assert cursor.fetchone()[0] == 2
        assert marker("Database", ours) is None  # retained: unmarked
        assert marker("Database", foreign) == "managed-by:db-provision-operator,cr:finance/ledger"
    finally:
        with root.cursor() as cursor:
            for name in (ours, foreign):
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cursor.execute("DELETE FROM mysql._dbops_metadata WHERE resource_name IN (%s, %s)", (ours, foreign))
        root.close()
