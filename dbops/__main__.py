"""The operator process: `python -m dbops` or the `dbops` console script (runtime.md sections 2-3)."""

from __future__ import annotations

import asyncio
import sys
import uuid
from typing import Any

import click

from dbops.config import OperatorConfig, build_config, config_options
from dbops.controllers.context import OperatorContext
from dbops.controllers.setup import register_controllers
from dbops.engines.registry import ServerRegistry
from dbops.metrics import Metrics
from dbops.runtime import KubeClient, Manager, ManagerOptions, configure_logging, get_logger


async def run(config: OperatorConfig) -> int:
    """Start the manager with every controller; returns the process exit code."""
    qps, burst = config.client_rate_limit
    client = await KubeClient.load(config.kubeconfig, qps=qps, burst=burst)
    options = ManagerOptions(
        health_probe_bind_address=config.health_probe_bind_address,
        metrics_bind_address=config.metrics_bind_address,
        leader_elect=config.leader_elect,
        leader_election_id=config.leader_election_id,
        leader_election_namespace=config.leader_election_namespace,
        lease_duration=config.leader_election_lease_duration,
        renew_deadline=config.leader_election_renew_deadline,
        retry_period=config.leader_election_retry_period,
        release_on_cancel=config.leader_election_release_on_cancel,
        identity=f"{config.pod_name}_{uuid.uuid4()}",
        watch_namespaces=config.watch_namespaces,
        sync_period=config.sync_period,
        watch_server_timeout=config.watch_server_timeout,
        watch_inactivity_timeout=config.watch_inactivity_timeout,
        graceful_shutdown_timeout=config.graceful_shutdown_timeout,
        reporting_instance=config.pod_name,
    )
    manager = Manager(client, options)
    servers = ServerRegistry(config.max_operations_per_instance)
    ctx = OperatorContext(client=client, manager=manager, config=config, metrics=Metrics(), servers=servers)
    register_controllers(ctx)
    manager.install_signal_handlers()
    try:
        return await manager.run()
    finally:
        await servers.close()
        await client.close()


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120})
@config_options
def main(**options: Any) -> None:
    """Run the dbops operator (manager process)."""
    config = build_config(**options)
    configure_logging(config.log_level, config.log_format)
    log = get_logger("dbops")
    log.info("starting dbops operator", instance_id=config.instance_id, leader_elect=config.leader_elect)
    if config.cross_namespace_references == "allow":
        log.warning(
            "--cross-namespace-references=allow: any namespace may use any DatabaseInstance and any namespace's "
            "Secrets through this operator (upstream behaviour, for a migration; behaviour.md 13)"
        )
    sys.exit(asyncio.run(run(config)))


if __name__ == "__main__":
    main()
