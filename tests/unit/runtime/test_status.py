from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbops.runtime.status import (
    condition_transitioned,
    find_condition,
    is_condition_true,
    merge_patch,
    remove_condition,
    set_condition,
)


def test_set_condition_new_then_transition_rules() -> None:
    conds: list[dict[str, Any]] = []
    assert set_condition(conds, "Ready", "False", "InstanceNotReady", "waiting", 1, now="t1")
    assert conds == [
        {
            "type": "Ready",
            "status": "False",
            "reason": "InstanceNotReady",
            "message": "waiting",
            "lastTransitionTime": "t1",
            "observedGeneration": 1,
        }
    ]
    # Same status, new reason/message/generation: changed, but the transition time stays.
    assert set_condition(conds, "Ready", "False", "SecretNotFound", "still waiting", 2, now="t2")
    assert conds[0]["lastTransitionTime"] == "t1"
    assert conds[0]["observedGeneration"] == 2
    # Identical: nothing changes.
    assert not set_condition(conds, "Ready", "False", "SecretNotFound", "still waiting", 2, now="t3")
    # Status change moves the transition time.
    assert set_condition(conds, "Ready", "True", "Ready", "ok", 2, now="t4")
    assert conds[0]["lastTransitionTime"] == "t4"
    assert set_condition(conds, "Healthy", "Unknown", "Checking", now="t5")
    assert [c["type"] for c in conds] == ["Ready", "Healthy"]
    assert remove_condition(conds, "Healthy") and not remove_condition(conds, "Healthy")


def test_set_condition_validates() -> None:
    with pytest.raises(ValueError):
        set_condition([], "Ready", "Yes", "Ok")
    with pytest.raises(ValueError):
        set_condition([], "Ready", "True", "not camel case")
    conds: list[dict[str, Any]] = []
    set_condition(conds, "Ready", "True", "Ok", "x" * 40000)
    assert len(conds[0]["message"]) == 32768 and conds[0]["message"].endswith("…")


def test_condition_queries() -> None:
    obj: dict[str, Any] = {"metadata": {"generation": 3}, "status": {"conditions": []}}
    set_condition(obj["status"]["conditions"], "Ready", "True", "Ready", observed_generation=2)
    assert is_condition_true(obj, "Ready")
    assert not is_condition_true(obj, "Ready", current_generation=True)
    assert find_condition(obj["status"]["conditions"], "Nope") is None
    before = [dict(c) for c in obj["status"]["conditions"]]
    set_condition(obj["status"]["conditions"], "Ready", "False", "Broken")
    assert condition_transitioned(before, obj["status"]["conditions"], "Ready") == ("True", "False")
    assert condition_transitioned(before, before, "Ready") is None
    assert condition_transitioned(None, before, "Ready") == (None, "True")


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 apply, written independently of the code under test."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = apply_merge_patch(result.get(k), v)
    return result


json_leaf = st.one_of(st.integers(-5, 5), st.text(max_size=3), st.booleans())
json_value = st.recursive(
    json_leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.sampled_from("abcd"), children, max_size=4)
    ),
    max_leaves=12,
)
json_doc = st.dictionaries(st.sampled_from("abcdef"), json_value, max_size=5)


@settings(max_examples=200, deadline=None)
@given(old=json_doc, new=json_doc)
def test_property_merge_patch_round_trips(old: dict[str, Any], new: dict[str, Any]) -> None:
    patch = merge_patch(old, new)
    assert apply_merge_patch(old, patch) == new
    if old == new:
        assert patch == {}
