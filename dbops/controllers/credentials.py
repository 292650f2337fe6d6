"""The credentials Secret of a DatabaseUser as data: what it should contain, and how the stored one differs.

Pure functions (behaviour.md 8.5), so the layouts, the label ownership rule and the change summary are unit-tested
without an API server; the user controller only reads, compares and writes. Change summaries name keys and
aspects, never values, because they go into events.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dbops.controllers import annotations as ann
from dbops.secrets.template import SecretTemplateData, TemplateError, render_secret_data

Obj = dict[str, Any]
SOURCE_SUFFIX = "-dbops-source"
SECRET_KIND_LABEL = ann.PREFIX + "secret-kind"
MANAGED_SECRETS_SELECTOR = f"{ann.MANAGED_BY}={ann.MANAGED_BY_VALUE}"
"""Label selector of the Secrets the operator writes; the user controller watches and reads them from one cache."""


@dataclass(frozen=True)
class DesiredSecret:
    """A Secret the operator owns: its identity, type, data and the labels/annotations it must carry."""

    name: str
    namespace: str
    type: str
    data: dict[str, bytes] = field(repr=False)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    owner: Obj | None = None

    def body(self) -> Obj:
        """The object to create."""
        metadata: Obj = {"name": self.name, "namespace": self.namespace, "labels": dict(self.labels)}
        if self.annotations:
            metadata["annotations"] = dict(self.annotations)
        if self.owner is not None:
            metadata["ownerReferences"] = [self.owner]
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": metadata,
            "type": self.type,
            "data": {k: base64.b64encode(v).decode() for k, v in self.data.items()},
        }


def ownership_labels(user: str, user_namespace: str, secret_namespace: str) -> dict[str, str]:
    """The labels that mark a Secret as this user's (behaviour.md 8.5)."""
    labels = {ann.MANAGED_BY: ann.MANAGED_BY_VALUE, ann.USER_LABEL: user}
    if secret_namespace != user_namespace:
        labels[ann.USER_NAMESPACE_LABEL] = user_namespace
    return labels


def overriding_labels(template_labels: Mapping[str, str], own_labels: Mapping[str, str]) -> list[str]:
    """The ownership label keys a Secret template tries to set to another value (ignored, and warned about)."""
    return sorted(k for k, v in own_labels.items() if k in template_labels and template_labels[k] != v)


def belongs_to(existing: Mapping[str, Any], user: str, user_namespace: str) -> bool:
    """Whether a stored Secret carries this user's labels; one that does not is never overwritten (SecretConflict)."""
    meta = existing.get("metadata") or {}
    labels = meta.get("labels") or {}
    if labels.get(ann.USER_LABEL) != user:
        return False
    return meta.get("namespace") == user_namespace or labels.get(ann.USER_NAMESPACE_LABEL) == user_namespace


class UnusableSecretValue(ValueError):
    """A Secret value that is not usable as a password or credential: not UTF-8 text, or with a NUL byte."""


def stored_value(secret: Mapping[str, Any] | None, key: str) -> str | None:
    """A data value of a stored Secret as text, or None when the Secret or key is missing or empty.

    `UnusableSecretValue` (its message names the key, never the value) when the bytes are not UTF-8 text or contain
    NUL: such a value would silently become another password (replacement characters) or be cut short by a driver.
    """
    if secret is None:
        return None
    raw = (secret.get("data") or {}).get(key)
    if not raw:
        return None
    try:
        text = base64.b64decode(raw).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise UnusableSecretValue(f"key {key!r} is not valid UTF-8 text") from None
    if "\x00" in text:
        raise UnusableSecretValue(f"key {key!r} contains a NUL byte")
    return text or None


WITHHELD_VARIABLES = re.compile(r"\bTLS(Cert|Key)\b")
"""`.TLSCert` and `.TLSKey` are the instance's client certificate and key: they authenticate the operator's admin
account, so a user's Secret never gets them (a template naming them fails rather than render them empty)."""


def refuse_withheld_variables(templates: Mapping[str, str] | None) -> None:
    """TemplateError (SecretTemplateError) for a template that names `.TLSCert` or `.TLSKey`."""
    for key, source in sorted((templates or {}).items()):
        if match := WITHHELD_VARIABLES.search(source):
            before = source[: match.start()]
            line, column = before.count("\n") + 1, match.start() - (before.rfind("\n") + 1) + 1
            raise TemplateError(
                key,
                line,
                column,
                f".{match.group(0)} is the instance's client TLS material, which authenticates the operator's admin "
                "account and is never put into a user's Secret (.CA is available)",
            )


def own_value(secret: Mapping[str, Any] | None, key: str) -> str | None:
    """A value of one of our own Secrets; an unusable one (edited by hand to non-text) counts as emptied, which
    regenerates the password (behaviour.md 8.2) rather than failing every reconcile."""
    try:
        return stored_value(secret, key)
    except UnusableSecretValue:
        return None


def credentials_data(templates: Mapping[str, str] | None, values: SecretTemplateData) -> dict[str, bytes]:
    """Default layout (username, password, host, port) or exactly the rendered template keys (TemplateError)."""
    if templates:
        refuse_withheld_variables(templates)
        return render_secret_data(templates, values)
    return {
        "username": values.username.encode(),
        "password": values.password.encode(),
        "host": values.host.encode(),
        "port": str(values.port).encode(),
    }


LEGACY_PASSWORD_ANNOTATION = ann.PREFIX + "managed-password"
"""Where the Go operator kept a templated user's password, in plain text (api.md 1.7): read once, then removed."""


def legacy_password(secret: Mapping[str, Any] | None) -> str | None:
    """The password a Go-operator Secret still carries in its annotation, or None."""
    annotations = ((secret or {}).get("metadata") or {}).get("annotations") or {}
    return str(annotations[LEGACY_PASSWORD_ANNOTATION]) if annotations.get(LEGACY_PASSWORD_ANNOTATION) else None


def differences(existing: Mapping[str, Any], desired: DesiredSecret) -> list[str]:
    """What must change on a stored Secret, as names for the event message: data keys, `type`, label/annotation keys.

    Labels and annotations set by others are kept, so only missing or different desired entries count.
    """
    changes: list[str] = []
    stored = {k: base64.b64decode(v) for k, v in (existing.get("data") or {}).items()}
    for key in sorted(set(stored) | set(desired.data)):
        if stored.get(key) != desired.data.get(key):
            changes.append(f"data.{key}")
    if (existing.get("type") or "Opaque") != desired.type:
        changes.append("type")
    meta = existing.get("metadata") or {}
    for section, wanted in (("labels", desired.labels), ("annotations", desired.annotations)):
        have = meta.get(section) or {}
        changes.extend(f"{section}.{k}" for k in sorted(wanted) if have.get(k) != wanted[k])
    if legacy_password(existing) is not None:
        changes.append(f"annotations.{LEGACY_PASSWORD_ANNOTATION} (removed)")
    return changes


def merge_patch_for(existing: Mapping[str, Any], desired: DesiredSecret) -> Obj:
    """A merge patch that makes the stored Secret's data exactly the desired data and merges metadata."""
    stored = existing.get("data") or {}
    data: Obj = {k: base64.b64encode(v).decode() for k, v in desired.data.items()}
    data.update({k: None for k in stored if k not in desired.data})
    metadata: Obj = {"labels": dict(desired.labels)}
    annotations: Obj = dict(desired.annotations)
    if legacy_password(existing) is not None:
        annotations[LEGACY_PASSWORD_ANNOTATION] = None  # moved into the password-source Secret by this same write
    if annotations:
        metadata["annotations"] = annotations
    return {"metadata": metadata, "data": data}
