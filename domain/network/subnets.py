"""A subnet and the addresses handed out from it (IPAM).

The subnet owns its allocations, so "no address is ever handed out twice" is
an invariant of one aggregate: two ports racing for addresses both write the
next version of the same subnet, one commits, the other is retried on the
new state and gets a different address (or IpAddressGenerationFailure).
"""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.network import addressing as ip
from domain.network.base import NetworkResource, check_tags
from domain.network.errors import InUse, Invalid

DHCP_OWNER = "network:dhcp"


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
        self.allocations: dict[str, dict[str, str]] = {}

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
        return super().update(expected_revision, **changes)

    # -- IPAM -------------------------------------------------------------
    class IpAllocated(Aggregate.Event):
        class_version = 1
        ip_address: str
        port_id: str
        device_owner: str

    class IpReleased(Aggregate.Event):
        class_version = 1
        ip_address: str

    def allocate(
        self, port_id: str, device_owner: str, address: str | None = None, gateway: bool = False
    ) -> str:
        """Hand out `address`, or the first free one of the pools.

        Only a router interface (`gateway=True`) may take the gateway address.
        """
        self.require_alive()
        if address is None:
            chosen = next(
                (a for a in ip.addresses(self.allocation_pools) if a not in self.allocations),
                None,
            )
            if chosen is None:
                raise InUse(
                    f"No more IP addresses available on network {self.network_id}.",
                    "IpAddressGenerationFailure",
                )
        else:
            network = ip.parse_cidr(self.cidr, self.ip_version)
            parsed = ip.parse_ip(address)
            ip.check_in_subnet(network, parsed, "IP address")
            chosen = str(parsed)
            if chosen == self.gateway_ip and not gateway and device_owner != DHCP_OWNER:
                raise Invalid(f"IP address {chosen} is the gateway of subnet {self.id}.")
            holder = self.allocations.get(chosen)
            if holder is not None:
                if holder["port_id"] == port_id:
                    return chosen
                raise InUse(
                    f"Unable to complete operation for network {self.network_id}. "
                    f"The IP address {chosen} is in use.",
                    "IpAddressAlreadyAllocated",
                )
        self._allocate(chosen, port_id, device_owner)
        return chosen

    @event(IpAllocated)
    def _allocate(self, ip_address: str, port_id: str, device_owner: str) -> None:
        # In place: copying would make filling a large subnet quadratic.
        self.allocations[ip_address] = {"port_id": port_id, "device_owner": device_owner}

    def release(self, address: str, port_id: str) -> None:
        holder = self.allocations.get(address)
        if holder is not None and holder["port_id"] == port_id:
            self._release(address)

    @event(IpReleased)
    def _release(self, ip_address: str) -> None:
        self.allocations.pop(ip_address, None)

    def delete(self) -> None:
        busy = [a for a in self.allocations.values() if a["device_owner"] != DHCP_OWNER]
        if busy:
            raise InUse(
                f"Unable to complete operation on subnet {self.id}: "
                f"one or more ports have an IP allocation from this subnet.",
                "SubnetInUse",
            )
        super().delete()


def _gateway(network: ip.IPNetwork, requested: Any) -> ip.IPAddress | None:
    if requested is None:
        return None
    if requested == "":
        return ip.first_host(network)
    gateway = ip.parse_ip(requested, "gateway_ip")
    ip.check_in_subnet(network, gateway, "Gateway")
    return gateway
