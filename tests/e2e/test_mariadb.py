"""MariaDB end to end: the operator process, the real API server and the real MariaDB 10.11 of the environment.

The same scenarios as the PostgreSQL e2e tests (instance, Database, DatabaseUser, DatabaseRole, DatabaseGrant), on an
instance with `engine: mariadb`. Everything is checked where a user would see it: on the server (as the test
superuser, or logging in with the credentials the operator wrote) and through kubectl (status, events).
"""

from __future__ import annotations

import base64
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from tests.conftest import Kubectl
from tests.e2e.conftest import Operator, condition, events, get, reconciled_once_more, wait_for
from tests.e2e.test_roles_grants import apply
from tests.support.env import DevEnv

ACCESS_DENIED = frozenset({1044, 1142, 1143, 1227, 1370})
"""Database, table, column, global and routine access denied."""
LOGIN_DENIED = 1045


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def admin_secret(dev_env: DevEnv, name: str = "maria-admin") -> str:
    server = dev_env.mariadb
    return f"""apiVersion: v1
kind: Secret
metadata: {{name: {name}}}
type: Opaque
data:
  username: {base64.b64encode(server.admin_user.encode()).decode()}
  password: {base64.b64encode(server.admin_password.encode()).decode()}
"""


def instance(dev_env: DevEnv, name: str = "maria", interval: int = 30, protection: bool = False) -> str:
    return f"""apiVersion: dbops.dbprovision.io/v1alpha1
kind: DatabaseInstance
metadata: {{name: {name}}}
spec:
  engine: mariadb
  connection:
    host: {dev_env.mariadb.host}
    port: {dev_env.mariadb.port}
    secretRef: {{name: maria-admin}}
  healthCheck: {{intervalSeconds: {interval}, timeoutSeconds: 5}}
  deletionProtection: {str(protection).lower()}
"""


def database(name: str, db_name: str, policy: str = "Delete", protection: bool = False, extra: str = "") -> str:
    return f"""apiVersion: dbops.dbprovision.io/v1alpha1
kind: Database
metadata: {{name: {name}}}
spec:
  instanceRef: {{name: maria}}
  name: {db_name}
  deletionPolicy: {policy}
  deletionProtection: {str(protection).lower()}
{extra}"""


def user(name: str, username: str, extra: str = "") -> str:
    return f"""apiVersion: dbops.dbprovision.io/v1alpha1
kind: DatabaseUser
metadata: {{name: {name}}}
spec:
  instanceRef: {{name: maria}}
  username: {username}
{extra}"""


def role(name: str, role_name: str, extra: str = "") -> str:
    return f"""apiVersion: dbops.dbprovision.io/v1alpha1
kind: DatabaseRole
metadata: {{name: {name}}}
spec:
  instanceRef: {{name: maria}}
  roleName: {role_name}
{extra}"""


def grant(name: str, ref: str, body: str) -> str:
    return f"""apiVersion: dbops.dbprovision.io/v1alpha1
kind: DatabaseGrant
metadata: {{name: {name}}}
spec:
  {ref}
  deletionProtection: false
  mysql:
{body}"""


KINDS = {"db": "Database", "dbu": "DatabaseUser", "databaserole": "DatabaseRole", "databasegrant": "DatabaseGrant"}


def resync(kubectl: Kubectl, operator: Operator, namespace: str, *objects: tuple[str, str]) -> None:
    """Wake each (kind, name) and wait until a reconcile of it has finished (`reconciled_once_more`)."""
    for kind, name in objects:
        reconciled_once_more(kubectl, operator, kind, KINDS[kind], namespace, name)


def phase(kubectl: Kubectl, kind: str, namespace: str, name: str) -> Any:
    return ((get(kubectl, kind, namespace, name) or {}).get("status") or {}).get("phase")


def count(kubectl: Kubectl, namespace: str, name: str, reason: str | None = None) -> int:
    return sum(e.get("count") or 1 for e in events(kubectl, namespace, name, reason))


def reasons(kubectl: Kubectl, namespace: str, name: str) -> list[str]:
    return sorted(e["reason"] for e in events(kubectl, namespace, name) for _ in range(e.get("count") or 1))


def secret_data(kubectl: Kubectl, namespace: str, name: str) -> dict[str, str]:
    obj = get(kubectl, "secret", namespace, name) or {}
    return {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}


def connect(dev_env: DevEnv, user_name: str, password: str, db: str | None = None) -> pymysql.Connection[Any]:
    return pymysql.connect(
        host=dev_env.mariadb.host,
        port=dev_env.mariadb.port,
        user=user_name,
        password=password,
        database=db,
        autocommit=True,
        connect_timeout=10,
    )


def login_code(dev_env: DevEnv, user_name: str, password: str, db: str | None = None) -> int:
    """0 when the login works, else the server's error code (1045: access denied)."""
    try:
        connect(dev_env, user_name, password, db).close()
    except pymysql.err.OperationalError as error:
        return int(error.args[0])
    return 0


@pytest.fixture
def root(dev_env: DevEnv) -> Iterator[pymysql.Connection[Any]]:
    """The test superuser, to look at the server behind the operator's back."""
    conn = connect(dev_env, dev_env.mariadb.superuser, dev_env.mariadb.superuser_password)
    yield conn
    conn.close()


def query(conn: pymysql.Connection[Any], sql: str, *args: object) -> list[tuple[Any, ...]]:
    with conn.cursor() as cursor:
        cursor.execute(sql, args or None)
        return list(cursor.fetchall())


@pytest.fixture
def maria(kubectl: Kubectl, namespace: str, operator: Operator, dev_env: DevEnv) -> str:
    apply(kubectl, namespace, admin_secret(dev_env) + "---\n" + instance(dev_env))
    wait_for(lambda: phase(kubectl, "dbi", namespace, "maria") == "Ready", 60, "instance maria to become Ready")
    return "maria"


# Instance ------------------------------------------------------------------------------------------------------------


def test_instance_becomes_ready_and_reports_the_server_version(
    kubectl: Kubectl, namespace: str, operator: Operator, dev_env: DevEnv, root: pymysql.Connection[Any]
) -> None:
    apply(kubectl, namespace, admin_secret(dev_env) + "---\n" + instance(dev_env, interval=5, protection=True))
    wait_for(lambda: phase(kubectl, "dbi", namespace, "maria") == "Ready", 60, "instance maria to become Ready")
    obj = get(kubectl, "dbi", namespace, "maria")
    assert obj is not None
    server_version = str(query(root, "SELECT VERSION()")[0][0])
    assert "MariaDB" in server_version
    assert obj["status"]["version"] == server_version and server_version.startswith("10.11.")
    for ctype, reason in (
        ("Connected", "ConnectionSuccess"),
        ("Healthy", "HealthCheckPassed"),
        ("Ready", "ReconcileSuccess"),
        ("OptionsHonored", "AllOptionsHonored"),
    ):
        cond = condition(obj, ctype)
        assert (cond["status"], cond["reason"]) == ("True", reason), ctype
    assert [e["message"] for e in events(kubectl, namespace, "maria")] == [
        f"Connected to mariadb {server_version} at {dev_env.mariadb.host}:{dev_env.mariadb.port}"
    ]
    columns = kubectl("get", "dbi", "-n", namespace, "maria").stdout
    assert "Ready" in columns and server_version in columns
    metrics = operator.metrics()
    assert f'dbops_instance_healthy{{engine="mariadb",instance="maria",namespace="{namespace}"}} 1.0' in metrics

    # Health checks every 5 s: several pass, none adds an event.
    successes = f'dbops_connection_attempts_total{{engine="mariadb",instance="maria",namespace="{namespace}",'
    start = _metric(operator, successes + 'status="success"} ')
    wait_for(lambda: _metric(operator, successes + 'status="success"} ') >= start + 2, 40, "two more checks")
    assert count(kubectl, namespace, "maria") == 1

    # Deletion protection blocks (one event), force-delete lets it go.
    kubectl("delete", "dbi", "maria", "-n", namespace, "--wait=false")
    wait_for(lambda: events(kubectl, namespace, "maria", "DeletionBlocked"), 30, "DeletionBlocked")
    assert condition(get(kubectl, "dbi", namespace, "maria"), "Ready")["reason"] == "DeletionProtected"
    blocked = events(kubectl, namespace, "maria", "DeletionBlocked")
    assert len(blocked) == 1 and "spec.deletionProtection=false" in blocked[0]["message"]
    kubectl("annotate", "dbi", "maria", "-n", namespace, "dbops.dbprovision.io/force-delete=true")
    wait_for(lambda: get(kubectl, "dbi", namespace, "maria") is None, 30, "instance maria to be deleted")


def _metric(operator: Operator, prefix: str) -> float:
    return next((float(line.split()[-1]) for line in operator.metrics().splitlines() if line.startswith(prefix)), 0.0)


def test_wrong_admin_password_fails_once_and_recovers(
    kubectl: Kubectl, namespace: str, operator: Operator, dev_env: DevEnv
) -> None:
    wrong = admin_secret(dev_env).replace(
        base64.b64encode(dev_env.mariadb.admin_password.encode()).decode(), base64.b64encode(b"not-it").decode()
    )
    apply(kubectl, namespace, wrong + "---\n" + instance(dev_env, interval=5))
    wait_for(lambda: phase(kubectl, "dbi", namespace, "maria") == "Failed", 60, "instance maria to fail")
    cond = condition(get(kubectl, "dbi", namespace, "maria"), "Connected")
    assert cond["reason"] == "ConnectionFailed" and cond["message"].startswith("AuthenticationFailed: ")
    assert "not-it" not in cond["message"]
    wait_for(lambda: count(kubectl, namespace, "maria") >= 2, 30, "the failure events")
    start = operator.log_size()
    wait_for(
        lambda: operator.reconciled("DatabaseInstance", namespace, "maria", since=start) > 0,
        30,
        "at least one more failing health check",
    )
    assert reasons(kubectl, namespace, "maria") == ["ConnectionFailed", "HealthCheckFailed"]
    apply(kubectl, namespace, admin_secret(dev_env))
    wait_for(lambda: phase(kubectl, "dbi", namespace, "maria") == "Ready", 60, "instance maria to recover")
    wait_for(lambda: "HealthCheckPassed" in reasons(kubectl, namespace, "maria"), 30, "HealthCheckPassed")
    assert reasons(kubectl, namespace, "maria") == sorted(
        ["ConnectionFailed", "HealthCheckFailed", "Connected", "HealthCheckPassed"]
    )


# Database ------------------------------------------------------------------------------------------------------------


def schema_of(root: pymysql.Connection[Any], db: str) -> tuple[str, str] | None:
    rows = query(
        root,
        "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA "
        "WHERE SCHEMA_NAME = %s",
        db,
    )
    return (str(rows[0][0]), str(rows[0][1])) if rows else None


def test_database_has_its_charset_is_recreated_and_dropped_with_its_sessions(
    kubectl: Kubectl, namespace: str, maria: str, dev_env: DevEnv, root: pymysql.Connection[Any]
) -> None:
    db = unique("app")
    extra = "  mysql: {charset: latin1, collation: latin1_swedish_ci}\n"
    apply(kubectl, namespace, database("app", db, extra=extra))
    wait_for(lambda: phase(kubectl, "db", namespace, "app") == "Ready", 60, "database app to become Ready")
    assert schema_of(root, db) == ("latin1", "latin1_swedish_ci")
    obj = get(kubectl, "db", namespace, "app")
    assert obj is not None
    assert obj["status"]["mysql"] == {"charset": "latin1", "collation": "latin1_swedish_ci"}
    assert obj["status"]["database"]["name"] == db and obj["status"]["database"]["createdAt"]
    assert [e["message"] for e in events(kubectl, namespace, "app")] == [f"Created database {db} on instance maria"]

    # A collation change is applied to the existing database (ALTER DATABASE), with no new event.
    apply(kubectl, namespace, database("app", db, extra="  mysql: {charset: utf8mb4, collation: utf8mb4_bin}\n"))
    wait_for(lambda: schema_of(root, db) == ("utf8mb4", "utf8mb4_bin"), 60, "the new character set and collation")
    wait_for(
        lambda: (
            ((get(kubectl, "db", namespace, "app") or {}).get("status") or {}).get("mysql", {}).get("collation")
            == "utf8mb4_bin"
        ),
        30,
        "status.mysql to follow",
    )

    # Dropped by hand: recreated, with one event saying so.
    query(root, f"DROP DATABASE `{db}`")
    kubectl("annotate", "db", "app", "-n", namespace, "dbops.dbprovision.io/allow-destructive-drift=false")
    wait_for(lambda: count(kubectl, namespace, "app", "Created") == 2, 60, "the database to be recreated")
    assert schema_of(root, db) == ("utf8mb4", "utf8mb4_bin")
    recreated = [e["message"] for e in events(kubectl, namespace, "app", "Created")]
    assert any(m.startswith(f"Recreated database {db}") for m in recreated)

    # A session inside an open transaction holds a metadata lock that would make DROP DATABASE wait: the operator
    # ends it first.
    query(root, f"CREATE TABLE `{db}`.t (id int) ENGINE=InnoDB")
    holder = connect(dev_env, dev_env.mariadb.superuser, dev_env.mariadb.superuser_password, db)
    holder.autocommit(False)
    holder_id = query(holder, "SELECT CONNECTION_ID()")[0][0]
    query(holder, "SELECT * FROM t")
    try:
        kubectl("delete", "db", "app", "-n", namespace, "--wait=false")
        wait_for(lambda: get(kubectl, "db", namespace, "app") is None, 60, "database app to be deleted")
        assert schema_of(root, db) is None
        assert not query(root, "SELECT ID FROM information_schema.PROCESSLIST WHERE ID = %s", holder_id)
    finally:
        holder.close()
    assert [e["message"] for e in events(kubectl, namespace, "app", "Deleted")] == [
        f"Dropped database {db} from instance maria"
    ]


def test_retain_keeps_the_database_and_protection_blocks_until_force_delete(
    kubectl: Kubectl, namespace: str, operator: Operator, maria: str, root: pymysql.Connection[Any]
) -> None:
    db = unique("kept")
    apply(kubectl, namespace, database("kept", db, policy="Retain", protection=True))
    wait_for(lambda: phase(kubectl, "db", namespace, "kept") == "Ready", 60, "database kept to become Ready")
    assert schema_of(root, db) == ("utf8mb4", "utf8mb4_unicode_ci"), "the schema defaults"
    kubectl("delete", "db", "kept", "-n", namespace, "--wait=false")
    wait_for(lambda: events(kubectl, namespace, "kept", "DeletionBlocked"), 30, "DeletionBlocked")
    assert condition(get(kubectl, "db", namespace, "kept"), "Ready")["reason"] == "DeletionProtected"
    blocked = events(kubectl, namespace, "kept", "DeletionBlocked")
    assert blocked[0]["type"] == "Warning" and "spec.deletionProtection=false" in blocked[0]["message"]
    # Still blocked on the next reconciles, without another event.
    resync(kubectl, operator, namespace, ("db", "kept"))
    assert count(kubectl, namespace, "kept", "DeletionBlocked") == 1
    assert schema_of(root, db) is not None
    kubectl("annotate", "db", "kept", "-n", namespace, "dbops.dbprovision.io/force-delete=true")
    wait_for(lambda: get(kubectl, "db", namespace, "kept") is None, 60, "database kept to be released")
    assert schema_of(root, db) == ("utf8mb4", "utf8mb4_unicode_ci"), "Retain keeps the database"
    query(root, f"DROP DATABASE `{db}`")


def test_delete_policy_drops_and_protection_blocks_until_force_delete(
    kubectl: Kubectl, namespace: str, maria: str, root: pymysql.Connection[Any]
) -> None:
    db = unique("gone")
    apply(kubectl, namespace, database("gone", db, policy="Delete", protection=True))
    wait_for(lambda: phase(kubectl, "db", namespace, "gone") == "Ready", 60, "database gone to become Ready")
    kubectl("delete", "db", "gone", "-n", namespace, "--wait=false")
    wait_for(lambda: events(kubectl, namespace, "gone", "DeletionBlocked"), 30, "DeletionBlocked")
    assert schema_of(root, db) is not None
    kubectl("annotate", "db", "gone", "-n", namespace, "dbops.dbprovision.io/force-delete=true")
    wait_for(lambda: get(kubectl, "db", namespace, "gone") is None, 60, "database gone to be deleted")
    assert schema_of(root, db) is None


# DatabaseUser --------------------------------------------------------------------------------------------------------


def accounts(root: pymysql.Connection[Any], username: str) -> dict[str, tuple[Any, ...]]:
    rows = query(
        root,
        "SELECT Host, max_questions, max_updates, max_connections, max_user_connections, plugin, is_role "
        "FROM mysql.user WHERE User = %s",
        username,
    )
    return {str(r[0]): tuple(r[1:]) for r in rows}


def test_user_secret_logs_in_limits_apply_and_deleting_the_secret_regenerates(
    kubectl: Kubectl, namespace: str, operator: Operator, maria: str, dev_env: DevEnv, root: pymysql.Connection[Any]
) -> None:
    username = unique("svc")
    extra = """  passwordSecret: {secretName: svc-creds}
  mysql:
    allowedHosts: ["127.0.0.1", "10.11.%"]
    maxQueriesPerHour: 500
    maxUpdatesPerHour: 100
    maxConnectionsPerHour: 50
    maxUserConnections: 2
"""
    apply(kubectl, namespace, user("svc", username, extra))
    wait_for(lambda: phase(kubectl, "dbu", namespace, "svc") == "Ready", 60, "user svc to become Ready")
    limits = (500, 100, 50, 2, "mysql_native_password", "N")
    assert accounts(root, username) == {"127.0.0.1": limits, "10.11.%": limits}
    obj = get(kubectl, "dbu", namespace, "svc")
    assert obj is not None
    assert condition(obj, "OptionsHonored").get("status") != "False", "the default authPlugin is not reported"
    data = secret_data(kubectl, namespace, "svc-creds")
    assert data["username"] == username
    password = data["password"]
    conn = connect(dev_env, data["username"], password)
    try:
        assert query(conn, "SELECT CURRENT_USER()")[0][0] == f"{username}@127.0.0.1"
        # MAX_USER_CONNECTIONS 2 is enforced: this session and one more, not a third.
        second = connect(dev_env, username, password)
        try:
            assert login_code(dev_env, username, password) == 1226
        finally:
            second.close()
    finally:
        conn.close()
    assert reasons(kubectl, namespace, "svc") == ["Created", "SecretCreated"]
    assert not any(password in e["message"] for e in events(kubectl, namespace, "svc"))

    # A resync changes nothing and says nothing.
    resync(kubectl, operator, namespace, ("dbu", "svc"))
    assert reasons(kubectl, namespace, "svc") == ["Created", "SecretCreated"]

    # Deleting the credentials Secret gives a new password (behaviour.md 8.2); the old one stops working.
    kubectl("delete", "secret", "svc-creds", "-n", namespace)
    wait_for(lambda: secret_data(kubectl, namespace, "svc-creds").get("password"), 60, "the Secret to come back")
    new_password = secret_data(kubectl, namespace, "svc-creds")["password"]
    assert new_password != password
    assert login_code(dev_env, username, new_password) == 0
    assert login_code(dev_env, username, password) == LOGIN_DENIED
    assert count(kubectl, namespace, "svc", "SecretRegenerated") == 1
    assert not any(new_password in e["message"] for e in events(kubectl, namespace, "svc"))

    # Limits back to 0 are sent too (api.md 6.4).
    apply(
        kubectl,
        namespace,
        user(
            "svc",
            username,
            '  passwordSecret: {secretName: svc-creds}\n  mysql:\n    allowedHosts: ["127.0.0.1", "10.11.%"]\n',
        ),
    )
    unlimited = (0, 0, 0, 0, "mysql_native_password", "N")
    wait_for(lambda: accounts(root, username) == {"127.0.0.1": unlimited, "10.11.%": unlimited}, 60, "limits back to 0")

    kubectl("delete", "dbu", "svc", "-n", namespace, "--wait=false")
    wait_for(lambda: get(kubectl, "dbu", namespace, "svc") is None, 60, "user svc to be deleted")
    assert accounts(root, username) == {}, "every host entry is dropped"
    assert [e["message"] for e in events(kubectl, namespace, "svc", "Deleted")] == [
        f"Dropped user {username} from instance maria"
    ]


def test_unsupported_user_options_are_reported(kubectl: Kubectl, namespace: str, maria: str) -> None:
    username = unique("opts")
    extra = "  mysql: {authPlugin: sha256_password, failedLoginAttempts: 3}\n"
    apply(kubectl, namespace, user("opts", username, extra))
    wait_for(lambda: phase(kubectl, "dbu", namespace, "opts") == "Ready", 60, "user opts to become Ready")
    cond = condition(get(kubectl, "dbu", namespace, "opts"), "OptionsHonored")
    assert cond["status"] == "False"
    assert "spec.mysql.authPlugin" in cond["message"] and "spec.mysql.failedLoginAttempts" in cond["message"]


# Roles and grants ----------------------------------------------------------------------------------------------------


@pytest.fixture
def app(
    kubectl: Kubectl, namespace: str, maria: str, dev_env: DevEnv, root: pymysql.Connection[Any]
) -> Iterator[dict[str, Any]]:
    """Two Databases with tables (the first with an `_` in its name) and a DatabaseUser without any privilege."""
    db, other, username = unique("db"), unique("other"), unique("app")
    apply(kubectl, namespace, database("db", db) + "---\n" + database("other", other) + "---\n" + user("app", username))
    for kind, name in (("db", "db"), ("db", "other"), ("dbu", "app")):
        wait_for(lambda k=kind, n=name: phase(kubectl, k, namespace, n) == "Ready", 60, f"{kind} {name}")
    status = (get(kubectl, "dbu", namespace, "app") or {})["status"]
    password = secret_data(kubectl, namespace, status["secret"]["name"])["password"]
    for schema in (db, other):
        for table in ("t_read", "t_write", "t_secret"):
            query(root, f"CREATE TABLE `{schema}`.{table} (id int)")
            query(root, f"INSERT INTO `{schema}`.{table} VALUES (1)")
    # A database the `_` of `db_…` would match as a LIKE pattern: a database-level grant must not reach it.
    lookalike = db.replace("_", "X", 1)
    query(root, f"CREATE DATABASE `{lookalike}`")
    query(root, f"CREATE TABLE `{lookalike}`.t_read (id int)")
    yield {"db": db, "other": other, "username": username, "password": password, "lookalike": lookalike}
    query(root, f"DROP DATABASE IF EXISTS `{lookalike}`")


def can(dev_env: DevEnv, app: dict[str, Any], statement: str) -> bool:
    """Run `statement` in a fresh session of the app user; False on an access-denied error."""
    conn = connect(dev_env, app["username"], app["password"])
    try:
        query(conn, statement)
    except (pymysql.err.OperationalError, pymysql.err.ProgrammingError) as error:
        if int(error.args[0]) in ACCESS_DENIED:
            return False
        raise
    finally:
        conn.close()
    return True


def test_grants_are_enforced_and_revoked(
    kubectl: Kubectl,
    namespace: str,
    operator: Operator,
    app: dict[str, Any],
    dev_env: DevEnv,
    root: pymysql.Connection[Any],
) -> None:
    db, other = app["db"], app["other"]
    body = f"""    grants:
      - {{level: table, database: {db}, table: t_read, privileges: [SELECT]}}
      - {{level: table, database: {db}, table: t_write, privileges: [SELECT, INSERT], withGrantOption: true}}
      - {{level: database, database: {other}, privileges: [SELECT]}}
"""
    apply(kubectl, namespace, grant("g", "userRef: {name: app}\n  databaseRef: {name: db}", body))
    wait_for(lambda: phase(kubectl, "databasegrant", namespace, "g") == "Ready", 60, "grant g Ready")
    status = (get(kubectl, "databasegrant", namespace, "g") or {})["status"]
    assert status["appliedGrants"] == {"roles": [], "directGrants": 3, "defaultPrivileges": 0}
    assert [e["reason"] for e in events(kubectl, namespace, "g")] == ["Applied"]

    assert can(dev_env, app, f"SELECT * FROM `{db}`.t_read")
    assert not can(dev_env, app, f"INSERT INTO `{db}`.t_read VALUES (2)")
    assert can(dev_env, app, f"INSERT INTO `{db}`.t_write VALUES (2)")
    assert not can(dev_env, app, f"SELECT * FROM `{db}`.t_secret")
    assert can(dev_env, app, f"SELECT * FROM `{other}`.t_secret")
    assert not can(dev_env, app, f"INSERT INTO `{other}`.t_read VALUES (2)")
    assert not can(dev_env, app, f"SELECT * FROM `{app['lookalike']}`.t_read"), "the `_` is not a wildcard"
    table_priv = query(
        root,
        "SELECT Table_priv FROM mysql.tables_priv WHERE User = %s AND Db = %s AND Table_name = 't_write'",
        app["username"],
        db,
    )
    assert set(str(table_priv[0][0]).split(",")) == {"Select", "Insert", "Grant"}

    # A resync (woken by a watched annotation) applies nothing new and says nothing.
    resync(kubectl, operator, namespace, ("databasegrant", "g"))
    assert count(kubectl, namespace, "g") == 1

    kubectl("delete", "-n", namespace, "databasegrant", "g", "--wait=true", "--timeout=60s")
    assert count(kubectl, namespace, "g", "Revoked") == 1
    assert not can(dev_env, app, f"SELECT * FROM `{db}`.t_read")
    assert not can(dev_env, app, f"INSERT INTO `{db}`.t_write VALUES (3)")
    assert not can(dev_env, app, f"SELECT * FROM `{other}`.t_secret")
    assert not query(root, "SELECT 1 FROM mysql.tables_priv WHERE User = %s", app["username"])
    assert not query(root, "SELECT 1 FROM mysql.db WHERE User = %s", app["username"])


def test_native_role_with_grants_and_membership(
    kubectl: Kubectl,
    namespace: str,
    operator: Operator,
    app: dict[str, Any],
    dev_env: DevEnv,
    root: pymysql.Connection[Any],
) -> None:
    db, role_name = app["db"], unique("reader")
    own_grants = (
        f"  mysql:\n    grants:\n      - {{level: table, database: {db}, table: t_write, privileges: [SELECT]}}\n"
    )
    apply(kubectl, namespace, role("reader", role_name, own_grants))
    wait_for(lambda: phase(kubectl, "databaserole", namespace, "reader") == "Ready", 60, "role Ready")
    assert accounts(root, role_name) == {"": (0, 0, 0, 0, "", "Y")}, "a MariaDB role: no host, is_role"
    assert [e["reason"] for e in events(kubectl, namespace, "reader")] == ["Created"]

    to_role = grant(
        "to-role",
        "roleRef: {name: reader}",
        f"    grants:\n      - {{level: table, database: {db}, table: t_read, privileges: [SELECT]}}\n",
    )
    membership = grant("membership", "userRef: {name: app}", f"    roles: [{role_name}]\n")
    apply(kubectl, namespace, to_role + "---\n" + membership)
    for name in ("to-role", "membership"):
        wait_for(lambda n=name: phase(kubectl, "databasegrant", namespace, n) == "Ready", 60, f"{name} Ready")
    # The membership is the user's default role, so it is active at login without SET ROLE.
    assert query(root, "SELECT default_role FROM mysql.user WHERE User = %s", app["username"]) == [(role_name,)]
    assert can(dev_env, app, f"SELECT * FROM `{db}`.t_read")
    assert can(dev_env, app, f"SELECT * FROM `{db}`.t_write")
    assert not can(dev_env, app, f"SELECT * FROM `{db}`.t_secret")
    status = (get(kubectl, "databasegrant", namespace, "membership") or {})["status"]
    assert status["appliedGrants"]["roles"] == [role_name]

    # Resyncs of everything: no new event anywhere.
    before = {n: count(kubectl, namespace, n) for n in ("reader", "to-role", "membership")}
    resync(
        kubectl,
        operator,
        namespace,
        ("databaserole", "reader"),
        ("databasegrant", "to-role"),
        ("databasegrant", "membership"),
    )
    assert {n: count(kubectl, namespace, n) for n in before} == before

    # The role cannot go while grants name it.
    kubectl("delete", "-n", namespace, "databaserole", "reader", "--wait=false")
    wait_for(lambda: count(kubectl, namespace, "reader", "DeletionBlocked") >= 1, 30, "DeletionBlocked")

    kubectl("delete", "-n", namespace, "databasegrant", "membership", "--wait=true", "--timeout=60s")
    assert not can(dev_env, app, f"SELECT * FROM `{db}`.t_read")
    assert not query(root, "SELECT 1 FROM mysql.roles_mapping WHERE User = %s", app["username"])
    # MariaDB would keep the revoked role as the login default; the operator clears it.
    assert query(root, "SELECT default_role FROM mysql.user WHERE User = %s", app["username"]) == [("",)]
    kubectl("delete", "-n", namespace, "databasegrant", "to-role", "--wait=true", "--timeout=60s")
    wait_for(lambda: get(kubectl, "databaserole", namespace, "reader") is None, 60, "role deleted")
    assert count(kubectl, namespace, "reader", "Deleted") == 1
    assert count(kubectl, namespace, "reader", "DeletionBlocked") == 1
    assert accounts(root, role_name) == {}


def test_user_roles_are_granted_and_the_first_is_the_default(
    kubectl: Kubectl, namespace: str, maria: str, dev_env: DevEnv, root: pymysql.Connection[Any]
) -> None:
    first, second, username = unique("r1"), unique("r2"), unique("member")
    apply(kubectl, namespace, role("r1", first) + "---\n" + role("r2", second))
    for name in ("r1", "r2"):
        wait_for(lambda n=name: phase(kubectl, "databaserole", namespace, n) == "Ready", 60, f"role {name}")
    apply(kubectl, namespace, user("member", username, f"  roles: [{first}, {second}]\n"))
    wait_for(lambda: phase(kubectl, "dbu", namespace, "member") == "Ready", 60, "user member Ready")
    granted = query(root, "SELECT Role FROM mysql.roles_mapping WHERE User = %s AND Host = '%%'", username)
    assert sorted(r[0] for r in granted) == sorted([first, second])
    assert query(root, "SELECT default_role FROM mysql.user WHERE User = %s", username) == [(first,)]
    cond = condition(get(kubectl, "dbu", namespace, "member"), "OptionsHonored")
    assert cond["status"] == "False" and "spec.roles" in cond["message"], "only one role can be active at login"


def test_a_mariadb_server_declared_mysql_is_an_engine_mismatch(
    kubectl: Kubectl, namespace: str, operator: Operator, dev_env: DevEnv
) -> None:
    manifest = instance(dev_env).replace("engine: mariadb", "engine: mysql")
    apply(kubectl, namespace, admin_secret(dev_env) + "---\n" + manifest)
    wait_for(lambda: phase(kubectl, "dbi", namespace, "maria") == "Ready", 60, "instance maria to become Ready")
    obj = get(kubectl, "dbi", namespace, "maria")
    assert obj is not None and "MariaDB" in obj["status"]["version"]
    cond = condition(obj, "OptionsHonored")
    assert (cond["status"], cond["reason"]) == ("False", "EngineMismatch")
    assert "spec.engine" in cond["message"]
    mismatch = events(kubectl, namespace, "maria", "EngineMismatch")
    assert len(mismatch) == 1 and mismatch[0]["type"] == "Warning" and "spec.engine" in mismatch[0]["message"]
    # The MariaDB rules are used: a role is a MariaDB role (no host part), created through the `mysql` instance.
    role_name = unique("mm")
    apply(kubectl, namespace, role("mm", role_name))
    wait_for(lambda: phase(kubectl, "databaserole", namespace, "mm") == "Ready", 60, "role mm Ready")
    root = connect(dev_env, dev_env.mariadb.superuser, dev_env.mariadb.superuser_password)
    try:
        assert query(root, "SELECT Host, is_role FROM mysql.user WHERE User = %s", role_name) == [("", "Y")]
    finally:
        root.close()
    kubectl("delete", "databaserole", "mm", "-n", namespace, "--wait=true", "--timeout=60s")
    assert count(kubectl, namespace, "maria", "EngineMismatch") == 1, "reported once, not on every health check"


def test_converged_objects_are_quiet_on_resync(
    kubectl: Kubectl, namespace: str, operator: Operator, app: dict[str, Any]
) -> None:
    role_name = unique("quiet")
    apply(
        kubectl,
        namespace,
        role("quiet", role_name)
        + "---\n"
        + grant(
            "quiet",
            "userRef: {name: app}",
            f"    roles: [{role_name}]\n    grants:\n"
            f"      - {{level: database, database: {app['db']}, privileges: [SELECT, INSERT]}}\n",
        ),
    )
    objects = [("db", "db"), ("dbu", "app"), ("databaserole", "quiet"), ("databasegrant", "quiet")]
    for kind, name in objects:
        wait_for(lambda k=kind, n=name: phase(kubectl, k, namespace, n) == "Ready", 60, f"{kind} {name} Ready")
    # The fixture filled the database after it became Ready: one reconcile records the new size (a real change).
    resync(kubectl, operator, namespace, *objects)
    before = {(k, n): (get(kubectl, k, namespace, n) or {}).get("status") for k, n in objects}
    secret_name = before[("dbu", "app")]["secret"]["name"]  # type: ignore[index]
    secret_version = (get(kubectl, "secret", namespace, secret_name) or {})["metadata"]["resourceVersion"]
    event_counts = {n: count(kubectl, namespace, n) for _, n in objects}
    for _ in range(3):
        resync(kubectl, operator, namespace, *objects)
    after = {(k, n): (get(kubectl, k, namespace, n) or {}).get("status") for k, n in objects}
    assert after == before, "a converged object's status is not rewritten"
    assert (get(kubectl, "secret", namespace, secret_name) or {})["metadata"]["resourceVersion"] == secret_version
    assert {n: count(kubectl, namespace, n) for _, n in objects} == event_counts, "a converged object emits nothing"


def test_stand_in_roles_take_grants_but_not_memberships(
    kubectl: Kubectl,
    namespace: str,
    operator: Operator,
    app: dict[str, Any],
    dev_env: DevEnv,
    root: pymysql.Connection[Any],
) -> None:
    db, stand_in = app["db"], unique("standin")
    own = (
        "  mysql:\n    useNativeRoles: false\n    grants:\n"
        f"      - {{level: table, database: {db}, table: t_read, privileges: [SELECT]}}\n"
    )
    apply(kubectl, namespace, role("standin", stand_in, own))
    wait_for(lambda: phase(kubectl, "databaserole", namespace, "standin") == "Ready", 60, "stand-in role Ready")
    assert query(root, "SELECT Host, is_role FROM mysql.user WHERE User = %s", stand_in) == [("%", "N")]
    assert query(
        root, "SELECT Table_priv FROM mysql.tables_priv WHERE User = %s AND Host = '%%' AND Db = %s", stand_in, db
    ) == [("Select",)]
    assert login_code(dev_env, stand_in, "") != 0, "a stand-in cannot log in"

    # MariaDB can only grant native roles: the membership fails as InvalidSpec naming the entry, once.
    apply(kubectl, namespace, grant("member", "userRef: {name: app}", f"    roles: [{stand_in}]\n"))
    wait_for(
        lambda: condition(get(kubectl, "databasegrant", namespace, "member"), "Ready").get("reason") == "InvalidSpec",
        60,
        "InvalidSpec",
    )
    message = condition(get(kubectl, "databasegrant", namespace, "member"), "Ready")["message"]
    assert message.startswith("spec.mysql.roles[0]: ") and "native roles" in message
    resync(kubectl, operator, namespace, ("databasegrant", "member"))
    failed = events(kubectl, namespace, "member", "ReconcileFailed")
    assert len(failed) == 1 and (failed[0].get("count") or 1) == 1 and "spec.mysql.roles[0]" in failed[0]["message"]
    assert not can(dev_env, app, f"SELECT * FROM `{db}`.t_read")

    kubectl("delete", "databasegrant", "member", "-n", namespace, "--wait=true", "--timeout=60s")
    kubectl("delete", "databaserole", "standin", "-n", namespace, "--wait=true", "--timeout=60s")
    assert query(root, "SELECT 1 FROM mysql.user WHERE User = %s", stand_in) == []


def test_the_mysql_connect_timeout_is_honoured(
    kubectl: Kubectl, namespace: str, operator: Operator, dev_env: DevEnv
) -> None:
    """`spec.mysql.timeout` bounds the connect (10 s without the block): a server that accepts the TCP connection
    but never sends its greeting fails the check after 2 s, well inside the check's own 30 s."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    try:
        manifest = (
            instance(dev_env)
            .replace(f"port: {dev_env.mariadb.port}", f"port: {port}")
            .replace("timeoutSeconds: 5}", "timeoutSeconds: 30}\n  mysql: {timeout: 2s}")
        )
        apply(kubectl, namespace, admin_secret(dev_env) + "---\n" + manifest)
        wait_for(lambda: phase(kubectl, "dbi", namespace, "maria") == "Failed", 60, "instance maria to fail")
        cond = condition(get(kubectl, "dbi", namespace, "maria"), "Connected")
        assert cond["message"] == "Timeout: no session within 2s"
    finally:
        silent.close()
