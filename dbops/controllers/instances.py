"""Resolving instances: from a reference to the instance object, and from an instance to its connection settings.

Every consumer of an instance resolves it the same way (behaviour.md 6.1): the admin Secret lives in the reference's
namespace, else the instance's namespace, else (ClusterDatabaseInstance) the operator's namespace; the TLS Secret in
the same namespace as the admin Secret. Problems become `InstanceProblem` with the condition reason the instance
reports (`CredentialsError`, `TLSConfigError`).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from dbops.api.instance import DatabaseInstanceSpec
from dbops.api.kinds import by_kind
from dbops.config import parse_duration
from dbops.engines.connection import (
    DEFAULT_ADMIN_DATABASE,
    ConnectionSettings,
    TLSMaterial,
    TrackingConfig,
    effective_tls_mode,
)
from dbops.engines.registry import InstanceKey
from dbops.runtime import SECRETS, KubeClient, Store, is_condition_true

INSTANCE = by_kind("DatabaseInstance")
CLUSTER_INSTANCE = by_kind("ClusterDatabaseInstance")


class InstanceProblem(Exception):
    """The instance's Secrets cannot be turned into connection settings; `reason` is the condition reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class InstanceTarget:
    """Which instance a dependent points at, as written in its spec."""

    key: InstanceKey

    @property
    def store_key(self) -> str:
        return f"{self.key.namespace}/{self.key.name}" if self.key.namespace else self.key.name

    @property
    def description(self) -> str:
        return f"{self.key.kind} {self.store_key}"


def target_of(spec: Any, namespace: str | None) -> InstanceTarget:
    """The instance a spec with `instanceRef` / `clusterInstanceRef` points at (the schema ensures exactly one)."""
    cluster_ref = getattr(spec, "cluster_instance_ref", None)
    if cluster_ref is not None:
        return InstanceTarget(InstanceKey(CLUSTER_INSTANCE.kind, "", cluster_ref.name))
    ref = spec.instance_ref
    return InstanceTarget(InstanceKey(INSTANCE.kind, ref.namespace or namespace or "", ref.name))


def instance_is_ready(raw: dict[str, Any] | None) -> bool:
    """behaviour.md 4: phase Ready and a True Ready condition for the current generation."""
    return bool(
        raw is not None
        and (raw.get("status") or {}).get("phase") == "Ready"
        and is_condition_true(raw, "Ready", current_generation=True)
    )


def lookup(target: InstanceTarget, instances: Store, cluster_instances: Store) -> dict[str, Any] | None:
    store = cluster_instances if target.key.kind == CLUSTER_INSTANCE.kind else instances
    return store.get(target.store_key)


def _endpoint(raw: dict[str, Any] | None) -> tuple[str, int] | None:
    connection = ((raw or {}).get("spec") or {}).get("connection") or {}
    host, port = connection.get("host"), connection.get("port")
    return (str(host), int(port)) if host and port else None


def same_server(key: InstanceKey, target: InstanceTarget, instances: Store, cluster_instances: Store) -> bool:
    """Whether the instance `key` reaches `target`'s server: the same instance object, or another one with the same
    host and port (a ClusterDatabaseInstance and a DatabaseInstance often point at one server)."""
    if key == target.key:
        return True
    server = _endpoint(lookup(target, instances, cluster_instances))
    return server is not None and _endpoint(lookup(InstanceTarget(key), instances, cluster_instances)) == server


def _decode(secret: dict[str, Any], key: str, where: str = "", reason: str = "CredentialsError") -> str | None:
    """A Secret value as text; `InstanceProblem` (`reason`, naming the key) when it is not UTF-8 text or holds a NUL
    byte, instead of an exception on every reconcile."""
    value = (secret.get("data") or {}).get(key)
    if value is None:
        plain = (secret.get("stringData") or {}).get(key)
        return str(plain) if plain is not None else None
    try:
        text = base64.b64decode(value).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise InstanceProblem(reason, f"Secret {where} key {key!r} is not valid UTF-8 text") from None
    if "\x00" in text:
        raise InstanceProblem(reason, f"Secret {where} key {key!r} contains a NUL byte")
    return text


async def connection_settings(
    client: KubeClient, spec: DatabaseInstanceSpec, namespace: str | None, operator_namespace: str
) -> ConnectionSettings:
    """The one set of connection settings the instance's spec and Secrets describe (api.md 5.2, 5.3, 6.1)."""
    ref = spec.connection.secret_ref or spec.connection.existing_secret
    if ref is None:  # the schema forbids it; kept for objects stored before the rule
        raise InstanceProblem("CredentialsError", "spec.connection.secretRef is not set")
    secret_namespace = ref.namespace or namespace or operator_namespace
    secret = await client.get_or_none(SECRETS, ref.name, secret_namespace)
    if secret is None:
        raise InstanceProblem("CredentialsError", f"Secret {secret_namespace}/{ref.name} not found")
    keys = ref.effective_keys
    where = f"{secret_namespace}/{ref.name}"
    username, password = _decode(secret, keys.username, where), _decode(secret, keys.password, where)
    for key, value in ((keys.username, username), (keys.password, password)):
        if not value:
            raise InstanceProblem("CredentialsError", f"Secret {secret_namespace}/{ref.name} has no key {key!r}")
    assert username is not None and password is not None

    tls = spec.tls
    material = TLSMaterial()
    if tls is not None and tls.enabled and tls.secret_ref is not None:
        tls_secret = await client.get_or_none(SECRETS, tls.secret_ref.name, secret_namespace)
        if tls_secret is None:
            raise InstanceProblem("TLSConfigError", f"TLS Secret {secret_namespace}/{tls.secret_ref.name} not found")
        tls_keys = tls.secret_ref.effective_keys
        tls_where = f"{secret_namespace}/{tls.secret_ref.name}"
        material = TLSMaterial(
            ca_pem=_decode(tls_secret, tls_keys.ca, tls_where, "TLSConfigError"),
            cert_pem=_decode(tls_secret, tls_keys.cert or "tls.crt", tls_where, "TLSConfigError"),
            key_pem=_decode(tls_secret, tls_keys.key or "tls.key", tls_where, "TLSConfigError"),
        )
    mode = effective_tls_mode(
        spec.engine,
        tls_enabled=bool(tls and tls.enabled),
        tls_mode=tls.mode if tls else None,
        postgres_ssl_mode=(spec.postgres.ssl_mode if spec.postgres else None) or spec.connection.ssl_mode,
        mysql_tls=spec.mysql.tls if spec.mysql else None,
        clickhouse_secure=spec.clickhouse.secure if spec.clickhouse else None,
    )
    if mode.verifies_chain and tls is not None and tls.secret_ref is not None and not material.ca_pem:
        raise InstanceProblem("TLSConfigError", f"the TLS Secret has no CA under {tls.secret_ref.effective_keys.ca!r}")
    postgres = spec.postgres
    connect_timeout = float(postgres.connect_timeout) if postgres else 10.0
    if spec.mysql is not None:
        connect_timeout = _mysql_connect_timeout(spec.mysql.timeout)
    return ConnectionSettings(
        engine=spec.engine,
        host=spec.connection.host,
        port=spec.connection.port,
        username=username,
        password=password,
        database=spec.connection.database or DEFAULT_ADMIN_DATABASE[spec.engine],
        tls_mode=mode,
        tls=material,
        connect_timeout=connect_timeout,
        statement_timeout=postgres.statement_timeout if postgres else None,
        application_name=postgres.application_name if postgres else "db-provision-operator",
        tracking=_tracking_store(spec),
    )


def _tracking_store(spec: DatabaseInstanceSpec) -> TrackingConfig:
    """Where the MySQL family keeps tracking text (api.md 5.7 `resourceTracking.mysql`; ClickHouse: its table)."""
    config = spec.resource_tracking.mysql if spec.resource_tracking is not None else None
    if config is None:
        return TrackingConfig()
    return TrackingConfig(
        database=config.metadata_database or None,
        table=config.metadata_table_name,
        use_user_attributes=config.use_user_attributes,
    )


def _mysql_connect_timeout(text: str) -> float:
    """`mysql.timeout` (a duration, api.md 6.1) in seconds; the 10 s default when it is not a positive duration (the
    schema cannot check the text, and a bad value must not stop the health check)."""
    try:
        seconds = parse_duration(text)
    except ValueError:
        return 10.0
    return seconds if seconds > 0 else 10.0


@dataclass(frozen=True)
class ResolvedInstance:
    """A Ready instance a dependent may talk to, with the instance's own spec and engine."""

    target: InstanceTarget
    raw: dict[str, Any]
    spec: DatabaseInstanceSpec

    @property
    def engine(self) -> str:
        return self.spec.engine

    @property
    def name(self) -> str:
        return self.target.key.name


def gate(
    target: InstanceTarget, instances: Store, cluster_instances: Store, *, for_cleanup: bool = False
) -> tuple[ResolvedInstance | None, str]:
    """behaviour.md 4: the instance a dependent needs, or None and the InstanceNotReady message naming it.

    `for_cleanup` accepts an instance in any phase: a dependent being deleted must still be able to drop its
    object while its instance is itself waiting (DependenciesExist) for that dependent to go, or neither could.
    """
    raw = lookup(target, instances, cluster_instances)
    if raw is None:
        return None, f"instance {target.store_key} not found"
    if not for_cleanup and not instance_is_ready(raw):
        phase = (raw.get("status") or {}).get("phase") or "Pending"
        return None, f"instance {target.store_key} is {phase}"
    model = (CLUSTER_INSTANCE if target.key.kind == CLUSTER_INSTANCE.kind else INSTANCE).model.model_validate(raw)
    return ResolvedInstance(target, raw, model.spec), ""
