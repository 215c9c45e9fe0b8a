"""Shared setup of the compute agent tests (no tests here): the compute world
(command bus and read models) plus the image read model and an image store,
and an agent on libvirt's test:///default driver reporting through the bus."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from commands.bus import CommandBus, Dependencies
from commands.compute.keypairs import CreateKeyPair
from commands.compute.networking import NetworkRequest
from commands.compute.servers import CreateServer
from infra.database import open_database
from infra.eventstore import EventStore, open_recorder
from infra.settings import Settings
from infra.virt import qemu_img, seed
from infra.virt.hypervisor import TEST_URI, Hypervisor
from projections.compute.host_state import compute_host_state
from projections.compute.projection import ComputeProjection
from projections.compute.queries import ComputeQueries
from projections.image.projection import ImageProjection
from projections.image.queries import ImageQueries
from projections.network.projection import NetworkProjection
from projections.runner import ProjectionRunner
from tests.integration.test_compute_world import ALICE, ComputeWorld, ed25519_public_key
from tests.integration.test_network_world import NoPasswords
from workers.compute.agent import AgentOptions, ComputeAgent
from workers.compute.disks import Disks
from workers.compute.reporter import CommandReporter

HOST = "node-1"


@dataclass
class AgentWorld:
    world: ComputeWorld
    agent: ComputeAgent
    hv: Hypervisor
    disks: Disks
    images_dir: Path

    def image(self, data: bytes = b"\0" * 65536) -> str:
        image_id = self.world.image(size=len(data))
        (self.images_dir / image_id).write_bytes(data)
        return image_id

    def boot(self, image_id: str | None = None, name: str = "vm") -> str:
        world = self.world
        net = world.network()
        world.run(CreateKeyPair(name=f"k-{uuid.uuid4().hex[:6]}", public_key=ed25519_public_key()))
        created = world.run(
            CreateServer(
                name=name,
                image_ref=image_id or self.image(),
                flavor_ref=world.flavor(flavorid=uuid.uuid4().hex[:8]),
                networks=[NetworkRequest(network_id=net)],
                user_data=base64.b64encode(b"#!/bin/sh\necho hello").decode(),
                metadata={"role": "web"},
            ),
            ALICE,
        )
        return str(created["id"])

    def converge(self) -> None:
        """One pass, and wait for the jobs it started (twice: a report made
        in the first pass changes what the second pass sees)."""
        for _ in range(2):
            self.world.runner.catch_up_all()
            self.agent.converge(compute_host_state(self.world.db, HOST))
            self.agent.wait_idle()

    def server(self, server_id: str) -> dict[str, Any]:
        self.world.runner.catch_up_all()
        return self.world.server(server_id)

    def domain(self, server_id: str) -> Any:
        """The server's libvirt domain, or None."""
        return self.hv.lookup(f"strata-{server_id}")


def make_agent_world(
    settings: Settings,
    disks_factory: Callable[..., Disks] = Disks,
    clock: Callable[[], float] | None = None,
    step_timeout: float = 300.0,
) -> Iterator[AgentWorld]:
    store = EventStore(open_recorder(settings))
    db = open_database(settings.database_url, settings.sqlite_path, settings.is_postgres)
    projections = [NetworkProjection(), ComputeProjection(), ImageProjection()]
    runner = ProjectionRunner(db, store, projections)
    runner.setup()
    bus = CommandBus(store, Dependencies(passwords=NoPasswords()), runner.wait_for, max_attempts=12)
    world = ComputeWorld(store, db, runner, bus, ComputeQueries(db))
    world.host(HOST)
    images_dir = settings.data_dir / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    disks = disks_factory(
        settings.data_dir / "instances",
        images_dir,
        qemu_img.find_qemu_img(),
        seed.find_iso_tool(),
        placeholders=True,
    )
    hv = Hypervisor(TEST_URI)
    options = AgentOptions(
        domain_type="test", host=HOST, step_timeout=step_timeout, shutdown_timeout=2
    )
    extra: dict[str, Any] = {"clock": clock} if clock else {}
    agent = ComputeAgent(
        hv, disks, ImageQueries(db).get, CommandReporter(bus, HOST), options, **extra
    )
    try:
        yield AgentWorld(world, agent, hv, disks, images_dir)
    finally:
        agent.wait_idle()
        # The test driver's state lives as long as the process: leave nothing.
        for domain in hv.domains().values():
            hv.remove(domain)
        agent.close()
        db.close()


def needs_libvirt_python() -> None:
    """Skip locally, fail in CI (as the PostgreSQL and NATS fixtures do)."""
    try:
        import libvirt  # noqa: F401
    except ImportError:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("libvirt-python is not installed in CI", pytrace=False)
        pytest.skip("libvirt-python is not installed (pip install -e '.[libvirt]')")
