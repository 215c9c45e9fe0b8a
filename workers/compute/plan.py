"""What one server needs on this host, from its desired state and its image.

Kept apart from the agent's loop so the decisions (which disks, which NICs,
direct kernel boot or not) read as data and can be checked without libvirt.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.virt.domain_xml import DomainSpec, Nic, VolumeFile
from infra.virt.qemu_img import DiskError
from infra.virt.seed import SeedData
from workers.network import names

# What Nova passes a kernel when the image says nothing (its libvirt driver
# uses the same root and consoles); os_command_line overrides it.
DEFAULT_CMDLINE = "root=/dev/vda console=tty0 console=ttyS0"

ImageLookup = Callable[[str], dict[str, Any] | None]


@dataclass(frozen=True)
class BootImages:
    disk: str
    kernel: str | None
    ramdisk: str | None
    cmdline: str


def root_volume(server: dict[str, Any]) -> dict[str, Any] | None:
    """The boot volume of a volume-backed server (None: it boots an image)."""
    if not server.get("volume_backed"):
        return None
    for device in server.get("block_devices") or []:
        if device["boot_index"] == 0:
            return dict(device)
    raise DiskError(f"server {server['id']} boots from a volume that is not connected")


def boot_images(server: dict[str, Any], images: ImageLookup) -> BootImages:
    """The disk image, plus the kernel and ramdisk its properties name (for a
    boot volume, those of the image it was made from, as Nova reads them)."""
    root = root_volume(server)
    if root is not None:
        image_id = ""
        props = root.get("image_metadata") or {}
    else:
        image_id = str(server["image_id"])
        image = images(image_id)
        if image is None:
            raise DiskError(f"image {image_id} not found")
        props = image.get("properties") or {}
    kernel = props.get("kernel_id") or None
    ramdisk = props.get("ramdisk_id") or None
    for other in (kernel, ramdisk):
        if other is not None and images(other) is None:
            named_by = (
                f"image {image_id}" if image_id else f"boot volume {root and root['volume_id']}"
            )
            raise DiskError(f"{named_by} names {other}, which does not exist")
    cmdline = props.get("os_command_line") or (DEFAULT_CMDLINE if kernel else "")
    return BootImages(image_id, kernel, ramdisk, cmdline)


def seed_data(server: dict[str, Any]) -> SeedData:
    user_data = None
    if server.get("user_data"):
        try:
            user_data = base64.b64decode(server["user_data"], validate=True)
        except (binascii.Error, ValueError):
            # The API validated it; stored data that no longer decodes is a bug
            # to see in the guest, not a reason to refuse the boot.
            user_data = str(server["user_data"]).encode()
    return SeedData(
        instance_id=str(server["id"]),
        hostname=str(server.get("hostname") or server["name"]),
        public_keys=(server["key_data"],) if server.get("key_data") else (),
        user_data=user_data,
        metadata={str(k): str(v) for k, v in (server.get("metadata") or {}).items()},
        macs=tuple(str(p["mac_address"]) for p in server.get("ports", [])),
    )


def nics(server: dict[str, Any]) -> tuple[Nic, ...]:
    return tuple(Nic(names.tap(str(p["id"])), str(p["mac_address"])) for p in server["ports"])


def domain_spec(
    server: dict[str, Any],
    domain_type: str,
    disk: Path,
    seed: Path | None,
    kernel: Path | None,
    initrd: Path | None,
    cmdline: str,
    console_log: Path,
    host: str = "",
) -> DomainSpec:
    flavor = server.get("flavor") or {}
    root = root_volume(server)
    # The seed is vdb: the other volumes of the boot follow it, in boot order.
    others = [
        d
        for d in server.get("block_devices") or []
        if root is None or d["volume_id"] != root["volume_id"]
    ]
    volumes = tuple(
        VolumeFile(str(d["volume_id"]), Path(d["device_path"]), str(d["format"]), f"vd{letter}")
        for d, letter in zip(others, "cdefghijklmnopqrstuvwxyz", strict=False)
    )
    return DomainSpec(
        server_id=str(server["id"]),
        title=str(server["name"]),
        domain_type=domain_type,
        vcpus=int(flavor.get("vcpus", 1)),
        memory_mb=int(flavor.get("ram", 512)),
        disk=disk,
        seed=seed,
        kernel=kernel,
        initrd=initrd,
        cmdline=cmdline,
        nics=nics(server),
        console_log=console_log,
        host=host,
        disk_format=str(root["format"]) if root else "qcow2",
        disk_serial=str(root["volume_id"]) if root else None,
        volumes=volumes,
    )


def volume_target(requested: str | None, used: set[str]) -> str:
    """The virtio name for a volume: the device asked for ("/dev/vdc") when
    it is free, else the first free one after the root disk, as Nova picks."""
    wanted = (requested or "").removeprefix("/dev/")
    if len(wanted) == 3 and wanted.startswith("vd") and wanted[2].isalpha() and wanted not in used:
        return wanted
    for letter in "bcdefghijklmnopqrstuvwxyz":
        if "vd" + letter not in used:
            return "vd" + letter
    raise DiskError("no free virtio disk name left on this server")
