"""Servers and flavors as Nova shows them, per microversion."""

from __future__ import annotations

import hashlib
from typing import Any

from api.compute.support import Caller, links, micro_time, nova_time
from domain.compute.states import server_status
from projections.network.queries import NetworkQueries

Doc = dict[str, Any]


def host_id(project_id: str, host: str | None) -> str:
    """Nova's hostId: the host hashed with the project, so projects cannot compare hosts."""
    if not host:
        return ""
    return hashlib.sha224((project_id + host).encode()).hexdigest()


def addresses(network: NetworkQueries, server_ids: list[str]) -> dict[str, Doc]:
    """`addresses` of each server, from the ports the network service holds now."""
    if not server_ids:
        return {}
    ports = network.select("ports", None, {"device_id": server_ids})
    names = {
        n["id"]: n["name"]
        for n in network.select("networks", None, {"id": sorted({p["network_id"] for p in ports})})
    }
    out: dict[str, Doc] = {}
    for port in ports:
        if not port.get("device_id"):
            continue
        entries = out.setdefault(str(port["device_id"]), {}).setdefault(
            str(names.get(port["network_id"], port["network_id"])), []
        )
        for fixed in port.get("fixed_ips", []):
            address = fixed["ip_address"]
            entries.append(
                {
                    "version": 6 if ":" in address else 4,
                    "addr": address,
                    "OS-EXT-IPS:type": "fixed",
                    "OS-EXT-IPS-MAC:mac_addr": port["mac_address"],
                }
            )
    return out


def server_brief(doc: Doc, base: str) -> Doc:
    return {"id": doc["id"], "name": doc["name"], "links": links(base, "servers", doc["id"])}


def server_detail(doc: Doc, who: Caller, base: str, addrs: Doc) -> Doc:
    body = doc["body"]
    status = server_status(doc["vm_state"], doc["task_state"])
    flavor = body["flavor"]
    out: Doc = {
        "id": doc["id"],
        "name": doc["name"],
        "status": status,
        "tenant_id": doc["project_id"],
        "user_id": doc["user_id"],
        "metadata": body.get("metadata", {}),
        "hostId": host_id(doc["project_id"], doc["host"]),
        "image": _image(doc["image_id"], base),
        "flavor": _server_flavor(flavor, who, base),
        "created": nova_time(doc["created_at"]),
        "updated": nova_time(doc["updated_at"]),
        "addresses": addrs,
        "accessIPv4": "",
        "accessIPv6": "",
        "links": links(base, "servers", doc["id"]),
        "OS-DCF:diskConfig": "MANUAL",
        "progress": 0,
        "OS-EXT-AZ:availability_zone": doc["availability_zone"] or "",
        "config_drive": "True" if body.get("config_drive") else "",
        "key_name": body.get("key_name"),
        "OS-SRV-USG:launched_at": micro_time(doc["launched_at"]),
        "OS-SRV-USG:terminated_at": micro_time(doc["terminated_at"]),
        "security_groups": [{"name": n} for n in body.get("security_groups", [])],
        "OS-EXT-STS:task_state": doc["task_state"],
        "OS-EXT-STS:vm_state": doc["vm_state"],
        "OS-EXT-STS:power_state": int(doc["power_state"] or 0),
        "os-extended-volumes:volumes_attached": volumes_attached(body, who),
    }
    fault = body.get("fault")
    if fault and status in ("ERROR", "DELETED"):
        shown = {"code": fault["code"], "message": fault["message"]}
        shown["created"] = nova_time(fault["created"])
        if who.is_admin and fault.get("details"):
            shown["details"] = fault["details"]
        out["fault"] = shown
    if who.is_admin:
        out["OS-EXT-SRV-ATTR:host"] = doc["host"]
        out["OS-EXT-SRV-ATTR:hypervisor_hostname"] = doc["host"]
        out["OS-EXT-SRV-ATTR:instance_name"] = "instance-" + doc["id"][:8]
        if who.at_least("2.3"):
            out["OS-EXT-SRV-ATTR:reservation_id"] = doc["reservation_id"]
            out["OS-EXT-SRV-ATTR:launch_index"] = body.get("launch_index", 0)
            out["OS-EXT-SRV-ATTR:hostname"] = body.get("hostname")
            out["OS-EXT-SRV-ATTR:kernel_id"] = ""
            out["OS-EXT-SRV-ATTR:ramdisk_id"] = ""
            out["OS-EXT-SRV-ATTR:root_device_name"] = "/dev/vda"
            out["OS-EXT-SRV-ATTR:user_data"] = body.get("user_data")
    if who.at_least("2.9"):
        out["locked"] = False
    if who.at_least("2.16") and who.is_admin:
        out["host_status"] = "UP" if doc["host"] else ""
    if who.at_least("2.19"):
        out["description"] = body.get("description")
    if who.at_least("2.26"):
        out["tags"] = doc["tags"]
    return out


def _image(image_id: str, base: str) -> Doc | str:
    """A volume-backed server has no image: Nova shows "" (the CLI then says
    "N/A (booted from volume)")."""
    if not image_id:
        return ""
    return {"id": image_id, "links": links(base, "images", image_id)[1:]}


def volumes_attached(body: Doc, who: Caller) -> list[Doc]:
    """The volumes the server records, boot volume first (2.3 adds
    delete_on_termination)."""
    volumes = sorted(
        body.get("volumes", []),
        key=lambda v: (
            v.get("boot_index") is None or v["boot_index"] < 0,
            v.get("boot_index") or 0,
        ),
    )
    if who.at_least("2.3"):
        return [
            {"id": v["id"], "delete_on_termination": bool(v.get("delete_on_termination"))}
            for v in volumes
        ]
    return [{"id": v["id"]} for v in volumes]


def _server_flavor(flavor: Doc, who: Caller, base: str) -> Doc:
    if who.at_least("2.47"):
        return {
            "vcpus": flavor["vcpus"],
            "ram": flavor["ram"],
            "disk": flavor["disk"],
            "ephemeral": flavor.get("ephemeral", 0),
            "swap": flavor.get("swap", 0),
            "original_name": flavor["name"],
            "extra_specs": flavor.get("extra_specs", {}),
        }
    return {"id": flavor["id"], "links": links(base, "flavors", flavor["id"])[1:]}


def flavor_view(doc: Doc, who: Caller, base: str, detail: bool = True) -> Doc:
    out: Doc = {"id": doc["flavorid"], "name": doc["name"]}
    out["links"] = links(base, "flavors", doc["flavorid"])
    if who.at_least("2.55"):
        out["description"] = doc["description"]
    if not detail:
        return out
    out.update(
        {
            "ram": doc["ram"],
            "disk": doc["disk"],
            "vcpus": doc["vcpus"],
            "swap": doc["swap"] or "",
            "OS-FLV-EXT-DATA:ephemeral": doc["ephemeral"],
            "OS-FLV-DISABLED:disabled": False,
            "os-flavor-access:is_public": doc["is_public"],
            "rxtx_factor": doc["rxtx_factor"],
        }
    )
    return out
