"""Rotation as data (behaviour.md 8.6, api.md 5.11): schedules, maxAge, due times, names, status.rotation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dbops.api.user import DatabaseUserSpec
from dbops.controllers.rotation import (
    ScheduleError,
    active_user,
    disabled_status,
    due_entries,
    format_time,
    grantee_name,
    initial_status,
    is_due,
    name_candidates,
    next_rotation_at,
    next_slot,
    next_timer,
    parse_cron,
    parse_max_age,
    parse_time,
    render_name,
    rotated_accounts,
    settings_of,
    status_after_rotation,
    supersede,
)

NOW = datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC)


def spec(username: str = "app", **rotation: Any) -> DatabaseUserSpec:
    body: dict[str, Any] = {"instanceRef": {"name": "pg"}, "username": username}
    if rotation:
        body["passwordRotation"] = {"enabled": True, **rotation}
    return DatabaseUserSpec.model_validate(body)


# Schedule -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["* * * * *", "0 3 * * *", "*/15 0-6 1,15 jan-jun mon-fri", "  0  3 * *   SUN ", "30 2 1 * 1"],
)
def test_five_field_cron_expressions_are_accepted(text: str) -> None:
    assert parse_cron(text) == " ".join(text.split())


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("@daily", "@-descriptors"),
        ("0 0 * * * *", "6 fields"),
        ("0 0 * *", "4 fields"),
        ("61 * * * *", None),
        ("* 25 * * *", None),
        ("not a cron at all", None),
    ],
)
def test_invalid_cron_expressions_are_refused_with_a_reason(text: str, problem: str | None) -> None:
    with pytest.raises(ScheduleError, match=problem):
        parse_cron(text)


def test_next_slot_is_strictly_after_and_in_utc() -> None:
    assert next_slot("0 3 * * *", NOW) == datetime(2026, 3, 15, 3, 0, tzinfo=UTC)
    exactly = datetime(2026, 3, 15, 3, 0, tzinfo=UTC)
    assert next_slot("0 3 * * *", exactly) == datetime(2026, 3, 16, 3, 0, tzinfo=UTC)
    other_zone = NOW.astimezone(timedelta_zone(5))
    assert next_slot("0 3 * * *", other_zone) == datetime(2026, 3, 15, 3, 0, tzinfo=UTC)


def timedelta_zone(hours: int) -> Any:
    from datetime import timezone

    return timezone(timedelta(hours=hours))


def test_either_day_field_may_match_when_both_are_restricted() -> None:
    # The 13th of the month OR a Friday: 2026-03-14 is a Saturday, so the next is Friday the 20th ... unless the 13th
    # of April comes first (it does not).
    assert next_slot("0 0 13 * 5", NOW) == datetime(2026, 3, 20, tzinfo=UTC)


# maxAge -------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90d", 90 * 86400), ("7d12h", 7 * 86400 + 12 * 3600), ("36h", 36 * 3600), ("30s", 30), ("1.5h", 5400)],
)
def test_max_age_accepts_days_and_go_units(text: str, seconds: float) -> None:
    assert parse_max_age(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "7", "d", "7 d", "1w", "0d", "0s", "-1d", "7d garbage"])
def test_max_age_refuses_what_is_not_a_positive_extended_duration(text: str) -> None:
    with pytest.raises(ValueError):
        parse_max_age(text)


# Settings -----------------------------------------------------------------------------------------------------------


def test_disabled_or_absent_rotation_has_no_settings() -> None:
    assert settings_of(spec()) is None
    disabled = DatabaseUserSpec.model_validate(
        {"instanceRef": {"name": "pg"}, "username": "app", "passwordRotation": {"enabled": False, "maxAge": "1d"}}
    )
    assert settings_of(disabled) is None


def test_defaults_are_resolved() -> None:
    settings = settings_of(spec(schedule="0 3 * * *"))
    assert settings is not None
    assert settings.strategy == "role-inheritance"
    assert settings.service_role == "svc_app"
    assert settings.auto_create is True
    assert settings.user_naming == "{{.Username}}_{{.Date}}"
    assert (settings.action, settings.grace_days, settings.ownership_check) == ("delete", 7, True)
    assert settings.has_trigger and settings.invalid_values(spec()) == []


def test_explicit_settings_are_kept() -> None:
    settings = settings_of(
        spec(
            maxAge="30d",
            serviceRole={"name": "app_svc", "autoCreate": False},
            userNaming="{{.Username}}_r{{.Timestamp}}",
            oldUserPolicy={"action": "disable", "gracePeriodDays": 0, "ownershipCheck": False},
        )
    )
    assert settings is not None
    assert (settings.service_role, settings.auto_create) == ("app_svc", False)
    assert settings.max_age == timedelta(days=30) and settings.schedule is None
    assert (settings.action, settings.grace_days, settings.ownership_check) == ("disable", 0, False)


def test_invalid_values_name_the_field_and_value() -> None:
    user = spec(schedule="61 * * * *", maxAge="soon")
    settings = settings_of(user)
    assert settings is not None and not settings.has_trigger
    assert settings.schedule_problem
    assert settings.invalid_values(user) == [
        "spec.passwordRotation.schedule '61 * * * *'",
        "spec.passwordRotation.maxAge 'soon'",
    ]


def test_an_invalid_schedule_leaves_max_age_working() -> None:
    settings = settings_of(spec(schedule="@hourly", maxAge="1d"))
    assert settings is not None and settings.schedule is None and settings.has_trigger
    assert next_rotation_at(settings, NOW) == NOW + timedelta(days=1)


def test_enabled_without_a_trigger_is_reported() -> None:
    user = DatabaseUserSpec.model_validate(
        {"instanceRef": {"name": "pg"}, "username": "app", "passwordRotation": {"enabled": True}}
    )
    settings = settings_of(user)
    assert settings is not None and not settings.has_trigger
    assert settings.invalid_values(user) == ["spec.passwordRotation (enabled without schedule or maxAge)"]


def test_rotation_with_an_existing_password_secret_is_reported() -> None:
    user = DatabaseUserSpec.model_validate(
        {
            "instanceRef": {"name": "pg"},
            "username": "app",
            "passwordSecret": {"generate": False, "secretName": "app-creds"},
            "existingPasswordSecret": {"name": "given", "key": "pw"},
            "passwordRotation": {"enabled": True, "maxAge": "1d"},
        }
    )
    settings = settings_of(user)
    assert settings is not None
    assert settings.invalid_values(user) == ["spec.passwordRotation (existingPasswordSecret supplies the password)"]


# Timing -------------------------------------------------------------------------------------------------------------


def test_due_at_the_next_slot_after_the_last_rotation() -> None:
    settings = settings_of(spec(schedule="0 3 * * *"))
    assert settings is not None
    last = datetime(2026, 3, 14, 3, 0, 5, tzinfo=UTC)
    assert next_rotation_at(settings, last) == datetime(2026, 3, 15, 3, 0, tzinfo=UTC)
    assert not is_due(settings, last, datetime(2026, 3, 15, 2, 59, 59, tzinfo=UTC))
    assert is_due(settings, last, datetime(2026, 3, 15, 3, 0, tzinfo=UTC))


def test_the_earlier_of_schedule_and_max_age_wins() -> None:
    settings = settings_of(spec(schedule="0 3 1 * *", maxAge="2d"))
    assert settings is not None
    assert next_rotation_at(settings, NOW) == NOW + timedelta(days=2)
    settings = settings_of(spec(schedule="0 3 * * *", maxAge="2d"))
    assert settings is not None
    assert next_rotation_at(settings, NOW) == datetime(2026, 3, 15, 3, 0, tzinfo=UTC)


def test_an_outage_causes_one_rotation_not_a_burst() -> None:
    settings = settings_of(spec(schedule="* * * * *"))
    assert settings is not None
    last = NOW - timedelta(hours=5)  # 300 slots were missed
    assert is_due(settings, last, NOW)
    after = status_after_rotation({"lastRotatedAt": format_time(last)}, settings, spec(), "app_x", NOW, "rid")
    rotated_at = parse_time(after["lastRotatedAt"])
    assert rotated_at == NOW.replace(microsecond=0)
    assert not is_due(settings, rotated_at, NOW)  # the missed slots do not fire again
    assert parse_time(after["nextRotationAt"]) == datetime(2026, 3, 14, 15, 10, tzinfo=UTC)


def test_without_a_trigger_nothing_is_ever_due() -> None:
    settings = settings_of(spec(schedule="bad"))
    assert settings is not None
    assert next_rotation_at(settings, NOW) is None
    assert not is_due(settings, NOW - timedelta(days=3650), NOW)


# Names --------------------------------------------------------------------------------------------------------------


def test_user_naming_substitutes_the_three_placeholders() -> None:
    assert render_name("{{.Username}}_{{.Date}}", "app", NOW) == "app_20260314"
    assert render_name("{{ .Username }}-{{.Timestamp}}", "app", NOW) == f"app-{int(NOW.timestamp())}"
    assert render_name("{{.Other}}_{{.Username}}", "app", NOW) == "{{.Other}}_app"


def test_names_are_cut_to_the_limit_and_suffixed_within_it() -> None:
    base = "u" * 60 + "_20260314"
    names = name_candidates(base, 63)
    first, second, third = next(names), next(names), next(names)
    assert first == base[:63]
    assert second == base[:61] + "_2" and len(second) == 63
    assert third == base[:61] + "_3"
    tenth = list(name_candidates(base, 63))[9]
    assert tenth.endswith("_10") and len(tenth) == 63


def test_names_are_cut_at_a_character_boundary() -> None:
    base = "ü" * 40  # 80 bytes
    first = next(name_candidates(base, 63))
    assert len(first.encode()) <= 63 and first == "ü" * 31
    second = list(name_candidates(base, 63))[1]
    assert second == "ü" * 30 + "_2"


def test_short_names_are_not_changed() -> None:
    assert list(name_candidates("app_20260314", 63, attempts=3)) == ["app_20260314", "app_20260314_2", "app_20260314_3"]


# Status -------------------------------------------------------------------------------------------------------------


def test_first_enable_records_now_and_spec_username_without_rotating() -> None:
    settings = settings_of(spec(schedule="0 3 * * *"))
    assert settings is not None
    status = initial_status(settings, spec(), None, NOW)
    assert status == {
        "enabled": True,
        "strategy": "role-inheritance",
        "lastRotatedAt": "2026-03-14T15:09:26Z",
        "nextRotationAt": "2026-03-15T03:00:00Z",
        "activeUser": "app",
        "serviceRole": "svc_app",
    }
    assert not is_due(settings, parse_time(status["lastRotatedAt"]) or NOW, NOW)


def test_a_schedule_edit_moves_the_next_time_but_not_the_last_rotation() -> None:
    settings = settings_of(spec(schedule="0 4 * * *"))
    assert settings is not None
    stored = {
        "enabled": True,
        "strategy": "role-inheritance",
        "lastRotatedAt": "2026-03-14T03:00:00Z",
        "nextRotationAt": "2026-03-15T03:00:00Z",
        "activeUser": "app_20260314",
        "serviceRole": "svc_app",
        "pendingDeletion": [{"user": "app_20260313", "status": "pending"}],
    }
    status = initial_status(settings, spec(), stored, NOW)
    assert status["nextRotationAt"] == "2026-03-14T04:00:00Z"  # already past: due now
    assert status["lastRotatedAt"] == stored["lastRotatedAt"]
    assert status["activeUser"] == "app_20260314" and status["pendingDeletion"] == stored["pendingDeletion"]


def test_disabling_keeps_the_record_without_a_next_time() -> None:
    assert disabled_status(None) is None
    stored = {"enabled": True, "nextRotationAt": "x", "activeUser": "app_1", "lastRotatedAt": "y"}
    assert disabled_status(stored) == {"enabled": False, "activeUser": "app_1", "lastRotatedAt": "y"}


def test_the_first_rotation_never_lists_spec_username_for_deletion() -> None:
    settings = settings_of(spec(schedule="0 3 * * *"))
    assert settings is not None
    before = initial_status(settings, spec(), None, NOW - timedelta(days=1))
    after = status_after_rotation(before, settings, spec(), "app_20260314", NOW, "abcd1234")
    assert after["activeUser"] == "app_20260314"
    assert "pendingDeletion" not in after
    assert after["lastRotatedAt"] == "2026-03-14T15:09:26Z"


def test_a_later_rotation_supersedes_the_previous_generated_account() -> None:
    settings = settings_of(spec(schedule="0 3 * * *", oldUserPolicy={"gracePeriodDays": 2}))
    assert settings is not None
    before = {"enabled": True, "activeUser": "app_20260313", "lastRotatedAt": "2026-03-13T03:00:00Z"}
    after = status_after_rotation(before, settings, spec(), "app_20260314", NOW, "abcd1234")
    assert after["activeUser"] == "app_20260314"
    assert after["pendingDeletion"] == [
        {
            "user": "app_20260313",
            "deprecatedAt": "2026-03-14T15:09:26Z",
            "deleteAfter": "2026-03-16T15:09:26Z",
            "status": "pending",
            "reconcileID": "abcd1234",
        }
    ]


def test_supersede_does_not_list_an_account_twice() -> None:
    entries = [{"user": "app_1", "status": "pending"}]
    assert supersede(entries, "app_1", spec(), 7, NOW, "r") == entries
    assert supersede(entries, "app", spec(), 7, NOW, "r") == entries


def test_due_entries() -> None:
    pending = [
        {"user": "past", "status": "pending", "deleteAfter": "2026-03-14T15:00:00Z"},
        {"user": "future", "status": "pending", "deleteAfter": "2026-03-15T00:00:00Z"},
        {"user": "unreadable", "deleteAfter": "tomorrow"},
        {"user": "blocked", "status": "blocked", "deleteAfter": "2026-03-01T00:00:00Z"},
    ]
    assert due_entries(pending, NOW, recheck_blocked=False) == ["past", "unreadable"]
    assert due_entries(pending, NOW, recheck_blocked=True) == ["past", "unreadable", "blocked"]


def test_next_timer_is_the_earliest_of_rotation_and_grace_periods() -> None:
    rotation = {
        "enabled": True,
        "nextRotationAt": "2026-03-15T03:00:00Z",
        "pendingDeletion": [
            {"user": "a", "status": "pending", "deleteAfter": "2026-03-14T16:09:26Z"},
            {"user": "b", "status": "blocked", "deleteAfter": "2026-03-14T15:10:00Z"},
        ],
    }
    assert next_timer(rotation, NOW) == 3600.0
    assert next_timer({"enabled": False, "nextRotationAt": "2026-03-15T03:00:00Z"}, NOW) is None
    assert next_timer({"enabled": True, "nextRotationAt": "2026-03-14T00:00:00Z"}, NOW) == 1.0
    assert next_timer(None, NOW) is None


def test_active_user_grantee_and_rotated_accounts() -> None:
    user = spec(schedule="0 3 * * *")
    assert active_user(None, user) == "app"
    assert grantee_name(None, user) == "app"
    status = {
        "rotation": {
            "enabled": True,
            "serviceRole": "svc_app",
            "activeUser": "app_2",
            "pendingDeletion": [{"user": "app_1"}, {"user": "app_2"}],
        }
    }
    assert active_user(status, user) == "app_2"
    assert grantee_name(status, user) == "svc_app"
    assert grantee_name(status, spec()) == "app"  # rotation no longer in the spec
    assert grantee_name(status, spec(schedule="0 3 * * *", strategy="dual-password")) == "app"
    assert rotated_accounts(status, user) == ["app_2", "app_1"]
    assert rotated_accounts(None, user) == []


def test_time_round_trip() -> None:
    assert parse_time(format_time(NOW)) == NOW.replace(microsecond=0)
    assert parse_time("2026-03-14T15:09:26") == datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC)
    assert parse_time(None) is None and parse_time("") is None and parse_time("soon") is None
