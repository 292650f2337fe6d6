"""Dual-password rotation on the real MariaDB 10.11 (behaviour.md 8.6, engines.md 1.7/5): MariaDB keeps no retained
second password, so `strategy: dual-password` is refused: `OptionsHonored=False` reason `UnsupportedOption` naming
the field, the engine and version, one Warning naming `spec.passwordRotation.strategy`, and no rotation, however
often the user is reconciled after its rotation would have been due. The credentials Secret keeps logging in.

The supported side (MySQL 8.0.14+) needs a MySQL server, which this environment does not have; the flow is
unit-tested against a scripted engine (tests/unit/controllers/test_rotation_dual.py) and the statements in
tests/unit/sql/test_mysql_rotation.py.
"""

from __future__ import annotations

import calendar
import time
from typing import Any

import pymysql

from tests.conftest import Kubectl
from tests.e2e.conftest import Operator, condition, events, get, wait_for, wait_until
from tests.e2e.test_mariadb_options import (
    count,
    login_code,
    maria,
    phase,
    query,
    resync,
    root,
    secret_data,
    unique,
    user,
)
from tests.e2e.test_roles_grants import apply
from tests.support.env import DevEnv

__all__ = ["maria", "root"]  # fixtures, imported for this module

FIELD = "spec.passwordRotation.strategy"


def password_hash(root: pymysql.Connection[Any], username: str) -> list[tuple[Any, ...]]:
    return query(root, "SELECT Host, authentication_string FROM mysql.user WHERE User = %s ORDER BY Host", username)


def test_dual_password_on_mariadb_is_refused_once_naming_the_field_and_nothing_rotates(
    kubectl: Kubectl,
    namespace: str,
    maria: str,
    dev_env: DevEnv,
    root: pymysql.Connection[Any],
    operator: Operator,
) -> None:
    username = unique("dual")
    version = str(query(root, "SELECT VERSION()")[0][0])
    extra = (
        "  passwordSecret: {secretName: dual-creds}\n"
        "  mysql: {allowedHosts: ['%', 'localhost']}\n"
        "  passwordRotation:\n"
        "    enabled: true\n"
        "    strategy: dual-password\n"
        "    maxAge: 3s\n"
        "    schedule: '* * * * *'\n"
        "    mysql: {discardOldPasswordAfterDays: 1}\n"
    )
    apply(kubectl, namespace, user("dual", username, extra))
    wait_for(lambda: phase(kubectl, "dbu", namespace, "dual") == "Ready", 60, "user dual to become Ready")

    obj = get(kubectl, "dbu", namespace, "dual")
    honored = condition(obj, "OptionsHonored")
    assert (honored["status"], honored["reason"]) == ("False", "UnsupportedOption")
    assert honored["message"].startswith(FIELD)
    assert "MariaDB " + version.split("-")[0] in honored["message"], honored["message"]
    assert "role-inheritance" in honored["message"]
    assert condition(obj, "Ready")["status"] == "True", "the account itself is fine"
    warnings = events(kubectl, namespace, "dual", "UnsupportedOption")
    assert len(warnings) == 1 and warnings[0]["type"] == "Warning" and FIELD in warnings[0]["message"]

    credentials = secret_data(kubectl, namespace, "dual-creds")
    assert credentials["username"] == username
    assert login_code(dev_env, username, credentials["password"]) == 0
    stored = password_hash(root, username)
    assert [host for host, _ in stored] == ["%", "localhost"]

    # Well past maxAge and a cron slot, with reconciles after each: still no rotation, no new report. maxAge counts
    # from the operator's first look at the user at the latest (the condition's transition, whole seconds); the
    # every-minute slot is the first whole minute after that moment. Each wait is followed by a reconcile that started
    # after it (and by its events being written), the evidence that the operator looked again once they were due.
    looked = calendar.timegm(time.strptime(honored["lastTransitionTime"], "%Y-%m-%dT%H:%M:%SZ"))
    wait_until(looked + 3 + 2, "maxAge to pass")
    resync(kubectl, namespace, "dbu", "dual", operator, "databaseuser")
    wait_until((looked // 60 + 1) * 60 + 2, "the next every-minute slot to pass")
    resync(kubectl, namespace, "dbu", "dual", operator, "databaseuser")

    assert secret_data(kubectl, namespace, "dual-creds") == credentials
    assert login_code(dev_env, username, credentials["password"]) == 0
    assert password_hash(root, username) == stored
    after = get(kubectl, "dbu", namespace, "dual") or {}
    assert "rotation" not in (after.get("status") or {})
    assert condition(after, "OptionsHonored")["reason"] == "UnsupportedOption"
    assert count(kubectl, namespace, "dual", "UnsupportedOption") == 1
    assert count(kubectl, namespace, "dual", "PasswordRotated") == 0
    assert count(kubectl, namespace, "dual", "RotationFailed") == 0
    for event in events(kubectl, namespace, "dual"):
        assert credentials["password"] not in event["message"]
    assert credentials["password"] not in operator.log_text()

    kubectl("delete", "dbu", "dual", "-n", namespace, "--wait=true", "--timeout=60s")
    assert password_hash(root, username) == []
