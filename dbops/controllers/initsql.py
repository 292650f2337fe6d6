"""initSQL of a Database, the controller side (behaviour.md 12, api.md 5.13): where the statements come from, whether
they are due, what status and events a run produces, and how a blocked run backs off.

The memory of what ran lives in `status.initSQL` (the hash of the last *successful* run, and the hash and error of
the last failed one), so an operator restart neither re-runs applied SQL nor re-announces a known failure. The
statements themselves are never logged, put in status or events: only their count, their hash and the server's
(redacted) message about a failing one.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dbops.api.database import InitSQLConfig
from dbops.engines.initsql import InitSQLRun, SplitDialect, split_statements, statements_hash
from dbops.runtime import CONFIGMAPS, SECRETS, KubeClient

__all__ = [
    "BLOCK_RETRY_MAX_SECONDS",
    "BLOCK_RETRY_SECONDS",
    "INITSQL_CONFIGMAP_INDEX",
    "INITSQL_SECRET_INDEX",
    "InitSQLSource",
    "SourceMissing",
    "applied_message",
    "block_retry_delay",
    "failed_message",
    "failure_status",
    "is_due",
    "is_new_failure",
    "load_source",
    "missing_message",
    "referenced_configmaps",
    "referenced_secrets",
    "source_missing_status",
    "success_status",
]

BLOCK_RETRY_SECONDS = 30.0
BLOCK_RETRY_MAX_SECONDS = 300.0
"""A failed run with failurePolicy Block is retried after 30 s, doubling, at most every 5 min (behaviour.md 3)."""

INITSQL_CONFIGMAP_INDEX = "initsql-configmap"
INITSQL_SECRET_INDEX = "initsql-secret"


@dataclass(frozen=True)
class InitSQLSource:
    """The statements of a spec's initSQL, their hash, and whether they came from a Secret (then even a server
    message about them is redacted harder, and nothing of them is ever logged)."""

    statements: tuple[str, ...]
    hash: str
    sensitive: bool


class SourceMissing(Exception):
    """The referenced ConfigMap, Secret or key does not exist; ``field`` is the spec path of the reference."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _configmap_text(obj: Mapping[str, Any] | None, key: str) -> str | None:
    if obj is None:
        return None
    data = obj.get("data") or {}
    if key in data:
        return str(data[key])
    binary = (obj.get("binaryData") or {}).get(key)
    if binary is None:
        return None
    try:
        return base64.b64decode(binary).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None


def _secret_text(obj: Mapping[str, Any] | None, key: str) -> str | None:
    if obj is None:
        return None
    raw = (obj.get("data") or {}).get(key)
    if raw is None:
        return None
    try:
        return base64.b64decode(raw).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None


async def load_source(
    client: KubeClient, config: InitSQLConfig, namespace: str | None, dialect: SplitDialect
) -> InitSQLSource:
    """The statements of `config`: ``inline`` as listed, or the ConfigMap/Secret key's text split on ``---`` lines.

    Raises `SourceMissing` naming the reference's field when the object or key does not exist, or the key's value
    is not UTF-8 text.
    """
    if config.inline is not None:
        statements = tuple(config.inline)
        return InitSQLSource(statements, statements_hash(statements), sensitive=False)
    if config.config_map_ref is not None:
        field, sensitive, what = "spec.initSQL.configMapRef", False, "ConfigMap"
        name, key = config.config_map_ref.name, config.config_map_ref.key
        ref_namespace = config.config_map_ref.namespace or namespace
        obj = await client.get_or_none(CONFIGMAPS, name, ref_namespace)
        text = _configmap_text(obj, key)
    elif config.secret_ref is not None:
        field, sensitive, what = "spec.initSQL.secretRef", True, "Secret"
        name, key = config.secret_ref.name, config.secret_ref.key
        ref_namespace = config.secret_ref.namespace or namespace
        obj = await client.get_or_none(SECRETS, name, ref_namespace)
        text = _secret_text(obj, key)
    else:  # the schema requires exactly one source
        return InitSQLSource((), statements_hash(()), sensitive=False)
    if obj is None:
        raise SourceMissing(field, f"{what} {ref_namespace}/{name} not found")
    if text is None:
        raise SourceMissing(field, f"{what} {ref_namespace}/{name} has no key {key!r} (or it is not UTF-8 text)")
    statements = tuple(split_statements(text, dialect))
    return InitSQLSource(statements, statements_hash(statements), sensitive=sensitive)


def is_due(stored: Mapping[str, Any] | None, current_hash: str, policy: str, *, fresh: bool) -> bool:
    """Whether initSQL runs in this reconcile (behaviour.md 12 "Run condition").

    It runs after the database was created, taken over or recreated (``fresh``: a recorded hash belonged to the
    dropped database), and when the statements differ from the last successful run. A failed run is retried with
    `Block` (the controller spaces the retries); with `Continue` only when the statements changed since the failed
    attempt.
    """
    if fresh or not stored:
        return True
    if stored.get("applied"):
        return bool(stored.get("hash") != current_hash)
    if policy == "Block":
        return True
    return bool(stored.get("attemptHash") != current_hash)


def block_retry_delay(attempt: int) -> float:
    """Delay before retry `attempt` (1 = after the first failure) of a blocked run: 30 s doubling, capped at 5 min."""
    return float(min(BLOCK_RETRY_SECONDS * 2 ** max(attempt - 1, 0), BLOCK_RETRY_MAX_SECONDS))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def success_status(source: InitSQLSource, run: InitSQLRun) -> dict[str, Any]:
    """status.initSQL after a successful run: applied, when, its hash and count; error and attemptHash cleared."""
    return {"applied": True, "appliedAt": _now(), "hash": source.hash, "statementsExecuted": run.executed}


def failure_status(stored: Mapping[str, Any] | None, source: InitSQLSource, run: InitSQLRun) -> dict[str, Any]:
    """status.initSQL after a failed run: the last successful hash and time are kept (not replaced)."""
    status = {k: v for k, v in (stored or {}).items() if k in ("hash", "appliedAt")}
    status.update(
        {"applied": False, "statementsExecuted": run.executed, "error": run.error or "", "attemptHash": source.hash}
    )
    return status


def source_missing_status(stored: Mapping[str, Any] | None, problem: SourceMissing) -> dict[str, Any]:
    """status.initSQL when the source cannot be read: nothing ran; there is no hash to record for the attempt."""
    status = {k: v for k, v in (stored or {}).items() if k in ("hash", "appliedAt")}
    status.update({"applied": False, "statementsExecuted": 0, "error": str(problem), "attemptHash": ""})
    return status


def is_new_failure(stored: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """An InitSQLFailed event is due on the first failure of a hash or when the error changes (observability.md)."""
    if not stored or stored.get("applied", True):
        return True
    return bool(stored.get("attemptHash") != new.get("attemptHash") or stored.get("error") != new.get("error"))


def applied_message(run: InitSQLRun, database: str, source: InitSQLSource) -> str:
    return f"Executed {run.executed} initSQL statements on database {database} (hash {source.hash[:12]})"


def failed_message(run: InitSQLRun, database: str, source: InitSQLSource, policy: str) -> str:
    return (
        f"initSQL statement {run.failed_at} of {len(source.statements)} failed on database {database} "
        f"(failurePolicy {policy}): {run.error}"
    )


def missing_message(problem: SourceMissing, database: str, policy: str) -> str:
    return f"initSQL of database {database} cannot run (failurePolicy {policy}): {problem}"


# Index functions for the watches that wake a Database when its initSQL source changes (runtime.md 7) ------------


def _references(obj: Mapping[str, Any], key: str) -> list[str]:
    init = ((obj.get("spec") or {}).get("initSQL")) or {}
    ref = init.get(key) or {}
    if not ref.get("name"):
        return []
    namespace = ref.get("namespace") or (obj.get("metadata") or {}).get("namespace") or ""
    return [f"{namespace}/{ref['name']}"]


def referenced_configmaps(obj: Mapping[str, Any]) -> list[str]:
    """Index value of a Database: `namespace/name` of the ConfigMap its initSQL reads (none for other sources)."""
    return _references(obj, "configMapRef")


def referenced_secrets(obj: Mapping[str, Any]) -> list[str]:
    """Index value of a Database: `namespace/name` of the Secret its initSQL reads (none for other sources)."""
    return _references(obj, "secretRef")
