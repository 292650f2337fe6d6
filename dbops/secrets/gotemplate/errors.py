"""Errors of the template engine."""

from __future__ import annotations

__all__ = ["Failure", "TemplateError", "to_template_error"]


class TemplateError(Exception):
    """A template that does not parse or does not render.

    Carries the template key (the ``secretTemplate.data`` key), the 1-based line and column of the problem, and a
    message. Messages describe the template text and value *types*, never the values of variables, so they can go
    into status and events without leaking a password (api.md 5.10).
    """

    reason = "SecretTemplateError"

    def __init__(self, key: str, line: int, column: int, message: str) -> None:
        self.key = key
        self.line = line
        self.column = column
        self.message = message
        super().__init__(key, line, column, message)

    def __str__(self) -> str:
        return f"template {self.key!r}, line {self.line}, column {self.column}: {self.message}"


class Failure(Exception):
    """Internal: an error at a character offset of the source, turned into :class:`TemplateError` at the API."""

    def __init__(self, pos: int, message: str) -> None:
        self.pos = pos
        self.message = message
        super().__init__(pos, message)


def to_template_error(key: str, source: str, exc: Failure) -> TemplateError:
    """Convert a failure at a character offset into a keyed error with line and column."""
    pos = max(0, min(exc.pos, len(source)))
    line = source.count("\n", 0, pos) + 1
    column = pos - (source.rfind("\n", 0, pos) + 1) + 1
    return TemplateError(key, line, column, exc.message)
