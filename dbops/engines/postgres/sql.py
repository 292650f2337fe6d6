"""PostgreSQL and CockroachDB statement builders: databases, extensions, schemas, roles, memberships, cleanup.

engines.md section 2 (PostgreSQL) and section 3 (CockroachDB differences). Every builder is a pure function of
plain typed parameters that returns SQL text; adapters only execute what these return. Names are always quoted
identifiers and free text always quoted literals (:mod:`dbops.engines.sql.quoting`); integers are formatted from
Python ``int`` values. Grants live in :mod:`dbops.engines.postgres.grants`, catalog reads in
:mod:`dbops.engines.postgres.catalog`.

Field paths given to :class:`~dbops.engines.errors.InvalidSpec` are the API paths (``spec.postgres.template``) where a
parameter maps to one field, so a controller can use the exception as is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Literal

from dbops.engines.errors import InvalidSpec
from dbops.engines.postgres.scram import scram_sha256_verifier
from dbops.engines.sql.quoting import check_setting_name, pg_ident, pg_literal
from dbops.engines.sql.redact import redact

__all__ = [
    "COCKROACHDB",
    "INFINITY",
    "LIST_VALUED_PARAMETERS",
    "POSTGRES",
    "ROLE_ATTRIBUTE_FIELDS",
    "DatabaseOptions",
    "PgDialect",
    "PgPassword",
    "RoleAttributes",
    "alter_database_allow_connections",
    "alter_database_connection_limit",
    "alter_database_is_template",
    "alter_database_owner",
    "alter_database_tablespace",
    "alter_extension_version",
    "alter_role",
    "alter_role_attributes",
    "alter_role_password",
    "alter_schema_owner",
    "cockroach_unsupported_database_fields",
    "cockroach_unsupported_role_fields",
    "comment_on_database",
    "comment_on_role",
    "comment_on_schema",
    "create_database",
    "create_extension",
    "create_role",
    "create_schema",
    "disable_login",
    "drop_database",
    "drop_owned",
    "drop_role",
    "grant_membership",
    "list_parameter_elements",
    "reassign_owned",
    "redact",
    "reset_role",
    "reset_role_parameter",
    "revoke_all_on_database",
    "revoke_membership",
    "set_default_role",
    "set_role",
    "set_role_parameter",
    "set_role_parameters",
]


# --------------------------------------------------------------------------------------------------------------------
# Dialect


@dataclass(frozen=True)
class PgDialect:
    """What the connected server accepts; decided from the detected flavour and version (engines.md 1.4, 3).

    ``major_version`` is the PostgreSQL major version (``DROP DATABASE … WITH (FORCE)`` needs 13). The ``role_*``
    flags say whether a CockroachDB version accepts REPLICATION, BYPASSRLS and role CONNECTION LIMIT; PostgreSQL
    accepts all three.
    """

    cockroach: bool = False
    major_version: int = 15
    role_replication: bool = True
    role_bypass_rls: bool = True
    role_connection_limit: bool = True


POSTGRES: Final = PgDialect()
COCKROACHDB: Final = PgDialect(
    cockroach=True, role_replication=False, role_bypass_rls=False, role_connection_limit=False
)


def _conn_limit(value: int, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{field} must be an int")
    if value < -1:
        raise InvalidSpec(field, "must be -1 (unlimited) or more")
    return str(value)


def _bool(value: bool) -> str:
    return "true" if value else "false"


# --------------------------------------------------------------------------------------------------------------------
# Databases (engines.md 2.1, 3)


@dataclass(frozen=True)
class DatabaseOptions:
    """Creation options of a database; ``None`` means "not given: the server default applies"."""

    name: str
    owner: str | None = None
    template: str | None = None
    encoding: str | None = None
    lc_collate: str | None = None
    lc_ctype: str | None = None
    tablespace: str | None = None
    connection_limit: int | None = None
    is_template: bool | None = None


def create_database(opts: DatabaseOptions, dialect: PgDialect = POSTGRES) -> str:
    """CREATE DATABASE with every option that was given.

    Runs on the admin database outside a transaction block. ALLOW_CONNECTIONS is never set here: ``allowConnections:
    false`` is applied afterwards with :func:`alter_database_allow_connections`, once in-database setup is done.
    On CockroachDB only IF NOT EXISTS, OWNER and a UTF8 ENCODING are emitted; the other options are not applied there
    (see :func:`cockroach_unsupported_database_fields`).
    """
    name = pg_ident(opts.name, "spec.name")
    options: list[str] = []
    if opts.owner is not None:
        options.append("OWNER = " + pg_ident(opts.owner, "spec.owner"))
    if dialect.cockroach:
        if opts.encoding is not None and _is_utf8(opts.encoding):
            options.append("ENCODING = " + pg_literal("UTF8", "spec.postgres.encoding"))
        return f"CREATE DATABASE IF NOT EXISTS {name}" + (" WITH " + " ".join(options) if options else "")
    if opts.template is not None:
        options.append("TEMPLATE = " + pg_ident(opts.template, "spec.postgres.template"))
    if opts.encoding is not None:
        options.append("ENCODING = " + pg_literal(opts.encoding, "spec.postgres.encoding"))
    if opts.lc_collate is not None:
        options.append("LC_COLLATE = " + pg_literal(opts.lc_collate, "spec.postgres.lcCollate"))
    if opts.lc_ctype is not None:
        options.append("LC_CTYPE = " + pg_literal(opts.lc_ctype, "spec.postgres.lcCtype"))
    if opts.tablespace is not None:
        options.append("TABLESPACE = " + pg_ident(opts.tablespace, "spec.postgres.tablespace"))
    if opts.connection_limit is not None:
        options.append("CONNECTION LIMIT = " + _conn_limit(opts.connection_limit, "spec.postgres.connectionLimit"))
    if opts.is_template is not None:
        options.append("IS_TEMPLATE = " + _bool(opts.is_template))
    return f"CREATE DATABASE {name}" + (" WITH " + " ".join(options) if options else "")


def _is_utf8(encoding: str) -> bool:
    return encoding.replace("-", "").replace("_", "").upper() in {"UTF8", "UNICODE"}


def cockroach_unsupported_database_fields(
    opts: DatabaseOptions, *, allow_connections: bool = True, extensions: int = 0
) -> list[str]:
    """Field paths CockroachDB does not apply for these options (engines.md 1.7, 3), for ``UnsupportedOption``.

    Values equal to the schema default, or to what CockroachDB does anyway, are not listed (api.md 1.5).
    """
    out: list[str] = []
    if opts.encoding is not None and not _is_utf8(opts.encoding):
        out.append("spec.postgres.encoding")
    if opts.lc_collate is not None:
        out.append("spec.postgres.lcCollate")
    if opts.lc_ctype is not None:
        out.append("spec.postgres.lcCtype")
    if opts.tablespace is not None and opts.tablespace != "pg_default":
        out.append("spec.postgres.tablespace")
    if opts.template is not None and opts.template != "template0":
        out.append("spec.postgres.template")
    if opts.is_template:
        out.append("spec.postgres.isTemplate")
    if not allow_connections:
        out.append("spec.postgres.allowConnections")
    if opts.connection_limit is not None and opts.connection_limit != -1:
        out.append("spec.postgres.connectionLimit")
    if extensions:
        out.append("spec.postgres.extensions")
    return out


def alter_database_owner(name: str, owner: str) -> str:
    """ALTER DATABASE … OWNER TO …"""
    return f"ALTER DATABASE {pg_ident(name, 'spec.name')} OWNER TO {pg_ident(owner, 'spec.owner')}"


def alter_database_tablespace(name: str, tablespace: str) -> str:
    """ALTER DATABASE … SET TABLESPACE … (needs no other sessions on the database)."""
    return (
        f"ALTER DATABASE {pg_ident(name, 'spec.name')} SET TABLESPACE "
        f"{pg_ident(tablespace, 'spec.postgres.tablespace')}"
    )


def alter_database_connection_limit(name: str, limit: int) -> str:
    """ALTER DATABASE … WITH CONNECTION LIMIT n"""
    return (
        f"ALTER DATABASE {pg_ident(name, 'spec.name')} WITH CONNECTION LIMIT "
        f"{_conn_limit(limit, 'spec.postgres.connectionLimit')}"
    )


def alter_database_is_template(name: str, is_template: bool) -> str:
    """ALTER DATABASE … WITH IS_TEMPLATE true|false"""
    return f"ALTER DATABASE {pg_ident(name, 'spec.name')} WITH IS_TEMPLATE {_bool(is_template)}"


def alter_database_allow_connections(name: str, allow: bool) -> str:
    """ALTER DATABASE … WITH ALLOW_CONNECTIONS true|false"""
    return f"ALTER DATABASE {pg_ident(name, 'spec.name')} WITH ALLOW_CONNECTIONS {_bool(allow)}"


def comment_on_database(name: str, text: str | None) -> str:
    """COMMENT ON DATABASE … IS '…' (resource tracking); ``None`` removes the comment."""
    value = "NULL" if text is None else pg_literal(text, "comment")
    return f"COMMENT ON DATABASE {pg_ident(name, 'spec.name')} IS {value}"


def drop_database(name: str, dialect: PgDialect = POSTGRES, *, is_template: bool = False) -> list[str]:
    """The statements that drop a database (engines.md 2.6, 3), to run after ending other sessions.

    PostgreSQL refuses to drop a template database, so one marked ``IS_TEMPLATE`` is unmarked first. On 13 and later
    the drop uses ``WITH (FORCE)`` to also end sessions that connected since the termination query ran. CockroachDB
    drops with CASCADE and needs no session handling.
    """
    ident = pg_ident(name, "spec.name")
    if dialect.cockroach:
        return [f"DROP DATABASE IF EXISTS {ident} CASCADE"]
    out = [alter_database_is_template(name, False)] if is_template else []
    force = " WITH (FORCE)" if dialect.major_version >= 13 else ""
    out.append(f"DROP DATABASE IF EXISTS {ident}{force}")
    return out


# --------------------------------------------------------------------------------------------------------------------
# Extensions and schemas (inside the database)


def create_extension(name: str, schema: str | None = None, version: str | None = None, *, field: str = "") -> str:
    """CREATE EXTENSION IF NOT EXISTS … [WITH SCHEMA …] [VERSION '…']"""
    prefix = field or "spec.postgres.extensions[0]"
    sql = f"CREATE EXTENSION IF NOT EXISTS {pg_ident(name, f'{prefix}.name')}"
    if schema is not None:
        sql += f" WITH SCHEMA {pg_ident(schema, f'{prefix}.schema')}"
    if version is not None:
        sql += f" VERSION {pg_literal(version, f'{prefix}.version')}"
    return sql


def alter_extension_version(name: str, version: str, *, field: str = "") -> str:
    """ALTER EXTENSION … UPDATE TO '…' (extensions are never dropped by the operator)."""
    prefix = field or "spec.postgres.extensions[0]"
    return f"ALTER EXTENSION {pg_ident(name, f'{prefix}.name')} UPDATE TO {pg_literal(version, f'{prefix}.version')}"


def create_schema(name: str, owner: str, *, field: str = "") -> str:
    """CREATE SCHEMA IF NOT EXISTS … AUTHORIZATION <schema owner, else database owner>"""
    prefix = field or "spec.postgres.schemas[0]"
    schema = pg_ident(name, f"{prefix}.name")
    return f"CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {pg_ident(owner, f'{prefix}.owner')}"


def alter_schema_owner(name: str, owner: str, *, field: str = "") -> str:
    """ALTER SCHEMA … OWNER TO …"""
    prefix = field or "spec.postgres.schemas[0]"
    return f"ALTER SCHEMA {pg_ident(name, f'{prefix}.name')} OWNER TO {pg_ident(owner, f'{prefix}.owner')}"


def comment_on_schema(name: str, text: str | None) -> str:
    """COMMENT ON SCHEMA … IS '…' | NULL"""
    value = "NULL" if text is None else pg_literal(text, "comment")
    return f"COMMENT ON SCHEMA {pg_ident(name, 'schema')} IS {value}"


def set_role(role: str) -> str:
    """SET ROLE … — initSQL runs as the database owner (api.md 5.13)."""
    return f"SET ROLE {pg_ident(role, 'spec.owner')}"


def reset_role() -> str:
    """RESET ROLE"""
    return "RESET ROLE"


# --------------------------------------------------------------------------------------------------------------------
# Roles and users (engines.md 2.2, 3)

#: ``VALID UNTIL 'infinity'``: pass as ``valid_until`` to remove an expiry.
INFINITY: Final = "infinity"


@dataclass(frozen=True)
class PgPassword:
    """The text that follows PASSWORD, built by one of the constructors.

    ``repr`` never shows the value, so a PgPassword can sit in a structure that gets logged.
    """

    text: str | None = field(repr=False)

    @classmethod
    def plaintext(cls, password: str) -> PgPassword:
        """Send the plaintext (server not using SCRAM, or CockroachDB without pre-hashed password support)."""
        return cls(password)

    @classmethod
    def scram(cls, password: str, *, salt: bytes | None = None, iterations: int = 4096) -> PgPassword:
        """Send a locally computed SCRAM-SHA-256 verifier, so the plaintext never reaches the server (1.5)."""
        return cls(scram_sha256_verifier(password, salt=salt, iterations=iterations))

    @classmethod
    def null(cls) -> PgPassword:
        """PASSWORD NULL: remove the password."""
        return cls(None)

    def clause(self) -> str:
        if self.text is None:
            return "PASSWORD NULL"
        return "PASSWORD " + pg_literal(self.text, "password")


@dataclass(frozen=True)
class RoleAttributes:
    """Role attributes (engines.md 2.2). ``connection_limit`` and ``valid_until`` only apply to users.

    ``valid_until`` is an aware datetime (sent in UTC), :data:`INFINITY`, or ``None`` for "not managed".
    """

    login: bool
    superuser: bool = False
    create_db: bool = False
    create_role: bool = False
    inherit: bool = True
    replication: bool = False
    bypass_rls: bool = False
    connection_limit: int | None = None
    valid_until: datetime | Literal["infinity"] | None = None


def _valid_until(value: datetime | str) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("valid_until must be timezone-aware")
        text = value.astimezone(UTC).isoformat(sep=" ")
    elif value == INFINITY:
        text = INFINITY
    else:
        raise ValueError("valid_until must be a datetime or INFINITY")
    return "VALID UNTIL " + pg_literal(text, "spec.postgres.validUntil")


def _attribute_clauses(attrs: RoleAttributes, dialect: PgDialect) -> list[str]:
    out = ["LOGIN" if attrs.login else "NOLOGIN"]
    if not dialect.cockroach:
        out.append("SUPERUSER" if attrs.superuser else "NOSUPERUSER")
    out.append("CREATEDB" if attrs.create_db else "NOCREATEDB")
    out.append("CREATEROLE" if attrs.create_role else "NOCREATEROLE")
    if not dialect.cockroach:
        out.append("INHERIT" if attrs.inherit else "NOINHERIT")
    if dialect.role_replication:
        out.append("REPLICATION" if attrs.replication else "NOREPLICATION")
    if dialect.role_bypass_rls:
        out.append("BYPASSRLS" if attrs.bypass_rls else "NOBYPASSRLS")
    if attrs.connection_limit is not None and dialect.role_connection_limit:
        out.append("CONNECTION LIMIT " + _conn_limit(attrs.connection_limit, "spec.postgres.connectionLimit"))
    if attrs.valid_until is not None:
        out.append(_valid_until(attrs.valid_until))
    return out


def cockroach_unsupported_role_fields(attrs: RoleAttributes, dialect: PgDialect = COCKROACHDB) -> list[str]:
    """Attribute fields a CockroachDB server does not apply (engines.md 1.7, 3), for ``UnsupportedOption``."""
    out: list[str] = []
    if attrs.superuser:
        out.append("spec.postgres.superuser")
    if not attrs.inherit:
        out.append("spec.postgres.inherit")
    if attrs.replication and not dialect.role_replication:
        out.append("spec.postgres.replication")
    if attrs.bypass_rls and not dialect.role_bypass_rls:
        out.append("spec.postgres.bypassRLS")
    if attrs.connection_limit not in (None, -1) and not dialect.role_connection_limit:
        out.append("spec.postgres.connectionLimit")
    return out


def create_role(
    name: str,
    attrs: RoleAttributes,
    *,
    password: PgPassword | None = None,
    in_roles: Sequence[str] = (),
    dialect: PgDialect = POSTGRES,
    field: str = "spec.username",
) -> str:
    """CREATE ROLE with the full attribute set, the password, and IN ROLE memberships.

    CockroachDB does not accept IN ROLE: there the memberships must be granted afterwards with
    :func:`grant_membership`, and ``in_roles`` is ignored by this builder.
    """
    clauses = _attribute_clauses(attrs, dialect)
    if password is not None:
        clauses.append(password.clause())
    if in_roles and not dialect.cockroach:
        roles = ", ".join(pg_ident(r, f"spec.postgres.inRoles[{i}]") for i, r in enumerate(in_roles))
        clauses.append("IN ROLE " + roles)
    return f"CREATE ROLE {pg_ident(name, field)} WITH " + " ".join(clauses)


def alter_role(
    name: str,
    attrs: RoleAttributes,
    *,
    password: PgPassword | None = None,
    dialect: PgDialect = POSTGRES,
    field: str = "spec.username",
) -> str:
    """ALTER ROLE with the full attribute set (and a new password when given)."""
    clauses = _attribute_clauses(attrs, dialect)
    if password is not None:
        clauses.append(password.clause())
    return f"ALTER ROLE {pg_ident(name, field)} WITH " + " ".join(clauses)


def alter_role_password(name: str, password: PgPassword, *, field: str = "spec.username") -> str:
    """ALTER ROLE … WITH PASSWORD …"""
    return f"ALTER ROLE {pg_ident(name, field)} WITH {password.clause()}"


def disable_login(name: str) -> str:
    """ALTER ROLE … WITH NOLOGIN: disable a superseded rotation account."""
    return f"ALTER ROLE {pg_ident(name, 'user')} WITH NOLOGIN"


def comment_on_role(name: str, text: str | None) -> str:
    """COMMENT ON ROLE … IS '…' | NULL"""
    value = "NULL" if text is None else pg_literal(text, "comment")
    return f"COMMENT ON ROLE {pg_ident(name, 'role')} IS {value}"


def grant_membership(role: str, member: str, *, admin_option: bool = False) -> str:
    """GRANT <role> TO <member> [WITH ADMIN OPTION]"""
    sql = f"GRANT {pg_ident(role, 'role')} TO {pg_ident(member, 'member')}"
    return sql + " WITH ADMIN OPTION" if admin_option else sql


def revoke_membership(role: str, member: str) -> str:
    """REVOKE <role> FROM <member>"""
    return f"REVOKE {pg_ident(role, 'role')} FROM {pg_ident(member, 'member')}"


#: Parameters whose value is a list (``GUC_LIST_INPUT``): a value like ``"$user", public`` must be sent as separate
#: literals, or the server would read it as one element (engines.md 2.2 ``configParameters``).
LIST_VALUED_PARAMETERS = frozenset(
    {
        "search_path",
        "temp_tablespaces",
        "session_preload_libraries",
        "local_preload_libraries",
        "shared_preload_libraries",
        "datestyle",
    }
)


def _list_elements(value: str) -> list[str]:
    out: list[str] = []
    for part in value.split(","):
        item = part.strip()
        if len(item) >= 2 and item.startswith('"') and item.endswith('"'):
            # An element written as a quoted identifier ("$user"): the server quotes list elements itself.
            item = item[1:-1].replace('""', '"')
        if item:
            out.append(item)
    return out


def set_role_parameter(name: str, parameter: str, value: str, *, field: str = "spec.postgres.configParameters") -> str:
    """ALTER ROLE … SET <parameter> TO '<value>'[, '<value>' …]

    The parameter name must match the setting-name pattern and is quoted. List-valued parameters are split on
    commas and each element sent as its own literal; an element written in double quotes is unquoted first, since
    the server adds the identifier quoting of list elements itself.
    """
    key_field = f"{field}.{parameter}" if parameter else field
    check_setting_name(parameter, key_field)
    is_list = parameter.lower() in LIST_VALUED_PARAMETERS
    elements = (_list_elements(value) or [""]) if is_list else [value]
    values = ", ".join(pg_literal(v, key_field) for v in elements)
    return f"ALTER ROLE {pg_ident(name, 'spec.username')} SET {pg_ident(parameter, key_field)} TO {values}"


def reset_role_parameter(name: str, parameter: str, *, field: str = "spec.postgres.configParameters") -> str:
    """ALTER ROLE … RESET <parameter> (a key removed from ``configParameters``, or a removed ``defaultRole``)."""
    key_field = f"{field}.{parameter}" if parameter else field
    check_setting_name(parameter, key_field)
    return f"ALTER ROLE {pg_ident(name, 'spec.username')} RESET {pg_ident(parameter, key_field)}"


def set_default_role(user: str, role: str) -> str:
    """ALTER ROLE <user> SET role TO '<role>': the role becomes active at login (``postgres.defaultRole``).

    The membership must exist first (:func:`grant_membership`).
    """
    return (
        f"ALTER ROLE {pg_ident(user, 'spec.username')} SET {pg_ident('role', 'spec.postgres.defaultRole')} "
        f"TO {pg_literal(role, 'spec.postgres.defaultRole')}"
    )


def set_role_parameters(name: str, parameters: Mapping[str, str]) -> list[str]:
    """One :func:`set_role_parameter` per key, in key order (stable output for tests and drift)."""
    return [set_role_parameter(name, k, parameters[k]) for k in sorted(parameters)]


# --------------------------------------------------------------------------------------------------------------------
# Dropping roles (engines.md 2.5, 3)


def reassign_owned(role: str, to: str) -> str:
    """REASSIGN OWNED BY … TO … — run in every database where the dependency catalog lists the role."""
    return f"REASSIGN OWNED BY {pg_ident(role, 'role')} TO {pg_ident(to, 'admin')}"


def drop_owned(role: str) -> str:
    """DROP OWNED BY … — drops what is still owned and revokes privileges granted to the role in this database."""
    return f"DROP OWNED BY {pg_ident(role, 'role')}"


def revoke_all_on_database(database: str, role: str) -> str:
    """REVOKE ALL ON DATABASE … FROM … (CockroachDB: DROP OWNED leaves database privileges in place)."""
    return f"REVOKE ALL ON DATABASE {pg_ident(database, 'database')} FROM {pg_ident(role, 'role')}"


def drop_role(role: str) -> str:
    """DROP ROLE IF EXISTS … — on the admin database, after the per-database cleanup."""
    return f"DROP ROLE IF EXISTS {pg_ident(role, 'role')}"


# --------------------------------------------------------------------------------------------------------------------
# Changing only some role attributes (additions for the adapter)

#: The attribute names of :class:`RoleAttributes`, in the order their clauses are emitted.
ROLE_ATTRIBUTE_FIELDS: Final = (
    "login",
    "superuser",
    "create_db",
    "create_role",
    "inherit",
    "replication",
    "bypass_rls",
    "connection_limit",
    "valid_until",
)


def _attribute_clause(attrs: RoleAttributes, name: str, dialect: PgDialect) -> str | None:
    """The clause of one attribute, or None when the dialect has no such clause (or the value is "not managed")."""
    flags = {
        "login": ("LOGIN", True),
        "superuser": ("SUPERUSER", not dialect.cockroach),
        "create_db": ("CREATEDB", True),
        "create_role": ("CREATEROLE", True),
        "inherit": ("INHERIT", not dialect.cockroach),
        "replication": ("REPLICATION", dialect.role_replication),
        "bypass_rls": ("BYPASSRLS", dialect.role_bypass_rls),
    }
    if name in flags:
        keyword, supported = flags[name]
        if not supported:
            return None
        return keyword if getattr(attrs, name) else "NO" + keyword
    if name == "connection_limit":
        if attrs.connection_limit is None or not dialect.role_connection_limit:
            return None
        return "CONNECTION LIMIT " + _conn_limit(attrs.connection_limit, "spec.postgres.connectionLimit")
    if name == "valid_until":
        return None if attrs.valid_until is None else _valid_until(attrs.valid_until)
    raise ValueError(f"unknown role attribute {name!r}")


def alter_role_attributes(
    name: str,
    attrs: RoleAttributes,
    fields: Sequence[str],
    *,
    dialect: PgDialect = POSTGRES,
    field: str = "spec.username",
) -> str | None:
    """ALTER ROLE … WITH only the attributes named in ``fields`` (names from :data:`ROLE_ATTRIBUTE_FIELDS`).

    Why not always :func:`alter_role`: PostgreSQL refuses an ALTER ROLE that merely *mentions* SUPERUSER, REPLICATION
    or BYPASSRLS (even NOSUPERUSER on a role that is not one) unless the session is a superuser, and the admin of
    engines.md 1.6 is a CREATEROLE non-superuser. Sending only the attributes that differ works for that admin and
    is also the "one ALTER per differing attribute" of drift correction. Returns None when no clause remains
    (nothing named, or only attributes the dialect lacks).
    """
    unknown = [f for f in fields if f not in ROLE_ATTRIBUTE_FIELDS]
    if unknown:
        raise ValueError(f"unknown role attributes {unknown!r}")
    ordered = [f for f in ROLE_ATTRIBUTE_FIELDS if f in fields]
    clauses = [c for c in (_attribute_clause(attrs, f, dialect) for f in ordered) if c is not None]
    if not clauses:
        return None
    return f"ALTER ROLE {pg_ident(name, field)} WITH " + " ".join(clauses)


def list_parameter_elements(value: str) -> list[str]:
    """The elements a list-valued parameter value stands for, as :func:`set_role_parameter` sends them.

    Also reads the server's stored form back (``pg_db_role_setting`` keeps ``"$user", public``), so a desired
    value and a stored one can be compared element by element.
    """
    return _list_elements(value)
