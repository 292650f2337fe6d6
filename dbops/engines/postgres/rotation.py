"""Role-inheritance rotation on PostgreSQL (behaviour.md 8.6, engines.md 2.2 and 2.5), on top of `PostgresAdapter`.

The service role is a NOLOGIN INHERIT role that holds the user's privileges; every generated login account is
created with the user's settings (LOGIN and INHERIT forced on, engines.md 2.2 "Rotation accounts get LOGIN,
INHERIT, the user's other attributes, a password, and membership in the service role") through the adapter's own
`create_account`, so SCRAM verifiers, redaction and attribute mapping stay in one place. Statements the adapter has
no operation for (creating the service role, granting a membership, NOLOGIN) are built by `dbops.engines.sql` and run
on the adapter's pooled server handle, with driver errors turned into redacted `EngineError`s.
"""

from __future__ import annotations

from contextlib import suppress
from typing import TYPE_CHECKING, Protocol

from dbops.api.user import DatabaseUserSpec
from dbops.engines.base import EngineAdapter, EngineError, OwnedObject
from dbops.engines.connection import ConnectionFailure
from dbops.engines.postgres import sql
from dbops.engines.postgres.errors import PostgresEngineError, server_errors
from dbops.engines.postgres.mapping import rotated_spec
from dbops.engines.postgres.server import PostgresServer
from dbops.engines.rotation import RotationAdapter, ServiceRoleMissing
from dbops.engines.sql.quoting import PG_MAX_IDENTIFIER_BYTES, pg_ident

__all__ = ["PostgresRotation", "rotated_spec"]

SERVICE_ROLE_FIELD = "spec.passwordRotation.serviceRole.name"
DUPLICATE_OBJECT = "42710"


class PostgresAdapter(EngineAdapter, Protocol):
    """What rotation uses of `dbops.engines.postgres.adapter.PostgresAdapter`: the protocol's account operations
    and the pooled server (the adapter module imports this one to register it, so this one cannot import it)."""

    @property
    def server(self) -> PostgresServer: ...


class PostgresRotation:
    """`RotationAdapter` for PostgreSQL; one per reconcile, wrapping the instance's shared adapter."""

    name_limit = PG_MAX_IDENTIFIER_BYTES

    def __init__(self, adapter: PostgresAdapter) -> None:
        self._adapter = adapter

    async def _run(self, statements: list[str]) -> None:
        with server_errors():
            await self._adapter.server.execute_all(statements)

    async def account_exists(self, name: str) -> bool:
        return await self._adapter.observe_account(name) is not None

    async def service_role_comment(self, role: str) -> str | None:
        pg_ident(role, SERVICE_ROLE_FIELD)
        observed = await self._adapter.observe_account(role)
        if observed is None:
            raise ServiceRoleMissing(role)
        return observed.comment

    async def create_service_role(self, role: str, *, comment: str) -> None:
        """CREATE ROLE … NOLOGIN INHERIT, then its tracking comment (so the user's deletion drops only a role it
        created)."""
        create = sql.create_role(role, sql.RoleAttributes(login=False, inherit=True), field=SERVICE_ROLE_FIELD)
        await self._run([create, sql.comment_on_role(role, comment)])

    async def ensure_member(self, role: str, member: str) -> bool:
        grant = sql.grant_membership(role, member)
        observed = await self._adapter.observe_account(member)
        if observed is None:
            raise EngineError(f"role {member} does not exist")
        if role in observed.member_of:
            return False
        await self._run([grant])
        return True

    async def create_rotated_account(
        self, spec: DatabaseUserSpec, name: str, *, password: str, service_role: str
    ) -> None:
        """The adapter's CREATE ROLE (with IN ROLE for the service role), default role, parameters. A failure after
        the CREATE ROLE drops the half-made account, so the retry starts clean (behaviour.md 8.6)."""
        target = rotated_spec(spec, name, service_role)
        try:
            await self._adapter.create_account(target, password=password, comment=None)
        except PostgresEngineError as error:
            if error.sqlstate != DUPLICATE_OBJECT:  # someone else's role of that name: never drop it
                with suppress(EngineError, ConnectionFailure):
                    await self._adapter.drop_account(name)
            raise
        except ConnectionFailure:
            with suppress(EngineError, ConnectionFailure):
                await self._adapter.drop_account(name)
            raise

    async def apply_rotated_account(self, spec: DatabaseUserSpec, name: str, *, service_role: str) -> list[str]:
        observed = await self._adapter.observe_account(name)
        if observed is None:
            raise EngineError(f"rotated account {name} does not exist")
        return await self._adapter.apply_account(rotated_spec(spec, name, service_role), observed)

    async def set_password(self, name: str, password: str) -> None:
        await self._adapter.set_password(name, password)

    async def disable_account(self, name: str) -> None:
        """ALTER ROLE … NOLOGIN (engines.md 2.2); a role that is gone needs nothing."""
        statement = sql.disable_login(name)
        if await self._adapter.observe_account(name) is None:
            return
        await self._run([statement])

    async def owned_objects(self, name: str) -> list[OwnedObject]:
        return await self._adapter.owned_objects(name)

    async def drop_account(self, name: str) -> None:
        await self._adapter.drop_account(name)


if TYPE_CHECKING:

    def _conforms(rotation: PostgresRotation) -> RotationAdapter:
        return rotation  # `mypy dbops` proves the class satisfies the protocol
