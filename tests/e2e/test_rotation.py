"""Password rotation end to end (behaviour.md 8.6): the operator process, kubectl, the real PostgreSQL 15.

Rotations are made fast with a short `maxAge` (an extended duration accepts seconds, api.md 1.2) and with the
every-minute cron. Throughout a rotation a poller keeps logging in with whatever the credentials Secret holds; a
failed login only counts when the Secret still held those credentials afterwards (a reader that raced the rewrite
retries with the new ones, as any client re-reading its Secret would).
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from tests.conftest import Kubectl
from tests.e2e.conftest import Operator, condition, events, get, reconciled_once_more, wait_for, wait_until
from tests.e2e.test_database_user import phase, ready_instance, secret_data, superuser, unique
from tests.support.env import DevEnv

__all__ = ["ready_instance", "superuser"]  # fixtures, imported for this module


def rotating_user(name: str, username: str, rotation: str, extra: str = "") -> str:
    return f"""apiVersion: dbops.dbprovision.io/v1alpha1
kind: DatabaseUser
metadata: {{name: {name}}}
spec:
  instanceRef: {{name: pg}}
  username: {username}
  passwordRotation: {rotation}
{extra}"""


def status(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    return dict((get(kubectl, "dbu", namespace, name) or {}).get("status") or {})


def rotation(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    return dict(status(kubectl, namespace, name).get("rotation") or {})


async def login(dev_env: DevEnv, username: str, password: str) -> bool:
    try:
        connection = await asyncpg.connect(
            host=dev_env.postgres.host,
            port=dev_env.postgres.port,
            user=username,
            password=password,
            database="postgres",
            timeout=10,
        )
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError):
        return False
    try:
        return bool(await connection.fetchval("SELECT current_user = $1", username))
    finally:
        await connection.close()


class Poller:
    """Logs in with the credentials Secret's current username and password, again and again, until stopped."""

    def __init__(self, kubectl: Kubectl, dev_env: DevEnv, namespace: str, secret: str, keys: tuple[str, str]) -> None:
        self.kubectl, self.dev_env, self.namespace, self.secret, self.keys = kubectl, dev_env, namespace, secret, keys
        self.attempts = 0
        self.failures: list[str] = []
        self.users: list[str] = []
        self._stop = asyncio.Event()

    def _credentials(self) -> tuple[str, str] | None:
        data = secret_data(self.kubectl, self.namespace, self.secret)
        user, password = data.get(self.keys[0]), data.get(self.keys[1])
        return (user, password) if user and password else None

    async def run(self) -> None:
        while not self._stop.is_set():
            credentials = await asyncio.to_thread(self._credentials)
            if credentials is not None:
                self.attempts += 1
                if not self.users or self.users[-1] != credentials[0]:
                    self.users.append(credentials[0])
                # Only a failure if the Secret still holds exactly these credentials afterwards.
                if (
                    not await login(self.dev_env, *credentials)
                    and await asyncio.to_thread(self._credentials) == credentials
                ):
                    self.failures.append(credentials[0])
            await asyncio.sleep(0.3)

    def stop(self) -> None:
        self._stop.set()


async def roles(superuser: Any, *names: str) -> dict[str, dict[str, Any]]:
    rows = await superuser.fetch(
        "SELECT rolname, rolcanlogin, rolinherit FROM pg_roles WHERE rolname = ANY($1::text[])", list(names)
    )
    return {r["rolname"]: dict(r) for r in rows}


async def members_of(superuser: Any, role: str) -> set[str]:
    rows = await superuser.fetch(
        "SELECT m.rolname FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid "
        "JOIN pg_roles m ON m.oid = a.member WHERE r.rolname = $1",
        role,
    )
    return {r["rolname"] for r in rows}


def rotate_count(operator: Operator, namespace: str) -> float:
    pattern = re.compile(
        r'^dbops_user_operations_total\{[^}]*operation="rotate"[^}]*\} (\S+)$',
    )
    total = 0.0
    for line in operator.metrics().splitlines():
        match = pattern.match(line)
        if match and f'namespace="{namespace}"' in line and 'status="success"' in line:
            total += float(match.group(1))
    return total


async def wait_async(predicate: Any, seconds: float, what: str) -> Any:
    """`wait_for` for predicates that need the event loop (the poller runs on it meanwhile)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        if asyncio.get_running_loop().time() >= deadline:
            pytest.fail(f"timed out after {seconds}s waiting for {what}")
        await asyncio.sleep(0.5)


async def test_max_age_rotation_switches_the_secret_and_drops_the_superseded_login(
    kubectl: Kubectl, namespace: str, ready_instance: str, dev_env: DevEnv, superuser: Any, operator: Operator
) -> None:
    username = unique("rot")
    service_role = f"svc_{username}"
    spec = "{enabled: true, maxAge: 20s, oldUserPolicy: {action: delete, gracePeriodDays: 0}}"
    kubectl("apply", "-n", namespace, "-f", "-", input=rotating_user("rot", username, spec))
    wait_for(lambda: phase(kubectl, "dbu", namespace, "rot") == "Ready", 60, "user rot to become Ready")

    # First enable: no rotation, the record starts now, the service role exists and spec.username is its member.
    first = rotation(kubectl, namespace, "rot")
    assert first["enabled"] is True and first["strategy"] == "role-inheritance"
    assert first["activeUser"] == username and first["serviceRole"] == service_role
    started = datetime.fromisoformat(first["lastRotatedAt"])
    assert (datetime.fromisoformat(first["nextRotationAt"]) - started).total_seconds() == 20
    assert not events(kubectl, namespace, "rot", "PasswordRotated")
    found = await roles(superuser, service_role)
    assert found[service_role]["rolcanlogin"] is False and found[service_role]["rolinherit"] is True
    assert username in await members_of(superuser, service_role)
    assert secret_data(kubectl, namespace, f"{username}-credentials".replace("_", "-"))["username"] == username

    secret = f"{username}-credentials".replace("_", "-")
    poller = Poller(kubectl, dev_env, namespace, secret, ("username", "password"))
    task = asyncio.create_task(poller.run())
    try:
        # Two rotations on the same UTC day: the second name collides and gets `_2` (api.md 5.11).
        await wait_async(lambda: len(events(kubectl, namespace, "rot", "PasswordRotated")) >= 2, 120, "two rotations")
        # Rotation off, so the count below is final.
        kubectl(
            "patch", "dbu", "rot", "-n", namespace, "--type=merge", "-p",
            json.dumps({"spec": {"passwordRotation": {"enabled": False}}}),
        )  # fmt: skip
        await wait_async(lambda: rotation(kubectl, namespace, "rot").get("enabled") is False, 60, "rotation off")
        # A reconcile after rotation was turned off, with its events written: no rotation can still be on its way.
        await asyncio.to_thread(reconciled_once_more, kubectl, operator, "dbu", "DatabaseUser", namespace, "rot")
    finally:
        poller.stop()
        await task

    date = datetime.now(UTC).strftime("%Y%m%d")
    rotated = [e for e in events(kubectl, namespace, "rot", "PasswordRotated")]
    assert len(rotated) == 2, [e["message"] for e in rotated]
    assert sum(e.get("count", 1) for e in rotated) == 2
    record = rotation(kubectl, namespace, "rot")
    first_login, second_login = f"{username}_{date}", f"{username}_{date}_2"
    if record["activeUser"] != second_login:  # the day changed between the two rotations
        pytest.skip("the two rotations fell on different UTC days")
    assert sorted(e["message"] for e in rotated) == sorted(
        [
            f"Rotated credentials of DatabaseUser rot: active login is now {first_login}; "
            f"previous login {username} is spec.username and is kept",
            f"Rotated credentials of DatabaseUser rot: active login is now {second_login}; "
            f"previous login {first_login} will be deleted after 0 days",
        ]
    )
    assert "pendingDeletion" not in record and "nextRotationAt" not in record
    data = secret_data(kubectl, namespace, secret)
    assert data["username"] == second_login
    assert await login(dev_env, second_login, data["password"])
    assert not any(data["password"] in e["message"] for e in events(kubectl, namespace, "rot"))
    assert not events(kubectl, namespace, "rot", "SecretUpdated")  # a rotation is announced by PasswordRotated only
    assert status(kubectl, namespace, "rot")["secret"]["lastRotatedAt"] == record["lastRotatedAt"]

    # The poller saw the Secret move from the original login to both generated ones, and never failed.
    assert poller.attempts > 20 and poller.failures == []
    assert poller.users == [username, first_login, second_login]

    # The superseded generated login was dropped after its (zero) grace period; spec.username stays.
    present = await roles(superuser, username, first_login, second_login, service_role)
    assert set(present) == {username, second_login, service_role}
    assert present[second_login]["rolcanlogin"] is True
    assert {username, second_login} <= await members_of(superuser, service_role)
    assert rotate_count(operator, namespace) == 2

    # Deleting the user drops spec.username, the generated login still recorded, and the service role it created.
    kubectl("delete", "dbu", "rot", "-n", namespace, "--wait=false")
    wait_for(lambda: get(kubectl, "dbu", namespace, "rot") is None, 60, "user rot to be deleted")
    assert await roles(superuser, username, first_login, second_login, service_role) == {}


async def test_every_minute_cron_rotates_and_disables_the_superseded_login(
    kubectl: Kubectl, namespace: str, ready_instance: str, dev_env: DevEnv, superuser: Any
) -> None:
    username = unique("cron")
    spec = (
        '{enabled: true, schedule: "* * * * *", userNaming: "{{.Username}}_{{.Timestamp}}", '
        "serviceRole: {name: " + f"{username}_svc" + "}, oldUserPolicy: {action: disable, gracePeriodDays: 0}}"
    )
    template = """  passwordSecret:
    secretName: cron-creds
    secretTemplate:
      data:
        PGUSER: "{{ .Username }}"
        PGPASSWORD: "{{ .Password }}"
"""
    kubectl("apply", "-n", namespace, "-f", "-", input=rotating_user("cron", username, spec, template))
    wait_for(lambda: phase(kubectl, "dbu", namespace, "cron") == "Ready", 60, "user cron to become Ready")
    assert rotation(kubectl, namespace, "cron")["nextRotationAt"].endswith(":00Z")

    poller = Poller(kubectl, dev_env, namespace, "cron-creds", ("PGUSER", "PGPASSWORD"))
    task = asyncio.create_task(poller.run())
    try:
        await wait_async(
            lambda: len(events(kubectl, namespace, "cron", "PasswordRotated")) >= 2, 150, "two cron rotations"
        )
        kubectl(
            "patch", "dbu", "cron", "-n", namespace, "--type=merge", "-p",
            json.dumps({"spec": {"passwordRotation": {"enabled": False}}}),
        )  # fmt: skip
        await wait_async(lambda: rotation(kubectl, namespace, "cron").get("enabled") is False, 60, "rotation off")
    finally:
        poller.stop()
        await task

    assert len(events(kubectl, namespace, "cron", "PasswordRotated")) == 2
    assert poller.failures == [] and len(poller.users) == 3 and poller.users[0] == username
    first_login, second_login = poller.users[1], poller.users[2]
    assert re.fullmatch(rf"{username}_\d{{10}}", first_login) and re.fullmatch(rf"{username}_\d{{10}}", second_login)
    # The cron slots are a minute apart, and each rotation happened at (or just after) its slot.
    assert int(second_login.rsplit("_", 1)[1]) - int(first_login.rsplit("_", 1)[1]) in range(50, 75)
    record = rotation(kubectl, namespace, "cron")
    assert record["activeUser"] == second_login and "pendingDeletion" not in record
    data = secret_data(kubectl, namespace, "cron-creds")
    assert data["PGUSER"] == second_login and await login(dev_env, second_login, data["PGPASSWORD"])
    present = await roles(superuser, first_login, second_login)
    assert present[first_login]["rolcanlogin"] is False  # disabled, kept
    assert present[second_login]["rolcanlogin"] is True

    kubectl("delete", "dbu", "cron", "-n", namespace, "--wait=false")
    wait_for(lambda: get(kubectl, "dbu", namespace, "cron") is None, 60, "user cron to be deleted")
    # The disabled login left the record when it was disabled, so it stays (behaviour.md 8.6: finished entries
    # are removed); the active one and the service role are dropped.
    remaining = await roles(superuser, username, first_login, second_login, f"{username}_svc")
    assert set(remaining) == {first_login}
    await superuser.execute(f'DROP ROLE "{first_login}"')


async def test_dual_password_is_refused_on_postgres(
    kubectl: Kubectl, namespace: str, ready_instance: str, dev_env: DevEnv, operator: Operator
) -> None:
    username = unique("dual")
    spec = "{enabled: true, strategy: dual-password, maxAge: 5s}"
    kubectl("apply", "-n", namespace, "-f", "-", input=rotating_user("dual", username, spec))
    wait_for(lambda: phase(kubectl, "dbu", namespace, "dual") == "Ready", 60, "user dual to become Ready")
    cond = wait_for(
        lambda: condition(get(kubectl, "dbu", namespace, "dual"), "OptionsHonored") or None, 30, "OptionsHonored"
    )
    assert (cond["status"], cond["reason"]) == ("False", "UnsupportedOption")
    assert "spec.passwordRotation.strategy" in cond["message"] and "role-inheritance" in cond["message"]
    # Past maxAge, counted from the operator's first look at the user at the latest (the condition's transition,
    # whole seconds), a reconcile that started after that moment still rotates nothing and reports nothing new.
    due = datetime.fromisoformat(cond["lastTransitionTime"]) + timedelta(seconds=5 + 2)
    await asyncio.to_thread(wait_until, due.timestamp(), "maxAge to pass")
    await asyncio.to_thread(reconciled_once_more, kubectl, operator, "dbu", "DatabaseUser", namespace, "dual")
    warnings = events(kubectl, namespace, "dual", "UnsupportedOption")
    assert len(warnings) == 1 and warnings[0]["type"] == "Warning" and warnings[0].get("count", 1) == 1
    assert "spec.passwordRotation.strategy" in warnings[0]["message"]
    assert "postgres" in warnings[0]["message"] and "role-inheritance" in warnings[0]["message"]
    assert not events(kubectl, namespace, "dual", "PasswordRotated")
    assert "rotation" not in status(kubectl, namespace, "dual")
    data = secret_data(kubectl, namespace, f"{username}-credentials".replace("_", "-"))
    assert data["username"] == username and await login(dev_env, username, data["password"])


async def test_invalid_schedule_is_reported_once_per_value(
    kubectl: Kubectl, namespace: str, ready_instance: str, operator: Operator
) -> None:
    username = unique("badcron")
    kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input=rotating_user("bad", username, '{enabled: true, schedule: "61 * * * *"}'),
    )
    wait_for(lambda: phase(kubectl, "dbu", namespace, "bad") == "Ready", 60, "user bad to become Ready")
    wait_for(lambda: events(kubectl, namespace, "bad", "InvalidRotationSchedule"), 30, "InvalidRotationSchedule")
    cond = condition(get(kubectl, "dbu", namespace, "bad"), "OptionsHonored")
    assert (cond["status"], cond["reason"]) == ("False", "InvalidOptionValue")
    assert "spec.passwordRotation.schedule" in cond["message"]
    # More reconciles (an annotation the operator reads wakes it) do not repeat the event.
    for value in ("a", "b", "c"):
        kubectl(
            "annotate",
            "dbu",
            "bad",
            "-n",
            namespace,
            "--overwrite",
            f"dbops.dbprovision.io/allow-destructive-drift={value}",
        )
    # Evidence that the operator looked again after them, with every event it emitted by then written.
    await asyncio.to_thread(reconciled_once_more, kubectl, operator, "dbu", "DatabaseUser", namespace, "bad")
    warnings = events(kubectl, namespace, "bad", "InvalidRotationSchedule")
    assert len(warnings) == 1 and warnings[0].get("count", 1) == 1 and warnings[0]["type"] == "Warning"
    assert '"61 * * * *"' in warnings[0]["message"] and "scheduled rotation is off" in warnings[0]["message"]
    assert phase(kubectl, "dbu", namespace, "bad") == "Ready"
    assert "nextRotationAt" not in rotation(kubectl, namespace, "bad")

    # Another invalid value is a new state: one more event. Fixing it clears the condition.
    kubectl(
        "patch",
        "dbu",
        "bad",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"passwordRotation": {"schedule": "@daily"}}}),
    )
    wait_for(lambda: len(events(kubectl, namespace, "bad", "InvalidRotationSchedule")) == 2, 30, "a second event")
    kubectl(
        "patch",
        "dbu",
        "bad",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"passwordRotation": {"schedule": "0 3 * * *"}}}),
    )
    wait_for(
        lambda: condition(get(kubectl, "dbu", namespace, "bad"), "OptionsHonored").get("status") == "True",
        30,
        "OptionsHonored to become True",
    )
    assert rotation(kubectl, namespace, "bad")["nextRotationAt"].endswith("T03:00:00Z")
    assert len(events(kubectl, namespace, "bad", "InvalidRotationSchedule")) == 2


async def test_missing_service_role_without_auto_create_waits(
    kubectl: Kubectl, namespace: str, ready_instance: str, superuser: Any
) -> None:
    username = unique("norole")
    role = f"{username}_given"
    spec = "{enabled: true, maxAge: 1h, serviceRole: {name: " + role + ", autoCreate: false}}"
    kubectl("apply", "-n", namespace, "-f", "-", input=rotating_user("norole", username, spec))
    wait_for(lambda: phase(kubectl, "dbu", namespace, "norole") == "Pending", 60, "user norole to wait")
    cond = condition(get(kubectl, "dbu", namespace, "norole"), "Ready")
    assert cond["reason"] == "DependencyNotReady" and role in cond["message"]
    failed = wait_for(lambda: events(kubectl, namespace, "norole", "RotationFailed"), 30, "RotationFailed")
    assert len(failed) == 1 and role in failed[0]["message"]
    await superuser.execute(f'CREATE ROLE "{role}" NOLOGIN')
    try:
        kubectl("annotate", "dbu", "norole", "-n", namespace, "dbops.dbprovision.io/allow-destructive-drift=x")
        wait_for(lambda: phase(kubectl, "dbu", namespace, "norole") == "Ready", 60, "user norole to become Ready")
        assert username in await members_of(superuser, role)
        assert len(events(kubectl, namespace, "norole", "RotationFailed")) == 1
        kubectl("delete", "dbu", "norole", "-n", namespace, "--wait=false")
        wait_for(lambda: get(kubectl, "dbu", namespace, "norole") is None, 60, "user norole to be deleted")
        # Not created by the operator: kept.
        assert set(await roles(superuser, role, username)) == {role}
    finally:
        await superuser.execute(f'DROP ROLE IF EXISTS "{role}"')


async def test_a_superseded_login_owning_objects_is_blocked_until_they_are_reassigned(
    kubectl: Kubectl, namespace: str, ready_instance: str, superuser: Any
) -> None:
    username = unique("own")
    service_role = f"svc_{username}"
    spec = '{enabled: true, maxAge: 15s, userNaming: "{{.Username}}_g", oldUserPolicy: {gracePeriodDays: 0}}'
    kubectl("apply", "-n", namespace, "-f", "-", input=rotating_user("own", username, spec))
    wait_for(lambda: rotation(kubectl, namespace, "own").get("activeUser") == f"{username}_g", 90, "a rotation")
    first_login = f"{username}_g"
    table = unique("kept")
    await superuser.execute(f'CREATE TABLE public."{table}" (id int)')
    try:
        await superuser.execute(f'ALTER TABLE public."{table}" OWNER TO "{first_login}"')
        # The next rotation supersedes it; its grace period is zero, but it owns a table: blocked, not dropped.
        wait_for(
            lambda: (
                [e.get("status") for e in rotation(kubectl, namespace, "own").get("pendingDeletion") or []]
                == ["blocked"]
            ),
            90,
            "the superseded login to be blocked",
        )
        kubectl(
            "patch", "dbu", "own", "-n", namespace, "--type=merge", "-p",
            json.dumps({"spec": {"passwordRotation": {"enabled": False}}}),
        )  # fmt: skip
        entry = rotation(kubectl, namespace, "own")["pendingDeletion"][0]
        assert entry["user"] == first_login
        assert entry["ownedObjects"] == [{"database": "postgres", "schema": "public", "name": table, "type": "table"}]
        assert f'REASSIGN OWNED BY "{first_login}" TO "{service_role}"' in entry["resolution"]
        assert first_login in await roles(superuser, first_login)
        assert phase(kubectl, "dbu", namespace, "own") == "Ready"
    finally:
        await superuser.execute(f'DROP TABLE public."{table}"')
    # Re-checked on the next reconcile (an annotation the operator reads wakes it): nothing owned any more, dropped.
    kubectl("annotate", "dbu", "own", "-n", namespace, "dbops.dbprovision.io/allow-destructive-drift=x")
    wait_for(lambda: "pendingDeletion" not in rotation(kubectl, namespace, "own"), 60, "the entry to be finished")
    assert first_login not in await roles(superuser, first_login)
    kubectl("delete", "dbu", "own", "-n", namespace, "--wait=false")
    wait_for(lambda: get(kubectl, "dbu", namespace, "own") is None, 60, "user own to be deleted")
    assert await roles(superuser, username, service_role, f"{first_login}_2") == {}


async def test_an_active_generated_login_dropped_out_of_band_is_recreated(
    kubectl: Kubectl, namespace: str, ready_instance: str, dev_env: DevEnv, superuser: Any
) -> None:
    username = unique("back")
    spec = '{enabled: true, maxAge: 10s, userNaming: "{{.Username}}_a"}'
    kubectl("apply", "-n", namespace, "-f", "-", input=rotating_user("back", username, spec))
    wait_for(lambda: rotation(kubectl, namespace, "back").get("activeUser") == f"{username}_a", 90, "a rotation")
    kubectl(
        "patch", "dbu", "back", "-n", namespace, "--type=merge", "-p",
        json.dumps({"spec": {"passwordRotation": {"enabled": False}}}),
    )  # fmt: skip
    wait_for(lambda: rotation(kubectl, namespace, "back").get("enabled") is False, 60, "rotation off")
    active = rotation(kubectl, namespace, "back")["activeUser"]
    data = secret_data(kubectl, namespace, f"{username}-credentials".replace("_", "-"))
    assert data["username"] == active and await login(dev_env, active, data["password"])

    await superuser.execute(f'DROP ROLE "{active}"')
    kubectl("annotate", "dbu", "back", "-n", namespace, "dbops.dbprovision.io/allow-destructive-drift=x")
    recreated = wait_for(
        lambda: [e for e in events(kubectl, namespace, "back", "Created") if active in e["message"]], 60, "recreation"
    )
    assert recreated[0]["message"] == (f"Recreated user {active} on instance pg; it had disappeared from the server")
    # Same Secret, same credentials: they work again, and the login is back in the service role.
    assert secret_data(kubectl, namespace, f"{username}-credentials".replace("_", "-")) == data
    assert await login(dev_env, active, data["password"])
    assert active in await members_of(superuser, f"svc_{username}")
    kubectl("delete", "dbu", "back", "-n", namespace, "--wait=false")
    wait_for(lambda: get(kubectl, "dbu", namespace, "back") is None, 60, "user back to be deleted")
    assert await roles(superuser, username, active, f"svc_{username}") == {}


async def test_grants_of_a_rotating_user_go_to_its_service_role(
    kubectl: Kubectl, namespace: str, ready_instance: str, dev_env: DevEnv, superuser: Any
) -> None:
    username, granted = unique("gr"), unique("perm")
    service_role = f"svc_{username}"
    await superuser.execute(f'CREATE ROLE "{granted}" NOLOGIN')
    await superuser.execute(f'GRANT "{granted}" TO "{dev_env.postgres.admin_user}" WITH ADMIN OPTION')
    try:
        kubectl("apply", "-n", namespace, "-f", "-", input=rotating_user("gr", username, "{enabled: false}"))
        wait_for(lambda: phase(kubectl, "dbu", namespace, "gr") == "Ready", 60, "user gr to become Ready")
        grant = f"""apiVersion: dbops.dbprovision.io/v1alpha1
kind: DatabaseGrant
metadata: {{name: gr}}
spec:
  userRef: {{name: gr}}
  deletionProtection: false
  postgres:
    roles: [{granted}]
"""
        kubectl("apply", "-n", namespace, "-f", "-", input=grant)
        wait_for(lambda: phase(kubectl, "dbg", namespace, "gr") == "Ready", 60, "grant gr to become Ready")
        assert username in await members_of(superuser, granted)

        # Rotation on: the grant follows the user to its service role, and a generated login inherits it.
        kubectl(
            "patch", "dbu", "gr", "-n", namespace, "--type=merge", "-p",
            json.dumps({"spec": {"passwordRotation": {"enabled": True, "maxAge": "10s"}}}),
        )  # fmt: skip
        for _ in range(120):  # the grant is woken by the user's new status.rotation.serviceRole
            if service_role in await members_of(superuser, granted):
                break
            await asyncio.sleep(0.5)
        assert service_role in await members_of(superuser, granted)
        wait_for(lambda: rotation(kubectl, namespace, "gr").get("activeUser") != username, 60, "a rotation")
        active = rotation(kubectl, namespace, "gr")["activeUser"]
        assert await superuser.fetchval("SELECT pg_has_role($1, $2, 'USAGE')", active, granted)
        kubectl("delete", "dbg", "gr", "-n", namespace, "--wait=false")
        wait_for(lambda: get(kubectl, "dbg", namespace, "gr") is None, 60, "grant gr to be deleted")
        assert service_role not in await members_of(superuser, granted)
        kubectl("delete", "dbu", "gr", "-n", namespace, "--wait=false")
        wait_for(lambda: get(kubectl, "dbu", namespace, "gr") is None, 60, "user gr to be deleted")
    finally:
        await superuser.execute(f'DROP ROLE IF EXISTS "{granted}"')
