"""The EC2-compatible tree: /<version>/meta-data/... and /<version>/user-data.

EC2 ids are Nova's `i-xxxxxxxx` / `ami-xxxxxxxx` shapes. Nova numbers them
from a database sequence; Strata has only UUIDs, so the eight hex digits are
the UUID's first eight: stable for the life of the server, which is what
cloud-init uses the instance id for.
"""

from __future__ import annotations

import uuid
from typing import Any

from api.metadata.instance import Instance
from api.metadata.tree import NAME, PathNotFound

VERSIONS = (
    "1.0",
    "2007-01-19",
    "2007-03-01",
    "2007-08-29",
    "2007-10-10",
    "2007-12-15",
    "2008-02-01",
    "2008-09-01",
    "2009-04-04",
)


def ec2_id(prefix: str, ident: str) -> str:
    return f"{prefix}-{uuid.UUID(ident).hex[:8]}"


def _at_least(required: str, version: str) -> bool:
    return VERSIONS.index(version) >= VERSIONS.index(required)


def tree(inst: Instance, token: str) -> dict[str, Any]:
    """Everything under /<token> (a version or "latest")."""
    version = VERSIONS[-1] if token == "latest" else token
    if version not in VERSIONS:
        raise PathNotFound(token)
    hostname = inst.hostname
    image_id = inst.server.get("image_id")
    meta: dict[str, Any] = {
        "ami-id": ec2_id("ami", str(image_id)) if image_id else "",
        "ami-launch-index": int(inst.body.get("launch_index") or 0),
        "ami-manifest-path": "FIXME",  # what Nova serves: there is no manifest
        "instance-id": ec2_id("i", inst.uuid),
        "hostname": hostname,
        "local-ipv4": inst.address,
        "reservation-id": inst.server.get("reservation_id") or "",
        "security-groups": [str(g) for g in inst.body.get("security_groups") or []],
    }
    if inst.key is not None:
        # Listed as "0=<name>", read as public-keys/0/openssh-key.
        name, data = inst.key
        meta["public-keys"] = {"0": {NAME: f"0={name}", "openssh-key": data}}
    if _at_least("2007-01-19", version):
        meta["local-hostname"] = hostname
        meta["public-hostname"] = hostname
        meta["public-ipv4"] = inst.floating_ips[0] if inst.floating_ips else ""
    if _at_least("2007-08-29", version):
        meta["instance-type"] = str((inst.body.get("flavor") or {}).get("name", ""))
    if _at_least("2007-12-15", version):
        meta["block-device-mapping"] = {"ami": "vda", "root": "/dev/vda"}
    if _at_least("2008-02-01", version):
        meta["placement"] = {"availability-zone": inst.availability_zone}
    if _at_least("2008-09-01", version):
        meta["instance-action"] = "none"
    found: dict[str, Any] = {"meta-data": meta}
    if inst.user_data is not None:
        found["user-data"] = inst.user_data
    return found
