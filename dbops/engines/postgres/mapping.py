"""Pure mappings between the API specs and PostgreSQL catalog rows, for the PostgreSQL adapter.

Everything here is free of I/O so the adapter's decisions (what to create, what differs, which field path to
report) can be unit-tested without a server. Catalog rows come in as plain mappings (asyncpg records behave as
such); spec blocks come in as the typed API models.

Naming: "field paths" are the API paths (``spec.postgres.connectionLimit``) that `apply_*` report and that
`InvalidSpec` names; observed role attributes use the spec block's field names (``createDB``, ``bypassRLS``) so the
controller's drift check is a plain comparison (base.ObservedAccount).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from dbops.api.database import DatabasePostgresConfig, DatabaseSpec
from dbops.api.user import DatabaseUserSpec, UserPostgresConfig
from dbops.engines.base import ObservedAccount
from dbops.engines.errors import InvalidSpec
from dbops.engines.postgres.sql import (
    INFINITY,
    LIST_VALUED_PARAMETERS,
    DatabaseOptions,
    RoleAttributes,
    list_parameter_elements,
)
from dbops.engines.sql.privileges import (
    PG_DEFAULT_ACL_OBJTYPE,
    PG_DEFAULT_PRIVILEGES,
    PgDefaultObjectType,
    pg_privileges_for,
)
from dbops.engines.sql.quoting import pg_ident

__all__ = [
    "ALL_EXPANSION",
    "ATTRIBUTE_KEYS",
    "DesiredDefaultPrivilege",
    "Membership",
    "attribute_differences",
    "char_value",
    "database_config",
    "database_options",
    "default_privilege_acl_code",
    "desired_default_privileges",
    "desired_memberships",
    "major_version",
    "observed_account",
    "observed_role_attributes",
    "parse_valid_until",
    "role_attributes",
    "rotated_spec",
    "same_encoding",
    "same_locale",
    "setting_matches",
    "split_settings",
    "stored_setting",
    "unsupported_database_fields",
    "unsupported_user_fields",
    "user_config",
    "valid_until_text",
]

# --------------------------------------------------------------------------------------------------------------------
# Engine blocks with their schema defaults


def database_config(spec: DatabaseSpec) -> DatabasePostgresConfig:
    """The spec's `postgres` block, or the block's schema defaults when it is absent.

    An absent block means "the defaults" rather than "the server's defaults", so that creation, apply and drift
    agree on one desired state (UTF8 from template0, no connection limit, …) whether or not the block was written.
    """
    return spec.postgres if spec.postgres is not None else DatabasePostgresConfig()


def user_config(spec: DatabaseUserSpec) -> UserPostgresConfig:
    """The spec's `postgres` block, or its schema defaults (LOGIN, INHERIT, nothing else) when absent."""
    return spec.postgres if spec.postgres is not None else UserPostgresConfig()


# --------------------------------------------------------------------------------------------------------------------
# Databases


def database_options(spec: DatabaseSpec, owner: str | None, *, tablespace: bool = True) -> DatabaseOptions:
    """The CREATE DATABASE options of the spec (engines.md 2.1).

    ``tablespace=False`` leaves the TABLESPACE clause out: the adapter does that when the template already lives in
    the requested tablespace, because naming a tablespace at all needs CREATE on it, which a non-superuser admin does
    not hold on ``pg_default`` (the result is the same database either way).
    """
    config = database_config(spec)
    return DatabaseOptions(
        name=spec.name,
        owner=owner,
        template=config.template,
        encoding=config.encoding,
        lc_collate=config.lc_collate,
        lc_ctype=config.lc_ctype,
        tablespace=config.tablespace if tablespace else None,
        connection_limit=config.connection_limit,
        is_template=config.is_template,
    )


@dataclass(frozen=True)
class DesiredDefaultPrivilege:
    """One `postgres.defaultPrivileges[i]` entry resolved for comparison with `pg_default_acl`.

    ``requested`` are the canonical names as the entry asks for them (what the GRANT sends); ``privileges`` the same
    with ALL expanded, i.e. what `aclexplode` reports once the grant exists.
    """

    index: int
    role: str
    schema: str
    object_type: PgDefaultObjectType
    requested: tuple[str, ...]
    privileges: frozenset[str]

    @property
    def field(self) -> str:
        return f"spec.postgres.defaultPrivileges[{self.index}]"


#: What ALL stands for per default-privilege object type (PostgreSQL 15's ACL bits). A newer server may add
#: privileges (17 adds MAINTAIN on tables); comparisons are "desired ⊆ observed", so extra bits never cause a grant.
ALL_EXPANSION: Final[dict[PgDefaultObjectType, frozenset[str]]] = {
    PgDefaultObjectType.TABLES: frozenset(
        {"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"}
    ),
    PgDefaultObjectType.SEQUENCES: frozenset({"USAGE", "SELECT", "UPDATE"}),
    PgDefaultObjectType.FUNCTIONS: frozenset({"EXECUTE"}),
    PgDefaultObjectType.TYPES: frozenset({"USAGE"}),
}


def desired_default_privileges(config: DatabasePostgresConfig) -> list[DesiredDefaultPrivilege]:
    """Validate `postgres.defaultPrivileges` (allow-list, level, names) and resolve each entry; InvalidSpec names the
    entry's field."""
    out: list[DesiredDefaultPrivilege] = []
    for i, entry in enumerate(config.default_privileges or ()):
        field = f"spec.postgres.defaultPrivileges[{i}]"
        pg_ident(entry.role, f"{field}.role")
        pg_ident(entry.schema_, f"{field}.schema")
        object_type = PgDefaultObjectType(entry.object_type)
        privileges = pg_privileges_for(
            entry.privileges,
            PG_DEFAULT_PRIVILEGES[object_type],
            f"{field}.privileges",
            f"default privileges on {object_type}",
        )
        expanded = ALL_EXPANSION[object_type] if "ALL" in privileges else frozenset(privileges)
        out.append(DesiredDefaultPrivilege(i, entry.role, entry.schema_, object_type, privileges, expanded))
    return out


def default_privilege_acl_code(object_type: PgDefaultObjectType) -> str:
    """``pg_default_acl.defaclobjtype`` of an object type."""
    return PG_DEFAULT_ACL_OBJTYPE[object_type]


def char_value(value: str | bytes | None) -> str | None:
    """A PostgreSQL ``"char"`` column as text: asyncpg decodes that type as bytes (``b'r'``), which would never
    equal the one-letter codes of the privilege tables."""
    if isinstance(value, bytes):
        return value.decode("ascii", errors="replace")
    return value


#: Encoding names PostgreSQL accepts as aliases of another (``pg_char_to_encoding``), after `_encoding_key`.
_ENCODING_ALIASES: Final = {"unicode": "utf8"}


def _encoding_key(name: str) -> str:
    key = re.sub(r"[^0-9a-z]", "", name.lower())
    return _ENCODING_ALIASES.get(key, key)


def same_encoding(desired: str, observed: str | None) -> bool:
    """Whether a spec encoding names the server's (``pg_encoding_to_char``) one.

    The server looks names up ignoring case and punctuation (``utf-8``, ``UTF8`` and ``Unicode`` are one encoding)
    and reports the canonical spelling, so a text comparison would report drift for a database created exactly as
    asked."""
    return observed is not None and _encoding_key(desired) == _encoding_key(observed)


def _locale_key(name: str) -> str:
    language, dot, codeset = name.partition(".")
    return language + (dot + re.sub(r"[^0-9a-z]", "", codeset.lower()) if dot else "")


def same_locale(desired: str, observed: str | None) -> bool:
    """Whether a spec locale (``lcCollate``/``lcCtype``) names the server's ``datcollate``/``datctype``.

    The C library treats the codeset part loosely (``en_US.UTF-8`` is ``en_US.utf8``); the language part is
    compared as written."""
    return observed is not None and (desired == observed or _locale_key(desired) == _locale_key(observed))


def major_version(version: str) -> int:
    """The major version from `SHOW server_version` (``15.20 (Debian …)`` → 15, ``9.6.24`` → 9)."""
    match = re.match(r"\s*(\d+)", version)
    if match is None:
        raise ValueError(f"not a PostgreSQL version: {version!r}")
    return int(match.group(1))


# --------------------------------------------------------------------------------------------------------------------
# Roles

#: RoleAttributes field → the spec block's field name, which is also the key in ObservedAccount.attributes.
ATTRIBUTE_KEYS: Final = {
    "login": "login",
    "superuser": "superuser",
    "create_db": "createDB",
    "create_role": "createRole",
    "inherit": "inherit",
    "replication": "replication",
    "bypass_rls": "bypassRLS",
    "connection_limit": "connectionLimit",
    "valid_until": "validUntil",
}

#: ROLE_ATTRIBUTES column → RoleAttributes field.
_COLUMNS: Final = {
    "login": "login",
    "superuser": "superuser",
    "create_db": "create_db",
    "create_role": "create_role",
    "inherit": "inherit",
    "replication": "replication",
    "bypass_rls": "bypass_rls",
    "connection_limit": "connection_limit",
}


def parse_valid_until(value: str | None) -> datetime | Literal["infinity"] | None:
    """`postgres.validUntil` (RFC 3339, or ``infinity``) as RoleAttributes wants it; None means "not managed"."""
    if value is None:
        return None
    text = value.strip()
    if text.lower() == INFINITY:
        return INFINITY
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidSpec("spec.postgres.validUntil", "must be an RFC 3339 timestamp or 'infinity'") from None
    if parsed.tzinfo is None:
        raise InvalidSpec("spec.postgres.validUntil", "must carry a time zone offset (RFC 3339)")
    return parsed.astimezone(UTC)


def valid_until_text(value: datetime | None) -> str | None:
    """`rolvaliduntil` as text: RFC 3339 in UTC, ``infinity`` for the server's infinity, None when unset.

    asyncpg decodes ``infinity`` as ``datetime.max`` (without a zone), hence the year check.
    """
    if value is None:
        return None
    if value.year == datetime.max.year:
        return INFINITY
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


def role_attributes(spec: DatabaseUserSpec) -> RoleAttributes:
    """The role attributes of a DatabaseUser (engines.md 2.2); InvalidSpec for an unparsable validUntil."""
    config = user_config(spec)
    return RoleAttributes(
        login=config.login,
        superuser=config.superuser,
        create_db=config.create_db,
        create_role=config.create_role,
        inherit=config.inherit,
        replication=config.replication,
        bypass_rls=config.bypass_rls,
        connection_limit=config.connection_limit,
        valid_until=parse_valid_until(config.valid_until),
    )


def observed_role_attributes(row: Mapping[str, Any]) -> dict[str, object]:
    """A ROLE_ATTRIBUTES row keyed by the spec's field names (``createDB``, ``validUntil`` as text, …)."""
    out: dict[str, object] = {ATTRIBUTE_KEYS[field]: row[column] for column, field in _COLUMNS.items()}
    out["validUntil"] = valid_until_text(row["valid_until"])
    return out


def observed_account(row: Mapping[str, Any]) -> ObservedAccount:
    """An ACCOUNT_STATE row as the adapter reports a role: attributes under the spec's names with `defaultRole`
    taken from the per-role `role` setting, the other settings, direct memberships and the comment."""
    attributes = observed_role_attributes(row)
    settings, default_role = split_settings(row["settings"] or ())
    attributes["defaultRole"] = default_role
    return ObservedAccount(
        name=row["name"],
        attributes=attributes,
        member_of=frozenset(row["member_of"] or ()),
        settings=settings,
        comment=row["comment"],
    )


def rotated_spec(spec: DatabaseUserSpec, name: str, service_role: str) -> DatabaseUserSpec:
    """`spec` as it applies to the generated account `name` of role-inheritance rotation (engines.md 2.2): same
    settings, LOGIN and INHERIT on, and the service role added to its memberships (after the user's own, so field
    paths of `roles[i]` keep their meaning)."""
    config = user_config(spec)
    roles = list(spec.roles or ())
    if service_role not in roles:
        roles.append(service_role)
    return spec.model_copy(
        update={
            "username": name,
            "roles": roles,
            "postgres": config.model_copy(update={"login": True, "inherit": True}),
        }
    )


def attribute_differences(desired: RoleAttributes, observed: Mapping[str, object]) -> list[str]:
    """RoleAttributes field names whose desired value differs from the observed attributes.

    ``valid_until`` None is "not managed" and never differs; timestamps compare as instants, not as text.
    """
    out: list[str] = []
    for field, key in ATTRIBUTE_KEYS.items():
        want = getattr(desired, field)
        have = observed.get(key)
        if field == "valid_until":
            if want is None:
                continue
            if want == INFINITY:
                differs = have != INFINITY
            else:
                differs = have in (None, INFINITY) or parse_valid_until(str(have)) != want
        elif field == "connection_limit" and want is None:
            continue
        else:
            differs = want != have
        if differs:
            out.append(field)
    return out


def split_settings(rows: Iterable[str]) -> tuple[dict[str, str], str | None]:
    """`pg_db_role_setting` entries (``name=value``) as (settings, default role).

    The ``role`` setting is what `postgres.defaultRole` writes, so it is returned apart (it shows up as the
    ``defaultRole`` attribute) instead of among the configuration parameters.
    """
    settings: dict[str, str] = {}
    default_role: str | None = None
    for entry in rows:
        name, _, value = entry.partition("=")
        if name.lower() == "role":
            default_role = value
        else:
            settings[name] = value
    return settings, default_role


def setting_matches(parameter: str, desired: str, stored: str | None) -> bool:
    """Whether a stored per-role setting already has the desired value.

    List-valued parameters are compared element by element (the server stores ``"$user", public`` for the elements
    ``$user`` and ``public``); other values as text, since the server keeps what it was sent.
    """
    if stored is None:
        return False
    if parameter.lower() in LIST_VALUED_PARAMETERS:
        return list_parameter_elements(desired) == list_parameter_elements(stored)
    return desired == stored


def stored_setting(settings: Mapping[str, str], parameter: str) -> str | None:
    """The stored value of ``parameter``; the server keeps built-in names in their canonical case (``TimeZone``)."""
    if parameter in settings:
        return settings[parameter]
    lowered = parameter.lower()
    for name, value in settings.items():
        if name.lower() == lowered:
            return value
    return None


@dataclass(frozen=True)
class Membership:
    """A role the account must be a member of, with the field that asks for it."""

    role: str
    field: str


def desired_memberships(spec: DatabaseUserSpec) -> list[Membership]:
    """`roles`, `postgres.inRoles` and `postgres.defaultRole` (which needs the membership), first mention wins.

    Every name is checked here (InvalidSpec with its own path), before any statement is built.
    """
    config = user_config(spec)
    out: dict[str, Membership] = {}
    candidates = [(r, f"spec.roles[{i}]") for i, r in enumerate(spec.roles or ())]
    candidates += [(r, f"spec.postgres.inRoles[{i}]") for i, r in enumerate(config.in_roles or ())]
    if config.default_role is not None:
        candidates.append((config.default_role, "spec.postgres.defaultRole"))
    for role, field in candidates:
        pg_ident(role, field)
        out.setdefault(role, Membership(role, field))
    return list(out.values())


# --------------------------------------------------------------------------------------------------------------------
# Options reported as unsupported (engines.md 1.7)


def _mismatched_blocks(mysql: object | None, clickhouse: object | None) -> list[str]:
    return [path for path, block in (("spec.mysql", mysql), ("spec.clickhouse", clickhouse)) if block is not None]


def unsupported_database_fields(spec: DatabaseSpec) -> list[str]:
    """Database fields a PostgreSQL server does not honour through this adapter.

    engines.md 1.7 lists nothing for a PostgreSQL Database; what remains are the other engines' blocks (an engine
    mismatch, returned as field paths so it is reported rather than silently ignored) and ``spec.owner`` when it
    names someone other than the auto-ownership role: with auto-ownership the role owns the database and
    ``spec.owner`` is not used (behaviour.md 7.1, api.md 5.14).
    """
    out = _mismatched_blocks(spec.mysql, spec.clickhouse)
    ownership = spec.postgres.ownership if spec.postgres is not None else None
    if ownership is not None and ownership.auto_ownership and spec.owner is not None:
        role = ownership.role_name or f"db_{spec.name}_owner"
        if spec.owner != role:
            out.append("spec.owner")
    return out


def unsupported_user_fields(spec: DatabaseUserSpec) -> list[str]:
    """DatabaseUser fields PostgreSQL does not honour (engines.md 1.7): the dual-password rotation strategy, a
    non-Kubernetes Secret format ("All" row), and the other engines' blocks."""
    out: list[str] = []
    if spec.password_rotation is not None and spec.password_rotation.strategy == "dual-password":
        out.append("spec.passwordRotation.strategy")
    if spec.password_secret is not None and spec.password_secret.format != "kubernetes":
        out.append("spec.passwordSecret.format")
    return out + _mismatched_blocks(spec.mysql, spec.clickhouse)
