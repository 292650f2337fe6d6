"""Errors raised by the pure SQL-building layer.

Reconcile-time checks that fail before any SQL runs (a privilege not on the allow-list, a name too long for the
engine, a NUL byte in a value) all surface as one exception type, :class:`InvalidSpec`, so that a controller needs a
single ``except`` to turn them into ``Ready=False`` with reason ``InvalidSpec`` and a Warning event naming the field
(api.md 1.5, 1.3 layer 4).

The field path is kept apart from the message so the controller can re-root it (``at()``) when a builder only knows a
relative path, for example ``privileges[2]`` inside ``spec.postgres.grants[3]``.

Messages never carry the offending *value* when the value may be secret (passwords, keys): builders only ever name
the field and the rule that was broken.
"""

from __future__ import annotations

__all__ = ["InvalidSpec"]


class InvalidSpec(ValueError):
    """A spec value that cannot be turned into a safe statement.

    ``field`` is the path of the offending field (``spec.postgres.grants[0].privileges[1]``); ``message`` says what
    rule it broke. ``str()`` gives ``"<field>: <message>"``, ready for a condition message or an event.
    """

    reason = "InvalidSpec"

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(field, message)

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def __repr__(self) -> str:
        return f"InvalidSpec(field={self.field!r}, message={self.message!r})"

    def at(self, prefix: str) -> InvalidSpec:
        """Return a copy whose field path is re-rooted under ``prefix``.

        ``InvalidSpec("privileges[1]", m).at("spec.postgres.grants[2]")`` names
        ``spec.postgres.grants[2].privileges[1]``. Index-only paths (``[3]``) are appended without a dot.
        """
        if not prefix:
            return InvalidSpec(self.field, self.message)
        if not self.field:
            return InvalidSpec(prefix, self.message)
        sep = "" if self.field.startswith("[") else "."
        return InvalidSpec(f"{prefix}{sep}{self.field}", self.message)
