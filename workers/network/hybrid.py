"""Per-port Linux bridges, which let the OVS driver enforce security groups.

OVS's userspace datapath handles packets in user space, so a tap plugged
straight into it never meets netfilter and the security group tables
would not see its packets. As in Neutron's "hybrid" plugging, each
instance tap goes into a Linux bridge of its own, `qbr<id>`, which also
holds the port's way into OVS; br_netfilter hands the packets crossing
`qbr` to the `inet` hooks with the tap as their bridge port, so the tables
sg_rules renders for the Linux bridge driver apply unchanged.

Neutron joins `qbr` to OVS with a veth pair (qvb/qvo). Here the way into
OVS is an OVS port of type `tap`, `qvo<id>`: vswitchd creates and reads
that device itself. A veth would also forward, but OVS reads it with
AF_PACKET and gets the packets as the kernel left them, with checksums
still to be filled in (offloaded) and segments still to be cut: TCP and UDP
between instances then fail. A tap device offers the kernel no offloads,
so it completes every packet before vswitchd reads it.

Every instance port is plumbed this way, filtered or not, so turning port
security on or off changes rules only, never the plugging.
"""

from __future__ import annotations

import time

from infra.net.links import Link, Links
from infra.net.namespaces import iproute
from infra.net.ovs import OvsCtl
from workers.network import names
from workers.network.context import Pass
from workers.network.topology import Plug, plugs

_DEVICE_WAIT = 5.0  # seconds


def instance_plugs(run: Pass) -> dict[str, Plug]:
    """Port id -> plug, for the instance taps (brought by compute) of this host."""
    return {
        plug.port_id: plug for plug in plugs(run.spec).values() if plug.external and plug.port_id
    }


def ensure_bridges(run: Pass) -> dict[str, str]:
    """Put each present instance tap on its port bridge; port id -> its OVS port.

    A port whose tap does not exist yet is waiting (compute has not booted
    its guest); a port whose bridge fails is reported and left out.
    """
    switch_ports: dict[str, str] = {}
    actual = run.host.all()
    for port_id, plug in sorted(instance_plugs(run).items()):
        network = run.spec.network(plug.network_id)
        if plug.device not in actual:
            run.report.ports_waiting.add(port_id)
            continue
        if network is None:
            continue  # no OVS bridge to join; the L2 driver reports the network
        try:
            _ensure_bridge(run, actual, names.hybrid_bridge(port_id), network.mtu)
            _enslave(run, actual, plug.device, names.hybrid_bridge(port_id), network.mtu)
            switch_ports[port_id] = names.hybrid_switch_port(port_id)
        except Exception as exc:
            run.report.failed(port_id, exc)
    return switch_ports


def connect(run: Pass, ctl: OvsCtl, switch_ports: dict[str, str]) -> set[str]:
    """Put each OVS port's device (made by vswitchd) on its port bridge.

    Returns the ports now plugged end to end.
    """
    if not switch_ports:
        return set()
    by_port = instance_plugs(run)
    connected: set[str] = set()
    actual = _await_devices(run, set(switch_ports.values()))
    for port_id, switch_port in sorted(switch_ports.items()):
        network_id = by_port[port_id].network_id
        mtu = next(n.mtu for n in run.spec.networks if n.id == network_id)
        try:
            if switch_port not in actual:
                # Its device was deleted behind vswitchd's back: make the port anew.
                bridge = names.bridge(network_id)
                ctl.delete_port(bridge, switch_port)
                ctl.add_port(bridge, switch_port, type="tap", mtu_request=str(mtu))
                run.report.changed(f"recreate {switch_port} on OVS bridge {bridge}")
                actual = _await_devices(run, {switch_port})
                if switch_port not in actual:
                    raise LookupError(f"vswitchd made no device {switch_port}")
            if actual[switch_port].mtu != mtu:
                # vswitchd owns the device and would reset an MTU set behind its back.
                ctl.set_interface(switch_port, mtu_request=str(mtu))
                run.report.changed(f"set MTU of {switch_port}")
            _enslave(run, actual, switch_port, names.hybrid_bridge(port_id), None)
            connected.add(port_id)
        except Exception as exc:
            run.report.failed(port_id, exc)
    return connected


def _await_devices(run: Pass, devices: set[str]) -> dict[str, Link]:
    """The host's links once `devices` exist, or after a bounded wait.

    ovs-vsctl returns once vswitchd took the port, which may be before it
    created the port's device. Read with a socket of its own, as the pass's
    `run.host` may serve a dump taken before vswitchd made the device
    (workers/network/link_cache.py).
    """
    deadline = time.monotonic() + _DEVICE_WAIT
    while True:
        with iproute(run.options.host_netns) as ipr:
            actual = Links(ipr).all()
        if devices <= set(actual) or time.monotonic() > deadline:
            return actual
        time.sleep(0.02)


def _ensure_bridge(run: Pass, actual: dict[str, Link], bridge: str, mtu: int) -> None:
    link = actual.get(bridge)
    if link is not None and link.kind != "bridge":
        run.host.delete(bridge)
        link = None
    if link is None:
        run.host.add_bridge(bridge, mtu, names.derived_mac(bridge))
        run.report.changed(f"create bridge {bridge}")
        actual.update(run.host.all())
    elif link.mtu != mtu or not link.up:
        run.host.set(bridge, mtu=mtu, state="up")
        run.report.changed(f"set {bridge} up with MTU {mtu}")


def _enslave(run: Pass, actual: dict[str, Link], device: str, bridge: str, mtu: int | None) -> None:
    link = actual[device]
    index = actual[bridge].index
    if link.master != index or not link.up:
        run.host.set(device, master=index, state="up")
        run.report.changed(f"attach {device} to {bridge}")
    if mtu is not None and link.mtu != mtu:
        run.host.set(device, mtu=mtu)
        run.report.changed(f"set MTU of {device}")


def remove_stale(run: Pass) -> None:
    """Delete the port bridges of ports that are gone (the tap itself is compute's).

    Deleting the bridge unplugs the tap. OVS deletes a `qvo` device with
    its port; one left without a port (vswitchd's database was lost, say)
    is deleted here.
    """
    wanted: set[str] = set()
    for port_id in instance_plugs(run):
        wanted |= {names.hybrid_bridge(port_id), names.hybrid_switch_port(port_id)}
    for link in run.host.all().values():
        stale_bridge = link.kind == "bridge" and link.name.startswith(names.HYBRID_BRIDGE)
        stale_port = link.kind == "tun" and link.name.startswith(names.HYBRID_SWITCH_PORT)
        if not (stale_bridge or stale_port) or link.name in wanted:
            continue
        if run.host.index(link.name) is None:
            continue  # gone since the dump: OVS deletes a port's device with it
        try:
            run.host.delete(link.name)
            run.report.changed(f"delete {link.name}")
        except Exception as exc:
            run.report.failed(link.name, exc)
