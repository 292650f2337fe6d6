"""Python validation rejects exactly what the apiserver rejects (the same table runs against the real apiserver in
tests/integration/api), and accepts the samples and the edge cases that must stay valid."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dbops.api.validation import validate_manifest, validate_update
from tests.unit.api.manifests import BAD_CASES, GOOD_CASES, Case, base

SAMPLES = Path(__file__).resolve().parents[3] / "config" / "samples"


def _problems(case: Case) -> list[str]:
    if case.update:
        return [str(v) for v in validate_update(base(case.kind), case.manifest())]
    return [str(v) for v in validate_manifest(case.manifest())]


def test_table_is_large_enough() -> None:
    assert len(BAD_CASES) >= 40
    assert len({c.id for c in BAD_CASES + GOOD_CASES}) == len(BAD_CASES) + len(GOOD_CASES), "duplicate case ids"


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda c: c.id)
def test_bad_manifest_is_rejected_naming_the_field(case: Case) -> None:
    problems = _problems(case)
    assert problems, f"{case.id} was accepted"
    text = "\n".join(problems)
    path = case.fields[0]
    # The first expected field is a path: some violation must be reported exactly there.
    assert any(p.startswith(f"{path}:") for p in problems), text
    for expected in case.fields[1:]:
        assert expected in text, text


@pytest.mark.parametrize("case", GOOD_CASES, ids=lambda c: c.id)
def test_edge_case_is_accepted(case: Case) -> None:
    assert _problems(case) == []


@pytest.mark.parametrize("kind", sorted({c.kind for c in BAD_CASES}))
def test_base_manifests_are_valid(kind: str) -> None:
    assert validate_manifest(base(kind)) == []


def test_samples_are_valid() -> None:
    docs = [d for f in sorted(SAMPLES.glob("dbops_*.yaml")) for d in yaml.safe_load_all(f.read_text())]
    assert len({d["kind"] for d in docs}) == 11
    for doc in docs:
        assert validate_manifest(doc) == [], doc["metadata"]["name"]


def test_unknown_kind_is_reported() -> None:
    assert [v.path for v in validate_manifest({"kind": "Nope"})] == ["kind"]
