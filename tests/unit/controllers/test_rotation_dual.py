"""The dual-password strategy of `RotationFlow` (behaviour.md 8.6) against a scripted engine capability: pure flow
logic (ordering, status, events, undo), no server. What the statements are is tested in
tests/unit/sql/test_mysql_rotation.py; that a real server refuses or honours them, in the e2e tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from dbops.api.user import DatabaseUser
from dbops.controllers import rotation as rot
from dbops.controllers.base import KindReconciler, StatusDraft
from dbops.controllers.rotation_flow import NOT_WITHDRAWN, RotationFailure, RotationFlow
from dbops.engines.base import EngineError
from dbops.engines.connection import ConnectionSettings
from dbops.engines.mysql.adapter import MySQLAdapter
from dbops.engines.rotation import DualPasswordSupport

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
ADAPTER = MySQLAdapter(
    ConnectionSettings(engine="mysql", host="127.0.0.1", port=1, username="a", password="p", database="")
)
INSTANCE = SimpleNamespace(engine="mysql", name="my", target=SimpleNamespace(key="ns/my"))
CURRENT = "current-pw"


class Engine:
    """A scripted `DualPasswordAdapter`: records what was asked, fails where told."""

    def __init__(self, *, available: bool = True, server: str = "MySQL 8.0.36") -> None:
        self.support_value = DualPasswordSupport(available=available, server=server)
        self.calls: list[tuple[str, ...]] = []
        self.fail: set[str] = set()

    async def support(self) -> DualPasswordSupport:
        self.calls.append(("support",))
        return self.support_value

    async def _call(self, *call: str) -> None:
        self.calls.append(call)
        if call[0] in self.fail:
            raise EngineError(f"{call[0]} refused")

    async def rotate_password(self, name: str, password: str) -> None:
        await self._call("rotate", name, password)

    async def restore_password(self, name: str, password: str) -> None:
        await self._call("restore", name, password)

    async def discard_old_password(self, name: str) -> None:
        await self._call("discard", name)


class Host:
    """The reconciler as the flow sees it: events, operation slots, status patches, metrics."""

    def __init__(self) -> None:
        self.info = SimpleNamespace(kind="DatabaseUser")
        self.resource = "databaseusers"
        self.events: list[tuple[str, str]] = []
        self.patches: list[dict[str, Any]] = []
        self.slots = 0
        self.outcomes: list[tuple[str, ...]] = []
        host = self

        @contextlib.asynccontextmanager
        async def operation(key: str) -> AsyncIterator[None]:
            host.slots += 1
            yield

        async def patch_status(resource: str, name: str, body: dict[str, Any], namespace: str | None) -> None:
            host.patches.append(body)

        class Counter:
            def __init__(self, labels: tuple[str, ...]) -> None:
                self.labels_ = labels

            def inc(self) -> None:
                host.outcomes.append(self.labels_)

        self.ctx = SimpleNamespace(
            servers=SimpleNamespace(operation=operation),
            client=SimpleNamespace(patch_status=patch_status),
            metrics=SimpleNamespace(user_operations=SimpleNamespace(labels=lambda *a: Counter(a))),
        )

    def warning(self, raw: Any, reason: str, message: str, rid: str) -> None:
        self.events.append((reason, message))

    def normal(self, raw: Any, reason: str, message: str) -> None:
        self.events.append((reason, message))

    say_due = KindReconciler.say_due
    """The reconciler's own rule: announcements are said with the status write that records them."""


def make(
    rotation: dict[str, Any] | None,
    status: dict[str, Any] | None = None,
    *,
    engine: Engine | None = None,
    now: datetime = NOW,
    unsupported: list[str] | None = None,
) -> tuple[Host, StatusDraft, RotationFlow, Engine]:
    spec: dict[str, Any] = {"instanceRef": {"name": "my"}, "username": "app"}
    if rotation is not None:
        spec["passwordRotation"] = rotation
    raw: dict[str, Any] = {
        "apiVersion": "dbops.dbprovision.io/v1alpha1",
        "kind": "DatabaseUser",
        "metadata": {"name": "app", "namespace": "ns", "generation": 1},
        "spec": spec,
        "status": status or {},
    }
    obj = DatabaseUser.model_validate(raw)
    host, draft = Host(), StatusDraft(raw["status"], 1)
    flow = RotationFlow(host, obj, raw, draft, "abcd1234", INSTANCE, ADAPTER, now=now)  # type: ignore[arg-type]
    scripted = engine or Engine()
    flow.dual = scripted
    return host, draft, flow, scripted


DUAL = {"enabled": True, "strategy": "dual-password", "schedule": "0 3 * * *"}


async def start(
    rotation: dict[str, Any], status: dict[str, Any] | None = None, **kwargs: Any
) -> tuple[Host, StatusDraft, RotationFlow, Engine]:
    """One reconcile up to the rotation step: detect, options, prepare."""
    host, draft, flow, engine = make(rotation, status, **kwargs)
    await flow.detect()
    flow.report_options(kwargs.get("unsupported") or [])
    host.say_due(flow.raw, draft, "abcd1234")  # the write at the reconcile's end
    await flow.prepare()
    return host, draft, flow, engine


def options(draft: StatusDraft) -> dict[str, Any]:
    return next(c for c in draft.data["conditions"] if c["type"] == "OptionsHonored")


class Secrets:
    def __init__(self, *, fail: int = 0) -> None:
        self.writes: list[tuple[str, str]] = []
        self.fail = fail

    async def __call__(self, username: str, password: str) -> None:
        self.writes.append((username, password))
        if self.fail:
            self.fail -= 1
            raise RuntimeError("secret write refused")


# Capability -----------------------------------------------------------------------------------------------------


async def test_dual_password_on_a_supporting_server_honours_every_option() -> None:
    host, draft, flow, engine = await start(DUAL)
    assert options(draft)["status"] == "True" and host.events == []
    assert flow.rotating and flow.dual_password and not flow.inheriting
    record = draft.data["rotation"]
    assert record["strategy"] == "dual-password" and record["activeUser"] == "app"
    assert record["lastRotatedAt"] == rot.format_time(NOW) and "serviceRole" not in record
    assert record["nextRotationAt"] == "2026-03-02T03:00:00Z"
    assert engine.calls == [("support",)]  # prepare makes no service role, touches nothing


async def test_mariadb_refuses_the_strategy_naming_the_field_engine_and_version_once() -> None:
    engine = Engine(available=False, server="MariaDB 10.11.6")
    host, draft, flow, _ = await start(DUAL, engine=engine, unsupported=["spec.passwordRotation.strategy"])
    cond = options(draft)
    assert (cond["status"], cond["reason"]) == ("False", "UnsupportedOption")
    assert cond["message"].startswith("spec.passwordRotation.strategy; ")
    assert "MariaDB 10.11.6" in cond["message"] and "role-inheritance" in cond["message"]
    assert [r for r, _ in host.events] == ["UnsupportedOption"]
    assert "spec.passwordRotation.strategy" in host.events[0][1]
    assert not flow.rotating and "rotation" not in draft.data
    assert not flow.due()
    assert await flow.rotate(Secrets(), CURRENT) is False
    assert engine.calls == [("support",)]

    again, _, flow2, _ = await start(
        DUAL, {"conditions": draft.data["conditions"]}, engine=engine, unsupported=["spec.passwordRotation.strategy"]
    )
    assert again.events == [] and not flow2.rotating


async def test_a_refusal_by_the_adapter_report_alone_also_stops_rotation() -> None:
    """Whatever is reported as not applied is not done, even when only the adapter's report says so."""
    _, draft, flow, _ = await start(DUAL, unsupported=["spec.passwordRotation.strategy"])
    assert options(draft)["reason"] == "UnsupportedOption" and not flow.rotating


async def test_role_inheritance_on_mysql_stays_reported_unsupported() -> None:
    host, draft, flow, engine = await start({"enabled": True, "schedule": "0 3 * * *"})
    assert options(draft)["reason"] == "UnsupportedOption" and "spec.passwordRotation (mysql)" in host.events[0][1]
    assert not flow.rotating and engine.calls == []


# Rotation -------------------------------------------------------------------------------------------------------


def due_status(**extra: Any) -> dict[str, Any]:
    last = NOW - timedelta(days=2)
    return {"rotation": {"enabled": True, "strategy": "dual-password", "lastRotatedAt": rot.format_time(last)}, **extra}


async def test_a_due_rotation_retains_the_old_password_rewrites_the_secret_and_records_the_discard_time() -> None:
    config = {**DUAL, "mysql": {"discardOldPasswordAfterDays": 3}}
    host, draft, flow, engine = await start(config, due_status())
    assert flow.due()
    secrets = Secrets()
    assert await flow.rotate(secrets, CURRENT) is True
    (rotate,) = [c for c in engine.calls if c[0] == "rotate"]
    assert rotate[1] == "app" and rotate[2] not in (CURRENT, "") and len(rotate[2]) == 32
    assert secrets.writes == [("app", rotate[2])]  # same username, the new password
    record = draft.data["rotation"]
    assert record["lastRotatedAt"] == rot.format_time(NOW) and record["activeUser"] == "app"
    assert record["oldPasswordDiscardAt"] == rot.format_time(NOW + timedelta(days=3))
    assert record["nextRotationAt"] == "2026-03-02T03:00:00Z"  # from the rotation time, not the missed slots
    assert host.patches == [
        {"status": {"rotation": record, "secret": {"lastRotatedAt": rot.format_time(NOW)}}},
    ]
    assert host.events == [
        (
            "PasswordRotated",
            "Rotated the password of app keeping the previous one until 2026-03-04T12:00:00Z (dual-password)",
        )
    ]
    assert rotate[2] not in str(host.events) and rotate[2] not in str(host.patches)
    assert host.outcomes == [("rotate", "mysql", "success", "ns")]


async def test_nothing_happens_before_the_next_slot() -> None:
    status = {"rotation": {"enabled": True, "strategy": "dual-password", "lastRotatedAt": rot.format_time(NOW)}}
    host, _, flow, engine = await start(DUAL, status)
    assert not flow.due()
    assert await flow.rotate(Secrets(), CURRENT) is False
    await flow.superseded(recheck_blocked=True)
    assert engine.calls == [("support",)] and host.events == [] and host.patches == []


async def test_a_refused_rotation_is_a_rotation_failure_and_the_secret_is_untouched() -> None:
    engine = Engine()
    engine.fail.add("rotate")
    host, draft, flow, _ = await start(DUAL, due_status(), engine=engine)
    secrets = Secrets()
    with pytest.raises(RotationFailure, match=r"^password rotation failed: rotate refused$"):
        await flow.rotate(secrets, CURRENT)
    assert secrets.writes == [] and host.patches == [] and host.events == []
    assert "oldPasswordDiscardAt" not in draft.data["rotation"]
    assert host.outcomes == [("rotate", "mysql", "failure", "ns")]


async def test_a_failed_secret_write_makes_the_secret_password_primary_again() -> None:
    host, _, flow, engine = await start(DUAL, due_status())
    secrets = Secrets(fail=1)
    with pytest.raises(RuntimeError):
        await flow.rotate(secrets, CURRENT)
    new = next(c[2] for c in engine.calls if c[0] == "rotate")
    assert [c[0] for c in engine.calls] == ["support", "rotate", "restore"]
    assert engine.calls[-1] == ("restore", "app", CURRENT)
    assert secrets.writes == [("app", new), ("app", CURRENT)]
    assert host.patches == [] and host.events == []


async def test_when_the_undo_fails_too_the_retry_starts_with_it() -> None:
    engine = Engine()
    engine.fail.add("restore")
    _, _, flow, _ = await start(DUAL, due_status(), engine=engine)
    with pytest.raises(RotationFailure) as info:
        await flow.rotate(Secrets(fail=2), CURRENT)
    message = str(info.value)
    assert message.endswith(NOT_WITHDRAWN) and "RuntimeError" in message
    assert CURRENT not in message

    # The controller keeps the message in Synced; the next reconcile first restores, then rotates.
    retry = Engine()
    synced = {
        "type": "Synced",
        "status": "False",
        "reason": "ReconcileFailed",
        "message": f"{message}; in sync",
        "lastTransitionTime": "2026-03-01T11:00:00Z",
    }
    _, _, flow2, _ = await start(DUAL, due_status(conditions=[synced]), engine=retry)
    assert await flow2.rotate(Secrets(), CURRENT) is True
    assert [c[0] for c in retry.calls] == ["support", "restore", "rotate"]
    assert retry.calls[1] == ("restore", "app", CURRENT)


# Discarding the retained password --------------------------------------------------------------------------------


async def test_the_old_password_is_discarded_once_when_its_time_has_come() -> None:
    status = due_status()
    status["rotation"].update(
        lastRotatedAt=rot.format_time(NOW - timedelta(hours=1)),
        oldPasswordDiscardAt=rot.format_time(NOW + timedelta(seconds=30)),
    )
    _, draft, flow, engine = await start(DUAL, status)
    await flow.superseded(recheck_blocked=True)
    assert [c for c in engine.calls if c[0] == "discard"] == []
    assert flow.requeue_after(3600) <= 30

    later = NOW + timedelta(minutes=1)
    _, draft, flow, engine = await start(DUAL, status, now=later)
    await flow.superseded(recheck_blocked=True)
    assert [c for c in engine.calls if c[0] == "discard"] == [("discard", "app")]
    assert "oldPasswordDiscardAt" not in draft.data["rotation"]

    _, _, flow, engine = await start(DUAL, {"rotation": draft.data["rotation"]}, now=later)
    await flow.superseded(recheck_blocked=True)
    assert [c for c in engine.calls if c[0] == "discard"] == []


async def test_a_retained_password_is_discarded_even_after_rotation_was_switched_off() -> None:
    status = due_status()
    status["rotation"]["oldPasswordDiscardAt"] = rot.format_time(NOW - timedelta(seconds=1))
    _, draft, flow, engine = await start({**DUAL, "enabled": False}, status)
    assert not flow.rotating
    await flow.superseded(recheck_blocked=True)
    assert ("discard", "app") in engine.calls
    record = draft.data["rotation"]
    assert record["enabled"] is False and "oldPasswordDiscardAt" not in record


async def test_a_failed_discard_is_a_rotation_failure_and_stays_due() -> None:
    engine = Engine()
    engine.fail.add("discard")
    status = due_status()
    status["rotation"]["oldPasswordDiscardAt"] = rot.format_time(NOW - timedelta(seconds=1))
    _, draft, flow, _ = await start(DUAL, status, engine=engine)
    with pytest.raises(RotationFailure, match="discarding the old password of app: discard refused"):
        await flow.superseded(recheck_blocked=True)
    assert draft.data["rotation"]["oldPasswordDiscardAt"] == status["rotation"]["oldPasswordDiscardAt"]


async def test_a_server_without_dual_passwords_discards_nothing() -> None:
    engine = Engine(available=False, server="MariaDB 10.11.6")
    status = due_status()
    status["rotation"]["oldPasswordDiscardAt"] = rot.format_time(NOW - timedelta(seconds=1))
    _, draft, flow, _ = await start(DUAL, status, engine=engine, unsupported=["spec.passwordRotation.strategy"])
    await flow.superseded(recheck_blocked=True)
    assert [c for c in engine.calls if c[0] == "discard"] == []
    assert "oldPasswordDiscardAt" not in draft.data["rotation"]


# Pure helpers ---------------------------------------------------------------------------------------------------


def test_status_after_dual_rotation_and_discard_due() -> None:
    obj = DatabaseUser.model_validate(
        {
            "apiVersion": "dbops.dbprovision.io/v1alpha1",
            "kind": "DatabaseUser",
            "metadata": {"name": "app", "namespace": "ns"},
            "spec": {"instanceRef": {"name": "my"}, "username": "app", "passwordRotation": {**DUAL, "maxAge": "1h"}},
        }
    )
    settings = rot.settings_of(obj.spec)
    assert settings is not None and settings.discard_days == 7
    earlier = {"activeUser": "app", "oldPasswordDiscardAt": "2026-01-01T00:00:00Z", "serviceRole": "svc_app"}
    record = rot.status_after_dual_rotation(earlier, settings, NOW)
    assert record["oldPasswordDiscardAt"] == "2026-03-08T12:00:00Z"  # a newer retained password replaces the old
    assert record["nextRotationAt"] == "2026-03-01T13:00:00Z" and record["serviceRole"] == "svc_app"
    assert not rot.discard_due(record, NOW)
    assert rot.discard_due(record, NOW + timedelta(days=7))
    assert rot.discard_due({"oldPasswordDiscardAt": "garbled"}, NOW)
    assert not rot.discard_due({}, NOW) and not rot.discard_due(None, NOW)
