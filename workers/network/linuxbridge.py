"""The Linux bridge L2 driver: one bridge per network, VXLAN between hosts.

Each network gets a bridge `brq<id>`; a network with a VNI also gets a
VXLAN device `vxlan-<vni>` on it, which floods broadcast and unknown
unicast to every peer through static all-zero FDB entries (head-end
replication, no multicast underlay needed). Taps of instances, routers and
DHCP servers are attached to their network's bridge.
"""

from __future__ import annotations

from infra.net.links import Link
from workers.network import names
from workers.network.context import Pass
from workers.network.desired import NetworkSpec
from workers.network.topology import plugs


def ensure_networks(run: Pass) -> None:
    for network in run.spec.networks:
        try:
            _ensure_network(run, network)
        except Exception as exc:  # report per network; the others still converge
            run.report.failed(network.id, exc)


def _ensure_network(run: Pass, network: NetworkSpec) -> None:
    host = run.host
    actual = host.all()
    bridge = names.bridge(network.id)
    link = actual.get(bridge)
    if link is not None and link.kind != "bridge":
        host.delete(bridge)
        link = None
    mac = names.derived_mac(bridge)
    if link is None:
        host.add_bridge(bridge, network.mtu, mac)
        run.report.changed(f"create bridge {bridge}")
    else:
        if link.mtu != network.mtu:
            host.set(bridge, mtu=network.mtu)
            run.report.changed(f"set MTU of {bridge}")
        if not link.up or link.mac != mac:
            host.set(bridge, address=mac, state="up")
            run.report.changed(f"set {bridge} up with its address")
    bridge_index = host.all()[bridge].index
    if network.vni is not None:
        _ensure_vxlan(run, network, network.vni, bridge_index)
    if network.physical_interface:
        physical = actual.get(network.physical_interface)
        if physical is None:
            raise LookupError(f"physical interface {network.physical_interface} does not exist")
        if physical.master != bridge_index or not physical.up:
            host.set(physical.name, master=bridge_index, state="up")
            run.report.changed(f"attach {physical.name} to {bridge}")


def _ensure_vxlan(run: Pass, network: NetworkSpec, vni: int, bridge_index: int) -> None:
    host = run.host
    device = names.vxlan(vni)
    link = host.all().get(device)
    if link is not None and (link.kind != "vxlan" or link.local != run.spec.local_ip):
        host.delete(device)  # a VXLAN's endpoint cannot change in place
        link = None
    if link is None:
        host.add_vxlan(device, vni, run.spec.local_ip, network.mtu)
        run.report.changed(f"create {device}")
        link = host.all()[device]
    if link.master != bridge_index or not link.up or link.mtu != network.mtu:
        host.set(device, master=bridge_index, state="up", mtu=network.mtu)
        run.report.changed(f"attach {device} to {names.bridge(network.id)}")
    sync_flood_peers(run, device)


def sync_flood_peers(run: Pass, device: str) -> None:
    host = run.host
    actual_peers = host.flood_peers(device)
    wanted_peers = set(run.spec.peers) - {run.spec.local_ip}
    for peer in sorted(wanted_peers - actual_peers):
        host.add_flood_peer(device, peer)
        run.report.changed(f"flood {device} to {peer}")
    for peer in sorted(actual_peers - wanted_peers):
        host.del_flood_peer(device, peer)
        run.report.changed(f"stop flooding {device} to {peer}")


def attach_ports(run: Pass) -> None:
    host = run.host
    actual = host.all()
    for device, plug in sorted(plugs(run.spec).items()):
        try:
            link = actual.get(device)
            bridge = actual.get(names.bridge(plug.network_id))
            if link is None:
                # An instance tap appears when compute boots the guest; until
                # then the port simply is not up yet. A missing agent-made
                # veth is its router's or DHCP server's failure, reported there.
                if plug.external and plug.port_id:
                    run.report.ports_waiting.add(plug.port_id)
                continue
            if bridge is None:
                raise LookupError(f"network {plug.network_id} has no bridge")
            network = run.spec.network(plug.network_id)
            if link.master != bridge.index or not link.up:
                host.set(device, master=bridge.index, state="up")
                run.report.changed(f"attach {device} to {bridge.name}")
            if network is not None and link.mtu != network.mtu:
                host.set(device, mtu=network.mtu)
                run.report.changed(f"set MTU of {device}")
            if plug.external and plug.port_id:
                run.report.ports_up.add(plug.port_id)
        except Exception as exc:
            run.report.failed(plug.port_id or device, exc)


def remove_stale(run: Pass) -> None:
    host = run.host
    wanted = {names.bridge(n.id) for n in run.spec.networks}
    wanted |= {names.vxlan(n.vni) for n in run.spec.networks if n.vni is not None}
    wanted_plugs = plugs(run.spec)
    actual = host.all()
    our_bridges = {
        link.index for link in actual.values() if link.kind == "bridge" and link.name in wanted
    }
    for link in actual.values():
        try:
            _remove_if_stale(run, link, wanted, set(wanted_plugs), our_bridges)
        except LookupError:
            pass  # gone meanwhile: a deleted namespace takes its veth peers along, later
        except Exception as exc:
            run.report.failed(link.name, exc)


def _remove_if_stale(
    run: Pass, link: Link, wanted: set[str], wanted_plugs: set[str], our_bridges: set[int]
) -> None:
    stale_bridge = link.kind == "bridge" and link.name.startswith(names.BRIDGE)
    stale_vxlan = link.kind == "vxlan" and link.name.startswith(names.VXLAN)
    if (stale_bridge or stale_vxlan) and link.name not in wanted:
        run.host.delete(link.name)
        run.report.changed(f"delete {link.name}")
    elif (
        link.name.startswith(names.TAP)
        and link.master in our_bridges
        and link.name not in wanted_plugs
    ):
        # Not ours to delete (compute owns instance taps): just unplug it so
        # a port that was deleted stops reaching its network.
        run.host.set(link.name, master=0)
        run.report.changed(f"detach {link.name}")
