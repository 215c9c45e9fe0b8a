"""Names of everything the agent creates, derived from resource ids.

Every name starts with a prefix only Strata uses, so a full reconcile can
list the kernel's links and namespaces, keep what the spec derives, and
delete every other name that carries one of these prefixes. Interface
names are limited to 15 characters (IFNAMSIZ - 1), hence the 11-character
id prefixes, as Neutron does.
"""

from __future__ import annotations

import hashlib

BRIDGE = "brq"
VXLAN = "vxlan-"
TAP = "tap"
ROUTER_INTERFACE = "qr-"
ROUTER_GATEWAY = "qg-"
DHCP_DEVICE = "ns-"
ROUTER_NAMESPACE = "qrouter-"
DHCP_NAMESPACE = "qdhcp-"
# The OVS driver's per-port plumbing (after Neutron's "hybrid" plugging):
# the tap sits on a Linux bridge of its own, with an OVS port of type tap.
HYBRID_BRIDGE = "qbr"
HYBRID_SWITCH_PORT = "qvo"  # on the OVS bridge, its device on the qbr bridge

# nftables tables; one per concern so each can be swapped atomically.
SG_TABLE = "strata_sg"  # in the host namespace: `bridge` (marks) + `inet` (filter)
NAT_TABLE = "strata_nat"  # in each router namespace, family `ip`

_ID_CHARS = 11


def bridge(network_id: str) -> str:
    return BRIDGE + network_id[:_ID_CHARS]


def vxlan(vni: int) -> str:
    return f"{VXLAN}{vni}"


def tap(port_id: str) -> str:
    return TAP + port_id[:_ID_CHARS]


def hybrid_bridge(port_id: str) -> str:
    return HYBRID_BRIDGE + port_id[:_ID_CHARS]


def hybrid_switch_port(port_id: str) -> str:
    return HYBRID_SWITCH_PORT + port_id[:_ID_CHARS]


def router_interface(port_id: str) -> str:
    return ROUTER_INTERFACE + port_id[:_ID_CHARS]


def router_gateway(port_id: str) -> str:
    return ROUTER_GATEWAY + port_id[:_ID_CHARS]


def dhcp_device(port_id: str) -> str:
    return DHCP_DEVICE + port_id[:_ID_CHARS]


def router_namespace(prefix: str, router_id: str) -> str:
    return f"{prefix}{ROUTER_NAMESPACE}{router_id}"


def dhcp_namespace(prefix: str, network_id: str) -> str:
    return f"{prefix}{DHCP_NAMESPACE}{network_id}"


def derived_mac(seed: str) -> str:
    """A stable locally administered MAC for a device with no port MAC.

    fa:16:3e is the prefix Neutron hands out, so tenants see familiar MACs.
    """
    digest = hashlib.sha256(seed.encode()).digest()
    return "fa:16:3e:" + ":".join(f"{b:02x}" for b in digest[:3])
