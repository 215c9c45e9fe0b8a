"""The volumes of a server being created (Nova's block_device_mapping_v2 with
destination `volume`): checked, then made or reserved and recorded on the
server, all in the server's own create transaction.

A volume made for the boot (from an image, a snapshot, or blank) is created
already reserved for its server, which waits in BUILD (task
`block_device_mapping`) until the storage agent reports the file made; an
existing volume is reserved and connected to the server's host at once.
Imported by the server-create handler when it runs: this package's
attachments module imports the compute commands.
"""

from __future__ import annotations

import uuid
from typing import Any

from commands.compute.images import ImageFacts, image_facts
from commands.compute.servers import BlockDevice
from commands.context import Context
from commands.unit_of_work import UnitOfWork
from commands.volume.attachments import connect_to_host
from commands.volume.support import load_snapshot, load_volume
from commands.volume.volumes import CreateVolume, build_volume
from domain.compute import states as cs
from domain.compute.servers import Server
from domain.errors import InvalidInput, NotFound
from domain.volume import states as s
from domain.volume.volumes import Volume

ATTACHABLE = (s.AVAILABLE, s.RESERVED, s.ATTACHING, s.IN_USE)


def _volume(uow: UnitOfWork, ctx: Context, ref: str | None) -> Volume:
    try:
        return load_volume(uow, ctx, uuid.UUID(str(ref)))
    except (ValueError, NotFound) as error:
        raise InvalidInput(
            f"Block Device Mapping is Invalid: failed to get volume {ref}."
        ) from error


def _facts(volume_id: str, metadata: dict[str, Any]) -> ImageFacts:
    """What the boot volume says of the image it was made from (Cinder's
    volume_image_metadata): Nova checks min_ram and boots by its properties."""
    known = {"image_id", "image_name", "disk_format", "container_format", "min_disk", "min_ram"}
    return ImageFacts(
        id=str(metadata.get("image_id", "")),
        size=0,
        min_disk=int(metadata.get("min_disk") or 0),
        min_ram=int(metadata.get("min_ram") or 0),
        properties={k: str(v) for k, v in metadata.items() if k not in known},
    )


def check_root(uow: UnitOfWork, ctx: Context, root: BlockDevice) -> ImageFacts:
    """The boot device (boot_index 0, destination volume) and what the image
    it boots says, with Nova's messages (all 400)."""
    if root.source_type == "image":
        image = image_facts(uow, str(root.uuid), ctx)
        size = root.volume_size or 0
        if size < 1:
            raise InvalidInput(
                "Images with destination_type 'volume' need to have a non-zero size specified"
            )
        needed = max(image.size, image.min_disk * s.GIB)
        if needed > size * s.GIB:
            raise InvalidInput(
                "Volume is smaller than the minimum size specified in image metadata. "
                f"Volume size is {size * s.GIB} bytes, minimum size is {needed} bytes."
            )
        return image
    if root.source_type == "volume":
        volume = _volume(uow, ctx, root.uuid)
        if not volume.bootable:
            raise InvalidInput(f"Block Device {volume.id} is not bootable.")
        return _facts(str(volume.id), dict(volume.source.get("image_metadata") or {}))
    if root.source_type == "snapshot":
        snapshot = _snapshot(uow, ctx, root.uuid)
        parent = uow.get(Volume, uuid.UUID(snapshot.volume_id))
        if parent is None or not parent.bootable:
            raise InvalidInput(f"Block Device {snapshot.id} is not bootable.")
        return _facts(str(parent.id), dict(parent.source.get("image_metadata") or {}))
    raise InvalidInput(
        "Block Device Mapping is Invalid: Boot sequence for the instance and image/block "
        "device mapping combination is not valid."
    )


def _snapshot(uow: UnitOfWork, ctx: Context, ref: str | None) -> Any:
    try:
        return load_snapshot(uow, ctx, uuid.UUID(str(ref)))
    except (ValueError, NotFound) as error:
        raise InvalidInput(
            f"Block Device Mapping is Invalid: failed to get snapshot {ref}."
        ) from error


def check_devices(
    uow: UnitOfWork, ctx: Context, devices: list[BlockDevice], max_count: int
) -> None:
    """Everything refusable is refused before anything is made."""
    seen: set[str] = set()
    for device in devices:
        if device.source_type == "volume":
            volume = _volume(uow, ctx, device.uuid)
            if str(volume.id) in seen:
                raise InvalidInput(f"Invalid volume: volume {volume.id} is given more than once.")
            seen.add(str(volume.id))
            if max_count > 1:
                raise InvalidInput(
                    "Unable to launch multiple instances with a single configured volume."
                )
            busy = volume.attachments and not volume.multiattach
            if volume.status not in ATTACHABLE or busy or volume.freezes:
                raise InvalidInput(
                    f"Invalid volume: volume {volume.id} status must be 'available'. "
                    f"Currently in '{volume.status}'"
                )
            continue
        if device.source_type == "blank" and not device.volume_size:
            raise InvalidInput(
                "Blank volumes (source: 'blank', dest: 'volume') need to have non-zero size"
            )
        if device.source_type == "image" and not device.volume_size:
            raise InvalidInput(
                "Images with destination_type 'volume' need to have a non-zero size specified"
            )
        if device.source_type == "image" and device.boot_index != 0:
            image_facts(uow, str(device.uuid), ctx)
        elif device.source_type == "snapshot":
            _snapshot(uow, ctx, device.uuid).require_available("create a volume from it")


def build_aborted(server_id: object, volume_id: object, status: str) -> str:
    """Nova's fault when a boot volume could not be made."""
    return (
        f"Build of instance {server_id} aborted: Volume {volume_id} did not finish being "
        f"created. And its status is {status}."
    )


def attach_devices(
    uow: UnitOfWork, ctx: Context, server: Server, host: str, devices: list[BlockDevice]
) -> None:
    """Make or reserve each volume and record it on the (placed) server."""
    failed: Volume | None = None
    for device in devices:
        attachment_id = str(uuid.uuid4())
        if device.source_type == "volume":
            volume = _volume(uow, ctx, device.uuid)
            volume.reserve(attachment_id, str(server.id))
            connect_to_host(uow, volume, attachment_id, host, device.device_name)
            ready = True
        else:
            volume = build_volume(
                uow,
                ctx,
                CreateVolume(
                    size=device.volume_size,
                    name="",
                    image_id=device.uuid if device.source_type == "image" else None,
                    snapshot_id=uuid.UUID(str(device.uuid))
                    if device.source_type == "snapshot"
                    else None,
                    volume_type=device.volume_type,
                ),
            )
            # Reserved even when it failed at once (no storage host), so
            # the server's delete finds and frees it like any other.
            volume.reserve(attachment_id, str(server.id), while_creating=True)
            ready = False
            if volume.status == s.ERROR and failed is None:
                failed = volume
        server.attach_volume(
            str(volume.id),
            attachment_id,
            # Nova's -1: a disk of the boot that is never booted from.
            -1 if device.boot_index is None else device.boot_index,
            device.delete_on_termination,
            ready=ready,
        )
    server.wait_for_volumes()
    if failed is not None:
        message = build_aborted(server.id, failed.id, failed.status)
        server.fail(message, 500, failed.reason or "")


def volume_made(uow: UnitOfWork, volume: Volume) -> None:
    """The storage agent made a volume: a server waiting for it gets it
    connected to its host, and boots once it has all of them."""
    for attachment_id, found in list(volume.attachments.items()):
        server = _waiting(uow, volume, attachment_id, found)
        if server is not None and server.host:
            connect_to_host(uow, volume, attachment_id, server.host, None)
            server.volume_ready(str(volume.id))


def volume_not_made(uow: UnitOfWork, volume: Volume) -> None:
    """A volume made for a boot failed: its server ends in ERROR, with why."""
    for attachment_id, found in list(volume.attachments.items()):
        server = _waiting(uow, volume, attachment_id, found)
        if server is not None:
            message = build_aborted(server.id, volume.id, volume.status)
            server.fail(message, 500, volume.reason or "")


def _waiting(
    uow: UnitOfWork, volume: Volume, attachment_id: str, attachment: dict[str, Any]
) -> Server | None:
    if attachment["status"] != s.ATTACH_RESERVED:
        return None
    server = uow.get(Server, uuid.UUID(str(attachment["server_id"])))
    if server is None:
        return None
    recorded = server.volumes.get(str(volume.id))
    if recorded is None or recorded["attachment_id"] != attachment_id or recorded["ready"]:
        return None
    return server if server.vm_state == cs.BUILDING else None
