"""Questions about a HostSpec that several convergers ask."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from workers.network import names
from workers.network.desired import (
    DEVICE_OWNER_DHCP,
    NETWORK_OWNED_PREFIX,
    HostSpec,
    PortSpec,
    RouterSpec,
)


@dataclass(frozen=True)
class Plug:
    """A host-side device that belongs on a network's bridge."""

    device: str
    network_id: str
    port_id: str | None  # the Neutron port it realises, when there is one
    external: bool  # brought by compute (a tap), not created by the agent


def is_instance_port(port: PortSpec) -> bool:
    return not port.device_owner.startswith(NETWORK_OWNED_PREFIX)


def dhcp_ports(spec: HostSpec) -> list[PortSpec]:
    return [p for p in spec.local_ports() if p.device_owner == DEVICE_OWNER_DHCP]


def gateway_id(router: RouterSpec) -> str:
    return router.gateway_port_id or router.id


def plugs(spec: HostSpec) -> dict[str, Plug]:
    """Every device the bridges of this host should carry, by name."""
    found: dict[str, Plug] = {}
    for port in spec.local_ports():
        if is_instance_port(port):
            found[names.tap(port.id)] = Plug(names.tap(port.id), port.network_id, port.id, True)
    for port in dhcp_ports(spec):
        found[names.tap(port.id)] = Plug(names.tap(port.id), port.network_id, port.id, False)
    for router in spec.routers:
        for iface in router.interfaces:
            subnet = spec.subnet(iface.subnet_id)
            if subnet is not None:
                device = names.tap(iface.port_id)
                found[device] = Plug(device, subnet.network_id, iface.port_id, False)
        if router.external_network_id:
            device = names.tap(gateway_id(router))
            found[device] = Plug(device, router.external_network_id, router.gateway_port_id, False)
    return found


def with_prefix(spec: HostSpec, subnet_id: str, ip: str) -> str:
    """`ip` as an interface address ("ip/prefixlen") in its subnet."""
    subnet = spec.subnet(subnet_id)
    if subnet is None:
        raise LookupError(f"subnet {subnet_id} is not in the host spec")
    prefixlen = ipaddress.ip_network(subnet.cidr).prefixlen
    return f"{ip}/{prefixlen}"
