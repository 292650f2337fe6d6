"""Turning driver errors of the PostgreSQL adapter into redacted `EngineError`s.

A server message can echo part of a statement (and with it a password or verifier), so every message that leaves
the adapter goes through `dbops.engines.sql.redact`, with the secrets the failing statement carried. The original
exception is not chained (`from None`): a traceback printed later must not carry the unredacted text either.
`ConnectionFailure` from the server handle is already categorised and redacted and passes through untouched.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import asyncpg

from dbops.engines.base import EngineError
from dbops.engines.sql.redact import redact

__all__ = ["PostgresEngineError", "server_errors"]


class PostgresEngineError(EngineError):
    """A failed statement or catalog read. ``sqlstate`` is the server's five-character code (None for client-side
    failures such as a dropped connection), so callers can tell e.g. ``42501`` (insufficient privilege) apart."""

    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def describe(error: BaseException, secrets: Iterable[str] = ()) -> str:
    """The redacted text of a driver error on one line: the message, then the server's detail and hint when it has
    them (asyncpg's own `str()` spreads those over several lines)."""
    if isinstance(error, asyncpg.PostgresError) and error.args:
        message = str(error.args[0])
        detail, hint = getattr(error, "detail", None), getattr(error, "hint", None)
        if detail:
            message += f" ({detail})"
        if hint:
            message += f"; hint: {hint}"
    else:
        message = str(error) or error.__class__.__name__
    return redact(message, [s for s in secrets if s])


@contextmanager
def server_errors(secrets: Iterable[str] = (), *, seconds: float | None = None) -> Iterator[None]:
    """Run a block of server calls, raising `PostgresEngineError` for anything the server or driver reports.

    ``secrets`` are the values the block's statements carried (password, verifier); ``seconds`` the statement limit,
    only used to word a client-side timeout.
    """
    known = tuple(secrets)
    try:
        yield
    except asyncpg.PostgresError as error:
        raise PostgresEngineError(describe(error, known), getattr(error, "sqlstate", None)) from None
    except TimeoutError:  # before OSError, of which it is a subclass
        limit = f" within {seconds:g}s" if seconds is not None else ""
        raise PostgresEngineError(f"the statement did not finish{limit}") from None
    except (asyncpg.InterfaceError, OSError) as error:
        raise PostgresEngineError(describe(error, known)) from None
