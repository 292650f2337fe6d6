"""From a storage block and its namespace to an open store and an encryption key (backup.md 5, 8.1; behaviour.md 13).

Shared by DatabaseBackup and DatabaseRestore (and a Database's snapshot storage): the Secrets a storage spec names are
read from the namespace of the object that carries that spec — for a restore from a backup, the backup's namespace —
or from a reference's own ``namespace`` behind the consent rule. Stores take plain credential values and never talk
to Kubernetes, so this is the one place where storage meets the API server.

Problems are :class:`StorageSetupProblem` with the condition reason the spec gives (``SecretNotFound`` waits for the
Secret; ``InvalidSpec`` fails the backup), with messages that name Secrets and keys, never values.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from dbops.api.storage import EncryptionConfig, StorageConfig
from dbops.backup.keys import EncryptionKey, parse_key
from dbops.controllers.credentials import UnusableSecretValue, stored_value
from dbops.controllers.references import ReferencePolicy
from dbops.runtime import SECRETS, KubeClient
from dbops.storage import ObjectStore, open_store

__all__ = ["StorageSetupProblem", "backup_store", "encryption_key", "storage_secret_names"]


class StorageSetupProblem(Exception):
    """The store or key cannot be set up; ``reason`` is the condition reason (``SecretNotFound``, ``InvalidSpec``)."""

    def __init__(self, reason: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.field = field


def storage_secret_names(storage: StorageConfig, namespace: str) -> list[tuple[str, str, str]]:
    """``(namespace, name, field)`` of every Secret the storage block reads (for gates and wake-ups)."""
    if storage.type == "s3" and storage.s3 is not None:
        return [(namespace, storage.s3.secret_ref.name, "spec.storage.s3.secretRef")]
    if storage.type == "gcs" and storage.gcs is not None:
        ref = storage.gcs.secret_ref
        return [(ref.namespace or namespace, ref.name, "spec.storage.gcs.secretRef")]
    if storage.type == "azure" and storage.azure is not None:
        ref_az = storage.azure.secret_ref
        return [(ref_az.namespace or namespace, ref_az.name, "spec.storage.azure.secretRef")]
    return []


async def _secret(
    client: KubeClient, policy: ReferencePolicy, referrer: str, namespace: str, name: str, field: str
) -> Mapping[str, Any]:
    policy.namespaced_object(referrer, "Secret", namespace, name, field)
    secret = await client.get_or_none(SECRETS, name, namespace)
    if secret is None:
        raise StorageSetupProblem("SecretNotFound", f"Secret {namespace}/{name} ({field}) not found", field=field)
    return secret


def _text_values(secret: Mapping[str, Any], where: str, field: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for key in secret.get("data") or {}:
        try:
            value = stored_value(secret, key)
        except UnusableSecretValue as problem:
            raise StorageSetupProblem("InvalidSpec", f"Secret {where}: {problem}", field=field) from None
        if value is not None:
            values[key] = value
    return values


async def backup_store(
    client: KubeClient,
    policy: ReferencePolicy,
    storage: StorageConfig,
    namespace: str,
    *,
    pvc_mount_root: str,
) -> ObjectStore:
    """The open store of ``storage`` as seen from ``namespace`` (the object carrying the block)."""
    if storage.type == "pvc":
        return open_store(storage, pvc_mount_root=pvc_mount_root)
    [(secret_namespace, name, field)] = storage_secret_names(storage, namespace)
    secret = await _secret(client, policy, namespace, secret_namespace, name, field)
    where = f"{secret_namespace}/{name}"
    values = _text_values(secret, where, field)
    if storage.type == "s3" and storage.s3 is not None:
        from dbops.storage.s3 import S3Credentials  # the backend loads with its first store (dbops.storage)

        try:
            credentials = S3Credentials.from_secret_data(
                values, storage.s3.secret_ref.effective_keys, secret_name=where
            )
        except ValueError as problem:
            raise StorageSetupProblem("SecretNotFound", str(problem), field=field) from None
        return open_store(storage, s3_credentials=credentials)
    if storage.type == "gcs" and storage.gcs is not None:
        from dbops.storage.gcs import GCSCredentials

        try:
            gcs = GCSCredentials.from_secret_data(values, storage.gcs.secret_ref.key, secret_name=where)
        except ValueError as problem:
            raise StorageSetupProblem("SecretNotFound", str(problem), field=field) from None
        return open_store(storage, gcs_credentials=gcs)
    raise StorageSetupProblem(
        "InvalidSpec", f"spec.storage.type {storage.type!r} is not supported by this build", field="spec.storage.type"
    )


async def encryption_key(
    client: KubeClient, policy: ReferencePolicy, encryption: EncryptionConfig | None, namespace: str
) -> EncryptionKey | None:
    """The key of an enabled encryption block (None when encryption is off); ``InvalidSpec`` for a key that does
    not encode 32 bytes (backup.md 8.1), ``SecretNotFound`` for a missing Secret or key."""
    if encryption is None or not encryption.enabled:
        return None
    ref = encryption.secret_ref
    if ref is None:  # the schema requires it; kept for objects stored before the rule
        raise StorageSetupProblem("InvalidSpec", "spec.encryption.secretRef is required", field="spec.encryption")
    field = "spec.encryption.secretRef"
    secret_namespace = ref.namespace or namespace
    secret = await _secret(client, policy, namespace, secret_namespace, ref.name, field)
    raw = (secret.get("data") or {}).get(ref.key)
    if not raw:
        raise StorageSetupProblem(
            "SecretNotFound", f"Secret {secret_namespace}/{ref.name} has no key {ref.key!r} ({field})", field=field
        )
    try:
        return parse_key(base64.b64decode(raw), field=field)
    except ValueError as problem:
        raise StorageSetupProblem("InvalidSpec", str(problem), field=field) from None
