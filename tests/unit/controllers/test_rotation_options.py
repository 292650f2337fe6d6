"""Rotation's part of OptionsHonored and its Warning events (api.md 1.5, 5.11; observability.md): each problem is
announced once, when it appears or its value changes, with the condition message as the memory."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from dbops.api.user import DatabaseUser
from dbops.controllers.base import KindReconciler, StatusDraft
from dbops.controllers.rotation_flow import RotationFlow
from dbops.engines.connection import ConnectionSettings
from dbops.engines.postgres.adapter import PostgresAdapter


class Host:
    """Records events the way the reconciler's recorder would receive them."""

    def __init__(self) -> None:
        self.info = SimpleNamespace(kind="DatabaseUser")
        self.events: list[tuple[str, str]] = []

    def warning(self, raw: Any, reason: str, message: str, rid: str) -> None:
        self.events.append((reason, f"[{rid}] {message}"))

    def normal(self, raw: Any, reason: str, message: str) -> None:
        self.events.append((reason, message))

    say_due = KindReconciler.say_due
    """The reconciler's own rule: announcements are said with the status write that records them."""


ADAPTER = PostgresAdapter(
    ConnectionSettings(engine="postgres", host="127.0.0.1", port=1, username="a", password="p", database="postgres")
)
INSTANCE = SimpleNamespace(engine="postgres", name="pg")


def user(rotation: dict[str, Any] | None, status: dict[str, Any] | None = None) -> tuple[DatabaseUser, dict[str, Any]]:
    spec: dict[str, Any] = {"instanceRef": {"name": "pg"}, "username": "app"}
    if rotation is not None:
        spec["passwordRotation"] = rotation
    raw = {
        "apiVersion": "dbops.dbprovision.io/v1alpha1",
        "kind": "DatabaseUser",
        "metadata": {"name": "app", "namespace": "ns", "generation": 1},
        "spec": spec,
        "status": status or {},
    }
    return DatabaseUser.model_validate(raw), raw


def report(
    rotation: dict[str, Any] | None, status: dict[str, Any] | None = None, unsupported: list[str] | None = None
) -> tuple[Host, StatusDraft, RotationFlow]:
    obj, raw = user(rotation, status)
    host, draft = Host(), StatusDraft(raw["status"], 1)
    flow = RotationFlow(host, obj, raw, draft, "abcd1234", INSTANCE, ADAPTER)  # type: ignore[arg-type]
    flow.report_options(unsupported or [])
    host.say_due(raw, draft, "abcd1234")  # the write at the reconcile's end
    return host, draft, flow


def options(draft: StatusDraft) -> dict[str, Any]:
    return next(c for c in draft.data["conditions"] if c["type"] == "OptionsHonored")


def test_a_valid_rotation_honours_every_option() -> None:
    host, draft, flow = report({"enabled": True, "schedule": "0 3 * * *"})
    assert options(draft)["status"] == "True" and host.events == []
    assert flow.rotating


def test_an_invalid_schedule_is_announced_once() -> None:
    host, draft, flow = report({"enabled": True, "schedule": "61 * * * *"})
    cond = options(draft)
    assert (cond["status"], cond["reason"]) == ("False", "InvalidOptionValue")
    assert cond["message"] == "spec.passwordRotation.schedule '61 * * * *'"
    assert [r for r, _ in host.events] == ["InvalidRotationSchedule"]
    message = host.events[0][1]
    assert message.startswith('[abcd1234] Rotation schedule "61 * * * *" of DatabaseUser app is invalid: ')
    assert message.endswith("; scheduled rotation is off until it is fixed")
    assert flow.rotating  # the user stays otherwise Ready; status.rotation is still kept

    again, draft2, _ = report({"enabled": True, "schedule": "61 * * * *"}, {"conditions": draft.data["conditions"]})
    assert again.events == [] and options(draft2) == cond

    changed, _, _ = report({"enabled": True, "schedule": "@daily"}, {"conditions": draft.data["conditions"]})
    assert [r for r, _ in changed.events] == ["InvalidRotationSchedule"]


def test_an_unusable_max_age_and_a_missing_trigger_are_invalid_option_values() -> None:
    host, draft, _ = report({"enabled": True, "schedule": "0 3 * * *", "maxAge": "soon"})
    assert options(draft)["reason"] == "InvalidOptionValue"
    assert [r for r, _ in host.events] == ["InvalidOptionValue"]
    assert "spec.passwordRotation.maxAge 'soon'" in host.events[0][1]

    host, draft, _ = report({"enabled": True})
    assert options(draft)["message"] == "spec.passwordRotation (enabled without schedule or maxAge)"
    assert [r for r, _ in host.events] == ["InvalidOptionValue"]


def test_dual_password_on_postgres_is_unsupported_with_a_recommendation() -> None:
    fields = ADAPTER.unsupported_user_fields(
        user({"enabled": True, "strategy": "dual-password", "maxAge": "1d"})[0].spec, None
    )
    host, draft, flow = report({"enabled": True, "strategy": "dual-password", "maxAge": "1d"}, unsupported=fields)
    cond = options(draft)
    assert (cond["status"], cond["reason"]) == ("False", "UnsupportedOption")
    assert cond["message"].startswith("spec.passwordRotation.strategy; ")
    assert "role-inheritance" in cond["message"] and "postgres" in cond["message"]
    assert [r for r, _ in host.events] == ["UnsupportedOption"]
    assert "spec.passwordRotation.strategy" in host.events[0][1] and "role-inheritance" in host.events[0][1]
    assert not flow.rotating

    again, _, _ = report(
        {"enabled": True, "strategy": "dual-password", "maxAge": "1d"},
        {"conditions": draft.data["conditions"]},
        unsupported=fields,
    )
    assert again.events == []


def test_an_unsupported_field_and_an_invalid_schedule_are_both_kept() -> None:
    host, draft, _ = report({"enabled": True, "schedule": "bad"}, unsupported=["spec.passwordSecret.format"])
    cond = options(draft)
    assert cond["reason"] == "UnsupportedOption"
    assert cond["message"] == "spec.passwordSecret.format; spec.passwordRotation.schedule 'bad'"
    assert sorted(r for r, _ in host.events) == ["InvalidRotationSchedule", "UnsupportedOption"]
    # The schedule gets fixed: the unsupported field was already announced, so nothing new.
    again, draft2, _ = report(
        {"enabled": True, "schedule": "0 3 * * *"},
        {"conditions": draft.data["conditions"]},
        unsupported=["spec.passwordSecret.format"],
    )
    assert again.events == [] and options(draft2)["message"] == "spec.passwordSecret.format"


def test_no_rotation_block_reports_only_the_engine_fields() -> None:
    host, draft, flow = report(None)
    assert options(draft)["status"] == "True" and host.events == [] and not flow.rotating
    assert flow.active_user == "app"


def test_the_active_user_comes_from_status() -> None:
    _, _, flow = report({"enabled": True, "maxAge": "1d"}, {"rotation": {"activeUser": "app_20260101"}})
    assert flow.active_user == "app_20260101"
