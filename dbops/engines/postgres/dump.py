"""PostgreSQL backups with ``pg_dump`` and restores with ``pg_restore`` / ``psql`` (backup.md 4.1, 10.5).

The command builders are pure (unit-tested row by row against the option tables); :class:`PostgresDumpMethod`
starts them as :mod:`dbops.engines.tool` subprocesses.

Why the connection is passed the way it is:

* The password, and the TLS material, travel in the environment (``PGPASSWORD``, ``PGSSLMODE``, ``PGSSLROOTCERT``,
  ``PGSSLCERT``, ``PGSSLKEY`` pointing into a private 0700 directory), never on the command line (backup.md 1).
* The database is given as a quoted connection string (``--dbname=dbname='…'``): libpq expands a ``--dbname`` value
  containing ``=`` as a connection string, so a database called ``host=evil`` given bare would change the host.
* Every value goes in ``--option=value`` form, so a schema or table pattern starting with ``-`` stays a value.

Not done yet (reported as warnings or errors rather than silently ignored): the directory format (dump and restore),
parallel restore of custom archives (``jobs`` > 1 spools to the scratch directory in the spec; here one job is used
with a warning), the load-time and post-load parts of ``roleMapping``.
"""

from __future__ import annotations

import re
import shutil
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dbops.api.backup import PostgresBackupConfig
from dbops.api.restore import PostgresRestoreConfig
from dbops.engines.connection import ConnectionSettings, TLSMode
from dbops.engines.dump import DumpError, DumpRequest, RestoreRequest, add_warning
from dbops.engines.errors import InvalidSpec
from dbops.engines.tool import (
    KILL_GRACE_SECONDS,
    ToolCommand,
    ToolSink,
    ToolSource,
    private_dir,
    start_tool,
    write_private_file,
)

__all__ = [
    "EXTENSIONS",
    "FORMAT_FLAGS",
    "PostgresDumpMethod",
    "check_tool_version",
    "conninfo_dbname",
    "lock_wait_timeout_ms",
    "major_version",
    "pg_dump_command",
    "pg_environment",
    "pg_restore_command",
    "psql_restore_command",
    "restore_warnings",
]

FORMAT_FLAGS = {"custom": "c", "tar": "t", "plain": "p", "directory": "d"}
EXTENSIONS = {"custom": ".dump", "tar": ".tar", "plain": ".sql", "directory": ".dir.tar"}
PG_DUMP = "pg_dump"
PG_RESTORE = "pg_restore"
PSQL = "psql"

_FIELD = "spec.postgres"
_INTERVAL = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(us|ms|s|sec|secs|min|mins|h|hour|hours|d|day|days)?\s*", re.IGNORECASE)
_UNIT_MS = {
    None: 1.0,
    "us": 0.001,
    "ms": 1.0,
    "s": 1000.0,
    "sec": 1000.0,
    "secs": 1000.0,
    "min": 60_000.0,
    "mins": 60_000.0,
    "h": 3_600_000.0,
    "hour": 3_600_000.0,
    "hours": 3_600_000.0,
    "d": 86_400_000.0,
    "day": 86_400_000.0,
    "days": 86_400_000.0,
}


# --------------------------------------------------------------------------------------------------------------------
# Pure builders


def conninfo_dbname(database: str) -> str:
    """``dbname='…'`` as a libpq connection string (``\\`` and ``'`` escaped), for ``--dbname``."""
    if "\x00" in database:
        raise InvalidSpec("database", "must not contain a NUL character")
    return "dbname='" + database.replace("\\", "\\\\").replace("'", "\\'") + "'"


def lock_wait_timeout_ms(value: str, field: str = f"{_FIELD}.lockWaitTimeout") -> int:
    """A PostgreSQL interval (``60s``, ``1min``, ``500ms``, a bare number of milliseconds) in whole milliseconds."""
    match = _INTERVAL.fullmatch(value)
    if match is None:
        raise InvalidSpec(field, "must be a PostgreSQL interval such as 60s, 500ms or 2min")
    unit = match.group(2).lower() if match.group(2) else None
    milliseconds = int(float(match.group(1)) * _UNIT_MS[unit])
    if milliseconds < 1:
        raise InvalidSpec(field, "must be at least 1ms")
    return milliseconds


def _connection_args(settings: ConnectionSettings, database: str) -> list[str]:
    return [
        f"--host={settings.host}",
        f"--port={settings.port}",
        f"--username={settings.username}",
        f"--dbname={conninfo_dbname(database)}",
    ]


@dataclass(frozen=True)
class DumpCommand:
    """A built ``pg_dump`` command: argv without connection secrets, and the options that were not applied."""

    argv: tuple[str, ...]
    warnings: tuple[str, ...]


def pg_dump_command(
    settings: ConnectionSettings,
    database: str,
    options: PostgresBackupConfig | None,
    *,
    operator_compression: bool,
    tool: str = PG_DUMP,
    output_dir: Path | None = None,
) -> DumpCommand:
    """``pg_dump`` for backup.md 4.1: connection, ``--format``, ``--verbose`` and one option per spec field.

    ``output_dir`` is required for the directory format (``--file``); every other format writes to stdout.
    """
    opts = options if options is not None else PostgresBackupConfig()
    warnings: list[str] = []
    if opts.data_only and opts.schema_only:
        raise InvalidSpec(f"{_FIELD}.dataOnly", "cannot be combined with schemaOnly")
    argv = [tool, *_connection_args(settings, database), f"--format={FORMAT_FLAGS[opts.format]}", "--verbose"]
    directory = opts.format == "directory"
    if operator_compression and opts.format in ("custom", "directory"):
        argv.append("--compress=0")
    if directory:
        if output_dir is None:
            raise ValueError("the directory format needs an output directory")
        argv.append(f"--file={output_dir}")
        if opts.jobs > 1:
            argv.append(f"--jobs={opts.jobs}")
        if opts.no_sync:
            argv.append("--no-sync")
    elif opts.jobs > 1:
        warnings.append(
            f"{_FIELD}.jobs: parallel dumps need the directory format; the {opts.format} dump runs with one job"
        )
    if opts.data_only:
        argv.append("--data-only")
    if opts.schema_only:
        argv.append("--schema-only")
    argv.append("--blobs" if opts.blobs else "--no-blobs")
    if opts.no_owner:
        argv.append("--no-owner")
    if opts.no_privileges:
        argv.append("--no-privileges")
    argv += [f"--schema={s}" for s in opts.schemas or ()]
    argv += [f"--exclude-schema={s}" for s in opts.exclude_schemas or ()]
    argv += [f"--table={t}" for t in opts.tables or ()]
    argv += [f"--exclude-table={t}" for t in opts.exclude_tables or ()]
    argv.append(f"--lock-wait-timeout={lock_wait_timeout_ms(opts.lock_wait_timeout)}")
    return DumpCommand(tuple(argv), tuple(warnings))


def restore_warnings(format: str, options: PostgresRestoreConfig | None) -> list[str]:
    """The options of 10.4 that cannot apply to ``format`` (reported, the restore proceeds without them)."""
    opts = options if options is not None else PostgresRestoreConfig()
    out: list[str] = []
    if format == "plain":
        for name, active in (
            ("dataOnly", opts.data_only),
            ("schemaOnly", opts.schema_only),
            ("schemas", bool(opts.schemas)),
            ("tables", bool(opts.tables)),
            ("disableTriggers", opts.disable_triggers),
            ("jobs", opts.jobs > 1),
        ):
            if active:
                out.append(f"{_FIELD}.{name} cannot be applied to a plain-format dump; ignored")
    elif opts.jobs > 1:
        if format == "tar":
            out.append(f"{_FIELD}.jobs: tar archives cannot be restored in parallel; restoring with one job")
        else:
            out.append(f"{_FIELD}.jobs: parallel restore is not supported by this build yet; restoring with one job")
    if opts.role_mapping:
        out.append(f"{_FIELD}.roleMapping is not applied by this build yet; ownership is restored as in the dump")
    return out


def psql_restore_command(settings: ConnectionSettings, database: str, *, tool: str = PSQL) -> tuple[str, ...]:
    """``psql`` replaying a plain script from stdin in one transaction, stopping at the first error (10.5)."""
    return (
        tool,
        "--no-psqlrc",
        "--quiet",
        "--set=ON_ERROR_STOP=1",
        "--single-transaction",
        *_connection_args(settings, database),
    )


def pg_restore_command(
    settings: ConnectionSettings,
    database: str,
    format: str,
    options: PostgresRestoreConfig | None,
    *,
    tool: str = PG_RESTORE,
) -> tuple[str, ...]:
    """``pg_restore`` reading a custom or tar archive from stdin (10.5); one job, so in a single transaction."""
    if format not in ("custom", "tar"):
        raise DumpError(f"pg_restore cannot read a {format} dump from a stream")
    opts = options if options is not None else PostgresRestoreConfig()
    if opts.data_only and opts.schema_only:
        raise InvalidSpec(f"{_FIELD}.dataOnly", "cannot be combined with schemaOnly")
    argv = [
        tool,
        *_connection_args(settings, database),
        f"--format={FORMAT_FLAGS[format]}",
        "--exit-on-error",
        "--verbose",
        "--single-transaction",
    ]
    for flag, active in (
        ("--data-only", opts.data_only),
        ("--schema-only", opts.schema_only),
        ("--no-owner", opts.no_owner),
        ("--no-privileges", opts.no_privileges),
        ("--disable-triggers", opts.disable_triggers),
    ):
        if active:
            argv.append(flag)
    argv += [f"--schema={s}" for s in opts.schemas or ()]
    argv += [f"--table={t}" for t in opts.tables or ()]
    return tuple(argv)


def pg_environment(settings: ConnectionSettings, tls_dir: Path | None) -> dict[str, str]:
    """The tool environment of backup.md 1. TLS material is written into ``tls_dir`` (needed when the settings hold
    PEM text); without a CA, verifying modes use the system trust store."""
    env = {
        "PGPASSWORD": settings.password,
        "PGSSLMODE": settings.tls_mode.value,
        "PGCONNECT_TIMEOUT": str(max(1, round(settings.connect_timeout))),
        "PGAPPNAME": settings.application_name,
    }
    if settings.tls_mode is TLSMode.DISABLE:
        return env
    material = settings.tls
    if tls_dir is not None and material.ca_pem:
        env["PGSSLROOTCERT"] = str(write_private_file(tls_dir, "ca.crt", material.ca_pem))
    elif settings.tls_mode.verifies_chain:
        cafile = ssl.get_default_verify_paths().cafile
        if cafile:
            env["PGSSLROOTCERT"] = cafile
    if tls_dir is not None and material.cert_pem and material.key_pem:
        env["PGSSLCERT"] = str(write_private_file(tls_dir, "tls.crt", material.cert_pem))
        env["PGSSLKEY"] = str(write_private_file(tls_dir, "tls.key", material.key_pem))
    return env


def major_version(text: str) -> int:
    """The major version in ``pg_dump (PostgreSQL) 15.18 (Debian …)``, ``15.4`` or ``9.6.24`` (9.6 → 9)."""
    match = re.search(r"(\d+)(?:\.(\d+))?", text.split(")", 1)[-1] if "PostgreSQL)" in text else text)
    if match is None:
        raise DumpError(f"cannot read a PostgreSQL version from {text.strip()[:80]!r}")
    return int(match.group(1))


def check_tool_version(tool_version: str, server_version: str) -> None:
    """The bundled tools handle older servers only: a newer server fails with a message naming both versions."""
    tool, server = major_version(tool_version), major_version(server_version)
    if server > tool:
        raise DumpError(
            f"the PostgreSQL server is version {server} ({server_version.split()[0]}) but the operator's pg_dump is "
            f"version {tool}; pg_dump cannot dump a newer server — use an operator image with PostgreSQL {server} "
            "client tools"
        )


# --------------------------------------------------------------------------------------------------------------------
# The method


class PostgresDumpMethod:
    """:class:`~dbops.engines.dump.DumpMethod` for PostgreSQL."""

    def __init__(self, engine: str = "postgres", *, grace: float = KILL_GRACE_SECONDS) -> None:
        self.engine = engine
        self.grace = grace
        """SIGTERM → SIGKILL delay of the tools (tests shorten it)."""

    async def _tool_version(self) -> str:
        tool = await start_tool(ToolCommand((PG_DUMP, "--version")), stdout=True)
        assert tool.process.stdout is not None
        text = (await tool.process.stdout.read(4096)).decode("utf-8", "replace")
        await tool.end()
        return text

    async def _server_version(self, request: DumpRequest) -> str:
        if request.server_version:
            return request.server_version
        from dbops.engines.postgres.server import PostgresServer

        server = PostgresServer(request.settings.for_database(request.database))
        try:
            info = await server.check()
        finally:
            await server.close()
        return info.version

    async def open_dump(self, request: DumpRequest) -> ToolSource:
        opts = request.postgres if request.postgres is not None else PostgresBackupConfig()
        if opts.format == "directory":
            raise DumpError("the directory format is not supported by this build yet; use custom, tar or plain")
        check_tool_version(await self._tool_version(), await self._server_version(request))
        command = pg_dump_command(
            request.settings, request.database, opts, operator_compression=request.operator_compression
        )
        warnings: list[str] = []
        for warning in command.warnings:
            add_warning(warnings, warning)
        tool_command = self._command(request.settings, command.argv, request.scratch_dir)
        return await ToolSource.start(
            tool_command, format=opts.format, extension=EXTENSIONS[opts.format], warnings=warnings, grace=self.grace
        )

    async def open_restore(self, request: RestoreRequest) -> ToolSink:
        opts = request.postgres if request.postgres is not None else PostgresRestoreConfig()
        warnings: list[str] = []
        for warning in restore_warnings(request.format, opts):
            add_warning(warnings, warning)
        if request.format == "plain":
            argv = psql_restore_command(request.settings, request.database)
            script_filter = PlainScriptFilter(no_owner=opts.no_owner, no_privileges=opts.no_privileges)
            command = self._command(request.settings, argv, request.scratch_dir)
            sink = await ToolSink.start(
                command,
                warnings=warnings,
                transform=script_filter.feed if script_filter.active else None,
                flush=script_filter.flush if script_filter.active else None,
                after=(lambda: self._analyze(request)) if opts.analyze else None,
                grace=self.grace,
            )
            return sink
        if request.format == "directory":
            raise DumpError("restoring the directory format is not supported by this build yet")
        argv = pg_restore_command(request.settings, request.database, request.format, opts)
        command = self._command(request.settings, argv, request.scratch_dir)
        return await ToolSink.start(
            command,
            warnings=warnings,
            after=(lambda: self._analyze(request)) if opts.analyze else None,
            grace=self.grace,
        )

    @staticmethod
    async def _analyze(request: RestoreRequest) -> None:
        """``ANALYZE`` on the target after a successful load (10.5 ``analyze``)."""
        from dbops.engines.postgres.server import PostgresServer

        server = PostgresServer(request.settings.for_database(request.database))
        try:
            await server.execute("ANALYZE", database=request.database, seconds=3600)
        except Exception as error:
            raise DumpError(f"the restore completed but ANALYZE failed: {error}") from None
        finally:
            await server.close()

    @staticmethod
    def _command(settings: ConnectionSettings, argv: Sequence[str], scratch: Path | None) -> ToolCommand:
        tls_dir = private_dir(scratch) if settings.tls_mode is not TLSMode.DISABLE else None
        try:
            env = pg_environment(settings, tls_dir)
        except BaseException:
            if tls_dir is not None:
                shutil.rmtree(tls_dir, ignore_errors=True)
            raise
        secrets = tuple(s for s in (settings.password, settings.tls.key_pem) if s)
        return ToolCommand(tuple(argv), env, secrets, (tls_dir,) if tls_dir is not None else ())


# --------------------------------------------------------------------------------------------------------------------
# Plain-script statement filter (10.5: noOwner, noPrivileges)

_LOOKAHEAD = 128
"""Bytes kept back between chunks so every token (``$tag$`` up to 65 bytes, ``--``, ``*/``, ``\\.``) is whole."""
_HEAD_LIMIT = 8192
"""Top-level text of a statement kept for the decision (quoted contents are not part of it)."""
_UNDECIDED_LIMIT = 1 << 20
"""An ``ALTER`` statement longer than this is kept without deciding (no ownership statement is that long)."""
_NORMAL_SPECIAL = re.compile(rb"['\"$;\-/\n\\]")
_DOLLAR_TAG = re.compile(rb"\$(?:[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)?\$")
_BLOCK_TOKEN = re.compile(rb"/\*|\*/")
_SPACES = re.compile(rb"\s+")
_OWNER_TO = re.compile(rb"\bOWNER TO\b")


def _ident_byte(byte: int) -> bool:
    return byte >= 0x80 or chr(byte).isalnum() or byte in (0x5F, 0x24)  # letters, digits, _, $


class PlainScriptFilter:
    """Drops ownership statements (``noOwner``: ``ALTER … OWNER TO …``, ``SET SESSION AUTHORIZATION``) and
    privilege statements (``noPrivileges``: ``GRANT``, ``REVOKE``, ``ALTER DEFAULT PRIVILEGES``) from a plain
    ``pg_dump`` script on its way into ``psql``.

    Only top-level statements are judged: the filter lexes the stream (quoted literals and identifiers, ``E''``
    strings, dollar-quoted bodies, line and nested block comments, psql meta-commands, ``COPY … FROM stdin`` data
    blocks) so a ``GRANT`` inside a function body or a data row is never touched. Memory is bounded: a statement is
    buffered only until its first words decide it, except ``ALTER`` statements, which wait for their end (bounded by
    :data:`_UNDECIDED_LIMIT`). The lexer works on bytes: every syntax character is ASCII, and PostgreSQL server
    encodings never use ASCII bytes inside multi-byte characters.
    """

    def __init__(self, *, no_owner: bool, no_privileges: bool) -> None:
        self.no_owner = no_owner
        self.no_privileges = no_privileges
        self.dropped = 0
        self.copy_blocks = 0
        self._buf = bytearray()
        self._mode = "normal"
        self._tag = b""
        self._depth = 0
        self._copy_line_start = False
        self._copy_pending = False
        self._prev = 0x0A  # the byte before the current position (for E'' and $tag$ boundaries)
        self._reset_statement()

    @property
    def active(self) -> bool:
        return self.no_owner or self.no_privileges

    def _reset_statement(self) -> None:
        self._head = bytearray()
        self._tail = bytearray()
        self._stmt = bytearray()
        self._decision: bool | None = None  # True keep, False drop, None undecided

    # Output of the current statement ------------------------------------------------------------------------------

    def _emit(self, out: bytearray, data: bytes | bytearray, *, text: bool) -> None:
        if text:
            if len(self._head) < _HEAD_LIMIT:
                self._head += data[: _HEAD_LIMIT - len(self._head)]
            self._tail = (self._tail + data)[-64:]
        if self._decision is True:
            out += data
        elif self._decision is None:
            self._stmt += data
            self._try_decide(out, final=False)
        if data:
            self._prev = data[-1]

    def _normalized(self) -> bytes:
        return _SPACES.sub(b" ", bytes(self._head)).strip().upper()

    def _judge(self, head: bytes) -> bool:
        """Keep (True) or drop (False) a statement whose normalised top-level text starts with ``head``."""
        if self.no_owner and head.startswith(b"SET SESSION AUTHORIZATION"):
            return False
        if self.no_privileges and (
            head.startswith((b"GRANT ", b"REVOKE ")) or head.startswith(b"ALTER DEFAULT PRIVILEGES")
        ):
            return False
        return not (self.no_owner and head.startswith(b"ALTER ") and _OWNER_TO.search(head) is not None)

    def _try_decide(self, out: bytearray, *, final: bool) -> None:
        if self._decision is not None:
            return
        head = self._normalized()
        if not final:
            if not head:
                if len(self._stmt) > _UNDECIDED_LIMIT:  # whitespace and comments only: nothing to judge yet
                    out += self._stmt
                    self._stmt = bytearray()
                return
            if head.startswith(b"ALTER"):
                if len(self._stmt) <= _UNDECIDED_LIMIT and not head.startswith(b"ALTER DEFAULT PRIVILEGES"):
                    return
            elif len(head.split(b" ")) < 4 and len(head) < 64:
                return
        self._decision = self._judge(head) if head else True
        if self._decision:
            out += self._stmt
        else:
            self.dropped += 1
        self._stmt = bytearray()

    def _end_statement(self, out: bytearray) -> None:
        self._try_decide(out, final=True)
        tail = _SPACES.sub(b" ", bytes(self._tail)).strip().upper()
        head = self._normalized()
        if head.startswith(b"COPY ") and tail.endswith(b"FROM STDIN;"):
            self._copy_pending = True
        self._reset_statement()

    # Lexing ---------------------------------------------------------------------------------------------------------

    def feed(self, data: bytes) -> bytes:
        self._buf += data
        return self._run(final=False)

    def flush(self) -> bytes:
        out = bytearray(self._run(final=True))
        self._try_decide(out, final=True)
        return bytes(out)

    def _run(self, *, final: bool) -> bytes:
        out = bytearray()
        buf = self._buf
        i = 0
        limit = len(buf) if final else len(buf) - _LOOKAHEAD
        while i < limit:
            i = self._step(buf, i, limit, final, out)
        del buf[:i]
        return bytes(out)

    def _keep_now(self, out: bytearray) -> None:
        self._decision = True
        out += self._stmt
        self._stmt = bytearray()

    def _step(self, buf: bytearray, i: int, limit: int, final: bool, out: bytearray) -> int:
        """Process from ``i`` (< ``limit``) and return the new position."""
        mode = self._mode
        if mode == "copy":
            return self._copy(buf, i, limit, final, out)
        if mode == "normal":
            match = _NORMAL_SPECIAL.search(buf, i, limit)
            if match is None:
                self._emit(out, buf[i:limit], text=True)
                return limit
            j = match.start()
            if j > i:
                self._emit(out, buf[i:j], text=True)
            ch = buf[j]
            if ch == 0x0A:  # newline
                if self._copy_pending:  # the data block follows the COPY statement's line, in order
                    out += self._stmt + b"\n"
                    self._stmt = bytearray()
                    self._prev = 0x0A
                    self._copy_pending = False
                    self._mode, self._copy_line_start = "copy", True
                    self.copy_blocks += 1
                    return j + 1
                self._emit(out, b"\n", text=True)
                return j + 1
            if ch == 0x3B:  # ;
                self._emit(out, b";", text=True)
                self._end_statement(out)
                return j + 1
            if ch == 0x27:  # '
                escape = self._prev in (0x45, 0x65) and (j < 2 or not _ident_byte(buf[j - 2]))
                self._emit(out, b"'", text=False)
                self._head += b"''"
                self._mode = "equote" if escape else "squote"
                return j + 1
            if ch == 0x22:  # "
                self._emit(out, b'"', text=False)
                self._head += b'""'
                self._mode = "dquote"
                return j + 1
            if ch == 0x24:  # $
                tag = _DOLLAR_TAG.match(buf, j)
                if tag is not None and not _ident_byte(self._prev if j == i else buf[j - 1]):
                    self._tag = bytes(tag.group(0))
                    self._emit(out, self._tag, text=False)
                    self._head += b"$$"
                    self._mode = "dollar"
                    return tag.end()
                self._emit(out, b"$", text=True)
                return j + 1
            if ch == 0x2D and buf[j : j + 2] == b"--":
                self._mode = "line"
                self._emit(out, b"--", text=False)
                return j + 2
            if ch == 0x2F and buf[j : j + 2] == b"/*":
                self._mode, self._depth = "block", 1
                self._emit(out, b"/*", text=False)
                return j + 2
            if ch == 0x5C and self._decision is None and not self._normalized():
                self._mode = "meta"  # a psql meta-command (\connect, \restrict …) on its own line
                self._keep_now(out)
                self._emit(out, b"\\", text=False)
                return j + 1
            self._emit(out, buf[j : j + 1], text=True)
            return j + 1
        if mode in ("squote", "equote", "dquote"):
            quote = 0x22 if mode == "dquote" else 0x27
            k = i
            while k < limit:
                ch = buf[k]
                if mode == "equote" and ch == 0x5C:
                    k += 2
                    continue
                if ch == quote:
                    if k + 1 < len(buf) and buf[k + 1] == quote:
                        k += 2
                        continue
                    self._emit(out, buf[i : k + 1], text=False)
                    self._mode = "normal"
                    return k + 1
                k += 1
            k = min(k, len(buf))  # an escape at the limit takes its escaped byte along
            self._emit(out, buf[i:k], text=False)
            return k
        if mode == "dollar":
            k = buf.find(self._tag, i)
            if k == -1 or k >= limit:  # a tag starting before the limit would lie whole in the lookahead
                self._emit(out, buf[i:limit], text=False)
                return limit
            self._emit(out, buf[i : k + len(self._tag)], text=False)
            self._mode = "normal"
            return k + len(self._tag)
        if mode in ("line", "meta"):
            k = buf.find(b"\n", i, limit)
            if k == -1:
                self._emit(out, buf[i:limit], text=False)
                return limit
            self._emit(out, buf[i : k + 1], text=False)
            if mode == "meta":
                self._reset_statement()
            self._mode = "normal"
            return k + 1
        # block comment, nested
        match = _BLOCK_TOKEN.search(buf, i, min(len(buf), limit + 1))  # a token straddling the limit counts
        if match is None:
            self._emit(out, buf[i:limit], text=False)
            return limit
        self._depth += 1 if match.group(0) == b"/*" else -1
        self._emit(out, buf[i : match.end()], text=False)
        if self._depth == 0:
            self._mode = "normal"
        return match.end()

    def _copy(self, buf: bytearray, i: int, limit: int, final: bool, out: bytearray) -> int:
        """Inside a ``COPY … FROM stdin`` block: pass data through until the line ``\\.``."""
        if self._copy_line_start and buf[i : i + 2] == b"\\.":
            rest = buf[i + 2 : i + 4]
            if rest.startswith(b"\n") or rest.startswith(b"\r\n") or (final and i + 2 >= len(buf)):
                end = i + 2 + (2 if rest.startswith(b"\r\n") else 1 if rest.startswith(b"\n") else 0)
                out += buf[i:end]
                self._mode = "normal"
                self._prev = 0x0A
                self._reset_statement()
                return end
        k = buf.find(b"\n\\.", i, limit + 2 if final else limit)
        if k == -1:
            out += buf[i:limit]
            self._copy_line_start = buf[limit - 1] == 0x0A if limit > i else self._copy_line_start
            return limit
        out += buf[i : k + 1]
        self._copy_line_start = True
        return k + 1
