"""Volumes, snapshots and attachments as Cinder v3 shows them, per microversion."""

from __future__ import annotations

from typing import Any

from api.volume.support import Caller, cinder_time, self_links

Doc = dict[str, Any]


def volume_attachment(a: Doc) -> Doc:
    """An attachment inside a volume (the legacy shape Nova and clients read)."""
    return {
        "id": a["volume_id"],
        "attachment_id": a["id"],
        "volume_id": a["volume_id"],
        "server_id": a["server_id"],
        "host_name": a.get("host"),
        "device": a.get("mountpoint"),
        "attached_at": cinder_time(a.get("attached_at")),
    }


def volume_brief(d: Doc, who: Caller, base: str) -> Doc:
    return {
        "id": d["id"],
        "name": d["name"],
        "links": self_links(base, who.project_in_url, "volumes", d["id"]),
    }


def volume_detail(d: Doc, who: Caller, base: str, attachments: list[Doc]) -> Doc:
    source = d.get("source") or {}
    kind = source.get("kind")
    vtype = d.get("volume_type") or {}
    out: Doc = {
        "id": d["id"],
        "name": d["name"],
        "description": d.get("description"),
        "status": d["status"],
        "size": d["size"],
        "availability_zone": d["availability_zone"],
        "bootable": "true" if d["bootable"] else "false",
        "encrypted": False,
        "multiattach": bool(d.get("multiattach")),
        "metadata": d.get("metadata") or {},
        "attachments": [volume_attachment(a) for a in attachments if a["status"] == "attached"],
        "created_at": cinder_time(d["created_at"]),
        "updated_at": cinder_time(d["updated_at"]),
        "user_id": d["user_id"],
        "volume_type": vtype.get("name"),
        "snapshot_id": source.get("id") if kind == "snapshot" else None,
        "source_volid": source.get("id") if kind == "volume" else None,
        "consistencygroup_id": None,
        "replication_status": None,
        "migration_status": None,
        "os-vol-tenant-attr:tenant_id": d["project_id"],
        "links": self_links(base, who.project_in_url, "volumes", d["id"]),
    }
    if kind == "image":
        out["volume_image_metadata"] = source.get("image_metadata", {})
    if who.is_admin:
        out["os-vol-host-attr:host"] = f"{d['host']}@file#files" if d["host"] else None
        out["os-vol-mig-status-attr:migstat"] = None
        out["os-vol-mig-status-attr:name_id"] = None
    if who.at_least("3.13"):
        out["group_id"] = None
    if who.at_least("3.21"):
        out["provider_id"] = None
    if who.at_least("3.48"):
        out["shared_targets"] = False
        out["service_uuid"] = None
    if who.at_least("3.61") and who.is_admin:
        out["cluster_name"] = None
    if who.at_least("3.63"):
        out["volume_type_id"] = vtype.get("id")
    if who.at_least("3.65"):
        out["consumes_quota"] = True
    if d.get("reason") and d["status"].startswith("error"):
        out["fault"] = d["reason"]  # why the agent failed (Strata's addition)
    return out


def snapshot(d: Doc, who: Caller) -> Doc:
    out: Doc = {
        "id": d["id"],
        "name": d["name"],
        "description": d.get("description"),
        "volume_id": d["volume_id"],
        "status": d["status"],
        "size": d["size"],
        "metadata": d.get("metadata") or {},
        "created_at": cinder_time(d["created_at"]),
        "updated_at": cinder_time(d["updated_at"]),
        "os-extended-snapshot-attributes:progress": "100%" if d["status"] == "available" else "0%",
        "os-extended-snapshot-attributes:project_id": d["project_id"],
    }
    if who.at_least("3.14"):
        out["group_snapshot_id"] = None
    if who.at_least("3.41"):
        out["user_id"] = d.get("user_id")
    if who.at_least("3.65"):
        out["consumes_quota"] = True
    return out


def attachment(a: Doc, detail: bool = True) -> Doc:
    out: Doc = {
        "id": a["id"],
        "status": a["status"],
        "instance": a["server_id"],
        "volume_id": a["volume_id"],
    }
    if detail:
        out.update(
            attached_at=cinder_time(a.get("attached_at")),
            detached_at=None,
            attach_mode=a.get("mode", "rw"),
            connection_info=a.get("connection_info") or {},
        )
    return out


def volume_type(t: Doc) -> Doc:
    return {
        "id": t["id"],
        "name": t["name"],
        "description": t.get("description"),
        "is_public": bool(t.get("is_public", True)),
        "os-volume-type-access:is_public": bool(t.get("is_public", True)),
        "extra_specs": t.get("extra_specs") or {},
        "qos_specs_id": None,
    }
