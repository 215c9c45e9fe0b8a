"""IPAM as a domain invariant: a subnet's addressing and its allocations."""

from __future__ import annotations

import pytest

from domain.errors import Conflict, InvalidInput
from domain.network.networks import Network
from domain.network.subnets import Subnet


def subnet(cidr: str = "10.0.0.0/29", **overrides: object) -> Subnet:
    plan = Subnet.plan(cidr, None, **overrides)  # type: ignore[arg-type]
    return Subnet(
        network_id="net",
        project_id="p",
        name="",
        description="",
        enable_dhcp=True,
        ipv6_ra_mode=None,
        ipv6_address_mode=None,
        tags=[],
        **plan,
    )


def type_of(error: pytest.ExceptionInfo[BaseException]) -> str:
    return str(getattr(error.value, "type_name", ""))


def test_defaults_keep_network_gateway_and_broadcast_out() -> None:
    plan = Subnet.plan("10.0.0.0/24", 4)
    assert plan["gateway_ip"] == "10.0.0.1"
    assert plan["allocation_pools"] == [{"start": "10.0.0.2", "end": "10.0.0.254"}]
    inside = Subnet.plan("10.0.0.0/24", 4, gateway_ip="10.0.0.100")
    assert inside["allocation_pools"] == [
        {"start": "10.0.0.1", "end": "10.0.0.99"},
        {"start": "10.0.0.101", "end": "10.0.0.254"},
    ]
    assert (
        Subnet.plan("10.0.0.0/24", 4, gateway_ip=None)["allocation_pools"][0]["start"] == "10.0.0.1"
    )
    v6 = Subnet.plan("fd00::/64", 6)
    assert (v6["gateway_ip"], v6["allocation_pools"][0]["start"]) == ("fd00::1", "fd00::2")
    assert v6["allocation_pools"][0]["end"] == "fd00::ffff:ffff:ffff:ffff"


@pytest.mark.parametrize(
    ("cidr", "version", "extra", "kind"),
    [
        ("10.0.0.300/24", 4, {}, "InvalidInput"),
        ("10.0.0.1/24", 4, {}, "InvalidInput"),
        ("fd00::/64", 4, {}, "InvalidInput"),
        ("10.0.0.0/31", 4, {}, "InvalidInput"),
        ("10.0.0.0/24", 4, {"gateway_ip": "10.1.0.1"}, "InvalidIpForSubnet"),
        (
            "10.0.0.0/24",
            4,
            {"allocation_pools": [{"start": "10.0.0.9", "end": "10.0.0.2"}]},
            "InvalidInput",
        ),
        (
            "10.0.0.0/24",
            4,
            {"allocation_pools": [{"start": "10.0.0.1", "end": "10.0.0.5"}]},
            "GatewayConflictWithAllocationPools",
        ),
        (
            "10.0.0.0/24",
            4,
            {
                "allocation_pools": [
                    {"start": "10.0.0.2", "end": "10.0.0.9"},
                    {"start": "10.0.0.5", "end": "10.0.0.20"},
                ]
            },
            "OverlappingAllocationPools",
        ),
        ("10.0.0.0/24", 4, {"dns_nameservers": ["not-an-ip"]}, "InvalidInput"),
        (
            "10.0.0.0/24",
            4,
            {"host_routes": [{"destination": "0.0.0.0/0", "nexthop": "fd00::1"}]},
            "InvalidInput",
        ),
    ],
)
def test_bad_addressing_is_refused(
    cidr: str, version: int, extra: dict[str, object], kind: str
) -> None:
    with pytest.raises(InvalidInput) as error:
        Subnet.plan(cidr, version, **extra)  # type: ignore[arg-type]
    assert type_of(error) == kind


def test_allocation_is_unique_until_exhausted_and_reuses_released() -> None:
    s = subnet()  # .2 to .6 usable
    handed = [s.allocate(f"port-{i}", "compute:nova") for i in range(5)]
    assert handed == ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]
    with pytest.raises(Conflict) as full:
        s.allocate("port-x", "compute:nova")
    assert type_of(full) == "IpAddressGenerationFailure"
    s.release("10.0.0.4", "someone-else")  # only the holder releases
    with pytest.raises(Conflict):
        s.allocate("port-x", "")
    s.release("10.0.0.4", "port-2")
    assert s.allocate("port-x", "") == "10.0.0.4"


def test_explicit_addresses() -> None:
    s = subnet("10.0.0.0/24")
    assert s.allocate("a", "", "10.0.0.77") == "10.0.0.77"
    assert s.allocate("a", "", "10.0.0.77") == "10.0.0.77"  # idempotent for its holder
    with pytest.raises(Conflict) as taken:
        s.allocate("b", "", "10.0.0.77")
    assert type_of(taken) == "IpAddressAlreadyAllocated"
    for bad in ("10.0.1.5", "10.0.0.0", "10.0.0.255", "fd00::5", "nonsense"):
        with pytest.raises(InvalidInput):
            s.allocate("b", "", bad)
    with pytest.raises(InvalidInput):
        s.allocate("b", "", "10.0.0.1")  # the gateway, for a plain port
    assert s.allocate("router", "network:router_interface", "10.0.0.1", gateway=True) == "10.0.0.1"


def test_subnet_in_use_and_replay() -> None:
    s = subnet()
    s.allocate("dhcp", "network:dhcp")
    port_ip = s.allocate("vm", "compute:nova")
    with pytest.raises(Conflict) as busy:
        s.delete()
    assert type_of(busy) == "SubnetInUse"
    events = s.collect_events()
    copy = None
    for event in events:
        copy = event.mutate(copy)
    assert copy is not None and copy.allocations == s.allocations and port_ip in copy.allocations
    s.release(port_ip, "vm")
    s.delete()  # only the DHCP port is left: that does not hold a subnet


def test_overlapping_subnets_on_one_network() -> None:
    import uuid

    net = Network(
        id=uuid.uuid4(),
        project_id="p",
        name="n",
        description="",
        admin_state_up=True,
        shared=False,
        external=False,
        mtu=1450,
        port_security_enabled=True,
        segmentation_id=7,
        tags=[],
    )
    net.add_subnet("a", "10.0.0.0/24")
    net.add_subnet("v6", "fd00::/64")
    with pytest.raises(InvalidInput):
        net.add_subnet("b", "10.0.0.128/25")
    net.add_subnet("c", "10.0.1.0/24")
    assert net.revision_number == 4
    net.remove_subnet("a")
    net.add_subnet("b", "10.0.0.128/25")
