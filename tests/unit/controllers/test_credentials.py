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


def test_tls_client_material_is_never_rendered_into_a_users_secret() -> None:
    for source in ("{{ .TLSKey }}", "ca: {{ .CA }}\ncert: {{ .TLSCert | b64enc }}", '{{ index . "TLSKey" }}'):
        with pytest.raises(TemplateError, match="client TLS material") as refused:
            credentials_data({"tls": source}, VALUES)
        assert refused.value.key == "tls"
    with_ca = SecretTemplateData(username="app", password="pw", host="h", port=1, ca="-----BEGIN CERTIFICATE-----")
    assert credentials_data({"ca.crt": "{{ .CA }}"}, with_ca) == {"ca.crt": b"-----BEGIN CERTIFICATE-----"}


def test_a_legacy_password_annotation_is_removed_in_the_same_write() -> None:
    legacy = "dbops.dbprovision.io/managed-password"
    stored = {
        "metadata": {"labels": {}, "annotations": {legacy: "old-secret-value", "keep": "x"}},
        "type": "Opaque",
        "data": {"url": b64("u")},
    }
    desired = DesiredSecret("s", "ns", "Opaque", {"url": b"u"})
    changes = differences(stored, desired)
    assert changes == [f"annotations.{legacy} (removed)"]
    assert "old-secret-value" not in " ".join(changes)
    patch = merge_patch_for(stored, desired)
    assert patch["metadata"]["annotations"] == {legacy: None}
    stored["metadata"]["annotations"].pop(legacy)
    assert differences(stored, desired) == []
    assert "annotations" not in merge_patch_for(stored, desired)["metadata"]


def test_unusable_secret_values_are_named_never_replaced() -> None:
    from dbops.controllers.credentials import UnusableSecretValue, own_value

    def secret(raw: bytes) -> dict[str, object]:
        return {"data": {"pw": base64.b64encode(raw).decode()}}

    assert stored_value(secret("pässword".encode()), "pw") == "pässword"
    for raw, problem in ((b"\xff\xfeab", "not valid UTF-8"), (b"ab\x00cd", "NUL byte")):
        with pytest.raises(UnusableSecretValue, match=problem) as refused:
            stored_value(secret(raw), "pw")
        assert "ab" not in str(refused.value)  # the message names the key, never the value
        assert own_value(secret(raw), "pw") is None  # our own Secret: treated as emptied (regenerated)
