"""Backup storage, compression and encryption settings (api.md 5.8 and 5.9), shared by DatabaseBackup, the
schedule's template, DatabaseRestore ``fromPath`` and Database ``snapshotStorage``.

The CEL rules live on the types, so every place that embeds them gets the same validation (rules 17 and 18).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dbops.api.common import SecretKeySelector, SecretReference
from dbops.api.meta import ApiModel, CelRule, Int32

StorageType = Literal["gcs", "s3", "azure", "pvc"]
CompressionAlgorithm = Literal["gzip", "lz4", "zstd"]
EncryptionAlgorithm = Literal["aes-256-gcm", "aes-256-cbc"]


class S3SecretKeys(ApiModel):
    """Data keys of the S3 credentials Secret."""

    access_key: str = Field("AWS_ACCESS_KEY_ID", description="Data key holding the access key ID.")
    secret_key: str = Field("AWS_SECRET_ACCESS_KEY", description="Data key holding the secret access key.")


class S3SecretRef(ApiModel):
    """S3 credentials; an ``AWS_SESSION_TOKEN`` key, when present, is used as the session token."""

    name: str = Field(
        description=(
            "Secret in the namespace of the object carrying the storage block (for a restore from a backup, the "
            "backup's namespace)."
        )
    )
    keys: S3SecretKeys | None = Field(None, description="Data keys of the access key ID and secret access key.")

    @property
    def effective_keys(self) -> S3SecretKeys:
        return self.keys or S3SecretKeys()


class S3Storage(ApiModel):
    """Amazon S3 or an S3-compatible store."""

    bucket: str = Field(description="Bucket.")
    region: str = Field(description="Region.")
    prefix: str | None = Field(None, description="Key prefix, applied once.")
    endpoint: str | None = Field(None, description="Custom endpoint URL (MinIO and other S3-compatible stores).")
    force_path_style: bool = Field(False, description="Use path-style addressing.")
    secret_ref: S3SecretRef = Field(description="Secret with the access keys.")


class GCSStorage(ApiModel):
    """Google Cloud Storage."""

    bucket: str = Field(description="Bucket.")
    prefix: str | None = Field(None, description="Object prefix, applied once.")
    secret_ref: SecretKeySelector = Field(description="Key holding a service-account JSON document.")


class AzureStorage(ApiModel):
    """Azure Blob Storage."""

    container: str = Field(description="Blob container.")
    storage_account: str = Field(description="Storage account; endpoint https://<account>.blob.core.windows.net/.")
    prefix: str | None = Field(None, description="Blob prefix, applied once.")
    secret_ref: SecretReference = Field(
        description=(
            "Secret with the shared account key under the first present key of AZURE_STORAGE_ACCOUNT_KEY, "
            "accountKey, storageAccountKey, key."
        )
    )


class PVCStorage(ApiModel):
    """A PersistentVolumeClaim already mounted into the operator pod at ``<mount root>/<claimName>``."""

    claim_name: str = Field(
        description=(
            "PersistentVolumeClaim used as storage; it must be mounted into the operator pod at "
            "<pvc mount root>/<claimName>. Not usable for CockroachDB."
        )
    )
    sub_path: str | None = Field(
        None, description="Relative directory inside the volume (plays the role of the prefix); no '..'."
    )


class StorageConfig(ApiModel):
    """Where backup objects are stored (api.md 5.8). ``type`` names the one block that is set."""

    cel_rules = (
        CelRule(
            rule=(
                "has(self.gcs) == (self.type == 'gcs') && has(self.s3) == (self.type == 's3') && "
                "has(self.azure) == (self.type == 'azure') && has(self.pvc) == (self.type == 'pvc')"
            ),
            message="storage.type must name the one storage block that is set (gcs, s3, azure or pvc)",
            check=lambda s: all((getattr(s, t) is not None) == (s.type == t) for t in ("gcs", "s3", "azure", "pvc")),
            field_path=".type",
        ),
    )

    type: StorageType = Field(description="Storage backend; must name the one block that is set.")
    s3: S3Storage | None = Field(None, description="S3 settings (type s3).")
    gcs: GCSStorage | None = Field(None, description="Google Cloud Storage settings (type gcs).")
    azure: AzureStorage | None = Field(None, description="Azure Blob Storage settings (type azure).")
    pvc: PVCStorage | None = Field(None, description="PersistentVolumeClaim settings (type pvc).")

    @property
    def prefix(self) -> str:
        """The key prefix of whichever backend is set, without leading or trailing slashes."""
        block = {"s3": self.s3, "gcs": self.gcs, "azure": self.azure}.get(self.type)
        raw = self.pvc.sub_path if self.type == "pvc" and self.pvc else getattr(block, "prefix", None)
        return (raw or "").strip("/")


class CompressionConfig(ApiModel):
    """Compression of the backup stream (api.md 5.9). Block absent: compression off."""

    enabled: bool = Field(True, description="Compress the backup stream; false stores it unchanged.")
    algorithm: CompressionAlgorithm = Field("gzip", description="Algorithm (lz4: frame format).")
    level: Int32 = Field(6, ge=1, le=9, description="Compression level 1-9, mapped per algorithm.")


class EncryptionConfig(ApiModel):
    """Encryption of the backup stream after compression (api.md 5.9). Block absent: encryption off."""

    cel_rules = (
        CelRule(
            rule="!(has(self.enabled) && self.enabled) || has(self.secretRef)",
            message="encryption.secretRef is required when encryption is enabled",
            check=lambda s: not s.enabled or s.secret_ref is not None,
            field_path=".secretRef",
        ),
    )

    enabled: bool = Field(False, description="Encrypt after compression.")
    algorithm: EncryptionAlgorithm = Field("aes-256-gcm", description="Cipher.")
    secret_ref: SecretKeySelector | None = Field(
        None,
        description=(
            "Key whose value encodes exactly 32 bytes: 32 raw bytes, 64 hex characters or base64 of 32 bytes. "
            "Required when enabled."
        ),
    )
