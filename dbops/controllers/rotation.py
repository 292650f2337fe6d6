"""Password rotation of a DatabaseUser as data: settings, timing, names and `status.rotation` (behaviour.md 8.6).

Everything here is pure, so the rules that are easy to get subtly wrong are unit-tested without a server or an API
server: when a rotation is due (the next cron slot *after* `lastRotatedAt`, or `lastRotatedAt + maxAge`; computed
from the last rotation, so an outage costs one rotation rather than a burst of missed slots), how a new account is
named within the engine's limit, which superseded accounts are past their grace period, and the exact shape of
`status.rotation`. The reconcile-time work that talks to servers and Kubernetes is `rotation_flow`.

Status is handled as the camelCase mapping the status subresource stores (like the rest of the controllers'
drafts), not as the typed model, so fields this build does not know survive a write.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter

from dbops.api.user import DatabaseUserSpec

__all__ = [
    "MAX_AGE_FIELD",
    "ROTATION_FIELD",
    "SCHEDULE_FIELD",
    "STRATEGY_FIELD",
    "RotationSettings",
    "ScheduleError",
    "active_user",
    "discard_due",
    "due_entries",
    "format_time",
    "grantee_name",
    "initial_status",
    "is_due",
    "name_candidates",
    "next_rotation_at",
    "next_slot",
    "next_timer",
    "parse_cron",
    "parse_max_age",
    "parse_time",
    "render_name",
    "rotated_accounts",
    "settings_of",
    "status_after_dual_rotation",
    "status_after_rotation",
    "supersede",
]

ROTATION_FIELD = "spec.passwordRotation"
SCHEDULE_FIELD = "spec.passwordRotation.schedule"
MAX_AGE_FIELD = "spec.passwordRotation.maxAge"
STRATEGY_FIELD = "spec.passwordRotation.strategy"
ROLE_INHERITANCE = "role-inheritance"
DUAL_PASSWORD = "dual-password"

# --------------------------------------------------------------------------------------------------------------------
# Times


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with second precision, the form every status timestamp of the operator uses."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: object) -> datetime | None:
    """A stored status timestamp as an aware UTC datetime; None when absent or unreadable (treated as unknown)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


# --------------------------------------------------------------------------------------------------------------------
# Schedule and maxAge


class ScheduleError(ValueError):
    """A rotation schedule that is not a five-field cron expression; the message says what is wrong."""


def parse_cron(text: str) -> str:
    """The schedule normalised to single spaces, or ScheduleError (api.md 1.2: five fields, no seconds field, no
    `@` descriptors; lists, ranges, steps and names are accepted; when both day fields are restricted either matches,
    which is croniter's default)."""
    stripped = text.strip()
    if not stripped:
        raise ScheduleError("it is empty")
    if stripped.startswith("@"):
        raise ScheduleError("@-descriptors are not accepted; use five fields (minute hour day-of-month month weekday)")
    fields = stripped.split()
    if len(fields) != 5:
        raise ScheduleError(f"it has {len(fields)} fields; expected five (minute hour day-of-month month day-of-week)")
    normalised = " ".join(fields)
    try:
        croniter(normalised, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except (ValueError, KeyError, TypeError) as error:  # croniter's errors are ValueError subclasses
        raise ScheduleError(str(error) or error.__class__.__name__) from None
    return normalised


def next_slot(schedule: str, after: datetime) -> datetime:
    """The first cron slot strictly after `after`, in UTC."""
    value = croniter(schedule, after.astimezone(UTC)).get_next(datetime)
    assert isinstance(value, datetime)
    return value.astimezone(UTC)


_EXTENDED_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)")
_EXTENDED_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}


def parse_max_age(text: str) -> timedelta:
    """An extended duration (api.md 1.2: Go units plus `d` = 24 h, e.g. `90d`, `7d12h`, `30m`) as a positive
    timedelta; ValueError otherwise (a zero age would rotate on every reconcile)."""
    stripped = text.strip()
    position, total = 0, 0.0
    for match in _EXTENDED_PART.finditer(stripped):
        if match.start() != position:
            break
        total += float(match.group(1)) * _EXTENDED_UNITS[match.group(2)]
        position = match.end()
    if position == 0 or position != len(stripped):
        raise ValueError(f"{text!r} is not a duration (e.g. 90d, 7d12h, 36h)")
    if total <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    return timedelta(seconds=total)


# --------------------------------------------------------------------------------------------------------------------
# Settings


@dataclass(frozen=True)
class RotationSettings:
    """`spec.passwordRotation` with its defaults resolved and its free-text values parsed.

    `schedule` / `max_age` are the usable triggers; an unparsable value leaves the trigger None and its problem in
    `schedule_problem` / `max_age_problem` (reported, not fatal: api.md 5.11).
    """

    strategy: str
    schedule: str | None
    schedule_text: str | None
    schedule_problem: str | None
    max_age: timedelta | None
    max_age_text: str | None
    max_age_problem: str | None
    service_role: str
    auto_create: bool
    user_naming: str
    action: str
    grace_days: int
    ownership_check: bool
    discard_days: int = 7
    """`mysql.discardOldPasswordAfterDays`: how long dual-password keeps the previous password."""

    @property
    def has_trigger(self) -> bool:
        """Whether anything can make a rotation due."""
        return self.schedule is not None or self.max_age is not None

    def invalid_values(self, spec: DatabaseUserSpec) -> list[str]:
        """Field descriptions for `OptionsHonored=False` / `InvalidOptionValue`, schedule first. Each names the field
        (and the offending value, which is never secret) so the condition message remembers what was reported."""
        out: list[str] = []
        if self.schedule_problem is not None:
            out.append(f"{SCHEDULE_FIELD} {self.schedule_text!r}")
        if self.max_age_problem is not None:
            out.append(f"{MAX_AGE_FIELD} {self.max_age_text!r}")
        if self.schedule_text is None and self.max_age_text is None:
            out.append(f"{ROTATION_FIELD} (enabled without schedule or maxAge)")
        if spec.existing_password_secret is not None:
            out.append(f"{ROTATION_FIELD} (existingPasswordSecret supplies the password)")
        return out


def settings_of(spec: DatabaseUserSpec) -> RotationSettings | None:
    """The resolved settings when rotation is enabled, else None."""
    config = spec.password_rotation
    if config is None or not config.enabled:
        return None
    schedule = schedule_problem = None
    if config.schedule is not None:
        try:
            schedule = parse_cron(config.schedule)
        except ScheduleError as error:
            schedule_problem = str(error)
    max_age = max_age_problem = None
    if config.max_age is not None:
        try:
            max_age = parse_max_age(config.max_age)
        except ValueError as error:
            max_age_problem = str(error)
    role = config.service_role
    policy = config.old_user_policy
    return RotationSettings(
        strategy=config.strategy,
        schedule=schedule,
        schedule_text=config.schedule,
        schedule_problem=schedule_problem,
        max_age=max_age,
        max_age_text=config.max_age,
        max_age_problem=max_age_problem,
        service_role=(role.name if role is not None and role.name else f"svc_{spec.username}"),
        auto_create=role.auto_create if role is not None else True,
        user_naming=config.user_naming or "{{.Username}}_{{.Date}}",
        action=policy.action if policy is not None else "delete",
        grace_days=policy.grace_period_days if policy is not None else 7,
        ownership_check=policy.ownership_check if policy is not None else True,
        discard_days=config.mysql.discard_old_password_after_days if config.mysql is not None else 7,
    )


# --------------------------------------------------------------------------------------------------------------------
# Timing


def next_rotation_at(settings: RotationSettings, last_rotated_at: datetime) -> datetime | None:
    """The earliest of the next cron slot after `last_rotated_at` and `last_rotated_at + maxAge`; None without a
    usable trigger."""
    candidates = []
    if settings.schedule is not None:
        candidates.append(next_slot(settings.schedule, last_rotated_at))
    if settings.max_age is not None:
        candidates.append(last_rotated_at.astimezone(UTC) + settings.max_age)
    return min(candidates) if candidates else None


def _set_next_rotation(record: dict[str, Any], settings: RotationSettings, last_rotated_at: datetime) -> None:
    """`nextRotationAt` of a record from its last rotation; removed when the schedule names no next time."""
    upcoming = next_rotation_at(settings, last_rotated_at)
    if upcoming is None:
        record.pop("nextRotationAt", None)
    else:
        record["nextRotationAt"] = format_time(upcoming)


def is_due(settings: RotationSettings, last_rotated_at: datetime, now: datetime) -> bool:
    """behaviour.md 8.6: `now >=` the next slot after the last rotation, or `now >= lastRotatedAt + maxAge`."""
    when = next_rotation_at(settings, last_rotated_at)
    return when is not None and now >= when


# --------------------------------------------------------------------------------------------------------------------
# Names

_PLACEHOLDER = re.compile(r"\{\{\s*\.(Username|Date|Timestamp)\s*\}\}")


def render_name(pattern: str, username: str, now: datetime) -> str:
    """`userNaming` with `{{.Username}}`, `{{.Date}}` (UTC YYYYMMDD) and `{{.Timestamp}}` (Unix seconds) substituted;
    plain substitution, as api.md 5.11 specifies (no template functions)."""
    values = {
        "Username": username,
        "Date": now.astimezone(UTC).strftime("%Y%m%d"),
        "Timestamp": str(int(now.timestamp())),
    }
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], pattern)


def _cut(name: str, limit: int) -> str:
    """At most `limit` bytes of UTF-8, cut at a character boundary."""
    out = name
    while len(out.encode()) > limit:
        out = out[:-1]
    return out


def name_candidates(base: str, limit: int, *, attempts: int = 100) -> Iterator[str]:
    """The name to try first (cut to `limit` bytes), then `_2`, `_3`, … appended *within* the limit (the base is cut
    further so the suffix always survives; a suffix lost to truncation would collide again)."""
    yield _cut(base, limit)
    for n in range(2, attempts + 1):
        suffix = f"_{n}"
        yield _cut(base, limit - len(suffix)) + suffix


# --------------------------------------------------------------------------------------------------------------------
# status.rotation


def active_user(status: Mapping[str, Any] | None, spec: DatabaseUserSpec) -> str:
    """The account the credentials Secret describes: `status.rotation.activeUser` once rotation created a newer
    account (also after rotation was disabled: that account still holds the Secret's password), else
    `spec.username`."""
    rotation = (status or {}).get("rotation") or {}
    value = rotation.get("activeUser")
    return str(value) if value else spec.username


def grantee_name(status: Mapping[str, Any] | None, spec: DatabaseUserSpec) -> str:
    """The server name a DatabaseGrant with `userRef` to this user grants to (api.md 6.7 step 1): the service role
    while role-inheritance rotation is enabled and has recorded it, else `spec.username`."""
    config = spec.password_rotation
    rotation = (status or {}).get("rotation") or {}
    if (
        config is not None
        and config.enabled
        and config.strategy == ROLE_INHERITANCE
        and rotation.get("enabled")
        and rotation.get("serviceRole")
    ):
        return str(rotation["serviceRole"])
    return spec.username


def rotated_accounts(status: Mapping[str, Any] | None, spec: DatabaseUserSpec) -> list[str]:
    """Generated accounts still recorded (the active one when it is not `spec.username`, and every superseded one),
    in a stable order: what the user's deletion drops besides `spec.username`."""
    rotation = (status or {}).get("rotation") or {}
    names = [active_user(status, spec)] + [str(e.get("user")) for e in rotation.get("pendingDeletion") or ()]
    return [n for n in dict.fromkeys(names) if n and n != spec.username]


def initial_status(
    settings: RotationSettings, spec: DatabaseUserSpec, previous: Mapping[str, Any] | None, now: datetime
) -> dict[str, Any]:
    """`status.rotation` for this reconcile before any rotation: on first enable `lastRotatedAt = now` and
    `activeUser = spec.username` (no immediate rotation); afterwards the stored record with `enabled`, `strategy`,
    `serviceRole` and `nextRotationAt` brought up to date with the spec (a schedule edit moves the next time)."""
    out = dict(previous or {})
    last = parse_time(out.get("lastRotatedAt"))
    if last is None:
        last = now
        out["lastRotatedAt"] = format_time(now)
    out.setdefault("activeUser", spec.username)
    out["enabled"] = True
    out["strategy"] = settings.strategy
    if settings.strategy == ROLE_INHERITANCE:
        out["serviceRole"] = settings.service_role  # dual-password has none (a recorded one is still ours: kept)
    _set_next_rotation(out, settings, last)
    return out


def disabled_status(previous: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Rotation switched off: the record stays (the active account and superseded accounts are still ours), with
    `enabled: false` and no next time. None when there never was a record."""
    if not previous:
        return None
    out = dict(previous)
    out["enabled"] = False
    out.pop("nextRotationAt", None)
    return out


def supersede(
    pending: Sequence[Mapping[str, Any]],
    old_user: str,
    spec: DatabaseUserSpec,
    grace_days: int,
    now: datetime,
    reconcile_id: str,
) -> list[dict[str, Any]]:
    """`pendingDeletion` after `old_user` stopped being the active account: it is added with `deprecatedAt: now`,
    `deleteAfter: now + gracePeriodDays`, `status: pending`, unless it is `spec.username` (never deleted) or already
    listed."""
    entries = [dict(e) for e in pending]
    if old_user == spec.username or any(e.get("user") == old_user for e in entries):
        return entries
    entries.append(
        {
            "user": old_user,
            "deprecatedAt": format_time(now),
            "deleteAfter": format_time(now + timedelta(days=grace_days)),
            "status": "pending",
            "reconcileID": reconcile_id,
        }
    )
    return entries


def status_after_rotation(
    current: Mapping[str, Any],
    settings: RotationSettings,
    spec: DatabaseUserSpec,
    new_user: str,
    now: datetime,
    reconcile_id: str,
) -> dict[str, Any]:
    """The record after a rotation to `new_user` at `now` (steps 5-6 of behaviour.md 8.6); the next time is computed
    from `now`, never from the missed slot."""
    out = dict(current)
    previous = active_user({"rotation": current}, spec)
    pending = supersede(out.get("pendingDeletion") or (), previous, spec, settings.grace_days, now, reconcile_id)
    out.update(
        enabled=True,
        strategy=settings.strategy,
        serviceRole=settings.service_role,
        lastRotatedAt=format_time(now),
        activeUser=new_user,
    )
    if pending:
        out["pendingDeletion"] = pending
    _set_next_rotation(out, settings, now)
    return out


def status_after_dual_rotation(current: Mapping[str, Any], settings: RotationSettings, now: datetime) -> dict[str, Any]:
    """The record after a dual-password rotation at `now`: same account, `lastRotatedAt = now`, the retained password
    discarded at `now + discardOldPasswordAfterDays` (a later rotation retains a newer password, so its time
    replaces an earlier one), and the next time computed from `now`."""
    out = dict(current)
    out.update(
        enabled=True,
        strategy=settings.strategy,
        lastRotatedAt=format_time(now),
        oldPasswordDiscardAt=format_time(now + timedelta(days=settings.discard_days)),
    )
    _set_next_rotation(out, settings, now)
    return out


def discard_due(rotation: Mapping[str, Any] | None, now: datetime) -> bool:
    """Whether a retained password waits to be discarded and its time has come (an unreadable time counts as come:
    the old password must not live on because a timestamp was mangled)."""
    value = (rotation or {}).get("oldPasswordDiscardAt")
    if not value:
        return False
    when = parse_time(value)
    return when is None or now >= when


def due_entries(pending: Sequence[Mapping[str, Any]], now: datetime, *, recheck_blocked: bool) -> list[str]:
    """Superseded accounts whose action is due: `pending` entries past `deleteAfter` (an unreadable time counts as
    past: the grace period cannot be proven), and `blocked` entries when a re-check is due."""
    out: list[str] = []
    for entry in pending:
        state = entry.get("status") or "pending"
        if state == "blocked":
            if recheck_blocked:
                out.append(str(entry.get("user")))
            continue
        if state != "pending":
            continue
        after = parse_time(entry.get("deleteAfter"))
        if after is None or now >= after:
            out.append(str(entry.get("user")))
    return [u for u in out if u]


def next_timer(rotation: Mapping[str, Any] | None, now: datetime) -> float | None:
    """Seconds until the earliest rotation timer (`nextRotationAt`, the earliest `deleteAfter` of a pending entry,
    `oldPasswordDiscardAt`), at least 1; None when there is none."""
    rotation = rotation or {}
    times = [parse_time(rotation.get("oldPasswordDiscardAt"))]
    if rotation.get("enabled"):
        times.append(parse_time(rotation.get("nextRotationAt")))
    for entry in rotation.get("pendingDeletion") or ():
        if (entry.get("status") or "pending") == "pending":
            times.append(parse_time(entry.get("deleteAfter")))
    known = [t for t in times if t is not None]
    if not known:
        return None
    return max(1.0, (min(known) - now).total_seconds())
