"""IPv6 on a router's interfaces: link-local addresses and advertisements.

Hosts accept router advertisements only from a link-local source, and use
that address as their default route, so every IPv6 interface of a router
gets one (EUI-64 from its MAC, as the kernel would make it). Subnets with an
`ipv6_ra_mode` are then advertised from the router namespace with the flags
their mode asks for (Neutron's radvd does the same).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from infra.net.links import Links
from infra.net.namespaces import iproute
from infra.net.router_adverts import RouterAdvertiser
from workers.network import names
from workers.network.context import Pass
from workers.network.desired import RouterSpec
from workers.network.plugging import ensure_link_local

# ipv6_ra_mode -> dnsmasq range mode (see infra/net/router_adverts.py).
RANGE_MODES = {"slaac": "ra-only", "dhcpv6-stateless": "ra-stateless", "dhcpv6-stateful": "static"}
# Prefix lifetime advertised, and seconds between unsolicited RAs (hosts
# that come up solicit one at once).
LIFETIME = "86400s"
INTERVAL = 30


def _directory(run: Pass, router_id: str) -> Path:
    return run.options.state_dir / "ra" / router_id


def converge(run: Pass, ns: str, router: RouterSpec) -> None:
    spec = run.spec
    ranges: list[str] = []
    params: dict[str, str] = {}  # device -> its --ra-param
    with iproute(ns) as ipr:
        links = Links(ipr)
        for iface in router.interfaces:
            subnet = spec.subnet(iface.subnet_id)
            if subnet is None or subnet.ip_version != 6:
                continue
            device = names.router_interface(iface.port_id)
            port = spec.port(iface.port_id)
            mac = iface.mac_address or (
                port.mac_address if port else names.derived_mac(iface.port_id)
            )
            ensure_link_local(run, links, device, mac, ns)
            mode = RANGE_MODES.get(subnet.ipv6_ra_mode or "")
            if mode is None:
                continue
            net = ipaddress.ip_network(subnet.cidr)
            ranges.append(f"{net.network_address},{mode},{net.prefixlen},{LIFETIME}")
            network = spec.network(subnet.network_id)
            params[device] = f"{device},mtu:{network.mtu if network else 1450},{INTERVAL}"
    server = RouterAdvertiser(_directory(run, router.id), sorted(params.values()))
    if not ranges:
        if server.remove():
            run.report.changed(f"stop router advertisements in {ns}")
        return
    if server.ensure(ns, ",".join(sorted(params)), ranges, "", ""):
        run.report.changed(f"configure router advertisements in {ns}")


def remove_stale(run: Pass) -> None:
    """Stop the advertisers of routers no longer hosted here."""
    wanted = {r.id for r in run.spec.routers}
    root = run.options.state_dir / "ra"
    for directory in root.iterdir() if root.is_dir() else ():
        if directory.name not in wanted and RouterAdvertiser(directory, []).remove():
            run.report.changed(f"stop router advertisements of {directory.name}")
