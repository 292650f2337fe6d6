"""Structured logging (``observability.md`` section 4): JSON lines with ``level``, ``ts``, ``logger``, ``msg``.

structlog is configured once per process by :func:`configure_logging`; components get a logger with
:func:`get_logger` (``get_logger("controller.database")``). The reconcile ID lives in a context variable so that the
event recorder can prefix Warning messages with ``[<reconcileID>]`` without being handed the ID explicitly, and so
that every log line inside a reconcile carries ``reconcileID`` (structlog's contextvars merge).
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from collections.abc import MutableMapping
from typing import Any, TextIO, cast

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}

reconcile_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("dbops_reconcile_id", default=None)


def current_reconcile_id() -> str | None:
    """The ID of the reconcile running in this task, if any."""
    return reconcile_id_var.get()


def _timestamp(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    now = time.time()
    event_dict["ts"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
    return event_dict


def _level(_: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    name = method_name.lower()
    event_dict["level"] = {"warning": "warn", "exception": "error", "critical": "error"}.get(name, name)
    return event_dict


def _stacktrace(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    if "exception" in event_dict:
        event_dict["stacktrace"] = event_dict.pop("exception")
    return event_dict


def configure_logging(level: str = "info", fmt: str = "json", stream: TextIO | None = None) -> None:
    """Configure structlog for the whole process. ``fmt`` is ``json`` or ``console``."""
    if level not in _LEVELS:
        raise ValueError(f"invalid log level {level!r}; expected one of {', '.join(_LEVELS)}")
    if fmt not in ("json", "console"):
        raise ValueError(f"invalid log format {fmt!r}; expected json or console")
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        _level,
        _timestamp,
        structlog.processors.format_exc_info,
        _stacktrace,
        structlog.processors.EventRenamer("msg"),
    ]
    if fmt == "json":
        processors.append(structlog.processors.JSONRenderer())
    else:
        processors.append(structlog.dev.ConsoleRenderer(event_key="msg", timestamp_key="ts"))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.WriteLoggerFactory(file=stream or sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str, **fields: Any) -> structlog.typing.FilteringBoundLogger:
    """A logger whose lines carry ``logger=<name>`` (plus ``fields``).

    It is a lazy proxy that assembles itself from the configuration current at each call, so a module-level logger
    created at import time still honours the ``--log-level``/``--log-format`` that :func:`configure_logging` applies
    later (binding eagerly froze structlog's default, a console renderer at debug level, into such loggers).
    """
    return cast(structlog.typing.FilteringBoundLogger, _LazyLogger({"logger": name, **fields}))


class _LazyLogger:
    """Binds ``fields`` onto a logger assembled from the current configuration at every call (a few microseconds)."""

    __slots__ = ("_fields",)

    def __init__(self, fields: dict[str, Any]) -> None:
        self._fields = fields

    def __getattr__(self, method: str) -> Any:
        return getattr(structlog.get_logger().bind(**self._fields), method)
