"""The `strata` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

from infra.eventstore import event_meta
from infra.settings import Settings, load_settings
from runtime import history_cli, process_cli


def _admin_password(settings: Settings) -> str:
    """The admin password: from the environment, or made once and kept."""
    if settings.admin_password:
        return settings.admin_password
    path = settings.data_dir / "admin-password"
    if path.exists():
        return path.read_text().strip()
    from runtime.cloud import new_password

    password = new_password()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(password + "\n")
    os.chmod(path, 0o600)
    return password


def openrc(settings: Settings, password: str) -> str:
    return "\n".join(
        [
            f"export OS_AUTH_URL={settings.public_url('identity')}/v3",
            "export OS_IDENTITY_API_VERSION=3",
            "export OS_USERNAME=admin",
            f"export OS_PASSWORD={password}",
            "export OS_PROJECT_NAME=admin",
            "export OS_USER_DOMAIN_NAME=Default",
            "export OS_PROJECT_DOMAIN_NAME=Default",
            f"export OS_REGION_NAME={settings.region}",
        ]
    )


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    from runtime import registry
    from runtime.api_workers import spawn_api_workers
    from runtime.bootstrap import bootstrap
    from runtime.cloud import build_cloud, start_projector
    from runtime.compute_agent import start_compute_agent
    from runtime.history import start_webhook_worker
    from runtime.network_agent import spawn_network_agent
    from runtime.serve import PortInUse, listen_all, serve_all, spread_connections
    from runtime.storage_agent import start_storage_agent
    from runtime.streaming import start_relay

    cloud = build_cloud(settings)
    password = _admin_password(settings)
    bootstrap(cloud, password)
    # Before the agents start, so that a port in use stops the cloud before
    # anything runs; a client meanwhile waits in the queue until it serves.
    processes = settings.api_process_count
    addresses = [(settings.bind_host, settings.ports[s]) for s in registry.APPS]
    try:
        sockets = listen_all(addresses, shared=processes > 1)
    except PortInUse as error:
        print(f"strata up: {error}", file=sys.stderr)
        cloud.close()
        return 1
    for sock in sockets:
        spread_connections(sock, processes)
    start_projector(cloud)
    stop_webhooks = start_webhook_worker(cloud)
    relay = start_relay(cloud)
    network_agent = spawn_network_agent(cloud)
    compute_agent = start_compute_agent(cloud, relay.nats_url)  # its wake-ups: the relay's bus
    storage_agent = start_storage_agent(cloud)
    apps = [
        (factory(cloud), sock)
        for factory, sock in zip(registry.APPS.values(), sockets, strict=True)
    ]
    # Only now: a worker answers as soon as it listens, and the cloud is not
    # up until its agents are.
    workers = spawn_api_workers(
        processes - 1, list(registry.APPS), settings.data_dir / "api-workers.log"
    )
    serving = 1 + workers.wait_until_listening()
    backend = "PostgreSQL" if settings.is_postgres else f"SQLite ({settings.sqlite_path})"
    print(f"Strata is up. Event store and read models: {backend}")
    print(f"  event stream   {relay.bus_description}")
    print(f"  network agent  {network_agent.description}")
    print(f"  compute agent  {compute_agent.description}")
    print(f"  storage agent  {storage_agent.description}")
    missing = f"; {processes - serving} did not start, see api-workers.log" * (serving < processes)
    print(f"  API processes  {serving} (STRATA_API_WORKERS; 0 = one per CPU, at most 4{missing})")
    for service in registry.APPS:
        print(f"  {service:<14} {settings.public_url(service)}")
    print("\nAdmin credentials (source these to use the openstack CLI):\n")
    print(openrc(settings, password))
    print("\nPress Ctrl-C to stop.", flush=True)
    try:
        asyncio.run(serve_all(apps))
    finally:
        workers.stop()
        storage_agent.stop()
        compute_agent.stop()
        network_agent.stop()
        relay.stop()
        stop_webhooks()
        cloud.close()
    print("Strata stopped.")
    return 0


def cmd_bootstrap(settings: Settings, args: argparse.Namespace) -> int:
    from runtime.bootstrap import bootstrap
    from runtime.cloud import build_cloud

    cloud = build_cloud(settings)
    password = args.password or _admin_password(settings)
    result = bootstrap(cloud, password)
    print(
        json.dumps(
            {
                "admin_user_id": result.admin_user_id,
                "admin_project_id": result.admin_project_id,
                "created_admin": result.created_admin,
            }
        )
    )
    cloud.close()
    return 0


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    from runtime.cloud import build_cloud

    cloud = build_cloud(settings)
    cloud.store.snapshots.clear()  # a cache; rebuilt as aggregates are saved
    names = [args.projection] if args.projection else list(cloud.runner.projections)
    for name in names:
        if name not in cloud.runner.projections:
            print(f"strata replay: no projection named {name!r}", file=sys.stderr)
            return 2
        report = cloud.runner.rebuild(name)
        rate = report.events / report.seconds if report.seconds else 0.0
        print(
            f"{name}: {report.events} events replayed to position {report.position} "
            f"in {report.seconds:.2f}s ({rate:,.0f} events/s)"
        )
    cloud.close()
    return 0


def _describe(store: Any, notification: Any) -> dict[str, Any]:
    event = store.decode(notification)
    state = {
        k: v
        for k, v in vars(event).items()
        if k
        not in (
            "_meta",
            "originator_id",
            "originator_version",
            "timestamp",
            "originator_topic",
        )
    }
    for secret in ("password_hash", "secret_hash"):
        if secret in state:
            state[secret] = "***"
    return {
        "id": notification.id,
        "time": vars(event)["timestamp"].isoformat(),
        "type": notification.topic.split(":")[-1],
        "module": notification.topic.split(":")[0],
        "resource_id": str(notification.originator_id),
        "version": notification.originator_version,
        "meta": event_meta(event),
        "data": json.loads(json.dumps(state, default=str)),
    }


def cmd_events(settings: Settings, args: argparse.Namespace) -> int:
    from infra.eventstore import EventStore, open_recorder

    store = EventStore(open_recorder(settings))
    position = args.after
    while True:
        batch = store.notifications(after=position, limit=500)
        for notification in batch:
            position = notification.id
            if args.resource and str(notification.originator_id).replace(
                "-", ""
            ) != args.resource.replace("-", ""):
                continue
            item = _describe(store, notification)
            if args.json:
                print(json.dumps(item), flush=True)
            else:
                meta = item["meta"]
                print(
                    f"{item['id']:>8}  {item['time']}  {item['type']:<40} "
                    f"{item['resource_id']}  by {meta['user_id']} ({meta['request_id']})",
                    flush=True,
                )
        if not batch and not args.follow:
            return 0
        if not batch:
            time.sleep(0.5)


def cmd_rotate_keys(settings: Settings, args: argparse.Namespace) -> int:
    from infra.tokens import KeyRepository

    KeyRepository(settings.fernet_keys_dir).rotate()
    print(f"rotated token keys in {settings.fernet_keys_dir}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="strata", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="run the whole cloud in one process")
    boot = sub.add_parser("bootstrap", help="create the admin, roles and catalog")
    boot.add_argument("--password", default="")
    replay = sub.add_parser("replay", help="rebuild read models from event zero")
    replay.add_argument("projection", nargs="?")
    events = sub.add_parser("events", help="print the event log")
    events.add_argument("--follow", action="store_true")
    events.add_argument("--after", type=int, default=0)
    events.add_argument("--resource", default="")
    events.add_argument("--json", action="store_true")
    history_cli.add_commands(sub)  # audit, show, project-state, diff
    process_cli.add_commands(sub)  # api, projector, relay
    sub.add_parser("rotate-keys", help="rotate the token encryption keys")
    return parser


COMMANDS = {
    "up": cmd_up,
    "bootstrap": cmd_bootstrap,
    "replay": cmd_replay,
    "events": cmd_events,
    **history_cli.COMMANDS,
    **process_cli.COMMANDS,
    "rotate-keys": cmd_rotate_keys,
}


def _terminate_handler(main_pid: int) -> Any:
    """SIGTERM unwinds the main process like Ctrl-C, so its `finally` blocks
    stop what it started. A forked helper (pyroute2 forks to enter network
    namespaces) inherits the handler; there it must just end, as SIGTERM
    would, rather than raise inside a copy of another thread."""

    def handle(signum: int, frame: Any) -> None:
        if os.getpid() != main_pid:
            os._exit(128 + signum)
        raise KeyboardInterrupt

    return handle


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    settings = load_settings()
    # Restored on return: tests call main() inside pytest's own process.
    previous = signal.signal(signal.SIGTERM, _terminate_handler(os.getpid()))
    try:
        return COMMANDS[args.command](settings, args)
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    raise SystemExit(main())
