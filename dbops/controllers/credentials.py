"""The credentials Secret of a DatabaseUser as data: what it should contain, and how the stored one differs.

Pure functions (behaviour.md 8.5), so the layouts, the label ownership rule and the change summary are unit-tested
without an API server; the user controller only reads, compares and writes. Change summaries name keys and
aspects, never values, because they go into events.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dbops.controllers import annotations as ann
from dbops.secrets.template import SecretTemplateData, render_secret_data

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


def belongs_to(existing: Mapping[str, Any], user: str, user_namespace: str) -> bool:
    """Whether a stored Secret carries this user's labels; one that does not is never overwritten (SecretConflict)."""
    meta = existing.get("metadata") or {}
    labels = meta.get("labels") or {}
    if labels.get(ann.USER_LABEL) != user:
        return False
    return meta.get("namespace") == user_namespace or labels.get(ann.USER_NAMESPACE_LABEL) == user_namespace


def stored_value(secret: Mapping[str, Any] | None, key: str) -> str | None:
    """A data value of a stored Secret as text, or None when the Secret or key is missing or empty."""
    if secret is None:
        return None
    raw = (secret.get("data") or {}).get(key)
    if not raw:
        return None
    return base64.b64decode(raw).decode(errors="replace") or None


def credentials_data(templates: Mapping[str, str] | None, values: SecretTemplateData) -> dict[str, bytes]:
    """Default layout (username, password, host, port) or exactly the rendered template keys (TemplateError)."""
    if templates:
        return render_secret_data(templates, values)
    return {
        "username": values.username.encode(),
        "password": values.password.encode(),
        "host": values.host.encode(),
        "port": str(values.port).encode(),
    }


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
    return changes


def merge_patch_for(existing: Mapping[str, Any], desired: DesiredSecret) -> Obj:
    """A merge patch that makes the stored Secret's data exactly the desired data and merges metadata."""
    stored = existing.get("data") or {}
    data: Obj = {k: base64.b64encode(v).decode() for k, v in desired.data.items()}
    data.update({k: None for k in stored if k not in desired.data})
    metadata: Obj = {"labels": dict(desired.labels)}
    if desired.annotations:
        metadata["annotations"] = dict(desired.annotations)
    return {"metadata": metadata, "data": data}
