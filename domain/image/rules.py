"""What Glance accepts in an image's attributes, checked the same way for
create and update so no path can store a value the API would refuse."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from domain.errors import Forbidden, InvalidInput

DISK_FORMATS = (
    "ami",
    "ari",
    "aki",
    "vhd",
    "vhdx",
    "vmdk",
    "raw",
    "qcow2",
    "vdi",
    "iso",
    "ploop",
)
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
VISIBILITIES = ("public", "private", "shared", "community")
MEMBER_STATUSES = ("pending", "accepted", "rejected")
# Glance sets these itself; a client naming one gets a 403, not a silent drop.
READ_ONLY = (
    "created_at",
    "updated_at",
    "status",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "size",
    "virtual_size",
    "direct_url",
    "self",
    "file",
    "schema",
    "id",
    "stores",
)
RESERVED = ("location", "deleted", "deleted_at")
# The attributes an image has of its own; every other key is a property.
CORE = (
    "name",
    "visibility",
    "protected",
    "os_hidden",
    "disk_format",
    "container_format",
    "min_disk",
    "min_ram",
    "owner",
    "tags",
)
MAX_LENGTH = 255
MAX_TAGS = 128
# Properties the image schema types more narrowly than "any string".
UUID_PROPERTIES = ("kernel_id", "ramdisk_id", "instance_uuid")
_UUID = re.compile(
    r"^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"
)


def check_reserved(names: Any) -> None:
    for name in names:
        if name in READ_ONLY:
            raise Forbidden(f"Attribute '{name}' is read-only.")
        if name in RESERVED:
            raise Forbidden(f"Attribute '{name}' is reserved.")


def _invalid(name: str, value: Any, why: str) -> InvalidInput:
    return InvalidInput(f"Provided object does not match schema 'image': {value!r} {why} ({name}).")


def _check_choice(name: str, value: Any, choices: tuple[str, ...], nullable: bool) -> None:
    if value is None and nullable:
        return
    if value not in choices:
        raise InvalidInput(f"Invalid value '{value}' for '{name}': must be one of {list(choices)}.")


def _check_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(name, value, "is not of type 'integer'")
    if value < 0 or value >= 2**31:
        raise _invalid(name, value, "is out of range")


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise _invalid(name, value, "is not of type 'boolean'")


def check_core(values: Mapping[str, Any]) -> None:
    """Type and range of each core attribute given (any subset)."""
    for name, value in values.items():
        if name in ("disk_format", "container_format"):
            choices = DISK_FORMATS if name == "disk_format" else CONTAINER_FORMATS
            _check_choice(name, value, choices, nullable=True)
        elif name == "visibility":
            _check_choice(name, value, VISIBILITIES, nullable=False)
        elif name in ("protected", "os_hidden"):
            _check_bool(name, value)
        elif name in ("min_disk", "min_ram"):
            _check_int(name, value)
        elif name in ("name", "owner"):
            if value is not None and not isinstance(value, str):
                raise _invalid(name, value, "is not of type 'string'")
            if value is not None and len(value) > MAX_LENGTH:
                raise _invalid(name, value, f"is longer than {MAX_LENGTH}")
        elif name == "tags":
            check_tags(value)


def check_tags(tags: Any) -> list[str]:
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise _invalid("tags", tags, "is not an array of strings")
    for tag in tags:
        check_tag(tag)
    if len(set(tags)) > MAX_TAGS:
        raise InvalidInput(f"Maximum number of tags exceeded: {MAX_TAGS}.")
    return list(dict.fromkeys(tags))


def check_tag(tag: str) -> str:
    if not tag or len(tag) > MAX_LENGTH:
        raise InvalidInput(f"Tag must be 1 to {MAX_LENGTH} characters long.")
    return tag


def check_properties(properties: Mapping[str, Any]) -> None:
    """Extra properties are strings (Glance's `additionalProperties`)."""
    check_reserved(properties)
    for name, value in properties.items():
        if not name or len(name) > MAX_LENGTH:
            raise InvalidInput(f"Property names must be 1 to {MAX_LENGTH} characters long.")
        if name in UUID_PROPERTIES and value is None:
            continue
        if not isinstance(value, str):
            raise _invalid(name, value, "is not of type 'string'")
        if name in UUID_PROPERTIES and not _UUID.match(value):
            raise _invalid(name, value, "does not match the UUID pattern")
        if len(value) > 65535:
            raise _invalid(name, value, "is too long")
