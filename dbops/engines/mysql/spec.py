"""From API models (`spec.mysql` blocks, grant entries) to the MySQL builders' parameters, and drift in API terms.

Pure functions, kept apart from the adapter so that "what does this spec mean on this server" is unit-testable
without a server: the effective authentication plugin, the attribute values a spec asks for in the same terms the
catalog parser reports (`dbops.engines.mysql.catalog.AccountRow.attributes`), the host list, and the grant
entries.
"""

from __future__ import annotations

from collections.abc import Sequence

from dbops.api.common import DriftDiff
from dbops.api.database import DatabaseMySQLConfig, DatabaseSpec
from dbops.api.grants import MySQLGrant
from dbops.api.user import DatabaseUserSpec, UserMySQLConfig
from dbops.engines.base import ObservedAccount, ObservedDatabase
from dbops.engines.errors import InvalidSpec
from dbops.engines.mysql.grants import MySQLGrantEntry, PrivilegeDiff
from dbops.engines.mysql.sql import AccountOptions, MySQLDialect, Require
from dbops.engines.sql.privileges import MySQLLevel
from dbops.engines.sql.quoting import NameKind, check_name_length, check_text

__all__ = [
    "account_drift",
    "account_options",
    "database_config",
    "database_drift",
    "desired_attributes",
    "effective_plugin",
    "grant_entries",
    "hosts_of",
    "other_engine_blocks",
    "privilege_drift",
    "secret_format_unsupported",
    "user_config",
    "uses_dual_password",
]


def database_config(spec: DatabaseSpec) -> DatabaseMySQLConfig:
    """The spec's `mysql` block, or the schema defaults when it is absent."""
    return spec.mysql or DatabaseMySQLConfig()


def user_config(spec: DatabaseUserSpec) -> UserMySQLConfig:
    """The spec's `mysql` block, or the schema defaults when it is absent."""
    return spec.mysql or UserMySQLConfig()


def hosts_of(spec: DatabaseUserSpec, dialect: MySQLDialect) -> list[str]:
    """`allowedHosts`, checked (text, 255 characters) and without duplicates, in spec order.

    An empty list would mean no account at all, which the operator could never observe as created: refused.
    """
    hosts = user_config(spec).allowed_hosts
    if not hosts:
        raise InvalidSpec("spec.mysql.allowedHosts", "must list at least one host pattern")
    for i, host in enumerate(hosts):
        check_text(host, f"spec.mysql.allowedHosts[{i}]")
        check_name_length(dialect.engine, NameKind.HOST, host, f"spec.mysql.allowedHosts[{i}]")
    return list(dict.fromkeys(hosts))


def account_options(config: UserMySQLConfig, *, attribute: str | None = None) -> AccountOptions:
    """Builder options for the `spec.mysql` block (`attribute`: tracking text stored as a user attribute)."""
    return AccountOptions(
        auth_plugin=config.auth_plugin,
        require=Require.of(ssl=config.require_ssl, x509=config.require_x509),
        max_queries_per_hour=config.max_queries_per_hour,
        max_updates_per_hour=config.max_updates_per_hour,
        max_connections_per_hour=config.max_connections_per_hour,
        max_user_connections=config.max_user_connections,
        locked=config.account_locked,
        failed_login_attempts=config.failed_login_attempts,
        password_lock_time=config.password_lock_time,
        attribute=attribute,
    )


def effective_plugin(plugin: str, dialect: MySQLDialect) -> str:
    """The plugin an account really gets: the requested one where the server has it, else the server default."""
    return plugin if dialect.has_plugin(plugin) else dialect.default_plugin


def desired_attributes(config: UserMySQLConfig, dialect: MySQLDialect) -> dict[str, object]:
    """What observation should report for a spec, in `AccountRow.attributes()` keys, leaving out what this server
    cannot hold (failed-login settings before MySQL 8.0.19, the lock flag where locking does not exist)."""
    require = Require.of(ssl=config.require_ssl, x509=config.require_x509)
    out: dict[str, object] = {
        "authPlugin": effective_plugin(config.auth_plugin, dialect),
        "requireSSL": require is Require.SSL,
        "requireX509": require is Require.X509,
        "maxQueriesPerHour": config.max_queries_per_hour,
        "maxUpdatesPerHour": config.max_updates_per_hour,
        "maxConnectionsPerHour": config.max_connections_per_hour,
        "maxUserConnections": config.max_user_connections,
    }
    if dialect.account_lock:
        out["accountLocked"] = config.account_locked
    if dialect.failed_login_lock:
        out["failedLoginAttempts"] = config.failed_login_attempts
        out["passwordLockTime"] = config.password_lock_time
    return out


def other_engine_blocks(spec: DatabaseSpec | DatabaseUserSpec) -> list[str]:
    """`spec.postgres` / `spec.clickhouse` on a MySQL-family instance: reported (an engine mismatch), not ignored."""
    return [path for path, block in (("spec.postgres", spec.postgres), ("spec.clickhouse", spec.clickhouse)) if block]


def secret_format_unsupported(spec: DatabaseUserSpec) -> list[str]:
    """engines.md 1.7 "All": `passwordSecret.format` other than `kubernetes` (a Kubernetes Secret is still written)."""
    if spec.password_secret is not None and spec.password_secret.format != "kubernetes":
        return ["spec.passwordSecret.format"]
    return []


def uses_dual_password(spec: DatabaseUserSpec) -> bool:
    rotation = spec.password_rotation
    return rotation is not None and rotation.enabled and rotation.strategy == "dual-password"


def grant_entries(grants: Sequence[MySQLGrant] | None) -> list[MySQLGrantEntry]:
    """Builder entries for `mysql.grants[]` (validation happens when they are planned)."""
    return [
        MySQLGrantEntry(
            level=MySQLLevel(g.level),
            privileges=list(g.privileges),
            database=g.database,
            table=g.table,
            columns=tuple(g.columns or ()),
            procedure=g.procedure,
            function=g.function,
            with_grant_option=bool(g.with_grant_option),
        )
        for g in grants or ()
    ]


# --------------------------------------------------------------------------------------------------------------------
# Drift (api.md 4.4 field names)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return ",".join(f"{k}={_text(v)}" for k, v in sorted(value.items()))
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(sorted(str(v) for v in value))
    return "" if value is None else str(value)


def database_drift(spec: DatabaseSpec, observed: ObservedDatabase) -> list[DriftDiff]:
    """`charset` and `collation` (api.md 4.4 "Database (mysql, mariadb)"); compared without regard to case."""
    config = database_config(spec)
    out: list[DriftDiff] = []
    for field, want, have in (
        ("charset", config.charset, observed.charset),
        ("collation", config.collation, observed.collation),
    ):
        if want.lower() != (have or "").lower():
            out.append(DriftDiff(field=field, expected=want, actual=have or "", destructive=False, immutable=False))
    return out


def account_drift(
    spec: DatabaseUserSpec,
    observed: ObservedAccount,
    dialect: MySQLDialect,
    *,
    declared_roles: Sequence[str] = (),
) -> list[DriftDiff]:
    """Hosts, attributes and memberships of a user (api.md 4.4 "DatabaseUser (mysql, mariadb)").

    `declared_roles` are memberships other resources declare for this user (DatabaseGrants, rotation), so that they
    are not reported as `roles.extra`. Extras (hosts, roles) are destructive to correct.
    """
    out: list[DriftDiff] = []
    hosts = hosts_of(spec, dialect)
    missing_hosts = [h for h in hosts if h not in observed.hosts]
    extra_hosts = sorted(observed.hosts - set(hosts))
    if missing_hosts:
        out.append(DriftDiff(field="allowedHosts.missing", expected=_text(missing_hosts), actual="", destructive=False))
    if extra_hosts:
        out.append(DriftDiff(field="allowedHosts.extra", expected="", actual=_text(extra_hosts), destructive=True))
    for key, want in desired_attributes(user_config(spec), dialect).items():
        have = observed.attributes.get(key)
        if have != want:
            out.append(DriftDiff(field=key, expected=_text(want), actual=_text(have), destructive=False))
    wanted_roles = set(spec.roles or ()) | set(declared_roles)
    missing_roles = sorted(set(spec.roles or ()) - observed.member_of)
    extra_roles = sorted(observed.member_of - wanted_roles)
    if missing_roles:
        out.append(DriftDiff(field="roles.missing", expected=_text(missing_roles), actual="", destructive=False))
    if extra_roles:
        out.append(DriftDiff(field="roles.extra", expected="", actual=_text(extra_roles), destructive=True))
    return out


def privilege_drift(diffs: Sequence[PrivilegeDiff]) -> list[DriftDiff]:
    """`grants.<db>.<table or *>.missing` and `.extra` (destructive) from `MySQLAdapter.grant_drift`."""
    out: list[DriftDiff] = []
    for diff in diffs:
        if diff.missing:
            out.append(
                DriftDiff(
                    field=f"{diff.field}.missing",
                    expected=", ".join(p.describe() for p in diff.missing),
                    actual="",
                    destructive=False,
                )
            )
        if diff.extra:
            out.append(
                DriftDiff(
                    field=f"{diff.field}.extra",
                    expected="",
                    actual=", ".join(p.describe() for p in diff.extra),
                    destructive=True,
                )
            )
    return out
