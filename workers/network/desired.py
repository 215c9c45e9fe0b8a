"""What one host's networking should look like: the network agent's input.

The API side maps its read models into a `HostSpec`; the agent compares it
with the kernel and converges. Everything is a frozen dataclass of plain
strings, ints and tuples so a spec is hashable, comparable and trivially
built by hand in tests — and so the agent never holds a reference into a
read model that could change underneath it.

Conventions (the mapping from read models must follow them):

* `networks` holds every network this host takes part in: those with a
  local port, those of routers hosted here, and external networks.
* `ports` holds *every* port of those networks, local or not: DHCP needs
  all of them for static leases and security groups with a remote group
  need every member's addresses. `PortSpec.binding_host` says which are
  plugged here (it equals `HostSpec.host`).
* `routers` holds the routers this host hosts (legacy centralised routers).
* A network's DHCP server runs here when a port with device_owner
  `network:dhcp` bound to this host exists on it; that port's fixed IPs
  are the server's addresses, one per DHCP-enabled subnet.
* `security_groups` holds every group any listed port refers to, and the
  groups their rules name as remote groups (with `member_ips`).
* `peers` are the VXLAN tunnel endpoints of the other hosts; this host's
  own endpoint is `local_ip`.
"""

from __future__ import annotations

from dataclasses import dataclass

DEVICE_OWNER_DHCP = "network:dhcp"
DEVICE_OWNER_ROUTER_INTERFACE = "network:router_interface"
DEVICE_OWNER_ROUTER_GATEWAY = "network:router_gateway"
DEVICE_OWNER_FLOATING_IP = "network:floatingip"
# Ports owned by the network itself are plugged by the agent into
# namespaces it owns; every other owner (compute:nova, …) brings its own
# tap device, which the agent only attaches and filters.
NETWORK_OWNED_PREFIX = "network:"


@dataclass(frozen=True)
class HostRoute:
    destination: str  # CIDR
    nexthop: str


@dataclass(frozen=True)
class AllocationPool:
    start: str
    end: str


@dataclass(frozen=True)
class FixedIp:
    subnet_id: str
    ip_address: str


@dataclass(frozen=True)
class AddressPair:
    ip_address: str  # an address or a CIDR, as Neutron allows
    mac_address: str | None = None  # None: the port's own MAC


@dataclass(frozen=True)
class SubnetSpec:
    id: str
    network_id: str
    cidr: str
    ip_version: int = 4
    gateway_ip: str | None = None
    enable_dhcp: bool = True
    dns_nameservers: tuple[str, ...] = ()
    host_routes: tuple[HostRoute, ...] = ()
    allocation_pools: tuple[AllocationPool, ...] = ()
    # IPv6 only: what the router advertises (None: it sends no RA for the
    # subnet) and how hosts get addresses (SLAAC: no DHCP range for it).
    ipv6_ra_mode: str | None = None
    ipv6_address_mode: str | None = None


@dataclass(frozen=True)
class NetworkSpec:
    id: str
    # None: a flat network with no tunnel (typically the external network,
    # reached through `physical_interface`).
    vni: int | None
    mtu: int = 1450
    subnets: tuple[SubnetSpec, ...] = ()
    external: bool = False
    # A host link to enslave into the network's bridge (a provider
    # mapping such as "eth1" for the external network), if any.
    physical_interface: str | None = None


@dataclass(frozen=True)
class PortSpec:
    id: str
    network_id: str
    mac_address: str
    fixed_ips: tuple[FixedIp, ...] = ()
    device_owner: str = ""
    device_id: str = ""
    port_security_enabled: bool = True
    security_group_ids: tuple[str, ...] = ()
    allowed_address_pairs: tuple[AddressPair, ...] = ()
    binding_host: str = ""


@dataclass(frozen=True)
class FloatingIpSpec:
    floating_ip: str
    fixed_ip: str
    port_id: str


@dataclass(frozen=True)
class RouterInterfaceSpec:
    port_id: str
    subnet_id: str
    ip_address: str
    mac_address: str | None = None  # None: derived from the port id


@dataclass(frozen=True)
class RouterSpec:
    id: str
    external_network_id: str | None = None
    # Addresses of the gateway port on the external network's subnets.
    external_ips: tuple[FixedIp, ...] = ()
    enable_snat: bool = True
    interfaces: tuple[RouterInterfaceSpec, ...] = ()
    floating_ips: tuple[FloatingIpSpec, ...] = ()
    gateway_port_id: str | None = None
    gateway_mac: str | None = None  # None: derived from the router id
    # Extra routes (Neutron's extraroute), installed in the router namespace.
    routes: tuple[HostRoute, ...] = ()


@dataclass(frozen=True)
class RuleSpec:
    direction: str  # "ingress" | "egress"
    ethertype: str = "IPv4"  # "IPv4" | "IPv6"
    protocol: str | None = None  # None: any; a name ("tcp", "icmp") or a number
    port_range_min: int | None = None
    port_range_max: int | None = None
    remote_ip_prefix: str | None = None
    remote_group_id: str | None = None


@dataclass(frozen=True)
class SecurityGroupSpec:
    id: str
    rules: tuple[RuleSpec, ...] = ()
    # Addresses of every member port cloud-wide, for rules elsewhere naming
    # this group as remote_group_id; members among `HostSpec.ports` count
    # even when left out here.
    member_ips: tuple[str, ...] = ()


@dataclass(frozen=True)
class HostSpec:
    host: str
    local_ip: str  # this host's VXLAN endpoint
    networks: tuple[NetworkSpec, ...] = ()
    ports: tuple[PortSpec, ...] = ()
    routers: tuple[RouterSpec, ...] = ()
    security_groups: tuple[SecurityGroupSpec, ...] = ()
    peers: tuple[str, ...] = ()  # VXLAN endpoints of the other hosts

    def network(self, network_id: str) -> NetworkSpec | None:
        return next((n for n in self.networks if n.id == network_id), None)

    def subnet(self, subnet_id: str) -> SubnetSpec | None:
        return next((s for n in self.networks for s in n.subnets if s.id == subnet_id), None)

    def port(self, port_id: str) -> PortSpec | None:
        return next((p for p in self.ports if p.id == port_id), None)

    def local_ports(self) -> tuple[PortSpec, ...]:
        return tuple(p for p in self.ports if p.binding_host == self.host)
