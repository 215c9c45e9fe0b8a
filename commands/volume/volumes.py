"""Volumes: create (empty, from an image, a snapshot or another volume), update,
extend, status and bootable flags, delete."""

from __future__ import annotations

import math
import uuid

from pydantic import Field

from commands.bus import Command, Dependencies, Outcome, handler
from commands.context import Context
from commands.unit_of_work import UnitOfWork
from commands.volume.support import find_type, load_snapshot, load_volume, storage_hosts
from domain.errors import Forbidden, InvalidInput
from domain.image.images import Actor, Image
from domain.volume import states as s
from domain.volume.volumes import Volume, check_metadata, check_size

NO_VALID_BACKEND = "No valid backend was found. No weighed backends available"


class CreateVolume(Command):
    size: int | None = None
    name: str | None = None
    description: str | None = None
    image_id: str | None = None
    snapshot_id: uuid.UUID | None = None
    source_volid: uuid.UUID | None = None
    volume_type: str | None = None
    availability_zone: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    multiattach: bool = False


class UpdateVolume(Command):
    volume_id: uuid.UUID
    name: str | None = None
    description: str | None = None
    metadata: dict[str, str] | None = None
    merge_metadata: bool = False
    remove_metadata: list[str] = Field(default_factory=list)


class ExtendVolume(Command):
    volume_id: uuid.UUID
    new_size: int


class ResetVolumeStatus(Command):
    volume_id: uuid.UUID
    status: str


class SetVolumeBootable(Command):
    volume_id: uuid.UUID
    bootable: bool


class DeleteVolume(Command):
    volume_id: uuid.UUID


def _image_source(uow: UnitOfWork, ctx: Context, ref: str) -> tuple[dict[str, object], int]:
    """The image as a volume records it, and the smallest size (GiB) it fits in."""
    try:
        image = uow.get(Image, uuid.UUID(ref))
    except ValueError:
        image = None
    if image is None or not image.visible_to(Actor(ctx.project_id or "", ctx.is_admin)):
        raise InvalidInput(f"Invalid image identifier or unable to access requested image: {ref}")
    if image.status != "active":
        raise InvalidInput(f"Image {ref} is not active.")
    needed = max(image.virtual_size or image.size or 0, int(image.min_disk or 0) * s.GIB)
    metadata = {str(k): str(v) for k, v in (image.properties or {}).items()}
    metadata.update(
        image_id=str(image.id),
        image_name=str(image.name or ""),
        disk_format=str(image.disk_format or ""),
        container_format=str(image.container_format or ""),
        min_disk=str(image.min_disk or 0),
        min_ram=str(image.min_ram or 0),
    )
    source: dict[str, object] = {
        "kind": "image",
        "id": str(image.id),
        "disk_format": image.disk_format or "raw",
        "image_metadata": metadata,
    }
    return source, max(1, math.ceil(needed / s.GIB))


def build_volume(uow: UnitOfWork, ctx: Context, cmd: CreateVolume) -> Volume:
    """A new volume, placed on a storage host (or failed, when there is none),
    added to the unit of work: Cinder's create, and Nova's boot volumes."""
    if not ctx.project_id:
        raise InvalidInput("A project-scoped token is needed to create volumes.")
    given = [x for x in (cmd.image_id, cmd.snapshot_id, cmd.source_volid) if x]
    if len(given) > 1:
        raise InvalidInput(
            "Invalid input received: Only one of imageRef, snapshot_id or source_volid may be given."
        )
    volume_type, specs = find_type(uow, cmd.volume_type)
    # Cinder's convention: a type may make every volume of it multiattach.
    multiattach = cmd.multiattach or specs.get("multiattach", "").lower() == "<is> true"
    registry = storage_hosts(uow)
    zone = cmd.availability_zone
    if zone and zone not in registry.zones() | {"nova"}:
        raise InvalidInput(f"Invalid input received: Availability zone '{zone}' is invalid.")
    source: dict[str, object] = {"kind": "empty"}
    minimum, bootable, host = 1, False, None
    origin: Volume | None = None
    if cmd.snapshot_id:
        snapshot = load_snapshot(uow, ctx, cmd.snapshot_id)
        snapshot.require_available("create a volume from it")
        source = {"kind": "snapshot", "id": str(snapshot.id), "volume_id": snapshot.volume_id}
        parent = uow.get(Volume, uuid.UUID(snapshot.volume_id))
        minimum, host = snapshot.size, snapshot.host
        bootable = bool(parent and parent.bootable)
        if parent is not None and parent.source.get("image_metadata"):
            source["image_metadata"] = parent.source["image_metadata"]
    elif cmd.source_volid:
        origin = load_volume(uow, ctx, cmd.source_volid)
        source = {"kind": "volume", "id": str(origin.id)}
        if origin.source.get("image_metadata"):
            source["image_metadata"] = origin.source["image_metadata"]
        minimum, host, bootable = origin.size, origin.host, origin.bootable
    elif cmd.image_id:
        source, minimum = _image_source(uow, ctx, cmd.image_id)
        bootable = True
    size = check_size(cmd.size if cmd.size is not None else minimum, minimum)
    if host is None:
        host = registry.pick(zone, uuid.uuid4())
    facts = registry.hosts.get(host or "", {})
    volume = Volume(
        project_id=ctx.project_id,
        user_id=ctx.user_id,
        name=cmd.name,
        description=cmd.description,
        size=size,
        availability_zone=str(zone or facts.get("availability_zone", "nova")),
        volume_type=volume_type,
        metadata=check_metadata(cmd.metadata),
        multiattach=multiattach,
        bootable=bootable,
        source=source,
        host=host or "",
    )
    if origin is not None:
        origin.freeze(str(volume.id), "clone")
    if host is None:
        volume.fail(NO_VALID_BACKEND)  # recorded, as Cinder's scheduler does
    uow.add(volume)
    return volume


@handler(CreateVolume)
def create_volume(cmd: CreateVolume, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    return {"id": build_volume(uow, ctx, cmd).id}


@handler(UpdateVolume)
def update_volume(cmd: UpdateVolume, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    volume = load_volume(uow, ctx, cmd.volume_id)
    metadata = cmd.metadata
    if cmd.merge_metadata or cmd.remove_metadata:
        metadata = {**volume.metadata, **(cmd.metadata or {})}
        for key in cmd.remove_metadata:
            if metadata.pop(key, None) is None:
                raise InvalidInput(f"Metadata key {key} of volume {volume.id} not found.")
    volume.update_details(cmd.name, cmd.description, metadata)
    return {"id": volume.id, "metadata": dict(volume.metadata)}


@handler(ExtendVolume)
def extend_volume(cmd: ExtendVolume, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    load_volume(uow, ctx, cmd.volume_id).extend(cmd.new_size)
    return {"id": cmd.volume_id}


@handler(ResetVolumeStatus)
def reset_status(
    cmd: ResetVolumeStatus, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    if not ctx.is_admin:
        raise Forbidden("Policy doesn't allow volume_extension:volume_admin_actions:reset_status.")
    load_volume(uow, ctx, cmd.volume_id).reset_status(cmd.status)
    return {"id": cmd.volume_id}


@handler(SetVolumeBootable)
def set_bootable(
    cmd: SetVolumeBootable, uow: UnitOfWork, ctx: Context, deps: Dependencies
) -> Outcome:
    load_volume(uow, ctx, cmd.volume_id).set_bootable(cmd.bootable)
    return {"id": cmd.volume_id}


@handler(DeleteVolume)
def delete_volume(cmd: DeleteVolume, uow: UnitOfWork, ctx: Context, deps: Dependencies) -> Outcome:
    """The volume goes to `deleting`; its host's agent removes the file and
    reports it gone. A volume that never reached a host has no file to remove."""
    volume = load_volume(uow, ctx, cmd.volume_id)
    volume.request_delete()
    if not volume.host:
        volume.gone()
    return {"id": volume.id}
