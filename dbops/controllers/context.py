"""What every controller of one operator process shares: the API client, the caches, metrics and server adapters."""

from __future__ import annotations

from dataclasses import dataclass, field

from dbops.api.kinds import KindInfo, by_kind
from dbops.config import OperatorConfig
from dbops.controllers.instances import CLUSTER_INSTANCE, INSTANCE, ResolvedInstance, connection_settings
from dbops.controllers.references import ReferencePolicy
from dbops.controllers.server_ownership import ServerObjects, ServerOwnership
from dbops.engines.base import EngineAdapter
from dbops.engines.registry import ServerRegistry
from dbops.metrics import Metrics
from dbops.runtime import NAMESPACES, KubeClient, Manager, Resource, Store


def resource_of(info: KindInfo) -> Resource:
    """The runtime's REST coordinates of one of the 11 kinds."""
    return Resource(info.group, info.version, info.plural, info.kind, namespaced=info.namespaced)


@dataclass
class OperatorContext:
    """Shared by all controllers; built once by the entrypoint."""

    client: KubeClient
    manager: Manager
    config: OperatorConfig
    metrics: Metrics
    servers: ServerRegistry
    references: ReferencePolicy = field(init=False)
    """The consent rule for cross-namespace references (behaviour.md 13), over the namespace informer."""

    def __post_init__(self) -> None:
        # Namespaces by metadata: their consent annotation is all the rule reads. Registered here, before the
        # manager starts, like every informer.
        namespaces = self.manager.store(NAMESPACES, metadata_only=True)
        self.references = ReferencePolicy(
            self.config.cross_namespace_references, self.config.watch_namespaces, namespaces.get
        )

    def store(self, info: KindInfo) -> Store:
        """The informer cache of a kind (the manager creates the informer on first use)."""
        return self.manager.store(resource_of(info))

    def server_ownership(self, objects: ServerObjects) -> ServerOwnership:
        """Who owns the server objects of one sort (`server_ownership`), over this process's caches."""
        return ServerOwnership(
            objects, lambda kind: self.store(by_kind(kind)), self.store(INSTANCE), self.store(CLUSTER_INSTANCE)
        )


async def adapter_for(ctx: OperatorContext, instance: ResolvedInstance) -> EngineAdapter:
    """The shared adapter of a Ready instance; resolved from its Secrets when this process has none yet."""
    cached = ctx.servers.cached(instance.target.key)
    if cached is not None:
        return cached
    namespace = instance.target.key.namespace or None
    settings = await connection_settings(ctx.client, instance.spec, namespace, ctx.config.operator_namespace)
    return await ctx.servers.adapter(instance.target.key, settings)
