"""The OpenStack metadata tree: /openstack/<version>/{meta_data.json, user_data,
vendor_data.json, vendor_data2.json, network_data.json}, as Nova shapes them."""

from __future__ import annotations

import base64
import ipaddress
import json
import os
from typing import Any

from api.metadata.instance import Instance
from api.metadata.tree import PathNotFound

GRIZZLY, HAVANA, LIBERTY = "2013-04-04", "2013-10-17", "2015-10-15"
NEWTON_ONE, NEWTON_TWO, VICTORIA = "2016-06-30", "2016-10-06", "2020-10-14"
VERSIONS = (
    "2012-08-10",
    GRIZZLY,
    HAVANA,
    LIBERTY,
    NEWTON_ONE,
    NEWTON_TWO,
    "2017-02-22",
    "2018-08-27",
    VICTORIA,
)
# Link types Nova shows as themselves; any other (an unbound port) is "phy".
EXPOSED_VIF_TYPES = ("bridge", "dvs", "hw_veb", "hyperv", "ovs", "tap", "vhostuser", "vif")
JSON = "application/json"
TEXT = "text/plain"


def _at_least(required: str, version: str) -> bool:
    return VERSIONS.index(version) >= VERSIONS.index(required)


def _version(token: str) -> str:
    version = VERSIONS[-1] if token == "latest" else token
    if version not in VERSIONS:
        raise PathNotFound(token)
    return version


def files(inst: Instance, version: str) -> list[str]:
    found = ["meta_data.json"]
    if inst.user_data is not None:
        found.append("user_data")
    if _at_least(HAVANA, version):
        found.append("vendor_data.json")
    if _at_least(LIBERTY, version):
        found.append("network_data.json")
    if _at_least(NEWTON_TWO, version):
        found.append("vendor_data2.json")
    return found


def item(inst: Instance, tokens: list[str]) -> tuple[bytes | list[str], str]:
    """What /openstack/<tokens> holds: (content or listing, content type)."""
    version = _version(tokens[0])
    if len(tokens) == 1:
        return files(inst, version), TEXT
    if len(tokens) > 2 or tokens[1] not in files(inst, version):
        raise PathNotFound("/".join(tokens))
    name = tokens[1]
    if name == "user_data":
        return inst.user_data or b"", TEXT
    if name == "meta_data.json":
        return _json(meta_data(inst, version)), JSON
    if name == "network_data.json":
        return _json(network_data(inst)), JSON
    return _json({}), JSON  # vendor data: none configured


def _json(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def meta_data(inst: Instance, version: str) -> dict[str, Any]:
    doc: dict[str, Any] = {"uuid": inst.uuid}
    meta = inst.body.get("metadata") or {}
    if meta:
        doc["meta"] = {str(k): str(v) for k, v in meta.items()}
    if inst.key is not None:
        name, data = inst.key
        doc["public_keys"] = {name: data}
        doc["keys"] = [{"name": name, "type": inst.key_type, "data": data}]
    doc["hostname"] = inst.hostname
    doc["name"] = inst.server["name"]
    doc["launch_index"] = int(inst.body.get("launch_index") or 0)
    doc["availability_zone"] = inst.availability_zone
    if _at_least(GRIZZLY, version):
        doc["random_seed"] = base64.b64encode(os.urandom(512)).decode()
    if _at_least(LIBERTY, version):
        doc["project_id"] = inst.server["project_id"]
    if _at_least(NEWTON_ONE, version):
        doc["devices"] = []
    if _at_least(VICTORIA, version):
        doc["dedicated_cpus"] = []
    return doc


def network_data(inst: Instance) -> dict[str, Any]:
    """Links (one per port), networks (first IPv4 and IPv6 subnet of each)
    and DNS services, as Nova's netutils.get_network_metadata builds them."""
    links: list[dict[str, Any]] = []
    networks: list[dict[str, Any]] = []
    services: list[dict[str, str]] = []
    for port in inst.ports:
        network = inst.networks.get(port["network_id"], {})
        vif_type = port.get("binding:vif_type")
        link = {
            "id": "tap" + port["id"][:11],  # the device compute plugs (IFNAMSIZ)
            "vif_id": port["id"],
            "type": vif_type if vif_type in EXPOSED_VIF_TYPES else "phy",
            "mtu": network.get("mtu"),
            "ethernet_mac_address": port["mac_address"],
        }
        links.append(link)
        for version in (4, 6):
            fixed = [
                f
                for f in port.get("fixed_ips", [])
                if inst.subnets.get(f["subnet_id"], {}).get("ip_version") == version
            ]
            if not fixed:
                continue
            subnet = inst.subnets[fixed[0]["subnet_id"]]
            entry = _network(subnet, fixed[0]["ip_address"], f"network{len(networks)}", link)
            entry["network_id"] = port["network_id"]
            networks.append(entry)
            for dns in _dns(subnet):
                if dns not in services:
                    services.append(dns)
    return {"links": links, "networks": networks, "services": services}


def _dns(subnet: dict[str, Any]) -> list[dict[str, str]]:
    return [{"type": "dns", "address": str(a)} for a in subnet.get("dns_nameservers") or []]


def _network(
    subnet: dict[str, Any], address: str, net_id: str, link: dict[str, Any]
) -> dict[str, Any]:
    version = int(subnet["ip_version"])
    if version == 6 and subnet.get("ipv6_address_mode"):
        return {"id": net_id, "type": f"ipv6_{subnet['ipv6_address_mode']}", "link": link["id"]}
    if version == 4 and subnet.get("enable_dhcp"):
        return {"id": net_id, "type": "ipv4_dhcp", "link": link["id"]}
    cidr = ipaddress.ip_network(subnet["cidr"])
    default = "0.0.0.0" if version == 4 else "::"
    routes = []
    if subnet.get("gateway_ip"):
        route = {"network": default, "netmask": default, "gateway": subnet["gateway_ip"]}
        routes.append(route)
    for host_route in subnet.get("host_routes") or []:
        destination = ipaddress.ip_network(host_route["destination"])
        routes.append(
            {
                "network": str(destination.network_address),
                "netmask": str(destination.netmask),
                "gateway": host_route["nexthop"],
            }
        )
    return {
        "id": net_id,
        "type": f"ipv{version}",
        "link": link["id"],
        "ip_address": address,
        "netmask": str(cidr.netmask),
        "routes": routes,
        "services": _dns(subnet),
    }
