"""The committed config/crd and config/rbac are exactly what the generator produces (``make manifests``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dbops.api import crdgen

REPO = Path(__file__).resolve().parents[3]


def test_committed_manifests_are_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    rc = crdgen.main(["--check", "--root", str(REPO)])
    assert rc == 0, "config/crd or config/rbac is stale; run `make manifests`\n" + capsys.readouterr().out


@pytest.fixture
def copy_of_repo(tmp_path: Path) -> Path:
    for sub in ("config/crd", "config/rbac"):
        shutil.copytree(REPO / sub, tmp_path / sub)
    return tmp_path


def test_check_fails_on_an_edited_file(copy_of_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = copy_of_repo / "config/crd/bases/dbops.dbprovision.io_databases.yaml"
    target.write_text(target.read_text().replace("default: Delete", "default: Retain"))
    assert crdgen.main(["--check", "--root", str(copy_of_repo)]) == 1
    out = capsys.readouterr().out
    assert "-                default: Retain" in out and "+                default: Delete" in out


def test_check_fails_on_a_missing_and_a_stale_file(copy_of_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (copy_of_repo / "config/rbac/role.yaml").unlink()
    (copy_of_repo / "config/crd/bases/dbops.dbprovision.io_oldkinds.yaml").write_text("kind: Old\n")
    assert crdgen.main(["--check", "--root", str(copy_of_repo)]) == 1
    out = capsys.readouterr().out
    assert "b/config/rbac/role.yaml" in out
    assert "dbops.dbprovision.io_oldkinds.yaml: not produced by the generator" in out


def test_write_repairs_everything(copy_of_repo: Path) -> None:
    (copy_of_repo / "config/rbac/role.yaml").unlink()
    stale = copy_of_repo / "config/crd/bases/dbops.dbprovision.io_oldkinds.yaml"
    stale.write_text("kind: Old\n")
    changed = crdgen.write(copy_of_repo)
    assert Path("config/rbac/role.yaml") in changed and not stale.exists()
    assert crdgen.differences(copy_of_repo) == []
    assert crdgen.write(copy_of_repo) == []


def test_module_entry_point_exits_non_zero_on_a_difference(copy_of_repo: Path) -> None:
    (copy_of_repo / "config/crd/kustomization.yaml").write_text("resources: []\n")
    result = subprocess.run(
        [sys.executable, "-m", "dbops.api.crdgen", "--check", "--root", str(copy_of_repo)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "out of date" in result.stderr


def test_generated_files_are_plain_yaml_with_the_header() -> None:
    files = crdgen.generate()
    assert len([p for p in files if p.parts[:3] == ("config", "crd", "bases")]) == 11
    for path, content in files.items():
        assert content.startswith(crdgen.HEADER), path
        assert yaml.safe_load(content), path
    kustomization = yaml.safe_load(files[Path("config/crd/kustomization.yaml")])
    assert sorted(kustomization["resources"]) == sorted(
        f"bases/{p.name}" for p in files if p.parts[:3] == ("config", "crd", "bases")
    )
