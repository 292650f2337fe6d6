"""S3 fixtures of the storage tests on a real versitygw (started by `tests.support.versitygw`, shared with e2e).

versitygw is built from the Go module proxy by ``hack/build-versitygw.sh`` (cached, so a second session costs
nothing). If it cannot be built the tests fail with the build's output: an S3 backend that was never run against a
server is not tested, and a skip would hide that.

The gateway runs once per session on a free loopback port with root keys given through its environment
(``ROOT_ACCESS_KEY_ID``/``ROOT_SECRET_ACCESS_KEY``, never on the command line); readiness is polled over HTTP with a
deadline. Every test gets a bucket of its own.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aioboto3
import pytest
from botocore.config import Config

from dbops.api.storage import S3SecretRef, S3Storage
from dbops.storage.s3 import S3Store
from tests.support.versitygw import ACCESS_KEY, REGION, SECRET_KEY, Gateway, versitygw

__all__ = ["versitygw"]


@pytest.fixture
async def raw_s3(versitygw: Gateway) -> AsyncIterator[Any]:
    """A plain aioboto3 client, to look behind the store's back (ListMultipartUploads, ETags)."""
    session = aioboto3.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION)
    config = Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required")
    async with session.client("s3", endpoint_url=versitygw.endpoint, config=config) as client:
        yield client


@pytest.fixture
async def bucket(versitygw: Gateway, raw_s3: Any) -> AsyncIterator[str]:
    """A fresh bucket for one test, removed (with whatever it holds) afterwards."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    await raw_s3.create_bucket(Bucket=name)
    yield name
    shutil.rmtree(versitygw.root / name, ignore_errors=True)


def s3_config(versitygw: Gateway, bucket: str) -> S3Storage:
    return S3Storage(
        bucket=bucket,
        region=REGION,
        endpoint=versitygw.endpoint,
        force_path_style=True,
        secret_ref=S3SecretRef(name="s3-credentials"),
    )


@pytest.fixture
async def store(versitygw: Gateway, bucket: str) -> AsyncIterator[S3Store]:
    store = S3Store(s3_config(versitygw, bucket), versitygw.credentials)
    yield store
    await store.close()
