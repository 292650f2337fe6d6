"""The ClickHouse engine adapter, over ClickHouse's HTTP interface with aiohttp (engines.md 6).

Why HTTP: it is the interface the operator needs anyway (the `/ping` probe, backups and restores, engines.md 1.3,
7), it carries the credentials in request headers rather than in the URL, and it binds query parameters on the
server (`{name:String}` placeholders with `param_name` values), so catalog reads never splice names into SQL.
The port is the instance's HTTP port (`clickhouse.httpPort`); `ConnectionSettings` carries only `connection.port`,
so the registry's caller passes `http_port` when it differs.

`ClickHouseHTTP` is the server handle: one aiohttp session per instance whose connection pool keeps connections for
60 s idle (behaviour.md 2), every new connection reported to the `ConnectionObserver`, TLS (HTTPS) whenever the
effective TLS mode is not `disable`, one statement per request (the HTTP interface runs exactly one). Server errors
become `ClickHouseServerError` (an `EngineError`) with the server's error code and a redacted message.

`ClickHouseAdapter` implements `EngineAdapter`, plus roles (`create_role` with settings, `drop_role`,
`observe_role`), memberships (`grant_roles`, `revoke_roles`), grants (`apply_grants`, `revoke_grants`,
`observe_grants`) and `disable_account`, for the role and grant controllers.
"""

from __future__ import annotations

import contextlib
import json
import re
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp

from dbops.api.database import DatabaseSpec
from dbops.api.grants import ClickHouseGrant
from dbops.api.user import DatabaseUserSpec
from dbops.engines.base import EngineAdapter, EngineError, ObservedAccount, ObservedDatabase, OwnedObject
from dbops.engines.clickhouse import sql
from dbops.engines.clickhouse.sql import ClickHouseGrantEntry
from dbops.engines.connection import ConnectionFailure, ConnectionSettings, FailureCategory, ServerInfo, TLSMode
from dbops.engines.errors import InvalidSpec
from dbops.engines.observer import NO_OBSERVER, ConnectionObserver
from dbops.engines.sql.privileges import ClickHouseLevel
from dbops.engines.sql.redact import redact
from dbops.engines.tls import client_ssl_context

__all__ = [
    "IDLE_SECONDS",
    "STATEMENT_SECONDS",
    "ClickHouseAdapter",
    "ClickHouseHTTP",
    "ClickHouseServerError",
    "ObservedClickHouseDatabase",
]

IDLE_SECONDS = 60.0
STATEMENT_SECONDS = 30.0
LONG_SECONDS = 600.0

_AUTH_CODES = frozenset({192, 193, 194, 516})  # unknown user, wrong password, required password, auth failed
_UNKNOWN_TABLE = frozenset({60, 81})  # unknown table, unknown database
_CODE = re.compile(r"Code:\s*(\d+)")


class ClickHouseServerError(EngineError):
    """A statement failed on the server; `code` is ClickHouse's error code (0 when there is none)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.code = code
        self.detail = message


def _error_code(headers: Mapping[str, str], body: str) -> int:
    header = headers.get("X-ClickHouse-Exception-Code")
    if header and header.isdigit():
        return int(header)
    match = _CODE.search(body)
    return int(match.group(1)) if match else 0


class ClickHouseHTTP:
    """Requests to one ClickHouse server's HTTP interface as the admin account; see the module docstring."""

    def __init__(
        self, settings: ConnectionSettings, observer: ConnectionObserver | None = None, *, http_port: int | None = None
    ) -> None:
        self.settings = settings
        self._observer = observer or NO_OBSERVER
        self._ssl: ssl.SSLContext | None = client_ssl_context(settings.tls_mode, settings.tls)
        scheme = "http" if settings.tls_mode is TLSMode.DISABLE else "https"
        self.url = f"{scheme}://{_host(settings.host)}:{http_port or settings.port}/"
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def _headers(self) -> dict[str, str]:
        return {"X-ClickHouse-User": self.settings.username, "X-ClickHouse-Key": self.settings.password}

    def _trace(self) -> aiohttp.TraceConfig:
        """Reports every new TCP (and TLS) connection the pool opens, with its duration."""
        trace = aiohttp.TraceConfig()
        starts: dict[int, float] = {}

        async def start(_session: Any, context: Any, _params: Any) -> None:
            starts[id(context)] = time.monotonic()

        async def end(_session: Any, context: Any, _params: Any) -> None:
            began = starts.pop(id(context), time.monotonic())
            self._observer.connection_attempt(success=True, seconds=time.monotonic() - began)

        trace.on_connection_create_start.append(start)
        trace.on_connection_create_end.append(end)
        return trace

    def _new_session(self, *, pooled: bool) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            ssl=self._ssl if self._ssl is not None else False,
            limit=4,
            keepalive_timeout=IDLE_SECONDS if pooled else None,
            force_close=not pooled,
        )
        return aiohttp.ClientSession(
            connector=connector,
            trace_configs=[self._trace()],
            timeout=aiohttp.ClientTimeout(sock_connect=self.settings.connect_timeout),
        )

    def _pooled(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ConnectionFailure(FailureCategory.UNREACHABLE, "the instance's connections were closed")
        if self._session is None:
            self._session = self._new_session(pooled=True)
        return self._session

    def _connect_failure(self, error: BaseException, started: float) -> ConnectionFailure:
        self._observer.connection_attempt(success=False, seconds=time.monotonic() - started)
        message = redact(str(error) or error.__class__.__name__, [self.settings.password])
        if isinstance(error, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError | ssl.SSLError):
            return ConnectionFailure(FailureCategory.TLS_FAILED, message)
        if isinstance(error, TimeoutError):
            return ConnectionFailure(FailureCategory.TIMEOUT, f"no answer within {self.settings.connect_timeout:g}s")
        return ConnectionFailure(FailureCategory.UNREACHABLE, message)

    async def query(
        self,
        statement: str,
        params: Mapping[str, str] | None = None,
        *,
        database: str | None = None,
        rows: bool = False,
        seconds: float = STATEMENT_SECONDS,
        secrets: Sequence[str] = (),
        session: aiohttp.ClientSession | None = None,
    ) -> list[dict[str, Any]]:
        """Run one statement. `params` bind `{name:Type}` placeholders on the server; `rows=True` returns the result
        as dicts (JSONEachRow). Authentication failures are `ConnectionFailure`s, like a refused connection."""
        url_params = {f"param_{k}": v for k, v in (params or {}).items()}
        if rows:
            url_params["default_format"] = "JSONEachRow"
            url_params["output_format_json_quote_64bit_integers"] = "0"
        if database is not None:
            url_params["database"] = database
        started = time.monotonic()
        client = session or self._pooled()
        try:
            async with client.post(
                self.url,
                params=url_params,
                data=statement.encode("utf-8"),
                headers=self._headers(),
                timeout=aiohttp.ClientTimeout(total=seconds, sock_connect=self.settings.connect_timeout),
            ) as response:
                body = await response.text()
                if response.status != 200:
                    code = _error_code(response.headers, body)
                    message = redact(body.strip(), [self.settings.password, *secrets])
                    if code in _AUTH_CODES or response.status in (401, 403):
                        raise ConnectionFailure(FailureCategory.AUTHENTICATION_FAILED, message)
                    raise ClickHouseServerError(code, message)
        except (aiohttp.ClientConnectorError, aiohttp.ClientSSLError, ssl.SSLError) as error:
            raise self._connect_failure(error, started) from None
        except TimeoutError:
            raise ClickHouseServerError(0, f"statement timed out after {seconds:g}s") from None
        except aiohttp.ClientError as error:
            raise ClickHouseServerError(0, redact(str(error), [self.settings.password, *secrets])) from None
        if not rows:
            return []
        return [json.loads(line) for line in body.splitlines() if line.strip()]

    async def check(self) -> str:
        """A fresh connection (proving the server still accepts logins) and `SELECT version()`."""
        session = self._new_session(pooled=False)
        try:
            [row] = await self.query(sql.SERVER_VERSION, rows=True, session=session)
        finally:
            await session.close()
        return str(row["version"])

    async def close(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _other_blocks(postgres: object | None, mysql: object | None) -> list[str]:
    return [path for path, block in (("spec.postgres", postgres), ("spec.mysql", mysql)) if block is not None]


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


@dataclass(frozen=True)
class ObservedClickHouseDatabase(ObservedDatabase):
    """A ClickHouse database: `engine` is what drift compares (immutable, api.md 4.4)."""

    engine: str | None = None


def _grant_entries(grants: Sequence[ClickHouseGrant] | None) -> list[ClickHouseGrantEntry]:
    return [
        ClickHouseGrantEntry(
            level=ClickHouseLevel(g.level),
            privileges=list(g.privileges),
            database=g.database,
            table=g.table,
            with_grant_option=bool(g.with_grant_option),
        )
        for g in grants or ()
    ]


def observed_hosts(row: Mapping[str, Any]) -> list[str]:
    """`system.users` host columns in `allowedHosts` terms: `%` for any address, `localhost`, IPs, names, patterns."""
    out: list[str] = []
    for ip in row.get("host_ip") or ():
        out.append("%" if ip in ("::/0", "0.0.0.0/0") else str(ip))
    out += [str(name) for name in row.get("host_names") or ()]
    out += [str(like) for like in row.get("host_names_like") or ()]
    out += [f"regexp:{r}" for r in row.get("host_names_regexp") or ()]
    return sorted(dict.fromkeys(out))


def expected_hosts(hosts: Sequence[str] | None) -> list[str]:
    """The spec's `allowedHosts` as `observed_hosts` reports them (ANY collapses the list to `%`)."""
    if not hosts or any(h in ("%", "::/0") for h in hosts):
        return ["%"]
    return sorted(dict.fromkeys(hosts))


class ClickHouseAdapter:
    """`EngineAdapter` for ClickHouse; see the module docstring."""

    engine = "clickhouse"

    def __init__(
        self,
        settings: ConnectionSettings,
        observer: ConnectionObserver | None = None,
        *,
        http_port: int | None = None,
        tracking_table: str | None = None,
    ) -> None:
        self.settings = settings
        self.server = ClickHouseHTTP(settings, observer, http_port=http_port)
        self.tracking_table = tracking_table or settings.tracking.table

    async def check(self) -> ServerInfo:
        return ServerInfo(version=await self.server.check(), flavour="clickhouse")

    async def close(self) -> None:
        await self.server.close()

    async def _execute(self, statements: Sequence[str], *, secrets: Sequence[str] = (), **kwargs: Any) -> None:
        for statement in statements:
            await self.server.query(statement, secrets=secrets, **kwargs)

    # Databases (engines.md 6.1) ----------------------------------------------------------------------------------

    def unsupported_database_fields(self, spec: DatabaseSpec, server: ServerInfo | None) -> list[str]:
        """`spec.owner` (ClickHouse has no database owners) and other engines' blocks."""
        return (["spec.owner"] if spec.owner else []) + _other_blocks(spec.postgres, spec.mysql)

    async def observe_database(self, name: str) -> ObservedDatabase | None:
        rows = await self.server.query(sql.DATABASE, {"name": name}, rows=True)
        if not rows:
            return None
        sizes = await self.database_sizes()
        return ObservedClickHouseDatabase(
            name=name,
            engine=str(rows[0]["engine"]),
            size_bytes=sizes.get(name),
            comment=await self.read_tracking("Database", name),
        )

    async def user_object_count(self, name: str) -> int:
        rows = await self.server.query(sql.USER_OBJECT_COUNT, {"name": name}, rows=True)
        return int(rows[0]["n"]) if rows else 0

    async def create_database(self, spec: DatabaseSpec, *, owner: str | None, comment: str | None) -> None:
        engine = spec.clickhouse.engine if spec.clickhouse is not None else "Atomic"
        await self._execute([sql.create_database(spec.name, engine)])
        if comment is not None:
            await self.write_tracking("Database", spec.name, comment)

    async def verify_database(self, name: str) -> None:
        await self.server.query("SELECT 1", database=name)

    async def apply_database(self, spec: DatabaseSpec, observed: ObservedDatabase, *, owner: str | None) -> list[str]:
        """Nothing is alterable: the engine is immutable and shows up as drift instead (behaviour.md 7.5)."""
        return []

    async def drop_database(self, name: str) -> None:
        """Kill the database's running queries (best effort, asynchronously), then DROP DATABASE … SYNC."""
        with contextlib.suppress(ClickHouseServerError):
            await self._execute([sql.kill_queries_in_database(name)])
        await self._execute([sql.drop_database(name)], seconds=LONG_SECONDS)

    async def database_sizes(self) -> dict[str, int]:
        rows = await self.server.query(sql.DATABASE_SIZES, rows=True)
        return {str(r["name"]): int(r["size_bytes"]) for r in rows}

    # Users (engines.md 6.2) --------------------------------------------------------------------------------------

    def unsupported_user_fields(self, spec: DatabaseUserSpec, server: ServerInfo | None) -> list[str]:
        """`dual-password` rotation (behaviour.md 8.6), a non-Kubernetes secret format, other engines' blocks."""
        out: list[str] = []
        rotation = spec.password_rotation
        if rotation is not None and rotation.enabled and rotation.strategy == "dual-password":
            out.append("spec.passwordRotation.strategy")
        if spec.password_secret is not None and spec.password_secret.format != "kubernetes":
            out.append("spec.passwordSecret.format")
        return out + _other_blocks(spec.postgres, spec.mysql)

    async def observe_account(self, username: str) -> ObservedAccount | None:
        rows = await self.server.query(sql.USER, {"name": username}, rows=True)
        if not rows:
            return None
        row = rows[0]
        attributes: dict[str, object] = {
            "allowedHosts": observed_hosts(row),
            "defaultDatabase": row.get("default_database") or None,
            "storage": row.get("storage"),
        }
        return ObservedAccount(
            name=username,
            attributes=attributes,
            member_of=await self._memberships(username),
            comment=await self.read_tracking("DatabaseUser", username),
        )

    async def _memberships(self, name: str) -> frozenset[str]:
        rows = await self.server.query(sql.ROLE_GRANTS, {"name": name}, rows=True)
        return frozenset(str(r["role"]) for r in rows)

    async def create_account(self, spec: DatabaseUserSpec, *, password: str, comment: str | None) -> None:
        config = spec.clickhouse
        statement = sql.create_user(
            spec.username,
            password,
            hosts=config.allowed_hosts if config else None,
            default_database=config.default_database if config else None,
        )
        await self._execute([statement], secrets=[password])
        if spec.roles:
            await self.grant_roles(spec.username, spec.roles)
        if comment is not None:
            await self.write_tracking("DatabaseUser", spec.username, comment)

    async def apply_account(self, spec: DatabaseUserSpec, observed: ObservedAccount) -> list[str]:
        config = spec.clickhouse
        hosts = config.allowed_hosts if config else None
        database = config.default_database if config else None
        changed: list[str] = []
        if observed.attributes.get("allowedHosts") != expected_hosts(hosts):
            changed.append("spec.clickhouse.allowedHosts")
        if observed.attributes.get("defaultDatabase") != database:
            changed.append("spec.clickhouse.defaultDatabase")
        if changed:
            await self._execute([sql.alter_user(spec.username, hosts=hosts, default_database=database)])
        missing = [r for r in spec.roles or () if r not in observed.member_of]
        if missing:
            await self.grant_roles(spec.username, missing)
            changed.append("spec.roles")
        return changed

    async def set_password(self, username: str, password: str) -> None:
        await self._execute([sql.set_password(username, password)], secrets=[password])

    async def owned_objects(self, username: str) -> list[OwnedObject]:
        """ClickHouse has no object ownership: the pre-check always passes (engines.md 6.5)."""
        return []

    async def drop_account(self, username: str) -> None:
        await self._execute([sql.drop_user(username)])
        await self.remove_tracking("DatabaseUser", username)

    async def disable_account(self, username: str) -> None:
        """ALTER USER … HOST NONE (a superseded rotated account)."""
        await self._execute([sql.disable_user(username)])

    # Roles, memberships, grants (engines.md 6.3, 6.4) -------------------------------------------------------------

    async def observe_role(self, name: str) -> ObservedAccount | None:
        if not await self.server.query(sql.ROLE, {"name": name}, rows=True):
            return None
        rows = await self.server.query(sql.ROLE_SETTINGS, {"name": name}, rows=True)
        settings = {str(r["setting_name"]): str(r["value"]) for r in rows}
        return ObservedAccount(name=name, settings=settings, member_of=await self._memberships(name))

    async def _check_settings(self, settings: Mapping[str, str]) -> None:
        for key in settings:
            [row] = await self.server.query(sql.SETTING_EXISTS, {"name": key}, rows=True)
            if not int(row["n"]):
                raise InvalidSpec(f"spec.clickhouse.settings.{key}", "is not a setting this server knows")

    async def create_role(self, name: str, settings: Mapping[str, str] | None = None) -> None:
        await self._check_settings(settings or {})
        await self._execute([sql.create_role(name, settings)])

    async def apply_role_settings(self, name: str, settings: Mapping[str, str], observed: ObservedAccount) -> list[str]:
        """ALTER ROLE … SETTINGS for the values that differ; returns `settings.<key>` field names."""
        differing = {k: v for k, v in settings.items() if observed.settings.get(k) != v}
        if not differing:
            return []
        await self._check_settings(differing)
        await self._execute([sql.alter_role_settings(name, differing)])
        return [f"settings.{k}" for k in sorted(differing)]

    async def drop_role(self, name: str) -> None:
        await self._execute([sql.drop_role(name)])

    async def grant_roles(self, grantee: str, roles: Sequence[str]) -> None:
        """GRANT each role, then make every granted role active at login (engines.md 6.2)."""
        statements = [sql.grant_role(r, grantee, field=f"spec.roles[{i}]") for i, r in enumerate(roles)]
        if await self.server.query(sql.USER, {"name": grantee}, rows=True):
            statements.append(sql.set_default_roles_all(grantee))
        await self._execute(statements)

    async def revoke_roles(self, grantee: str, roles: Sequence[str]) -> None:
        await self._execute([sql.revoke_role(r, grantee, field=f"spec.roles[{i}]") for i, r in enumerate(roles)])

    async def apply_grants(
        self, grantee: str, grants: Sequence[ClickHouseGrant], *, field: str = "spec.clickhouse.grants"
    ) -> list[str | None]:
        """GRANT every entry (all attempted); returns per entry None or the redacted server message.
        `InvalidSpec` before any SQL when an entry is invalid."""
        statements = [sql.grant_entry(e, grantee, field=f"{field}[{i}]") for i, e in enumerate(_grant_entries(grants))]
        return await self._attempt(statements)

    async def revoke_grants(
        self, grantee: str, grants: Sequence[ClickHouseGrant], *, field: str = "spec.clickhouse.grants"
    ) -> list[str | None]:
        statements = [sql.revoke_entry(e, grantee, field=f"{field}[{i}]") for i, e in enumerate(_grant_entries(grants))]
        return await self._attempt(statements)

    async def _attempt(self, statements: Sequence[str]) -> list[str | None]:
        outcomes: list[str | None] = []
        for statement in statements:
            try:
                await self._execute([statement])
                outcomes.append(None)
            except ClickHouseServerError as error:
                outcomes.append(str(error))
        return outcomes

    async def observe_grants(self, grantee: str) -> list[dict[str, Any]]:
        """Direct grants of a user or role from `system.grants` (access type, database, table, column, grant option,
        partial revokes)."""
        return await self.server.query(sql.GRANTS, {"name": grantee}, rows=True)

    # Tracking (engines.md 6.5) -----------------------------------------------------------------------------------

    async def read_tracking(self, resource_type: str, name: str) -> str | None:
        query = sql.select_tracking(self.settings.database, self.tracking_table)
        try:
            rows = await self.server.query(query, {"type": resource_type, "name": name}, rows=True)
        except ClickHouseServerError as error:
            if error.code in _UNKNOWN_TABLE:
                return None
            raise
        return str(rows[0]["tracking"]) if rows else None

    async def write_tracking(self, resource_type: str, name: str, text: str) -> None:
        database, table = self.settings.database, self.tracking_table
        await self._execute(
            [
                sql.create_metadata_table(database, table),
                sql.upsert_tracking(database, table, resource_type, name, text),
            ]
        )

    async def remove_tracking(self, resource_type: str, name: str) -> None:
        try:
            await self._execute([sql.delete_tracking(self.settings.database, self.tracking_table, resource_type, name)])
        except ClickHouseServerError as error:
            if error.code not in _UNKNOWN_TABLE:
                raise


if TYPE_CHECKING:

    def _conforms(settings: ConnectionSettings) -> EngineAdapter:
        """mypy proves here that ClickHouseAdapter implements the EngineAdapter protocol."""
        return ClickHouseAdapter(settings)
