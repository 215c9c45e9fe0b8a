"""The desired state of one compute host, for its agent.

Everything the agent needs to converge a host without reading anything else:
each server assigned to the host with its flavor, image, key, user data,
metadata, ports (MAC, addresses, network) and whether it should be running.
Deleted servers are absent: whatever the agent finds that is not listed here
it removes.
"""

from __future__ import annotations

from typing import Any

from domain.compute import states as s
from infra.database import Database
from projections.compute.queries import ComputeQueries, ServerFilter
from projections.network.queries import NetworkQueries
from projections.volume.queries import VolumeQueries, doc_of

# Power the agent should bring each server to, from its (vm_state, task_state).
STOPPED_TASKS = (s.POWERING_OFF,)


def desired_power(vm_state: str, task_state: str | None) -> str:
    """ "running" or "stopped" (an ERROR server is left as it is: "unchanged")."""
    if task_state in STOPPED_TASKS:
        return "stopped"
    if task_state in (s.POWERING_ON, s.REBOOTING, s.REBOOTING_HARD, s.SPAWNING):
        return "running"
    if vm_state == s.STOPPED:
        return "stopped"
    if vm_state == s.ERROR:
        return "unchanged"
    return "running"


def compute_host_state(db: Database, hostname: str) -> dict[str, Any]:
    """`{"host": name, "servers": [...]}` for the agent of `hostname`."""
    servers = ComputeQueries(db).servers(ServerFilter(host=hostname))
    ports = NetworkQueries(db).select("ports", None, {"device_id": [d["id"] for d in servers]})
    by_id: dict[str, dict[str, Any]] = {}
    for port in ports:
        by_id[port["id"]] = {
            "id": port["id"],
            "network_id": port["network_id"],
            "mac_address": port["mac_address"],
            "fixed_ips": port["fixed_ips"],
            "status": port.get("status"),
        }
    devices = _block_devices(db, servers)
    out = []
    for doc in servers:
        body = doc["body"]
        out.append(
            {
                "id": doc["id"],
                "name": doc["name"],
                "hostname": body.get("hostname"),
                "project_id": doc["project_id"],
                "vm_state": doc["vm_state"],
                "task_state": doc["task_state"],
                "power_state": doc["power_state"],
                "desired_power": desired_power(doc["vm_state"], doc["task_state"]),
                "reboot": {s.REBOOTING: "SOFT", s.REBOOTING_HARD: "HARD"}.get(
                    doc["task_state"] or ""
                ),
                "flavor": body.get("flavor"),
                "image_id": doc["image_id"],
                "key_name": body.get("key_name"),
                "key_data": body.get("key_data"),
                "user_data": body.get("user_data"),
                "metadata": body.get("metadata", {}),
                "config_drive": body.get("config_drive", False),
                "availability_zone": doc["availability_zone"],
                "launched_at": doc["launched_at"],
                # The image a snapshot in progress writes to (None: no snapshot).
                "snapshot_image_id": body.get("snapshot_image_id"),
                # In the order the server asked for them: the NIC order in the guest.
                "ports": [
                    by_id[p["port_id"]] for p in body.get("ports", []) if p["port_id"] in by_id
                ],
                "volume_backed": not doc["image_id"],
                "block_devices": devices.get(doc["id"], []),
            }
        )
    return {"host": hostname, "servers": out}


def _block_devices(db: Database, servers: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The volumes each server had at its boot (boot_index set), in boot
    order, with the file to open: what its domain is defined with. Only
    volumes connected to the host are listed (a boot waits for all of them)."""
    wanted = {
        d["id"]: {
            v["id"]: v for v in d["body"].get("volumes", []) if v.get("boot_index") is not None
        }
        for d in servers
    }
    wanted = {k: v for k, v in wanted.items() if v}
    if not wanted:
        return {}
    queries = VolumeQueries(db)
    attachments = queries.attachments({"server_id": sorted(wanted)})
    volume_ids = sorted({a["volume_id"] for a in attachments})
    volumes = {d["id"]: d for d in map(doc_of, queries.rows("volume_volumes", {"id": volume_ids}))}
    out: dict[str, list[dict[str, Any]]] = {}
    for a in attachments:
        recorded = wanted.get(a["server_id"], {}).get(a["volume_id"])
        data = (a.get("connection_info") or {}).get("data") or {}
        if recorded is None or recorded["attachment_id"] != a["id"] or not data.get("device_path"):
            continue
        source = volumes.get(a["volume_id"], {}).get("source") or {}
        out.setdefault(a["server_id"], []).append(
            {
                "volume_id": a["volume_id"],
                "attachment_id": a["id"],
                "boot_index": int(recorded["boot_index"]),
                "device_path": str(data["device_path"]),
                "format": str(data.get("format") or "qcow2"),
                # Cinder's volume_image_metadata: the kernel and ramdisk to boot.
                "image_metadata": dict(source.get("image_metadata") or {}),
            }
        )
    for found in out.values():
        # Nova's order: the boot disk first, then by boot_index; -1 (not a boot device) last.
        found.sort(key=lambda d: (d["boot_index"] < 0, d["boot_index"]))
    return out
