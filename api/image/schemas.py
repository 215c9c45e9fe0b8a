"""The JSON schemas Glance publishes under /v2/schemas (clients such as
glanceclient read them to learn which attributes exist and which are base)."""

from __future__ import annotations

from typing import Any

from domain.image import rules

_UUID = "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"


def _string(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": ["null", "string"], "description": description, "is_base": False, **extra}


def image_schema() -> dict[str, Any]:
    read_only = {"readOnly": True}
    properties: dict[str, Any] = {
        "id": {"type": "string", "pattern": _UUID, "description": "An identifier for the image"},
        "name": {"type": ["null", "string"], "maxLength": 255},
        "status": {
            "type": "string",
            "enum": ["queued", "saving", "active", "killed", "deleted", "deactivated"],
            **read_only,
        },
        "visibility": {"type": "string", "enum": list(rules.VISIBILITIES)},
        "protected": {"type": "boolean"},
        "os_hidden": {"type": "boolean"},
        "checksum": {"type": ["null", "string"], "maxLength": 32, **read_only},
        "os_hash_algo": {"type": ["null", "string"], "maxLength": 64, **read_only},
        "os_hash_value": {"type": ["null", "string"], "maxLength": 128, **read_only},
        "owner": {"type": ["null", "string"], "maxLength": 255},
        "size": {"type": ["null", "integer"], **read_only},
        "virtual_size": {"type": ["null", "integer"], **read_only},
        "container_format": {
            "type": ["null", "string"],
            "enum": [None, *rules.CONTAINER_FORMATS],
        },
        "disk_format": {"type": ["null", "string"], "enum": [None, *rules.DISK_FORMATS]},
        "created_at": {"type": "string", **read_only},
        "updated_at": {"type": "string", **read_only},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 255}},
        "min_ram": {"type": "integer"},
        "min_disk": {"type": "integer"},
        "self": {"type": "string", **read_only},
        "file": {"type": "string", **read_only},
        "schema": {"type": "string", **read_only},
        "kernel_id": _string("ID of image stored in Glance used as kernel", pattern=_UUID),
        "ramdisk_id": _string("ID of image stored in Glance used as ramdisk", pattern=_UUID),
        "instance_uuid": _string("The ID of the instance used to create this image"),
        "architecture": _string("Operating system architecture"),
        "os_distro": _string("Common name of operating system distribution"),
        "os_version": _string("Operating system version as specified by the distributor"),
        "description": _string("A human-readable string describing this image"),
    }
    return {
        "name": "image",
        "properties": properties,
        "additionalProperties": {"type": "string"},
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "enclosure", "href": "{file}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


def images_schema() -> dict[str, Any]:
    return {
        "name": "images",
        "properties": {
            "images": {"type": "array", "items": image_schema()},
            "schema": {"type": "string"},
            "first": {"type": "string"},
            "next": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


def member_schema() -> dict[str, Any]:
    return {
        "name": "member",
        "properties": {
            "created_at": {
                "type": "string",
                "description": "Date and time of image member creation",
            },
            "image_id": {"type": "string", "pattern": _UUID},
            "member_id": {"type": "string", "description": "An identifier for the image member"},
            "status": {"type": "string", "enum": list(rules.MEMBER_STATUSES)},
            "updated_at": {"type": "string"},
            "schema": {"type": "string", "readOnly": True},
        },
    }


def members_schema() -> dict[str, Any]:
    return {
        "name": "members",
        "properties": {
            "members": {"type": "array", "items": member_schema()},
            "schema": {"type": "string"},
        },
        "links": [{"rel": "describedby", "href": "{schema}"}],
    }
