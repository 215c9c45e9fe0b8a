"""How each aggregate's attributes appear in Neutron's JSON.

Domain names are Python names (`external`, `binding_host_id`); Neutron's
carry extension prefixes (`router:external`, `binding:host_id`). The
projection stores bodies under Neutron's names so filters and `fields=` work
on exactly what clients see.
"""

from __future__ import annotations

from typing import Any

RENAMES = {
    "external": "router:external",
    "segmentation_id": "provider:segmentation_id",
    "binding_host_id": "binding:host_id",
    "binding_vif_type": "binding:vif_type",
}
# Internal state that is not part of any Neutron body.
HIDDEN = {"status_reason", "allocations", "rules", "interfaces"}

# What Neutron shows that Strata's aggregates do not vary.
DEFAULTS: dict[str, dict[str, Any]] = {
    "net_networks": {
        "status": "ACTIVE",
        "subnets": [],
        "provider:network_type": "vxlan",
        "provider:physical_network": None,
        "availability_zone_hints": [],
        "availability_zones": ["nova"],
        "ipv4_address_scope": None,
        "ipv6_address_scope": None,
        "is_default": False,
        "l2_adjacency": True,
    },
    "net_subnets": {"subnetpool_id": None, "service_types": [], "segment_id": None},
    "net_ports": {
        "status": "DOWN",
        "binding:vif_type": "unbound",
        "binding:vnic_type": "normal",
        "binding:profile": {},
        "binding:vif_details": {},
        "extra_dhcp_opts": [],
    },
    "net_routers": {"status": "ACTIVE", "routes": [], "external_gateway_info": None},
    "net_floatingips": {
        "status": "DOWN",
        "port_id": None,
        "fixed_ip_address": None,
        "router_id": None,
    },
    "net_security_groups": {},
}


def neutron_fields(changes: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key in HIDDEN or key.startswith("_"):
            continue
        if key == "gateway":
            out["external_gateway_info"] = gateway_info(value)
        elif key == "subnets" and isinstance(value, dict):
            out["subnets"] = sorted(value)
        else:
            out[RENAMES.get(key, key)] = value
    return out


def gateway_info(gateway: dict[str, Any] | None) -> dict[str, Any] | None:
    if gateway is None:
        return None
    return {
        "network_id": gateway["network_id"],
        "enable_snat": gateway["enable_snat"],
        "external_fixed_ips": gateway["external_fixed_ips"],
    }
