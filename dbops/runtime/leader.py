"""Leader election over a ``coordination.k8s.io/v1`` Lease (``runtime.md`` section 4), client-go's algorithm.

* **Acquire**: every retry period (+ up to 20 % jitter) read the Lease; create it if missing; take it over when it is
  released (empty holder) or expired. *Expired* means the record has not changed for ``leaseDurationSeconds`` as
  observed by **this process's monotonic clock** — never by comparing the remote ``renewTime`` with local wall time,
  so clock skew between nodes cannot cause two leaders. Every write is a PUT with the read resourceVersion, so of two
  candidates only one wins.
* **Renew**: every retry period; if no renewal succeeds within the renew deadline (or another identity holds the
  Lease), leadership is lost and :meth:`LeaderElector.hold` returns. Renew deadline < lease duration guarantees the
  old leader stops before anyone else may take over.
* **Release**: on clean shutdown the holder clears ``holderIdentity`` and sets ``leaseDurationSeconds: 1``, so a
  standby takes over within one retry period instead of waiting out the lease.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dbops.runtime import metrics
from dbops.runtime.client import LEASES, AlreadyExists, ApiError, Conflict, KubeClient
from dbops.runtime.log import get_logger

Obj = dict[str, Any]


def default_identity() -> str:
    """``<POD_NAME or host name>_<random UUID>``."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4()}"


def _micro_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LeaderElectionConfig:
    lease_name: str
    namespace: str
    identity: str = ""
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    release_on_cancel: bool = True

    def validate(self) -> None:
        """Lease duration > renew deadline > 1.2 * retry period (else start-up fails)."""
        if not self.lease_duration > self.renew_deadline:
            raise ValueError("leader election: lease duration must be greater than the renew deadline")
        if not self.renew_deadline > 1.2 * self.retry_period:
            raise ValueError("leader election: renew deadline must be greater than 1.2 * the retry period")
        if self.retry_period <= 0:
            raise ValueError("leader election: retry period must be positive")


class LeaderElector:
    """See the module docstring. Typical use: ``await acquire()``, then run work while ``await hold()`` runs."""

    def __init__(
        self, client: KubeClient, config: LeaderElectionConfig, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        config.validate()
        self.client = client
        self.config = config
        self.identity = config.identity or default_identity()
        self._clock = clock
        self._lease: Obj | None = None
        self._observed_spec: Obj | None = None
        self._observed_time = 0.0
        self._leader = False
        self.log = get_logger("leader-election", lease=config.lease_name, identity=self.identity)
        self._gauge = metrics.LEADER_ELECTION_MASTER_STATUS.labels(config.lease_name)
        self._gauge.set(0)

    @property
    def is_leader(self) -> bool:
        return self._leader

    @property
    def observed_holder(self) -> str | None:
        return (self._observed_spec or {}).get("holderIdentity") or None

    def _set_leader(self, value: bool) -> None:
        self._leader = value
        self._gauge.set(1 if value else 0)

    async def _try_acquire_or_renew(self) -> bool:
        cfg = self.config
        now = _micro_now()
        lease = await self.client.get_or_none(LEASES, cfg.lease_name, cfg.namespace)
        if lease is None:
            created: Obj = {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": int(cfg.lease_duration),
                "acquireTime": now,
                "renewTime": now,
                "leaseTransitions": 0,
            }
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": cfg.lease_name, "namespace": cfg.namespace},
                "spec": created,
            }
            try:
                self._lease = await self.client.create(LEASES, body, cfg.namespace)
            except AlreadyExists:
                return False
            self._observe(created)
            return True
        spec: Obj = dict(lease.get("spec") or {})
        if spec != self._observed_spec:
            self._observe(spec)
        holder = spec.get("holderIdentity") or ""
        if holder and holder != self.identity:
            duration = float(spec.get("leaseDurationSeconds") or cfg.lease_duration)
            if self._observed_time + duration > self._clock():
                return False
        new_spec: Obj = dict(spec)
        if holder != self.identity:
            new_spec["acquireTime"] = now
            new_spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        new_spec["holderIdentity"] = self.identity
        new_spec["leaseDurationSeconds"] = int(cfg.lease_duration)
        new_spec["renewTime"] = now
        updated = {**lease, "spec": new_spec}
        try:
            self._lease = await self.client.replace(LEASES, updated)
        except Conflict:
            return False
        self._observe(new_spec)
        return True

    def _observe(self, spec: Obj) -> None:
        self._observed_spec = spec
        self._observed_time = self._clock()

    async def acquire(self) -> None:
        """Return once this process holds the Lease (cancel to give up)."""
        self.log.info("attempting to acquire leader lease")
        while True:
            try:
                if await self._try_acquire_or_renew():
                    self._set_leader(True)
                    self.log.info("successfully acquired lease")
                    return
            except ApiError as exc:
                self.log.warning("error retrieving or acquiring the lease", error=str(exc))
            await asyncio.sleep(self.config.retry_period * (1.0 + random.uniform(0.0, 0.2)))

    async def hold(self) -> None:
        """Renew every retry period; return when leadership is lost (renew deadline passed, or taken over)."""
        cfg = self.config
        last_renew = self._clock()
        while self._leader:
            await asyncio.sleep(cfg.retry_period)
            remaining = last_renew + cfg.renew_deadline - self._clock()
            ok = False
            try:
                async with asyncio.timeout(max(0.05, remaining)):
                    ok = await self._try_acquire_or_renew()
            except (ApiError, TimeoutError) as exc:
                self.log.warning("failed to renew lease", error=f"{type(exc).__name__}: {exc}")
            if ok:
                last_renew = self._clock()
                continue
            if self.observed_holder not in (None, self.identity):
                self.log.error("lease taken over by another identity", holder=self.observed_holder)
                break
            if self._clock() - last_renew >= cfg.renew_deadline:
                self.log.error("failed to renew lease within the renew deadline", deadline=cfg.renew_deadline)
                break
        self._set_leader(False)

    async def release(self) -> bool:
        """Give the Lease up (empty holder, 1 s duration) so a standby takes over at once; ``True`` on success."""
        if not self._leader or self._lease is None:
            return False
        self._set_leader(False)
        spec = dict(self._lease.get("spec") or {})
        now = _micro_now()
        spec.pop("holderIdentity", None)  # an absent holder is the released state
        spec.update(leaseDurationSeconds=1, renewTime=now, acquireTime=now)
        try:
            self._lease = await self.client.replace(LEASES, {**self._lease, "spec": spec})
        except ApiError as exc:
            self.log.warning("failed to release lease", error=str(exc))
            return False
        self._observe(spec)
        self.log.info("released leader lease")
        return True
