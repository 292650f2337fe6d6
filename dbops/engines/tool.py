"""Dump and restore tools as subprocesses: a :class:`~dbops.backup.interfaces.Source` reading a tool's standard
output and a :class:`~dbops.backup.interfaces.StreamSink` writing its standard input (backup.md 1, 2).

Why the details below matter:

* **Standard error is drained concurrently and bounded.** A tool that writes more than a pipe buffer of diagnostics
  (``pg_restore --verbose`` on many tables) would block forever on a full stderr pipe while we wait on stdout; the
  drain task keeps only the error and warning lines (at most :data:`MAX_KEPT_LINES`) and a tail of the rest.
* **Credentials never reach argv or messages.** Commands carry secrets only in their environment (``PGPASSWORD``)
  or in a private option file (:func:`private_dir`, mode 0700, files 0600) removed when the tool has ended; every
  message built from the tool's output is redacted with the command's secrets and cut to 1,024 characters.
* **Cancellation is bounded.** ``abort()`` sends SIGTERM to the tool's process group (a parallel ``pg_dump`` has
  workers), then SIGKILL after :data:`KILL_GRACE_SECONDS` (10 s).
* **A sink is killed before its input is closed.** Closing stdin first would look like a complete dump to a tool
  restoring in one transaction, which would then commit the partial data.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import tempfile
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dbops.engines.dump import MAX_ERROR_CHARS, DumpError, add_warning
from dbops.engines.sql.redact import redact

__all__ = [
    "KILL_GRACE_SECONDS",
    "ToolCommand",
    "ToolSink",
    "ToolSource",
    "clean_environment",
    "private_dir",
    "start_tool",
    "write_private_file",
]

KILL_GRACE_SECONDS = 10.0
"""Between SIGTERM and SIGKILL (backup.md 1, cancellation)."""
READ_SIZE = 256 * 1024
"""Largest single read from a tool's standard output; the pipeline coalesces reads into 1 MiB chunks."""
MAX_KEPT_LINES = 200
"""Error and warning lines of standard error kept for the failure message and warnings."""
TAIL_LINES = 20
"""Other standard-error lines kept (the last ones), for a failure without an explicit error line."""
MAX_LINE = 4096
"""A longer standard-error line is cut; a tool that never ends a line cannot grow memory."""

_ERROR_LINE = re.compile(r"\b(?:error|fatal|failed)\b\s*:", re.IGNORECASE)
_WARNING_LINE = re.compile(r"\bwarning\b\s*:", re.IGNORECASE)
_ENV_PREFIXES = ("PG", "MYSQL", "MARIADB", "LIBMYSQL")
"""Inherited variables that would change what a tool connects to or reads (PGSERVICE, PGHOST, MYSQL_PWD, …)."""


@dataclass(frozen=True)
class ToolCommand:
    """One tool run: argv (no secrets), extra environment (may hold secrets), the secrets to redact, and the
    scratch paths to remove when the tool has ended."""

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)
    cleanup: tuple[Path, ...] = ()

    @property
    def name(self) -> str:
        return Path(self.argv[0]).name

    def remove_scratch(self) -> None:
        for path in self.cleanup:
            shutil.rmtree(path, ignore_errors=True)


def clean_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """The operator's environment without connection variables of the tools' libraries, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(_ENV_PREFIXES)}
    env.update(extra)
    return env


def private_dir(parent: Path | None = None) -> Path:
    """A fresh directory only the operator can read (0700), for option files and TLS material of one run."""
    path = Path(tempfile.mkdtemp(prefix="dbops-tool-", dir=parent))
    path.chmod(0o700)
    return path


def write_private_file(directory: Path, name: str, text: str) -> Path:
    """Create ``directory/name`` with mode 0600 (never readable by others, not even briefly) holding ``text``."""
    path = directory / name
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


class _Stderr:
    """Concurrent, bounded reader of a tool's standard error."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.important: list[str] = []
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.lines_seen = 0
        self.on_line: Callable[[str], None] | None = None
        self.task = asyncio.get_running_loop().create_task(self._drain(stream))

    async def _drain(self, stream: asyncio.StreamReader) -> None:
        pending = b""
        while chunk := await stream.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self._line(line)
            if len(pending) > MAX_LINE:
                self._line(pending)
                pending = b""
        if pending:
            self._line(pending)

    def _line(self, raw: bytes) -> None:
        text = raw[:MAX_LINE].decode("utf-8", "replace").rstrip("\r")
        if not text.strip():
            return
        self.lines_seen += 1
        if self.on_line is not None:
            self.on_line(text)
        if (_ERROR_LINE.search(text) or _WARNING_LINE.search(text)) and len(self.important) < MAX_KEPT_LINES:
            self.important.append(text)
        else:
            self.tail.append(text)

    @property
    def errors(self) -> list[str]:
        return [line for line in self.important if _ERROR_LINE.search(line)]

    @property
    def warnings(self) -> list[str]:
        return [line for line in self.important if not _ERROR_LINE.search(line)]

    async def wait(self) -> None:
        with contextlib.suppress(Exception):
            await self.task

    def cancel(self) -> None:
        self.task.cancel()


def excerpt(lines: Sequence[str], secrets: Sequence[str], limit: int) -> str:
    """Lines joined, redacted and cut to ``limit`` characters (the first lines: the first error is the cause)."""
    text = redact(" | ".join(line.strip() for line in lines), secrets)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Tool:
    """A started tool: its process, its stderr reader and its end."""

    def __init__(self, process: asyncio.subprocess.Process, command: ToolCommand) -> None:
        self.process = process
        self.command = command
        self.stderr = _Stderr(process.stderr) if process.stderr is not None else None
        self.ended = False

    def failure(self, detail: str) -> DumpError:
        """A redacted error of at most 1,024 characters naming the tool, ``detail`` and its error output."""
        head = f"{self.command.name} {detail}"
        lines: list[str] = []
        if self.stderr is not None:
            lines = self.stderr.errors or list(self.stderr.tail)
        if not lines:
            return DumpError(excerpt([head], self.command.secrets, MAX_ERROR_CHARS))
        body = excerpt(lines, self.command.secrets, MAX_ERROR_CHARS - len(head) - 2)
        return DumpError(excerpt([head], self.command.secrets, MAX_ERROR_CHARS // 2) + ": " + body)

    async def wait(self) -> int:
        returncode = await self.process.wait()
        if self.stderr is not None:
            await self.stderr.wait()
        return returncode

    async def end(self, *, check: bool = True) -> None:
        """Wait for the tool, release its scratch; raise when it failed."""
        try:
            returncode = await self.wait()
        finally:
            self.ended = True
            self.command.remove_scratch()
        if check and returncode != 0:
            raise self.failure(_exit_text(returncode))

    async def kill(self, grace: float = KILL_GRACE_SECONDS) -> None:
        """SIGTERM to the tool's process group, SIGKILL after ``grace`` seconds; then wait for it. Never raises."""
        try:
            if self.process.returncode is None:
                _signal_group(self.process.pid, signal.SIGTERM)
                try:
                    await asyncio.wait_for(asyncio.shield(self.process.wait()), grace)
                except TimeoutError:
                    _signal_group(self.process.pid, signal.SIGKILL)
                    await self.process.wait()
            if self.stderr is not None:
                self.stderr.cancel()
                await self.stderr.wait()
        finally:
            self.ended = True
            self.command.remove_scratch()


def _exit_text(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was ended by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was ended by signal {-returncode}"
    return f"failed with exit status {returncode}"


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the tool's own process group (it was started in a new session), falling back to the tool itself."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


async def start_tool(command: ToolCommand, *, stdin: bool = False, stdout: bool = False) -> _Tool:
    """Start ``command`` in a session of its own with a clean environment; scratch removed if it cannot start."""
    try:
        process = await asyncio.create_subprocess_exec(
            *command.argv,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if stdout else asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=clean_environment(command.env),
            start_new_session=True,
        )
    except FileNotFoundError:
        command.remove_scratch()
        raise DumpError(f"{command.name} is not installed in the operator image") from None
    except BaseException:
        command.remove_scratch()
        raise
    return _Tool(process, command)


class ToolSource:
    """A dump tool's standard output as a :class:`~dbops.backup.interfaces.Source` (and a ``DumpSource``)."""

    def __init__(
        self,
        tool: _Tool,
        *,
        format: str,
        extension: str,
        warnings: Sequence[str] = (),
        grace: float = KILL_GRACE_SECONDS,
    ) -> None:
        self._tool = tool
        self._format = format
        self._extension = extension
        self._warnings = list(warnings)
        self._grace = grace

    @classmethod
    async def start(
        cls,
        command: ToolCommand,
        *,
        format: str,
        extension: str,
        warnings: Sequence[str] = (),
        grace: float = KILL_GRACE_SECONDS,
    ) -> ToolSource:
        return cls(
            await start_tool(command, stdout=True), format=format, extension=extension, warnings=warnings, grace=grace
        )

    @property
    def format(self) -> str:
        return self._format

    @property
    def extension(self) -> str:
        return self._extension

    @property
    def warnings(self) -> list[str]:
        return self._warnings

    @property
    def pid(self) -> int:
        return self._tool.process.pid

    async def read(self, size: int) -> bytes:
        stdout = self._tool.process.stdout
        assert stdout is not None
        return await stdout.read(max(1, min(size, READ_SIZE)))

    async def finish(self) -> None:
        await self._tool.end()
        if self._tool.stderr is not None:
            for line in self._tool.stderr.warnings:
                add_warning(self._warnings, excerpt([line], self._tool.command.secrets, 512))

    async def abort(self) -> None:
        await self._tool.kill(self._grace)


class ToolSink:
    """A restore tool's standard input as a :class:`~dbops.backup.interfaces.StreamSink` (and a ``RestoreSink``).

    ``preamble`` is written before the first byte of the stream and ``postamble`` after its last, in the same input
    (session settings of a MySQL restore, backup.md 10.5). ``observe`` sees every chunk of the stream (for stream
    checks such as a ``USE`` statement in a hand-made dump); ``transform`` may rewrite it (a statement filter).
    Error lines on standard error fail the restore even when the tool's exit status is 0 (10.5).
    """

    def __init__(
        self,
        tool: _Tool,
        *,
        warnings: Sequence[str] = (),
        preamble: bytes = b"",
        postamble: bytes = b"",
        transform: Callable[[bytes], bytes] | None = None,
        flush: Callable[[], bytes] | None = None,
        after: Callable[[], object] | None = None,
        grace: float = KILL_GRACE_SECONDS,
    ) -> None:
        self._tool = tool
        self._warnings = list(warnings)
        self._preamble = preamble
        self._postamble = postamble
        self._transform = transform
        self._flush = flush
        self._after = after
        self._grace = grace
        self._started = False

    @classmethod
    async def start(
        cls,
        command: ToolCommand,
        *,
        warnings: Sequence[str] = (),
        preamble: bytes = b"",
        postamble: bytes = b"",
        transform: Callable[[bytes], bytes] | None = None,
        flush: Callable[[], bytes] | None = None,
        after: Callable[[], object] | None = None,
        grace: float = KILL_GRACE_SECONDS,
    ) -> ToolSink:
        tool = await start_tool(command, stdin=True)
        return cls(
            tool,
            warnings=warnings,
            preamble=preamble,
            postamble=postamble,
            transform=transform,
            flush=flush,
            after=after,
            grace=grace,
        )

    @property
    def warnings(self) -> list[str]:
        return self._warnings

    @property
    def pid(self) -> int:
        return self._tool.process.pid

    def on_stderr_line(self, callback: Callable[[str], None]) -> None:
        """Call ``callback`` with every non-empty standard-error line (progress counting)."""
        if self._tool.stderr is not None:
            self._tool.stderr.on_line = callback

    async def _send(self, data: bytes) -> None:
        stdin = self._tool.process.stdin
        assert stdin is not None
        if not data:
            return
        try:
            stdin.write(data)
            await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            # The tool ended before taking its input: its own error output says why.
            returncode = await self._tool.wait()
            raise self._tool.failure(_exit_text(returncode) if returncode else "stopped reading its input") from None

    async def write(self, data: bytes) -> None:
        if not self._started:
            self._started = True
            await self._send(self._preamble)
        await self._send(self._transform(data) if self._transform is not None else data)

    async def complete(self) -> None:
        if not self._started:
            self._started = True
            await self._send(self._preamble)
        if self._flush is not None:
            await self._send(self._flush())
        await self._send(self._postamble)
        stdin = self._tool.process.stdin
        assert stdin is not None
        stdin.close()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            await stdin.wait_closed()
        await self._tool.end()
        stderr = self._tool.stderr
        if stderr is not None:
            if stderr.errors:
                raise self._tool.failure("reported errors")
            for line in stderr.warnings:
                add_warning(self._warnings, excerpt([line], self._tool.command.secrets, 512))
        if self._after is not None:
            result = self._after()
            if asyncio.iscoroutine(result):
                await result

    async def abort(self) -> None:
        # Kill first: with stdin still open the tool cannot take the cut-off input for a complete dump.
        await self._tool.kill(self._grace)
        stdin = self._tool.process.stdin
        if stdin is not None:
            stdin.close()
            with contextlib.suppress(Exception):
                await stdin.wait_closed()
