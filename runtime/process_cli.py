"""`strata api`, `strata projector`, `strata relay`: the production profile's parts.

`strata up` runs all of them in one process; in production each runs on its
own (any number of API and projector processes; relays too, of which one at a
time leads), all sharing PostgreSQL and NATS. Stopping or restarting any of
them loses nothing: writers read their own writes by projecting themselves,
projectors resume at the recorded position, the relay at the stream's tail.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
from typing import Any

from infra.settings import Settings


def cmd_api(settings: Settings, args: argparse.Namespace) -> int:
    from runtime import registry
    from runtime.api_workers import spawn_api_workers, stop_with_parent, tell_parent_listening
    from runtime.cloud import build_cloud, start_projector
    from runtime.serve import PortInUse, listen_all, serve_all, spread_connections

    services = args.service or list(registry.APPS)
    unknown = [s for s in services if s not in registry.APPS]
    if unknown:
        print(f"strata api: unknown service(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    worker = args.worker_of is not None
    if worker:
        stop_with_parent(args.worker_of)
    processes = 1 if worker else settings.api_process_count
    cloud = build_cloud(settings)
    apps = [registry.APPS[s](cloud) for s in services]
    addresses = [(settings.bind_host, settings.ports[s]) for s in services]
    try:
        # Only once ready: a connection the kernel gives a socket waits for it.
        # A worker joins ports its parent already holds.
        sockets = listen_all(addresses, shared=worker or processes > 1, first=not worker)
    except PortInUse as error:
        print(f"strata api: {error}", file=sys.stderr)
        cloud.close()
        return 1
    if not worker:
        for sock in sockets:
            spread_connections(sock, processes)
    start_projector(cloud)
    tell_parent_listening(args.ready_fd)
    workers = spawn_api_workers(processes - 1, services, settings.data_dir / "api-workers.log")
    workers.wait_until_listening()
    if not worker:
        for service in services:
            print(f"  {service:<14} {settings.public_url(service)}", flush=True)
    try:
        asyncio.run(serve_all(list(zip(apps, sockets, strict=True))))
    finally:
        workers.stop()
        cloud.close()
    return 0


def _wait_for_signal() -> None:
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    while not stopped.wait(1.0):
        pass


def cmd_projector(settings: Settings, args: argparse.Namespace) -> int:
    from runtime.cloud import build_cloud, start_projector

    cloud = build_cloud(settings)
    start_projector(cloud)
    print(f"projector: keeping {', '.join(cloud.runner.projections)} current", flush=True)
    try:
        _wait_for_signal()
    finally:
        cloud.close()
    return 0


def cmd_relay(settings: Settings, args: argparse.Namespace) -> int:
    from runtime.cloud import build_cloud
    from runtime.streaming import start_relay

    if not settings.nats_url:
        print("strata relay: set STRATA_NATS_URL to the JetStream server", file=sys.stderr)
        return 2
    cloud = build_cloud(settings)
    relay = start_relay(cloud)
    print(f"relay: publishing to {relay.bus_description}", flush=True)
    try:
        _wait_for_signal()
    finally:
        relay.stop()
        cloud.close()
    return 0


def cmd_webhooks(settings: Settings, args: argparse.Namespace) -> int:
    """Deliver webhooks. Run one: deliveries are at least once (a retry after a
    lost answer repeats one), so receivers dedupe by the envelope's `id`, but a
    second worker would send everything twice."""
    from runtime.cloud import build_cloud, start_projector
    from runtime.history import start_webhook_worker

    cloud = build_cloud(settings)
    start_projector(cloud)
    stop_webhooks = start_webhook_worker(cloud)
    print("webhooks: delivering", flush=True)
    try:
        _wait_for_signal()
    finally:
        stop_webhooks()
        cloud.close()
    return 0


def cmd_agent(settings: Settings, args: argparse.Namespace) -> int:
    """The agents of one host: networking, compute and storage."""
    from runtime.cloud import build_cloud, start_projector
    from runtime.compute_agent import RunningComputeAgent, start_compute_agent
    from runtime.network_agent import start_network_agent
    from runtime.storage_agent import RunningStorageAgent, start_storage_agent

    if args.host:
        settings = settings.with_overrides(host=args.host)
    cloud = build_cloud(settings)
    start_projector(cloud)
    agent = start_network_agent(cloud, embedded=args.embedded)
    print(f"agent {settings.host}: network {agent.description}", flush=True)
    # `strata up` runs its compute agent itself and this process (--embedded)
    # for networking only: two compute agents of one host would race.
    compute = RunningComputeAgent(None, "run by strata up", lambda: None)
    if not args.embedded:
        compute = start_compute_agent(cloud)
    print(f"agent {settings.host}: compute {compute.description}", flush=True)
    # Likewise the storage agent: `strata up` runs the embedded host's itself.
    storage = RunningStorageAgent(None, "run by strata up", lambda: None)
    if not args.embedded:
        storage = start_storage_agent(cloud)
    print(f"agent {settings.host}: storage {storage.description}", flush=True)
    try:
        _wait_for_signal()
    finally:
        storage.stop()
        compute.stop()
        agent.stop()
        cloud.close()
    return 0


def add_commands(sub: Any) -> None:
    api = sub.add_parser("api", help="serve the APIs (all, or those named)")
    api.add_argument("--service", action="append", help="a service to serve (repeatable)")
    api.add_argument(
        "--worker-of",
        type=int,
        metavar="PID",
        help="serve beside process PID on the ports it holds, and stop when it does",
    )
    api.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    sub.add_parser("projector", help="keep the read models current")
    sub.add_parser("relay", help="publish the event log to NATS JetStream")
    sub.add_parser("webhooks", help="deliver webhooks (run exactly one)")
    agent = sub.add_parser("agent", help="run this host's agents")
    agent.add_argument("--host", default="", help="this host's name (default: STRATA_HOST)")
    agent.add_argument(
        "--embedded",
        action="store_true",
        help="the one-host cloud: host every router and serve DHCP without a DHCP port",
    )


COMMANDS = {
    "api": cmd_api,
    "projector": cmd_projector,
    "relay": cmd_relay,
    "webhooks": cmd_webhooks,
    "agent": cmd_agent,
}
