"""DHCP servers: one `qdhcp-<network>` namespace and dnsmasq per network.

One dnsmasq serves every DHCP-enabled subnet of its network (a tagged
range each) rather than one process per subnet: a DHCP server binds UDP
port 67 on its interface, so two processes on one network's interface
would collide — the reason Neutron runs one per network too.
"""

from __future__ import annotations

from pathlib import Path

from infra.net import namespaces
from infra.net.dnsmasq import Dnsmasq
from infra.net.links import Links
from workers.network import dhcp_config, metadata, names
from workers.network.context import Pass
from workers.network.desired import PortSpec
from workers.network.plugging import (
    ensure_link_local,
    ensure_veth,
    namespace_socket,
    sync_addresses,
)
from workers.network.routers import METADATA_IP
from workers.network.topology import dhcp_ports


def _directory(run: Pass, network_id: str) -> Path:
    return run.options.state_dir / "dhcp" / network_id


def converge(run: Pass) -> None:
    prefix = run.options.namespace_prefix
    wanted: set[str] = set()
    for port in dhcp_ports(run.spec):
        try:
            if _converge_network(run, port):
                wanted.add(port.network_id)
        except Exception as exc:
            wanted.add(port.network_id)  # keep a failing server, do not tear it down
            run.report.failed(port.id, exc)
    for ns in namespaces.list_namespaces():
        network_id = ns.removeprefix(prefix + names.DHCP_NAMESPACE)
        if ns.startswith(prefix + names.DHCP_NAMESPACE) and network_id not in wanted:
            Dnsmasq(_directory(run, network_id)).remove()
            if run.sockets is not None:
                run.sockets.close(ns)  # an open socket would keep it alive
            namespaces.delete_namespace(ns)
            run.report.changed(f"delete namespace {ns}")
    root = run.options.state_dir / "dhcp"
    for directory in root.iterdir() if root.is_dir() else ():
        # A server whose namespace is already gone (deleted by hand).
        if directory.name not in wanted and Dnsmasq(directory).remove():
            run.report.changed(f"stop dnsmasq of {directory.name}")


def _converge_network(run: Pass, port: PortSpec) -> bool:
    """Converge one network's server; False when it should have none."""
    config = dhcp_config.render(run.spec, port)
    if not config.ranges:
        return False
    network = run.spec.network(port.network_id)
    mtu = network.mtu if network else 1450
    ns = names.dhcp_namespace(run.options.namespace_prefix, port.network_id)
    if namespaces.ensure_namespace(ns):
        run.report.changed(f"create namespace {ns}")
    device = names.dhcp_device(port.id)
    ensure_veth(run, names.tap(port.id), device, ns, port.mac_address, mtu)
    with namespace_socket(run, ns) as ipr:
        links = Links(ipr)
        sync_addresses(run, links, device, config.addresses, ns)
        if config.ipv6:  # DHCPv6 replies come from a link-local address
            ensure_link_local(run, links, device, port.mac_address, ns)
        if not links.has_local_route(METADATA_IP):
            # Subnets without a router get the metadata route via this
            # server (option 121), so the address must be local here too.
            links.add_local_route(METADATA_IP)
            run.report.changed(f"add metadata route in {ns}")
    server = Dnsmasq(_directory(run, port.network_id))
    if server.ensure(ns, device, config.ranges, config.hosts, config.opts):
        run.report.changed(f"configure dnsmasq in {ns}")
    if metadata.isolated(run.spec, port.network_id):
        metadata.ensure_proxy(run, ns, "network", port.network_id)
    else:
        metadata.remove_proxy(run, ns)  # a router serves it now
    return True
