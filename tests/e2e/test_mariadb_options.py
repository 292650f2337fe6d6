"""MariaDB end to end, the options where MariaDB differs from MySQL or where the server must enforce what was applied.

Complements test_mariadb.py (the lifecycle scenarios): the instance's engine check (engines.md 1.4); account options
the server enforces at login (lock, TLS requirement, a host added later keeping the password, an account name longer
than MySQL allows, a supplied password full of quotes, backslashes and non-ASCII characters); a templated credentials
Secret an application connects with; column, function and grant-option privileges the grantee can really use and
nothing more; MariaDB's single default role moving with revocations; the DEFINER ownership pre-check; and invalid or
unsupported options that must be reported once, naming the field, and not again on every retry or resync.

Objects are labelled for this run's operator partition (`apply` from test_roles_grants), so several operators may share
one control plane.
"""

from __future__ import annotations

import base64
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from tests.conftest import Kubectl
from tests.e2e.conftest import Operator, condition, events, get, reconciled_once_more, wait_for
from tests.e2e.test_roles_grants import apply
from tests.support.env import DevEnv

INSTANCE = "maria"
LOGIN_DENIED = 1045
ACCOUNT_LOCKED = 4151
"""ER_ACCOUNT_HAS_BEEN_LOCKED (MariaDB 10.4.2+)."""
ACCESS_DENIED = frozenset({1044, 1142, 1143, 1227, 1370})
"""Database, table, column, global and routine privilege refused."""


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def admin_secret(dev_env: DevEnv) -> str:
    server = dev_env.mariadb
    return f"""apiVersion: v1
kind: Secret
metadata: {{name: maria-admin}}
type: Opaque
data:
  username: {base64.b64encode(server.admin_user.encode()).decode()}
  password: {base64.b64encode(server.admin_password.encode()).decode()}
"""


def instance(dev_env: DevEnv, engine: str = "mariadb", interval: int = 30) -> str:
    return f"""apiVersion: dbops.dbprovision.io/v1alpha1
kind: DatabaseInstance
metadata: {{name: {INSTANCE}}}
spec:
  engine: {engine}
  connection:
    host: {dev_env.mariadb.host}
    port: {dev_env.mariadb.port}
    secretRef: {{name: maria-admin}}
  healthCheck: {{intervalSeconds: {interval}, timeoutSeconds: 5}}
  deletionProtection: false
"""


def manifest(kind: str, name: str, body: str) -> str:
    return f"""apiVersion: dbops.dbprovision.io/v1alpha1
kind: {kind}
metadata: {{name: {name}}}
spec:
{body}"""


def database(name: str, db_name: str, extra: str = "") -> str:
    body = f"  instanceRef: {{name: {INSTANCE}}}\n  name: {db_name}\n  deletionProtection: false\n{extra}"
    return manifest("Database", name, body)


def user(name: str, username: str, extra: str = "") -> str:
    return manifest("DatabaseUser", name, f"  instanceRef: {{name: {INSTANCE}}}\n  username: {username}\n{extra}")


def grant(name: str, ref: str, body: str) -> str:
    return manifest("DatabaseGrant", name, f"  {ref}\n  deletionProtection: false\n  mysql:\n{body}")


def phase(kubectl: Kubectl, kind: str, namespace: str, name: str) -> Any:
    return ((get(kubectl, kind, namespace, name) or {}).get("status") or {}).get("phase")


def count(kubectl: Kubectl, namespace: str, name: str, reason: str | None = None) -> int:
    """Occurrences of events about `name` (a repeated event counts as often as it was emitted)."""
    return sum(e.get("count") or 1 for e in events(kubectl, namespace, name, reason))


def secret_data(kubectl: Kubectl, namespace: str, name: str) -> dict[str, str]:
    obj = get(kubectl, "secret", namespace, name) or {}
    return {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}


def connect(dev_env: DevEnv, username: str, password: str, db: str | None = None) -> pymysql.Connection[Any]:
    return pymysql.connect(
        host=dev_env.mariadb.host,
        port=dev_env.mariadb.port,
        user=username,
        password=password.encode("utf-8"),  # as applications send it; PyMySQL would encode a str as latin-1
        database=db,
        autocommit=True,
        connect_timeout=10,
    )


def login_code(dev_env: DevEnv, username: str, password: str) -> int:
    """0 when the login works, else the server's error code."""
    try:
        connect(dev_env, username, password).close()
    except pymysql.err.OperationalError as error:
        return int(error.args[0])
    return 0


def query(conn: pymysql.Connection[Any], sql: str, *args: object) -> list[tuple[Any, ...]]:
    with conn.cursor() as cursor:
        cursor.execute(sql, args or None)
        return list(cursor.fetchall())


KINDS = {"database": "Database", "databaseuser": "DatabaseUser", "databasegrant": "DatabaseGrant"}
"""Controller name → the kind its log records name."""


def not_retried_on_a_timer(operator: Operator, kind: str, namespace: str, name: str, *, since: int) -> list[str]:
    """The results of the object's reconciles started after byte `since` of the log; a permanent failure (behaviour.md
    3: phase Failed, one event, no timed requeue) ends every one of them without a requeue or an error."""
    results = [r.get("result", "") for _, r in operator.finished_reconciles(kind, namespace, name, since=since)]
    assert results and set(results) == {"success"}, results
    return results


def resync(kubectl: Kubectl, namespace: str, kind: str, name: str, operator: Operator, controller: str) -> None:
    """Wake the object through an annotation the operator reads (a value that changes nothing) and wait until a
    reconcile of that object has finished and the events it emitted are written (`reconciled_once_more`)."""
    reconciled_once_more(kubectl, operator, kind, KINDS[controller], namespace, name)


@pytest.fixture
def root(dev_env: DevEnv) -> Iterator[pymysql.Connection[Any]]:
    conn = connect(dev_env, dev_env.mariadb.superuser, dev_env.mariadb.superuser_password)
    yield conn
    conn.close()


@pytest.fixture
def maria(kubectl: Kubectl, namespace: str, operator: Operator, dev_env: DevEnv) -> str:
    apply(kubectl, namespace, admin_secret(dev_env) + "---\n" + instance(dev_env))
    wait_for(lambda: phase(kubectl, "dbi", namespace, INSTANCE) == "Ready", 60, "instance maria to become Ready")
    return INSTANCE


# Instance ------------------------------------------------------------------------------------------------------------


def test_engine_mysql_on_a_mariadb_server_is_an_engine_mismatch_reported_once(
    kubectl: Kubectl, namespace: str, operator: Operator, dev_env: DevEnv, root: pymysql.Connection[Any]
) -> None:
    apply(kubectl, namespace, admin_secret(dev_env) + "---\n" + instance(dev_env, engine="mysql", interval=5))
    wait_for(lambda: phase(kubectl, "dbi", namespace, INSTANCE) == "Ready", 60, "instance maria to become Ready")
    obj = get(kubectl, "dbi", namespace, INSTANCE)
    version = str(query(root, "SELECT VERSION()")[0][0])
    assert obj is not None and obj["status"]["version"] == version
    honored = condition(obj, "OptionsHonored")
    assert (honored["status"], honored["reason"]) == ("False", "EngineMismatch")
    assert "spec.engine" in honored["message"] and "mariadb" in honored["message"]
    assert condition(obj, "Ready")["status"] == "True", "the detected flavour's rules are used; the instance works"
    mismatch = events(kubectl, namespace, INSTANCE, "EngineMismatch")
    assert len(mismatch) == 1 and mismatch[0]["type"] == "Warning" and "spec.engine" in mismatch[0]["message"]

    # MariaDB rules really are in use: a user on this instance gets MariaDB's default plugin, not an error about
    # caching_sha2_password, which MariaDB does not have.
    username = unique("onmysql")
    apply(kubectl, namespace, user("u", username))
    wait_for(lambda: phase(kubectl, "dbu", namespace, "u") == "Ready", 60, "user u to become Ready")
    assert query(root, "SELECT plugin FROM mysql.user WHERE User = %s", username) == [("mysql_native_password",)]
    assert condition(get(kubectl, "dbu", namespace, "u"), "OptionsHonored").get("status") != "False"

    # Health checks every 5 s find the same mismatch: no new event, no status write.
    version_before = (get(kubectl, "dbi", namespace, INSTANCE) or {})["metadata"]["resourceVersion"]
    attempts = f'dbops_connection_attempts_total{{engine="mysql",instance="{INSTANCE}",namespace="{namespace}",'
    start = _metric(operator, attempts + 'status="success"} ')
    wait_for(lambda: _metric(operator, attempts + 'status="success"} ') >= start + 2, 40, "two more health checks")
    assert count(kubectl, namespace, INSTANCE, "EngineMismatch") == 1
    assert (get(kubectl, "dbi", namespace, INSTANCE) or {})["metadata"]["resourceVersion"] == version_before

    kubectl("delete", "dbu", "u", "-n", namespace, "--wait=true", "--timeout=60s")


def _metric(operator: Operator, prefix: str) -> float:
    return next((float(line.split()[-1]) for line in operator.metrics().splitlines() if line.startswith(prefix)), 0.0)


# Accounts ------------------------------------------------------------------------------------------------------------


def test_templated_secret_connects_and_lock_and_tls_options_are_enforced(
    kubectl: Kubectl, namespace: str, maria: str, dev_env: DevEnv, root: pymysql.Connection[Any], operator: Operator
) -> None:
    username = unique("tmpl")
    template = """  passwordSecret:
    secretName: tmpl-creds
    includeSpecialChars: true
    secretTemplate:
      data:
        DATABASE_URL: "mysql://{{ .Username }}:{{ .Password | urlEncode }}@{{ .Host }}:{{ .Port }}/"
        MYSQL_USER: "{{ .Username }}"
"""
    apply(kubectl, namespace, user("tmpl", username, template))
    wait_for(lambda: phase(kubectl, "dbu", namespace, "tmpl") == "Ready", 60, "user tmpl to become Ready")
    data = secret_data(kubectl, namespace, "tmpl-creds")
    assert set(data) == {"DATABASE_URL", "MYSQL_USER"} and data["MYSQL_USER"] == username
    url = urllib.parse.urlsplit(data["DATABASE_URL"])
    assert (url.hostname, url.port) == (dev_env.mariadb.host, dev_env.mariadb.port)
    password = urllib.parse.unquote(url.password or "")
    conn = connect(dev_env, urllib.parse.unquote(url.username or ""), password)
    try:
        assert query(conn, "SELECT CURRENT_USER()") == [(f"{username}@%",)]
    finally:
        conn.close()
    assert sorted(e["reason"] for e in events(kubectl, namespace, "tmpl")) == ["Created", "SecretCreated"]

    # accountLocked: the server refuses the login with "account is locked", whatever the password.
    locked = template + "  mysql: {accountLocked: true}\n"
    apply(kubectl, namespace, user("tmpl", username, locked))
    wait_for(lambda: login_code(dev_env, username, password) == ACCOUNT_LOCKED, 60, "the account to be locked")
    # requireSSL on a server without TLS: no session can satisfy it, so the login is refused.
    apply(kubectl, namespace, user("tmpl", username, template + "  mysql: {requireSSL: true}\n"))
    wait_for(lambda: login_code(dev_env, username, password) == LOGIN_DENIED, 60, "REQUIRE SSL to apply")
    assert query(root, "SELECT ssl_type FROM mysql.user WHERE User = %s", username) == [("ANY",)]
    apply(kubectl, namespace, user("tmpl", username, template))
    wait_for(lambda: login_code(dev_env, username, password) == 0, 60, "the plain account to work again")

    # Spec changes applied on the server are not drift corrections or new objects: no event, and the password
    # never appears in one.
    resync(kubectl, namespace, "dbu", "tmpl", operator, "databaseuser")
    assert sorted(e["reason"] for e in events(kubectl, namespace, "tmpl")) == ["Created", "SecretCreated"]
    assert not any(password in e["message"] for e in events(kubectl, namespace, "tmpl"))


def test_a_long_account_name_and_a_host_added_later_with_the_same_password(
    kubectl: Kubectl, namespace: str, maria: str, dev_env: DevEnv, root: pymysql.Connection[Any]
) -> None:
    # 46 characters: longer than MySQL's 32-character account names, within MariaDB's 80 (engines.md 1.2, 8.1).
    username = unique("hosts_with_a_name_mysql_would_refuse")
    assert 32 < len(username) <= 63
    apply(kubectl, namespace, user("hosts", username, '  mysql: {allowedHosts: ["10.99.0.1"]}\n'))
    wait_for(lambda: phase(kubectl, "dbu", namespace, "hosts") == "Ready", 60, "user hosts to become Ready")
    password = secret_data(kubectl, namespace, username.replace("_", "-") + "-credentials")["password"]
    assert login_code(dev_env, username, password) == LOGIN_DENIED, "no account matches 127.0.0.1 yet"

    apply(kubectl, namespace, user("hosts", username, '  mysql: {allowedHosts: ["10.99.0.1", "127.0.0.1"]}\n'))
    wait_for(lambda: len(query(root, "SELECT Host FROM mysql.user WHERE User = %s", username)) == 2, 60, "the new host")
    assert login_code(dev_env, username, password) == 0, "the new host entry has the account's password"
    hashes = query(root, "SELECT DISTINCT authentication_string FROM mysql.user WHERE User = %s", username)
    assert len(hashes) == 1
    assert sorted(e["reason"] for e in events(kubectl, namespace, "hosts")) == ["Created", "SecretCreated"]

    kubectl("delete", "dbu", "hosts", "-n", namespace, "--wait=true", "--timeout=60s")
    assert query(root, "SELECT Host FROM mysql.user WHERE User = %s", username) == []


# Grants --------------------------------------------------------------------------------------------------------------


def test_grant_option_lets_the_grantee_pass_on_exactly_what_it_holds(
    kubectl: Kubectl, namespace: str, maria: str, dev_env: DevEnv, root: pymysql.Connection[Any], operator: Operator
) -> None:
    db, lead, helper = unique("shared"), unique("lead"), unique("helper")
    apply(kubectl, namespace, database("shared", db) + "---\n" + user("lead", lead) + "---\n" + user("helper", helper))
    for kind, name in (("db", "shared"), ("dbu", "lead"), ("dbu", "helper")):
        wait_for(lambda k=kind, n=name: phase(kubectl, k, namespace, n) == "Ready", 60, f"{kind} {name}")
    for table in ("orders", "audit"):
        query(root, f"CREATE TABLE `{db}`.{table} (id int, note text)")
    query(root, f"INSERT INTO `{db}`.audit VALUES (1, 'a')")
    for function in ("answer", "other"):
        query(root, f"CREATE FUNCTION `{db}`.{function}() RETURNS int DETERMINISTIC RETURN 42")
    passwords = {
        name: secret_data(kubectl, namespace, name.replace("_", "-") + "-credentials")["password"]
        for name in (lead, helper)
    }
    body = f"""    grants:
      - {{level: database, database: {db}, privileges: [SELECT]}}
      - {{level: table, database: {db}, table: orders, privileges: [SELECT, INSERT], withGrantOption: true}}
      - {{level: column, database: {db}, table: audit, columns: [note], privileges: [UPDATE]}}
      - {{level: function, database: {db}, function: answer, privileges: [EXECUTE]}}
"""
    apply(kubectl, namespace, grant("to-lead", "userRef: {name: lead}\n  databaseRef: {name: shared}", body))
    wait_for(lambda: phase(kubectl, "databasegrant", namespace, "to-lead") == "Ready", 60, "grant to-lead Ready")
    status = (get(kubectl, "databasegrant", namespace, "to-lead") or {})["status"]
    assert status["appliedGrants"]["directGrants"] == 4

    conn = connect(dev_env, lead, passwords[lead])
    try:
        query(conn, f"INSERT INTO `{db}`.orders (id) VALUES (1)")
        with pytest.raises(pymysql.err.OperationalError) as denied:
            query(conn, f"INSERT INTO `{db}`.audit (id) VALUES (1)")
        assert denied.value.args[0] in ACCESS_DENIED
        # Column level: only the listed column. Function level: only the named function.
        query(conn, f"UPDATE `{db}`.audit SET note = 'b'")
        with pytest.raises(pymysql.err.OperationalError) as column:
            query(conn, f"UPDATE `{db}`.audit SET id = 2")
        assert column.value.args[0] in ACCESS_DENIED
        assert query(conn, f"SELECT `{db}`.answer()") == [(42,)]
        with pytest.raises(pymysql.err.OperationalError) as routine:
            query(conn, f"SELECT `{db}`.other()")
        assert routine.value.args[0] in ACCESS_DENIED
        # WITH GRANT OPTION on orders: the grantee can pass on what it holds there, but not SELECT on audit,
        # which it holds from the database-level entry without the option.
        query(conn, f"GRANT SELECT ON `{db}`.orders TO %s@'%%'", helper)
        with pytest.raises(pymysql.err.OperationalError) as refused:
            query(conn, f"GRANT SELECT ON `{db}`.audit TO %s@'%%'", helper)
        assert refused.value.args[0] in ACCESS_DENIED
    finally:
        conn.close()
    helper_conn = connect(dev_env, helper, passwords[helper])
    try:
        assert query(helper_conn, f"SELECT count(*) FROM `{db}`.orders") == [(1,)]
    finally:
        helper_conn.close()

    resync(kubectl, namespace, "databasegrant", "to-lead", operator, "databasegrant")
    assert [e["reason"] for e in events(kubectl, namespace, "to-lead")] == ["Applied"]
    kubectl("delete", "-n", namespace, "databasegrant", "to-lead", "--wait=true", "--timeout=60s")
    assert sorted(e["reason"] for e in events(kubectl, namespace, "to-lead")) == ["Applied", "Revoked"]
    assert query(root, "SELECT Db FROM mysql.db WHERE User = %s", lead) == [], "the database-level SELECT is revoked"
    assert query(root, "SELECT Table_priv FROM mysql.tables_priv WHERE User = %s", lead) == [], "and the grant option"
    assert query(root, "SELECT Column_name FROM mysql.columns_priv WHERE User = %s", lead) == []
    assert query(root, "SELECT Routine_name FROM mysql.procs_priv WHERE User = %s", lead) == []


def test_invalid_privilege_fails_once_naming_the_entry(
    kubectl: Kubectl, namespace: str, maria: str, operator: Operator, root: pymysql.Connection[Any]
) -> None:
    username = unique("bad")
    apply(kubectl, namespace, user("bad", username))
    wait_for(lambda: phase(kubectl, "dbu", namespace, "bad") == "Ready", 60, "user bad to become Ready")
    body = """    grants:
      - {level: global, privileges: [PROCESS]}
      - {level: database, database: anything, privileges: [SELECT, SHUTDOWN]}
"""
    start = operator.log_size()
    apply(kubectl, namespace, grant("bad-grant", "userRef: {name: bad}", body))
    wait_for(lambda: phase(kubectl, "databasegrant", namespace, "bad-grant") == "Failed", 60, "grant to fail")
    obj = get(kubectl, "databasegrant", namespace, "bad-grant")
    assert "spec.mysql.grants[1].privileges" in condition(obj, "Ready")["message"]
    warnings = [e for e in events(kubectl, namespace, "bad-grant") if e["type"] == "Warning"]
    assert len(warnings) == 1 and "spec.mysql.grants[1].privileges" in warnings[0]["message"]
    assert not any("grants[0]" in e["message"] for e in warnings), "the valid entry is not blamed"
    # Checked before any SQL: the valid entry was not applied either.
    assert query(root, "SELECT Process_priv FROM mysql.user WHERE User = %s", username) == [("N",)]
    # A permanent failure is not retried on a timer; re-checked when woken, twice, the same failure says nothing new.
    for _ in range(2):
        resync(kubectl, namespace, "databasegrant", "bad-grant", operator, "databasegrant")
    assert count(kubectl, namespace, "bad-grant") == 1
    assert len(not_retried_on_a_timer(operator, "DatabaseGrant", namespace, "bad-grant", since=start)) >= 3


# Databases -----------------------------------------------------------------------------------------------------------


def test_database_options_mariadb_cannot_honour_are_reported_and_bad_values_fail_naming_the_field(
    kubectl: Kubectl, namespace: str, maria: str, root: pymysql.Connection[Any], operator: Operator
) -> None:
    db = unique("owned")
    apply(kubectl, namespace, database("owned", db, "  owner: somebody\n"))
    wait_for(lambda: phase(kubectl, "db", namespace, "owned") == "Ready", 60, "database owned to become Ready")
    honored = condition(get(kubectl, "db", namespace, "owned"), "OptionsHonored")
    assert (honored["status"], honored["reason"]) == ("False", "UnsupportedOption")
    assert "spec.owner" in honored["message"]
    unsupported = events(kubectl, namespace, "owned", "UnsupportedOption")
    assert len(unsupported) == 1 and "spec.owner" in unsupported[0]["message"]
    resync(kubectl, namespace, "db", "owned", operator, "database")
    assert count(kubectl, namespace, "owned", "UnsupportedOption") == 1

    bad = unique("engine")
    start = operator.log_size()
    apply(kubectl, namespace, database("engine", bad, "  mysql: {defaultStorageEngine: NoSuchEngine}\n"))
    wait_for(lambda: phase(kubectl, "db", namespace, "engine") == "Failed", 60, "database engine to fail")
    assert "spec.mysql.defaultStorageEngine" in condition(get(kubectl, "db", namespace, "engine"), "Ready")["message"]
    warnings = [e for e in events(kubectl, namespace, "engine") if e["type"] == "Warning"]
    assert len(warnings) == 1 and "spec.mysql.defaultStorageEngine" in warnings[0]["message"]
    assert query(root, "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", bad) == []
    # A permanent failure is not retried on a timer; re-checked when woken, twice, the same failure says nothing new.
    for _ in range(2):
        resync(kubectl, namespace, "db", "engine", operator, "database")
    assert count(kubectl, namespace, "engine") == 1
    assert len(not_retried_on_a_timer(operator, "Database", namespace, "engine", since=start)) >= 3


# Role memberships ----------------------------------------------------------------------------------------------------


def role(name: str, role_name: str, db: str, table: str) -> str:
    body = (
        f"  instanceRef: {{name: {INSTANCE}}}\n  roleName: {role_name}\n  mysql:\n    grants:\n"
        f"      - {{level: table, database: {db}, table: {table}, privileges: [SELECT]}}\n"
    )
    return manifest("DatabaseRole", name, body)


def test_a_new_membership_is_active_at_login_after_the_previous_one_was_revoked(
    kubectl: Kubectl, namespace: str, maria: str, dev_env: DevEnv, root: pymysql.Connection[Any]
) -> None:
    """MariaDB activates one default role at login and keeps its name after the role is revoked: the operator must
    move the default, or the next membership would never be active without SET ROLE (engines.md 5)."""
    db, first, second, username = unique("roles"), unique("first"), unique("second"), unique("switch")
    apply(kubectl, namespace, database("roles", db) + "---\n" + user("switch", username))
    for kind, name in (("db", "roles"), ("dbu", "switch")):
        wait_for(lambda k=kind, n=name: phase(kubectl, k, namespace, n) == "Ready", 60, f"{kind} {name}")
    for table in ("t_first", "t_second"):
        query(root, f"CREATE TABLE `{db}`.{table} (id int)")
    apply(kubectl, namespace, role("first", first, db, "t_first") + "---\n" + role("second", second, db, "t_second"))
    for name in ("first", "second"):
        wait_for(lambda n=name: phase(kubectl, "databaserole", namespace, n) == "Ready", 60, f"role {name}")
    password = secret_data(kubectl, namespace, username.replace("_", "-") + "-credentials")["password"]

    def active_role_and_access() -> tuple[Any, bool, bool]:
        conn = connect(dev_env, username, password)
        try:
            current = query(conn, "SELECT CURRENT_ROLE()")[0][0]
            access = []
            for table in ("t_first", "t_second"):
                try:
                    query(conn, f"SELECT * FROM `{db}`.{table}")
                    access.append(True)
                except pymysql.err.OperationalError as error:
                    assert error.args[0] in ACCESS_DENIED
                    access.append(False)
            return current, access[0], access[1]
        finally:
            conn.close()

    apply(kubectl, namespace, grant("m1", "userRef: {name: switch}", f"    roles: [{first}]\n"))
    wait_for(lambda: phase(kubectl, "databasegrant", namespace, "m1") == "Ready", 60, "grant m1 Ready")
    assert active_role_and_access() == (first, True, False)

    kubectl("delete", "databasegrant", "m1", "-n", namespace, "--wait=true", "--timeout=60s")
    assert active_role_and_access() == (None, False, False)
    assert query(root, "SELECT default_role FROM mysql.user WHERE User = %s", username) == [("",)]

    apply(kubectl, namespace, grant("m2", "userRef: {name: switch}", f"    roles: [{second}]\n"))
    wait_for(lambda: phase(kubectl, "databasegrant", namespace, "m2") == "Ready", 60, "grant m2 Ready")
    assert active_role_and_access() == (second, False, True), "the new membership is active at login"
    kubectl("delete", "databasegrant", "m2", "-n", namespace, "--wait=true", "--timeout=60s")


def test_a_supplied_password_with_quotes_backslashes_and_non_ascii_logs_in_and_follows_its_secret(
    kubectl: Kubectl, namespace: str, maria: str, dev_env: DevEnv, operator: Operator
) -> None:
    """Literal quoting (engines.md 1.1: `'` doubled and every backslash doubled) and UTF-8 passwords, end to end."""
    username = unique("given")
    first, second = "it's a \\' \\\\ \"pässwörd\" ✓ %s", "n€w\\0'; DROP USER x; --"

    def supplied(password: str) -> None:
        encoded = base64.b64encode(password.encode()).decode()
        secret = f"apiVersion: v1\nkind: Secret\nmetadata: {{name: given-pw}}\ntype: Opaque\ndata: {{pw: {encoded}}}\n"
        kubectl("apply", "-n", namespace, "-f", "-", input=secret)

    supplied(first)
    extra = (
        "  passwordSecret: {generate: false, secretName: given-creds}\n"
        "  existingPasswordSecret: {name: given-pw, key: pw}\n"
    )
    apply(kubectl, namespace, user("given", username, extra))
    wait_for(lambda: phase(kubectl, "dbu", namespace, "given") == "Ready", 60, "user given to become Ready")
    assert login_code(dev_env, username, first) == 0
    assert secret_data(kubectl, namespace, "given-creds")["password"] == first

    supplied(second)  # the existingPasswordSecret watch wakes the user; nothing else touches it
    wait_for(lambda: login_code(dev_env, username, second) == 0, 60, "the new password to be set")
    assert login_code(dev_env, username, first) == LOGIN_DENIED
    wait_for(lambda: secret_data(kubectl, namespace, "given-creds").get("password") == second, 30, "the Secret")
    for event in events(kubectl, namespace, "given"):
        assert first not in event["message"] and second not in event["message"]
    assert first not in operator.log_text() and second not in operator.log_text()


def test_a_character_set_and_collation_the_server_refuses_fail_naming_the_field(
    kubectl: Kubectl, namespace: str, maria: str, root: pymysql.Connection[Any], operator: Operator
) -> None:
    db = unique("coll")

    def schema() -> list[tuple[Any, ...]]:
        return query(
            root,
            "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA "
            "WHERE SCHEMA_NAME = %s",
            db,
        )

    def failed_on(field: str) -> bool:
        ready = condition(get(kubectl, "db", namespace, "coll"), "Ready")
        return ready.get("reason") == "InvalidSpec" and ready.get("message", "").startswith(f"{field}: ")

    # A collation of another character set: refused by the server at creation, a spec error (not retried).
    apply(kubectl, namespace, database("coll", db, "  mysql: {charset: latin1, collation: utf8mb4_bin}\n"))
    wait_for(lambda: failed_on("spec.mysql.collation"), 60, "InvalidSpec naming spec.mysql.collation")
    assert phase(kubectl, "db", namespace, "coll") == "Failed" and schema() == []
    warnings = [e for e in events(kubectl, namespace, "coll") if e["type"] == "Warning"]
    assert len(warnings) == 1 and "spec.mysql.collation" in warnings[0]["message"]
    resync(kubectl, namespace, "db", "coll", operator, "database")
    assert count(kubectl, namespace, "coll") == 1, "the same failure is not reported again"

    apply(kubectl, namespace, database("coll", db, "  mysql: {charset: latin1, collation: latin1_bin}\n"))
    wait_for(lambda: phase(kubectl, "db", namespace, "coll") == "Ready", 60, "database coll to become Ready")
    assert schema() == [("latin1", "latin1_bin")]

    # An unknown character set on the existing database: the ALTER is refused, naming the field; nothing changes.
    apply(kubectl, namespace, database("coll", db, "  mysql: {charset: klingon, collation: klingon_bin}\n"))
    wait_for(lambda: failed_on("spec.mysql.charset"), 60, "InvalidSpec naming spec.mysql.charset")
    assert schema() == [("latin1", "latin1_bin")]
    kubectl("delete", "db", "coll", "-n", namespace, "--wait=true", "--timeout=60s")
    assert schema() == []


def test_deleting_a_user_that_defines_views_and_routines_is_blocked_until_they_are_gone(
    kubectl: Kubectl, namespace: str, maria: str, root: pymysql.Connection[Any]
) -> None:
    """The ownership pre-check of behaviour.md 8.7 on MariaDB: objects whose DEFINER is the account (engines.md 4.6)."""
    db, username = unique("defs"), unique("definer")
    apply(kubectl, namespace, database("defs", db) + "---\n" + user("definer", username))
    for kind, name in (("db", "defs"), ("dbu", "definer")):
        wait_for(lambda k=kind, n=name: phase(kubectl, k, namespace, n) == "Ready", 60, f"{kind} {name}")
    query(root, f"CREATE TABLE `{db}`.t (id int)")
    query(root, f"CREATE DEFINER = %s@'%%' VIEW `{db}`.v_report AS SELECT id FROM `{db}`.t", username)
    query(root, f"CREATE DEFINER = %s@'%%' PROCEDURE `{db}`.p_cleanup() DELETE FROM `{db}`.t", username)

    kubectl("delete", "dbu", "definer", "-n", namespace, "--wait=false")
    wait_for(
        lambda: condition(get(kubectl, "dbu", namespace, "definer"), "Ready").get("reason") == "OwnershipBlocks",
        60,
        "OwnershipBlocks",
    )
    blocked = events(kubectl, namespace, "definer", "DeletionBlocked")
    assert len(blocked) == 1 and blocked[0]["type"] == "Warning"
    assert f"{db}.v_report" in blocked[0]["message"] and f"{db}.p_cleanup" in blocked[0]["message"]
    assert query(root, "SELECT Host FROM mysql.user WHERE User = %s", username) == [("%",)], "not dropped"

    query(root, f"DROP VIEW `{db}`.v_report")
    query(root, f"DROP PROCEDURE `{db}`.p_cleanup")
    # Re-checked every 30 s; a watched annotation wakes it sooner.
    kubectl("annotate", "dbu", "definer", "-n", namespace, "dbops.dbprovision.io/allow-destructive-drift=false")
    wait_for(lambda: get(kubectl, "dbu", namespace, "definer") is None, 60, "user definer to be deleted")
    assert query(root, "SELECT Host FROM mysql.user WHERE User = %s", username) == []
    assert count(kubectl, namespace, "definer", "DeletionBlocked") == 1
