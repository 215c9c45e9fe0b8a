"""Veth pairs from a network's bridge into a router or DHCP namespace."""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterable, Iterator
from typing import Any

from infra.net.links import Links
from infra.net.namespaces import iproute
from workers.network.context import Pass


@contextlib.contextmanager
def namespace_socket(run: Pass, namespace: str) -> Iterator[Any]:
    """A pyroute2 socket into `namespace`: the agent's kept one, if it keeps them."""
    if run.sockets is None:
        with iproute(namespace) as ipr:
            yield ipr
    else:
        yield run.sockets.get(namespace)


def ensure_veth(
    run: Pass, host_device: str, inner_device: str, namespace: str, mac: str, mtu: int
) -> None:
    """A veth with `host_device` on the host and `inner_device` in `namespace`.

    Attaching the host end to its bridge is left to the L2 driver, which
    handles instance taps the same way.
    """
    with namespace_socket(run, namespace) as ipr:
        inner = Links(ipr)
        if inner.index(inner_device) is None:
            # A host end without its peer is debris of an interrupted pass.
            run.host.delete(host_device)
            run.host.add_veth(host_device, inner_device)
            run.host.move(inner_device, namespace)
            run.report.changed(f"create veth {host_device} <-> {namespace}/{inner_device}")
        link = inner.all()[inner_device]
        if link.mac != mac.lower():
            inner.set(inner_device, state="down")
            inner.set(inner_device, address=mac)
            run.report.changed(f"set MAC of {namespace}/{inner_device}")
        if link.mtu != mtu:
            inner.set(inner_device, mtu=mtu)
            run.report.changed(f"set MTU of {namespace}/{inner_device}")
        if not inner.all()[inner_device].up:
            inner.set(inner_device, state="up")
    host_link = run.host.all()[host_device]
    if host_link.mtu != mtu:
        run.host.set(host_device, mtu=mtu)
    if not host_link.up:
        run.host.set(host_device, state="up")


def sync_addresses(run: Pass, links: Links, device: str, wanted: Iterable[str], where: str) -> None:
    """Make `device` carry exactly the `wanted` "ip/prefixlen" addresses."""
    wanted_set = set(wanted)
    actual = links.addresses(device)
    for cidr in sorted(wanted_set - actual):
        links.add_address(device, cidr)
        run.report.changed(f"add {cidr} to {where}/{device}")
    for cidr in sorted(actual - wanted_set):
        links.del_address(device, cidr)
        run.report.changed(f"remove {cidr} from {where}/{device}")


def link_local_of(mac: str) -> str:
    """The EUI-64 link-local address ("ip/64") the kernel would give `mac`."""
    octets = [int(part, 16) for part in mac.split(":")]
    octets[0] ^= 0x02
    interface_id = bytes([*octets[:3], 0xFF, 0xFE, *octets[3:]])
    address = ipaddress.IPv6Address(int.from_bytes(interface_id, "big") | (0xFE80 << 112))
    return f"{address}/64"


def ensure_link_local(run: Pass, links: Links, device: str, mac: str, where: str) -> None:
    """Give an IPv6 device of ours its link-local address.

    The agent's veths are made without one (Links.add_veth); a router or
    DHCP server speaking IPv6 on the link needs it: RAs and DHCPv6 replies
    are sent from it, and hosts route through the router's.
    """
    wanted = link_local_of(mac)
    if wanted not in links.link_local(device):
        links.add_address_now(device, wanted)
        run.report.changed(f"add {wanted} to {where}/{device}")
