"""Network commands through the bus, on SQLite and PostgreSQL: the write path,
the read models it fills, the agent's reports and the host-state query."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from commands.context import Context
from commands.network.addresses import FixedIp
from commands.network.admin import ChangeTags, SetQuotas
from commands.network.agent import BindPort, ReportPortStatus, ReportRouterStatus
from commands.network.floatingips import CreateFloatingIp, UpdateFloatingIp
from commands.network.networks import (
    CreateNetwork,
    CreateSubnet,
    DeleteNetwork,
    DeleteSubnet,
    UpdateNetwork,
)
from commands.network.ports import CreatePort, DeletePort
from commands.network.routers import (
    AddRouterInterface,
    CreateRouter,
    DeleteRouter,
    Gateway,
    RemoveRouterInterface,
)
from commands.network.security import CreateSecurityGroup, CreateSecurityGroupRule
from domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from domain.network.blocks import AddressBlock, block_id
from domain.network.errors import PreconditionFailed
from projections.network.queries import host_state
from tests.integration.test_network_world import (
    ADMIN,
    ALICE,
    BOB,
    NetWorld,
    make_world,
    settings_for,
)

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NetWorld]:
    yield from make_world(settings_for(request.param, tmp_path, request))


def _net(
    world: NetWorld, cidr: str = "10.0.0.0/24", ctx: Context = ALICE, **kw: Any
) -> tuple[uuid.UUID, uuid.UUID]:
    net = world.run(CreateNetwork(name="n", **kw), ctx)["id"]
    sub = world.run(CreateSubnet(network_id=net, cidr=cidr), ctx)["id"]
    return net, sub


def test_network_subnet_port_documents(world: NetWorld) -> None:
    net, sub = _net(world)
    other, _ = _net(world)
    network = world.doc("networks", net)
    assert network["subnets"] == [str(sub)]
    assert network["revision_number"] == 2  # created, then its subnet added
    assert network["project_id"] == network["tenant_id"] == "p-alice"
    assert (
        network["provider:segmentation_id"]
        != world.doc("networks", other)["provider:segmentation_id"]
    )
    assert network["created_at"].endswith("Z") and network["status"] == "ACTIVE"
    subnet = world.doc("subnets", sub)
    assert subnet["gateway_ip"] == "10.0.0.1"
    assert subnet["allocation_pools"] == [{"start": "10.0.0.2", "end": "10.0.0.254"}]
    first = world.doc("ports", world.run(CreatePort(network_id=net))["id"])
    second = world.doc("ports", world.run(CreatePort(network_id=net))["id"])
    # Each port starts at a random block (so concurrent creations spread) and
    # takes its first free pool address: a fresh /24 has 16 blocks of 16.
    firsts = {"10.0.0.2"} | {f"10.0.0.{16 * k}" for k in range(1, 16)}
    assert first["fixed_ips"][0]["subnet_id"] == str(sub)
    assert first["fixed_ips"][0]["ip_address"] in firsts
    assert second["fixed_ips"][0]["ip_address"] != first["fixed_ips"][0]["ip_address"]
    assert ipaddress.ip_address(second["fixed_ips"][0]["ip_address"]) in ipaddress.ip_network(
        "10.0.0.0/24"
    )
    assert (
        first["mac_address"].startswith("fa:16:3e:")
        and first["mac_address"] != second["mac_address"]
    )
    assert first["status"] == "DOWN" and len(first["security_groups"]) == 1
    group = world.doc("security-groups", first["security_groups"][0])
    assert group["name"] == "default" and len(group["security_group_rules"]) == 4


def test_ipv6_and_explicit_addresses(world: NetWorld) -> None:
    net, v4 = _net(world)
    v6 = world.run(CreateSubnet(network_id=net, cidr="fd00:1::/64", ip_version=6))["id"]
    port = world.doc("ports", world.run(CreatePort(network_id=net))["id"])
    assert {f["subnet_id"] for f in port["fixed_ips"]} == {str(v4), str(v6)}
    (v6_address,) = [f["ip_address"] for f in port["fixed_ips"] if f["subnet_id"] == str(v6)]
    # The first port of a fresh /64 takes the first address of a block in play.
    assert int(ipaddress.ip_address(v6_address)) % 256 == 0 or v6_address == "fd00:1::2"
    assert ipaddress.ip_address(v6_address) in ipaddress.ip_network("fd00:1::/64")
    fixed = [FixedIp(ip_address="10.0.0.50")]
    chosen = world.doc("ports", world.run(CreatePort(network_id=net, fixed_ips=fixed))["id"])
    assert chosen["fixed_ips"] == [{"subnet_id": str(v4), "ip_address": "10.0.0.50"}]
    with pytest.raises(Conflict) as taken:
        world.run(CreatePort(network_id=net, fixed_ips=fixed))
    assert taken.value.type_name == "IpAddressAlreadyAllocated"  # type: ignore[attr-defined]
    with pytest.raises(InvalidInput):
        world.run(
            CreatePort(network_id=net, fixed_ips=[FixedIp(subnet_id=v4, ip_address="10.9.0.5")])
        )


def test_overlap_exhaustion_and_in_use(world: NetWorld) -> None:
    net, sub = _net(world, "10.1.0.0/29")
    with pytest.raises(InvalidInput):
        world.run(CreateSubnet(network_id=net, cidr="10.1.0.0/24"))
    ports = [world.run(CreatePort(network_id=net))["id"] for _ in range(5)]  # .2 - .6
    with pytest.raises(Conflict) as full:
        world.run(CreatePort(network_id=net))
    assert full.value.type_name == "IpAddressGenerationFailure"  # type: ignore[attr-defined]
    with pytest.raises(Conflict):
        world.run(DeleteSubnet(subnet_id=sub))
    world.run(DeletePort(port_id=ports[0]))
    again = world.doc("ports", world.run(CreatePort(network_id=net))["id"])
    assert again["fixed_ips"][0]["ip_address"] == "10.1.0.2"  # released, handed out again
    with pytest.raises(Conflict):
        world.run(DeleteNetwork(network_id=net))
    assert world.queries.get("networks", str(net), None) is not None  # nothing half-done


def test_subnets_are_deleted_once_their_blocks_are_free(world: NetWorld) -> None:
    net, v4 = _net(world, "10.2.0.0/24")
    v6 = world.run(CreateSubnet(network_id=net, cidr="fd00:2::/64", ip_version=6))["id"]
    ports = [world.run(CreatePort(network_id=net))["id"] for _ in range(3)]
    fixed = [FixedIp(subnet_id=v6, ip_address="fd00:2::ffff:0:0:1")]  # far from the others
    far = world.run(CreatePort(network_id=net, fixed_ips=fixed))["id"]
    for subnet in (v4, v6):
        with pytest.raises(Conflict) as busy:
            world.run(DeleteSubnet(subnet_id=subnet))
        assert busy.value.type_name == "SubnetInUse"  # type: ignore[attr-defined]
    for port in [*ports, far]:
        world.run(DeletePort(port_id=port))
    world.run(DeleteSubnet(subnet_id=v4))
    # Every block of the subnet is closed, used or not: an allocation racing
    # the deletion would have collided with it.
    closed = [world.store.get(AddressBlock, block_id(v4, f"10.2.0.{16 * k}")) for k in range(16)]
    assert all(block is not None and block.closed for block in closed)
    with pytest.raises(InvalidInput):
        world.run(CreatePort(network_id=net, fixed_ips=[FixedIp(subnet_id=v4)]))
    world.run(DeleteNetwork(network_id=net))  # takes the IPv6 subnet with it
    assert world.queries.get("subnets", str(v6), None) is None


def test_visibility_revision_and_tags(world: NetWorld) -> None:
    net, _ = _net(world)
    with pytest.raises(NotFound):
        world.run(UpdateNetwork(network_id=net, name="stolen"), BOB)
    with pytest.raises(PreconditionFailed):
        world.run(UpdateNetwork(network_id=net, name="x", expected_revision=1))
    world.run(UpdateNetwork(network_id=net, name="renamed", expected_revision=2))
    world.run(ChangeTags(collection="networks", resource_id=net, add=["b", "a"]))
    doc = world.doc("networks", net)
    assert (doc["name"], doc["tags"], doc["revision_number"]) == ("renamed", ["a", "b"], 4)
    assert world.queries.select("networks", "p-bob") == []
    shared = world.run(CreateNetwork(name="shared", shared=True), ADMIN)["id"]
    assert [d["id"] for d in world.queries.select("networks", "p-bob")] == [str(shared)]


def test_router_gateway_interfaces_and_floating_ips(world: NetWorld) -> None:
    ext, ext_sub = _net(world, "203.0.113.0/24", ADMIN, external=True)
    net, sub = _net(world)
    router = world.run(CreateRouter(name="r", gateway=Gateway(network_id=ext)))["id"]
    doc = world.doc("routers", router)
    assert doc["external_gateway_info"]["enable_snat"] is True
    assert doc["external_gateway_info"]["external_fixed_ips"][0]["subnet_id"] == str(ext_sub)
    body = world.run(AddRouterInterface(router_id=router, subnet_id=sub))
    interface = world.doc("ports", body["port_id"])
    assert interface["fixed_ips"][0]["ip_address"] == "10.0.0.1"
    assert interface["device_owner"] == "network:router_interface"
    with pytest.raises(InvalidInput):
        world.run(AddRouterInterface(router_id=router, subnet_id=sub))
    vm = world.run(CreatePort(network_id=net, device_id="vm-1"))["id"]
    vm_ip = world.doc("ports", vm)["fixed_ips"][0]["ip_address"]
    assert vm_ip != "10.0.0.1"  # the router interface holds the gateway
    fip = world.run(CreateFloatingIp(floating_network_id=ext))["id"]
    world.run(UpdateFloatingIp(floatingip_id=fip, port_id=vm, router_id=router))
    assert world.doc("floatingips", fip)["fixed_ip_address"] == vm_ip
    with pytest.raises(InvalidInput):
        world.run(CreateFloatingIp(floating_network_id=net))
    with pytest.raises(Conflict):
        world.run(DeleteRouter(router_id=router))
    state = host_state(world.db, "host-1", all_routers=True)
    (routed,) = state["routers"]
    assert routed["floating_ips"][0]["fixed_ip"] == vm_ip
    assert routed["interfaces"][0]["ip_address"] == "10.0.0.1"
    assert routed["external_ips"] and routed["enable_snat"]
    world.run(UpdateFloatingIp(floatingip_id=fip, port_id=None))
    world.run(RemoveRouterInterface(router_id=router, subnet_id=sub))
    world.run(DeleteRouter(router_id=router))
    assert world.queries.get("ports", body["port_id"], None) is None


def test_agent_reports_and_host_state(world: NetWorld) -> None:
    net, _ = _net(world)
    with pytest.raises(Forbidden):  # where a port is wired is for admins (Nova) to say
        world.run(CreatePort(network_id=net, binding_host_id="host-1"))
    bound = CreatePort(network_id=net, binding_host_id="host-1", project_id="p-alice")
    port = world.run(bound, ADMIN)["id"]
    world.run(BindPort(port_id=port, host="host-1"), ADMIN)
    doc = world.doc("ports", port)
    assert (doc["status"], doc["binding:host_id"]) == ("ACTIVE", "host-1")
    world.run(ReportPortStatus(port_id=port, status="ERROR", reason="no tap"), ADMIN)
    assert world.doc("ports", port)["status"] == "ERROR"
    router = world.run(CreateRouter(name="r"))["id"]
    world.run(ReportRouterStatus(router_id=router, status="ERROR", reason="ns"), ADMIN)
    assert world.doc("routers", router)["status"] == "ERROR"
    state = host_state(world.db, "host-1")
    assert [n["id"] for n in state["networks"]] == [str(net)]
    assert state["networks"][0]["vni"] > 0 and state["networks"][0]["subnets"]
    assert state["ports"][0]["binding_host"] == "host-1"
    assert state["security_groups"][0]["rules"]
    assert host_state(world.db, "host-2")["networks"] == []


def test_security_group_rules_and_quotas(world: NetWorld) -> None:
    group = world.run(CreateSecurityGroup(name="web"))["id"]
    rule = world.run(
        CreateSecurityGroupRule(
            security_group_id=group,
            direction="ingress",
            protocol="tcp",
            port_range_min=80,
            port_range_max=80,
        )
    )
    assert world.doc("security-group-rules", rule["id"])["port_range_max"] == 80
    with pytest.raises(Conflict):
        world.run(
            CreateSecurityGroupRule(
                security_group_id=group,
                direction="ingress",
                protocol="tcp",
                port_range_min=80,
                port_range_max=80,
            )
        )
    with pytest.raises(InvalidInput):
        world.run(
            CreateSecurityGroupRule(
                security_group_id=group,
                direction="ingress",
                protocol="tcp",
                port_range_min=90,
                port_range_max=80,
            )
        )
    world.run(SetQuotas(project_id="p-alice", limits={"network": 3}), ADMIN)
    assert world.queries.quotas("p-alice")["network"] == 3


def test_replay_gives_the_same_rows(world: NetWorld) -> None:
    test_router_gateway_interfaces_and_floating_ips(world)
    before = {t: world.runner.rows(t) for t in ("net_networks", "net_ports", "net_routers")}
    world.runner.rebuild("network")
    assert {t: world.runner.rows(t) for t in before} == before
