"""Dual-password rotation on the MySQL family (behaviour.md 8.6, engines.md 4.2 and 4.7), on top of `MySQLAdapter`.

MySQL 8.0.14 added a retained second password per account: `ALTER USER … IDENTIFIED BY '<new>' RETAIN CURRENT
PASSWORD` makes the new password primary and keeps the current one working, `ALTER USER … DISCARD OLD PASSWORD` ends
that. MariaDB has nothing like it, and neither has MySQL before 8.0.14, so `support()` decides from the dialect the
server handle detected (flavour and version, never from `spec.engine`: a MariaDB server behind `engine: mysql` keeps
MariaDB's rules, engines.md 1.4).

The statements themselves belong to the adapter (`rotate_password`, `discard_old_password`): it knows every host
entry of the account, builds each statement with the escaped literal of `dbops.engines.mysql.sql`, and passes the
password as a secret to the server handle, which cuts it out of any error message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from dbops.engines.base import EngineError, ObservedAccount
from dbops.engines.mysql.server import MySQLServer
from dbops.engines.mysql.sql import MySQLDialect
from dbops.engines.rotation import DualPasswordAdapter, DualPasswordSupport

__all__ = ["MySQLDualPassword", "server_label"]


def server_label(dialect: MySQLDialect) -> str:
    """`MySQL 8.0.13` / `MariaDB 10.11.6`: the engine and version a refusal names."""
    name = "MariaDB" if dialect.is_mariadb else "MySQL"
    return f"{name} {'.'.join(str(part) for part in dialect.version)}"


class MySQLAdapter(Protocol):
    """What dual-password rotation uses of `dbops.engines.mysql.adapter.MySQLAdapter` (the adapter module imports
    this one to register it, so this one cannot import it)."""

    server: MySQLServer

    async def observe_account(self, username: str) -> ObservedAccount | None: ...
    async def rotate_password(self, username: str, password: str, *, retain_current: bool = True) -> None: ...
    async def discard_old_password(self, username: str) -> None: ...


class MySQLDualPassword:
    """`DualPasswordAdapter` for MySQL and MariaDB; one per reconcile, wrapping the instance's shared adapter."""

    def __init__(self, adapter: MySQLAdapter) -> None:
        self._adapter = adapter

    async def support(self) -> DualPasswordSupport:
        """Detects the dialect when no health check has yet (one round trip, then cached by the server handle)."""
        dialect = await self._adapter.server.detect()
        return DualPasswordSupport(available=dialect.dual_password, server=server_label(dialect))

    async def rotate_password(self, name: str, password: str) -> None:
        """RETAIN CURRENT PASSWORD on every host entry; the builder refuses (InvalidSpec naming
        `spec.passwordRotation.strategy`) on a server without dual passwords, so nothing is half-applied there. An
        account that is gone is an error: the caller must not publish a password no server entry holds."""
        if await self._adapter.observe_account(name) is None:
            raise EngineError(f"account {name} does not exist")
        await self._adapter.rotate_password(name, password, retain_current=True)

    async def restore_password(self, name: str, password: str) -> None:
        """IDENTIFIED BY without retention: the primary becomes `password` again and the secondary, which is that same
        password since the rotation retained it, is left as it is (MySQL keeps the secondary on a plain change)."""
        await self._adapter.rotate_password(name, password, retain_current=False)

    async def discard_old_password(self, name: str) -> None:
        await self._adapter.discard_old_password(name)


if TYPE_CHECKING:

    def _conforms(rotation: MySQLDualPassword) -> DualPasswordAdapter:
        return rotation  # `mypy dbops` proves the class satisfies the protocol
