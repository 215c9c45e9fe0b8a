"""Placement through the create command: filters (zone, image properties,
same/different host), weighers (spread by default, pack by setting), and
claims given back on delete."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from commands.compute.scheduling import WEIGHER_SETTING
from commands.compute.servers import CreateServer, DeleteServer
from projections.compute.queries import ServerFilter
from tests.integration.test_compute_world import ALICE, ComputeWorld, make_world, settings_for


@pytest.fixture
def world(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ComputeWorld]:
    yield from make_world(settings_for("sqlite", tmp_path, request))


def _boot(world: ComputeWorld, flavor: str, image: str, **fields: Any) -> str:
    command = CreateServer(name="p", image_ref=image, flavor_ref=flavor, **fields)
    return str(world.server(world.run(command)["id"])["host"] or "")


def test_zone_and_image_property_filters(world: ComputeWorld) -> None:
    world.host("x86-a", availability_zone="az1")
    world.host("arm-b", availability_zone="az2", cpu_arch="aarch64")
    flavor = world.flavor()
    arm_image = world.image(hw_architecture="aarch64")
    plain = world.image()
    assert _boot(world, flavor, arm_image) == "arm-b"
    assert _boot(world, flavor, plain, availability_zone="az1") == "x86-a"
    assert _boot(world, flavor, arm_image, availability_zone="az1") == ""  # no valid host
    xen = world.image(hypervisor_type="xen")
    assert _boot(world, flavor, xen) == ""


def test_same_and_different_host_hints(world: ComputeWorld) -> None:
    for name in ("h1", "h2", "h3"):
        world.host(name)
    flavor, image = world.flavor(), world.image()
    first = world.run(CreateServer(name="a", image_ref=image, flavor_ref=flavor))["id"]
    first_host = world.server(first)["host"]
    for _ in range(3):
        assert _boot(world, flavor, image, same_host=[first]) == first_host
        assert _boot(world, flavor, image, different_host=[first]) not in ("", first_host)


def test_spread_by_default_pack_by_setting_and_delete_releases(world: ComputeWorld) -> None:
    world.host("h1", vcpus=4)
    world.host("h2", vcpus=4)
    flavor, image = world.flavor(vcpus=1), world.image()
    spread = [_boot(world, flavor, image) for _ in range(4)]
    assert sorted(spread) == ["h1", "h1", "h2", "h2"]
    world.bus.deps.extras[WEIGHER_SETTING] = "pack"
    try:
        packed = {_boot(world, flavor, image) for _ in range(2)}
    finally:
        world.bus.deps.extras.pop(WEIGHER_SETTING)
    assert len(packed) == 1
    host = packed.pop()
    everyone = ServerFilter(project_id=None)
    victims = [s["id"] for s in world.queries.servers(everyone) if s["host"] == host]
    for server_id in victims:
        world.run(DeleteServer(server_id=server_id), ALICE)
    claims = {h["hostname"]: h["claims"] for h in world.queries.hosts()}
    assert claims[host] == {}


def test_min_and_max_count(world: ComputeWorld) -> None:
    world.host("h1", vcpus=2, cpu_allocation_ratio=1.0)
    flavor, image = world.flavor(vcpus=1), world.image()
    outcome = world.run(
        CreateServer(name="many", image_ref=image, flavor_ref=flavor, min_count=1, max_count=3)
    )
    servers = [world.server(i) for i in outcome["ids"]]
    assert sorted(s["name"] for s in servers) == ["many-1", "many-2", "many-3"]
    assert sorted(s["vm_state"] for s in servers) == ["building", "building", "error"]
    assert len({s["reservation_id"] for s in servers}) == 1
    for server in servers:
        world.run(DeleteServer(server_id=server["id"]), ALICE)
    outcome = world.run(
        CreateServer(name="all", image_ref=image, flavor_ref=flavor, min_count=3, max_count=3)
    )
    assert {world.server(i)["vm_state"] for i in outcome["ids"]} == {"error"}
    assert world.queries.hosts()[0]["claims"] == {}
