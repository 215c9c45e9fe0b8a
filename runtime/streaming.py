"""Start the relay for `strata up` / `strata relay`, on whichever bus is at hand.

STRATA_NATS_URL wins; otherwise a `nats-server` found on PATH is started
privately (unless STRATA_START_NATS=false); otherwise the in-process bus.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from infra.nats_bus import EventBus, InProcessBus, NatsBus
from infra.nats_server import NatsServerProcess, find_nats_server, start_nats_server
from runtime.cloud import Cloud
from workers.relay import Relay, start_relay_thread

log = logging.getLogger(__name__)


@dataclass
class RunningRelay:
    relay: Relay
    bus_description: str
    stop: Callable[[], None]
    nats_url: str = ""  # the JetStream server published to ("": the in-process bus)


def choose_bus(cloud: Cloud) -> tuple[EventBus, str, NatsServerProcess | None]:
    settings = cloud.settings
    if settings.nats_url:
        return NatsBus(settings.nats_url, settings.stream_name), settings.nats_url, None
    binary = find_nats_server() if settings.start_nats else None
    if binary:
        try:
            server = start_nats_server(binary, settings.data_dir)
        except (OSError, RuntimeError) as error:
            log.warning("could not start %s (%s); using the in-process bus", binary, error)
        else:
            bus = NatsBus(server.url, settings.stream_name)
            return bus, f"{server.url} (nats-server started by strata)", server
    return InProcessBus(), "in-process (no nats-server found)", None


def start_relay(cloud: Cloud) -> RunningRelay:
    bus, description, server = choose_bus(cloud)
    thread, stop_event, relay = start_relay_thread(cloud.settings, cloud.store, cloud.db, bus)
    cloud.commit_listeners.append(lambda _position: relay.poke())

    def stop() -> None:
        stop_event.set()
        thread.join(timeout=5)
        if server is not None:
            server.stop()

    nats_url = bus.url if isinstance(bus, NatsBus) else ""
    return RunningRelay(relay, description, stop, nats_url)
