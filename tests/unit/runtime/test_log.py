from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator

import pytest
import structlog

from dbops.runtime.log import configure_logging, get_logger


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    buf = io.StringIO()
    configure_logging("debug", "json", stream=buf)
    yield buf
    structlog.reset_defaults()


def lines(buf: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def test_json_fields_levels_and_context(stream: io.StringIO) -> None:
    log = get_logger("controller.database", controller="database")
    with structlog.contextvars.bound_contextvars(reconcileID="rid-1"):
        log.warning("Reconciling Database", trigger="watch")
    log.debug("quiet")
    first, second = lines(stream)
    assert first["level"] == "warn" and first["msg"] == "Reconciling Database"
    assert first["logger"] == "controller.database" and first["reconcileID"] == "rid-1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(first["ts"]))
    assert second["level"] == "debug" and "reconcileID" not in second


def test_error_lines_carry_stacktrace(stream: io.StringIO) -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        get_logger("manager").exception("failed", error="boom")
    (line,) = lines(stream)
    assert line["level"] == "error" and "RuntimeError: boom" in str(line["stacktrace"])


def test_level_filter_and_validation() -> None:
    buf = io.StringIO()
    configure_logging("warn", "json", stream=buf)
    try:
        get_logger("x").info("hidden")
        get_logger("x").error("shown")
        assert [entry["msg"] for entry in lines(buf)] == ["shown"]
        with pytest.raises(ValueError):
            configure_logging("verbose")
        with pytest.raises(ValueError):
            configure_logging("info", "xml")
    finally:
        structlog.reset_defaults()


def test_a_logger_made_before_configuration_follows_it() -> None:
    """Module-level loggers (``_log = get_logger(...)`` at import) must honour the level and format set later."""
    structlog.reset_defaults()
    early = get_logger("kube-client", component="early")
    buf = io.StringIO()
    configure_logging("info", "json", stream=buf)
    try:
        early.debug("kubernetes API write")
        early.info("shown")
        (line,) = lines(buf)
        assert line["msg"] == "shown" and line["logger"] == "kube-client" and line["component"] == "early"
    finally:
        structlog.reset_defaults()
