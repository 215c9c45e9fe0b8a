"""Address arithmetic for subnets, all of it through the stdlib `ipaddress`.

Pure functions: they validate what a client asks for and compute Neutron's
defaults (the first address as gateway, every other usable address pooled).
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Iterator
from typing import Any

from domain.network.errors import Invalid

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Pool = dict[str, str]


def parse_cidr(cidr: str, ip_version: int | None) -> IPNetwork:
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError as error:
        raise Invalid(f"'{cidr}' is not a valid IP subnet.") from error
    if str(network) != cidr:
        raise Invalid(f"'{cidr}' isn't a recommended CIDR, use {network} instead.")
    if ip_version is not None and network.version != ip_version:
        raise Invalid(f"Cidr {cidr} does not match the ip_version {ip_version}.")
    if network.num_addresses < 4:
        raise Invalid(f"Subnet {cidr} is too small to hold any address.")
    return network


def parse_ip(text: Any, what: str = "IP address") -> IPAddress:
    try:
        return ipaddress.ip_address(str(text))
    except ValueError as error:
        raise Invalid(f"'{text}' is not a valid {what}.") from error


def first_host(network: IPNetwork) -> IPAddress:
    return network.network_address + 1


def last_host(network: IPNetwork) -> IPAddress:
    # IPv4 keeps its broadcast address out; IPv6 has none.
    return network.broadcast_address - (1 if network.version == 4 else 0)


def check_in_subnet(network: IPNetwork, address: IPAddress, what: str) -> None:
    if address.version != network.version or address not in network:
        raise Invalid(f"{what} {address} is not in subnet {network}.", "InvalidIpForSubnet")
    if address == network.network_address or (
        network.version == 4 and address == network.broadcast_address
    ):
        raise Invalid(f"{what} {address} is the network or broadcast address of {network}.")


def default_pools(network: IPNetwork, gateway: IPAddress | None) -> list[Pool]:
    start, end = first_host(network), last_host(network)
    if gateway is None or not int(start) <= int(gateway) <= int(end):
        return [{"start": str(start), "end": str(end)}]
    pools = []
    if int(gateway) > int(start):
        pools.append({"start": str(start), "end": str(gateway - 1)})
    if int(gateway) < int(end):
        pools.append({"start": str(gateway + 1), "end": str(end)})
    return pools


def check_pools(network: IPNetwork, pools: list[Any], gateway: IPAddress | None) -> list[Pool]:
    ranges: list[tuple[IPAddress, IPAddress]] = []
    for pool in pools:
        if not isinstance(pool, dict) or set(pool) != {"start", "end"}:
            raise Invalid(f"Allocation pool {pool} must have exactly 'start' and 'end'.")
        start, end = parse_ip(pool["start"]), parse_ip(pool["end"])
        check_in_subnet(network, start, "Allocation pool start")
        check_in_subnet(network, end, "Allocation pool end")
        if int(start) > int(end):
            raise Invalid(f"Allocation pool {start}-{end} ends before it starts.")
        if gateway is not None and int(start) <= int(gateway) <= int(end):
            raise Invalid(
                f"Gateway ip {gateway} conflicts with allocation pool {start}-{end}.",
                "GatewayConflictWithAllocationPools",
            )
        ranges.append((start, end))
    ranges.sort(key=lambda pair: int(pair[0]))
    for (_, end), (start, _) in itertools.pairwise(ranges):
        if int(start) <= int(end):
            raise Invalid("Found overlapping allocation pools.", "OverlappingAllocationPools")
    return [{"start": str(s), "end": str(e)} for s, e in ranges]


def check_nameservers(servers: list[Any]) -> list[str]:
    out = [str(parse_ip(s, "nameserver")) for s in servers]
    if len(set(out)) != len(out):
        raise Invalid("Duplicate nameserver in dns_nameservers.")
    return out


def check_host_routes(routes: list[Any], version: int) -> list[dict[str, str]]:
    out = []
    for route in routes:
        if not isinstance(route, dict) or set(route) != {"destination", "nexthop"}:
            raise Invalid(f"Host route {route} must have exactly 'destination' and 'nexthop'.")
        try:
            destination = ipaddress.ip_network(str(route["destination"]))
        except ValueError as error:
            raise Invalid(f"'{route['destination']}' is not a valid destination.") from error
        nexthop = parse_ip(route["nexthop"], "nexthop")
        if destination.version != version or nexthop.version != version:
            raise Invalid(f"Host route {route} does not match the subnet's IP version.")
        out.append({"destination": str(destination), "nexthop": str(nexthop)})
    return out


def addresses(pools: list[Pool]) -> Iterator[str]:
    """Every address of the pools, in order, lazily (IPv6 pools are huge)."""
    for pool in pools:
        current, end = ipaddress.ip_address(pool["start"]), ipaddress.ip_address(pool["end"])
        while int(current) <= int(end):
            yield str(current)
            current += 1
