"""A subnet: its addressing, and where its addresses are handed out (IPAM).

The subnet validates a request for an address (inside the subnet, not the
gateway for a plain port) and decides which allocation blocks to try; the
blocks (domain/network/blocks.py) hold the allocations, so "no address is ever
handed out twice" is an invariant of the block that owns the address, while
ports taking addresses from different blocks of one subnet never collide.

Deleting the subnet loads its blocks and refuses while a port (other than a
DHCP server) holds an address. A small subnet's blocks are all computable; a
big one (IPv6) records which blocks allocations may use, a batch at a time,
so it is written once per batch of blocks, never once per port.
Allocations recorded on the subnet itself (`IpAllocated`/`IpReleased`, how
IPAM worked before blocks) still load and still count as taken.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from eventsourcing.domain import Aggregate, event

from domain.network import addressing as ip
from domain.network.base import NetworkResource, check_tags
from domain.network.blocks import BATCH, DHCP_OWNER, PROBES, AddressBlock, BlockLayout, block_id
from domain.network.errors import InUse, Invalid

__all__ = ["DHCP_OWNER", "Blocks", "Subnet"]


class Blocks(Protocol):
    """Where a subnet finds and puts its blocks (a command's unit of work)."""

    def get(self, cls: type[AddressBlock], aggregate_id: uuid.UUID) -> AddressBlock | None: ...

    def add(self, aggregate: AddressBlock) -> None: ...


class Subnet(NetworkResource):
    class Created(Aggregate.Created):
        class_version = 1
        network_id: str
        project_id: str
        name: str
        description: str
        cidr: str
        ip_version: int
        gateway_ip: str | None
        allocation_pools: list[dict[str, str]]
        dns_nameservers: list[str]
        host_routes: list[dict[str, str]]
        enable_dhcp: bool
        ipv6_ra_mode: str | None
        ipv6_address_mode: str | None
        tags: list[str]

    @event(Created)
    def __init__(
        self,
        network_id: str,
        project_id: str,
        name: str,
        description: str,
        cidr: str,
        ip_version: int,
        gateway_ip: str | None,
        allocation_pools: list[dict[str, str]],
        dns_nameservers: list[str],
        host_routes: list[dict[str, str]],
        enable_dhcp: bool,
        ipv6_ra_mode: str | None,
        ipv6_address_mode: str | None,
        tags: list[str],
    ) -> None:
        self.network_id = network_id
        self.project_id = project_id
        self.name = name
        self.description = description
        self.cidr = cidr
        self.ip_version = ip_version
        self.gateway_ip = gateway_ip
        self.allocation_pools = allocation_pools
        self.dns_nameservers = dns_nameservers
        self.host_routes = host_routes
        self.enable_dhcp = enable_dhcp
        self.ipv6_ra_mode = ipv6_ra_mode
        self.ipv6_address_mode = ipv6_address_mode
        self.tags = check_tags(tags)
        # Allocations recorded on the subnet before blocks existed (legacy).
        self.allocations: dict[str, dict[str, str]] = {}
        # Starts of the blocks allocations may use, recorded only by subnets
        # too big to load all their blocks (see BlockLayout.enumerable).
        self.reserved_blocks: list[str] = []

    @staticmethod
    def plan(
        cidr: str,
        ip_version: int | None,
        gateway_ip: Any = "",
        allocation_pools: list[Any] | None = None,
        dns_nameservers: list[Any] | None = None,
        host_routes: list[Any] | None = None,
    ) -> dict[str, Any]:
        """Validated addressing for a new subnet, Neutron's defaults filled in.

        `gateway_ip` "" means "choose one", None means "no gateway".
        """
        network = ip.parse_cidr(cidr, ip_version)
        gateway = _gateway(network, gateway_ip)
        pools = (
            ip.check_pools(network, allocation_pools, gateway)
            if allocation_pools
            else ip.default_pools(network, gateway)
        )
        return {
            "cidr": str(network),
            "ip_version": network.version,
            "gateway_ip": str(gateway) if gateway is not None else None,
            "allocation_pools": pools,
            "dns_nameservers": ip.check_nameservers(dns_nameservers or []),
            "host_routes": ip.check_host_routes(host_routes or [], network.version),
        }

    def update(self, expected_revision: int | None = None, **changes: Any) -> dict[str, Any]:
        network = ip.parse_cidr(self.cidr, self.ip_version)
        gateway = ip.parse_ip(self.gateway_ip) if self.gateway_ip else None
        if "gateway_ip" in changes:
            gateway = _gateway(network, changes["gateway_ip"])
            changes["gateway_ip"] = str(gateway) if gateway is not None else None
        if "allocation_pools" in changes or "gateway_ip" in changes:
            pools = changes.get("allocation_pools", self.allocation_pools)
            changes["allocation_pools"] = ip.check_pools(network, pools, gateway)
        if "dns_nameservers" in changes:
            changes["dns_nameservers"] = ip.check_nameservers(changes["dns_nameservers"])
        if "host_routes" in changes:
            changes["host_routes"] = ip.check_host_routes(changes["host_routes"], network.version)
        if changes.get("enable_dhcp") is False and (self.ipv6_ra_mode or self.ipv6_address_mode):
            raise Invalid("Cannot disable enable_dhcp with ipv6 attributes set.")
        return super().update(expected_revision, **changes)

    # -- IPAM -------------------------------------------------------------
    class IpAllocated(Aggregate.Event):
        """Legacy: an allocation held by the subnet itself (before blocks)."""

        class_version = 1
        ip_address: str
        port_id: str
        device_owner: str

    class IpReleased(Aggregate.Event):
        """Legacy: the release of an allocation held by the subnet itself."""

        class_version = 1
        ip_address: str

    class BlocksReserved(Aggregate.Event):
        class_version = 1
        starts: list[str]
        size: int

    def layout(self) -> BlockLayout:
        return BlockLayout.of(self.cidr, self.allocation_pools)

    def reserve_first_blocks(self) -> None:
        """At creation: a big subnet's first batch, so that its first
        allocations (concurrent, likely) need not write it."""
        layout = self.layout()
        if not layout.enumerable and not self.reserved_blocks:
            self._reserve(layout, layout.unreserved(set(), BATCH))

    def _reserved(self, layout: BlockLayout) -> set[int]:
        return {layout.index_of(start) for start in self.reserved_blocks}

    def _reserve(self, layout: BlockLayout, indices: list[int]) -> None:
        if indices:
            self._blocks_reserved([layout.start(i) for i in indices], layout.size)

    @event(BlocksReserved)
    def _blocks_reserved(self, starts: list[str], size: int) -> None:
        self.reserved_blocks.extend(starts)

    def allocate(
        self,
        blocks: Blocks,
        port_id: str,
        device_owner: str,
        address: str | None = None,
        gateway: bool = False,
        pick: int = 0,
    ) -> str:
        """Hand out `address`, or a free address of the pools.

        Without an address, blocks are tried from a random one (`pick`, drawn
        by the caller) on, so that concurrent creations use different blocks:
        first PROBES of them; then, in a big subnet, the next batch of blocks
        (which have room); then the rest, so the subnet is called full only
        when every block in play is. Only a router interface (`gateway=True`)
        or a DHCP port may take the gateway address. The block that took the
        address is put into `blocks`, the one aggregate to save with the port.
        """
        self.require_alive()
        layout = self.layout()
        if address is not None:
            chosen = self._check_fixed(address, device_owner, gateway)
            legacy = self.allocations.get(chosen)
            if legacy is not None:
                if legacy["port_id"] == port_id:
                    return chosen
                raise self._in_use(chosen)
            block = self._block(blocks, layout, layout.index_of(chosen))
            if not block.take(chosen, port_id, device_owner):
                raise self._in_use(chosen)
            self._keep(blocks, layout, block)
            return chosen
        reserved = None if layout.enumerable else self._reserved(layout)
        ring = layout.ring(pick, reserved)
        for index in ring[:PROBES]:
            taken = self._take_from(blocks, layout, index, port_id, device_owner)
            if taken is not None:
                return taken
        if reserved is not None:
            # The reserved blocks probed were full: let the next batch in
            # (never used, so they have room) rather than walk on.
            batch = layout.unreserved(reserved, BATCH)
            self._reserve(layout, batch)
            for index in batch:
                taken = self._take_from(blocks, layout, index, port_id, device_owner)
                if taken is not None:
                    return taken
        for index in ring[PROBES:]:
            taken = self._take_from(blocks, layout, index, port_id, device_owner)
            if taken is not None:
                return taken
        raise InUse(
            f"No more IP addresses available on network {self.network_id}.",
            "IpAddressGenerationFailure",
        )

    def _check_fixed(self, address: str, device_owner: str, gateway: bool) -> str:
        network = ip.parse_cidr(self.cidr, self.ip_version)
        parsed = ip.parse_ip(address)
        ip.check_in_subnet(network, parsed, "IP address")
        chosen = str(parsed)
        if chosen == self.gateway_ip and not gateway and device_owner != DHCP_OWNER:
            raise Invalid(f"IP address {chosen} is the gateway of subnet {self.id}.")
        return chosen

    def _in_use(self, address: str) -> InUse:
        return InUse(
            f"Unable to complete operation for network {self.network_id}. "
            f"The IP address {address} is in use.",
            "IpAddressAlreadyAllocated",
        )

    def _block(self, blocks: Blocks, layout: BlockLayout, index: int) -> AddressBlock:
        start = layout.start(index)
        # A big subnet knows its blocks: an unreserved one is not looked up.
        if layout.enumerable or start in self.reserved_blocks:
            found = blocks.get(AddressBlock, block_id(self.id, start))
            if found is not None:
                return found
        # Never used yet: create it at version 1. A concurrent creator of the
        # same block collides on the primary key and one of the two is retried.
        return AddressBlock(subnet_id=str(self.id), start=start, size=layout.size)

    def _take_from(
        self, blocks: Blocks, layout: BlockLayout, index: int, port_id: str, device_owner: str
    ) -> str | None:
        block = self._block(blocks, layout, index)
        taken = block.take_first(layout.addresses(index), port_id, device_owner, self.allocations)
        if taken is not None:
            self._keep(blocks, layout, block)
        return taken

    def _keep(self, blocks: Blocks, layout: BlockLayout, block: AddressBlock) -> None:
        blocks.add(block)
        if not layout.enumerable and block.start not in self.reserved_blocks:
            # A fixed IP outside the reserved blocks (IPv6, big IPv4 subnets).
            self._blocks_reserved([block.start], layout.size)

    @event(IpAllocated)
    def _allocate(self, ip_address: str, port_id: str, device_owner: str) -> None:
        self.allocations[ip_address] = {"port_id": port_id, "device_owner": device_owner}

    def release(self, blocks: Blocks, address: str, port_id: str) -> None:
        """Give back `address` if `port_id` holds it (in its block, or legacy)."""
        holder = self.allocations.get(address)
        if holder is not None:
            if holder["port_id"] == port_id:
                self._release(address)
            return
        layout = self.layout()
        start = layout.start(layout.index_of(address))
        if not layout.enumerable and start not in self.reserved_blocks:
            return
        block = blocks.get(AddressBlock, block_id(self.id, start))
        if block is not None and block.holds(address, port_id):
            block.release(address, port_id)
            blocks.add(block)

    @event(IpReleased)
    def _release(self, ip_address: str) -> None:
        self.allocations.pop(ip_address, None)

    def delete(self, blocks: Blocks | None = None) -> None:
        """Delete unless a port other than a DHCP server holds an address.

        Every block of the subnet is closed, so an allocation racing this
        deletion writes the same aggregate and one of the two is retried: each
        block in play (all of an enumerable subnet's, a big subnet's reserved
        ones) is loaded, and those never used are created closed, for a
        concurrent first allocation to collide with.
        """
        if blocks is None:  # a caller's bug, never a user's
            raise TypeError("Subnet.delete needs its blocks (a unit of work).")
        self.require_alive()
        layout = self.layout()
        starts = list(layout.every_start() if layout.enumerable else self.reserved_blocks)
        found = {start: blocks.get(AddressBlock, block_id(self.id, start)) for start in starts}
        legacy = [a for a in self.allocations.values() if a["device_owner"] != DHCP_OWNER]
        if legacy or any(b is not None and b.in_use() for b in found.values()):
            raise InUse(
                f"Unable to complete operation on subnet {self.id}: "
                f"one or more ports have an IP allocation from this subnet.",
                "SubnetInUse",
            )
        for start, existing in found.items():
            block = (
                existing
                if existing is not None
                else AddressBlock(subnet_id=str(self.id), start=start, size=layout.size)
            )
            block.close()
            blocks.add(block)
        super().delete()


def _gateway(network: ip.IPNetwork, requested: Any) -> ip.IPAddress | None:
    if requested is None:
        return None
    if requested == "":
        return ip.first_host(network)
    gateway = ip.parse_ip(requested, "gateway_ip")
    ip.check_in_subnet(network, gateway, "Gateway")
    return gateway
