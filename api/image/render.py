"""Images and members as Glance shows them: flat documents, properties at the
top level beside the core attributes, times to the second with a `Z`."""

from __future__ import annotations

from typing import Any

CORE_FIELDS = (
    "id",
    "name",
    "status",
    "visibility",
    "protected",
    "os_hidden",
    "owner",
    "disk_format",
    "container_format",
    "size",
    "virtual_size",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "min_disk",
    "min_ram",
    "tags",
    "created_at",
    "updated_at",
)
TIMES = ("created_at", "updated_at")


def glance_time(value: str | None) -> str | None:
    """`2026-11-21T02:15:30Z` from the read model's microsecond spelling."""
    return None if value is None else value[:19] + "Z"


def image_doc(row: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = dict(row["properties"])
    for key in CORE_FIELDS:
        doc[key] = glance_time(row[key]) if key in TIMES else row[key]
    for key in ("size", "virtual_size", "min_disk", "min_ram"):
        if doc[key] is not None:
            doc[key] = int(doc[key])
    image_id = row["id"]
    doc["self"] = f"/v2/images/{image_id}"
    doc["file"] = f"/v2/images/{image_id}/file"
    doc["schema"] = "/v2/schemas/image"
    return doc


def member_doc(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "image_id": row["image_id"],
        "member_id": row["member"],
        "status": row["status"],
        "created_at": glance_time(row["created_at"]),
        "updated_at": glance_time(row["updated_at"]),
        "schema": "/v2/schemas/member",
    }
