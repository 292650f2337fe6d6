"""MySQL-family GRANT / REVOKE builders and the privilege model used for drift (engines.md 4.4, api.md 5.16).

A grant entry is first *planned* by :func:`plan_grant` — level fields checked, privileges allow-listed for the level
and normalised, the ON-clause built — and the plan is rendered as GRANT or REVOKE statements, one per grantee
account (a user has one account per allowed host). Granting and revoking one entry therefore always touch exactly
the same clause.

For drift, :func:`expand_entry` turns an entry into :class:`Privilege` tuples — one per (target, privilege), with
``ALL`` spelled out for the level and the grant option as the pseudo-privilege ``GRANT OPTION`` — which is the same
shape :mod:`dbops.engines.mysql.catalog` reads back from the grant tables. :func:`privilege_diff` compares the
two sets per target and names the differences with the api.md 4.4 field names.

Database names in database-level grants are LIKE patterns on the server: the builders escape ``_``, ``%`` and ``\\``
(see :class:`~dbops.engines.mysql.sql.MySQLDialect`), so a grant on ``app_db`` never also covers ``appXdb``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from dbops.engines.errors import InvalidSpec
from dbops.engines.mysql.sql import DEFAULT_MYSQL, Account, MySQLDialect
from dbops.engines.sql.privileges import MYSQL_PRIVILEGE_LEVELS, MySQLLevel, mysql_privileges
from dbops.engines.sql.quoting import NameKind, mysql_ident

__all__ = [
    "GRANT_OPTION",
    "LEVEL_ALL",
    "GrantPlan",
    "MySQLGrantEntry",
    "Privilege",
    "PrivilegeDiff",
    "entry_for",
    "escape_db_pattern",
    "expand_entry",
    "grant_entry",
    "plan_grant",
    "privilege_diff",
    "render_grants",
    "render_revokes",
    "revoke_entry",
    "unescape_db_pattern",
]

GRANT_OPTION = "GRANT OPTION"


def _valid_at(level: MySQLLevel) -> frozenset[str]:
    return frozenset(p for p, levels in MYSQL_PRIVILEGE_LEVELS.items() if level in levels)


_NOT_REAL = frozenset({"ALL", "ALL PRIVILEGES", "USAGE", GRANT_OPTION})

#: What ``ALL`` stands for at each level, restricted to the allow-list (the server may add privileges outside it,
#: such as MariaDB's DELETE HISTORY; those are neither granted by name nor compared).
LEVEL_ALL: dict[MySQLLevel, frozenset[str]] = {
    level: _valid_at(level) - _NOT_REAL
    for level in (
        MySQLLevel.GLOBAL,
        MySQLLevel.DATABASE,
        MySQLLevel.TABLE,
        MySQLLevel.PROCEDURE,
        MySQLLevel.FUNCTION,
    )
}


@dataclass(frozen=True)
class MySQLGrantEntry:
    """One ``mysql.grants[]`` entry (api.md 5.16), in builder terms."""

    level: MySQLLevel
    privileges: Sequence[str]
    database: str | None = None
    table: str | None = None
    columns: Sequence[str] = ()
    procedure: str | None = None
    function: str | None = None
    with_grant_option: bool = False


@dataclass(frozen=True)
class GrantPlan:
    """A checked entry: privileges to name, the column list (column level), the ON-clause, the grant option."""

    privileges: tuple[str, ...]
    columns: tuple[str, ...]
    target: str
    with_grant_option: bool

    def privilege_list(self) -> str:
        if not self.columns:
            return ", ".join(self.privileges)
        cols = ", ".join(self.columns)
        return ", ".join(f"{p} ({cols})" for p in self.privileges)


def escape_db_pattern(name: str) -> str:
    """``app_db`` → ``app\\_db``: the name as a LIKE pattern matching only itself (database-level grants)."""
    return name.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")


def unescape_db_pattern(pattern: str) -> str:
    """The inverse of :func:`escape_db_pattern`, for ``mysql.db.Db`` values read back."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "\\_%":
            out.append(pattern[i + 1])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


_LEVEL_FIELDS = ("database", "table", "columns", "procedure", "function")
_REQUIRED: dict[MySQLLevel, tuple[str, ...]] = {
    MySQLLevel.GLOBAL: (),
    MySQLLevel.DATABASE: ("database",),
    MySQLLevel.TABLE: ("database", "table"),
    MySQLLevel.COLUMN: ("database", "table", "columns"),
    MySQLLevel.PROCEDURE: ("database", "procedure"),
    MySQLLevel.FUNCTION: ("database", "function"),
}


def _check_fields(entry: MySQLGrantEntry, field: str) -> None:
    """Required level fields present; fields of other levels absent (a table on a database-level entry would grant
    more than its author meant, so it is refused rather than ignored)."""
    required = _REQUIRED[entry.level]
    for name in _LEVEL_FIELDS:
        value = getattr(entry, name)
        present = bool(value) if name == "columns" else value is not None
        if name in required and not present:
            raise InvalidSpec(f"{field}.{name}", f"is required at {entry.level} level")
        if name not in required and present:
            raise InvalidSpec(f"{field}.{name}", f"is not used at {entry.level} level")


def plan_grant(entry: MySQLGrantEntry, dialect: MySQLDialect = DEFAULT_MYSQL, *, field: str = "") -> GrantPlan:
    """Check one entry and build its privilege list and ON-clause (engines.md 4.4).

    ``ALL PRIVILEGES`` becomes ``ALL`` and absorbs the rest; ``GRANT OPTION`` listed as a privilege becomes WITH GRANT
    OPTION; ``USAGE`` (no privileges) is dropped when anything else is listed. The ``field`` prefix names the entry
    (``spec.mysql.grants[2]``) in errors.
    """
    level = MySQLLevel(entry.level)
    entry = replace(entry, level=level, columns=tuple(entry.columns))
    prefix = f"{field}." if field else ""
    _check_fields(entry, field or "entry")
    privileges = mysql_privileges(entry.privileges, level, f"{prefix}privileges")
    canonical = ["ALL" if p == "ALL PRIVILEGES" else p for p in privileges]
    grant_option = entry.with_grant_option or GRANT_OPTION in canonical
    names = [p for p in dict.fromkeys(canonical) if p != GRANT_OPTION]
    if "ALL" in names:
        names = ["ALL"]
    elif len(names) > 1 and "USAGE" in names:
        names.remove("USAGE")
    if not names:
        names = ["USAGE"]
    columns: tuple[str, ...] = ()
    if level is MySQLLevel.COLUMN:
        columns = tuple(mysql_ident(c, f"{prefix}columns[{i}]") for i, c in enumerate(dict.fromkeys(entry.columns)))
    return GrantPlan(tuple(names), columns, _target(entry, dialect, prefix), grant_option)


def _target(entry: MySQLGrantEntry, dialect: MySQLDialect, prefix: str) -> str:
    if entry.level is MySQLLevel.GLOBAL:
        return "*.*"
    assert entry.database is not None
    if entry.level is MySQLLevel.DATABASE:
        # Checked as a name (NUL, length, …) first; the escaping only adds backslashes, which are ordinary
        # characters inside backticks, and the 64-character limit is on the name, not on the pattern.
        quoted = mysql_ident(entry.database, f"{prefix}database", kind=NameKind.DATABASE)
        if not dialect.escape_db_wildcards:
            return quoted + ".*"
        return "`" + escape_db_pattern(entry.database).replace("`", "``") + "`.*"
    database = mysql_ident(entry.database, f"{prefix}database", kind=NameKind.DATABASE)
    if entry.level in (MySQLLevel.TABLE, MySQLLevel.COLUMN):
        assert entry.table is not None
        return database + "." + mysql_ident(entry.table, f"{prefix}table")
    if entry.level is MySQLLevel.PROCEDURE:
        assert entry.procedure is not None
        return "PROCEDURE " + database + "." + mysql_ident(entry.procedure, f"{prefix}procedure")
    assert entry.function is not None
    return "FUNCTION " + database + "." + mysql_ident(entry.function, f"{prefix}function")


def render_grants(plan: GrantPlan, grantees: Sequence[Account], dialect: MySQLDialect = DEFAULT_MYSQL) -> list[str]:
    """GRANT <privileges> ON <target> TO <account> [WITH GRANT OPTION], one statement per account."""
    option = " WITH GRANT OPTION" if plan.with_grant_option else ""
    head = f"GRANT {plan.privilege_list()} ON {plan.target} TO "
    return [head + account.sql(dialect, "grantee") + option for account in grantees]


def render_revokes(plan: GrantPlan, grantees: Sequence[Account], dialect: MySQLDialect = DEFAULT_MYSQL) -> list[str]:
    """REVOKE <privileges>[, GRANT OPTION] ON <target> FROM <account>, one statement per account.

    A ``USAGE``-only entry with the grant option revokes just GRANT OPTION; a plain ``USAGE`` entry revokes nothing.
    """
    privileges = [p for p in plan.privileges if p != "USAGE"]
    listed = GrantPlan(tuple(privileges), plan.columns, plan.target, plan.with_grant_option).privilege_list()
    if plan.with_grant_option:
        listed = f"{listed}, {GRANT_OPTION}" if listed else GRANT_OPTION
    if not listed:
        return []
    return [f"REVOKE {listed} ON {plan.target} FROM " + account.sql(dialect, "grantee") for account in grantees]


def grant_entry(
    entry: MySQLGrantEntry, grantees: Sequence[Account], dialect: MySQLDialect = DEFAULT_MYSQL, *, field: str = ""
) -> list[str]:
    """:func:`plan_grant` then :func:`render_grants`."""
    return render_grants(plan_grant(entry, dialect, field=field), grantees, dialect)


def revoke_entry(
    entry: MySQLGrantEntry, grantees: Sequence[Account], dialect: MySQLDialect = DEFAULT_MYSQL, *, field: str = ""
) -> list[str]:
    """:func:`plan_grant` then :func:`render_revokes` (the same clauses the grant used)."""
    return render_revokes(plan_grant(entry, dialect, field=field), grantees, dialect)


# --------------------------------------------------------------------------------------------------------------------
# Privilege model for drift


@dataclass(frozen=True, order=True)
class Privilege:
    """One privilege on one target, as granted directly to one grantee.

    ``level`` is ``global``, ``database``, ``table``, ``column``, ``procedure`` or ``function``; ``database`` is
    empty for global, ``name`` is the table or routine (empty above table level), ``column`` only for the column
    level. The grant option is the privilege ``GRANT OPTION`` on the target (for column grants: on the table).
    """

    level: str
    database: str
    name: str
    column: str
    privilege: str

    @property
    def target_key(self) -> str:
        """``*.*``, ``<db>.*`` or ``<db>.<table or routine>``: the middle of the api.md 4.4 field name."""
        if self.level == MySQLLevel.GLOBAL:
            return "*.*"
        if self.level == MySQLLevel.DATABASE:
            return f"{self.database}.*"
        return f"{self.database}.{self.name}"

    def describe(self) -> str:
        """``SELECT``, ``SELECT (col)``, ``EXECUTE ON PROCEDURE`` …: how a diff lists it."""
        if self.column:
            return f"{self.privilege} ({self.column})"
        if self.level in (MySQLLevel.PROCEDURE, MySQLLevel.FUNCTION):
            return f"{self.privilege} ON {self.level.upper()}"
        return self.privilege


def expand_entry(entry: MySQLGrantEntry, *, field: str = "") -> frozenset[Privilege]:
    """The privilege tuples an entry should leave on the server (the same validation as :func:`plan_grant`)."""
    plan = plan_grant(entry, field=field)  # validation only; the dialect does not change what is held
    level = MySQLLevel(entry.level)
    db = entry.database or ""
    name = entry.table or entry.procedure or entry.function or ""
    out: set[Privilege] = set()
    if level is MySQLLevel.COLUMN:
        for column in dict.fromkeys(entry.columns):
            out.update(Privilege(level.value, db, name, column, p) for p in plan.privileges)
        if plan.with_grant_option:
            out.add(Privilege(MySQLLevel.TABLE.value, db, name, "", GRANT_OPTION))
        return frozenset(out)
    names = LEVEL_ALL[level] if plan.privileges == ("ALL",) else frozenset(plan.privileges) - {"USAGE"}
    out.update(Privilege(level.value, db, name, "", p) for p in names)
    if plan.with_grant_option:
        out.add(Privilege(level.value, db, name, "", GRANT_OPTION))
    return frozenset(out)


def entry_for(privilege: Privilege) -> MySQLGrantEntry:
    """The grant entry that grants (or, rendered as REVOKE, removes) exactly one privilege tuple — what drift
    correction sends for each missing or extra item. ``GRANT OPTION`` becomes USAGE WITH GRANT OPTION."""
    level = MySQLLevel(privilege.level)
    grant_option = privilege.privilege == GRANT_OPTION
    name = privilege.name or None
    return MySQLGrantEntry(
        level=level,
        privileges=["USAGE" if grant_option else privilege.privilege],
        database=privilege.database or None,
        table=name if level in (MySQLLevel.TABLE, MySQLLevel.COLUMN) else None,
        columns=(privilege.column,) if level is MySQLLevel.COLUMN else (),
        procedure=name if level is MySQLLevel.PROCEDURE else None,
        function=name if level is MySQLLevel.FUNCTION else None,
        with_grant_option=grant_option,
    )


@dataclass(frozen=True)
class PrivilegeDiff:
    """Missing and extra privileges on one target; ``field`` is ``grants.<target>`` (suffixes added by the caller:
    ``.missing``, ``.extra`` which is destructive)."""

    field: str
    missing: tuple[Privilege, ...]
    extra: tuple[Privilege, ...]


def privilege_diff(desired: Iterable[Privilege], actual: Iterable[Privilege]) -> list[PrivilegeDiff]:
    """Compare per target. Extras are only looked for on targets the desired set covers (behaviour.md 11.3)."""
    want = frozenset(desired)
    have = frozenset(actual)
    targets = sorted({p.target_key for p in want})
    out: list[PrivilegeDiff] = []
    for target in targets:
        w = {p for p in want if p.target_key == target}
        h = {p for p in have if p.target_key == target}
        missing, extra = tuple(sorted(w - h)), tuple(sorted(h - w))
        if missing or extra:
            out.append(PrivilegeDiff(f"grants.{target}", missing, extra))
    return out
