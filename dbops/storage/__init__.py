"""Storage backends for backup objects (backup.md 5): one interface, one module per backend.

* :mod:`~dbops.storage.base` — :class:`ObjectStore`, :class:`ObjectInfo`, :class:`StorageError`, key checks.
* :mod:`~dbops.storage.retry` — the retry policy shared by the network backends.
* :mod:`~dbops.storage.s3` — S3 and S3-compatible services (aioboto3).
* :mod:`~dbops.storage.gcs` — Google Cloud Storage (resumable uploads on aiohttp).
* :mod:`~dbops.storage.pvc` — a PersistentVolumeClaim mounted into the operator pod.

Azure is not implemented yet; :func:`open_store` says so instead of failing obscurely.

Backends are imported when a store of their type is opened, not with this package: botocore alone costs tens of
MB of memory, and an operator that never backs up to S3 should not pay for it (like the lazy engine drivers).

Stores take keys as recorded (the prefix applied once, by :mod:`dbops.backup.naming`), and credentials as plain
values: reading the Secret (behaviour.md 13) is the controller's business, so a store never talks to Kubernetes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dbops.api.storage import StorageConfig
from dbops.storage.base import ErrorKind, ObjectInfo, ObjectStore, StorageError, check_key, check_prefix
from dbops.storage.retry import DEFAULT_RETRY, RetryPolicy, with_retries

if TYPE_CHECKING:
    from dbops.storage.gcs import GCSCredentials
    from dbops.storage.s3 import S3Credentials

__all__ = [
    "DEFAULT_RETRY",
    "ErrorKind",
    "ObjectInfo",
    "ObjectStore",
    "RetryPolicy",
    "StorageError",
    "check_key",
    "check_prefix",
    "open_store",
    "with_retries",
]


def open_store(
    storage: StorageConfig,
    *,
    s3_credentials: S3Credentials | None = None,
    gcs_credentials: GCSCredentials | None = None,
    gcs_endpoint: str | None = None,
    pvc_mount_root: str | Path = "/var/lib/db-provision-operator/pvc",
    ca_bundle: str | None = None,
) -> ObjectStore:
    """The store a ``storage`` block describes. Opening does no I/O; the first operation checks the location."""
    if storage.type == "s3" and storage.s3 is not None:
        if s3_credentials is None:
            raise ValueError("S3 storage needs the credentials of its secretRef")
        from dbops.storage.s3 import S3Store

        return S3Store(storage.s3, s3_credentials, verify=ca_bundle)
    if storage.type == "gcs" and storage.gcs is not None:
        if gcs_credentials is None:
            raise ValueError("GCS storage needs the service-account JSON of its secretRef")
        from dbops.storage.gcs import GCSStore

        return GCSStore(storage.gcs, gcs_credentials, endpoint=gcs_endpoint)
    if storage.type == "pvc" and storage.pvc is not None:
        from dbops.storage.pvc import PVCStore

        return PVCStore.from_config(storage.pvc, pvc_mount_root)
    raise NotImplementedError(f"storage type {storage.type!r} is not supported yet")
