"""MySQL and MariaDB backups with ``mysqldump`` / ``mariadb-dump`` and restores with ``mysql`` / ``mariadb``
(backup.md 4.2, 4.3, 10.5).

Why it is done this way:

* **The password is in a private option file**, never on argv: a 0600 file in a fresh 0700 directory, passed as
  ``--defaults-extra-file`` (which must be the first argument) and removed when the tool has ended. The file also
  holds the TLS settings, which differ between the MySQL client (``ssl-mode``) and the MariaDB client (``ssl``,
  ``ssl-verify-server-cert``).
* **The database is a plain argument after ``--``**, never ``--databases``, so the dump has no ``CREATE DATABASE``
  or ``USE`` and restores under any name; ``--`` keeps a name starting with ``-`` from being read as an option.
* **Session settings travel in the stream** (preamble ``SET FOREIGN_KEY_CHECKS=0; SET SQL_LOG_BIN=0;``, postamble
  ``SET FOREIGN_KEY_CHECKS=1;``): the client reads the whole dump on stdin and is never given ``-e``.
* MariaDB's tool is ``mariadb-dump``; when an image only has the MariaDB package's ``mysqldump`` it is used instead
  (4.3). MariaDB has no ``--set-gtid-purged``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

from dbops.api.backup import MySQLBackupConfig
from dbops.api.restore import MySQLRestoreConfig
from dbops.engines.connection import ConnectionSettings, TLSMode
from dbops.engines.dump import DumpError, DumpRequest, RestoreRequest, add_warning
from dbops.engines.errors import InvalidSpec
from dbops.engines.tool import KILL_GRACE_SECONDS, ToolCommand, ToolSink, ToolSource, private_dir, write_private_file

__all__ = [
    "MySQLDumpMethod",
    "StreamScanner",
    "client_command",
    "dump_command",
    "option_file",
    "option_value",
    "restore_postamble",
    "restore_preamble",
    "restore_warnings",
    "tool_names",
]

_BACKUP_FIELD = "spec.mysql"
FORMAT = "mysqldump"
EXTENSION = ".sql"

_MYSQL_SSL_MODE = {
    TLSMode.DISABLE: "DISABLED",
    TLSMode.ALLOW: "PREFERRED",
    TLSMode.PREFER: "PREFERRED",
    TLSMode.REQUIRE: "REQUIRED",
    TLSMode.VERIFY_CA: "VERIFY_CA",
    TLSMode.VERIFY_FULL: "VERIFY_IDENTITY",
}


# --------------------------------------------------------------------------------------------------------------------
# Pure builders


def tool_names(engine: str, which: Callable[[str], str | None] = shutil.which) -> tuple[str, str]:
    """(dump tool, client) for the engine: MySQL's ``mysqldump``/``mysql``; MariaDB's ``mariadb-dump``/``mariadb``,
    falling back to the MariaDB package's old names when the new ones are absent (4.3)."""
    if engine == "mariadb":
        dump = "mariadb-dump" if which("mariadb-dump") else "mysqldump"
        client = "mariadb" if which("mariadb") else "mysql"
        return dump, client
    return "mysqldump", "mysql"


def option_value(value: str, field: str = "password") -> str:
    """A value for a MySQL option file, double-quoted with ``\\``, ``"`` and line breaks escaped (the option-file
    parser of both clients un-escapes ``\\\\``, ``\\"``, ``\\n``, ``\\r``, ``\\t``), so ``#``, ``;`` and spaces
    stay part of the value."""
    if "\x00" in value:
        raise InvalidSpec(field, "must not contain a NUL character")
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    )
    return f'"{escaped}"'


def option_file(settings: ConnectionSettings, engine: str, tls_files: dict[str, Path]) -> str:
    """The ``[client]`` group with the password and the TLS settings of backup.md 1 (``tls_files``: ``ca``,
    ``cert``, ``key`` paths already written)."""
    lines = ["[client]", f"password={option_value(settings.password)}"]
    mode = settings.tls_mode
    if engine == "mariadb":
        if mode is TLSMode.DISABLE:
            lines.append("skip-ssl")
        elif mode is not TLSMode.ALLOW and mode is not TLSMode.PREFER:
            lines.append("ssl")
            if mode.verifies_chain:
                lines.append("ssl-verify-server-cert")
    else:
        lines.append(f"ssl-mode={_MYSQL_SSL_MODE[mode]}")
    if mode is not TLSMode.DISABLE:
        for key, option in (("ca", "ssl-ca"), ("cert", "ssl-cert"), ("key", "ssl-key")):
            if key in tls_files:
                lines.append(f"{option}={option_value(str(tls_files[key]), option)}")
    return "\n".join(lines) + "\n"


def _connection_args(settings: ConnectionSettings, defaults_file: Path) -> list[str]:
    # --defaults-extra-file must come first: the clients only honour it as the first argument.
    return [
        f"--defaults-extra-file={defaults_file}",
        f"--host={settings.host}",
        f"--port={settings.port}",
        f"--user={settings.username}",
    ]


def dump_command(
    settings: ConnectionSettings,
    database: str,
    options: MySQLBackupConfig | None,
    *,
    engine: str,
    tool: str,
    defaults_file: Path,
) -> tuple[tuple[str, ...], list[str]]:
    """The dump command of 4.2/4.3 and the options that were not applied."""
    opts = options if options is not None else MySQLBackupConfig()
    warnings: list[str] = []
    argv = [tool, *_connection_args(settings, defaults_file)]
    if opts.single_transaction:
        argv.append("--single-transaction")
    argv.append("--quick" if opts.quick else "--skip-quick")
    argv.append("--lock-tables" if opts.lock_tables else "--skip-lock-tables")
    if opts.routines:
        argv.append("--routines")
    argv.append("--triggers" if opts.triggers else "--skip-triggers")
    if opts.events:
        argv.append("--events")
    argv.append("--extended-insert" if opts.extended_insert else "--skip-extended-insert")
    if engine == "mysql":
        argv.append(f"--set-gtid-purged={opts.set_gtid_purged}")
    elif opts.set_gtid_purged != "AUTO":
        warnings.append(f"{_BACKUP_FIELD}.setGtidPurged does not exist for MariaDB; ignored")
    argv += ["--hex-blob", "--default-character-set=utf8mb4", "--no-tablespaces"]
    for i, table in enumerate(opts.exclude_tables or ()):
        _check_name(table, f"{_BACKUP_FIELD}.excludeTables[{i}]")
        argv.append(f"--ignore-table={database}.{table}")
    _check_name(database, "database")
    for i, table in enumerate(opts.tables or ()):
        _check_name(table, f"{_BACKUP_FIELD}.tables[{i}]")
    argv += ["--", database, *(opts.tables or ())]
    return tuple(argv), warnings


def _check_name(name: str, field: str) -> None:
    if not name or "\x00" in name:
        raise InvalidSpec(field, "must be a non-empty name without NUL characters")


def client_command(settings: ConnectionSettings, database: str, *, tool: str, defaults_file: Path) -> tuple[str, ...]:
    """The restore client of 10.5, reading the whole dump on stdin (never ``-e``)."""
    _check_name(database, "database")
    return (
        tool,
        *_connection_args(settings, defaults_file),
        f"--database={database}",
        "--binary-mode",
        "--default-character-set=utf8mb4",
        "--batch",
    )


def restore_preamble(options: MySQLRestoreConfig | None, *, binlog_allowed: bool) -> bytes:
    opts = options if options is not None else MySQLRestoreConfig()
    out = b""
    if opts.disable_foreign_key_checks:
        out += b"SET FOREIGN_KEY_CHECKS=0;\n"
    if opts.disable_binlog and binlog_allowed:
        out += b"SET SQL_LOG_BIN=0;\n"
    return out


def restore_postamble(options: MySQLRestoreConfig | None) -> bytes:
    opts = options if options is not None else MySQLRestoreConfig()
    # The newline first: the dump's last line may be a comment without one.
    return b"\nSET FOREIGN_KEY_CHECKS=1;\n" if opts.disable_foreign_key_checks else b""


def restore_warnings(options: MySQLRestoreConfig | None, *, engine: str, source_engine: str | None) -> list[str]:
    """``routines``/``triggers``/``events`` false cannot filter a dump (10.5); MySQL ↔ MariaDB restores warn."""
    opts = options if options is not None else MySQLRestoreConfig()
    out = [
        f"{_BACKUP_FIELD}.{name} is false, but a dump's contents cannot be filtered: what the dump contains is restored"
        for name, value in (("routines", opts.routines), ("triggers", opts.triggers), ("events", opts.events))
        if not value
    ]
    if source_engine is not None and source_engine != engine:
        out.append(f"the backup was taken from {source_engine} and is restored into {engine}")
    return out


_USE_OR_CREATE = re.compile(rb"(?:^|\n)[ \t]*(USE[ \t`]|CREATE[ \t]+DATABASE\b|CREATE[ \t]+SCHEMA\b)", re.IGNORECASE)


class StreamScanner:
    """Notices ``USE`` or ``CREATE DATABASE`` at the start of a line of the stream (a hand-made dump restores where
    those point, which the restore records as a warning), and counts the dump tool's per-table comments for
    ``tablesRestored``. Looks at each chunk plus the last bytes of the previous one, so matches across chunk borders
    are found."""

    _CARRY = 64

    def __init__(self) -> None:
        self.redirects = False
        self.tables = 0
        self._carry = b""

    def observe(self, data: bytes) -> bytes:
        window = self._carry + data
        if not self.redirects and _USE_OR_CREATE.search(window):
            self.redirects = True
        self.tables += window.count(b"\n-- Dumping data for table ") - self._carry.count(
            b"\n-- Dumping data for table "
        )
        self._carry = window[-self._CARRY :]
        return data


# --------------------------------------------------------------------------------------------------------------------
# The method


class MySQLDumpMethod:
    """:class:`~dbops.engines.dump.DumpMethod` for MySQL (``engine="mysql"``) and MariaDB (``"mariadb"``)."""

    def __init__(self, engine: str = "mariadb", *, grace: float = KILL_GRACE_SECONDS) -> None:
        if engine not in ("mysql", "mariadb"):
            raise ValueError(f"not a MySQL-family engine: {engine!r}")
        self.engine = engine
        self.grace = grace
        """SIGTERM → SIGKILL delay of the tools (tests shorten it)."""

    def _credentials(self, settings: ConnectionSettings, scratch: Path | None) -> tuple[Path, Path]:
        """The private directory and its option file (removed with the directory after the tool ended)."""
        directory = private_dir(scratch)
        try:
            tls_files: dict[str, Path] = {}
            if settings.tls_mode is not TLSMode.DISABLE:
                material = settings.tls
                if material.ca_pem:
                    tls_files["ca"] = write_private_file(directory, "ca.crt", material.ca_pem)
                if material.cert_pem and material.key_pem:
                    tls_files["cert"] = write_private_file(directory, "tls.crt", material.cert_pem)
                    tls_files["key"] = write_private_file(directory, "tls.key", material.key_pem)
            path = write_private_file(directory, "client.cnf", option_file(settings, self.engine, tls_files))
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return directory, path

    @staticmethod
    def _secrets(settings: ConnectionSettings) -> tuple[str, ...]:
        return tuple(s for s in (settings.password, settings.tls.key_pem) if s)

    async def open_dump(self, request: DumpRequest) -> ToolSource:
        tool, _ = tool_names(self.engine)
        directory, defaults = self._credentials(request.settings, request.scratch_dir)
        try:
            argv, notes = dump_command(
                request.settings,
                request.database,
                request.mysql,
                engine=self.engine,
                tool=tool,
                defaults_file=defaults,
            )
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        warnings: list[str] = []
        for note in notes:
            add_warning(warnings, note)
        command = ToolCommand(argv, {}, self._secrets(request.settings), (directory,))
        return await ToolSource.start(command, format=FORMAT, extension=EXTENSION, warnings=warnings, grace=self.grace)

    async def binlog_allowed(self, settings: ConnectionSettings) -> bool:
        """Whether the admin account may turn binary logging off for its session (checked on a separate session,
        10.5); a failure to check counts as not allowed."""
        from dbops.engines.mysql.server import MySQLServer

        server = MySQLServer(settings)
        try:
            async with server.session() as connection:
                await server.run(connection, ["SET SESSION SQL_LOG_BIN = 0", "SET SESSION SQL_LOG_BIN = 1"])
            return True
        except Exception:
            return False
        finally:
            await server.close()

    async def open_restore(self, request: RestoreRequest) -> MySQLRestoreSink:
        if request.format != FORMAT:
            raise DumpError(f"a {request.format} backup cannot be restored into {self.engine}")
        opts = request.mysql if request.mysql is not None else MySQLRestoreConfig()
        warnings: list[str] = []
        for note in restore_warnings(opts, engine=self.engine, source_engine=request.source_engine):
            add_warning(warnings, note)
        allowed = True
        if opts.disable_binlog:
            allowed = await self.binlog_allowed(request.settings)
            if not allowed:
                add_warning(
                    warnings,
                    "spec.mysql.disableBinlog: the admin account may not turn binary logging off; "
                    "the restore is written to the binary log",
                )
        _, client = tool_names(self.engine)
        directory, defaults = self._credentials(request.settings, request.scratch_dir)
        try:
            argv = client_command(request.settings, request.database, tool=client, defaults_file=defaults)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        command = ToolCommand(argv, {}, self._secrets(request.settings), (directory,))
        scanner = StreamScanner()
        sink = await ToolSink.start(
            command,
            warnings=warnings,
            preamble=restore_preamble(opts, binlog_allowed=allowed),
            postamble=restore_postamble(opts),
            transform=scanner.observe,
            grace=self.grace,
        )
        return MySQLRestoreSink(sink, scanner)


class MySQLRestoreSink:
    """The client's sink plus the stream scan's warning (``USE``/``CREATE DATABASE`` in a hand-made dump)."""

    def __init__(self, sink: ToolSink, scanner: StreamScanner) -> None:
        self._sink = sink
        self._scanner = scanner

    @property
    def warnings(self) -> list[str]:
        return self._sink.warnings

    @property
    def pid(self) -> int:
        return self._sink.pid

    @property
    def tables_restored(self) -> int:
        """Tables whose data section has been sent to the client so far (progress ``tablesRestored``)."""
        return self._scanner.tables

    async def write(self, data: bytes) -> None:
        await self._sink.write(data)

    async def complete(self) -> None:
        await self._sink.complete()
        if self._scanner.redirects:
            add_warning(
                self._sink.warnings,
                "the dump contains USE or CREATE DATABASE statements: parts of it were restored where those point, "
                "not only into the target database",
            )

    async def abort(self) -> None:
        await self._sink.abort()

    def __repr__(self) -> str:
        return f"MySQLRestoreSink(pid={self.pid})"
