"""DatabaseRestore's pure rules: static validation (backup.md 10.2 step 2), engine compatibility and option blocks
(10.2 step 7, 10.4), the key's format (6.2), and which restore is running into a database (10.3)."""

from __future__ import annotations

from typing import Any

import pytest

from dbops.api.common import BackupReference
from dbops.api.meta import DATA_LOSS_ACK
from dbops.api.restore import DatabaseRestoreSpec, RestoreConfirmation, RestoreTarget
from dbops.backup.naming import format_of_key
from dbops.controllers.restore import engine_blocks_not_applying, engines_compatible, static_problem
from dbops.controllers.restore_targets import restore_running_into


def spec(**fields: Any) -> DatabaseRestoreSpec:
    base: dict[str, Any] = {"backupRef": {"name": "b"}, "target": {"instanceRef": {"name": "pg"}}}
    return DatabaseRestoreSpec.model_validate(base | fields)


def unchecked(**fields: Any) -> DatabaseRestoreSpec:
    """A spec the CEL rules would reject at apply time (stored before the rules, or edited around them): built
    from a valid one with its parts replaced, without validation."""
    data: dict[str, Any] = {"backupRef": {"name": "b"}, "target": {"instanceRef": {"name": "pg"}}} | fields
    updates: dict[str, Any] = {
        "target": RestoreTarget.model_validate(data["target"]),
        "backup_ref": BackupReference.model_validate(data["backupRef"]) if data.get("backupRef") else None,
        "confirmation": RestoreConfirmation.model_validate(data["confirmation"]) if data.get("confirmation") else None,
    }
    return spec().model_copy(update=updates)


def test_a_plain_restore_into_an_instance_is_consistent() -> None:
    assert static_problem(spec()) is None


def test_in_place_needs_the_acknowledgement() -> None:
    problem = static_problem(unchecked(target={"inPlace": True, "databaseRef": {"name": "app"}}))
    assert problem is not None and "acknowledgeDataLoss" in problem and DATA_LOSS_ACK in problem
    ok = unchecked(
        target={"inPlace": True, "databaseRef": {"name": "app"}},
        confirmation={"acknowledgeDataLoss": DATA_LOSS_ACK},
    )
    assert static_problem(ok) is None


def test_in_place_needs_a_database_or_an_instance() -> None:
    problem = static_problem(unchecked(target={"inPlace": True}, confirmation={"acknowledgeDataLoss": DATA_LOSS_ACK}))
    assert problem is not None and "databaseRef" in problem


def test_without_in_place_an_instance_is_required() -> None:
    problem = static_problem(unchecked(target={"databaseRef": {"name": "app"}}))
    assert problem is not None and "instanceRef" in problem


def test_both_instance_references_are_refused() -> None:
    problem = static_problem(unchecked(target={"instanceRef": {"name": "a"}, "clusterInstanceRef": {"name": "b"}}))
    assert problem is not None and "mutually exclusive" in problem


def test_neither_source_is_refused() -> None:
    assert "exactly one" in (static_problem(unchecked(backupRef=None)) or "")


def test_from_path_storage_block_must_match_its_type() -> None:
    good = DatabaseRestoreSpec.model_validate(
        {
            "fromPath": {
                "storage": {"type": "pvc", "pvc": {"claimName": "backups"}},
                "backupPath": "x/app.dump",
            },
            "target": {"instanceRef": {"name": "pg"}},
        }
    )
    assert static_problem(good) is None
    assert good.from_path is not None
    broken_storage = good.from_path.storage.model_copy(update={"type": "s3"})
    broken = good.model_copy(update={"from_path": good.from_path.model_copy(update={"storage": broken_storage})})
    assert "spec.fromPath.storage.s3" in (static_problem(broken) or "")
    blank = good.model_copy(update={"from_path": good.from_path.model_copy(update={"backup_path": "  "})})
    assert "backupPath" in (static_problem(blank) or "")


@pytest.mark.parametrize(
    ("source", "target", "allowed", "warns"),
    [
        ("postgres", "postgres", True, False),
        (None, "mariadb", True, False),
        ("mysql", "mariadb", True, True),
        ("mariadb", "mysql", True, True),
        ("postgres", "mariadb", False, False),
        ("mariadb", "postgres", False, False),
    ],
)
def test_engines_compatible(source: str | None, target: str, allowed: bool, warns: bool) -> None:
    ok, warning = engines_compatible(source, target)
    assert ok is allowed and (warning is not None) is warns


def test_option_blocks_of_another_engine_are_reported() -> None:
    restore = spec(postgres={"jobs": 2}, mysql={"disableBinlog": False})
    assert engine_blocks_not_applying(restore, "postgres") == ["spec.mysql"]
    assert engine_blocks_not_applying(restore, "mariadb") == ["spec.postgres"]
    assert engine_blocks_not_applying(spec(postgres={}), "cockroachdb") == []


@pytest.mark.parametrize(
    ("key", "engine", "expected"),
    [
        ("nightly/app-b1-20260101-000000.dump.zst.enc", "postgres", "custom"),
        ("app.sql.gz", "postgres", "plain"),
        ("app.sql.gz", "mariadb", "mysqldump"),
        ("app.sql", "mysql", "mysqldump"),
        ("app.dir.tar.lz4", "postgres", "directory"),
        ("app.tar", "postgres", "tar"),
        ("app.chdump", "clickhouse", "clickhouse-dump-v1"),
        ("app.bin", "postgres", None),
        ("app", "postgres", None),
    ],
)
def test_format_of_key(key: str, engine: str, expected: str | None) -> None:
    assert format_of_key(key, engine) == expected


class FakeStore:
    """The cache's `list()` alone (pure logic: which recorded restore matches)."""

    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self.objects = objects

    def list(self) -> list[dict[str, Any]]:
        return self.objects


def restore(name: str, phase: str, *, ref: dict[str, str] | None = None, recorded: dict[str, str] | None = None) -> Any:
    return {
        "metadata": {"name": name, "namespace": "team"},
        "spec": {"target": {"databaseRef": ref} if ref else {"instanceRef": {"name": "pg"}}},
        "status": {"phase": phase, "restore": recorded or {}},
    }


def test_a_running_restore_is_found_by_reference_or_by_recorded_target() -> None:
    store: Any = FakeStore(
        [
            restore("done", "Completed", recorded={"targetInstance": "team/pg", "targetDatabase": "app"}),
            restore("by-ref", "Running", ref={"name": "app"}),
            restore("by-target", "Running", recorded={"targetInstance": "team/pg", "targetDatabase": "other"}),
        ]
    )
    assert restore_running_into(store, resource=("team", "app")) == "team/by-ref"
    assert restore_running_into(store, resource=("elsewhere", "app")) is None
    assert restore_running_into(store, instance="team/pg", server_name="other") == "team/by-target"
    assert restore_running_into(store, instance="team/pg", server_name="app") is None
    assert restore_running_into(store, instance="team/other-pg", server_name="other") is None
