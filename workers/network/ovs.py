"""The Open vSwitch L2 driver (userspace datapath): one OVS bridge per network.

Same names and same job as the Linux bridge driver; the VXLAN device is
still a kernel VXLAN link, added to the OVS bridge as an ordinary port,
because OVS's own userspace tunnelling needs the underlay address on an
OVS bridge, which would take over the host's uplink.

Instance taps do not join the OVS bridge themselves: each reaches it
through a Linux bridge of its own, where security groups are enforced
(see hybrid). Router and DHCP veths, which are never filtered, join directly.
"""

from __future__ import annotations

from infra.net.ovs import OvsCtl
from workers.network import hybrid, linuxbridge, names
from workers.network.context import Pass
from workers.network.topology import plugs


def _ctl(run: Pass) -> OvsCtl:
    return OvsCtl(db=run.options.ovs_db, namespace=run.options.host_netns)


def _wanted_ports(run: Pass, switch_ports: dict[str, str]) -> dict[str, set[str]]:
    """bridge -> ports it should carry, for the devices that exist.

    `switch_ports`: port id -> the OVS port of each instance tap on its bridge.
    """
    existing = set(run.host.all())
    wanted: dict[str, set[str]] = {names.bridge(n.id): set() for n in run.spec.networks}
    for network in run.spec.networks:
        ports = wanted[names.bridge(network.id)]
        if network.vni is not None:
            ports.add(names.vxlan(network.vni))
        if network.physical_interface:
            ports.add(network.physical_interface)
    for device, plug in plugs(run.spec).items():
        bridge = names.bridge(plug.network_id)
        if bridge not in wanted:
            continue
        if plug.external and plug.port_id:
            if plug.port_id in switch_ports:
                wanted[bridge].add(switch_ports[plug.port_id])
        elif device in existing:
            wanted[bridge].add(device)
    return wanted


def ensure_networks(run: Pass) -> None:
    ctl = _ctl(run)
    bridges = set(ctl.bridges())
    for network in run.spec.networks:
        try:
            bridge = names.bridge(network.id)
            if bridge not in bridges:
                ctl.add_bridge(bridge)
                run.report.changed(f"create OVS bridge {bridge}")
            if network.vni is not None:
                device = names.vxlan(network.vni)
                if run.host.index(device) is None:
                    run.host.add_vxlan(device, network.vni, run.spec.local_ip, network.mtu)
                    run.report.changed(f"create {device}")
                # VXLAN flood entries are the same as with Linux bridges.
                linuxbridge.sync_flood_peers(run, device)
        except Exception as exc:
            run.report.failed(network.id, exc)


def attach_ports(run: Pass) -> None:
    ctl = _ctl(run)
    switch_ports = hybrid.ensure_bridges(run)
    made_by_ovs = set(switch_ports.values())
    attached: set[str] = set()
    mtus = {names.bridge(n.id): n.mtu for n in run.spec.networks}
    for bridge, ports in _wanted_ports(run, switch_ports).items():
        try:
            actual = set(ctl.ports(bridge))
            for port in sorted(ports - actual):
                if port in made_by_ovs:  # see hybrid for why a tap
                    ctl.add_port(bridge, port, type="tap", mtu_request=str(mtus[bridge]))
                else:
                    run.host.set(port, state="up")
                    ctl.add_port(bridge, port)
                run.report.changed(f"attach {port} to OVS bridge {bridge}")
            for port in sorted(actual - ports):
                ctl.delete_port(bridge, port)
                run.report.changed(f"detach {port} from OVS bridge {bridge}")
            attached |= ports
        except Exception as exc:
            run.report.failed(bridge, exc)
    on_ovs = {port_id: port for port_id, port in switch_ports.items() if port in attached}
    run.report.ports_up |= hybrid.connect(run, ctl, on_ovs)


def remove_stale(run: Pass) -> None:
    ctl = _ctl(run)
    wanted = {names.bridge(n.id) for n in run.spec.networks}
    for bridge in ctl.bridges():
        if bridge.startswith(names.BRIDGE) and bridge not in wanted:
            ctl.delete_bridge(bridge)
            run.report.changed(f"delete OVS bridge {bridge}")
    hybrid.remove_stale(run)
    vxlans = {names.vxlan(n.vni) for n in run.spec.networks if n.vni is not None}
    for link in run.host.all().values():
        if link.kind == "vxlan" and link.name.startswith(names.VXLAN) and link.name not in vxlans:
            run.host.delete(link.name)
            run.report.changed(f"delete {link.name}")
