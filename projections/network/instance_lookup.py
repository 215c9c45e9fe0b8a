"""Which port an address belongs to, seen from a router or a network.

The metadata service knows a request's source address and the router or
network it came through (an address alone is ambiguous: tenants reuse
private ranges). Only instance ports answer: a router's or DHCP server's
own address is no instance.
"""

from __future__ import annotations

from typing import Any

from infra.database import Database
from projections.network.queries import NetworkQueries

ROUTER_INTERFACE = "network:router_interface"
NETWORK_OWNED_PREFIX = "network:"


def networks_of_router(db: Database, router_id: str) -> list[str]:
    interfaces = NetworkQueries(db).select(
        "ports", None, {"device_id": [router_id], "device_owner": [ROUTER_INTERFACE]}
    )
    return sorted({str(p["network_id"]) for p in interfaces})


def instance_port(db: Database, address: str, network_ids: list[str]) -> dict[str, Any] | None:
    """The instance port holding `address` on one of the networks, if any."""
    for port in NetworkQueries(db).select("ports", None, {"network_id": network_ids}):
        owner = str(port.get("device_owner") or "")
        if owner.startswith(NETWORK_OWNED_PREFIX) or not port.get("device_id"):
            continue
        if any(f.get("ip_address") == address for f in port.get("fixed_ips", [])):
            return port
    return None


def ports_of_device(db: Database, device_id: str) -> list[dict[str, Any]]:
    return NetworkQueries(db).select("ports", None, {"device_id": [device_id]})


def subnets(db: Database, subnet_ids: list[str]) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in NetworkQueries(db).select("subnets", None, {"id": subnet_ids})}


def networks(db: Database, network_ids: list[str]) -> dict[str, dict[str, Any]]:
    return {n["id"]: n for n in NetworkQueries(db).select("networks", None, {"id": network_ids})}


def floating_ips_of_ports(db: Database, port_ids: list[str]) -> list[str]:
    found = NetworkQueries(db).select("floatingips", None, {"port_id": port_ids})
    return sorted(str(f["floating_ip_address"]) for f in found if f.get("floating_ip_address"))
