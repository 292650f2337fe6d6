"""DatabaseRestore end to end: kubectl apply, the operator, real PostgreSQL and a real S3 server (versitygw).

A backup made by the operator is restored by the operator into a new database and compared table by table (row
checksums, large objects). The protections are checked as a user meets them: a restore created before its backup
completes waits for it; a target that holds data is refused without the acknowledgement and left untouched; a wrong
key and a corrupted object fail with a Warning naming the cause and leave no half-restored database behind.
"""

from __future__ import annotations

import secrets
from typing import Any

import asyncpg

from dbops.api.meta import DATA_LOSS_ACK
from tests.conftest import Kubectl
from tests.e2e.conftest import Operator, condition, events, get, wait_for
from tests.e2e.test_backup import (
    backup,
    bucket,
    checksums,
    completed,
    encryption_key,
    fill,
    raw_s3,
    ready_database,
    s3_secret,
)
from tests.e2e.test_database_user import ready_instance, superuser, unique
from tests.support.env import DevEnv
from tests.support.versitygw import Gateway, versitygw

__all__ = ["bucket", "encryption_key", "raw_s3", "ready_instance", "superuser", "versitygw"]

ENCRYPTED = """  compression: {enabled: true, algorithm: gzip}
  encryption: {enabled: true, secretRef: {name: backup-key, key: key}}
"""


def restore(name: str, target: str, extra: str = "", source: str = "backupRef: {name: b1}") -> str:
    return f"""apiVersion: dbops.dbprovision.io/v1alpha1
kind: DatabaseRestore
metadata: {{name: {name}}}
spec:
  {source}
  target:
    instanceRef: {{name: pg}}
    databaseName: {target}
{extra}"""


def finished(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any] | None:
    obj = get(kubectl, "databaserestore", namespace, name)
    phase = ((obj or {}).get("status") or {}).get("phase")
    return obj if phase in ("Completed", "Failed") else None


async def database_exists(dev_env: DevEnv, name: str) -> bool:
    pg = dev_env.postgres
    conn = await asyncpg.connect(
        host=pg.host, port=pg.port, user=pg.superuser, password=pg.superuser_password, database="postgres"
    )
    try:
        return bool(await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


async def drop(superuser: Any, *names: str) -> None:
    for name in names:
        await superuser.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_a_restore_waits_for_its_backup_then_restores_exactly(
    kubectl: Kubectl,
    namespace: str,
    ready_instance: str,
    superuser: Any,
    dev_env: DevEnv,
    operator: Operator,
    versitygw: Gateway,
    bucket: str,
    encryption_key: str,
) -> None:
    db = ready_database(kubectl, namespace)
    await fill(superuser, dev_env, db)
    target = unique("restored")
    # The restore is applied first: it must wait for the backup (Pending, DependencyNotReady), then run.
    kubectl("apply", "-n", namespace, "-f", "-", input=restore("r1", target))
    waiting = wait_for(
        lambda: (
            (o := get(kubectl, "databaserestore", namespace, "r1"))
            and condition(o, "Ready").get("reason") == "DependencyNotReady"
            and o
        ),
        60,
        "the restore to wait for its backup",
    )
    assert waiting["status"]["phase"] == "Pending" and "b1" in waiting["status"]["message"]
    kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input=s3_secret(encryption_key) + "---\n" + backup("b1", versitygw, bucket, ENCRYPTED),
    )
    try:
        wait_for(lambda: completed(kubectl, namespace, "b1"), 120, "the backup to complete")
        obj = wait_for(lambda: finished(kubectl, namespace, "r1"), 180, "the restore to finish")
        status = obj["status"]
        assert status["phase"] == "Completed", status.get("message")
        assert condition(obj, "Ready")["reason"] == "RestoreCompleted"
        assert status["restore"]["targetDatabase"] == target
        assert status["restore"]["sourceBackup"] == f"{namespace}/b1"
        assert status["restore"]["resolvedPath"].endswith(".dump.gz.enc")
        assert status["progress"]["percentage"] == 100 and status["progress"]["currentPhase"] == "Completed"
        assert await checksums(dev_env, target) == await checksums(dev_env, db)

        started = wait_for(lambda: events(kubectl, namespace, "r1", "Started"), 30, "Started event")
        done = wait_for(lambda: events(kubectl, namespace, "r1", "Completed"), 30, "Completed event")
        assert len(started) == 1 and len(done) == 1 and target in done[0]["message"]
        assert not events(kubectl, namespace, "r1", "Failed")
        assert encryption_key not in str(obj)

        metrics = operator.metrics()
        assert (
            f'dbops_restore_operations_total{{engine="postgres",namespace="{namespace}",status="success"}} 1.0'
            in metrics
        )
        assert f'dbops_restore_info{{backup_ref="b1",namespace="{namespace}",phase="Completed"' in metrics

        # One-shot: the completed restore does nothing more; deleting it leaves the restored database alone.
        kubectl("delete", "databaserestore", "r1", "-n", namespace, "--wait=true", "--timeout=60s")
        assert await database_exists(dev_env, target)
    finally:
        await drop(superuser, target)


async def test_a_target_holding_data_is_refused_without_the_acknowledgement(
    kubectl: Kubectl,
    namespace: str,
    ready_instance: str,
    superuser: Any,
    dev_env: DevEnv,
    operator: Operator,
    versitygw: Gateway,
    bucket: str,
    encryption_key: str,
) -> None:
    db = ready_database(kubectl, namespace)
    await fill(superuser, dev_env, db)
    kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input=s3_secret(encryption_key) + "---\n" + backup("b1", versitygw, bucket, ENCRYPTED),
    )
    wait_for(lambda: completed(kubectl, namespace, "b1"), 120, "the backup to complete")
    # A live target with other content: the restore must not touch it.
    target = unique("live")
    pg = dev_env.postgres
    admin = await asyncpg.connect(
        host=pg.host, port=pg.port, user=pg.admin_user, password=pg.admin_password, database="postgres"
    )
    try:  # owned by the operator's admin account, like a database it could have created
        await admin.execute(f'CREATE DATABASE "{target}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(
        host=pg.host, port=pg.port, user=pg.superuser, password=pg.superuser_password, database=target
    )
    try:
        await conn.execute("CREATE TABLE precious (v text); INSERT INTO precious VALUES ('keep me')")
        kubectl("apply", "-n", namespace, "-f", "-", input=restore("r2", target))
        obj = wait_for(lambda: finished(kubectl, namespace, "r2"), 60, "the restore to be refused")
        assert obj["status"]["phase"] == "Failed" and condition(obj, "Ready")["reason"] == "ValidationFailed"
        assert DATA_LOSS_ACK in obj["status"]["message"] and target in obj["status"]["message"]
        refused = wait_for(lambda: events(kubectl, namespace, "r2", "ValidationFailed"), 30, "ValidationFailed")
        assert len(refused) == 1 and refused[0]["type"] == "Warning"
        assert not events(kubectl, namespace, "r2", "Started")
        assert await conn.fetchval("SELECT string_agg(v, ',') FROM precious") == "keep me"

        # With the acknowledgement and dropExisting, the target is replaced by the backup's content.
        extra = f"""  confirmation: {{acknowledgeDataLoss: {DATA_LOSS_ACK}}}
  postgres: {{dropExisting: true}}
"""
        await conn.close()
        kubectl("apply", "-n", namespace, "-f", "-", input=restore("r3", target, extra))
        obj = wait_for(lambda: finished(kubectl, namespace, "r3"), 180, "the acknowledged restore")
        assert obj["status"]["phase"] == "Completed", obj["status"].get("message")
        assert await checksums(dev_env, target) == await checksums(dev_env, db)
    finally:
        if not conn.is_closed():
            await conn.close()
        await drop(superuser, target)


async def test_a_wrong_key_and_a_corrupted_object_fail_and_leave_no_database(
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
    kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input=s3_secret(encryption_key) + "---\n" + backup("b1", versitygw, bucket, ENCRYPTED),
    )
    info = wait_for(lambda: completed(kubectl, namespace, "b1"), 120, "the backup to complete")["status"]["backup"]

    # fromPath with another key: the object authenticates against nothing.
    other_key = secrets.token_hex(32)
    wrong = unique("wrongkey")
    source = f"""fromPath:
    backupPath: {info["path"]}
    storage:
      type: s3
      s3: {{bucket: {bucket}, region: us-east-1, endpoint: {versitygw.endpoint}, forcePathStyle: true,
            secretRef: {{name: s3-credentials}}}}
    encryption: {{enabled: true, secretRef: {{name: other-key, key: key}}}}"""
    kubectl("create", "secret", "generic", "other-key", "-n", namespace, f"--from-literal=key={other_key}")
    kubectl("apply", "-n", namespace, "-f", "-", input=restore("r4", wrong, source=source))
    obj = wait_for(lambda: finished(kubectl, namespace, "r4"), 120, "the wrong-key restore to fail")
    assert obj["status"]["phase"] == "Failed" and condition(obj, "Ready")["reason"] == "RestoreFailed"
    message = obj["status"]["message"]
    assert "key" in message.lower() or "authenticat" in message.lower(), message
    failed = wait_for(lambda: events(kubectl, namespace, "r4", "Failed"), 30, "Failed event")
    assert len(failed) == 1 and failed[0]["type"] == "Warning"
    assert other_key not in str(obj) and encryption_key not in str(obj)
    assert not await database_exists(dev_env, wrong), "a failed restore left the database it created"

    # A corrupted object: one byte flipped in the middle; the checksum of the metadata catches it.
    body = await (await raw_s3.get_object(Bucket=bucket, Key=info["path"]))["Body"].read()
    middle = len(body) // 2
    corrupted = body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1 :]
    await raw_s3.put_object(Bucket=bucket, Key=info["path"], Body=corrupted)
    broken = unique("corrupt")
    kubectl("apply", "-n", namespace, "-f", "-", input=restore("r5", broken))
    obj = wait_for(lambda: finished(kubectl, namespace, "r5"), 120, "the corrupted restore to fail")
    assert obj["status"]["phase"] == "Failed" and condition(obj, "Ready")["reason"] == "RestoreFailed"
    message = obj["status"]["message"].lower()
    assert "checksum" in message or "authenticat" in message, message
    assert not await database_exists(dev_env, broken), "a failed restore left the database it created"
