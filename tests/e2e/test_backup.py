"""DatabaseBackup end to end: kubectl apply, the operator's runner, real PostgreSQL and a real S3 server (versitygw).

A database with known content (several schemas, unicode, bytea, a large object) is backed up through the operator;
the stored object is then read back with the operator's own restore path (storage reader → pipeline → pg_restore)
into a fresh database and compared table by table (row checksums). What a user sees is checked too: the phase and
status fields, exactly one Started and one Completed event, the metadata file next to the object, /metrics, and the
stored files removed with the resource. The failure cases give a Failed backup with a Warning naming the cause.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aioboto3
import asyncpg
import pytest
from botocore.config import Config

from dbops.api.storage import S3SecretRef, S3Storage
from dbops.backup import parse_key, run_restore
from dbops.backup.metadata import BackupMetadata
from dbops.engines.connection import ConnectionSettings
from dbops.engines.dump import RestoreRequest, dump_method
from dbops.storage.s3 import S3Store
from tests.conftest import Kubectl
from tests.e2e.conftest import Operator, condition, events, get, wait_for
from tests.e2e.test_database_user import database, ready_instance, superuser, unique
from tests.support.env import DevEnv
from tests.support.versitygw import ACCESS_KEY, REGION, SECRET_KEY, Gateway, versitygw

__all__ = ["ready_instance", "superuser", "versitygw"]

TABLES = ("public.items", "sales.orders", "sales.ünïcode")


@pytest.fixture
async def raw_s3(versitygw: Gateway) -> AsyncIterator[Any]:
    session = aioboto3.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION)
    config = Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required")
    async with session.client("s3", endpoint_url=versitygw.endpoint, config=config) as client:
        yield client


@pytest.fixture
async def bucket(raw_s3: Any) -> str:
    name = f"e2e-{uuid.uuid4().hex[:10]}"
    await raw_s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def encryption_key() -> Iterator[str]:
    yield secrets.token_hex(32)


def s3_secret(key_hex: str) -> str:
    return f"""apiVersion: v1
kind: Secret
metadata: {{name: s3-credentials}}
stringData: {{AWS_ACCESS_KEY_ID: {ACCESS_KEY}, AWS_SECRET_ACCESS_KEY: "{SECRET_KEY}"}}
---
apiVersion: v1
kind: Secret
metadata: {{name: backup-key}}
data: {{key: {base64.b64encode(key_hex.encode()).decode()}}}
"""


def backup(name: str, gateway: Gateway, bucket: str, extra: str = "") -> str:
    return f"""apiVersion: dbops.dbprovision.io/v1alpha1
kind: DatabaseBackup
metadata: {{name: {name}}}
spec:
  databaseRef: {{name: app}}
  storage:
    type: s3
    s3:
      bucket: {bucket}
      region: {REGION}
      prefix: nightly/
      endpoint: {gateway.endpoint}
      forcePathStyle: true
      secretRef: {{name: s3-credentials}}
{extra}"""


async def fill(superuser: Any, dev_env: DevEnv, db: str) -> None:
    """Known content: schemas, unicode names and values, bytea, a large object — created by the operator's admin
    account, which owns the database and is the account the dump runs as."""
    pg = dev_env.postgres
    conn = await asyncpg.connect(
        host=pg.host, port=pg.port, user=pg.admin_user, password=pg.admin_password, database=db
    )
    try:
        await conn.execute(
            """
            CREATE SCHEMA sales;
            CREATE TABLE public.items (id int PRIMARY KEY, name text, payload bytea, price numeric(10,2));
            INSERT INTO public.items
              SELECT i, 'item ' || i, decode(md5(i::text), 'hex'), i * 1.25 FROM generate_series(1, 5000) i;
            CREATE TABLE sales.orders (id bigserial PRIMARY KEY, item int REFERENCES public.items, at timestamptz,
                                       tags text[], doc jsonb);
            INSERT INTO sales.orders (item, at, tags, doc)
              SELECT i % 5000 + 1, '2026-01-01'::timestamptz + i * interval '1 minute', ARRAY['a', 'ß'],
                     jsonb_build_object('n', i) FROM generate_series(1, 3000) i;
            CREATE TABLE sales."ünïcode" (k text PRIMARY KEY, v text);
            INSERT INTO sales."ünïcode" VALUES ('日本', 'значение'), ('emoji', '🐘🦭'), ('quote', 'it''s');
            SELECT lo_from_bytea(0, convert_to('large object ' || repeat('x', 100000), 'UTF8'));
            """
        )
    finally:
        await conn.close()


async def checksums(dev_env: DevEnv, db: str) -> dict[str, str]:
    """md5 over every row of every table (ordered), plus the large objects' content."""
    pg = dev_env.postgres
    conn = await asyncpg.connect(
        host=pg.host, port=pg.port, user=pg.superuser, password=pg.superuser_password, database=db
    )
    try:
        out: dict[str, str] = {}
        for table in TABLES:
            schema, name = table.split(".")
            quoted = f'"{schema}"."{name}"'
            out[table] = await conn.fetchval(f"SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {quoted} t")
        out["large objects"] = await conn.fetchval(
            "SELECT md5(string_agg(lo_get(oid), '' ORDER BY oid)) FROM pg_largeobject_metadata"
        )
        return out
    finally:
        await conn.close()


def ready_database(kubectl: Kubectl, namespace: str) -> str:
    """A Database `app` with a fresh server name, Ready; returns the server name."""
    db = unique("bk")
    kubectl("apply", "-n", namespace, "-f", "-", input=database("app", db))
    wait_for(
        lambda: (get(kubectl, "database", namespace, "app") or {}).get("status", {}).get("phase") == "Ready",
        60,
        "database",
    )
    return db


def failed_backup(kubectl: Kubectl, namespace: str, name: str, timeout: float) -> dict[str, Any]:
    """Wait for the backup's phase Failed; the object."""

    def check() -> dict[str, Any] | None:
        obj = get(kubectl, "databasebackup", namespace, name)
        return obj if ((obj or {}).get("status") or {}).get("phase") == "Failed" else None

    result: dict[str, Any] = wait_for(check, timeout, f"backup {name} to fail")
    return result


def completed(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any] | None:
    obj = get(kubectl, "databasebackup", namespace, name)
    status = (obj or {}).get("status") or {}
    if status.get("phase") == "Failed":
        pytest.fail(f"backup {name} failed: {status.get('message')}")
    return obj if status.get("phase") == "Completed" else None


async def test_a_backup_to_s3_restores_exactly(
    kubectl: Kubectl,
    namespace: str,
    ready_instance: str,
    superuser: Any,
    dev_env: DevEnv,
    operator: Operator,
    versitygw: Gateway,
    raw_s3: Any,
    bucket: str,
    encryption_key: str,
) -> None:
    db = ready_database(kubectl, namespace)
    await fill(superuser, dev_env, db)
    extra = """  compression: {enabled: true, algorithm: zstd, level: 5}
  encryption: {enabled: true, secretRef: {name: backup-key, key: key}}
"""
    kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input=s3_secret(encryption_key) + "---\n" + backup("b1", versitygw, bucket, extra),
    )
    obj = wait_for(lambda: completed(kubectl, namespace, "b1"), 120, "the backup to complete")

    status = obj["status"]
    info = status["backup"]
    assert info["path"].startswith(f"nightly/{db}-b1-") and info["path"].endswith(".dump.zst.enc")
    assert info["format"] == "custom" and info["compression"] == "zstd" and info["encryption"] == "aes-256-gcm"
    assert info["metadataPath"] == info["path"] + ".meta.json"
    assert info["sizeBytes"] > 0 and info["compressedSizeBytes"] > 0
    assert status["attempts"] == 1 and status["progress"]["percentage"] == 100
    assert condition(obj, "Ready")["status"] == "True" and condition(obj, "Ready")["reason"] == "BackupCompleted"
    assert status["source"]["database"] == db and status["source"]["engine"] == "postgres"
    started = wait_for(lambda: events(kubectl, namespace, "b1", "Started"), 30, "Started event")
    done = wait_for(lambda: events(kubectl, namespace, "b1", "Completed"), 30, "Completed event")
    assert len(started) == 1 and len(done) == 1
    assert info["path"] in done[0]["message"] and f"s3 {bucket}/{info['path']}" in started[0]["message"]
    assert not events(kubectl, namespace, "b1", "Failed")

    head = await raw_s3.head_object(Bucket=bucket, Key=info["path"])
    assert head["ContentLength"] == info["compressedSizeBytes"]
    meta_body = await (await raw_s3.get_object(Bucket=bucket, Key=info["metadataPath"]))["Body"].read()
    metadata = BackupMetadata.from_json(meta_body)
    assert metadata.checksum == info["checksum"] and metadata.database == db
    assert encryption_key not in meta_body.decode()

    # Restore the stored object into a fresh database with the operator's own pieces, and compare.
    target = unique("restored")
    await superuser.execute(f'CREATE DATABASE "{target}"')
    try:
        pg = dev_env.postgres
        settings = ConnectionSettings(
            engine="postgres",
            host=pg.host,
            port=pg.port,
            username=pg.superuser,
            password=pg.superuser_password,
            database="postgres",
            connect_timeout=5,
        )
        storage = S3Storage(
            bucket=bucket,
            region=REGION,
            endpoint=versitygw.endpoint,
            force_path_style=True,
            secret_ref=S3SecretRef(name="s3-credentials"),
        )
        store = S3Store(storage, versitygw.credentials)
        try:
            sink = await dump_method("postgres").open_restore(RestoreRequest(settings, target, format="custom"))
            result = await run_restore(
                await store.open_reader(info["path"]),
                sink,
                key=parse_key(encryption_key),
                expected_checksum=info["checksum"],
                expected_size=info["compressedSizeBytes"],
            )
        finally:
            await store.close()
        assert result.restored_bytes == info["sizeBytes"]
        assert await checksums(dev_env, target) == await checksums(dev_env, db)
    finally:
        await superuser.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')

    metrics = operator.metrics()
    assert f'dbops_backup_operations_total{{engine="postgres",namespace="{namespace}",status="success"}} 1.0' in metrics
    assert f'dbops_backup_info{{backup="b1",database_ref="app",namespace="{namespace}",phase="Completed"' in metrics

    # Deleting the resource removes the stored object and its metadata file.
    kubectl("delete", "databasebackup", "b1", "-n", namespace, "--wait=true", "--timeout=60s")
    listed = await raw_s3.list_objects_v2(Bucket=bucket, Prefix="nightly/")
    assert listed.get("KeyCount", 0) == 0, listed.get("Contents")


async def test_a_missing_bucket_fails_the_backup_naming_the_bucket(
    kubectl: Kubectl,
    namespace: str,
    ready_instance: str,
    dev_env: DevEnv,
    operator: Operator,
    versitygw: Gateway,
    encryption_key: str,
) -> None:
    ready_database(kubectl, namespace)
    missing = f"no-such-{uuid.uuid4().hex[:8]}"
    kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input=s3_secret(encryption_key) + "---\n" + backup("b2", versitygw, missing),
    )
    obj = failed_backup(kubectl, namespace, "b2", 120)
    assert missing in obj["status"]["message"] and SECRET_KEY not in obj["status"]["message"]
    assert condition(obj, "Ready")["reason"] == "BackupFailed"
    failed = wait_for(lambda: events(kubectl, namespace, "b2", "Failed"), 30, "Failed event")
    assert len(failed) == 1 and failed[0]["type"] == "Warning" and missing in failed[0]["message"]
    assert obj["status"]["attempts"] == 1


async def test_a_wrong_encryption_key_is_an_invalid_spec(
    kubectl: Kubectl,
    namespace: str,
    ready_instance: str,
    dev_env: DevEnv,
    operator: Operator,
    versitygw: Gateway,
    bucket: str,
) -> None:
    ready_database(kubectl, namespace)
    short_key = "c2hvcnQ="  # base64 of "short": not 32 bytes
    extra = """  encryption: {enabled: true, secretRef: {name: backup-key, key: key}}
"""
    manifests = s3_secret("00").replace(base64.b64encode(b"00").decode(), short_key)
    kubectl("apply", "-n", namespace, "-f", "-", input=manifests + "---\n" + backup("b3", versitygw, bucket, extra))
    obj = failed_backup(kubectl, namespace, "b3", 60)
    assert condition(obj, "Ready")["reason"] == "InvalidSpec"
    assert "32 bytes" in obj["status"]["message"] and "encryption" in obj["status"]["message"]
    assert not obj["status"].get("attempts")
