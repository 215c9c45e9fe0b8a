"""dnsmasq configuration for one network: ranges, static leases, options.

Only static leases are served (`static` ranges): an address is handed to a
MAC only when a port holds it, so DHCP can never give out an address IPAM
did not allocate.

IPv6 follows Neutron's dnsmasq driver: SLAAC subnets get no range (hosts
make their own address from the router's advertisements), DHCPv6-stateless
ones a range for options only (their leases carry no address), stateful
ones and subnets without modes a static range with an address per port.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from workers.network.desired import (
    DEVICE_OWNER_DHCP,
    DEVICE_OWNER_ROUTER_INTERFACE,
    HostSpec,
    PortSpec,
    SubnetSpec,
)

LEASE_TIME = "86400s"
STATELESS = "dhcpv6-stateless"
STATIC_V6 = ("dhcpv6-stateful", STATELESS)
METADATA_ROUTE = "169.254.169.254/32"


@dataclass(frozen=True)
class DhcpConfig:
    ranges: list[str]
    hosts: str
    opts: str
    addresses: set[str]  # of the DHCP port, "ip/prefixlen"
    ipv6: bool = False  # some served subnet is IPv6: the server needs a link-local address


def _tag(index: int) -> str:
    return f"subnet{index}"


def render(spec: HostSpec, dhcp_port: PortSpec) -> DhcpConfig:
    network = spec.network(dhcp_port.network_id)
    if network is None:
        raise LookupError(f"network {dhcp_port.network_id} is not in the host spec")
    own_ips = {f.subnet_id: f.ip_address for f in dhcp_port.fixed_ips}
    served = [s for s in network.subnets if s.enable_dhcp and s.id in own_ips and _dhcp(s)]
    ranges: list[str] = []
    opts: list[str] = []
    addresses: set[str] = set()
    for index, subnet in enumerate(served):
        net = ipaddress.ip_network(subnet.cidr)
        tag = _tag(index)
        addresses.add(f"{own_ips[subnet.id]}/{net.prefixlen}")
        if subnet.ip_version == 4:
            ranges.append(f"set:{tag},{net.network_address},static,{net.netmask},{LEASE_TIME}")
            via_dhcp = subnet.id in metadata_via_dhcp(spec, network.id)
            opts += _v4_options(tag, subnet, own_ips[subnet.id], via_dhcp)
        else:
            ranges.append(f"set:{tag},{net.network_address},static,{net.prefixlen},{LEASE_TIME}")
            if subnet.dns_nameservers:
                opts.append(
                    f"tag:{tag},option6:dns-server,"
                    + ",".join(f"[{dns}]" for dns in subnet.dns_nameservers)
                )
    hosts = [
        line
        for port in sorted(spec.ports, key=lambda p: p.id)
        if port.network_id == network.id and port.device_owner != DEVICE_OWNER_DHCP
        if (line := _host_line(port, served))
    ]
    return DhcpConfig(
        ranges,
        "".join(f"{h}\n" for h in hosts),
        "".join(f"{o}\n" for o in opts),
        addresses,
        any(s.ip_version == 6 for s in served),
    )


def _dhcp(subnet: SubnetSpec) -> bool:
    """Whether the subnet's hosts ask DHCP anything (SLAAC-only ones do not)."""
    if subnet.ip_version == 4:
        return True
    address_mode, ra_mode = subnet.ipv6_address_mode, subnet.ipv6_ra_mode
    return address_mode in STATIC_V6 or (address_mode is None and ra_mode is None)


def metadata_via_dhcp(spec: HostSpec, network_id: str) -> set[str]:
    """The network's IPv4 subnets whose instances reach 169.254.169.254
    through the DHCP port (Neutron's isolated metadata): those without a
    gateway, or with no router interface on them — a gateway address alone
    may be nobody. The others reach it through their router."""
    network = spec.network(network_id)
    routed = {
        fixed.subnet_id
        for port in spec.ports
        if port.network_id == network_id and port.device_owner == DEVICE_OWNER_ROUTER_INTERFACE
        for fixed in port.fixed_ips
    }
    return {
        s.id
        for s in (network.subnets if network else ())
        if s.ip_version == 4 and (not s.gateway_ip or s.id not in routed)
    }


def _v4_options(tag: str, subnet: SubnetSpec, own_ip: str, via_dhcp: bool) -> list[str]:
    opts: list[str] = []
    # Classless static routes (option 121) replace option 3 in clients that
    # understand them, so the default route is repeated inside them.
    routes = [METADATA_ROUTE, own_ip if via_dhcp or not subnet.gateway_ip else subnet.gateway_ip]
    for route in subnet.host_routes:
        routes += [route.destination, route.nexthop]
    if subnet.gateway_ip:
        opts.append(f"tag:{tag},option:router,{subnet.gateway_ip}")
        routes += ["0.0.0.0/0", subnet.gateway_ip]
    else:
        opts.append(f"tag:{tag},option:router")  # no gateway: send none
    opts.append(f"tag:{tag},option:classless-static-route," + ",".join(routes))
    if subnet.dns_nameservers:
        opts.append(f"tag:{tag},option:dns-server," + ",".join(subnet.dns_nameservers))
    return opts


def _host_line(port: PortSpec, served: list[SubnetSpec]) -> str:
    # A stateless subnet's hosts take only options from DHCP, no address.
    served_ids = {s.id: s.ip_version for s in served if s.ipv6_address_mode != STATELESS}
    v4 = [f.ip_address for f in port.fixed_ips if served_ids.get(f.subnet_id) == 4]
    v6 = [f"[{f.ip_address}]" for f in port.fixed_ips if served_ids.get(f.subnet_id) == 6]
    if not v4 and not v6:
        return ""
    # dnsmasq takes one address per family in a hosts line.
    first = (v4 or v6)[0].strip("[]")
    hostname = "host-" + first.replace(".", "-").replace(":", "-")
    return ",".join([port.mac_address.lower(), hostname, *v4[:1], *v6[:1]])
