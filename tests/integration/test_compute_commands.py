"""Compute commands through the bus, on SQLite and PostgreSQL: a boot saves the
server, its ports and its host claim together; agent reports move its state;
delete gives everything back; bad requests leave nothing behind."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from commands.compute.agent import (
    RecordConsoleOutput,
    ReportPowerState,
    ReportServerActive,
    ReportServerStopped,
)
from commands.compute.keypairs import CreateKeyPair
from commands.compute.networking import NetworkRequest
from commands.compute.servers import CreateServer, DeleteServer, ServerAction, UpdateServer
from commands.context import SYSTEM_CONTEXT
from domain.compute.placement import NO_VALID_HOST
from domain.errors import Conflict, InvalidInput
from projections.compute.host_state import compute_host_state
from projections.compute.projection import ComputeProjection
from projections.network.queries import NetworkQueries
from tests.integration.test_compute_world import (
    ALICE,
    BOB,
    ComputeWorld,
    ed25519_public_key,
    make_world,
    settings_for,
)

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ComputeWorld]:
    yield from make_world(settings_for(request.param, tmp_path, request))


def _events(world: ComputeWorld) -> int:
    return world.store.max_notification_id()


def test_boot_saves_server_ports_and_claim_in_one_transaction(world: ComputeWorld) -> None:
    world.host("node-1")
    flavor, image, net = world.flavor(), world.image(), world.network()
    world.run(CreateKeyPair(name="k", public_key=ed25519_public_key()), ALICE)
    outcome = world.bus.dispatch(
        CreateServer(
            name="web",
            image_ref=image,
            flavor_ref=flavor,
            networks=[NetworkRequest(network_id=net)],
            key_name="k",
            user_data=base64.b64encode(b"#!/bin/sh\necho hi").decode(),
            metadata={"role": "web"},
        ),
        ALICE,
    )
    # server, port, subnet allocation, MAC claim, default group, host claim: one commit
    positions = outcome.notification_ids
    assert len(positions) >= 5 and positions == list(range(positions[0], positions[-1] + 1))
    server = world.server(outcome.outcome["id"])
    assert (server["vm_state"], server["task_state"], server["host"]) == (
        "building",
        "spawning",
        "node-1",
    )
    ports = NetworkQueries(world.db).select("ports", None, {"device_id": [server["id"]]})
    assert len(ports) == 1 and ports[0]["binding:host_id"] == "node-1"
    assert ports[0]["device_owner"] == "compute:nova"
    state = compute_host_state(world.db, "node-1")
    (desired,) = state["servers"]
    assert desired["ports"][0]["mac_address"] == ports[0]["mac_address"]
    assert desired["key_data"].startswith("ssh-ed25519") and desired["desired_power"] == "running"
    assert world.queries.hosts()[0]["claims"][server["id"]] == {
        "vcpus": 1,
        "memory_mb": 512,
        "disk_gb": 1,
    }

    world.run(ReportServerActive(server_id=server["id"], hostname="node-1"), SYSTEM_CONTEXT)
    assert world.server(server["id"])["vm_state"] == "active"
    assert world.server(server["id"])["launched_at"]
    world.run(ServerAction(server_id=server["id"], action="stop"), ALICE)
    assert compute_host_state(world.db, "node-1")["servers"][0]["desired_power"] == "stopped"
    world.run(ReportServerStopped(server_id=server["id"]), SYSTEM_CONTEXT)
    assert world.server(server["id"])["vm_state"] == "stopped"
    with pytest.raises(Conflict, match="while it is in vm_state stopped"):
        world.run(ServerAction(server_id=server["id"], action="stop"), ALICE)
    world.run(ServerAction(server_id=server["id"], action="start"), ALICE)
    world.run(ReportPowerState(server_id=server["id"], power_state=1), SYSTEM_CONTEXT)
    world.run(ReportServerActive(server_id=server["id"], hostname="node-1"), SYSTEM_CONTEXT)
    world.run(RecordConsoleOutput(server_id=server["id"], output="login:"), SYSTEM_CONTEXT)
    assert world.queries.console(server["id"]) == "login:"
    world.run(UpdateServer(server_id=server["id"], name="web-2"), ALICE)
    actions = [a["action"] for a in world.queries.actions(server["id"])]
    assert sorted(actions) == ["create", "start", "stop"]

    world.run(DeleteServer(server_id=server["id"]), ALICE)
    assert world.server(server["id"])["deleted"]
    assert NetworkQueries(world.db).select("ports", None, {"device_id": [server["id"]]}) == []
    assert world.queries.hosts()[0]["claims"] == {}
    assert compute_host_state(world.db, "node-1")["servers"] == []


def test_no_valid_host_is_an_error_with_a_fault_and_no_ports(world: ComputeWorld) -> None:
    world.host("small", vcpus=1, memory_mb=256)
    flavor, image, net = world.flavor(), world.image(), world.network()
    server_id = world.run(
        CreateServer(
            name="big",
            image_ref=image,
            flavor_ref=flavor,
            networks=[NetworkRequest(network_id=net)],
        )
    )["id"]
    server = world.server(server_id)
    assert server["vm_state"] == "error"
    assert server["body"]["fault"]["message"] == NO_VALID_HOST
    assert NetworkQueries(world.db).select("ports", None, {"device_id": [str(server_id)]}) == []


def test_bad_requests_write_nothing(world: ComputeWorld) -> None:
    world.host()
    flavor, net = world.flavor(disk=1), world.network()
    image = world.image(size=2 * 1024**3)
    bob_net = world.network(BOB, "10.9.0.0/24")
    small = world.image()
    cases = [
        (dict(image_ref=small, flavor_ref="nope"), "Flavor nope could not be found."),
        (dict(image_ref="0" * 32, flavor_ref=flavor), "could not be found"),
        (dict(image_ref=image, flavor_ref=flavor), "Flavor's disk is too small"),
        (dict(image_ref=small, flavor_ref=flavor, key_name="nokey"), "Invalid key_name"),
        (dict(image_ref=small, flavor_ref=flavor, user_data="!!"), "valid base 64"),
        (
            dict(image_ref=small, flavor_ref=flavor, networks=[NetworkRequest(network_id=bob_net)]),
            f"Network {bob_net} could not be found.",
        ),
        (dict(image_ref=small, flavor_ref=flavor, availability_zone="mars"), "availability zone"),
    ]
    before = _events(world)
    for fields, message in cases:
        with pytest.raises(InvalidInput, match=message):
            world.run(CreateServer(name="x", **fields))  # type: ignore[arg-type]
    assert _events(world) == before
    assert net


def test_the_read_model_rebuilds_to_the_same_rows(world: ComputeWorld) -> None:
    world.host("node-1")
    flavor, image, net = world.flavor(), world.image(), world.network()
    server_id = world.run(
        CreateServer(
            name="r", image_ref=image, flavor_ref=flavor, networks=[NetworkRequest(network_id=net)]
        )
    )["id"]
    world.run(ReportServerActive(server_id=server_id, hostname="node-1"), SYSTEM_CONTEXT)
    world.run(ServerAction(server_id=server_id, action="reboot", hard=True), ALICE)
    world.run(CreateKeyPair(name="k", public_key=ed25519_public_key()), ALICE)
    tables = [t.name for t in ComputeProjection.tables]
    before = {t: world.runner.rows(t) for t in tables}
    world.runner.rebuild("compute")
    assert {t: world.runner.rows(t) for t in tables} == before
