"""IPv6 address modes through the bus (SQLite and PostgreSQL): Neutron's
combination rules, and EUI-64 addresses on auto-address subnets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from commands.network.addresses import FixedIp
from commands.network.networks import CreateNetwork, CreateSubnet, UpdateSubnet
from commands.network.ports import CreatePort, UpdatePort
from commands.network.routers import AddRouterInterface, CreateRouter
from domain.errors import InvalidInput
from domain.network.ipv6 import eui64
from tests.integration.test_network_world import NetWorld, make_world, settings_for

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NetWorld]:
    yield from make_world(settings_for(request.param, tmp_path, request))


def test_eui64_matches_the_kernel_rule() -> None:
    # RFC 4291 appendix A: flip the U/L bit, insert ff:fe in the middle.
    assert eui64("2001:db8::/64", "fa:16:3e:12:34:56") == "2001:db8::f816:3eff:fe12:3456"


def test_modes_and_addresses(world: NetWorld) -> None:
    net = world.run(CreateNetwork(name="v6"))["id"]
    v4 = world.run(CreateSubnet(network_id=net, cidr="10.90.0.0/24"))["id"]
    slaac = world.run(
        CreateSubnet(
            network_id=net,
            cidr="fd90:1::/64",
            ip_version=6,
            ipv6_ra_mode="slaac",
            ipv6_address_mode="slaac",
        )
    )["id"]
    stateful = world.run(
        CreateSubnet(
            network_id=net, cidr="fd90:2::/64", ip_version=6, ipv6_address_mode="dhcpv6-stateful"
        )
    )["id"]
    port = world.run(CreatePort(network_id=net))["id"]
    doc = world.doc("ports", port)
    by_subnet = {f["subnet_id"]: f["ip_address"] for f in doc["fixed_ips"]}
    # Neutron's defaults: one IPv4, one stateful IPv6, every SLAAC subnet.
    assert set(by_subnet) == {str(v4), str(slaac), str(stateful)}
    assert by_subnet[str(slaac)] == eui64("fd90:1::/64", doc["mac_address"])
    with pytest.raises(InvalidInput, match="automatic addresses"):
        world.run(
            CreatePort(
                network_id=net, fixed_ips=[FixedIp(subnet_id=slaac, ip_address="fd90:1::99")]
            )
        )
    chosen = world.run(
        CreatePort(
            network_id=net,
            mac_address="fa:16:3e:90:00:01",
            fixed_ips=[FixedIp(subnet_id=slaac)],
        )
    )["id"]
    fixed = world.doc("ports", chosen)["fixed_ips"]
    assert fixed == [{"subnet_id": str(slaac), "ip_address": "fd90:1::f816:3eff:fe90:1"}]
    world.run(UpdatePort(port_id=chosen, fixed_ips=[FixedIp(subnet_id=slaac)]))
    assert world.doc("ports", chosen)["fixed_ips"] == fixed
    # A router interface takes the gateway even on a SLAAC subnet.
    router = world.run(CreateRouter(name="r"))["id"]
    answer = world.run(AddRouterInterface(router_id=router, subnet_id=slaac))
    interface = world.doc("ports", answer["port_id"])
    assert interface["fixed_ips"][0]["ip_address"] == "fd90:1::1"
    with pytest.raises(InvalidInput, match="enable_dhcp"):
        world.run(UpdateSubnet(subnet_id=slaac, enable_dhcp=False))


@pytest.mark.parametrize(
    ("cidr", "ra", "address", "dhcp"),
    [
        ("fd91::/64", "slaac", "dhcpv6-stateless", True),
        ("fd91::/64", "dhcpv6-stateful", "slaac", True),
        ("fd91::/64", "slaac", None, False),
        ("fd91::/96", None, "slaac", True),
        ("fd91::/96", "dhcpv6-stateless", None, True),
        ("10.91.0.0/24", None, "dhcpv6-stateful", True),
        ("fd91::/64", "radvd", None, True),
    ],
)
def test_invalid_mode_combinations(
    world: NetWorld, cidr: str, ra: str | None, address: str | None, dhcp: bool
) -> None:
    net = world.run(CreateNetwork(name="bad-v6"))["id"]
    with pytest.raises(InvalidInput):
        world.run(
            CreateSubnet(
                network_id=net,
                cidr=cidr,
                ipv6_ra_mode=ra,
                ipv6_address_mode=address,
                enable_dhcp=dhcp,
            )
        )
    assert world.doc("networks", net)["subnets"] == []


def test_valid_mode_combinations(world: NetWorld) -> None:
    net = world.run(CreateNetwork(name="good-v6"))["id"]
    combos = [
        ("slaac", None),
        (None, "slaac"),
        ("dhcpv6-stateful", "dhcpv6-stateful"),
        ("dhcpv6-stateless", "dhcpv6-stateless"),
        (None, "dhcpv6-stateful"),
        (None, None),
    ]
    for index, (ra, address) in enumerate(combos):
        sub = world.run(
            CreateSubnet(
                network_id=net,
                cidr=f"fd92:{index + 1}::/64",
                ipv6_ra_mode=ra,
                ipv6_address_mode=address,
            )
        )["id"]
        doc = world.doc("subnets", sub)
        assert (doc["ipv6_ra_mode"], doc["ipv6_address_mode"]) == (ra, address)
