"""Roles, memberships and grants on MySQL and MariaDB: the part of `MySQLAdapter` the role and grant controllers use.

Kept as a mixin apart from the account and database operations of the `EngineAdapter` protocol, because it is the
part where the two servers differ most (engines.md 4.3, 4.4, 5, 8.1):

* A role is `'role'@'%'` on MySQL 8, a bare name on MariaDB, or a locked stand-in account `'role'@'%'` when native
  roles are off (or MySQL 5.7 has none). `grantee_accounts` hides this: controllers name users and roles by their
  server name and get the accounts that statements must address — one per allowed host for a user.
* Granted roles become active at login: SET DEFAULT ROLE ALL on MySQL; on MariaDB only one role can be, so the first
  membership is made the default when the account has none yet. MariaDB keeps the name in `mysql.user.default_role`
  after that role is revoked or dropped (the account then logs in with no role active although others may still be
  granted), so revoking or dropping the default role moves the default to a remaining membership, or to NONE.
* Privileges are read back from the grant tables per account, so drift for users, roles and grants is a comparison
  of `Privilege` sets (`grant_drift`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dbops.engines.base import ObservedAccount
from dbops.engines.errors import InvalidSpec
from dbops.engines.mysql import catalog, sql
from dbops.engines.mysql.grants import (
    GrantPlan,
    MySQLGrantEntry,
    Privilege,
    PrivilegeDiff,
    entry_for,
    expand_entry,
    plan_grant,
    privilege_diff,
    render_grants,
    render_revokes,
)
from dbops.engines.mysql.server import MySQLServer, MySQLServerError
from dbops.engines.mysql.sql import Account, MySQLDialect

__all__ = ["NO_SUCH_GRANT", "EntryOutcome", "MySQLAccessMixin"]

#: REVOKE of something not held: no such grant (global/database), table grant, routine grant. Revoking is idempotent.
NO_SUCH_GRANT = frozenset({1141, 1147, 1403})


@dataclass(frozen=True)
class EntryOutcome:
    """What happened to one grant entry: `error` is the redacted server message when it failed."""

    index: int
    applied: bool
    error: str | None = None


class MySQLAccessMixin:
    """Role, membership and grant operations; needs `self.server` and `self._dialect()` from the adapter."""

    server: MySQLServer

    async def _dialect(self) -> MySQLDialect:
        raise NotImplementedError

    # Roles (engines.md 4.3) ----------------------------------------------------------------------------------------

    async def observe_role(self, name: str) -> ObservedAccount | None:
        """The role `name` (native or stand-in), or None. `attributes["useNativeRoles"]` says which form exists on
        MariaDB, where the two differ on the server; on MySQL a native role and a stand-in look alike and the key
        is left out. `member_of` lists roles granted to the role."""
        dialect = await self._dialect()
        query, params = catalog.account_rows(name, dialect)
        rows = [catalog.parse_account_row(r) for r in await self.server.fetch(query, params)]
        native = [r for r in rows if r.is_role]
        stand_in = [r for r in rows if r.host == "%" and not r.is_role]
        if not native and not stand_in:
            return None
        host = "" if native else "%"
        attributes: dict[str, object] = {"accountLocked": (native or stand_in)[0].locked}
        if dialect.is_mariadb:
            attributes["useNativeRoles"] = bool(native)
        query, params = catalog.memberships(name, dialect)
        members = catalog.parse_memberships(await self.server.fetch(query, params)).get(host, frozenset())
        return ObservedAccount(name=name, attributes=attributes, member_of=members, hosts=frozenset({host}))

    async def create_role(self, name: str, *, native: bool = True, field: str = "spec.roleName") -> None:
        """CREATE ROLE IF NOT EXISTS, or the locked stand-in account when `native` is false or the server has no
        roles (MySQL 5.7; reported through `sql.unsupported_role_fields`)."""
        dialect = await self._dialect()
        await self.server.execute(sql.create_role(name, dialect, native=native, field=field))

    async def drop_role(self, name: str, *, native: bool = True) -> None:
        """DROP ROLE IF EXISTS, or DROP USER IF EXISTS for the stand-in (`native=False`, or a server without roles).
        The form must be the one the role was created with: on MariaDB a user `name`@`%` may exist beside a role
        `name`, and only the role's own form is dropped. Missing is not an error."""
        dialect = await self._dialect()
        holders: list[Account] = []
        if native and dialect.native_roles:
            holders = await self._default_role_holders(name, dialect)
        await self.server.execute(sql.drop_role(name, dialect, native=native))
        for user in dict.fromkeys(a.user for a in holders):
            accounts = [a for a in holders if a.user == user]
            await self.server.execute_all(await self._repair_default_roles(user, accounts, dialect, {name}))

    async def grantee_accounts(self, name: str) -> list[Account]:
        """The accounts a grantee name stands for: a MariaDB role's bare name, or every host entry of the name
        (a user's allowed hosts; `'role'@'%'` for MySQL roles and stand-ins). Empty when nothing has that name."""
        dialect = await self._dialect()
        query, params = catalog.account_rows(name, dialect)
        rows = [catalog.parse_account_row(r) for r in await self.server.fetch(query, params)]
        if any(r.is_role for r in rows):
            return [Account(name, None)]
        return [Account(name, r.host) for r in sorted(rows, key=lambda r: r.host)]

    async def role_account(self, name: str) -> Account:
        """How to address role `name` in GRANT/REVOKE: the bare name for a MariaDB role, else `'name'@'%'`."""
        dialect = await self._dialect()
        if dialect.is_mariadb:
            accounts = await self.grantee_accounts(name)
            if accounts == [Account(name, None)]:
                return accounts[0]
        return Account(name, "%")

    # Memberships (engines.md 4.2, 4.4, 5) -------------------------------------------------------------------------

    async def grant_roles(self, grantee: str, roles: Sequence[str], *, field: str = "spec.roles") -> list[str]:
        """GRANT each role to every account of `grantee` and make it active at login. Returns the roles that were
        not held before (on some account)."""
        if not roles:
            return []
        dialect = await self._dialect()
        accounts = await self._require_accounts(grantee)
        role_accounts = [await self.role_account(r) for r in roles]
        for i, (role, account) in enumerate(zip(roles, role_accounts, strict=True)):
            if account.host is not None and not dialect.account_grants:
                await self._not_grantable(role, dialect, f"{field}[{i}]")
        held = await self._memberships(grantee)
        statements: list[str] = []
        added: list[str] = []
        for i, (role, account) in enumerate(zip(roles, role_accounts, strict=True)):
            missing = [a for a in accounts if role not in held.get(_host_key(a), frozenset())]
            if missing:
                added.append(role)
            statements += [sql.grant_role(account, a, dialect, field=f"{field}[{i}]") for a in missing]
        statements += await self._default_role_statements(grantee, accounts, role_accounts, dialect)
        await self.server.execute_all(statements)
        return added

    async def _not_grantable(self, role: str, dialect: MySQLDialect, field: str) -> None:
        """Raise why `role` cannot be granted as a role here. Only MySQL 8 grants an account like a role; MariaDB
        (and MySQL 5.7) grant native roles only, so a stand-in account (`useNativeRoles: false`) is refused with
        `InvalidSpec` instead of a syntax error from the server. A name that exists in no form is a transient
        error: the role may not have been created yet."""
        if not await self.grantee_accounts(role):
            raise MySQLServerError(0, f"{field}: no role named {role!r} exists")
        server = "MariaDB" if dialect.is_mariadb else "this MySQL version"
        raise InvalidSpec(
            field, f"{role!r} is an account (a stand-in role, useNativeRoles: false); {server} grants only native roles"
        )

    async def revoke_roles(self, grantee: str, roles: Sequence[str], *, field: str = "spec.roles") -> None:
        """REVOKE each held role from every account of `grantee`; roles not held are skipped."""
        dialect = await self._dialect()
        accounts = await self.grantee_accounts(grantee)
        held = await self._memberships(grantee)
        statements: list[str] = []
        for i, role in enumerate(roles):
            role_account = await self.role_account(role)
            statements += [
                sql.revoke_role(role_account, a, dialect, field=f"{field}[{i}]")
                for a in accounts
                if role in held.get(_host_key(a), frozenset())
            ]
        statements += await self._repair_default_roles(grantee, accounts, dialect, set(roles))
        await self.server.execute_all(statements)

    async def _memberships(self, grantee: str) -> dict[str, frozenset[str]]:
        dialect = await self._dialect()
        query, params = catalog.memberships(grantee, dialect)
        return catalog.parse_memberships(await self.server.fetch(query, params))

    async def _default_role_statements(
        self, grantee: str, accounts: Sequence[Account], roles: Sequence[Account], dialect: MySQLDialect
    ) -> list[str]:
        """MySQL: SET DEFAULT ROLE ALL per account. MariaDB: the first role, for accounts that have no default yet
        (an earlier choice — the user's own first role — is kept)."""
        if not roles or any(a.host is None for a in accounts):
            return []  # roles granted to a MariaDB role have no login to be active at
        if dialect.multiple_default_roles:
            return [sql.set_default_roles(a, roles, dialect) for a in accounts]
        query, params = catalog.default_roles(grantee, dialect)
        defaults = catalog.parse_default_roles(await self.server.fetch(query, params))
        held = await self._memberships(grantee)
        granted = {r.user for r in roles}
        out: list[str] = []
        for account in accounts:
            key = _host_key(account)
            # A default naming a role the account no longer holds (revoked or dropped behind the operator's back)
            # activates nothing: it is replaced like a missing one.
            if not defaults.get(key, frozenset()) & (held.get(key, frozenset()) | granted):
                out.append(sql.set_default_roles(account, roles[:1], dialect))
        return out

    async def _default_role_holders(self, role: str, dialect: MySQLDialect) -> list[Account]:
        """The accounts whose login role is `role` (MariaDB; empty on MySQL, see `_repair_default_roles`)."""
        found = catalog.default_role_holders(role, dialect)
        if found is None:
            return []
        query, params = found
        return [Account(str(r["user"]), str(r["host"])) for r in await self.server.fetch(query, params)]

    async def _repair_default_roles(
        self, grantee: str, accounts: Sequence[Account], dialect: MySQLDialect, removed: set[str]
    ) -> list[str]:
        """MariaDB: for accounts whose default role is in `removed` (being revoked or dropped), SET DEFAULT ROLE to
        the first remaining membership by name, or NONE. MySQL: nothing (SET DEFAULT ROLE ALL is sent again with
        every membership grant; there is no single login role to move)."""
        if dialect.multiple_default_roles or not removed:
            return []
        query, params = catalog.default_roles(grantee, dialect)
        defaults = catalog.parse_default_roles(await self.server.fetch(query, params))
        held = await self._memberships(grantee)
        out: list[str] = []
        for account in accounts:
            key = _host_key(account)
            if account.host is None or not defaults.get(key, frozenset()) & removed:
                continue
            remaining = sorted(held.get(key, frozenset()) - removed)
            successor = [await self.role_account(remaining[0])] if remaining else []
            out.append(sql.set_default_roles(account, successor, dialect))
        return out

    async def _require_accounts(self, grantee: str) -> list[Account]:
        accounts = await self.grantee_accounts(grantee)
        if not accounts:
            raise MySQLServerError(0, f"no account or role named {grantee!r} exists")
        return accounts

    # Grants (engines.md 4.4) -------------------------------------------------------------------------------------

    async def _plans(self, entries: Sequence[MySQLGrantEntry], field: str) -> list[GrantPlan]:
        """Plan every entry before any SQL runs, so one invalid entry fails the object with `InvalidSpec`."""
        dialect = await self._dialect()
        return [plan_grant(entry, dialect, field=f"{field}[{i}]") for i, entry in enumerate(entries)]

    async def apply_grants(
        self, grantee: str, entries: Sequence[MySQLGrantEntry], *, field: str = "spec.mysql.grants"
    ) -> list[EntryOutcome]:
        """GRANT every entry to every account of `grantee` (behaviour.md 10.2): all entries are attempted even when
        one fails; the outcomes say which. `InvalidSpec` (before any SQL) when an entry is invalid."""
        dialect = await self._dialect()
        plans = await self._plans(entries, field)
        accounts = await self._require_accounts(grantee)
        outcomes: list[EntryOutcome] = []
        for i, plan in enumerate(plans):
            try:
                await self.server.execute_all(render_grants(plan, accounts, dialect))
            except MySQLServerError as error:
                outcomes.append(EntryOutcome(i, False, str(error)))
            else:
                outcomes.append(EntryOutcome(i, True))
        return outcomes

    async def revoke_grants(
        self, grantee: str, entries: Sequence[MySQLGrantEntry], *, field: str = "spec.mysql.grants"
    ) -> list[EntryOutcome]:
        """REVOKE every entry from every account of `grantee`; privileges already gone are not an error."""
        dialect = await self._dialect()
        plans = await self._plans(entries, field)
        accounts = await self.grantee_accounts(grantee)
        outcomes: list[EntryOutcome] = []
        for i, plan in enumerate(plans):
            error_text: str | None = None
            for statement in render_revokes(plan, accounts, dialect):
                try:
                    await self.server.execute(statement)
                except MySQLServerError as error:
                    if error.code not in NO_SUCH_GRANT:
                        error_text = str(error)
            outcomes.append(EntryOutcome(i, error_text is None, error_text))
        return outcomes

    async def grant_privileges(self, grantee: str, privileges: Sequence[Privilege]) -> list[EntryOutcome]:
        """Drift correction: GRANT each missing privilege tuple (from `grant_drift`) to every account of `grantee`."""
        return await self.apply_grants(grantee, [entry_for(p) for p in privileges], field="drift")

    async def revoke_privileges(self, grantee: str, privileges: Sequence[Privilege]) -> list[EntryOutcome]:
        """Drift correction of extras (destructive): REVOKE each privilege tuple from every account of `grantee`."""
        return await self.revoke_grants(grantee, [entry_for(p) for p in privileges], field="drift")

    async def observe_privileges(self, grantee: str) -> dict[Account, frozenset[Privilege]]:
        """The privileges granted directly to each account of `grantee`, read from the grant tables."""
        dialect = await self._dialect()
        out: dict[Account, frozenset[Privilege]] = {}
        async with self.server.session() as connection:
            for account in await self.grantee_accounts(grantee):
                params = catalog.grant_table_params(account)
                fetch = self.server.fetch_on
                held = catalog.global_privileges(await fetch(connection, catalog.global_privileges_query(), params))
                held |= catalog.database_privileges(
                    await fetch(connection, catalog.DATABASE_PRIVILEGES, params), escaped=dialect.escape_db_wildcards
                )
                held |= catalog.table_privileges(await fetch(connection, catalog.TABLE_PRIVILEGES, params))
                held |= catalog.column_privileges(await fetch(connection, catalog.COLUMN_PRIVILEGES, params))
                held |= catalog.routine_privileges(await fetch(connection, catalog.ROUTINE_PRIVILEGES, params))
                out[account] = held
        return out

    async def grant_drift(
        self, grantee: str, entries: Sequence[MySQLGrantEntry], *, field: str = "spec.mysql.grants"
    ) -> list[PrivilegeDiff]:
        """Missing and extra privileges per target (api.md 4.4 `grants.<db>.<table or *>`), over every account of the
        grantee: a privilege missing on any host entry is missing, one extra on any host entry is extra. `entries`
        should be everything the operator declares for the grantee, so that one object never reports another's
        items as extra (behaviour.md 11.3)."""
        desired: set[Privilege] = set()
        for i, entry in enumerate(entries):
            desired |= expand_entry(entry, field=f"{field}[{i}]")
        merged: dict[str, tuple[set[Privilege], set[Privilege]]] = {}
        for held in (await self.observe_privileges(grantee)).values():
            for diff in privilege_diff(desired, held):
                missing, extra = merged.setdefault(diff.field, (set(), set()))
                missing.update(diff.missing)
                extra.update(diff.extra)
        return [
            PrivilegeDiff(name, tuple(sorted(missing)), tuple(sorted(extra)))
            for name, (missing, extra) in sorted(merged.items())
        ]


def _host_key(account: Account) -> str:
    """The host as the membership tables store it (MariaDB roles: empty)."""
    return account.host if account.host is not None else ""
