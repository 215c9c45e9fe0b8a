"""The network agent's view of one host, built from the read models.

Plain dicts whose keys follow workers/network/desired.py, so the agent maps
them to its specs field by field.
"""

from __future__ import annotations

from typing import Any

from infra.database import Database
from projections.network.queries import Doc, NetworkQueries


def _port(doc: Doc) -> Doc:
    return {
        "id": doc["id"],
        "network_id": doc["network_id"],
        "project_id": doc["project_id"],
        "mac_address": doc["mac_address"],
        "fixed_ips": doc["fixed_ips"],
        "device_owner": doc["device_owner"],
        "device_id": doc["device_id"],
        "port_security_enabled": doc["port_security_enabled"],
        "security_group_ids": doc["security_groups"],
        "allowed_address_pairs": doc["allowed_address_pairs"],
        "binding_host": doc.get("binding:host_id") or "",
        "admin_state_up": doc["admin_state_up"],
        "status": doc["status"],
        "revision_number": doc["revision_number"],
    }


def _subnet(doc: Doc) -> Doc:
    keys = (
        "id",
        "network_id",
        "cidr",
        "ip_version",
        "gateway_ip",
        "enable_dhcp",
        "dns_nameservers",
        "host_routes",
        "allocation_pools",
        "ipv6_ra_mode",
        "ipv6_address_mode",
        "revision_number",
    )
    return {k: doc.get(k) for k in keys}


def host_state(db: Database, host: str, all_routers: bool = False) -> dict[str, Any]:
    """Everything the network agent of `host` must converge, as plain dicts.

    Keys follow workers/network/desired.py's specs. Networks present on the
    host: those with a port bound here, those of the routers it hosts, and
    every external network. Routers: those with a port bound here, or all of
    them with `all_routers` (the host that does the routing; in the embedded
    profile the only host). Ports: every port of the present networks (DHCP
    leases and remote-group rules need them all), `binding_host` telling
    which are plugged here. Security groups: those the listed ports use,
    with their rules and, per group, the addresses of its members.
    """
    q = NetworkQueries(db)
    all_ports = q.select("ports", None)
    all_networks = q.select("networks", None)
    routers = q.select("routers", None)
    if not all_routers:
        hosted = {p["device_id"] for p in all_ports if p.get("binding:host_id") == host}
        routers = [r for r in routers if r["id"] in hosted]
    router_ids = {r["id"] for r in routers}
    present = {p["network_id"] for p in all_ports if p.get("binding:host_id") == host}
    present |= {p["network_id"] for p in all_ports if p["device_id"] in router_ids}
    present |= {n["id"] for n in all_networks if n["router:external"]}
    ports = [p for p in all_ports if p["network_id"] in present]
    subnets = [_subnet(s) for s in q.select("subnets", None) if s["network_id"] in present]
    fips = q.select("floatingips", None)
    return {
        "host": host,
        "networks": [
            {
                "id": n["id"],
                "project_id": n["project_id"],
                "vni": n["provider:segmentation_id"],
                "mtu": n["mtu"],
                "external": n["router:external"],
                "shared": n["shared"],
                "admin_state_up": n["admin_state_up"],
                "subnets": [s for s in subnets if s["network_id"] == n["id"]],
                "revision_number": n["revision_number"],
            }
            for n in all_networks
            if n["id"] in present
        ],
        "ports": [_port(p) for p in ports],
        "routers": [_router(r, all_ports, fips) for r in routers],
        "security_groups": _groups_for(q, ports, all_ports),
    }


def _router(router: Doc, ports: list[Doc], fips: list[Doc]) -> Doc:
    mine = [p for p in ports if p["device_id"] == router["id"]]
    gateway_port = next((p for p in mine if p["device_owner"] == "network:router_gateway"), None)
    gateway = router.get("external_gateway_info") or {}
    return {
        "id": router["id"],
        "project_id": router["project_id"],
        "admin_state_up": router["admin_state_up"],
        "status": router["status"],
        "routes": router.get("routes", []),
        "external_network_id": gateway.get("network_id"),
        "external_ips": gateway_port["fixed_ips"] if gateway_port else [],
        "enable_snat": gateway.get("enable_snat", True),
        "gateway_port_id": gateway_port["id"] if gateway_port else None,
        "gateway_mac": gateway_port["mac_address"] if gateway_port else None,
        "interfaces": [
            {
                "port_id": p["id"],
                "network_id": p["network_id"],
                "subnet_id": fixed["subnet_id"],
                "ip_address": fixed["ip_address"],
                "mac_address": p["mac_address"],
            }
            for p in mine
            if p["device_owner"] == "network:router_interface"
            for fixed in p["fixed_ips"]
        ],
        "floating_ips": [
            {
                "id": f["id"],
                "floating_ip": f["floating_ip_address"],
                "fixed_ip": f["fixed_ip_address"],
                "port_id": f["port_id"],
            }
            for f in fips
            if f.get("router_id") == router["id"] and f.get("port_id")
        ],
    }


RULE_KEYS = (
    "id",
    "direction",
    "ethertype",
    "protocol",
    "port_range_min",
    "port_range_max",
    "remote_ip_prefix",
    "remote_group_id",
)


def _groups_for(q: NetworkQueries, ports: list[Doc], all_ports: list[Doc]) -> list[Doc]:
    used = sorted({g for p in ports for g in p.get("security_groups", [])})
    groups = q.select("security-groups", None, {"id": used}) if used else []
    members: dict[str, list[str]] = {}
    for port in all_ports:
        for group_id in port.get("security_groups", []):
            members.setdefault(group_id, []).extend(
                f["ip_address"] for f in port.get("fixed_ips", [])
            )
    return [
        {
            "id": g["id"],
            "project_id": g["project_id"],
            "stateful": g.get("stateful", True),
            "revision_number": g["revision_number"],
            "rules": [{k: r.get(k) for k in RULE_KEYS} for r in g["security_group_rules"]],
            "member_ips": sorted(members.get(g["id"], [])),
            "remote_group_members": {
                r["remote_group_id"]: sorted(members.get(r["remote_group_id"], []))
                for r in g["security_group_rules"]
                if r.get("remote_group_id")
            },
        }
        for g in groups
    ]
