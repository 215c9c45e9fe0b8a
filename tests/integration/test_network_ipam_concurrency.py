"""Many threads creating ports on one small subnet at once: every address is
handed out exactly once, and the rest get 409 IpAddressGenerationFailure."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from commands.network.networks import CreateNetwork, CreateSubnet
from commands.network.ports import CreatePort
from commands.network.security import EnsureDefaultSecurityGroup
from domain.errors import Conflict
from tests.integration.test_network_world import ALICE, NetWorld, make_world, settings_for

THREADS = 12
PORTS_PER_THREAD = 2
USABLE = 13  # a /28 less its network, broadcast and gateway addresses


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres), "sqlite"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NetWorld]:
    # Every writer collides on the one subnet; give each enough retries to
    # get through the queue (the lead's jittered backoff makes fewer needed).
    yield from make_world(settings_for(request.param, tmp_path, request), max_attempts=60)


def test_one_small_subnet_under_concurrent_port_creation(world: NetWorld) -> None:
    net = world.run(CreateNetwork(name="busy"))["id"]
    world.run(CreateSubnet(network_id=net, cidr="10.20.0.0/28"))
    world.run(EnsureDefaultSecurityGroup(project_id="p-alice"))
    created: list[str] = []
    failures: list[str] = []
    unexpected: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def worker() -> None:
        start.wait()
        for _ in range(PORTS_PER_THREAD):
            try:
                port = world.run(CreatePort(network_id=net), ALICE)["id"]
            except Conflict as error:
                with lock:
                    failures.append(getattr(error, "type_name", "?"))
            except BaseException as error:  # surfaced by the assertion below
                with lock:
                    unexpected.append(error)
            else:
                with lock:
                    created.append(str(port))

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert unexpected == []
    assert len(created) == USABLE
    assert failures == ["IpAddressGenerationFailure"] * (THREADS * PORTS_PER_THREAD - USABLE)
    addresses = [world.doc("ports", p)["fixed_ips"][0]["ip_address"] for p in created]
    assert len(set(addresses)) == USABLE
    network = ipaddress.ip_network("10.20.0.0/28")
    assert all(ipaddress.ip_address(a) in network for a in addresses)
    assert "10.20.0.1" not in addresses  # the gateway is never a port's
