"""The credentials Secret as data: layouts, ownership labels, change summaries that never carry values."""

from __future__ import annotations

import base64

import pytest

from dbops.controllers.credentials import (
    DesiredSecret,
    belongs_to,
    credentials_data,
    differences,
    merge_patch_for,
    ownership_labels,
    stored_value,
)
from dbops.secrets.template import SecretTemplateData, TemplateError

VALUES = SecretTemplateData(username="app", password="p@ss/w:rd", host="db.example", port=5432, database="postgres")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_default_layout_has_exactly_the_four_keys() -> None:
    assert credentials_data(None, VALUES) == {
        "username": b"app",
        "password": b"p@ss/w:rd",
        "host": b"db.example",
        "port": b"5432",
    }


def test_template_layout_has_exactly_the_rendered_keys() -> None:
    templates = {"DATABASE_URL": "postgresql://{{ .Username }}:{{ .Password | urlEncode }}@{{ .Host }}:{{ .Port }}/app"}
    assert credentials_data(templates, VALUES) == {
        "DATABASE_URL": b"postgresql://app:p%40ss%2Fw%3Ard@db.example:5432/app"
    }


def test_a_template_error_names_the_key_and_never_the_password() -> None:
    with pytest.raises(TemplateError) as error:
        credentials_data({"URL": "{{ .Password | nosuchfunction }}"}, VALUES)
    assert "URL" in str(error.value) and "p@ss" not in str(error.value)


def test_ownership_labels_and_belongs_to() -> None:
    same = ownership_labels("u", "apps", "apps")
    other = ownership_labels("u", "apps", "shared")
    assert "dbops.dbprovision.io/user-namespace" not in same and other["dbops.dbprovision.io/user-namespace"] == "apps"
    assert belongs_to({"metadata": {"namespace": "apps", "labels": same}}, "u", "apps")
    assert belongs_to({"metadata": {"namespace": "shared", "labels": other}}, "u", "apps")
    assert not belongs_to({"metadata": {"namespace": "shared", "labels": same}}, "u", "apps")
    assert not belongs_to({"metadata": {"namespace": "apps", "labels": {}}}, "u", "apps"), "a stranger's Secret"
    assert not belongs_to(
        {"metadata": {"namespace": "apps", "labels": ownership_labels("v", "apps", "apps")}}, "u", "apps"
    )


def desired(**data: str) -> DesiredSecret:
    return DesiredSecret("s", "apps", "Opaque", {k: v.encode() for k, v in data.items()}, labels={"a": "1"})


def test_differences_name_keys_never_values() -> None:
    stored = {
        "type": "Opaque",
        "data": {"password": b64("old"), "stale": b64("x")},
        "metadata": {"labels": {"a": "1", "other": "kept"}},
    }
    changes = differences(stored, desired(password="new", host="h"))
    assert changes == ["data.host", "data.password", "data.stale"]
    assert not any("new" in c or "old" in c for c in changes)
    assert (
        differences({**stored, "data": {"password": b64("new"), "host": b64("h")}}, desired(password="new", host="h"))
        == []
    )
    assert differences({**stored, "type": "kubernetes.io/basic-auth", "data": {}}, desired()) == ["type"]


def test_merge_patch_removes_stale_keys_and_keeps_foreign_labels() -> None:
    stored = {"data": {"password": b64("old"), "stale": b64("x")}, "metadata": {"labels": {"other": "kept"}}}
    patch = merge_patch_for(stored, desired(password="new"))
    assert patch["data"] == {"password": b64("new"), "stale": None}
    assert patch["metadata"]["labels"] == {"a": "1"}, "a merge patch adds ours and leaves other labels alone"


def test_stored_value() -> None:
    assert stored_value({"data": {"password": b64("pw")}}, "password") == "pw"
    assert stored_value({"data": {"password": ""}}, "password") is None
    assert stored_value({"data": {}}, "password") is None
    assert stored_value(None, "password") is None


def test_secret_body_hides_data_in_repr() -> None:
    secret = desired(password="hunter2")
    assert "hunter2" not in repr(secret)
    assert secret.body()["data"] == {"password": b64("hunter2")}
