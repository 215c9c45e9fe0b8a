"""IPAM as a domain invariant: a subnet's addressing, its blocks and their allocations."""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

import pytest

from domain.errors import Conflict, InvalidInput, NotFound
from domain.network.blocks import BATCH, AddressBlock, block_id
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


class Blocks:
    """The unit of work, as far as a subnet's blocks go: get and add by id."""

    def __init__(self) -> None:
        self.saved: dict[uuid.UUID, AddressBlock] = {}

    def get(self, cls: type[AddressBlock], aggregate_id: uuid.UUID) -> AddressBlock | None:
        return self.saved.get(aggregate_id)

    def add(self, aggregate: AddressBlock) -> None:
        self.saved[aggregate.id] = aggregate


def replayed(aggregate: Any) -> Any:
    copy = None
    for event in aggregate.collect_events():
        copy = event.mutate(copy)
    return copy


def test_allocation_is_unique_until_exhausted_and_reuses_released() -> None:
    s, blocks = subnet(), Blocks()  # .2 to .6 usable, one block
    handed = [s.allocate(blocks, f"port-{i}", "compute:nova", pick=i * 7) for i in range(5)]
    assert handed == ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]
    with pytest.raises(Conflict) as full:
        s.allocate(blocks, "port-x", "compute:nova")
    assert type_of(full) == "IpAddressGenerationFailure"
    s.release(blocks, "10.0.0.4", "someone-else")  # only the holder releases
    with pytest.raises(Conflict):
        s.allocate(blocks, "port-x", "")
    s.release(blocks, "10.0.0.4", "port-2")
    assert s.allocate(blocks, "port-x", "") == "10.0.0.4"
    (block,) = blocks.saved.values()
    assert block.id == block_id(s.id, "10.0.0.0") == uuid.uuid5(s.id, "10.0.0.0")
    assert s.reserved_blocks == [] and s.collect_events()[1:] == []  # never written since


def test_explicit_addresses() -> None:
    s, blocks = subnet("10.0.0.0/24"), Blocks()
    assert s.allocate(blocks, "a", "", "10.0.0.77") == "10.0.0.77"
    assert s.allocate(blocks, "a", "", "10.0.0.77") == "10.0.0.77"  # idempotent for its holder
    with pytest.raises(Conflict) as taken:
        s.allocate(blocks, "b", "", "10.0.0.77")
    assert type_of(taken) == "IpAddressAlreadyAllocated"
    for bad in ("10.0.1.5", "10.0.0.0", "10.0.0.255", "fd00::5", "nonsense"):
        with pytest.raises(InvalidInput):
            s.allocate(blocks, "b", "", bad)
    with pytest.raises(InvalidInput):
        s.allocate(blocks, "b", "", "10.0.0.1")  # the gateway, for a plain port
    assert s.allocate(blocks, "r", "network:router_interface", "10.0.0.1", gateway=True) == (
        "10.0.0.1"
    )
    # Each requested address went to the block containing it (blocks of 16).
    assert blocks.saved[block_id(s.id, "10.0.0.64")].allocations["10.0.0.77"]["port_id"] == "a"
    assert blocks.saved[block_id(s.id, "10.0.0.0")].allocations["10.0.0.1"]["port_id"] == "r"
    # An automatic allocation never takes what a fixed IP took.
    everything = {s.allocate(blocks, f"p{i}", "", pick=i) for i in range(252)}
    assert len(everything) == 252 and not everything & {"10.0.0.1", "10.0.0.77"}


def test_subnet_in_use_and_replay() -> None:
    s, blocks = subnet(), Blocks()
    s.allocate(blocks, "dhcp", "network:dhcp")
    port_ip = s.allocate(blocks, "vm", "compute:nova")
    with pytest.raises(Conflict) as busy:
        s.delete(blocks)
    assert type_of(busy) == "SubnetInUse"
    with pytest.raises(TypeError):
        s.delete()  # a caller that forgot the blocks is a bug, not a free pass
    (block,) = blocks.saved.values()
    subnet_copy, block_copy = replayed(s), replayed(block)
    assert subnet_copy.cidr == s.cidr
    assert block_copy.allocations == block.allocations and port_ip in block_copy.allocations
    blocks.saved[block.id] = block_copy
    s.release(blocks, port_ip, "vm")
    s.delete(blocks)  # only the DHCP port is left: it does not hold one
    assert block_copy.closed and s.deleted
    with pytest.raises(NotFound):  # an allocation racing the deletion finds the block closed
        block_copy.take_first(["10.0.0.5"], "late", "")


def test_deleting_a_small_subnet_closes_every_block() -> None:
    """Even the never-used ones: a first allocation racing the deletion would
    create one, and must collide with the deletion instead."""
    s, blocks = subnet("10.0.0.0/24"), Blocks()
    s.release(blocks, s.allocate(blocks, "a", ""), "a")
    s.delete(blocks)
    assert len(blocks.saved) == 16 and all(b.closed for b in blocks.saved.values())
    assert {b.id for b in blocks.saved.values()} == {
        block_id(s.id, f"10.0.0.{16 * k}") for k in range(16)
    }


def test_legacy_allocations_on_the_subnet_still_count() -> None:
    """Logs written before blocks hold IpAllocated/IpReleased on the subnet."""
    old, blocks = subnet(), Blocks()
    old._allocate("10.0.0.2", "old-port", "compute:nova")  # as the old code recorded it
    old._allocate("10.0.0.3", "old-dhcp", "network:dhcp")
    old._release("10.0.0.3")
    s = replayed(old)
    assert s.allocations == {"10.0.0.2": {"port_id": "old-port", "device_owner": "compute:nova"}}
    assert s.allocate(blocks, "new", "") == "10.0.0.3"
    with pytest.raises(Conflict):
        s.allocate(blocks, "other", "", "10.0.0.2")
    with pytest.raises(Conflict) as busy:
        s.delete(blocks)
    assert type_of(busy) == "SubnetInUse"
    s.release(blocks, "10.0.0.2", "old-port")
    assert s.allocations == {}
    s.release(blocks, "10.0.0.3", "new")
    s.delete(blocks)


# -- block math -------------------------------------------------------------


@pytest.mark.parametrize(
    ("cidr", "size", "count", "enumerable"),
    [
        ("10.0.0.0/28", 16, 1, True),
        ("10.0.0.0/24", 16, 16, True),
        ("10.0.0.0/22", 16, 64, True),
        ("10.0.0.0/20", 64, 64, True),
        ("10.0.0.0/18", 256, 64, True),
        ("10.0.0.0/17", 256, 128, False),
        ("fd00::/64", 256, 2**56, False),
    ],
)
def test_block_sizes_are_pinned(cidr: str, size: int, count: int, enumerable: bool) -> None:
    # Part of every block id: a change here re-cuts existing subnets.
    layout = subnet(cidr).layout()
    assert (layout.size, layout.count, layout.enumerable) == (size, count, enumerable)


def test_small_ipv4_subnet_is_one_block() -> None:
    layout = subnet("10.0.0.0/28").layout()
    assert layout.spans == ((0, 0),)
    assert list(layout.addresses(0)) == [f"10.0.0.{i}" for i in range(2, 15)]
    assert [layout.ring(pick) for pick in (0, 5, 99)] == [[0], [0], [0]]


def test_large_ipv4_subnet_blocks() -> None:
    layout = subnet("10.0.0.0/22").layout()
    assert layout.spans == ((0, 63),)
    assert list(layout.addresses(0))[:2] == ["10.0.0.2", "10.0.0.3"]  # network, gateway out
    assert list(layout.addresses(63))[-1] == "10.0.3.254"  # broadcast out
    assert layout.index_of("10.0.1.5") == 16 and layout.start(16) == "10.0.1.0"
    assert sum(len(list(layout.addresses(i))) for i in layout.indices()) == 1021
    # Every block once, from the random start, in index order (wrapping).
    order = layout.ring(64 + 21)
    assert sorted(order) == list(range(64)) and order[:3] == [21, 22, 23]
    assert order[-1] == 20
    starts = {layout.ring(pick)[0] for pick in range(64)}
    assert starts == set(range(64))  # different picks spread over every block


def test_ipv6_blocks_are_lazy_and_the_search_bounded() -> None:
    s, blocks = subnet("fd00::/64"), Blocks()
    layout = s.layout()
    assert layout.spans == ((0, 2**56 - 1),)  # one span, never expanded
    assert layout.ring(3, []) == [] and layout.unreserved({1, 3}, 4) == [0, 2, 4, 5]
    assert layout.index_of("fd00::1:0:0:0") == 2**48 // 256
    s.reserve_first_blocks()  # what CreateSubnet does: the first BATCH blocks
    assert s.reserved_blocks[:2] == ["fd00::", "fd00::100"] and len(s.reserved_blocks) == BATCH
    ring = layout.ring(5, range(BATCH))
    assert ring[:3] == [5, 6, 7] and sorted(ring) == list(range(BATCH))
    s.collect_events()
    assert s.allocate(blocks, "a", "", pick=5) == "fd00::500"  # block 5, of 256
    assert s.collect_events() == []  # allocations in reserved blocks never write the subnet
    far = "fd00::ffff:ffff:ffff:fff0"
    assert s.allocate(blocks, "b", "", far) == far
    assert s.reserved_blocks[-1] == "fd00::ffff:ffff:ffff:ff00"  # a fixed IP's block joins
    assert len(blocks.saved) == 2
    with pytest.raises(Conflict):
        s.delete(blocks)
    for address, port in [h for b in list(blocks.saved.values()) for h in _holders(b)]:
        s.release(blocks, address, port)
    s.delete(blocks)  # every reserved block closed (created closed if never used)
    assert len(blocks.saved) == BATCH + 1 and all(b.closed for b in blocks.saved.values())


def test_a_big_subnet_reserves_the_next_batch_when_its_blocks_are_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("domain.network.subnets.BATCH", 2)  # keeps the filling short
    pools = [{"start": "10.0.0.2", "end": "10.0.2.255"}]  # blocks 0 to 2, of 256
    s, blocks = subnet("10.0.0.0/17", allocation_pools=pools), Blocks()
    s.reserve_first_blocks()
    assert s.reserved_blocks == ["10.0.0.0", "10.0.1.0"]
    s.collect_events()
    handed = {s.allocate(blocks, f"p{i}", "", pick=i) for i in range(510)}
    assert len(handed) == 510 and max(map(ipaddress.ip_address, handed)) == ipaddress.ip_address(
        "10.0.1.255"
    )
    assert s.collect_events() == []  # allocations in reserved blocks never write the subnet
    assert s.allocate(blocks, "next", "", pick=7) == "10.0.2.0"
    (reserved,) = s.collect_events()
    assert isinstance(reserved, Subnet.BlocksReserved) and reserved.starts == ["10.0.2.0"]
    for i in range(255):
        s.allocate(blocks, f"q{i}", "", pick=i)
    with pytest.raises(Conflict) as full:
        s.allocate(blocks, "x", "", pick=3)  # every block walked: exhaustion is exact
    assert type_of(full) == "IpAddressGenerationFailure"


def _holders(block: AddressBlock) -> list[tuple[str, str]]:
    return [(address, a["port_id"]) for address, a in block.allocations.items()]


def test_pools_with_holes_and_gateway_inside() -> None:
    holes = subnet(
        "10.0.0.0/24",
        allocation_pools=[
            {"start": "10.0.0.2", "end": "10.0.0.5"},
            {"start": "10.0.0.8", "end": "10.0.0.10"},
            {"start": "10.0.0.20", "end": "10.0.0.30"},
            {"start": "10.0.0.200", "end": "10.0.0.202"},
        ],
    )
    layout = holes.layout()
    assert layout.spans == ((0, 1), (12, 12))  # blocks 2 to 11 meet no pool
    assert list(layout.addresses(0)) == [f"10.0.0.{i}" for i in (2, 3, 4, 5, 8, 9, 10)]
    assert list(layout.addresses(12)) == ["10.0.0.200", "10.0.0.201", "10.0.0.202"]
    blocks = Blocks()
    handed = {holes.allocate(blocks, f"p{i}", "", pick=i) for i in range(21)}
    assert len(handed) == 21 and "10.0.0.15" not in handed
    with pytest.raises(Conflict):
        holes.allocate(blocks, "x", "", pick=1)
    assert {b.start for b in blocks.saved.values()} == {"10.0.0.0", "10.0.0.16", "10.0.0.192"}
    gateway = subnet("10.0.0.0/25", gateway_ip="10.0.0.100")
    assert "10.0.0.100" not in list(gateway.layout().addresses(6))
    blocks = Blocks()
    handed = {gateway.allocate(blocks, f"p{i}", "", pick=i) for i in range(125)}
    assert len(handed) == 125 and "10.0.0.100" not in handed
    with pytest.raises(Conflict) as full:
        gateway.allocate(blocks, "x", "", pick=0)
    assert type_of(full) == "IpAddressGenerationFailure"


def test_overlapping_subnets_on_one_network() -> None:
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
